//! A hand-computed service day (2026-03-02) settled on real Postgres.
//!
//! Four riders, every number from `specs/hcmc-fares.md`:
//! - **A** (adult), the spec's worked example (§9): bus 19 6,000; metro
//!   BTH→BXS 13 stations 19,000 − 3,000 bus→metro discount = 16,000 from
//!   a 19,000 hold; a day pass 40,000, never used, so at the close its
//!   40,000 go to its owner HURC1; 2 h at BXS-P with no tap in during the
//!   stay: 4,000. Wallet debits 66,000.
//! - **B** (adult), a capped day (§6): BTH→BXS and back, 19,000 each, then
//!   bus 19 over an hour later: 6,000 capped to 40,000 − 38,000 = 2,000.
//!   The 40,000 are apportioned pro rata to full fares (HURC1 38,000,
//!   SAMCO 6,000): 34,545.45… and 5,454.54…, the spare dong to the larger
//!   remainder → HURC1 34,545 (17,273 + 17,272), SAMCO 5,455.
//! - **C** (student), a monthly pass 150,000 (§7), one ride BTH→TDI (5
//!   stations, 10,000 at the adult price students pay on the metro):
//!   10,000 recognised from the pass; 140,000 stay unearned.
//! - **D** (adult), an incomplete journey (§4 rule 4): tap in at BTH, tap in
//!   again an hour later: the first trip's 19,000 hold is the charge; the
//!   second trip BTH→BSO (2 stations) 7,000. Wallet debits 26,000.
//!
//! So HURC1 earns fares 16,000 + 34,545 + 7,000 = 57,545, incomplete
//! 19,000, pass revenue 40,000 + 10,000 = 50,000 and parking 4,000: net
//! 130,545. SAMCO earns 6,000 + 5,455 = 11,455. Riders pay 66,000 +
//! 40,000 + 150,000 + 26,000 = 282,000 = 130,545 + 11,455 + pass sales
//! 190,000 − recognitions 50,000.

use settlement::job::Settings;
use store_pg::settlement::OperatorTotals;

use crate::support::{World, day, unearned};

const A: &[&str] = &[
    "03-02T07:00 topup 100000",
    "03-02T07:05 bus 19 adult @BUS19-1",
    "03-02T07:40 in BTH adult @BTH-G1",
    "03-02T08:02 out BXS @BXS-G1",
    "03-02T08:10 buy metro_day adult",
    "03-02T17:00 park_in BXS-P @BXS-P-IN",
    "03-02T19:00 park_out BXS-P @BXS-P-IN",
];
const B: &[&str] = &[
    "03-02T07:00 topup 100000",
    "03-02T07:10 in BTH adult @BTH-G1",
    "03-02T07:40 out BXS @BXS-G1",
    "03-02T09:00 in BXS adult @BXS-G1",
    "03-02T09:30 out BTH @BTH-G1",
];
const B_LATE_BUS: &str = "03-02T12:00 bus 19 adult @BUS19-1";
const C: &[&str] = &[
    "03-02T07:00 topup 200000",
    "03-02T07:05 buy metro_month student",
    "03-02T07:10 in BTH student @BTH-G1",
    "03-02T07:40 out TDI @ANY-METRO",
];
const D: &[&str] = &[
    "03-02T08:00 topup 50000",
    "03-02T09:00 in BTH adult @BTH-G1",
    "03-02T10:00 in BTH adult @BTH-G1",
];
const D_TAP_OUT: &str = "03-02T10:20 out BSO @ANY-METRO";

/// Seeds the four riders; `with_late` includes the events the late-tap
/// test holds back (B's bus, D's tap out).
async fn seeded(with_late: bool) -> (test_kit::TestDatabase, World) {
    let db = test_kit::fresh_database().await;
    let mut w = World::new(db.pool.clone()).await;
    w.rider("A", 0xA, "adult").await;
    w.rider("B", 0xB, "adult").await;
    w.rider("C", 0xC, "student").await;
    w.rider("D", 0xD, "adult").await;
    for (name, lines) in [("A", A), ("B", B), ("C", C), ("D", D)] {
        for line in lines {
            assert!(w.event(name, line).await, "{name}: {line} accepted");
        }
    }
    if with_late {
        assert!(w.event("B", B_LATE_BUS).await);
        assert!(w.event("D", D_TAP_OUT).await);
    }
    (db, w)
}

fn totals(operator: &str, n: [i64; 11]) -> OperatorTotals {
    OperatorTotals {
        operator_id: operator.to_owned(),
        accounts: n[0],
        legs: n[1],
        full_fares_vnd: n[2],
        discounts_vnd: n[3],
        cap_reductions_vnd: n[4],
        fares_charged_vnd: n[5],
        fares_settled_vnd: n[6],
        incomplete_vnd: n[7],
        pass_recognised_vnd: n[8],
        parking_vnd: n[9],
        adjustments_vnd: n[10],
    }
}

/// The day's statement and balances as computed in the module docs;
/// `hurc1_adjustments` and `samco_adjustments` are the net adjustment
/// transfers of the day.
async fn check_final(w: &World, hurc1_adjustments: i64, samco_adjustments: i64) {
    let statement = w
        .settler(Settings::default())
        .await
        .store()
        .operator_totals(day())
        .await
        .unwrap();
    assert_eq!(
        statement,
        [
            // accounts, legs, full fares, discounts, cap reductions, charged,
            // settled, incomplete, pass recognised, parking, adjustments.
            // HURC1 legs: A 1, B 2, C 1, D 1; full fares 19,000 + 38,000 +
            // 0 (on a pass) + 7,000; charged 16,000 + 38,000 + 7,000.
            totals(
                "HURC1",
                [
                    4,
                    5,
                    64_000,
                    3_000,
                    0,
                    61_000,
                    57_545,
                    19_000,
                    50_000,
                    4_000,
                    hurc1_adjustments
                ]
            ),
            // SAMCO: A's bus 6,000; B's bus 6,000 full, 4,000 capped off,
            // 2,000 charged, 5,455 settled.
            totals(
                "SAMCO",
                [
                    2,
                    2,
                    12_000,
                    0,
                    4_000,
                    8_000,
                    11_455,
                    0,
                    0,
                    0,
                    samco_adjustments
                ]
            ),
        ]
    );
    assert_eq!(w.revenue("HURC1").await, 130_545);
    assert_eq!(w.revenue("SAMCO").await, 11_455);
    assert_eq!(unearned(&w.pool).await, 140_000);
    for (name, left) in [("A", 34_000), ("B", 60_000), ("C", 50_000), ("D", 24_000)] {
        assert_eq!(w.balance(w.id(name)).await, left, "wallet of {name}");
    }
    w.assert_audits_pass().await;
}

#[tokio::test]
async fn a_hand_computed_day_settles_to_exact_statements_and_a_rerun_is_a_no_op() {
    let (db, w) = seeded(true).await;
    let reports = w.settle(Settings::default()).await;
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!((r.accounts, r.settled, r.unchanged, r.failed), (4, 4, 0, 0));
    // A: bus, hold, post, pass sale, parking, expiry = 6; B: 2 × (hold,
    // post) + bus = 5; C: sale, recognition = 2; D: 2 holds, post full,
    // post part = 4.
    assert_eq!((r.transfers, r.adjustments), (17, 0));
    check_final(&w, 0, 0).await;

    // Provisional (what the hot path charged) equals settled for everyone:
    // the hot path saw the same events in the same order.
    let accounts = w
        .settler(Settings::default())
        .await
        .store()
        .account_totals(day(), None, 100)
        .await
        .unwrap();
    let pairs: Vec<(i64, i64)> = accounts
        .iter()
        .map(|a| (a.provisional_vnd, a.settled_vnd))
        .collect();
    assert_eq!(
        pairs,
        [
            (66_000, 66_000),
            (40_000, 40_000),
            (150_000, 150_000),
            (26_000, 26_000)
        ]
    );

    // Again: nothing new, nothing posted.
    let before = w.transfer_count().await;
    let again = w.settle(Settings::default()).await;
    let r = &again[0];
    assert_eq!((r.settled, r.unchanged, r.transfers), (0, 4, 0));
    assert_eq!(w.transfer_count().await, before);
    check_final(&w, 0, 0).await;
    db.drop_now().await;
}

/// One account per page and four pages posting at once: the pages' shared
/// accounts (operators, unearned revenue) are written side by side, and
/// the day must come out to the same exact statements.
#[tokio::test]
async fn pages_posting_side_by_side_settle_to_the_same_statements() {
    let (db, w) = seeded(true).await;
    let reports = w
        .settle(Settings {
            accounts_per_page: 1,
            pages_in_flight: 4,
            ..Settings::default()
        })
        .await;
    let r = &reports[0];
    assert_eq!((r.accounts, r.settled, r.unchanged, r.failed), (4, 4, 0, 0));
    assert_eq!((r.transfers, r.adjustments), (17, 0));
    check_final(&w, 0, 0).await;
    db.drop_now().await;
}

#[tokio::test]
async fn late_taps_become_adjustments() {
    let (db, mut w) = seeded(false).await;
    w.settle(Settings::default()).await;
    // Without the late taps: B's day is uncapped (two trips, 38,000 to
    // HURC1); D's second trip is still open at the close, 04:00 is 18 h
    // after its entry: incomplete, 19,000 to HURC1.
    assert_eq!(w.revenue("SAMCO").await, 6_000);
    assert_eq!(
        w.revenue("HURC1").await,
        16_000 + 40_000 + 4_000 + 10_000 + 38_000 + 38_000
    );

    // The late taps arrive: B's bus (caps now bite) and D's tap out.
    assert!(w.event("B", B_LATE_BUS).await);
    assert!(w.event("D", D_TAP_OUT).await);
    let reports = w.settle(Settings::default()).await;
    let r = &reports[0];
    assert_eq!((r.settled, r.unchanged), (2, 2));
    // B: HURC1 gives back 38,000 − 34,545 = 3,455, the wallet pays SAMCO
    // 5,455. D: the hold was already posted in full (19,000); the trip's
    // fare is 7,000, so HURC1 gives back 12,000.
    assert_eq!((r.transfers, r.adjustments), (3, 3));
    check_final(&w, -3_455 - 12_000, 5_455).await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_run_stopped_midway_and_run_again_gives_identical_totals() {
    let (db, w) = seeded(true).await;
    let stopped = w
        .settle(Settings {
            accounts_per_page: 1,
            stop_after_accounts: Some(2),
            ..Settings::default()
        })
        .await;
    assert!(stopped[0].stopped_early);
    assert_eq!(stopped[0].settled, 2);
    let finished = w.settle(Settings::default()).await;
    assert_eq!((finished[0].settled, finished[0].unchanged), (2, 2));
    check_final(&w, 0, 0).await;

    // A run that died after posting but before recording: the ledger has
    // A's and B's transfers, settlement has no record of them. The next run
    // posts the same ids (the ledger answers "exists") and records them.
    sqlx::query("DELETE FROM settlement.account_day WHERE account_id = ANY($1)")
        .bind(vec![w.id("A").as_uuid(), w.id("B").as_uuid()])
        .execute(&w.pool)
        .await
        .unwrap();
    let before = w.transfer_count().await;
    let redone = w.settle(Settings::default()).await;
    assert_eq!((redone[0].settled, redone[0].transfers), (2, 0));
    assert_eq!(w.transfer_count().await, before);
    check_final(&w, 0, 0).await;
    db.drop_now().await;
}

#[tokio::test]
async fn outputs_explain_every_dong() {
    let (db, mut w) = seeded(true).await;
    w.unknown_tap("BUS19-1", "03-02T08:30").await;
    w.settle(Settings::default()).await;
    let out = std::env::temp_dir().join(format!("ot-settle-{}", uuid::Uuid::new_v4().simple()));
    let settler = w.settler(Settings::default()).await;
    let written = settlement::outputs::write_day(&settler, day(), &out)
        .await
        .unwrap();

    // The statement: net revenue per operator, as derived in the module docs.
    let statement = std::fs::read_to_string(written.dir.join("statement.csv")).unwrap();
    let lines: Vec<&str> = statement.lines().collect();
    assert_eq!(
        lines,
        [
            "service_day,operator_id,accounts,legs,full_fares_vnd,discounts_vnd,\
             cap_reductions_vnd,fares_charged_vnd,fares_settled_vnd,incomplete_vnd,\
             pass_recognised_vnd,parking_vnd,net_revenue_vnd,adjustments_vnd",
            "2026-03-02,HURC1,4,5,64000,3000,0,61000,57545,19000,50000,4000,130545,0",
            "2026-03-02,SAMCO,2,2,12000,0,4000,8000,11455,0,0,0,11455,0",
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(written.dir.join("statement.json")).unwrap())
            .unwrap();
    assert_eq!(json["net_revenue_vnd"], 142_000);

    // TIDES: one row per accepted transaction: A 7, B 6, C 4, D 5 (its two
    // tap ins, the first trip's incomplete charge, the tap out, the top-up).
    let mut tides = csv::Reader::from_path(written.dir.join("fare_transactions.csv")).unwrap();
    let headers: Vec<String> = tides.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(headers, settlement::outputs::TIDES_COLUMNS);
    let rows: Vec<csv::StringRecord> = tides.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 22);
    let field = |row: &csv::StringRecord, name: &str| {
        row.get(headers.iter().position(|h| h == name).unwrap())
            .unwrap()
            .to_owned()
    };
    let by_action = |device: &str, action: &str| {
        rows.iter()
            .filter(|r| field(r, "device_id") == device && field(r, "fare_action") == action)
            .map(|r| {
                (
                    field(r, "amount"),
                    field(r, "fare_capped"),
                    field(r, "rider_category"),
                    field(r, "fare_product"),
                    field(r, "media_type"),
                )
            })
            .collect::<Vec<_>>()
    };
    let row = |amount: &str, capped: &str, category: &str, product: &str| {
        (
            amount.to_owned(),
            capped.to_owned(),
            category.to_owned(),
            product.to_owned(),
            "Smart card or ticket".to_owned(),
        )
    };
    // A's bus 6,000; B's bus capped at 2,000 (what B paid; the operators'
    // apportionment is in the statement).
    assert_eq!(
        by_action("BUS19-1", "Enter"),
        [
            row("6000", "false", "adult", "Single ride"),
            row("2000", "true", "adult", "Single ride")
        ]
    );
    // A's tap out after the bus: a transfer exit, 16,000.
    assert_eq!(
        by_action("BXS-G1", "Transfer exit"),
        [row("16000", "false", "", "Single ride")]
    );
    let total: i64 = rows
        .iter()
        .filter(|r| field(r, "fare_action") != "Add")
        .map(|r| field(r, "amount").parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 282_000, "every dong the riders paid");

    // Reconciliation: balanced totals, nothing differs, the unknown card.
    let r = &written.reconciliation;
    assert!(r.totals.balanced);
    assert_eq!(
        (
            r.totals.rider_debits_vnd,
            r.totals.operator_credits_vnd,
            r.totals.pass_sales_vnd,
            r.totals.pass_recognitions_vnd
        ),
        (282_000, 142_000, 190_000, 50_000)
    );
    assert!(r.differences.is_empty());
    assert!(r.failures.is_empty());
    assert_eq!(r.unknown_media.len(), 1);
    assert_eq!(
        (
            r.unknown_media[0].terminal_id.as_str(),
            r.unknown_media[0].taps,
            r.unknown_media[0].accepted
        ),
        ("BUS19-1", 1, 0)
    );
    // No terminal uploaded a journal: every tap's seq is still missing from it.
    assert!(
        r.journal_gaps
            .iter()
            .all(|g| g.watermark == 0 && g.missing == g.max_seq_seen)
    );
    std::fs::remove_dir_all(&out).unwrap();
    db.drop_now().await;
}
