//! `oneticket migrate`: apply every migration in `migrations/` (embedded in
//! the binary) to the database, optionally creating the database first.

use anyhow::Context;
use service_kit::{Env, SecretUrl};
use sqlx::migrate::MigrateDatabase;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Create the database named in `OT_DATABASE_URL` when it does not exist.
    #[arg(long)]
    create_database: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let url = database_url()?;
    if args.create_database
        && !sqlx::Postgres::database_exists(url.expose())
            .await
            .with_context(|| format!("checking database {}", url.redacted()))?
    {
        sqlx::Postgres::create_database(url.expose())
            .await
            .with_context(|| format!("creating database {}", url.redacted()))?;
        eprintln!("created database {}", url.redacted());
    }
    let pool = store_pg::connect(url.expose(), &store_pg::PoolSettings::default())
        .await
        .with_context(|| format!("connecting to {}", url.redacted()))?;
    store_pg::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let applied = store_pg::MIGRATOR.iter().count();
    eprintln!(
        "database {} is at the latest of {applied} migrations",
        url.redacted()
    );
    Ok(())
}

/// `OT_DATABASE_URL`, or the development default.
pub fn database_url() -> anyhow::Result<SecretUrl> {
    let env = Env::process();
    Ok(env.optional_or(
        "OT_DATABASE_URL",
        SecretUrl::parse(service_kit::settings::DEFAULT_DATABASE_URL)?,
    )?)
}
