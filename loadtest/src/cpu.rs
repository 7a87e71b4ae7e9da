//! CPU a request: how much CPU the target (the service or the floor server),
//! Redis and the generator itself each spent per answered request over a
//! run. Throughput on a shared, noisy 2-core box varies run to run; CPU a
//! request varies much less, and shows which process sets the ceiling (a
//! one-thread server cannot answer more than 1 s ÷ its CPU a request each
//! second; Redis likewise).
//!
//! Each is read before and after the run: the target's
//! `process_cpu_seconds_total` from its `/metrics`
//! ([`service_kit::process`]), Redis's `used_cpu_user` + `used_cpu_sys`
//! from `INFO cpu`, the generator's own from `/proc/self`. A reading that
//! fails (no `/metrics`, not Linux) leaves that figure out; it never fails
//! the run.

use serde::{Deserialize, Serialize};
use store_redis::ConnectionManager;

use crate::service::Target;
use crate::wire::Conn;

/// CPU used so far, µs, by each process that could be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuSample {
    /// The HTTP target.
    pub target_us: Option<u64>,
    /// The Redis server.
    pub redis_us: Option<u64>,
    /// This generator.
    pub generator_us: Option<u64>,
}

/// CPU a request over a run, ns (each `None` when it could not be read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuPerRequest {
    /// Answered requests the CPU is divided by (warm-up included).
    pub answered: u64,
    /// The HTTP target (the service, or the floor server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ns: Option<u64>,
    /// Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_ns: Option<u64>,
    /// The generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ns: Option<u64>,
}

impl CpuSample {
    /// CPU a request between `self` and `later`, over `answered` requests.
    #[must_use]
    pub fn per_request(&self, later: &CpuSample, answered: u64) -> CpuPerRequest {
        let each = |before: Option<u64>, after: Option<u64>| {
            let used_us = after?.checked_sub(before?)?;
            let ns = u128::from(used_us) * 1_000;
            (answered > 0).then(|| u64::try_from(ns / u128::from(answered)).unwrap_or(u64::MAX))
        };
        CpuPerRequest {
            answered,
            target_ns: each(self.target_us, later.target_us),
            redis_ns: each(self.redis_us, later.redis_us),
            generator_ns: each(self.generator_us, later.generator_us),
        }
    }
}

impl CpuPerRequest {
    /// `cpu/answer: target 23.1µs redis 13.0µs generator 7.2µs` (only
    /// what was read); empty when nothing was.
    #[must_use]
    pub fn summary(&self, target: &str) -> String {
        let parts: Vec<String> = [
            (target, self.target_ns),
            ("redis", self.redis_ns),
            ("generator", self.generator_ns),
        ]
        .into_iter()
        .filter_map(|(name, ns)| ns.map(|ns| format!("{name} {}", micros(ns))))
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("cpu/answer: {}", parts.join(" "))
        }
    }
}

/// `23.1µs` from ns (rounded down to 0.1 µs).
#[must_use]
pub fn micros(ns: u64) -> String {
    format!("{}.{}µs", ns / 1_000, ns % 1_000 / 100)
}

/// Redis's CPU so far, µs, from an `INFO cpu` answer (`used_cpu_user` +
/// `used_cpu_sys`, seconds with six decimals).
#[must_use]
pub fn redis_cpu_us(info: &str) -> Option<u64> {
    let field = |name: &str| {
        let value = info.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::trim)
        })?;
        service_kit::process::seconds_to_micros(value)
    };
    field("used_cpu_user")?.checked_add(field("used_cpu_sys")?)
}

/// Reads the CPU used so far by what a run drives.
pub struct CpuProbe {
    target: Option<Target>,
    redis: Option<ConnectionManager>,
}

impl CpuProbe {
    /// A probe of `target`'s `/metrics` (when an HTTP target is driven)
    /// and of Redis over `redis`.
    #[must_use]
    pub fn new(target: Option<Target>, redis: Option<ConnectionManager>) -> CpuProbe {
        CpuProbe { target, redis }
    }

    /// What each process has used so far.
    pub async fn sample(&self) -> CpuSample {
        CpuSample {
            target_us: match &self.target {
                Some(target) => target_cpu_us(target).await,
                None => None,
            },
            redis_us: match &self.redis {
                Some(redis) => {
                    let mut redis = redis.clone();
                    redis::cmd("INFO")
                        .arg("cpu")
                        .query_async::<String>(&mut redis)
                        .await
                        .ok()
                        .and_then(|info| redis_cpu_us(&info))
                }
                None => None,
            },
            generator_us: service_kit::process::read_self().map(|s| s.cpu_micros()),
        }
    }
}

/// The target's `process_cpu_seconds_total`, µs, from `GET /metrics`.
async fn target_cpu_us(target: &Target) -> Option<u64> {
    let mut conn = Conn::connect(target.addr).await.ok()?;
    let (status, body) = conn.get("/metrics", &target.authority).await.ok()?;
    if status != 200 {
        return None;
    }
    service_kit::process::cpu_micros_in_exposition(std::str::from_utf8(body).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_divides_what_each_used_by_the_answers() {
        let before = CpuSample {
            target_us: Some(1_000_000),
            redis_us: Some(5_000_000),
            generator_us: None,
        };
        let after = CpuSample {
            target_us: Some(1_231_000),
            redis_us: Some(5_130_000),
            generator_us: Some(9),
        };
        let per = before.per_request(&after, 10_000);
        assert_eq!(per.target_ns, Some(23_100));
        assert_eq!(per.redis_ns, Some(13_000));
        assert_eq!(per.generator_ns, None);
        assert_eq!(
            per.summary("service"),
            "cpu/answer: service 23.1µs redis 13.0µs"
        );
        assert_eq!(before.per_request(&after, 0).target_ns, None);
        // A counter that went backwards (a restarted target) is left out.
        assert_eq!(after.per_request(&before, 10).target_ns, None);
        assert_eq!(CpuPerRequest::default().summary("service"), "");
    }

    #[test]
    fn redis_cpu_is_user_plus_system() {
        let info = "# CPU\r\nused_cpu_sys:42.734783\r\nused_cpu_user:219.787985\r\n\
                    used_cpu_sys_children:0.000000\r\nused_cpu_user_main_thread:219.4\r\n";
        assert_eq!(redis_cpu_us(info), Some(42_734_783 + 219_787_985));
        assert_eq!(redis_cpu_us("# CPU\r\nused_cpu_sys:1.0\r\n"), None);
    }
}
