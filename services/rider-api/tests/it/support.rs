//! The test app: a router on a fresh database and key prefix, a manual
//! clock, a ticket ring that tests can rotate, a sandbox provider with a
//! known secret, and helpers to call it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use card_protocol::ticket::Issuer;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use ledger::keyring::{KeyMaterial, KeyRing, KeySeed, RingMaterial};
use projection::{FareSetup, Layout, Projection};
use rider_api::clock::{Clock, ManualClock};
use rider_api::passes::PassCatalog;
use rider_api::password::Passwords;
use rider_api::payments::Payments;
use rider_api::settings::{ClientIpSource, PaymentMode, RiderSettings};
use rider_api::tickets::Tickets;
use rider_api::vnpay::{self, Merchant};
use rider_api::{AppState, Parts};
use ring::rand::SystemRandom;
use serde_json::{Value, json};
use service_kit::HttpLimits;
use store_redis::KeyPrefix;
use test_kit::TestDatabase;
use tower::ServiceExt;

/// 2026-03-02 08:00 in Ho Chi Minh City: a weekday morning.
pub const T0: &str = "2026-03-02T01:00:00Z";
/// The sandbox's hash secret in tests (so tests can sign callbacks).
pub const SANDBOX_SECRET: &[u8] = b"test-sandbox-secret-0123456789ab";
/// The public URL the test app believes it has.
pub const PUBLIC_URL: &str = "http://rider.test";
/// Ticket keys live 30 days in tests.
const KEY_LIFETIME_S: u64 = 30 * 24 * 3_600;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(T0)
        .expect("T0 is RFC 3339")
        .with_timezone(&Utc)
}

/// The ring's material, shared between the test and the app's ring source.
#[derive(Clone)]
pub struct TestRing(Arc<Mutex<RingMaterial>>);

fn issuer() -> Issuer {
    Issuer::parse("OT-HCM").expect("a valid issuer")
}

impl TestRing {
    fn new(now_s: u64) -> TestRing {
        let ring = KeyRing::new(
            issuer(),
            &KeyMaterial {
                seed: KeySeed::from_bytes([7; 32]),
                not_before_s: now_s - 3_600,
                not_after_s: now_s + KEY_LIFETIME_S,
            },
        )
        .expect("a valid ring");
        TestRing(Arc::new(Mutex::new(ring.material())))
    }

    pub fn ring(&self) -> KeyRing {
        let m = self.0.lock().expect("not poisoned").clone();
        KeyRing::restore(issuer(), m.version, &m.signing, &m.previous).expect("restores")
    }

    /// `oneticket keys rotate`, as the key store sees it.
    pub fn rotate(&self, seed: u8, now_s: u64) {
        let mut ring = self.ring();
        ring.rotate(
            &KeySeed::from_bytes([seed; 32]),
            now_s,
            now_s + KEY_LIFETIME_S,
        )
        .expect("rotates");
        *self.0.lock().expect("not poisoned") = ring.material();
    }
}

pub struct TestApp {
    pub router: axum::Router,
    pub state: AppState,
    pub projection: Projection,
    pub clock: Arc<ManualClock>,
    pub db: TestDatabase,
    pub ring: TestRing,
    pub merchant: Merchant,
}

/// A response: status, headers, JSON body (`Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn app() -> TestApp {
    app_with(RiderSettings {
        public_url: PUBLIC_URL.to_owned(),
        client_ip: ClientIpSource::ForwardedFor,
        ..RiderSettings::default()
    })
    .await
}

pub async fn app_with(settings: RiderSettings) -> TestApp {
    let db = test_kit::fresh_database().await;
    let prefix = test_kit::redis_prefix();
    let key_prefix = KeyPrefix::new(prefix.trim_end_matches(':')).expect("a valid prefix");
    let redis = store_redis::connect(&test_kit::redis_url())
        .await
        .expect("the test Redis answers");
    let setup = Arc::new(FareSetup::hcmc().expect("the shipped configuration"));
    let passes = PassCatalog::hcmc(setup.engine()).expect("the shipped catalogue");
    let projection_handle = Projection::new(
        redis.clone(),
        db.pool.clone(),
        Layout::new(key_prefix.child("hot").expect("a valid prefix")),
        setup,
    );
    let clock = Arc::new(ManualClock::new(t0()));
    let ring = TestRing::new(u64::try_from(t0().timestamp()).expect("after 1970"));
    let source = ring.clone();
    // Re-read on every ticket, so a rotation shows at once.
    let tickets = Tickets::with_recheck(
        move || Ok::<_, Box<dyn std::error::Error + Send + Sync>>(source.ring()),
        std::time::Duration::ZERO,
    )
    .expect("the ring loads");
    let payments = match settings.payments {
        PaymentMode::Sandbox => Payments::sandbox(&settings.public_url, SANDBOX_SECRET),
        PaymentMode::Live { .. } => Payments::from_mode(
            &settings.payments,
            &settings.public_url,
            &SystemRandom::new(),
        )
        .expect("random"),
    };
    let merchant = payments.merchant.clone();
    let state = AppState::new(Parts {
        pool: db.pool.clone(),
        redis,
        key_prefix: key_prefix.child("rider").expect("a valid prefix"),
        projection: projection_handle.clone(),
        passes,
        tickets,
        payments,
        // The smallest argon2id parameters: these tests check behaviour, not cost.
        passwords: Passwords::with_params(8, 1, 1).expect("valid parameters"),
        clock: clock.clone() as Arc<dyn Clock>,
        settings,
    })
    .await
    .expect("the state builds");
    let router =
        service_kit::layers::apply(rider_api::router(state.clone()), HttpLimits::default());
    TestApp {
        router,
        state,
        projection: projection_handle,
        clock,
        db,
        ring,
        merchant,
    }
}

/// A rider with a session.
#[derive(Clone, Debug)]
pub struct Session {
    pub account_id: String,
    pub token: String,
    pub login: String,
}

impl TestApp {
    /// Sends a request; `body` is JSON unless `raw` is given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut has_type = false;
        for (name, value) in headers {
            has_type |= name.eq_ignore_ascii_case("content-type");
            request = request.header(*name, *value);
        }
        if body.is_some() && !has_type {
            request = request.header("content-type", "application/json");
        }
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        {
            request = request.header("x-forwarded-for", "198.51.100.1");
        }
        let request = request
            .body(body.unwrap_or_else(Body::empty))
            .expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, &[], None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            token,
            &[],
            Some(Body::from(body.to_string())),
        )
        .await
    }

    /// A POST that moves money, with its `Idempotency-Key`.
    pub async fn post_idem(&self, path: &str, token: &str, key: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(token),
            &[("idempotency-key", key)],
            Some(Body::from(body.to_string())),
        )
        .await
    }

    /// Registers `login` (category `category`) and logs in.
    pub async fn rider_with(&self, login: &str, category: Option<&str>) -> Session {
        let mut body = json!({"login": login, "password": "correct horse"});
        if let Some(category) = category {
            body["category"] = json!(category);
        }
        let registered = self.post("/v1/accounts", None, &body).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let session = self
            .post(
                "/v1/sessions",
                None,
                &json!({"login": login, "password": "correct horse"}),
            )
            .await;
        assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
        Session {
            account_id: registered.body["account_id"]
                .as_str()
                .expect("an id")
                .to_owned(),
            token: session.body["token"].as_str().expect("a token").to_owned(),
            login: registered.body["login"]
                .as_str()
                .expect("a login")
                .to_owned(),
        }
    }

    pub async fn rider(&self, login: &str) -> Session {
        self.rider_with(login, None).await
    }

    /// Tops up through the sandbox: order, pay, IPN. Returns the order id
    /// and the signed callback parameters the provider sent.
    pub async fn top_up(
        &self,
        rider: &Session,
        amount_vnd: i64,
    ) -> (String, BTreeMap<String, String>) {
        let key = format!(
            "topup-{}-{amount_vnd}-{}",
            rider.account_id,
            self.clock.now().timestamp_micros()
        );
        let order = self
            .post_idem(
                "/v1/me/topups",
                &rider.token,
                &key,
                &json!({"amount_vnd": amount_vnd}),
            )
            .await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
        let url = order.body["payment_url"].as_str().expect("a payment URL");
        let path = url.strip_prefix(PUBLIC_URL).expect("the sandbox is ours");
        let paid = self.get(path, None).await;
        assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
        assert_eq!(paid.header("x-sandbox-ipn-rspcode"), Some("00"));
        let location = paid.header("location").expect("a redirect");
        let query = location.split_once('?').expect("a query").1;
        let params = vnpay::parse_query(query).expect("a valid query");
        (
            order.body["topup_id"].as_str().expect("an id").to_owned(),
            params,
        )
    }

    pub async fn balance(&self, rider: &Session) -> (i64, i64) {
        let wallet = self.get("/v1/me/wallet", Some(&rider.token)).await;
        assert_eq!(wallet.status, StatusCode::OK, "{}", wallet.body);
        (
            wallet.body["balance_vnd"].as_i64().expect("a balance"),
            wallet.body["ledger_balance_vnd"]
                .as_i64()
                .expect("a balance"),
        )
    }

    /// Rows of a table (for "nothing changed" checks).
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.db.pool)
            .await
            .expect("counts")
    }

    /// Signs `params` as the provider would and returns the query string.
    pub fn signed_query(&self, merchant: &Merchant, params: &BTreeMap<String, String>) -> String {
        format!(
            "{}&{}={}",
            vnpay::signed_text(params),
            vnpay::SECURE_HASH,
            merchant.sign(params)
        )
    }

    pub async fn ipn(&self, query: &str) -> String {
        let reply = self
            .get(&format!("/v1/payments/vnpay/ipn?{query}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["RspCode"]
            .as_str()
            .expect("an RspCode")
            .to_owned()
    }

    pub async fn finish(self) {
        self.db.drop_now().await;
    }
}

/// The callback parameters without the signature, to edit and re-sign.
pub fn unsigned(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut params = params.clone();
    params.remove(vnpay::SECURE_HASH);
    params
}

impl TestApp {
    /// The projection the app uses (to apply taps as fare-validation would).
    pub fn projection(&self) -> projection::Projection {
        self.projection.clone()
    }

    /// The fare engine of the app's configuration.
    pub fn state_engine(&self) -> fares::engine::Engine {
        self.projection.setup().engine().clone()
    }
}
