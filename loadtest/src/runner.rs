//! The open-loop engine shared by the service and raw modes.
//!
//! `connections` workers each own one connection (an HTTP/1.1 keep-alive
//! connection, or a handle on a multiplexed Redis connection) and claim the
//! next request index from one counter. A worker waits for its request's
//! due time (see [`crate::schedule`]), sends, and records the latency from
//! the due time. When every worker is busy the next request simply starts
//! late, and its lateness is counted: the generator never slows the
//! schedule down to the target's pace.
//!
//! Throughput is counted over the measured window: answers that arrive
//! between the end of the warm-up and the end of the schedule (plus
//! [`SEND_GRACE_MS`]), whichever request they answer. Nothing is sent
//! after that: an overloaded target leaves requests "not sent" instead of
//! stretching the run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::report::{Mode, Outcome, Report, Tally, per_second};
use crate::schedule::{Schedule, latency, wait_before_send};

/// How long after the schedule's end requests may still be sent, ms: a
/// target that keeps up sends its last requests a little late; one second
/// absorbs that without letting an overloaded run drag on.
pub const SEND_GRACE_MS: u64 = 1_000;

/// How long before the first due time the workers are released, ms: lets
/// every task reach its first wait so the first requests are not late.
pub const START_LEAD_MS: u64 = 20;

/// Opens workers: one per connection.
pub trait Driver: Send + Sync {
    /// A connection and what it needs to send.
    type Worker: Worker;
    /// Opens worker number `n`.
    fn worker(&self, n: u32) -> impl Future<Output = anyhow::Result<Self::Worker>> + Send;
}

/// Sends requests on one connection.
pub trait Worker: Send + 'static {
    /// Sends request `index`; answers its outcome and whether it was decided
    /// (a tap decision, or a committed script).
    fn send(&mut self, index: u64) -> impl Future<Output = (Outcome, bool)> + Send;
}

/// How a run is shaped.
#[derive(Clone, Copy, Debug)]
pub struct RunSettings {
    /// Due times.
    pub schedule: Schedule,
    /// Warm-up, seconds (for the report).
    pub warmup_s: u64,
    /// Measured duration, seconds (for the report).
    pub duration_s: u64,
    /// Workers, each with its own connection.
    pub connections: u32,
}

struct Shared {
    schedule: Schedule,
    next: AtomicU64,
    start: Instant,
    measure_from: Duration,
    send_until: Duration,
}

/// What one worker collected.
struct WorkerTally {
    tally: Tally,
    /// Answers inside the measured window.
    in_window: u64,
    /// Of which decided.
    decided_in_window: u64,
    /// Measured requests sent.
    measured_sent: u64,
    /// When the last answer (to any request) arrived.
    last_done: Duration,
    /// Answers to any request, warm-up included.
    answered: u64,
}

/// Runs the schedule against `driver` and reports.
///
/// # Errors
/// A worker could not be opened.
pub async fn run<D: Driver>(
    driver: &D,
    mode: Mode,
    settings: RunSettings,
) -> anyhow::Result<Report> {
    let mut workers = Vec::new();
    for n in 0..settings.connections {
        workers.push(driver.worker(n).await?);
    }
    let schedule = settings.schedule;
    let shared = Arc::new(Shared {
        schedule,
        next: AtomicU64::new(0),
        start: Instant::now() + Duration::from_millis(START_LEAD_MS),
        measure_from: schedule.measure_from(),
        send_until: schedule.end() + Duration::from_millis(SEND_GRACE_MS),
    });
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|worker| tokio::spawn(work(worker, Arc::clone(&shared))))
        .collect();
    let mut tally = Tally::new();
    let (mut in_window, mut decided_in_window, mut measured_sent) = (0u64, 0u64, 0u64);
    let mut last_done = Duration::ZERO;
    let mut answered_total = 0u64;
    for task in tasks {
        let done = task.await?;
        tally.merge(&done.tally);
        in_window += done.in_window;
        decided_in_window += done.decided_in_window;
        measured_sent += done.measured_sent;
        last_done = last_done.max(done.last_done);
        answered_total += done.answered;
    }
    let window_end = last_done.min(shared.send_until).max(shared.measure_from);
    let window = window_end.saturating_sub(shared.measure_from);
    let scheduled = schedule.count() - schedule.warmup();
    Ok(Report {
        mode,
        target_rate_per_s: schedule.rate_per_s(),
        duration_s: settings.duration_s,
        warmup_s: settings.warmup_s,
        connections: settings.connections,
        scheduled,
        completed: tally.completed(),
        decided: tally.decided,
        not_sent: scheduled.saturating_sub(measured_sent),
        achieved_rate_per_s: per_second(in_window, window),
        decided_rate_per_s: per_second(decided_in_window, window),
        latency: tally.latency(),
        outcomes: tally.outcomes(),
        answered_total,
        cpu: None,
    })
}

async fn work<W: Worker>(mut worker: W, shared: Arc<Shared>) -> WorkerTally {
    let mut out = WorkerTally {
        tally: Tally::new(),
        in_window: 0,
        decided_in_window: 0,
        measured_sent: 0,
        last_done: Duration::ZERO,
        answered: 0,
    };
    let schedule = &shared.schedule;
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= schedule.count() {
            break;
        }
        let due = schedule.due(index);
        let now = elapsed(shared.start);
        if now > shared.send_until {
            break;
        }
        if let Some(wait) = wait_before_send(due, now) {
            tokio::time::sleep(wait).await;
        }
        let sent = elapsed(shared.start);
        let (outcome, decided) = worker.send(index).await;
        let done = elapsed(shared.start);
        out.last_done = out.last_done.max(done);
        out.answered += 1;
        if done >= shared.measure_from && done <= shared.send_until {
            out.in_window += 1;
            out.decided_in_window += u64::from(decided);
        }
        if schedule.is_measured(index) {
            out.measured_sent += 1;
            out.tally.record(latency(due, sent, done), outcome, decided);
        }
    }
    out
}

/// Time since `start`; zero before it.
fn elapsed(start: Instant) -> Duration {
    Instant::now().saturating_duration_since(start)
}
