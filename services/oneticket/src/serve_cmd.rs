//! `oneticket serve`: any set of the services in one process behind one
//! listener (all of them by default).
//!
//! Start-up order: settings (once, from the environment) → telemetry →
//! the keys the chosen services need → Postgres pool and Redis connection
//! → routers and workers → serve until SIGINT/SIGTERM.
//!
//! What each service brings ([`Service`]): `fare-validation` the terminal
//! API and the ingest backlog gauge; `parking` the gate API and its
//! workers (saga sweep, gate journals, overstays, counter check);
//! `rider-api` the app's API and its housekeeping; `settlement` the stream ingest (Redis shard streams →
//! Postgres) and the day-close worker. Every process serves health,
//! readiness (`/readyz`: Postgres and Redis), liveness (`/healthz`) and
//! metrics. The workers stop after the server, each finishing its batch.
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

/// One of the services `serve` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Service {
    /// The terminal API: taps, journals, deny list, keys, terminal
    /// configuration, the terminal registry's admin API.
    FareValidation,
    /// The gate API, lots, occupancy, open data, and parking's workers.
    Parking,
    /// The mobile API: accounts, media, top-ups, passes, QR tickets,
    /// history; and its housekeeping.
    RiderApi,
    /// The stream ingest (taps from Redis into Postgres) and the worker
    /// that closes service days.
    Settlement,
}

impl Service {
    /// Every service, in the order `--help` lists them.
    pub const ALL: [Service; 4] = [
        Service::FareValidation,
        Service::Parking,
        Service::RiderApi,
        Service::Settlement,
    ];

    /// Its name on the command line and in logs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Service::FareValidation => "fare-validation",
            Service::Parking => "parking",
            Service::RiderApi => "rider-api",
            Service::Settlement => "settlement",
        }
    }
}

/// The services one process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSet(Vec<Service>);

impl ServiceSet {
    /// Every service (what `serve` runs without `--services`, and `demo`).
    #[must_use]
    pub fn all() -> ServiceSet {
        ServiceSet(Service::ALL.to_vec())
    }

    /// The services named, each once; none named means all.
    #[must_use]
    pub fn of(services: &[Service]) -> ServiceSet {
        if services.is_empty() {
            return ServiceSet::all();
        }
        let mut services = services.to_vec();
        services.sort_unstable();
        services.dedup();
        ServiceSet(services)
    }

    /// Whether `service` is in the set.
    #[must_use]
    pub fn runs(&self, service: Service) -> bool {
        self.0.contains(&service)
    }

    /// Whether the terminal keys are needed: the terminal and gate APIs
    /// verify terminals' signatures and QR tickets.
    #[must_use]
    pub fn needs_terminal_keys(&self) -> bool {
        self.runs(Service::FareValidation) || self.runs(Service::Parking)
    }
}

impl std::fmt::Display for ServiceSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// The most serving threads `--threads` takes: far more than the cores of
/// any box this runs on, and each thread holds a Redis connection.
pub const MAX_SERVE_THREADS: u16 = 64;

/// `oneticket serve`'s arguments (its help is `Command::Serve`'s).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The services to run, comma-separated (default: all of them).
    #[arg(long, env = "OT_SERVICES", value_enum, value_delimiter = ',')]
    services: Vec<Service>,
    /// Serve on this many threads (1 to 64), each a single-threaded runtime
    /// with its own listening socket on the port (the kernel spreads the
    /// connections over them) and its own Redis connection, so a tap never
    /// crosses threads; the workers run on the first. One per core suits a
    /// tap server. Without it: one multi-threaded runtime, a worker per core
    /// (`TOKIO_WORKER_THREADS`; `1` runs it on one thread).
    #[arg(long, env = "OT_SERVE_THREADS", value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_SERVE_THREADS)))]
    threads: Option<u16>,
}

/// Runs `serve` on the runtime `args` asks for: the current-thread
/// runtime when `--threads` is given (each further serving thread gets its
/// own), else [`service_kit::serve::server_runtime`].
///
/// # Errors
/// The runtime cannot be built, or [`run`] fails.
pub fn main(args: Args) -> anyhow::Result<()> {
    let runtime = match args.threads {
        Some(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        None => service_kit::serve::server_runtime()?,
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let services = ServiceSet::of(&args.services);
    let settings = Settings::from_env(&Env::process())?;
    service_kit::init_tracing(&settings.log)?;
    tracing::info!(
        listen = %settings.listen,
        services = %services,
        database = %settings.database_url.redacted(),
        redis = %settings.redis_url.redacted(),
        "starting oneticket"
    );

    // Fail at start-up, not at the first tap, when the key store is unusable.
    let keys = crate::keystore::KeyStore::from_env();
    let terminal_keys = if services.needs_terminal_keys() {
        let master = keys.terminal_master().context("the terminal master key")?;
        let key_set = keys.public_keys().context("the ticket key set")?;
        tracing::info!(key_dir = %keys.dir().display(), key_set_version = key_set.version, "terminal keys ready");
        Some(TerminalKeys {
            master_key: MasterKey::new(&master).context("the terminal master key")?,
            key_set,
        })
    } else {
        None
    };
    let rider = if services.runs(Service::RiderApi) {
        // The ticket ring is re-read from the key store, so `keys rotate`
        // needs no restart.
        let ring_store = keys.clone();
        let tickets = rider_api::tickets::Tickets::new(move || {
            ring_store.ring().map(|file| file.ring).map_err(Into::into)
        })
        .context("the ticket signing ring")?;
        let settings = rider_api::settings::RiderSettings::from_env(&Env::process())?;
        if settings.payments == rider_api::settings::PaymentMode::Sandbox {
            tracing::warn!("top-ups go to the local sandbox provider (OT_VNPAY_MODE=sandbox)");
        }
        Some(RiderWiring {
            tickets,
            clock: Arc::new(rider_api::clock::SystemClock),
            settings,
        })
    } else {
        None
    };
    let running = start(
        &settings,
        &services,
        Wiring {
            terminal_keys,
            rider,
            terminal_clock: fare_validation::Clock::System,
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
    let app = running.router.clone();
    // Each serving thread after the first connects its own Redis connection
    // and pins it, so its taps never cross threads (store_redis::affinity).
    let redis_url = settings.redis_url.clone();
    let pin_redis: service_kit::ThreadSetup = Arc::new(move || {
        let redis_url = redis_url.clone();
        Box::pin(
            async move { Ok(store_redis::affinity::connect_and_pin(redis_url.expose()).await?) },
        )
    });
    let served = service_kit::serve_on_threads(
        app,
        settings.listen,
        settings.shutdown_grace,
        args.threads.unwrap_or(1),
        pin_redis,
        service_kit::shutdown_signal(),
    )
    .await;
    running.stop().await;
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

/// The keys of the terminal and gate APIs.
pub struct TerminalKeys {
    /// The master key terminals' request keys derive from.
    pub master_key: MasterKey,
    /// The ticket keys the gates verify QR tickets with.
    pub key_set: KeySet,
}

/// What the rider API is built from beyond the settings.
pub struct RiderWiring {
    /// The ring the rider API signs QR tickets with.
    pub tickets: rider_api::tickets::Tickets,
    /// The rider API's clock.
    pub clock: Arc<dyn rider_api::clock::Clock>,
    /// The rider API's settings (public URL, client IP source, payments).
    pub settings: rider_api::settings::RiderSettings,
}

/// What the composed services are built from beyond the settings: the
/// keys, where time comes from, and the rider API's settings. `serve` takes
/// them from the key store and the system clock, for the services it runs;
/// `demo` runs every service on its own clock (see `demo`'s module docs).
pub struct Wiring {
    /// The terminal keys: needed by `fare-validation` and `parking`.
    pub terminal_keys: Option<TerminalKeys>,
    /// The rider API's parts: needed by `rider-api`.
    pub rider: Option<RiderWiring>,
    /// The clock of the terminal and gate APIs (fare validation, parking)
    /// and of the settlement worker's start.
    pub terminal_clock: fare_validation::Clock,
    /// The settlement worker (with `settlement`).
    pub settlement: SettlementWorker,
    /// This process's consumer name in the stream ingest's group (stable
    /// across restarts, so a restart re-reads its own pending entries).
    pub ingest_consumer: String,
}

/// The services of one process: the router to serve (common layers
/// applied) and the background workers to stop after serving.
pub struct Services {
    /// Every chosen service's routes behind the common layers.
    pub router: axum::Router,
    ingest: Option<fare_validation::worker::IngestTask>,
    backlog: Option<fare_validation::worker::BacklogGauge>,
    parking_workers: Option<parking_service::jobs::Workers>,
    rider_housekeeping: Option<rider_api::worker::Maintenance>,
    settle: Option<settlement::worker::SettleTask>,
}

impl Services {
    /// Stops the workers, each finishing the batch in hand.
    pub async fn stop(self) {
        if let Some(ingest) = self.ingest {
            ingest.stop().await;
        }
        if let Some(backlog) = self.backlog {
            backlog.stop().await;
        }
        if let Some(workers) = self.parking_workers {
            workers.stop().await;
        }
        if let Some(housekeeping) = self.rider_housekeeping {
            housekeeping.stop().await;
        }
        if let Some(settle) = self.settle {
            settle.stop().await;
        }
    }
}

/// Connects to Postgres and Redis and builds the services of `services`
/// with their workers (started). Serving the router is the caller's.
///
/// # Errors
/// A connection, a seed or a worker failing to start; or `wiring` lacking
/// the keys or rider parts a chosen service needs.
pub async fn start(
    settings: &Settings,
    services: &ServiceSet,
    wiring: Wiring,
) -> anyhow::Result<Services> {
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

    let names: Vec<&'static str> = services.0.iter().map(|s| s.name()).collect();
    let health = Health::new(service_kit::install_metrics()?)
        .with_services(&names)
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
    let mut app = axum::Router::new().merge(health.router());

    // The terminal API's state also authenticates the gates (parking).
    let terminals = match wiring.terminal_keys {
        Some(keys) if services.needs_terminal_keys() => {
            Some(fare_validation::AppState::new(fare_validation::Config {
                projection: projection.clone(),
                pool: pool.clone(),
                redis: redis.clone(),
                master_key: keys.master_key,
                key_set: keys.key_set,
                clock: wiring.terminal_clock,
            }))
        }
        None if services.needs_terminal_keys() => {
            anyhow::bail!("the terminal and gate APIs need the terminal keys")
        }
        _ => None,
    };
    // The terminal API also publishes the ingest's backlog, which keeps
    // counting while no process runs `settlement`.
    let mut backlog = None;
    if let Some(terminals) = &terminals
        && services.runs(Service::FareValidation)
    {
        app = app.merge(fare_validation::router(terminals.clone()));
        backlog = Some(fare_validation::worker::BacklogGauge::start(
            redis.clone(),
            &layout,
        ));
    }

    // Parking: the fare configuration's lots with the shipped site data,
    // seeded into Postgres before serving; its workers stop after the server.
    let parking_workers = match &terminals {
        Some(terminals) if services.runs(Service::Parking) => {
            let parking = parking_service::ParkingState::new(parking_service::Config {
                terminals: terminals.clone(),
                pool: pool.clone(),
                redis: redis.clone(),
                lots: parking_service::Lots::hcmc(projection.setup().engine(), layout.prefix())
                    .context("the parking sites")?,
                feed: parking_service::FeedSettings::from_env(&Env::process())?,
            });
            parking_service::seed(&parking, now)
                .await
                .context("seeding the parking sites")?;
            let workers = parking_service::jobs::Workers::start(
                &parking,
                parking_service::jobs::JobSettings::default(),
            );
            app = app.merge(parking_service::router(parking));
            Some(workers)
        }
        _ => None,
    };

    // Rider API: the app's accounts, top-ups, passes and QR tickets; sandbox
    // payments (the default) stay inside this process.
    let rider_housekeeping = if services.runs(Service::RiderApi) {
        let rider = wiring
            .rider
            .context("the rider API needs its ticket ring and settings")?;
        let rider_api = rider_api::AppState::new(rider_api::Parts {
            pool: pool.clone(),
            redis: redis.clone(),
            key_prefix: layout
                .prefix()
                .child("rider")
                .context("the rider API's key prefix")?,
            projection: projection.clone(),
            passes: rider_api::passes::PassCatalog::hcmc(projection.setup().engine())?,
            tickets: rider.tickets,
            payments: rider_api::payments::Payments::from_mode(
                &rider.settings.payments,
                &rider.settings.public_url,
                &ring::rand::SystemRandom::new(),
            )?,
            passwords: rider_api::password::Passwords::new()?,
            clock: rider.clock,
            settings: rider.settings,
        })
        .await
        .context("starting the rider API")?;
        let housekeeping = rider_api::worker::Maintenance::start(rider_api.clone());
        app = app.merge(rider_api::router(rider_api));
        Some(housekeeping)
    } else {
        None
    };

    // Settlement: the stream ingest, and the worker that closes each
    // service day once its grace has passed.
    let (ingest, settle) = if services.runs(Service::Settlement) {
        let ingest = fare_validation::worker::IngestTask::start(
            settings.redis_url.expose(),
            &pool,
            &layout,
            IngestSettings::new(&wiring.ingest_consumer),
        )
        .await
        .context("starting the stream ingest")?;
        let settle = match wiring.settlement {
            SettlementWorker::FromEnv => crate::settle_cmd::start_worker(pool.clone(), now)
                .await
                .context("starting the settlement worker")?,
            SettlementWorker::Off => None,
        };
        (Some(ingest), settle)
    } else {
        (None, None)
    };

    Ok(Services {
        router: service_kit::layers::apply(app, settings.http),
        ingest,
        backlog,
        parking_workers,
        rider_housekeeping,
        settle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_service_named_means_all_and_names_count_once() {
        assert_eq!(ServiceSet::of(&[]), ServiceSet::all());
        assert_eq!(
            ServiceSet::all().to_string(),
            "fare-validation,parking,rider-api,settlement"
        );
        let set = ServiceSet::of(&[
            Service::Settlement,
            Service::FareValidation,
            Service::Settlement,
        ]);
        assert_eq!(set.to_string(), "fare-validation,settlement");
        assert!(set.runs(Service::Settlement) && !set.runs(Service::RiderApi));
    }

    #[test]
    fn only_the_terminal_and_gate_apis_need_the_terminal_keys() {
        for service in Service::ALL {
            let needs = matches!(service, Service::FareValidation | Service::Parking);
            assert_eq!(
                ServiceSet::of(&[service]).needs_terminal_keys(),
                needs,
                "{service:?}"
            );
        }
    }

    #[test]
    fn the_command_line_names_are_the_logged_ones() {
        use clap::ValueEnum;
        for service in Service::ALL {
            let value = service.to_possible_value().expect("not skipped");
            assert_eq!(value.get_name(), service.name());
        }
    }
}
