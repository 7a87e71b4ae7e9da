//! The floor server answers signed taps with one commit each and refuses
//! unsigned ones (real Redis, a key prefix of the test's own; no timings).

use std::sync::Arc;

use card_protocol::request_auth::MasterKey;
use loadtest::cpu::CpuProbe;
use loadtest::floor::{self, Floor};
use loadtest::raw::{self, Payloads, RawDriver};
use loadtest::report::Mode;
use loadtest::runner::{self, RunSettings};
use loadtest::schedule::Schedule;
use loadtest::service::{ServiceDriver, Target};
use loadtest::workload::Workload;
use projection::{FareSetup, Layout};
use store_redis::KeyPrefix;

const CARDS: u32 = 10;
const RATE: u64 = 100;

fn settings() -> RunSettings {
    RunSettings {
        schedule: Schedule::new(RATE, 0, 1).expect("schedule"),
        warmup_s: 0,
        duration_s: 1,
        connections: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_taps_are_committed_and_unsigned_ones_refused() {
    let url = std::env::var("OT_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = store_redis::connect(&url).await.expect("redis");
    let prefix = format!(
        "ot-test-floor-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let layout = Layout::new(KeyPrefix::new(&prefix).expect("prefix"));
    // Cards 0–4 of 10 park (5%: the first 5 of every hundred): the floor
    // takes the parking gates' paths too.
    let workload = Arc::new(Workload::with_parking(12, CARDS, 0, 5).expect("workload"));
    let master = MasterKey::new(&[7; 32]).expect("key");
    let driver = Arc::new(RawDriver::new(
        redis.clone(),
        layout.clone(),
        Arc::clone(&workload),
        Payloads::of_bus_tap(&FareSetup::hcmc().expect("setup")).expect("payloads"),
        1,
    ));
    let floor = Arc::new(Floor::new(
        driver,
        redis.clone(),
        MasterKey::new(&[7; 32]).expect("key"),
        &workload,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        axum::serve(listener, floor::router(floor))
            .await
            .expect("serve");
    });
    let target = || async {
        Target::resolve(&format!("http://{address}"))
            .await
            .expect("target")
    };

    let signed = Arc::new(ServiceDriver::new(
        target().await,
        Arc::clone(&workload),
        &master,
        1_800_000_000,
    ));
    let report = runner::run(&signed, Mode::Service, settings())
        .await
        .expect("run");
    assert_eq!(report.decided, RATE, "{:?}", report.outcomes);
    assert_eq!(report.outcomes.get("accept"), Some(&RATE));
    assert_eq!(report.answered_total, RATE);
    // The floor's /metrics, Redis's INFO and this process each give their
    // CPU, which `compare` divides by the answers.
    let sample = CpuProbe::new(Some(target().await), Some(redis.clone()))
        .sample()
        .await;
    if cfg!(target_os = "linux") {
        assert!(
            sample.target_us.is_some() && sample.generator_us.is_some(),
            "{sample:?}"
        );
    }
    assert!(sample.redis_us.is_some(), "{sample:?}");
    // Every card's state was committed once per tap: RATE / CARDS each.
    let mut connection = redis.clone();
    for card in 0..CARDS {
        let account = ledger::AccountId::new(loadtest::workload::stable_uuid("raw-account", card))
            .expect("account");
        let state: String = redis::cmd("GET")
            .arg(layout.state(account))
            .query_async(&mut connection)
            .await
            .expect("get");
        let version = state.split('|').next().unwrap_or_default();
        assert_eq!(
            version,
            (RATE / u64::from(CARDS)).to_string(),
            "card {card}"
        );
    }

    let forged = Arc::new(ServiceDriver::new(
        target().await,
        Arc::clone(&workload),
        &MasterKey::new(&[8; 32]).expect("key"),
        1_800_000_001,
    ));
    let report = runner::run(&forged, Mode::Service, settings())
        .await
        .expect("run");
    assert_eq!(report.decided, 0, "{:?}", report.outcomes);
    assert!(
        report.outcomes.keys().all(|k| k.starts_with("http_401")),
        "{:?}",
        report.outcomes
    );

    server.abort();
    raw::clear(&redis, &layout).await.expect("clear");
}
