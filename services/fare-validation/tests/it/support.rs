//! The test rig: a fresh database, a Redis key prefix, the HCMC fares, a
//! key ring, and helpers that sign requests exactly as a terminal does.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use card_protocol::request_auth::MasterKey;
use card_protocol::ticket::Issuer;
use chrono::{DateTime, TimeZone, Utc};
use fare_validation::{AppState, Clock, Config};
use ledger::keyring::{KeyMaterial, KeyRing, KeySeed};
use ledger::{AccountId, Money, ProviderId, TransferId};
use projection::ingest::{Ingest, IngestSettings};
use projection::{FareSetup, Layout, Projection};
use serde_json::Value;
use store_pg::ledger::Ledger;
use store_pg::rider::{CategoryStatus, MediumKind, Riders};
use store_pg::terminal::{Direction, Placement, Terminals};
use store_redis::{ConnectionManager, KeyPrefix};
use test_kit::TestDatabase;
use uuid::Uuid;

/// 2026-03-02 07:00 in Ho Chi Minh City: a weekday morning.
pub const T0_S: i64 = 1_772_409_600;
pub const MASTER: [u8; 32] = [7; 32];

pub struct Rig {
    pub db: TestDatabase,
    pub redis: ConnectionManager,
    pub layout: Layout,
    pub setup: Arc<FareSetup>,
    pub ring: KeyRing,
    pub clock: Clock,
    pub state: AppState,
    pub router: Router,
}

pub fn time(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().expect("valid time")
}

impl Rig {
    pub async fn new() -> Rig {
        let db = test_kit::fresh_database().await;
        let redis = store_redis::connect(&test_kit::redis_url())
            .await
            .expect("Redis");
        let prefix = test_kit::redis_prefix();
        let layout = Layout::new(KeyPrefix::new(prefix.trim_end_matches(':')).expect("prefix"));
        let setup = Arc::new(FareSetup::hcmc().expect("hcmc"));
        let ring = KeyRing::new(
            Issuer::parse("OT").expect("issuer"),
            &KeyMaterial {
                seed: KeySeed::from_bytes([9; 32]),
                not_before_s: 0,
                not_after_s: 4_000_000_000,
            },
        )
        .expect("ring");
        let clock = Clock::manual(T0_S);
        let state = Rig::instance(&db, &redis, &layout, &setup, &ring, &clock);
        let router = fare_validation::router(state.clone());
        Rig {
            db,
            redis,
            layout,
            setup,
            ring,
            clock,
            state,
            router,
        }
    }

    /// Another service instance on the same stores.
    pub fn instance(
        db: &TestDatabase,
        redis: &ConnectionManager,
        layout: &Layout,
        setup: &Arc<FareSetup>,
        ring: &KeyRing,
        clock: &Clock,
    ) -> AppState {
        let projection = Projection::new(
            redis.clone(),
            db.pool.clone(),
            layout.clone(),
            setup.clone(),
        );
        AppState::new(Config {
            projection,
            pool: db.pool.clone(),
            redis: redis.clone(),
            master_key: MasterKey::new(&MASTER).expect("master"),
            key_set: ring.key_set(),
            clock: clock.clone(),
        })
    }

    pub fn second_router(&self) -> Router {
        fare_validation::router(Rig::instance(
            &self.db,
            &self.redis,
            &self.layout,
            &self.setup,
            &self.ring,
            &self.clock,
        ))
    }

    pub async fn bus(&self, id: &str, route: &str) {
        Terminals::new(self.db.pool.clone())
            .register(
                id,
                "samco",
                &Placement::BusValidator {
                    route_id: route.into(),
                },
                time(T0_S),
            )
            .await
            .expect("register");
    }

    pub async fn gate(&self, id: &str, station: &str, direction: Direction) {
        Terminals::new(self.db.pool.clone())
            .register(
                id,
                "hurc1",
                &Placement::MetroGate {
                    station_id: station.into(),
                    direction,
                },
                time(T0_S),
            )
            .await
            .expect("register");
    }

    /// A rider with a transit card and `balance_vnd` in the wallet.
    pub async fn rider(&self, card: &str, balance_vnd: i64) -> (AccountId, Uuid) {
        let account = AccountId::new(Uuid::now_v7()).expect("id");
        let riders = Riders::new(self.db.pool.clone());
        riders
            .create_account(account, "adult", CategoryStatus::Verified, time(T0_S))
            .await
            .expect("account");
        let medium = Uuid::now_v7();
        riders
            .link_medium(medium, account, MediumKind::TransitCard, card, time(T0_S))
            .await
            .expect("medium");
        if balance_vnd > 0 {
            projection::funding::fund_wallet(
                &Ledger::new(self.db.pool.clone()),
                self.state.projection(),
                account,
                &ProviderId::parse("VNPAY").expect("provider"),
                Money::vnd(balance_vnd),
                TransferId::new(Uuid::now_v7()).expect("id"),
                time(T0_S),
            )
            .await
            .expect("fund");
        }
        (account, medium)
    }

    pub async fn ingest(&self, consumer: &str) -> Ingest {
        self.ingest_reading(consumer, projection::ingest::DEFAULT_BATCH_ENTRIES)
            .await
    }

    /// An ingest whose reads bring at most about `batch_entries`.
    pub async fn ingest_reading(&self, consumer: &str, batch_entries: usize) -> Ingest {
        let mut settings = IngestSettings::new(consumer);
        settings.batch_entries = batch_entries;
        settings.min_idle_ms = 50;
        settings.block_ms = 100;
        Ingest::new(
            self.redis.clone(),
            self.redis.clone(),
            self.db.pool.clone(),
            &self.layout,
            settings,
        )
        .await
        .expect("ingest")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }
}

/// A request signed by terminal `terminal` at the rig's clock.
pub fn signed(method: &str, path: &str, terminal: &str, body: &[u8], at_s: u64) -> Request<Body> {
    test_kit::http::signed_request(&MASTER, method, path, terminal, body, at_s)
}

pub use test_kit::http::send;

pub fn card_tap(terminal: &str, seq: u64, event: Value, card: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "terminal_id": terminal, "boot_epoch": 1, "seq": seq, "device_time_s": T0_S,
        "event": event, "medium": {"kind": "transit_card", "card_id": card}
    }))
    .expect("json")
}

/// Taps and returns (status, reply) at the rig's clock.
pub async fn tap(rig: &Rig, router: &Router, terminal: &str, body: &[u8]) -> (StatusCode, Value) {
    let now_s = rig.clock.now_s();
    send(router, signed("POST", "/v1/taps", terminal, body, now_s)).await
}

pub fn without_time(mut reply: Value) -> Value {
    if let Some(map) = reply.as_object_mut() {
        map.remove("server_time_s");
    }
    reply
}
