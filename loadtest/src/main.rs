//! `oneticket-loadtest`: the command line. Parses arguments, reads keys and
//! settings, and calls the library (`setup`, `run`, `raw`, `compare`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use card_protocol::request_auth::MasterKey;
use clap::{Args, Parser, Subcommand};
use loadtest::cpu::CpuProbe;
use loadtest::floor::{self, Floor};
use loadtest::raw::{self, Payloads, RawDriver};
use loadtest::report::{Comparison, Mode, Pair, Report, ratio_percent};
use loadtest::runner::{self, RunSettings};
use loadtest::schedule::Schedule;
use loadtest::service::{ServiceDriver, Target, unix_now_s};
use loadtest::setup;
use loadtest::workload::Workload;
use projection::{FareSetup, Layout, Projection};
use store_redis::{ConnectionManager, KeyPrefix};

/// The key store file holding the terminal master key (hex), as written by
/// `oneticket keys generate`.
const TERMINAL_MASTER_FILE: &str = "terminal-master.key";
/// The key store directory when `OT_KEY_DIR` is not set (as `oneticket`).
const DEFAULT_KEY_DIR: &str = ".oneticket/keys";
/// The service's Redis key prefix when `OT_REDIS_PREFIX` is not set.
const DEFAULT_REDIS_PREFIX: &str = "ot";

/// Open-loop load generator for OneTicket's tap path.
///
/// Latencies are measured from each request's due time (coordinated
/// omission safe) into an HDR histogram. Typical use:
///
///   oneticket-loadtest setup   --api-key otk_…        (once)
///   oneticket-loadtest run     --rate 15000 --duration-s 30
///   oneticket-loadtest compare --rate 40000 --pairs 3
///   oneticket-loadtest floor-server &   then   compare … --floor-url http://127.0.0.1:8091
#[derive(Debug, Parser)]
#[command(name = "oneticket-loadtest", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register the fleet's terminals and create funded riders (idempotent).
    Setup(SetupArgs),
    /// Send signed taps to a running service at a fixed rate.
    Run(RunArgs),
    /// Run the tap commit script directly on Redis at a fixed rate.
    Raw(RawArgs),
    /// Interleaved service/raw pairs: each pair's ratio and the median.
    Compare(CompareArgs),
    /// Serve the bare floor: signed taps over HTTP, one commit script each, nothing else.
    FloorServer(FloorArgs),
    /// Watch the stream ingest's backlog (entries not yet in Postgres) until
    /// it is empty, and print how fast it drained.
    ///
    /// Run it, then start the ingest (`oneticket serve --services
    /// settlement`) beside it: it measures from the first entry written to
    /// the last, e.g. after a `run` against `serve --services
    /// fare-validation` left the taps in the streams.
    Backlog(BacklogArgs),
}

#[derive(Debug, Clone, Args)]
struct WorkloadArgs {
    /// Terminals in the fleet (metro gates in entry/exit pairs, the rest bus validators).
    #[arg(long, default_value_t = 200)]
    terminals: u32,
    /// Cards (riders), each an account with a funded wallet.
    #[arg(long, default_value_t = 20_000)]
    cards: u32,
    /// Percent of riders who ride the metro (tap in, tap out); the rest take buses.
    #[arg(long, default_value_t = 40)]
    metro_percent: u32,
    /// Percent of riders who park instead (enter and leave one of the four
    /// HCMC lots by its gates); taken from the bus riders' share. Uses 8
    /// of the terminals; give `setup` the same mix. Stays outlive a run:
    /// a card left parked answers its next entry `already_parked`, and
    /// more parkers than places (1,600 in all, 200 at D1-CAR) meet
    /// `lot_full`; 4 (800 parkers, 200 a lot) fits a fresh database.
    #[arg(long, default_value_t = 0)]
    parking_percent: u32,
}

impl WorkloadArgs {
    fn workload(&self) -> anyhow::Result<Arc<Workload>> {
        Ok(Arc::new(Workload::with_parking(
            self.terminals,
            self.cards,
            self.metro_percent,
            self.parking_percent,
        )?))
    }
}

#[derive(Debug, Clone, Args)]
struct LoadArgs {
    /// Target requests per second (open loop: sent on schedule, whatever the answers).
    #[arg(long, default_value_t = 15_000)]
    rate: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Seconds sent before measuring (caches, connections, the script's first load).
    #[arg(long, default_value_t = 5)]
    warmup_s: u64,
    /// Requests in flight at most: HTTP connections, or concurrent Redis commands.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

impl LoadArgs {
    fn settings(&self) -> anyhow::Result<RunSettings> {
        Ok(RunSettings {
            schedule: Schedule::new(self.rate, self.warmup_s, self.duration_s)?,
            warmup_s: self.warmup_s,
            duration_s: self.duration_s,
            connections: self.connections,
        })
    }
}

#[derive(Debug, Clone, Args)]
struct ServiceArgs {
    /// The service's base URL.
    #[arg(
        long,
        env = "OT_LOADTEST_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    base_url: String,
    #[command(flatten)]
    keys: KeyArgs,
}

/// Where the terminal master key comes from (the generator signs with it,
/// the floor server verifies with it).
#[derive(Debug, Clone, Args)]
struct KeyArgs {
    /// The terminal master key, hex (for a remote service); default: read the key store.
    #[arg(long, env = "OT_LOADTEST_MASTER_KEY", hide_env_values = true)]
    master_key_hex: Option<String>,
    /// The key store directory holding `terminal-master.key`.
    #[arg(long, env = "OT_KEY_DIR", default_value = DEFAULT_KEY_DIR)]
    key_dir: PathBuf,
}

/// The Redis every Redis-driving command talks to.
#[derive(Debug, Clone, Args)]
struct RedisArgs {
    /// Redis (raw mode, the floor server, setup's wallets).
    #[arg(
        long,
        env = "OT_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    redis_url: String,
}

#[derive(Debug, Clone, Args)]
struct RawTargetArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Key prefix of raw mode's keys (cleared before and after each raw run).
    #[arg(long, default_value = "ot-loadtest-raw")]
    raw_prefix: String,
}

#[derive(Debug, Args)]
struct SetupArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// The service's base URL.
    #[arg(
        long,
        env = "OT_LOADTEST_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    base_url: String,
    /// An API key with the `terminals` scope (`oneticket admin-key create --scope terminals`).
    #[arg(long, env = "OT_LOADTEST_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Postgres, for riders, cards and wallets.
    #[arg(
        long,
        env = "OT_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/oneticket",
        hide_env_values = true
    )]
    database_url: String,
    #[command(flatten)]
    redis: RedisArgs,
    /// The service's Redis key prefix.
    #[arg(long, env = "OT_REDIS_PREFIX", default_value = DEFAULT_REDIS_PREFIX)]
    redis_prefix: String,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    service: ServiceArgs,
    /// Also run raw mode right after, with the same load, and print the ratio.
    #[arg(long)]
    and_raw: bool,
    #[command(flatten)]
    raw: RawTargetArgs,
}

#[derive(Debug, Args)]
struct RawArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    raw: RawTargetArgs,
}

#[derive(Debug, Args)]
struct CompareArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    raw: RawTargetArgs,
    /// Service/raw pairs (at least 3: single runs on a shared box vary by 2×).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(3..))]
    pairs: u32,
    /// A running `floor-server` to measure between service and raw in every pair.
    #[arg(long)]
    floor_url: Option<String>,
}

#[derive(Debug, Args)]
struct FloorArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    redis: RedisArgs,
    /// Key prefix of the floor's keys (cleared when it starts and stops).
    #[arg(long, default_value = "ot-loadtest-floor")]
    floor_prefix: String,
    /// Serve on this many threads, as `oneticket serve --threads` does
    /// (each its own runtime, listener and Redis connection), so the floor
    /// is measured as the service runs. Without it: the runtime `serve`
    /// gets without it.
    #[arg(long, env = "OT_SERVE_THREADS", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
}

#[derive(Debug, Args)]
struct BacklogArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// The service's Redis key prefix.
    #[arg(long, env = "OT_REDIS_PREFIX", default_value = DEFAULT_REDIS_PREFIX)]
    redis_prefix: String,
    /// Give up (exit 1) when the backlog is not empty after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

/// mimalloc, as in `oneticket`: the generator shares the cores with what it
/// measures, and glibc's malloc was a tenth of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // One generator thread: it shares the box with the service and Redis,
    // and one thread drives tens of thousands of requests a second. The
    // floor server runs on the runtime `oneticket serve` runs on.
    let built = if let Command::FloorServer(FloorArgs { threads: None, .. }) = cli.command {
        service_kit::serve::server_runtime()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Setup(args) => setup_cmd(args).await,
        Command::FloorServer(args) => floor_cmd(args).await,
        Command::Backlog(args) => backlog_cmd(args).await,
        Command::Run(args) => {
            let workload = args.workload.workload()?;
            let settings = args.load.settings()?;
            let redis = cpu_redis(&args.raw.redis).await;
            let service = service_run(&args.service, &workload, settings, redis.as_ref()).await?;
            println!("{}", service.summary());
            if args.and_raw {
                let raw = raw_run(&args.raw, &workload, settings).await?;
                println!("{}", raw.summary());
                let pair = pair_of(service, raw);
                println!("service/raw: {}%", pair.ratio_percent);
                write_report(args.load.report.as_deref(), &pair)
            } else {
                write_report(args.load.report.as_deref(), &service)
            }
        }
        Command::Raw(args) => {
            let workload = args.workload.workload()?;
            let report = raw_run(&args.raw, &workload, args.load.settings()?).await?;
            println!("{}", report.summary());
            write_report(args.load.report.as_deref(), &report)
        }
        Command::Compare(args) => {
            let workload = args.workload.workload()?;
            let settings = args.load.settings()?;
            let redis = cpu_redis(&args.raw.redis).await;
            let mut pairs = Vec::new();
            for n in 1..=args.pairs {
                let service =
                    service_run(&args.service, &workload, settings, redis.as_ref()).await?;
                let floor = match &args.floor_url {
                    Some(url) => {
                        let floor_args = ServiceArgs {
                            base_url: url.clone(),
                            ..args.service.clone()
                        };
                        Some(service_run(&floor_args, &workload, settings, redis.as_ref()).await?)
                    }
                    None => None,
                };
                let raw = raw_run(&args.raw, &workload, settings).await?;
                let mut pair = pair_of(service, raw);
                pair.floor_ratio_percent = floor
                    .as_ref()
                    .map(|f| ratio_percent(f.decided_rate_per_s, pair.raw.decided_rate_per_s));
                pair.floor = floor;
                println!("pair {n}: {}", pair.service.summary());
                if let Some(floor) = &pair.floor {
                    println!("pair {n}: floor   {}", floor.summary());
                }
                println!("pair {n}: {}", pair.raw.summary());
                println!("pair {n}: service/raw {}%", pair.ratio_percent);
                if let Some(ratio) = pair.floor_ratio_percent {
                    println!("pair {n}: floor/raw {ratio}%");
                }
                pairs.push(pair);
            }
            let comparison = Comparison::of(pairs);
            println!(
                "median service/raw over {} pairs: {}%",
                comparison.pairs.len(),
                comparison.median_ratio_percent
            );
            if let Some(ratio) = comparison.median_floor_ratio_percent {
                println!("median floor/raw: {ratio}%");
            }
            write_report(args.load.report.as_deref(), &comparison)
        }
    }
}

fn pair_of(service: Report, raw: Report) -> Pair {
    let ratio_percent = ratio_percent(service.decided_rate_per_s, raw.decided_rate_per_s);
    Pair {
        service,
        raw,
        ratio_percent,
        floor: None,
        floor_ratio_percent: None,
    }
}

fn write_report(path: Option<&Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_vec_pretty(report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A boot epoch unique to this run: unix seconds now, and never the same
/// as the previous run of this process.
fn boot_epoch() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = u32::try_from(unix_now_s()).unwrap_or(u32::MAX);
    let previous = LAST.fetch_max(now, Ordering::Relaxed);
    if previous >= now {
        let next = previous.saturating_add(1);
        LAST.store(next, Ordering::Relaxed);
        next
    } else {
        now
    }
}

fn master_key(args: &KeyArgs) -> anyhow::Result<MasterKey> {
    let hex_text = match &args.master_key_hex {
        Some(text) => text.clone(),
        None => {
            let path = args.key_dir.join(TERMINAL_MASTER_FILE);
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {} (or pass --master-key-hex)", path.display()))?
        }
    };
    let bytes = hex::decode(hex_text.trim()).context("the master key is not hex")?;
    MasterKey::new(&bytes).context("the master key")
}

/// A Redis connection to read Redis's CPU from, when Redis is reachable (a
/// service run does not need one: its Redis figure is then left out).
async fn cpu_redis(args: &RedisArgs) -> Option<ConnectionManager> {
    store_redis::connect(&args.redis_url).await.ok()
}

async fn service_run(
    args: &ServiceArgs,
    workload: &Arc<Workload>,
    settings: RunSettings,
    redis: Option<&ConnectionManager>,
) -> anyhow::Result<Report> {
    let target = Target::resolve(&args.base_url).await?;
    let probe = CpuProbe::new(Some(target.clone()), redis.cloned());
    let driver = Arc::new(ServiceDriver::new(
        target,
        Arc::clone(workload),
        &master_key(&args.keys)?,
        boot_epoch(),
    ));
    measured(&probe, runner::run(&driver, Mode::Service, settings)).await
}

/// Runs `run` between two CPU readings and adds the CPU a request.
async fn measured(
    probe: &CpuProbe,
    run: impl Future<Output = anyhow::Result<Report>>,
) -> anyhow::Result<Report> {
    let before = probe.sample().await;
    let mut report = run.await?;
    let after = probe.sample().await;
    report.cpu = Some(before.per_request(&after, report.answered_total));
    Ok(report)
}

async fn raw_run(
    args: &RawTargetArgs,
    workload: &Arc<Workload>,
    settings: RunSettings,
) -> anyhow::Result<Report> {
    let redis = store_redis::connect(&args.redis.redis_url).await?;
    let layout = Layout::new(
        KeyPrefix::new(&args.raw_prefix).map_err(|e| anyhow::anyhow!("--raw-prefix: {e}"))?,
    );
    let setup = FareSetup::hcmc()?;
    raw::clear(&redis, &layout).await?;
    let driver = Arc::new(RawDriver::new(
        redis.clone(),
        layout.clone(),
        Arc::clone(workload),
        Payloads::of_bus_tap(&setup)?,
        boot_epoch(),
    ));
    let probe = CpuProbe::new(None, Some(redis.clone()));
    let report = measured(&probe, runner::run(&driver, Mode::Raw, settings)).await;
    raw::clear(&redis, &layout).await?;
    report
}

async fn floor_cmd(args: FloorArgs) -> anyhow::Result<()> {
    let workload = args.workload.workload()?;
    let redis = store_redis::connect(&args.redis.redis_url).await?;
    let layout = Layout::new(
        KeyPrefix::new(&args.floor_prefix).map_err(|e| anyhow::anyhow!("--floor-prefix: {e}"))?,
    );
    raw::clear(&redis, &layout).await?;
    let driver = Arc::new(RawDriver::new(
        redis.clone(),
        layout.clone(),
        Arc::clone(&workload),
        Payloads::of_bus_tap(&FareSetup::hcmc()?)?,
        boot_epoch(),
    ));
    let floor = Arc::new(Floor::new(
        driver,
        redis.clone(),
        master_key(&args.keys)?,
        &workload,
    ));
    let redis_url = args.redis.redis_url.clone();
    let pin_redis: service_kit::ThreadSetup = Arc::new(move || {
        let redis_url = redis_url.clone();
        Box::pin(async move { Ok(store_redis::affinity::connect_and_pin(&redis_url).await?) })
    });
    let threads = args.threads.unwrap_or(1);
    println!(
        "floor server on http://{} with {threads} serving thread(s) (Ctrl-C stops it)",
        args.listen
    );
    service_kit::serve_on_threads(
        floor::router(floor),
        args.listen,
        std::time::Duration::ZERO,
        threads,
        pin_redis,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
    .with_context(|| format!("serving on {}", args.listen))?;
    raw::clear(&redis, &layout).await?;
    Ok(())
}

/// How often `backlog` looks, ms.
const BACKLOG_POLL_MS: u64 = 200;
/// How often `backlog` prints a line when its output is not a terminal, ms.
const BACKLOG_LINE_MS: u64 = 5_000;

async fn backlog_cmd(args: BacklogArgs) -> anyhow::Result<()> {
    let layout = Layout::new(
        KeyPrefix::new(&args.redis_prefix).map_err(|e| anyhow::anyhow!("--redis-prefix: {e}"))?,
    );
    let streams = layout.streams();
    let mut redis = store_redis::connect(&args.redis.redis_url).await?;
    let backlog = |redis: &mut store_redis::ConnectionManager| {
        let mut redis = redis.clone();
        let streams = streams.clone();
        async move {
            store_redis::streams::backlog_many(
                &mut redis,
                &streams,
                projection::ingest::INGEST_GROUP,
            )
            .await
        }
    };
    let first = backlog(&mut redis).await?;
    eprintln!("backlog: {first} entries; waiting for the ingest to drain them");
    let bar = indicatif::ProgressBar::new(first);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} entries ({per_sec})",
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
    // When the first drop was seen, and what was left then.
    let mut started: Option<(Instant, u64)> = None;
    let (mut peak, mut left) = (first, first);
    let mut last_line = Instant::now();
    while left > 0 {
        if Instant::now() >= deadline {
            bar.abandon();
            anyhow::bail!("{left} entries still waiting after {} s", args.timeout_s);
        }
        tokio::time::sleep(Duration::from_millis(BACKLOG_POLL_MS)).await;
        left = backlog(&mut redis).await?;
        // Entries may still arrive: the bar's length is the largest backlog seen.
        peak = peak.max(left);
        bar.set_length(peak);
        bar.set_position(peak - left);
        if started.is_none() && left < peak {
            started = Some((Instant::now(), left));
        }
        // Not a terminal (the bar is hidden): a line every few seconds.
        if bar.is_hidden() && last_line.elapsed() >= Duration::from_millis(BACKLOG_LINE_MS) {
            eprintln!("backlog: {left} entries");
            last_line = Instant::now();
        }
    }
    bar.finish();
    // The rate counts what was left at the first drop seen, from then to
    // the poll that saw none (up to one poll late: a slight underestimate).
    let (elapsed, measured) =
        started.map_or((Duration::ZERO, 0), |(at, left)| (at.elapsed(), left));
    let report = serde_json::json!({
        "entries": peak,
        "measured_entries": measured,
        "elapsed_ms": elapsed.as_millis(),
        "entries_per_s": loadtest::report::per_second(measured, elapsed),
    });
    println!("{report}");
    Ok(())
}

async fn setup_cmd(args: SetupArgs) -> anyhow::Result<()> {
    let workload = args.workload.workload()?;
    let target = Target::resolve(&args.base_url).await?;
    let (registered, present) = setup::terminals(&target, &args.api_key, &workload).await?;
    println!("terminals: {registered} registered, {present} already there");
    let pool = store_pg::connect(&args.database_url, &store_pg::PoolSettings::default())
        .await
        .context("connecting to Postgres")?;
    let redis = store_redis::connect(&args.redis.redis_url)
        .await
        .context("connecting to Redis")?;
    let layout = Layout::new(
        KeyPrefix::new(&args.redis_prefix).map_err(|e| anyhow::anyhow!("--redis-prefix: {e}"))?,
    );
    let projection = Projection::new(redis, pool.clone(), layout, Arc::new(FareSetup::hcmc()?));
    let (created, present) = setup::riders(
        &store_pg::rider::Riders::new(pool.clone()),
        &store_pg::ledger::Ledger::new(pool),
        &projection,
        &workload,
    )
    .await?;
    println!("riders: {created} created, {present} already there (every wallet funded once)");
    Ok(())
}
