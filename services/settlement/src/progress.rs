//! How a long settlement run shows its progress: a progress bar on a
//! terminal (`indicatif`), structured log lines otherwise (a service, a
//! pipe, CI), and nothing at all in tests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

/// How often the log reporter writes a line while a day runs: often
/// enough to show a stuck run within a minute, rarely enough that a long
/// run's log stays readable.
pub const LOG_INTERVAL_S: u64 = 10;

/// Receives a run's progress, one service day at a time.
pub trait Progress: Send + Sync {
    /// A day starts with `total` accounts to look at.
    fn start(&self, day: NaiveDate, total: u64);
    /// `accounts` more were looked at.
    fn advance(&self, accounts: u64);
    /// The day is done (or stopped).
    fn finish(&self);
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _day: NaiveDate, _total: u64) {}
    fn advance(&self, _accounts: u64) {}
    fn finish(&self) {}
}

/// A progress bar on standard error.
#[derive(Debug, Default)]
pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for Bar {
    fn start(&self, day: NaiveDate, total: u64) {
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} accounts ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(format!("settling {day}"));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, accounts: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(accounts);
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish();
        }
    }
}

/// Structured log lines every [`LOG_INTERVAL_S`].
#[derive(Debug, Default)]
pub struct Log {
    state: Mutex<Option<LogState>>,
}

#[derive(Debug)]
struct LogState {
    day: NaiveDate,
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
}

impl Progress for Log {
    fn start(&self, day: NaiveDate, total: u64) {
        tracing::info!(%day, accounts = total, "settling day");
        let now = Instant::now();
        if let Ok(mut slot) = self.state.lock() {
            *slot = Some(LogState {
                day,
                total,
                done: 0,
                started: now,
                last: now,
            });
        }
    }

    fn advance(&self, accounts: u64) {
        if let Ok(mut slot) = self.state.lock()
            && let Some(state) = slot.as_mut()
        {
            state.done = state.done.saturating_add(accounts);
            if state.last.elapsed() >= Duration::from_secs(LOG_INTERVAL_S) {
                state.last = Instant::now();
                tracing::info!(
                    day = %state.day,
                    done = state.done,
                    total = state.total,
                    elapsed_s = state.started.elapsed().as_secs(),
                    "settlement progress"
                );
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.state.lock()
            && let Some(state) = slot.take()
        {
            tracing::info!(
                day = %state.day,
                done = state.done,
                total = state.total,
                elapsed_ms = u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "settled day"
            );
        }
    }
}

/// A bar when standard error is a terminal, log lines otherwise.
#[must_use]
pub fn for_stderr() -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(Log::default())
    }
}
