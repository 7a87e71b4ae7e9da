//! The test rig: a fresh database, a Redis key prefix, the HCMC fares and
//! lots, the parking and fare-validation routers on one projection, gate
//! terminals, riders with cards and plates, operator keys, and helpers
//! that sign requests exactly as a gate does.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use card_protocol::request_auth::MasterKey;
use card_protocol::ticket::Issuer;
use chrono::{DateTime, TimeZone, Utc};
use fare_validation::{AppState, Clock};
use fares::engine::config::Extensions;
use ledger::keyring::{KeyMaterial, KeyRing, KeySeed};
use ledger::{AccountId, Money, ProviderId, TransferId};
use parking_service::{ClientIp, FeedSettings, Lots, ParkingState};
use projection::{FareSetup, Layout, Projection};
use serde_json::{Value, json};
use store_pg::ledger::Ledger;
use store_pg::rider::{CategoryStatus, MediumKind, Riders};
use store_pg::terminal::{ApiKeys, Direction, Placement, Terminals};
use store_redis::occupancy;
use store_redis::{ConnectionManager, KeyPrefix};
use test_kit::TestDatabase;
use uuid::Uuid;

/// 2026-03-02 07:00 in Ho Chi Minh City: a weekday morning.
pub const T0_S: i64 = 1_772_409_600;
pub const MASTER: [u8; 32] = [7; 32];
pub const HOUR_S: i64 = 3_600;

pub struct Rig {
    pub db: TestDatabase,
    pub redis: ConnectionManager,
    pub layout: Layout,
    pub setup: Arc<FareSetup>,
    pub ring: KeyRing,
    pub clock: Clock,
    pub prefix: KeyPrefix,
    pub terminals: AppState,
    pub parking: ParkingState,
    /// The parking router.
    pub router: Router,
    /// fare-validation's router (metro taps, journals).
    pub validators: Router,
}

pub fn time(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().expect("valid time")
}

fn extensions() -> Extensions {
    let files = fares::engine::hcmc_files();
    let text = files
        .get(fares::engine::EXTENSIONS_FILE)
        .expect("the hcmc configuration has its extensions");
    Extensions::from_toml(fares::engine::EXTENSIONS_FILE, text).expect("the hcmc extensions load")
}

/// The feed settings of the tests: no cache (each read sees the counters)
/// and a generous rate limit unless a test asks otherwise.
pub fn feed_settings() -> FeedSettings {
    FeedSettings {
        cache_ttl_ms: 0,
        rate_per_minute: 6_000,
        burst: 1_000,
        client_ip: ClientIp::ForwardedFor,
        ..FeedSettings::default()
    }
}

impl Rig {
    pub async fn new() -> Rig {
        Rig::with_feed(feed_settings()).await
    }

    pub async fn with_feed(feed: FeedSettings) -> Rig {
        let db = test_kit::fresh_database().await;
        let redis = store_redis::connect(&test_kit::redis_url())
            .await
            .expect("Redis");
        let prefix =
            KeyPrefix::new(test_kit::redis_prefix().trim_end_matches(':')).expect("prefix");
        let layout = Layout::new(prefix.clone());
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
        let terminals = terminal_state(&db, &redis, &layout, &setup, &ring, &clock);
        let parking = parking_state(&db, &redis, &prefix, &setup, &terminals, feed);
        parking_service::seed(&parking, time(T0_S))
            .await
            .expect("seed");
        let router = parking_service::router(parking.clone());
        let validators = fare_validation::router(terminals.clone());
        Rig {
            db,
            redis,
            layout,
            setup,
            ring,
            clock,
            prefix,
            terminals,
            parking,
            router,
            validators,
        }
    }

    /// Another instance of both services on the same stores.
    pub fn second_router(&self) -> Router {
        let terminals = terminal_state(
            &self.db,
            &self.redis,
            &self.layout,
            &self.setup,
            &self.ring,
            &self.clock,
        );
        let parking = parking_state(
            &self.db,
            &self.redis,
            &self.prefix,
            &self.setup,
            &terminals,
            feed_settings(),
        );
        parking_service::router(parking)
    }

    pub async fn parking_gate(&self, id: &str, lot: &str, gate: &str, direction: Direction) {
        Terminals::new(self.db.pool.clone())
            .register(
                id,
                "hurc1",
                &Placement::ParkingGate {
                    lot_id: lot.into(),
                    gate_id: gate.into(),
                    direction,
                },
                time(T0_S),
            )
            .await
            .expect("register");
    }

    pub async fn metro_gate(&self, id: &str, station: &str, direction: Direction) {
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
    pub async fn rider(&self, card: &str, balance_vnd: i64) -> AccountId {
        let account = AccountId::new(Uuid::now_v7()).expect("id");
        let riders = Riders::new(self.db.pool.clone());
        riders
            .create_account(account, "adult", CategoryStatus::Verified, time(T0_S))
            .await
            .expect("account");
        riders
            .link_medium(
                Uuid::now_v7(),
                account,
                MediumKind::TransitCard,
                card,
                time(T0_S),
            )
            .await
            .expect("medium");
        if balance_vnd > 0 {
            projection::funding::fund_wallet(
                &Ledger::new(self.db.pool.clone()),
                self.terminals.projection(),
                account,
                &ProviderId::parse("VNPAY").expect("provider"),
                Money::vnd(balance_vnd),
                TransferId::new(Uuid::now_v7()).expect("id"),
                time(T0_S),
            )
            .await
            .expect("fund");
        }
        account
    }

    /// Links a (canonical) plate to an account.
    pub async fn link_plate(&self, account: AccountId, plate: &str) {
        Riders::new(self.db.pool.clone())
            .link_medium(
                Uuid::now_v7(),
                account,
                MediumKind::Plate,
                plate,
                time(T0_S),
            )
            .await
            .expect("plate");
    }

    /// An operator key with `scopes`; returns the bearer token.
    pub async fn admin_key(&self, scopes: &[&str]) -> String {
        let key_id = Uuid::now_v7();
        let token = format!("otk_{}_testsecret", key_id.simple());
        let hash = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(hash.as_ref());
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        ApiKeys::new(self.db.pool.clone())
            .create(key_id, &bytes, &scopes, "test operator", time(T0_S))
            .await
            .expect("api key");
        token
    }

    pub fn at(&self, s: i64) {
        self.clock.set(time(s));
    }

    pub async fn balance(&self, account: AccountId) -> i64 {
        self.terminals
            .projection()
            .state(account)
            .await
            .expect("state")
            .balance
            .as_vnd()
    }

    /// The lot's counter (`None`: none yet).
    pub async fn occupied(&self, lot: &str) -> Option<u32> {
        let lot = self
            .parking
            .lots()
            .get(lot)
            .expect("a lot of the configuration");
        let mut redis = self.redis.clone();
        occupancy::read(&mut redis, &lot.keys)
            .await
            .expect("read")
            .map(|o| o.occupied)
    }

    /// Moves every stream entry to Postgres, as `oneticket serve`'s
    /// ingest does.
    pub async fn ingest(&self) {
        let mut settings = projection::ingest::IngestSettings::new("parking-test");
        settings.block_ms = 100;
        let ingest = projection::ingest::Ingest::new(
            self.redis.clone(),
            self.redis.clone(),
            self.db.pool.clone(),
            &self.layout,
            settings,
        )
        .await
        .expect("ingest");
        ingest.drain().await.expect("drain");
    }

    /// The account's recorded events as (kind, amount), in version order.
    pub async fn events(&self, account: AccountId) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT kind, amount_vnd FROM rider.account_event WHERE account_id = $1 ORDER BY version",
        )
        .bind(account.as_uuid())
        .fetch_all(&self.db.pool)
        .await
        .expect("events")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }
}

fn terminal_state(
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
    AppState::new(fare_validation::Config {
        projection,
        pool: db.pool.clone(),
        redis: redis.clone(),
        master_key: MasterKey::new(&MASTER).expect("master"),
        key_set: ring.key_set(),
        clock: clock.clone(),
    })
}

fn parking_state(
    db: &TestDatabase,
    redis: &ConnectionManager,
    prefix: &KeyPrefix,
    setup: &Arc<FareSetup>,
    terminals: &AppState,
    feed: FeedSettings,
) -> ParkingState {
    let data =
        parking_service::parse_site_data(parking_service::HCMC_SITES_TOML).expect("site data");
    let lots = Lots::build(setup.engine(), &extensions(), &data, prefix).expect("lots");
    ParkingState::new(parking_service::Config {
        terminals: terminals.clone(),
        pool: db.pool.clone(),
        redis: redis.clone(),
        lots,
        feed,
    })
}

/// A request signed by terminal `terminal` at `at_s`.
pub fn signed(method: &str, path: &str, terminal: &str, body: &[u8], at_s: u64) -> Request<Body> {
    test_kit::http::signed_request(&MASTER, method, path, terminal, body, at_s)
}

pub use test_kit::http::send;

/// A gate tap body.
pub fn gate_tap(
    terminal: &str,
    seq: u64,
    kind: &str,
    lot: &str,
    gate: &str,
    class: &str,
    medium: Value,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "terminal_id": terminal, "boot_epoch": 1, "seq": seq, "device_time_s": T0_S,
        "event": {"kind": kind, "lot_id": lot, "gate_id": gate, "vehicle_class": class},
        "medium": medium,
    }))
    .expect("json")
}

pub fn card(card_id: &str) -> Value {
    json!({"kind": "transit_card", "card_id": card_id})
}

pub fn plate(plate: &str) -> Value {
    json!({"kind": "plate", "plate": plate})
}

/// Posts a gate tap (`entries` or `exits`) signed at the rig's clock.
pub async fn gate(
    rig: &Rig,
    router: &Router,
    path: &str,
    terminal: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    let now_s = rig.clock.now_s();
    send(router, signed("POST", path, terminal, body, now_s)).await
}

pub const ENTRIES: &str = "/v1/parking/entries";
pub const EXITS: &str = "/v1/parking/exits";

/// A motorbike entry at BTH-P gate E1 by terminal `BTH-E1`.
pub fn bth_entry(seq: u64, medium: Value) -> Vec<u8> {
    gate_tap(
        "BTH-E1",
        seq,
        "parking_entry",
        "BTH-P",
        "E1",
        "motorbike",
        medium,
    )
}

/// A motorbike exit at BTH-P gate X1 by terminal `BTH-X1`.
pub fn bth_exit(seq: u64, medium: Value) -> Vec<u8> {
    gate_tap(
        "BTH-X1",
        seq,
        "parking_exit",
        "BTH-P",
        "X1",
        "motorbike",
        medium,
    )
}

/// Registers BTH-P's entry and exit gates.
pub async fn bth_gates(rig: &Rig) {
    rig.parking_gate("BTH-E1", "BTH-P", "E1", Direction::Entry)
        .await;
    rig.parking_gate("BTH-X1", "BTH-P", "X1", Direction::Exit)
        .await;
}

/// `(decision, reason, amount_vnd)` of a decision.
pub fn verdict(reply: &Value) -> (String, Option<String>, i64) {
    (
        reply["decision"].as_str().unwrap_or_default().to_owned(),
        reply["reason"].as_str().map(str::to_owned),
        reply["amount_vnd"].as_i64().unwrap_or(i64::MIN),
    )
}

pub fn accepted(amount_vnd: i64) -> (String, Option<String>, i64) {
    ("accept".to_owned(), None, amount_vnd)
}

pub fn denied(reason: &str) -> (String, Option<String>, i64) {
    ("deny".to_owned(), Some(reason.to_owned()), 0)
}

pub fn without_time(mut reply: Value) -> Value {
    if let Some(map) = reply.as_object_mut() {
        map.remove("server_time_s");
    }
    reply
}

/// An admin request with a bearer token.
pub fn admin(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("request"),
        None => builder.body(Body::empty()).expect("request"),
    }
}
