//! `oneticket serve`: every service in one process behind one listener.
//!
//! Start-up order: settings (once, from the environment) → telemetry →
//! Postgres pool and Redis connection → routers → serve until SIGINT/SIGTERM.
//! Readiness (`/readyz`) reports Postgres and Redis; liveness (`/healthz`)
//! only that the process serves.

use anyhow::Context;
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
    keys.terminal_master().context("the terminal master key")?;
    let key_set = keys.public_keys().context("the ticket key set")?;
    tracing::info!(key_dir = %keys.dir().display(), key_set_version = key_set.version, "key store ready");

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

    let app = axum::Router::new().merge(health.router());
    let app = service_kit::layers::apply(app, settings.http);
    service_kit::serve(app, &settings, service_kit::shutdown_signal()).await?;
    tracing::info!("oneticket stopped");
    Ok(())
}
