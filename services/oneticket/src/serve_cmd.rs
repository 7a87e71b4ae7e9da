//! `oneticket serve`: every service in one process behind one listener.
//!
//! Start-up order: settings (once, from the environment) → telemetry →
//! Postgres pool and Redis connection → routers → serve until SIGINT/SIGTERM.
//! The stream ingest (Redis shard streams → Postgres) runs beside the HTTP
//! server and stops after it, finishing its current batch; so do the
//! parking workers (saga sweep, gate journals, overstays, counter check).
//! Readiness (`/readyz`) reports Postgres and Redis; liveness (`/healthz`)
//! only that the process serves.
//!
//! The composition itself is [`start`]: `serve` calls it with the key store
//! and the system clock; `demo` with its own clock and ticket key, so the
//! demo's day runs on exactly the services `serve` runs.

use std::sync::Arc;

use anyhow::Context;
use card_protocol::messages::KeySet;
use card_protocol::request_auth::MasterKey;
use projection::ingest::IngestSettings;
use projection::{FareSetup, Projection};
use service_kit::{Env, Health, ReadinessCheck, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    let settings = Settings::from_env(&Env::process())?;
    service_kit::init_tracing(&settings.log)?;
    tracing::info!(
        listen = %settings.listen,
        database = %settings.database_url.redacted(),
        redis = %settings.redis_url.redacted(),
        "starting oneticket"
    );

    // Fail at start-up, not at the first tap, when the key store is unusable.
    let keys = crate::keystore::KeyStore::from_env();
    let master = keys.terminal_master().context("the terminal master key")?;
    let key_set = keys.public_keys().context("the ticket key set")?;
    tracing::info!(key_dir = %keys.dir().display(), key_set_version = key_set.version, "key store ready");
    // The ticket ring is re-read from the key store, so `keys rotate` needs
    // no restart.
    let ring_store = keys.clone();
    let tickets = rider_api::tickets::Tickets::new(move || {
        ring_store.ring().map(|file| file.ring).map_err(Into::into)
    })
    .context("the ticket signing ring")?;
    let rider_settings = rider_api::settings::RiderSettings::from_env(&Env::process())?;
    if rider_settings.payments == rider_api::settings::PaymentMode::Sandbox {
        tracing::warn!("top-ups go to the local sandbox provider (OT_VNPAY_MODE=sandbox)");
    }
    let services = start(
        &settings,
        Wiring {
            master_key: MasterKey::new(&master).context("the terminal master key")?,
            key_set,
            tickets,
            terminal_clock: fare_validation::Clock::System,
            rider_clock: Arc::new(rider_api::clock::SystemClock),
            rider_settings,
            settlement: SettlementWorker::FromEnv,
            ingest_consumer: std::env::var("OT_INGEST_CONSUMER").unwrap_or_else(|_| {
                format!(
                    "oneticket-{}",
                    std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned())
                )
            }),
        },
    )
    .await?;
    let app = services.router.clone();
    let served = service_kit::serve(app, &settings, service_kit::shutdown_signal()).await;
    services.stop().await;
    served?;
    tracing::info!("oneticket stopped");
    Ok(())
}

/// Whether the settlement worker runs beside the services.
pub enum SettlementWorker {
    /// As `OT_SETTLE_WORKER` and its siblings say (`serve`).
    FromEnv,
    /// Not at all: the caller settles (`demo`, which closes its own day).
    Off,
}

/// What the composed services are built from beyond the settings: the
/// keys, where time comes from, and the rider API's settings. `serve` takes
/// them from the key store and the system clock; `demo` runs the same
/// services on its own clock (see `demo`'s module docs).
pub struct Wiring {
    /// The master key terminals' request keys derive from.
    pub master_key: MasterKey,
    /// The ticket keys the gates verify QR tickets with.
    pub key_set: KeySet,
    /// The ring the rider API signs QR tickets with.
    pub tickets: rider_api::tickets::Tickets,
    /// The clock of the terminal and gate APIs (fare validation, parking).
    pub terminal_clock: fare_validation::Clock,
    /// The rider API's clock.
    pub rider_clock: Arc<dyn rider_api::clock::Clock>,
    /// The rider API's settings (public URL, client IP source, payments).
    pub rider_settings: rider_api::settings::RiderSettings,
    /// The settlement worker.
    pub settlement: SettlementWorker,
    /// This process's consumer name in the stream ingest's group (stable
    /// across restarts, so a restart re-reads its own pending entries).
    pub ingest_consumer: String,
}

/// The services of one process: the router to serve (common layers
/// applied) and the background workers to stop after serving.
pub struct Services {
    /// Every service's routes behind the common layers.
    pub router: axum::Router,
    ingest: fare_validation::worker::IngestTask,
    parking_workers: parking_service::jobs::Workers,
    rider_housekeeping: rider_api::worker::Maintenance,
    settle: Option<settlement::worker::SettleTask>,
}

impl Services {
    /// Stops the workers, each finishing the batch in hand.
    pub async fn stop(self) {
        self.ingest.stop().await;
        self.parking_workers.stop().await;
        self.rider_housekeeping.stop().await;
        if let Some(settle) = self.settle {
            settle.stop().await;
        }
    }
}

/// Connects to Postgres and Redis and builds every service with its
/// workers (started). Serving the router is the caller's.
pub async fn start(settings: &Settings, wiring: Wiring) -> anyhow::Result<Services> {
    let pool = store_pg::connect(
        settings.database_url.expose(),
        &store_pg::PoolSettings::default(),
    )
    .await
    .with_context(|| {
        format!(
            "connecting to Postgres at {}",
            settings.database_url.redacted()
        )
    })?;
    let redis = store_redis::connect(settings.redis_url.expose())
        .await
        .with_context(|| format!("connecting to Redis at {}", settings.redis_url.redacted()))?;

    let health = Health::new(service_kit::install_metrics()?)
        .with_check(ReadinessCheck::new("postgres", {
            let pool = pool.clone();
            move || {
                let pool = pool.clone();
                async move { sqlx::query("SELECT 1").execute(&pool).await.map(drop) }
            }
        }))
        .with_check(ReadinessCheck::new("redis", {
            let redis = redis.clone();
            move || {
                let redis = redis.clone();
                async move { store_redis::ping(&redis).await }
            }
        }));

    let setup = Arc::new(FareSetup::hcmc().context("the fare configuration")?);
    let layout = crate::hot_cmd::layout_from_env()?;
    let projection = Projection::new(redis.clone(), pool.clone(), layout.clone(), setup);
    let now = wiring.terminal_clock.now();
    let fare_validation = fare_validation::AppState::new(fare_validation::Config {
        projection,
        pool: pool.clone(),
        redis: redis.clone(),
        master_key: wiring.master_key,
        key_set: wiring.key_set,
        clock: wiring.terminal_clock,
    });
    // Parking: the fare configuration's lots with the shipped site data,
    // seeded into Postgres before serving; its workers stop after the server.
    let parking = parking_service::ParkingState::new(parking_service::Config {
        terminals: fare_validation.clone(),
        pool: pool.clone(),
        redis: redis.clone(),
        lots: parking_service::Lots::hcmc(
            fare_validation.projection().setup().engine(),
            layout.prefix(),
        )
        .context("the parking sites")?,
        feed: parking_service::FeedSettings::from_env(&Env::process())?,
    });
    parking_service::seed(&parking, now)
        .await
        .context("seeding the parking sites")?;
    let parking_workers = parking_service::jobs::Workers::start(
        &parking,
        parking_service::jobs::JobSettings::default(),
    );
    let ingest = fare_validation::worker::IngestTask::start(
        settings.redis_url.expose(),
        &pool,
        &layout,
        IngestSettings::new(&wiring.ingest_consumer),
    )
    .await
    .context("starting the stream ingest")?;
    // Settlement: closes each service day once its grace has passed.
    let settle = match wiring.settlement {
        SettlementWorker::FromEnv => crate::settle_cmd::start_worker(pool.clone(), now)
            .await
            .context("starting the settlement worker")?,
        SettlementWorker::Off => None,
    };

    // Rider API: the app's accounts, top-ups, passes and QR tickets; sandbox
    // payments (the default) stay inside this process.
    let rider_settings = wiring.rider_settings;
    let rider_api = rider_api::AppState::new(rider_api::Parts {
        pool: pool.clone(),
        redis: redis.clone(),
        key_prefix: layout
            .prefix()
            .child("rider")
            .context("the rider API's key prefix")?,
        projection: fare_validation.projection().clone(),
        passes: rider_api::passes::PassCatalog::hcmc(
            fare_validation.projection().setup().engine(),
        )?,
        tickets: wiring.tickets,
        payments: rider_api::payments::Payments::from_mode(
            &rider_settings.payments,
            &rider_settings.public_url,
            &ring::rand::SystemRandom::new(),
        )?,
        passwords: rider_api::password::Passwords::new()?,
        clock: wiring.rider_clock,
        settings: rider_settings,
    })
    .await
    .context("starting the rider API")?;
    let rider_housekeeping = rider_api::worker::Maintenance::start(rider_api.clone());

    let app = axum::Router::new()
        .merge(health.router())
        .merge(fare_validation::router(fare_validation))
        .merge(parking_service::router(parking))
        .merge(rider_api::router(rider_api));
    Ok(Services {
        router: service_kit::layers::apply(app, settings.http),
        ingest,
        parking_workers,
        rider_housekeeping,
        settle,
    })
}
