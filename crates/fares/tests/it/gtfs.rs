//! GTFS-Fares v2 feeds read from disk fixtures and quoted.
//!
//! The fixtures live in `crates/fares/tests/feeds/`; each directory's
//! README says what it models. Expected totals are worked out by hand from
//! the fixture's fares in the comments next to them.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::DateTime;
use fares::gtfs::{Feed, FeedErrorCode, FeedErrors, LegQuery, quote_json};

/// The `.txt` files of `tests/feeds/<name>`, keyed by file name.
fn read_feed_dir(name: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/feeds")
        .join(name);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("fixture names are UTF-8")
                .to_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, text)
        })
        .collect()
}

fn load(name: &str) -> Result<Feed, FeedErrors> {
    Feed::load(&read_feed_dir(name))
}

fn eur_city() -> Feed {
    load("eur-city").unwrap_or_else(|errors| panic!("eur-city should load: {errors}"))
}

/// One leg of a request: `(route, from, to, departure, arrival)` with full
/// RFC 3339 times.
type Leg<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

fn request(category: Option<&str>, media: Option<&str>, legs: &[Leg<'_>]) -> String {
    let legs: Vec<serde_json::Value> = legs
        .iter()
        .map(|(route, from, to, departure, arrival)| {
            serde_json::json!({
                "route_id": route, "from_stop_id": from, "to_stop_id": to,
                "departure": departure, "arrival": arrival,
            })
        })
        .collect();
    serde_json::json!({"rider_category": category, "fare_media": media, "legs": legs}).to_string()
}

/// Quotes `legs` and compares the listed products per leg and the total
/// (`Some(("6.50", "EUR"))`, or `None` for an unknown fare).
fn check(
    feed: &Feed,
    (category, media): (Option<&str>, Option<&str>),
    legs: &[Leg<'_>],
    listed: &[&[&str]],
    total: Option<&str>,
) {
    let response = quote_json(feed, &request(category, media, legs))
        .unwrap_or_else(|e| panic!("{legs:?}: {}", e.to_json()));
    let expected = serde_json::json!({
        "legs": listed.iter().map(|ids| serde_json::json!({"fare_product_ids": ids})).collect::<Vec<_>>(),
        "total": total.map(|amount| serde_json::json!({"amount": amount, "currency": "EUR"})),
    });
    let got: serde_json::Value = serde_json::from_str(&response).expect("the response is JSON");
    assert_eq!(got, expected, "{legs:?}");
}

const ADULT: (Option<&str>, Option<&str>) = (None, None);

#[test]
fn the_feed_loads_with_its_quoted_and_bom_fields() {
    let feed = eur_city();
    assert!(feed.warnings().is_empty(), "{:?}", feed.warnings());
    assert_eq!(feed.timezone(), chrono_tz::Europe::Paris);
    assert_eq!(feed.default_rider_category(), Some("adult"));
    assert_eq!(feed.route_network("RER"), Some("regional"));
    assert_eq!(feed.stop_area_ids("GAR_T"), ["zone2"]);
    let products: Vec<&str> = feed.fare_product_ids().collect();
    assert_eq!(
        products.first(),
        Some(&"city_single"),
        "the BOM is not part of the header"
    );
    assert_eq!(feed.fare_product_rows("rer_discount").len(), 1);
}

#[test]
fn changes_inside_a_station_are_one_fare_leg() {
    let feed = eur_city();
    // M1 to Centre, M2 from Centre 95 minutes later: the join rule makes
    // one effective leg whatever the time, so one single (2.10).
    check(
        &feed,
        ADULT,
        &[
            (
                "M1",
                "OPE_M1",
                "CEN_M1",
                "2026-03-04T10:00:00+01:00",
                "2026-03-04T10:10:00+01:00",
            ),
            (
                "M2",
                "CEN_M2",
                "GAR_M2",
                "2026-03-04T11:45:00+01:00",
                "2026-03-04T11:55:00+01:00",
            ),
        ],
        &[&["city_single"], &["city_single"]],
        Some("2.10"),
    );
}

#[test]
fn city_transfers_are_free_for_ninety_minutes_from_the_first_departure() {
    let feed = eur_city();
    let buses = |second_departure: &str, second_arrival: &str, total: &str| {
        check(
            &feed,
            ADULT,
            &[
                (
                    "B10",
                    "MAIRIE",
                    "PARC",
                    "2026-03-04T10:00:00+01:00",
                    "2026-03-04T10:20:00+01:00",
                ),
                ("B20", "ECOLE", "MAIRIE", second_departure, second_arrival),
            ],
            &[&["city_single"], &["city_single"]],
            Some(total),
        );
    };
    // 5,400 s after the first departure: still free (2.10).
    buses(
        "2026-03-04T11:30:00+01:00",
        "2026-03-04T11:50:00+01:00",
        "2.10",
    );
    // 5,401 s: two singles (4.20).
    buses(
        "2026-03-04T11:30:01+01:00",
        "2026-03-04T11:50:00+01:00",
        "4.20",
    );
}

#[test]
fn train_fares_follow_zones_peaks_and_rule_priority() {
    let feed = eur_city();
    let rer = |from: &str, to: &str, departure: &str, product: &str, total: &str| {
        check(
            &feed,
            ADULT,
            &[("RER", from, to, departure, departure)],
            &[&[product]],
            Some(total),
        );
    };
    // zone1 → zone2: the zone rule (priority 1) beats "any other trip" (0).
    rer(
        "CEN_T",
        "GAR_T",
        "2026-03-04T10:00:00+01:00",
        "rer_z12",
        "3.40",
    );
    rer(
        "GAR_T",
        "CEN_T",
        "2026-03-04T10:00:00+01:00",
        "rer_z12",
        "3.40",
    );
    // zone1 → zone3 at a weekday peak: priority 2.
    rer(
        "CEN_T",
        "AER",
        "2026-03-04T08:00:00+01:00",
        "rer_z13_peak",
        "6.00",
    );
    rer(
        "CEN_T",
        "AER",
        "2026-03-04T18:59:59+01:00",
        "rer_z13_peak",
        "6.00",
    );
    rer(
        "CEN_T",
        "AER",
        "2026-03-04T19:00:00+01:00",
        "rer_z13",
        "4.90",
    );
    rer(
        "CEN_T",
        "AER",
        "2026-03-04T10:00:00+01:00",
        "rer_z13",
        "4.90",
    );
    // Saturday, and the 14 July holiday (a Tuesday): no peak.
    rer(
        "CEN_T",
        "AER",
        "2026-03-07T08:00:00+01:00",
        "rer_z13",
        "4.90",
    );
    rer(
        "CEN_T",
        "AER",
        "2026-07-14T08:00:00+02:00",
        "rer_z13",
        "4.90",
    );
    // Daylight saving time: 06:00Z is 08:00 CEST on Monday 30 March
    // (peak); on Friday 27 March 06:00Z is 07:00 CET (peak) and one second
    // earlier is 06:59:59 (off-peak).
    rer(
        "CEN_T",
        "AER",
        "2026-03-30T06:00:00Z",
        "rer_z13_peak",
        "6.00",
    );
    rer(
        "CEN_T",
        "AER",
        "2026-03-27T06:00:00Z",
        "rer_z13_peak",
        "6.00",
    );
    rer("CEN_T", "AER", "2026-03-27T05:59:59Z", "rer_z13", "4.90");
    // zone2 → zone3: only the priority-0 catch-all.
    rer(
        "GAR_T",
        "AER",
        "2026-03-04T10:00:00+01:00",
        "rer_local",
        "2.00",
    );
}

#[test]
fn city_to_train_takes_a_discount_product_on_the_train_leg() {
    let feed = eur_city();
    // 2.10 + (−0.50) + 4.90 (fare_transfer_type 1: A + AB + B).
    check(
        &feed,
        ADULT,
        &[
            (
                "M1",
                "OPE_M1",
                "CEN_M1",
                "2026-03-04T09:50:00+01:00",
                "2026-03-04T10:00:00+01:00",
            ),
            (
                "RER",
                "CEN_T",
                "AER",
                "2026-03-04T10:10:00+01:00",
                "2026-03-04T10:40:00+01:00",
            ),
        ],
        &[&["city_single"], &["rer_discount", "rer_z13"]],
        Some("6.50"),
    );
    // The other way round there is no transfer rule, and zone3 → zone1
    // has no zone rule either: 2.00 (catch-all) + 2.10.
    check(
        &feed,
        ADULT,
        &[
            (
                "RER",
                "AER",
                "CEN_T",
                "2026-03-04T09:10:00+01:00",
                "2026-03-04T09:40:00+01:00",
            ),
            (
                "M1",
                "CEN_M1",
                "OPE_M1",
                "2026-03-04T09:50:00+01:00",
                "2026-03-04T10:00:00+01:00",
            ),
        ],
        &[&["rer_local"], &["city_single"]],
        Some("4.10"),
    );
}

#[test]
fn categories_and_media_choose_the_product_rows() {
    let feed = eur_city();
    let m1: &[Leg<'_>] = &[(
        "M1",
        "OPE_M1",
        "CEN_M1",
        "2026-03-04T10:00:00+01:00",
        "2026-03-04T10:10:00+01:00",
    )];
    check(
        &feed,
        (Some("youth"), Some("card")),
        m1,
        &[&["city_single"]],
        Some("1.05"),
    );
    // Youth fares need the Ville card: by bank card there is no youth row.
    check(&feed, (Some("youth"), Some("cemv")), m1, &[&[]], None);
    check(
        &feed,
        (None, Some("paper")),
        m1,
        &[&["city_single"]],
        Some("2.50"),
    );
    check(
        &feed,
        (Some("adult"), Some("cemv")),
        m1,
        &[&["city_single"]],
        Some("2.10"),
    );
}

#[test]
fn a_tap_without_destination_matches_rules_without_to_area() {
    let feed = eur_city();
    let departure = DateTime::parse_from_rfc3339("2026-03-04T08:00:00+01:00").expect("valid");
    let check_leg = |to_stop_id: Option<&str>, expected: &[(&str, i64)]| {
        let fares = feed
            .leg_fares(&LegQuery {
                route_id: "RER",
                from_stop_id: Some("CEN_T"),
                to_stop_id,
                departure,
                arrival: departure,
                rider_category: None,
                fare_media: None,
            })
            .expect("known ids")
            .expect("a rule matches");
        let got: Vec<(&str, i64)> = fares
            .iter()
            .map(|p| (p.fare_product_id.as_str(), p.amount.minor_units()))
            .collect();
        assert_eq!(got, expected, "{to_stop_id:?}");
    };
    check_leg(Some("AER"), &[("rer_z13_peak", 600)]);
    check_leg(None, &[("rer_local", 200)]);
}

#[test]
fn a_broken_feed_is_rejected_with_every_error_located() {
    let errors = load("broken").expect_err("the broken feed is rejected");
    let expected = [
        (
            FeedErrorCode::RouteNetworksSpecifiedInMoreThanOneFile,
            "networks.txt",
            None,
            Some("network_id"),
        ),
        (
            FeedErrorCode::ForeignKeyViolation,
            "stops.txt",
            Some(3),
            Some("parent_station"),
        ),
        (
            FeedErrorCode::TimeframeStartOrEndTimeGreaterThanTwentyFourHours,
            "timeframes.txt",
            Some(2),
            Some("end_time"),
        ),
        (
            FeedErrorCode::InvalidCurrencyAmount,
            "fare_products.txt",
            Some(3),
            Some("amount"),
        ),
        (
            FeedErrorCode::InvalidCurrency,
            "fare_products.txt",
            Some(4),
            Some("currency"),
        ),
        (
            FeedErrorCode::ForeignKeyViolation,
            "fare_leg_rules.txt",
            Some(3),
            Some("fare_product_id"),
        ),
        (
            FeedErrorCode::FareTransferRuleDurationLimitWithoutType,
            "fare_transfer_rules.txt",
            Some(2),
            Some("duration_limit_type"),
        ),
    ];
    for (code, file, line, field) in expected {
        assert!(
            errors.contains(code, file, line, field),
            "{code} {file}:{line:?} {field:?} missing from:\n{errors}"
        );
    }
    assert_eq!(errors.errors.len(), expected.len(), "{errors}");
    // Each error reads as "file:line [field]: code: message".
    let report = errors.to_string();
    assert!(
        report.contains("fare_products.txt:3 [amount]: invalid_currency_amount: "),
        "{report}"
    );
}
