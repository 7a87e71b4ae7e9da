//! `oneticket demo`: a day of Ho Chi Minh City in one command.
//!
//! ```text
//! plan (scenario: seed → riders and their day)
//!   → network: register every terminal (admin API)
//!   → riders: sign up, log in, link a card, top up through the sandbox, verify claims (rider API)
//!   → the day: taps, QR tickets, parking, top-ups, passes, in time order (terminal, gate, rider APIs)
//!   → wait until the stream ingest has written every event to Postgres
//!   → settle the day, audit the ledger, print the summary
//! ```
//!
//! **Time — the honest choice.** The services price with the time they
//! read: an online tap is priced at the server's receive time (the device
//! time only matters in journals), a top-up is credited when its callback
//! arrives, a QR ticket is valid from its issue. So the demo plays its day
//! where time can be what the day says: by default it starts every service
//! in this process (the very composition `oneticket serve` runs,
//! [`crate::serve_cmd::start`]) on one clock the demo sets to each step's
//! time ([`clock::DemoClock`], the injection point the services have for
//! tests), on a loopback port, and drives it through HTTP like any client.
//! Every tap is an online tap priced at its time of the demo day, taken
//! through the same authentication, projection, Redis script, stream and
//! ingest as in production; nothing is written to a store directly.
//! Uploading the day as terminal journals was the other way, and a worse
//! one: a journal's times are corrected by the upload's clock offset, and
//! the rider API's top-ups, passes and QR tickets (verified at the tap's
//! time) would still happen "now", after the taps they pay for.
//!
//! Two consequences of playing a past day, both kept inside this process:
//! QR tickets are signed by a key made for the demo day (the key store's
//! signing key was created after the day began and, correctly, cannot sign
//! before its validity), which the in-process gates trust and which is
//! forgotten at exit; and the rider API trusts `X-Forwarded-For`, so each
//! simulated phone has its own address for the per-address rate limits.
//!
//! The day played is, by default, the latest service day that has ended and
//! has no taps yet (yesterday on a fresh database; one day earlier each
//! run), so the summary's numbers are this run's alone; `--day` picks one
//! (it must have ended and be empty). Settlement runs as the worker would,
//! at the grace period after the day's close on the same clock (or now,
//! when that is still to come: nothing is recorded in the future).
//!
//! With `--base-url` the demo drives a running server instead: that
//! server's clock stamps every request, so the plan's times only order the
//! steps, which happen now (a "day" of a minute or two: stays fall in the
//! parking grace, no trip runs past 180 minutes), and the day settled early
//! is the server's current one. The demo still needs the server's database
//! (`OT_DATABASE_URL`, to create its admin key, settle and audit), Redis
//! (`OT_REDIS_URL`, `OT_REDIS_PREFIX`, to wait for the ingest) and key
//! store (`OT_KEY_DIR`, to sign as the terminals), and the server must run
//! the sandbox payment provider and trust `X-Forwarded-For`
//! (`OT_TRUST_FORWARDED_FOR=true`) for more riders than its per-address
//! registration limit.
//!
//! The demo's admin API key (scopes `terminals`, `riders`) is created in
//! the database, used, and revoked before the summary; riders' passwords,
//! sessions and the terminal keys live only in memory. Nothing secret is
//! printed. What the day leaves behind — terminals, accounts, taps, stays,
//! the settled day — stays in the database for `oneticket serve` to show.
//!
//! Exit status: 0 when the day settled and the audit passed, 1 when
//! settlement left account-days unsettled or the audit found something,
//! 2 on an error.

pub mod client;
pub mod clock;
pub mod drive;
pub mod network;
pub mod scenario;
pub mod summary;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use card_protocol::request_auth::MasterKey;
use card_protocol::ticket::Issuer;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use fares::engine::{Engine, ServiceCalendar, ServiceDay, hcmc_files};
use ledger::keyring::{KeyMaterial, KeyRing, KeySeed, SEED_BYTES};
use projection::Layout;
use projection::ingest::INGEST_GROUP;
use ring::rand::{SecureRandom, SystemRandom};
use service_kit::settings::LogFilter;
use service_kit::{Env, Settings};
use settlement::job::{self, Settler};
use settlement::outputs;
use settlement::worker::{self, SettlementLock};
use store_pg::terminal::ApiKeys;
use store_redis::ConnectionManager;

use self::client::{Client, Target};
use self::clock::{DayClock, DemoClock};
use self::drive::{Driver, Run, Secret};
use self::network::City;
use self::summary::{Settled, Summary, TerminalCensus};
use crate::serve_cmd::{RiderWiring, ServiceSet, SettlementWorker, TerminalKeys, Wiring};

/// Riders of a demo by default: a day that plays in about a minute on two
/// cores (sign-ups hash passwords with argon2id; the day is a few thousand
/// requests).
pub const DEFAULT_RIDERS: u32 = 200;
/// The plan's seed by default: every newcomer watches the same day.
pub const DEFAULT_SEED: u64 = 2_026;
/// How long to wait for the stream ingest to write the day to Postgres,
/// seconds: it reads every second in batches of 2,000, so a demo day is in
/// within seconds; two minutes means no ingest is running.
pub const INGEST_WAIT_S: u64 = 120;
/// Pause between two checks of the ingest, milliseconds.
pub const INGEST_POLL_MS: u64 = 200;
/// How far around its day the demo's ticket key is valid, seconds: an hour
/// before the day starts (tickets are issued from 04:05) to a day after it
/// ends (a ticket's 10-minute life never reaches that far).
const TICKET_KEY_MARGIN_S: i64 = 3_600;
/// The services' log filter when neither `OT_LOG` nor `RUST_LOG` is set:
/// warnings only, so the narrative and the progress bar stay readable
/// (`OT_LOG=info` shows a line per request).
const DEMO_LOG_FILTER: &str = "warn";
/// The scopes of the demo's admin key: terminal registry and rider
/// categories.
const ADMIN_SCOPES: [&str; 2] = ["terminals", "riders"];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Riders who sign up and ride (1 to 10,000).
    #[arg(long, default_value_t = DEFAULT_RIDERS)]
    riders: u32,
    /// The service day to play (YYYY-MM-DD): it must have ended and have
    /// no taps yet. Default: the latest such day.
    #[arg(long)]
    day: Option<NaiveDate>,
    /// Seed of the day's plan: one seed, one day.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Drive the running server at this URL (http://host:port) instead of
    /// starting the services here; its clock stamps every step.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Print the summary as JSON on standard output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    match crate::runtime().and_then(|rt| rt.block_on(demo(args))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn say(text: &str) {
    eprintln!("==> {text}");
}

/// What both modes share once the services answer.
struct Stage<'a> {
    args: &'a Args,
    pool: sqlx::PgPool,
    redis: ConnectionManager,
    layout: Layout,
    engine: Arc<Engine>,
    city: City,
    /// The terminal master key: the demo signs as the terminals.
    master: MasterKey,
    /// Its bytes, for the in-process services' own copy.
    master_bytes: [u8; crate::keystore::TERMINAL_MASTER_KEY_BYTES],
    run: Run,
}

async fn demo(args: Args) -> anyhow::Result<bool> {
    ensure!(
        (1..=scenario::MAX_RIDERS).contains(&args.riders),
        "--riders must be 1 to {}",
        scenario::MAX_RIDERS
    );
    ensure!(
        args.base_url.is_none() || args.day.is_none(),
        "--day cannot be used with --base-url: the server's clock decides the day"
    );
    let mut settings = Settings::from_env(&Env::process())?;
    if std::env::var_os("OT_LOG").is_none() && std::env::var_os("RUST_LOG").is_none() {
        settings.log.filter = LogFilter::parse(DEMO_LOG_FILTER)?;
    }
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
    let redis = store_redis::connect(settings.redis_url.expose())
        .await
        .with_context(|| format!("connecting to Redis at {}", settings.redis_url.redacted()))?;
    let layout = crate::hot_cmd::layout_from_env()?;
    let files = hcmc_files();
    let engine = Arc::new(Engine::from_files(&files).context("the fare configuration")?);
    let lots =
        parking_service::Lots::hcmc(&engine, layout.prefix()).context("the parking sites")?;
    let city = City::from_config(&files, network::lot_sites(&lots))?;
    let keys = crate::keystore::KeyStore::from_env();
    let master_bytes = keys.terminal_master().context(
        "the terminal master key (the demo signs as the terminals; run `oneticket keys generate`)",
    )?;
    let master = MasterKey::new(&master_bytes).context("the terminal master key")?;
    // The run's boot epoch: unique per run (seconds since 1970 fit in u32
    // until 2106), so journal keys, logins and cards never collide.
    let run = Run(u32::try_from(Utc::now().timestamp()).context("the clock is past 2106")?);
    let stage = Stage {
        args: &args,
        pool,
        redis,
        layout,
        engine,
        city,
        master,
        master_bytes,
        run,
    };
    match &args.base_url {
        None => in_process(stage, settings).await,
        Some(url) => against_server(stage, url).await,
    }
}

/// The default: the services in this process, on the day's clock.
async fn in_process(stage: Stage<'_>, mut settings: Settings) -> anyhow::Result<bool> {
    let calendar = stage.engine.calendar();
    let today = calendar.service_day(Utc::now().fixed_offset());
    let day = choose_day(&stage.pool, stage.args.day, today).await?;
    let (day_start, day_end) = bounds(calendar, day)?;
    say(&format!(
        "OneTicket demo: service day {day}, {} riders, seed {} — the services run in this process on the day's clock",
        stage.args.riders, stage.args.seed
    ));
    let clock = DemoClock::starting_at(day_start);
    settings.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let server = service_kit::Server::bind(settings.listen, settings.shutdown_grace)?;
    let addr = server.local_addr();
    let (tickets, key_set) = day_ticket_key(day_start, day_end)?;
    let services = crate::serve_cmd::start(
        &settings,
        &ServiceSet::all(),
        Wiring {
            terminal_keys: Some(TerminalKeys {
                master_key: MasterKey::new(&stage.master_bytes)
                    .context("the terminal master key")?,
                key_set,
            }),
            rider: Some(RiderWiring {
                tickets,
                clock: Arc::new(clock.clone()),
                settings: rider_api::settings::RiderSettings {
                    public_url: format!("http://{addr}"),
                    client_ip: rider_api::settings::ClientIpSource::ForwardedFor,
                    payments: rider_api::settings::PaymentMode::Sandbox,
                    ..rider_api::settings::RiderSettings::default()
                },
            }),
            terminal_clock: clock.for_terminals(),
            settlement: SettlementWorker::Off,
            ingest_consumer: format!("oneticket-demo-{}", stage.run.0),
        },
    )
    .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(services.router.clone(), async move {
        let _ = stopped.await;
    }));
    let day_clock = DayClock::Simulated {
        clock: clock.clone(),
        day_start,
    };
    let played = play(&stage, &day_clock, Target::local(addr)).await;
    let _ = stop.send(());
    let served = serving.await;
    services.stop().await;
    let played = played?;
    served.context("the in-process server")??;
    // Settle as the worker would, the grace period after the day closed;
    // or now, when that moment is still to come (the ledger never records
    // a transfer accepted in the future).
    let settle_at = (day_end + TimeDelta::seconds(worker::DEFAULT_GRACE_S)).min(Utc::now());
    clock.set(settle_at);
    finish(
        &stage,
        day,
        (day_start, day_end),
        settle_at,
        played,
        "in_process",
    )
    .await
}

/// `--base-url`: a running server, on its own clock.
async fn against_server(stage: Stage<'_>, url: &str) -> anyhow::Result<bool> {
    let target = Target::resolve(url).await?;
    say(&format!(
        "OneTicket demo: {} riders, seed {}, driving {url} — its clock stamps every step, the plan only orders them",
        stage.args.riders, stage.args.seed
    ));
    let calendar = stage.engine.calendar();
    let started = calendar.service_day(Utc::now().fixed_offset());
    let played = play(&stage, &DayClock::Server, target).await?;
    let ended = calendar.service_day(Utc::now().fixed_offset());
    let day = started.date().context("a service day out of range")?;
    if ended != started {
        // The run crossed 04:00: the new day is settled too; the summary
        // is the day the run started on.
        let end_day = ended.date().context("a service day out of range")?;
        say(&format!(
            "the run crossed into service day {end_day}; it is settled too"
        ));
        settle(&stage, end_day, Utc::now()).await?;
    }
    let window = bounds(calendar, day)?;
    finish(&stage, day, window, Utc::now(), played, "server").await
}

/// Seeds the network, signs the riders up, plays the day, and waits for
/// the ingest; the admin key is revoked whatever happens.
async fn play(
    stage: &Stage<'_>,
    clock: &DayClock,
    target: Target,
) -> anyhow::Result<(drive::Tally, summary::RiderCensus)> {
    let plan = scenario::plan_day(stage.city.network(), stage.args.riders, stage.args.seed);
    let terminals = stage.city.terminals()?;
    let keys = ApiKeys::new(stage.pool.clone());
    let scopes: Vec<String> = ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    clock.go_to(0);
    let (token, record) =
        fare_validation::auth::create_api_key(&keys, &scopes, "oneticket demo", clock.now())
            .await
            .context("creating the demo's admin key")?;
    let admin = Secret::new(token);
    let client = Client::new(target);
    let mut driver = Driver::new(
        &client,
        clock,
        &stage.city,
        stage.run,
        &admin,
        &stage.master,
    );
    // The day's clock times, when the day runs on them.
    let at = |at_s: u32| match clock {
        DayClock::Simulated { .. } => format!("{} ", scenario::clock_time(at_s)),
        DayClock::Server => String::new(),
    };
    let played = async {
        let (bus, metro, parking) = network::terminal_counts(&terminals);
        say(&format!(
            "{}the network: {bus} bus validators on {} routes, {metro} gate lanes at {} metro stations, {parking} parking gates",
            at(0),
            stage.city.network().bus_routes().len(),
            stage.city.network().stations().len(),
        ));
        driver.seed_network(&terminals).await?;
        let claims = plan
            .riders
            .iter()
            .filter(|r| r.category != scenario::Category::Adult)
            .count();
        say(&format!(
            "{}{} riders sign up, link a card or bank card (or keep the app's QR) and top up through the sandbox provider; {}the back office verifies {claims} student and exempt claims",
            at(scenario::SIGN_UP_AT_S),
            plan.riders.len(),
            at(scenario::VERIFY_AT_S),
        ));
        driver.onboard(&plan.riders).await?;
        say(&format!(
            "the day: {} steps ({} taps) from the morning peak to the last bus home",
            plan.steps.len(),
            plan.taps()
        ));
        driver.ride(&plan).await?;
        say("waiting for the stream ingest to write every event to Postgres");
        wait_for_ingest(&stage.redis, &stage.layout).await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(error) = keys.revoke(record.key_id, clock.now()).await {
        tracing::warn!(%error, "the demo's admin key could not be revoked");
    }
    played?;
    Ok((
        driver.tally().clone(),
        summary::RiderCensus::of(&plan.riders),
    ))
}

/// Settles, audits and prints; true when the day settled and the audit
/// passed.
async fn finish(
    stage: &Stage<'_>,
    day: NaiveDate,
    (day_start, day_end): (DateTime<Utc>, DateTime<Utc>),
    settle_at: DateTime<Utc>,
    (tally, riders): (drive::Tally, summary::RiderCensus),
    clock: &'static str,
) -> anyhow::Result<bool> {
    say(&format!("settling {day} and auditing the ledger"));
    let settled = settle(stage, day, settle_at).await?;
    let audit = summary::audit(&stage.pool)
        .await
        .context("auditing the ledger")?;
    let terminals = stage.city.terminals()?;
    let (bus_validators, metro_gates, parking_gates) = network::terminal_counts(&terminals);
    let summary = Summary {
        service_day: day,
        clock,
        seed: stage.args.seed,
        boot_epoch: stage.run.0,
        riders,
        terminals: TerminalCensus {
            bus_validators,
            metro_gates,
            parking_gates,
        },
        tally,
        parking: summary::parking_peaks(&stage.pool, stage.city.lots(), day_start, day_end)
            .await
            .context("reading the day's stays")?,
        settlement: settled,
        audit,
    };
    let ok = summary.audit.passed
        && summary.settlement.report.failed == 0
        && summary.settlement.totals.balanced;
    if stage.args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let zone = stage.engine.calendar().timezone();
        println!(
            "\n{}",
            summary.text(|at| at.with_timezone(&zone).format("%H:%M").to_string())
        );
        println!(
            "The day stays in the database: `oneticket settle --day {day} --out DIR` writes its statements (posting nothing new); `oneticket serve` shows its riders, trips and lots."
        );
    }
    Ok(ok)
}

/// Settles `day` at `now` (waiting for a running worker's lock) and reads
/// its statement and reconciliation totals.
async fn settle(stage: &Stage<'_>, day: NaiveDate, now: DateTime<Utc>) -> anyhow::Result<Settled> {
    let files = hcmc_files();
    let owners =
        settlement::config::pass_owners(&stage.engine, &files).context("the pass owners")?;
    let lock = SettlementLock::acquire(&stage.pool)
        .await
        .context("the settlement lock")?;
    let mut settler = Settler::new(
        stage.pool.clone(),
        Arc::clone(&stage.engine),
        owners,
        job::Settings::default(),
        now,
    )
    .await
    .context("preparing the chart of accounts")?;
    let progress = settlement::progress::for_stderr();
    let report = settler
        .settle_day(day, progress.as_ref(), now)
        .await
        .context("settling the day")?;
    progress.finish();
    let statement = outputs::statement(&settler, day).await?;
    let reconciliation = outputs::reconciliation(&settler, day).await?;
    lock.release().await;
    Ok(Settled {
        report,
        operators: statement.operators,
        net_revenue_vnd: statement.net_revenue_vnd,
        totals: reconciliation.totals,
    })
}

/// The day to play: `asked` if it has ended and has no taps, else the
/// latest ended day without taps (at most the re-settlement window back).
async fn choose_day(
    pool: &sqlx::PgPool,
    asked: Option<NaiveDate>,
    today: ServiceDay,
) -> anyhow::Result<NaiveDate> {
    let latest = today
        .plus_days(-1)
        .date()
        .context("a service day out of range")?;
    if let Some(day) = asked {
        ensure!(
            day <= latest,
            "service day {day} has not ended: the demo plays a day that is over (the latest is {latest})"
        );
        let taps = taps_on(pool, day).await?;
        ensure!(
            taps == 0,
            "service day {day} already has {taps} taps: the demo plays a day from empty (pick another --day)"
        );
        return Ok(day);
    }
    for back in 0..job::MAX_RESETTLE_DAYS {
        let day = latest - TimeDelta::days(back);
        if taps_on(pool, day).await? == 0 {
            return Ok(day);
        }
    }
    bail!(
        "every service day of the last {} has taps; pass an empty --day",
        job::MAX_RESETTLE_DAYS
    )
}

async fn taps_on(pool: &sqlx::PgPool, day: NaiveDate) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM transit.tap WHERE service_day = $1")
            .bind(day)
            .fetch_one(pool)
            .await?,
    )
}

/// `[start, end)` of service day `day`.
fn bounds(
    calendar: &ServiceCalendar,
    day: NaiveDate,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let day = ServiceDay::from_date(day);
    Ok((
        calendar
            .day_start(day)
            .context("a service day out of range")?,
        calendar
            .day_start(day.plus_days(1))
            .context("a service day out of range")?,
    ))
}

/// A ticket signing key for the demo's day only (see the module docs): the
/// ring the in-process rider API signs with and the key set its gates
/// verify with.
fn day_ticket_key(
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> anyhow::Result<(rider_api::tickets::Tickets, card_protocol::messages::KeySet)> {
    let mut seed = [0u8; SEED_BYTES];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
    let seconds = |at: DateTime<Utc>| u64::try_from(at.timestamp()).context("a day before 1970");
    let material = KeyMaterial {
        seed: KeySeed::from_bytes(seed),
        not_before_s: seconds(day_start - TimeDelta::seconds(TICKET_KEY_MARGIN_S))?,
        not_after_s: seconds(day_end + TimeDelta::days(1))?,
    };
    let issuer = Issuer::parse(crate::keystore::DEFAULT_ISSUER)
        .map_err(|e| anyhow::anyhow!("the ticket issuer: {e}"))?;
    let ring = KeyRing::new(issuer.clone(), &material)?;
    let key_set = ring.key_set();
    let tickets = rider_api::tickets::Tickets::new(move || {
        KeyRing::new(issuer.clone(), &material).map_err(Into::into)
    })
    .context("the demo's ticket ring")?;
    Ok((tickets, key_set))
}

/// Waits until the ingest group has read and acknowledged every entry of
/// every shard stream.
async fn wait_for_ingest(redis: &ConnectionManager, layout: &Layout) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(INGEST_WAIT_S);
    loop {
        if ingest_caught_up(redis, layout).await? {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the stream ingest has not written the day to Postgres after {INGEST_WAIT_S} s \
             (with --base-url: is the server's ingest running on this OT_REDIS_PREFIX?)"
        );
        tokio::time::sleep(Duration::from_millis(INGEST_POLL_MS)).await;
    }
}

async fn ingest_caught_up(redis: &ConnectionManager, layout: &Layout) -> anyhow::Result<bool> {
    let mut connection = redis.clone();
    for stream in layout.streams() {
        let exists: bool = redis::cmd("EXISTS")
            .arg(&stream)
            .query_async(&mut connection)
            .await?;
        if !exists {
            continue;
        }
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query_async(&mut connection)
            .await?;
        let Some(group) = groups.groups.iter().find(|g| g.name == INGEST_GROUP) else {
            return Ok(false);
        };
        if group.pending > 0 {
            return Ok(false);
        }
        let info: redis::Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&stream)
            .query_async(&mut connection)
            .await?;
        if last_generated_id(&info).as_deref() != Some(group.last_delivered_id.as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `last-generated-id` of an `XINFO STREAM` reply (RESP2 pairs or RESP3 map).
fn last_generated_id(info: &redis::Value) -> Option<String> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let key = "last-generated-id";
    match info {
        redis::Value::Array(items) => items
            .chunks(2)
            .find(|pair| pair.first().and_then(text).as_deref() == Some(key))
            .and_then(|pair| pair.get(1))
            .and_then(text),
        redis::Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| text(k).as_deref() == Some(key))
            .and_then(|(_, v)| text(v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_last_id(info: redis::Value, expected: Option<&str>) {
        assert_eq!(last_generated_id(&info).as_deref(), expected);
    }

    #[test]
    fn the_last_generated_id_is_read_from_either_protocol() {
        let bulk = |s: &str| redis::Value::BulkString(s.as_bytes().to_vec());
        check_last_id(
            redis::Value::Array(vec![
                bulk("length"),
                redis::Value::Int(3),
                bulk("last-generated-id"),
                bulk("1700000000000-2"),
            ]),
            Some("1700000000000-2"),
        );
        check_last_id(
            redis::Value::Map(vec![(bulk("last-generated-id"), bulk("0-0"))]),
            Some("0-0"),
        );
        check_last_id(redis::Value::Array(vec![bulk("length")]), None);
        check_last_id(redis::Value::Nil, None);
    }
}
