//! `oneticket hot rebuild [--account ID] [--replace]`: rebuild accounts'
//! hot states in Redis from Postgres (after a flush or a configuration
//! change), by folding their recorded events through the fare engine.
//!
//! Without `--replace` only accounts Redis holds no state for are written,
//! so running it on a live system never overwrites a state newer than
//! Postgres (events not yet ingested).

use std::sync::Arc;

use anyhow::Context;
use ledger::AccountId;
use projection::{FareSetup, Layout, Projection, RebuildMode};
use service_kit::{Env, Settings};
use store_pg::rider::Riders;
use store_redis::KeyPrefix;
use uuid::Uuid;

/// Accounts read per page when rebuilding all of them.
const ACCOUNT_PAGE: u32 = 1_000;

/// The Redis key prefix of the hot state, unless `OT_REDIS_PREFIX` says.
pub const DEFAULT_REDIS_PREFIX: &str = "ot";

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Rebuild hot states from Postgres.
    Rebuild(RebuildArgs),
}

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// Rebuild only this account (its wallet id).
    #[arg(long)]
    account: Option<Uuid>,
    /// Overwrite states Redis already holds.
    #[arg(long)]
    replace: bool,
}

/// The Redis layout from `OT_REDIS_PREFIX`.
pub fn layout_from_env() -> anyhow::Result<Layout> {
    let prefix =
        std::env::var("OT_REDIS_PREFIX").unwrap_or_else(|_| DEFAULT_REDIS_PREFIX.to_owned());
    Ok(Layout::new(
        KeyPrefix::new(&prefix).map_err(|e| anyhow::anyhow!("OT_REDIS_PREFIX: {e}"))?,
    ))
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Rebuild(args) = command;
    let settings = Settings::from_env(&Env::process())?;
    let pool = store_pg::connect(
        settings.database_url.expose(),
        &store_pg::PoolSettings::default(),
    )
    .await
    .context("connecting to Postgres")?;
    let redis = store_redis::connect(settings.redis_url.expose())
        .await
        .context("connecting to Redis")?;
    let setup = Arc::new(FareSetup::hcmc().context("the fare configuration")?);
    let projection = Projection::new(redis, pool.clone(), layout_from_env()?, setup);
    let mode = if args.replace {
        RebuildMode::Replace
    } else {
        RebuildMode::IfMissing
    };
    let accounts = match args.account {
        Some(uuid) => vec![AccountId::new(uuid).context("--account")?],
        None => Vec::new(),
    };
    let (mut seen, mut written) = (0u64, 0u64);
    if !accounts.is_empty() {
        for account in accounts {
            seen += 1;
            written += u64::from(projection.store_rebuilt(account, mode).await?);
        }
    } else {
        let riders = Riders::new(pool);
        let mut after = None;
        loop {
            let page = riders.account_ids(after, ACCOUNT_PAGE).await?;
            for account in &page {
                seen += 1;
                written += u64::from(projection.store_rebuilt(*account, mode).await?);
            }
            match page.last() {
                Some(last) if u32::try_from(page.len()).is_ok_and(|n| n == ACCOUNT_PAGE) => {
                    after = Some(*last);
                }
                _ => break,
            }
        }
    }
    println!("{{\"accounts\":{seen},\"written\":{written}}}");
    Ok(())
}
