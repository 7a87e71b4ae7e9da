//! `oneticket demo` end to end: a tiny day through the real binary on a
//! fresh database and Redis prefix, its JSON summary checked against what
//! the stores hold — every tap the terminals were told about is in
//! `transit.tap` with the same decision, each operator's settled revenue is
//! what the ledger credited its revenue account, the riders exist, and the
//! audit passed (in the summary and as `oneticket audit`); and bad options
//! refused before anything is touched.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_oneticket");
/// Riders of the test's day: enough for every mode of a day to appear
/// with this seed, few enough to sign up quickly.
const RIDERS: &str = "12";
const SEED: &str = "7";

fn oneticket(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("OT_LOG")
        .env_remove("RUST_LOG")
        .env_remove("OT_LISTEN")
        .stdin(Stdio::null())
        .output()
        .expect("the oneticket binary runs")
}

/// `(mode, decision, reason)` → taps.
type TapCounts = BTreeMap<(String, String, Option<String>), i64>;

fn summary_taps(summary: &Value) -> TapCounts {
    summary["tally"]["taps"]
        .as_array()
        .expect("a list of tap counts")
        .iter()
        .map(|row| {
            (
                (
                    row["mode"].as_str().expect("mode").to_owned(),
                    row["decision"].as_str().expect("decision").to_owned(),
                    row["reason"].as_str().map(str::to_owned),
                ),
                row["taps"].as_i64().expect("a count"),
            )
        })
        .collect()
}

async fn stored_taps(pool: &sqlx::PgPool, day: chrono::NaiveDate) -> TapCounts {
    sqlx::query(
        "SELECT CASE WHEN event_kind = 'bus_boarding' THEN 'bus' \
                     WHEN event_kind LIKE 'metro%' THEN 'metro' ELSE 'parking' END AS mode, \
                decision, reason, count(*) AS taps \
         FROM transit.tap WHERE service_day = $1 GROUP BY 1, 2, 3",
    )
    .bind(day)
    .fetch_all(pool)
    .await
    .expect("taps")
    .iter()
    .map(|row| {
        (
            (
                row.get::<String, _>("mode"),
                row.get::<String, _>("decision"),
                row.get::<Option<String>, _>("reason"),
            ),
            row.get::<i64, _>("taps"),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tiny_demo_day_adds_up_in_the_stores() {
    let db = test_kit::fresh_database().await;
    let url = db.url();
    let dir = std::env::temp_dir().join(format!("oneticket-demo-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key_dir = dir.join("keys").to_str().expect("UTF-8").to_owned();
    let prefix = test_kit::redis_prefix().trim_end_matches(':').to_owned();
    let redis_url = test_kit::redis_url();
    let env = [
        ("OT_DATABASE_URL", url.as_str()),
        ("OT_REDIS_URL", redis_url.as_str()),
        ("OT_KEY_DIR", key_dir.as_str()),
        ("OT_REDIS_PREFIX", prefix.as_str()),
        ("OT_LOG_FORMAT", "json"),
    ];
    let generated = oneticket(&["keys", "generate"], &env);
    assert!(generated.status.success());

    let played = oneticket(
        &["demo", "--riders", RIDERS, "--seed", SEED, "--json"],
        &env,
    );
    assert!(
        played.status.success(),
        "{}",
        String::from_utf8_lossy(&played.stderr)
    );
    let summary: Value = serde_json::from_slice(&played.stdout).expect("--json prints JSON");
    let day: chrono::NaiveDate = summary["service_day"]
        .as_str()
        .expect("a day")
        .parse()
        .expect("a date");

    // Every tap the terminals were told about is in Postgres, with the
    // same decision and reason, and the day has taps of every mode.
    let told = summary_taps(&summary);
    assert_eq!(told, stored_taps(&db.pool, day).await);
    for mode in ["bus", "metro", "parking"] {
        assert!(
            told.keys().any(|(m, ..)| m == mode),
            "no {mode} taps in {told:?}"
        );
    }
    let epochs: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT boot_epoch FROM transit.tap WHERE service_day = $1")
            .bind(day)
            .fetch_all(&db.pool)
            .await
            .expect("epochs");
    assert_eq!(epochs, [summary["boot_epoch"].as_i64().expect("an epoch")]);

    // Each operator's settled revenue is what its ledger account holds.
    let ledger: BTreeMap<String, i64> = sqlx::query(
        "SELECT operator_id, credits_posted_vnd - debits_posted_vnd AS net FROM ledger.account \
         WHERE kind = 'operator_revenue'",
    )
    .fetch_all(&db.pool)
    .await
    .expect("operator accounts")
    .iter()
    .map(|row| (row.get("operator_id"), row.get("net")))
    .collect();
    let settled: BTreeMap<String, i64> = summary["settlement"]["operators"]
        .as_array()
        .expect("statement lines")
        .iter()
        .map(|line| {
            (
                line["operator_id"].as_str().expect("operator").to_owned(),
                line["net_revenue_vnd"].as_i64().expect("revenue"),
            )
        })
        .collect();
    let nonzero = |m: &BTreeMap<String, i64>| {
        m.iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(nonzero(&settled), nonzero(&ledger));
    assert_eq!(
        summary["settlement"]["net_revenue_vnd"].as_i64(),
        Some(ledger.values().sum::<i64>())
    );
    assert_eq!(summary["settlement"]["report"]["failed"], 0);
    assert_eq!(summary["settlement"]["totals"]["balanced"], true);

    // The riders signed up through the rider API.
    let accounts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rider.login WHERE identifier LIKE '%@demo.oneticket.vn'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("logins");
    assert_eq!(summary["riders"]["total"].as_i64(), Some(accounts));
    assert_eq!(summary["tally"]["accounts"].as_i64(), Some(accounts));

    // The audit passed, in the summary and on its own; the admin key is revoked.
    assert_eq!(summary["audit"]["passed"], true);
    let audit = oneticket(&["audit"], &env);
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
    );
    let live_keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM admin.api_key WHERE revoked_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .expect("keys");
    assert_eq!(live_keys, 0);

    // The day is taken: asking for it again is refused and changes nothing.
    let again = oneticket(
        &["demo", "--riders", "1", "--day", &day.to_string(), "--json"],
        &env,
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already has"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(told, stored_taps(&db.pool, day).await);

    let _ = std::fs::remove_dir_all(&dir);
    db.drop_now().await;
}

fn check_refused(args: &[&str], message: &str) {
    // No database, Redis or key store: refused before any is touched.
    let output = oneticket(
        args,
        &[("OT_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

#[test]
fn the_demo_explains_itself_and_refuses_bad_options() {
    let help = oneticket(&["demo", "--help"], &[]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for option in ["--riders", "--day", "--seed", "--base-url", "--json"] {
        assert!(text.contains(option), "{option} missing from {text}");
    }
    check_refused(&["demo", "--riders", "0"], "--riders must be 1 to 10000");
    check_refused(
        &["demo", "--riders", "10001"],
        "--riders must be 1 to 10000",
    );
    check_refused(
        &[
            "demo",
            "--base-url",
            "http://127.0.0.1:1",
            "--day",
            "2026-03-02",
        ],
        "--day cannot be used with --base-url",
    );
}
