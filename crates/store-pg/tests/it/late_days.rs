//! Settlement's late-day check reads `transit.day_arrival`, which the ingest
//! keeps in each batch's transaction (migration 0075): a day is marked by
//! the account events and deny-with-an-account taps a batch inserts, never
//! by rows it did not insert (a redelivered batch) nor by taps that cannot
//! change a settlement.

use chrono::{DateTime, NaiveDate, Utc};
use store_pg::hot_events::{EventRow, Inserted, TapRow, write_ingest_batch};
use store_pg::settlement::SettlementStore;
use uuid::Uuid;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap()
}

fn account() -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0a11)
}

fn event(version: i64, service_day: NaiveDate) -> EventRow {
    EventRow {
        account_id: account(),
        version,
        event_key: format!("top_up:{version}"),
        kind: "top_up".into(),
        event_time: at(),
        service_day,
        top_up_vnd: Some(50_000),
        amount_vnd: 0,
        balance_vnd: 50_000 * version,
        config_id: "test".into(),
        decided_at: at(),
        ..EventRow::default()
    }
}

fn tap(seq: i64, service_day: NaiveDate, decision: &str, account: Option<Uuid>) -> TapRow {
    TapRow {
        terminal_id: "bus-0001".into(),
        boot_epoch: 1,
        seq,
        source: "journal".into(),
        device_time: at(),
        event_time: at(),
        service_day,
        event_kind: "bus_boarding".into(),
        route_id: Some("19".into()),
        operator_id: "samco".into(),
        medium_kind: "transit_card".into(),
        account_id: account,
        decision: decision.into(),
        config_id: "test".into(),
        decided_at: at(),
        ..TapRow::default()
    }
}

async fn clock(pool: &sqlx::PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn late_days_are_the_days_a_batch_inserted_settling_rows_for() {
    let db = test_kit::fresh_database().await;
    let store = SettlementStore::new(db.pool.clone());
    let before = clock(&db.pool).await;

    // Day 1 gets an event; day 2 a gate-accepted offline tap (a deny with
    // an account); day 3 only an accepted tap and a deny of no account —
    // neither changes a settlement on its own.
    let events = [event(1, day(1))];
    let taps = [
        tap(1, day(3), "accept", Some(account())),
        tap(2, day(2), "deny", Some(account())),
        tap(3, day(3), "deny", None),
    ];
    let first = write_ingest_batch(&db.pool, &taps, &events, &[], at())
        .await
        .unwrap();
    assert_eq!(first, Inserted { taps: 3, events: 1 });
    assert_eq!(
        store.late_days(before, day(3)).await.unwrap(),
        [day(1), day(2)]
    );
    assert_eq!(store.late_days(before, day(1)).await.unwrap(), [day(1)]);

    // After that batch, nothing is late; a redelivered batch inserts
    // nothing and marks nothing.
    let after = clock(&db.pool).await;
    assert!(store.late_days(after, day(3)).await.unwrap().is_empty());
    let again = write_ingest_batch(&db.pool, &taps, &events, &[], at())
        .await
        .unwrap();
    assert_eq!(again, Inserted::default());
    assert!(store.late_days(after, day(3)).await.unwrap().is_empty());

    // A late event for day 1 marks it again; the mark only moves forward.
    write_ingest_batch(&db.pool, &[], &[event(2, day(1))], &[], at())
        .await
        .unwrap();
    assert_eq!(store.late_days(after, day(3)).await.unwrap(), [day(1)]);
    let marks: i64 = sqlx::query_scalar("SELECT count(*) FROM transit.day_arrival")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(marks, 2);
    db.drop_now().await;
}

/// Rows that were there before migration 0075 mark their days too: the
/// migration fills the table from the event and tap tables.
#[tokio::test]
async fn the_migration_marks_the_days_already_ingested() {
    let db = test_kit::fresh_database().await;
    let store = SettlementStore::new(db.pool.clone());
    let before = clock(&db.pool).await;
    write_ingest_batch(
        &db.pool,
        &[tap(1, day(2), "deny", Some(account()))],
        &[event(1, day(1))],
        &[],
        at(),
    )
    .await
    .unwrap();
    sqlx::query("TRUNCATE transit.day_arrival")
        .execute(&db.pool)
        .await
        .unwrap();
    let migration = store_pg::MIGRATOR
        .iter()
        .find(|m| m.version == 75)
        .expect("migration 0075");
    let backfill = migration
        .sql
        .split_once("INSERT INTO transit.day_arrival")
        .expect("the migration fills the table")
        .1;
    sqlx::raw_sql(&format!("INSERT INTO transit.day_arrival{backfill}"))
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        store.late_days(before, day(9)).await.unwrap(),
        [day(1), day(2)]
    );
    db.drop_now().await;
}
