//! The resolution feed (migration 0070): triggers record every change of a
//! medium or of an account's category, and a reader that moves its horizon
//! as `Riders::resolution_horizon` says never misses one — even a change
//! committed after a poll by a transaction that was open during it.

use chrono::{DateTime, Utc};
use ledger::AccountId;
use store_pg::rider::{CategoryStatus, FeedHorizon, MediumKind, ResolutionChange, Riders};
use store_pg::rider_login::RiderLogins;
use uuid::Uuid;

const CARD: &str = "aabbccdd";

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap()
}

fn card() -> ResolutionChange {
    ResolutionChange::Medium {
        kind: MediumKind::TransitCard,
        value: CARD.to_owned(),
    }
}

/// The changes a poll from `since` reads.
async fn changes(riders: &Riders, since: &FeedHorizon) -> Vec<ResolutionChange> {
    riders.resolution_changes(since, 100).await.unwrap()
}

async fn rows(db: &test_kit::TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM rider.resolution_change")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_change_committed_after_a_poll_is_read_by_the_next_poll() {
    let db = test_kit::fresh_database().await;
    let riders = Riders::new(db.pool.clone());
    let account =
        AccountId::new(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0a11)).unwrap();
    riders
        .create_account(account, "adult", CategoryStatus::Pending, now())
        .await
        .unwrap();
    let before = riders.resolution_horizon().await.unwrap();

    // A card linked by a transaction still open while another reader polls.
    let medium = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0ca4);
    let mut open = db.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO rider.medium (medium_id, kind, value, account_id, status, created_at) \
         VALUES ($1, 'transit_card', $2, $3, 'active', $4)",
    )
    .bind(medium)
    .bind(CARD)
    .bind(account.as_uuid())
    .bind(now())
    .execute(&mut *open)
    .await
    .unwrap();
    let during = riders.resolution_horizon().await.unwrap();
    assert!(!changes(&riders, &before).await.contains(&card()));
    open.commit().await.unwrap();
    // The next poll starts from the horizon taken while it was open.
    assert!(changes(&riders, &during).await.contains(&card()));
    assert_eq!(rows(&db).await, 1);

    // A block is a change of the card; a category decision one of the
    // account; the same decision again, or another column, is none.
    let after_link = riders.resolution_horizon().await.unwrap();
    riders
        .block_medium(medium, "lost", now())
        .await
        .unwrap()
        .unwrap();
    assert!(changes(&riders, &after_link).await.contains(&card()));
    assert_eq!(rows(&db).await, 2);
    let after_block = riders.resolution_horizon().await.unwrap();
    let logins = RiderLogins::new(db.pool.clone());
    logins
        .set_category(account, "student", CategoryStatus::Verified, now())
        .await
        .unwrap();
    let account_change = ResolutionChange::Account(account);
    assert!(
        changes(&riders, &after_block)
            .await
            .contains(&account_change)
    );
    assert_eq!(rows(&db).await, 3);
    logins
        .set_category(account, "student", CategoryStatus::Verified, now())
        .await
        .unwrap();
    sqlx::query("UPDATE rider.account SET updated_at = $1")
        .bind(now())
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows(&db).await, 3);

    // Pruning keeps what is younger than the retention, deletes the rest.
    assert_eq!(riders.prune_resolution_changes(3_600).await.unwrap(), 0);
    assert_eq!(riders.prune_resolution_changes(0).await.unwrap(), 3);
    db.drop_now().await;
}

/// A poll reads the `xid` index from the horizon on, whatever the table's
/// statistics: with 20,000 old changes and no `ANALYZE` (autovacuum
/// off, or a bulk load just done), it must not read every row to find the
/// few new ones, nor return the old ones.
#[tokio::test]
async fn a_poll_reads_only_new_changes_without_statistics() {
    let db = test_kit::fresh_database().await;
    sqlx::query(
        "INSERT INTO rider.resolution_change (medium_kind, medium_value) \
         SELECT 'transit_card', 'card-' || n FROM generate_series(1, 20000) AS n",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let riders = Riders::new(db.pool.clone());
    let since = riders.resolution_horizon().await.unwrap();
    let explain = store_pg::rider::RESOLUTION_CHANGES_SQL
        .replace("$1", "pg_snapshot_xmax(pg_current_snapshot())::text")
        .replace(
            "$2",
            "ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())::text)",
        )
        .replace("$3", "1000");
    let plan: serde_json::Value =
        sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {explain}"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let text = plan.to_string();
    assert!(text.contains("resolution_change_xid"), "{text}");
    assert!(!text.contains("Rows Removed by Filter"), "{text}");
    // A change committed after the horizon is read, and only that one.
    sqlx::query(
        "INSERT INTO rider.resolution_change (medium_kind, medium_value) \
         VALUES ('transit_card', $1)",
    )
    .bind(CARD)
    .execute(&db.pool)
    .await
    .unwrap();
    let read = riders.resolution_changes(&since, 20_001).await.unwrap();
    assert_eq!(read, [card()]);
    db.drop_now().await;
}

/// A transaction left open (a backup, a long report — here, one that has
/// written nothing yet) makes no poll read again what an earlier one read,
/// and what it writes is read once it commits.
#[tokio::test]
async fn an_open_transaction_makes_no_poll_read_twice() {
    let db = test_kit::fresh_database().await;
    let riders = Riders::new(db.pool.clone());
    let insert = "INSERT INTO rider.resolution_change (medium_kind, medium_value) \
                  VALUES ('transit_card', $1)";
    let change = |value: &str| ResolutionChange::Medium {
        kind: MediumKind::TransitCard,
        value: value.to_owned(),
    };
    let mut open = db.pool.begin().await.unwrap();
    let _xid: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut *open)
        .await
        .unwrap();

    sqlx::query(insert)
        .bind("first")
        .execute(&db.pool)
        .await
        .unwrap();
    let after_first = riders.resolution_horizon().await.unwrap();
    assert!(changes(&riders, &after_first).await.is_empty());
    sqlx::query(insert)
        .bind("second")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(changes(&riders, &after_first).await, [change("second")]);
    let after_second = riders.resolution_horizon().await.unwrap();
    assert!(changes(&riders, &after_second).await.is_empty());

    // The open transaction writes, then commits: it was in progress at the
    // horizon, so the next poll reads its change.
    sqlx::query(insert)
        .bind("held")
        .execute(&mut *open)
        .await
        .unwrap();
    assert!(changes(&riders, &after_second).await.is_empty());
    open.commit().await.unwrap();
    assert_eq!(changes(&riders, &after_second).await, [change("held")]);
    db.drop_now().await;
}
