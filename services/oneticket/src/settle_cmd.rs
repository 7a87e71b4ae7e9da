//! `oneticket settle [--day YYYY-MM-DD] [--out DIR] [--json]`: close
//! service days. Settles every day that needs it up to `--day` (default:
//! the latest day closed at least the grace period ago), oldest first,
//! including earlier days that received late events; writes each settled
//! day's statements, TIDES export and reconciliation under `DIR/<day>/`;
//! prints a summary (JSON with `--json`).
//!
//! Waits for the settlement lock, so it never runs beside the worker of a
//! `serve`. Exit status: 0 when every account-day settled, 1 when some
//! could not (listed in the reconciliation), 2 on an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use fares::engine::{Engine, hcmc_files};
use serde::Serialize;
use service_kit::{Env, Settings};
use settlement::job::{self, DayReport, Settler};
use settlement::outputs::{self, Statement};
use settlement::worker::{self, SettlementLock};

// The flag's default and range, written as literals for clap, are the job's.
const _: () = assert!(job::DEFAULT_PAGES_IN_FLIGHT == 2 && job::MAX_PAGES_IN_FLIGHT == 8);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service day to settle through (04:00–03:59 Asia/Ho_Chi_Minh);
    /// default: the latest one closed at least the grace period ago.
    #[arg(long)]
    day: Option<NaiveDate>,
    /// Write each settled day's outputs to DIR/<day>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the summary as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Accounts per page.
    #[arg(long, default_value_t = job::DEFAULT_ACCOUNTS_PER_PAGE)]
    accounts_per_page: u32,
    /// Pages posting to the ledger at once (1–8; about one per core of the
    /// database server).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=8))]
    pages_in_flight: u16,
}

#[derive(Serialize)]
struct Summary {
    days: Vec<DaySummary>,
}

#[derive(Serialize)]
struct DaySummary {
    report: DayReport,
    statement: Statement,
    balanced: Option<bool>,
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    match crate::runtime().and_then(|rt| rt.block_on(settle(args))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Settles; `Ok(true)` when every account-day settled.
async fn settle(args: Args) -> anyhow::Result<bool> {
    let settings = Settings::from_env(&Env::process())?;
    let progress = settlement::progress::for_stderr();
    if !args.json {
        // Logs go to standard output; the JSON summary must stay alone there.
        service_kit::init_tracing(&settings.log)?;
    }
    let pool = store_pg::connect(
        settings.database_url.expose(),
        &store_pg::PoolSettings::default(),
    )
    .await
    .with_context(|| format!("connecting to {}", settings.database_url.redacted()))?;
    let files = hcmc_files();
    let engine = Arc::new(Engine::from_files(&files).context("the fare configuration")?);
    let owners = settlement::config::pass_owners(&engine, &files).context("pass owners")?;
    let now = Utc::now();
    let through = match args.day {
        Some(day) => day,
        None => worker::latest_closed_day(engine.calendar(), now, worker::DEFAULT_GRACE_S)
            .context("no closed service day")?,
    };
    let lock = SettlementLock::acquire(&pool)
        .await
        .context("the settlement lock")?;
    let mut settler = Settler::new(
        pool.clone(),
        engine,
        owners,
        job::Settings {
            accounts_per_page: args.accounts_per_page,
            pages_in_flight: usize::from(args.pages_in_flight),
            stop_after_accounts: None,
        },
        now,
    )
    .await
    .context("preparing the chart of accounts")?;
    let reports = settler
        .settle_through(
            through,
            job::Scope::IncludingThrough,
            progress.as_ref(),
            now,
        )
        .await
        .context("settling")?;
    let mut days = Vec::with_capacity(reports.len());
    for report in reports {
        let (statement, balanced, out_dir) = match &args.out {
            Some(dir) => {
                let written = outputs::write_day(&settler, report.day, dir)
                    .await
                    .with_context(|| format!("writing the outputs of {}", report.day))?;
                (
                    written.statement,
                    Some(written.reconciliation.totals.balanced),
                    Some(written.dir),
                )
            }
            None => (outputs::statement(&settler, report.day).await?, None, None),
        };
        days.push(DaySummary {
            report,
            statement,
            balanced,
            out_dir,
        });
    }
    lock.release().await;
    let all_settled =
        days.iter().all(|d| d.report.failed == 0) && days.iter().all(|d| d.balanced != Some(false));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Summary { days })?);
    } else {
        for d in &days {
            let r = &d.report;
            println!(
                "{}: {} accounts, {} settled, {} unchanged, {} failed, {} transfers ({} adjustments)",
                r.day, r.accounts, r.settled, r.unchanged, r.failed, r.transfers, r.adjustments
            );
            for o in &d.statement.operators {
                println!(
                    "  {:<12} legs {:>8}  net revenue {:>14} VND  (adjustments {} VND)",
                    o.operator_id, o.legs, o.net_revenue_vnd, o.adjustments_vnd
                );
            }
            if let Some(dir) = &d.out_dir {
                println!("  outputs in {}", dir.display());
            }
        }
    }
    Ok(all_settled)
}

/// Starts the settlement worker of `serve`, unless `OT_SETTLE_WORKER` is
/// `false`. Settings: `OT_SETTLE_GRACE_S` (seconds after a day's close,
/// default `worker::DEFAULT_GRACE_S`), `OT_SETTLE_INTERVAL_S` (between
/// checks, default `worker::DEFAULT_CHECK_INTERVAL_S`), `OT_SETTLE_OUT_DIR`
/// (where to write each settled day's outputs; none by default).
pub async fn start_worker(
    pool: sqlx::PgPool,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Option<worker::SettleTask>> {
    let env = Env::process();
    if !env.optional_or("OT_SETTLE_WORKER", true)? {
        tracing::info!("settlement worker disabled");
        return Ok(None);
    }
    let default_grace = u64::try_from(worker::DEFAULT_GRACE_S).unwrap_or_default();
    let grace_s = i64::try_from(env.optional_or("OT_SETTLE_GRACE_S", default_grace)?)
        .context("OT_SETTLE_GRACE_S is too large")?;
    let settings = worker::WorkerSettings {
        grace_s,
        check_interval_s: env
            .optional_or("OT_SETTLE_INTERVAL_S", worker::DEFAULT_CHECK_INTERVAL_S)?,
        out_dir: env
            .optional::<String>("OT_SETTLE_OUT_DIR")?
            .map(PathBuf::from),
    };
    let files = hcmc_files();
    let engine = Arc::new(Engine::from_files(&files).context("the fare configuration")?);
    let owners = settlement::config::pass_owners(&engine, &files).context("pass owners")?;
    let settler = Settler::new(pool.clone(), engine, owners, job::Settings::default(), now)
        .await
        .context("preparing the chart of accounts")?;
    tracing::info!(
        grace_s = settings.grace_s,
        interval_s = settings.check_interval_s,
        "settlement worker started"
    );
    Ok(Some(worker::SettleTask::start(pool, settler, settings)))
}
