//! `oneticket settle` as an operator runs it: the real binary on a fresh
//! database seeded the way the hot path records a day, then `audit`.

use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Utc};
use ledger::{
    Account, AccountId, AccountKind, Amount, Currency, Money, Movement, Overdraft, ProviderId,
    Transfer, TransferBody, TransferCode, TransferId,
};
use store_pg::Ledger;
use store_pg::rider::{CategoryStatus, Riders};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_oneticket");

fn oneticket(args: &[&str], url: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env("OT_DATABASE_URL", url)
        .env("OT_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the oneticket binary runs")
}

fn at(local: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(local)
        .expect("RFC 3339")
        .to_utc()
}

/// One rider on 2026-03-02: a 50,000 top-up (posted by the payment path)
/// and a bus 19 boarding at a SAMCO validator (6,000, spec §3).
async fn seed(pool: &sqlx::PgPool) -> AccountId {
    let now = Utc::now();
    let rider = AccountId::new(Uuid::from_u128(0xA11CE)).expect("not reserved");
    Riders::new(pool.clone())
        .create_account(rider, "adult", CategoryStatus::Verified, now)
        .await
        .expect("rider");
    let clearing = AccountId::new(Uuid::from_u128(0xC1EA)).expect("not reserved");
    let ledger = Ledger::new(pool.clone());
    ledger
        .create_account(
            &Account::new(
                clearing,
                AccountKind::ProviderClearing {
                    provider_id: ProviderId::parse("VNPAY").expect("valid"),
                },
            ),
            now,
        )
        .await
        .expect("clearing");
    let top_up = TransferId::new(Uuid::from_u128(0x70)).expect("not reserved");
    ledger
        .apply(
            &[Transfer {
                id: top_up,
                code: TransferCode::TopUp,
                reference: None,
                body: TransferBody::Direct(Movement {
                    debit_account_id: clearing,
                    credit_account_id: rider,
                    amount: Amount::new(Money::vnd(50_000)).expect("positive"),
                    currency: Currency::VND,
                    overdraft: Overdraft::Forbidden,
                }),
            }],
            now,
        )
        .await
        .expect("top-up");
    sqlx::query(
        "INSERT INTO transit.terminal (terminal_id, operator_id, mode, route_id, status, \
         created_at, updated_at) VALUES ('BUS19-1', 'samco', 'bus_validator', '19', 'active', $1, $1)",
    )
    .bind(now)
    .execute(pool)
    .await
    .expect("terminal");
    let bus_at = at("2026-03-02T07:05:00+07:00");
    sqlx::query(
        "INSERT INTO transit.tap (terminal_id, boot_epoch, seq, source, device_time, event_time, \
         service_day, event_kind, route_id, operator_id, medium_kind, account_id, category_id, \
         decision, amount_vnd, balance_vnd, account_version, config_id, decided_at) \
         VALUES ('BUS19-1', 0, 1, 'online', $1, $1, '2026-03-02', 'bus_boarding', '19', 'samco', \
         'transit_card', $2, 'adult', 'accept', 6000, 44000, 2, 'test', $1)",
    )
    .bind(bus_at)
    .bind(rider.as_uuid())
    .execute(pool)
    .await
    .expect("tap");
    for (version, key, kind, time, route, category, top_up_vnd, amount, balance, tap) in [
        (
            1i64,
            format!("top_up:{}", top_up.as_uuid().simple()),
            "top_up",
            at("2026-03-02T07:00:00+07:00"),
            None,
            None,
            Some(50_000i64),
            -50_000i64,
            50_000i64,
            false,
        ),
        (
            2,
            "tap:BUS19-1:0:1".to_owned(),
            "bus",
            bus_at,
            Some("19"),
            Some("adult"),
            None,
            6_000,
            44_000,
            true,
        ),
    ] {
        sqlx::query(
            "INSERT INTO rider.account_event (account_id, version, event_key, kind, event_time, \
             service_day, route_id, category_id, top_up_vnd, amount_vnd, balance_vnd, terminal_id, \
             boot_epoch, seq, config_id, decided_at) VALUES ($1, $2, $3, $4, $5, '2026-03-02', $6, \
             $7, $8, $9, $10, $11, $12, $13, 'test', $5)",
        )
        .bind(rider.as_uuid())
        .bind(version)
        .bind(key)
        .bind(kind)
        .bind(time)
        .bind(route)
        .bind(category)
        .bind(top_up_vnd)
        .bind(amount)
        .bind(balance)
        .bind(tap.then_some("BUS19-1"))
        .bind(tap.then_some(0i64))
        .bind(tap.then_some(1i64))
        .execute(pool)
        .await
        .expect("event");
    }
    rider
}

#[tokio::test(flavor = "multi_thread")]
async fn settle_writes_the_days_outputs_and_audit_still_passes() {
    let db = test_kit::fresh_database().await;
    seed(&db.pool).await;
    let out = std::env::temp_dir().join(format!("ot-settle-cli-{}", Uuid::new_v4().simple()));
    let out_arg = out.to_str().expect("UTF-8 path");
    let url = db.url();

    let settled = oneticket(
        &["settle", "--day", "2026-03-02", "--out", out_arg, "--json"],
        &url,
    );
    assert!(
        settled.status.success(),
        "{}",
        String::from_utf8_lossy(&settled.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&settled.stdout).expect("--json prints JSON");
    let day = &summary["days"][0];
    assert_eq!(day["report"]["day"], "2026-03-02");
    assert_eq!(day["report"]["settled"], 1);
    // One direct fare transfer: wallet → SAMCO 6,000.
    assert_eq!(day["report"]["transfers"], 1);
    assert_eq!(day["statement"]["operators"][0]["operator_id"], "SAMCO");
    assert_eq!(day["statement"]["operators"][0]["net_revenue_vnd"], 6_000);
    assert_eq!(day["balanced"], true);
    for file in [
        "statement.csv",
        "statement.json",
        "fare_transactions.csv",
        "reconciliation.json",
    ] {
        assert!(out.join("2026-03-02").join(file).is_file(), "{file}");
    }

    let audit = oneticket(&["audit"], &url);
    let text = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(audit.status.success(), "{text}");
    assert!(text.contains("settlement audit: 0 findings"), "{text}");

    // Again: nothing new, nothing posted.
    let again = oneticket(&["settle", "--day", "2026-03-02", "--json"], &url);
    assert!(again.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(summary["days"][0]["report"]["transfers"], 0);
    assert_eq!(summary["days"][0]["report"]["unchanged"], 1);

    let bad = oneticket(&["settle", "--day", "2026-13-40"], &url);
    assert!(!bad.status.success(), "a bad date is refused");
    std::fs::remove_dir_all(&out).expect("clean up");
    db.drop_now().await;
}
