//! What the end-to-end tests share.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ledger::{AccountId, Money, ProviderId, TransferId};
use projection::{FareSetup, Layout, Projection};
use sqlx::PgPool;
use store_pg::rider::{CategoryStatus, MediumKind, Riders};
use store_redis::KeyPrefix;
use uuid::Uuid;

/// An adult rider with the transit card `card_uid` and `vnd` in the
/// wallet, written as the rider API would (account, card, a provider top-up
/// through the projection), under the Redis key prefix `prefix`. Returns
/// the account and the projection that funded it.
pub async fn funded_card_rider(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    card_uid: &str,
    vnd: i64,
    now: DateTime<Utc>,
) -> (AccountId, Projection) {
    let redis = store_redis::connect(redis_url).await.expect("Redis");
    let projection = Projection::new(
        redis,
        pool.clone(),
        Layout::new(KeyPrefix::new(prefix).expect("prefix")),
        Arc::new(FareSetup::hcmc().expect("hcmc")),
    );
    let account = AccountId::new(Uuid::now_v7()).expect("id");
    let riders = Riders::new(pool.clone());
    riders
        .create_account(account, "adult", CategoryStatus::Verified, now)
        .await
        .expect("account");
    riders
        .link_medium(
            Uuid::now_v7(),
            account,
            MediumKind::TransitCard,
            card_uid,
            now,
        )
        .await
        .expect("card");
    projection::funding::fund_wallet(
        &store_pg::ledger::Ledger::new(pool.clone()),
        &projection,
        account,
        &ProviderId::parse("VNPAY").expect("provider"),
        Money::vnd(vnd),
        TransferId::new(Uuid::now_v7()).expect("id"),
        now,
    )
    .await
    .expect("fund");
    (account, projection)
}
