//! What a run measured: an HDR histogram of latencies, counts of outcomes
//! by kind, and the rates; [`Report`] is the JSON written by `--report`.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::cpu::CpuPerRequest;

/// Largest latency the histogram tracks, in µs: 60 s, far beyond any
/// request timeout; larger values are clamped to it.
pub const MAX_TRACKED_LATENCY_US: u64 = 60_000_000;
/// Significant decimal digits the histogram keeps: 3 gives 0.1% precision
/// at any magnitude in a few hundred kB.
pub const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;

/// The outcome label of an accepted tap.
pub const ACCEPT: &str = "accept";

/// How one request ended, as a label counted in the report: `accept`,
/// `deny:<reason>`, `http_<status>:<problem code>`, `transport:<what>`,
/// `raw:<script answer>`.
pub type Outcome = std::borrow::Cow<'static, str>;

/// What one worker measured; tallies of all workers are merged.
#[derive(Clone, Debug)]
pub struct Tally {
    latencies_us: Histogram<u64>,
    outcomes: BTreeMap<Outcome, u64>,
    /// Measured requests answered with a tap decision (accept or deny).
    pub decided: u64,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally::new()
    }
}

impl Tally {
    /// An empty tally.
    #[must_use]
    pub fn new() -> Tally {
        Tally {
            latencies_us: Histogram::new_with_bounds(
                1,
                MAX_TRACKED_LATENCY_US,
                HISTOGRAM_SIGNIFICANT_DIGITS,
            )
            .expect("1..60 s with 3 digits are valid histogram bounds"),
            outcomes: BTreeMap::new(),
            decided: 0,
        }
    }

    /// Records one measured request.
    pub fn record(&mut self, latency: Duration, outcome: Outcome, decided: bool) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies_us
            .saturating_record(micros.clamp(1, MAX_TRACKED_LATENCY_US));
        *self.outcomes.entry(outcome).or_insert(0) += 1;
        self.decided += u64::from(decided);
    }

    /// Adds `other` into this tally.
    pub fn merge(&mut self, other: &Tally) {
        self.latencies_us
            .add(&other.latencies_us)
            .expect("tallies share bounds, so histograms add");
        for (outcome, count) in &other.outcomes {
            *self.outcomes.entry(outcome.clone()).or_insert(0) += count;
        }
        self.decided += other.decided;
    }

    /// Measured requests answered in any way.
    #[must_use]
    pub fn completed(&self) -> u64 {
        self.latencies_us.len()
    }

    /// Latency percentiles.
    #[must_use]
    pub fn latency(&self) -> Latency {
        let h = &self.latencies_us;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }

    /// The counts by outcome.
    #[must_use]
    pub fn outcomes(&self) -> BTreeMap<String, u64> {
        self.outcomes
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }
}

/// Latency percentiles, µs, measured from each request's due time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// What a run targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `POST /v1/taps` on a running service.
    Service,
    /// The commit script on Redis directly.
    Raw,
}

/// One run's results: the `--report` JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was driven.
    pub mode: Mode,
    /// Requests per second asked for.
    pub target_rate_per_s: u64,
    /// Measured seconds (after the warm-up).
    pub duration_s: u64,
    /// Warm-up seconds (not measured).
    pub warmup_s: u64,
    /// Requests in flight at most (connections or concurrent commands).
    pub connections: u32,
    /// Measured requests scheduled.
    pub scheduled: u64,
    /// Measured requests answered (in any way).
    pub completed: u64,
    /// Measured requests answered with a decision (accept or deny; raw: a
    /// committed script).
    pub decided: u64,
    /// Measured requests never sent: the run's deadline passed first
    /// (the target could not keep up).
    pub not_sent: u64,
    /// Answered requests per second over the measured window.
    pub achieved_rate_per_s: u64,
    /// Answered with a decision (accept or deny; raw: committed) per second.
    pub decided_rate_per_s: u64,
    /// Latency from due time to answer.
    pub latency: Latency,
    /// Counts by outcome (`accept`, `deny:<reason>`, `http_<status>:<code>`,
    /// `transport:<what>`, `raw:<answer>`).
    pub outcomes: BTreeMap<String, u64>,
    /// Answers to any request, warm-up included.
    #[serde(default)]
    pub answered_total: u64,
    /// CPU a request of the target, Redis and the generator over the run
    /// ([`crate::cpu`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuPerRequest>,
}

impl Report {
    /// Measured requests that ended in an error (anything but a decision).
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.completed.saturating_sub(self.decided)
    }

    /// One line for the terminal.
    #[must_use]
    pub fn summary(&self) -> String {
        let l = &self.latency;
        // Throughput counts every answer in the window (requests due in the
        // warm-up included); latency only measured requests. When none of
        // those was answered there is no latency to show, not a zero one.
        let latency = if self.completed == 0 {
            "latency n/a (no measured request was answered: the target fell behind)".to_owned()
        } else {
            format!(
                "p50 {} p90 {} p99 {} p99.9 {} max {}",
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us),
            )
        };
        let cpu = self
            .cpu
            .map(|cpu| cpu.summary("target"))
            .filter(|text| !text.is_empty())
            .map_or_else(String::new, |text| format!(" | {text}"));
        format!(
            "{:<7} target {:>6}/s achieved {:>6}/s ({} decided/s) | {latency} | errors {} not sent {}{cpu}",
            match self.mode {
                Mode::Service => "service",
                Mode::Raw => "raw",
            },
            self.target_rate_per_s,
            self.achieved_rate_per_s,
            self.decided_rate_per_s,
            self.errors(),
            self.not_sent,
        )
    }
}

/// `1.234ms`.
#[must_use]
pub fn ms(micros: u64) -> String {
    format!("{}.{:03}ms", micros / 1_000, micros % 1_000)
}

/// Per second over `window`, rounded down; 0 for an empty window.
#[must_use]
pub fn per_second(count: u64, window: Duration) -> u64 {
    let micros = window.as_micros();
    if micros == 0 {
        return 0;
    }
    u64::try_from(u128::from(count) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// Service throughput over raw throughput, in percent (0 when raw is 0).
#[must_use]
pub fn ratio_percent(service_per_s: u64, raw_per_s: u64) -> u64 {
    if raw_per_s == 0 {
        return 0;
    }
    service_per_s.saturating_mul(100) / raw_per_s
}

/// One interleaved service/raw pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// The service run.
    pub service: Report,
    /// The raw run right after it.
    pub raw: Report,
    /// service achieved / raw achieved, percent.
    pub ratio_percent: u64,
    /// The floor server's run between them (`compare --floor-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Report>,
    /// floor achieved / raw achieved, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_ratio_percent: Option<u64>,
}

/// The `compare` report: every pair and the median ratio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The pairs, in run order.
    pub pairs: Vec<Pair>,
    /// The median of the pairs' ratios, percent.
    pub median_ratio_percent: u64,
    /// The median of the pairs' floor/raw ratios, when a floor ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_floor_ratio_percent: Option<u64>,
}

impl Comparison {
    /// The comparison of `pairs`.
    #[must_use]
    pub fn of(pairs: Vec<Pair>) -> Comparison {
        let median_ratio_percent = median(pairs.iter().map(|p| p.ratio_percent).collect());
        let floors: Vec<u64> = pairs.iter().filter_map(|p| p.floor_ratio_percent).collect();
        let median_floor_ratio_percent = (!floors.is_empty()).then(|| median(floors));
        Comparison {
            pairs,
            median_ratio_percent,
            median_floor_ratio_percent,
        }
    }
}

/// The median (the lower middle for an even count; 0 when empty).
#[must_use]
pub fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    match values.len() {
        0 => 0,
        n => values[(n - 1) / 2],
    }
}
