//! What settlement reads of what the ingest wrote.
//!
//! The late-day check reads `transit.day_arrival`, which the ingest keeps
//! in each batch's transaction (migration 0075): a day is marked by the
//! account events and deny-with-an-account taps a batch inserts, never by
//! rows it did not insert (a redelivered batch) nor by taps that cannot
//! change a settlement. A day's events are the account events plus the
//! taps the server denied but the gate accepted offline (gate overrides,
//! found through `tap_account_day`, which holds denies only: migration
//! 0076).

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

    // A late event for day 1 marks it again (one row per day).
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

/// A batch that holds rows already written (a redelivery that overlaps new
/// entries) is first refused by the plain inserts, then written again
/// skipping what exists: exactly the new rows are inserted, and exactly
/// their days are marked.
#[tokio::test]
async fn a_batch_that_overlaps_written_rows_inserts_only_the_new_ones() {
    let db = test_kit::fresh_database().await;
    let store = SettlementStore::new(db.pool.clone());
    write_ingest_batch(
        &db.pool,
        &[tap(1, day(1), "accept", Some(account()))],
        &[event(1, day(1))],
        &[],
        at(),
    )
    .await
    .unwrap();
    let after = clock(&db.pool).await;

    // The written rows first and last, new ones between, in both tables.
    let taps = [
        tap(1, day(1), "accept", Some(account())),
        tap(2, day(2), "deny", Some(account())),
        tap(3, day(2), "accept", Some(account())),
    ];
    let events = [event(2, day(3)), event(1, day(1))];
    let inserted = write_ingest_batch(&db.pool, &taps, &events, &[], at())
        .await
        .unwrap();
    assert_eq!(inserted, Inserted { taps: 2, events: 1 });
    assert_eq!(
        store.late_days(after, day(3)).await.unwrap(),
        [day(2), day(3)],
        "the new deny-with-an-account tap's day and the new event's day, not day 1"
    );
    let (taps_stored, events_stored): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM transit.tap), (SELECT count(*) FROM rider.account_event)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((taps_stored, events_stored), (3, 2));
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

async fn journal(pool: &sqlx::PgPool, seq: i64, decided_by: &str, decision: &str) {
    sqlx::query(
        "INSERT INTO transit.journal_record (terminal_id, boot_epoch, seq, content_sha256, \
           record, decided_by, device_time, decision, amount_vnd, deny_list_version, \
           key_set_version, clock_offset_s, received_at, pricing, priced_at) \
         VALUES ('bus-0001', 1, $1, $2, '{}', $3, $4, $5, 6000, 1, 1, 0, $4, 'applied', $4)",
    )
    .bind(seq)
    .bind(vec![u8::try_from(seq).unwrap(); 32])
    .bind(decided_by)
    .bind(at())
    .bind(decision)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_days_events_add_the_denies_a_gate_accepted_offline() {
    let db = test_kit::fresh_database().await;
    let store = SettlementStore::new(db.pool.clone());
    sqlx::query(
        "INSERT INTO transit.terminal (terminal_id, operator_id, mode, route_id, status, \
           created_at, updated_at) \
         VALUES ('bus-0001', 'samco', 'bus_validator', '19', 'active', $1, $1)",
    )
    .bind(at())
    .execute(&db.pool)
    .await
    .unwrap();
    // Seq 1: the server denied, the gate had accepted offline — a gate
    // override. Seq 2: denied by both. Seq 3: accepted online, with its
    // account event.
    let taps = [
        tap(1, day(1), "deny", Some(account())),
        tap(2, day(1), "deny", Some(account())),
        TapRow {
            amount_vnd: 6_000,
            ..tap(3, day(1), "accept", Some(account()))
        },
    ];
    let bus = EventRow {
        event_key: "tap:bus-0001:1:3".into(),
        kind: "bus".into(),
        route_id: Some("19".into()),
        category_id: Some("adult".into()),
        top_up_vnd: None,
        amount_vnd: -6_000,
        terminal_id: Some("bus-0001".into()),
        boot_epoch: Some(1),
        seq: Some(3),
        ..event(1, day(1))
    };
    write_ingest_batch(&db.pool, &taps, &[bus], &[], at())
        .await
        .unwrap();
    journal(&db.pool, 1, "offline", "accept").await;
    journal(&db.pool, 2, "offline", "deny").await;

    let events = store.events(day(1), &[account()]).await.unwrap();
    let read: Vec<(&str, bool)> = events
        .iter()
        .map(|e| (e.event_key.as_str(), e.gate_override))
        .collect();
    // The account event first (by version), then the override (none).
    assert_eq!(
        read,
        [("tap:bus-0001:1:3", false), ("tap:bus-0001:1:1", true)]
    );
    assert_eq!(events[0].operator_id.as_deref(), Some("samco"));
    assert!(store.events(day(2), &[account()]).await.unwrap().is_empty());
    db.drop_now().await;
}
