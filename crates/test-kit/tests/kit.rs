//! The helpers do what they promise: a fresh database is migrated, private
//! and removable; Redis prefixes are unique and the connection works.

use std::collections::HashSet;

#[tokio::test]
async fn fresh_databases_are_migrated_private_and_dropped() {
    let a = test_kit::fresh_database().await;
    let b = test_kit::fresh_database().await;
    assert_ne!(a.name, b.name);
    assert!(a.name.starts_with(test_kit::TEST_DATABASE_PREFIX));
    let check_tables = async |pool: &sqlx::PgPool, expected: i64| {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ledger'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(n, expected);
    };
    check_tables(&a.pool, 4).await;
    sqlx::query("CREATE TABLE ledger.scratch (x int)")
        .execute(&a.pool)
        .await
        .unwrap();
    check_tables(&a.pool, 5).await;
    check_tables(&b.pool, 4).await;
    let name = a.name.clone();
    a.drop_now().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&b.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    b.drop_now().await;
}

#[tokio::test]
async fn redis_prefixes_are_unique_and_the_connection_answers() {
    let prefixes: HashSet<String> = (0..100).map(|_| test_kit::redis_prefix()).collect();
    assert_eq!(prefixes.len(), 100);
    let mut conn = test_kit::redis_connection().await;
    let key = format!("{}probe", test_kit::redis_prefix());
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("1")
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, "1");
    let _: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}
