//! The process's own resource use, as the standard Prometheus process
//! metrics every exporter offers (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_threads`),
//! read from Linux's `/proc/self`.
//!
//! An operator charts CPU a request from them; the load generator reads
//! `process_cpu_seconds_total` before and after a run to report the
//! service's CPU per tap beside Redis's and its own (BENCHMARKS.md).
//!
//! Elsewhere than Linux nothing is read and nothing is rendered.

use std::fmt::Write as _;

/// Clock ticks a second in `/proc/<pid>/stat` (the kernel's `USER_HZ`:
/// 100 on every Linux architecture this runs on; `sysconf(_SC_CLK_TCK)`
/// reports the same constant).
pub const CLOCK_TICKS_PER_S: u64 = 100;

/// What a process has used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// User and system CPU time of all its threads, clock ticks
    /// ([`CLOCK_TICKS_PER_S`]).
    pub cpu_ticks: u64,
    /// Threads.
    pub threads: u64,
    /// Resident memory, bytes (`None` when unreadable).
    pub resident_bytes: Option<u64>,
    /// Open file descriptors (`None` when unreadable).
    pub open_fds: Option<u64>,
}

impl ProcessStats {
    /// The CPU time used, µs (at the ticks' 10 ms resolution).
    #[must_use]
    pub fn cpu_micros(&self) -> u64 {
        self.cpu_ticks.saturating_mul(1_000_000 / CLOCK_TICKS_PER_S)
    }
}

/// CPU ticks (user + system) and threads from the text of
/// `/proc/<pid>/stat`. The command name (field 2) is in parentheses and
/// may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
#[must_use]
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let after_name = text.get(text.rfind(')')? + 1..)?;
    // Fields after the name start at field 3 (state): utime is field 14,
    // stime 15, num_threads 20.
    let mut fields = after_name.split_ascii_whitespace();
    let field = |fields: &mut std::str::SplitAsciiWhitespace<'_>, skip: usize| {
        fields.nth(skip).and_then(|f| f.parse::<u64>().ok())
    };
    let utime = field(&mut fields, 14 - 3)?;
    let stime = field(&mut fields, 0)?;
    let threads = field(&mut fields, 20 - 16)?;
    Some((utime.checked_add(stime)?, threads))
}

/// Resident memory in bytes from the text of `/proc/<pid>/status`
/// (`VmRSS:  1234 kB`).
#[must_use]
pub fn parse_resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_ascii_whitespace().skip(1);
    let kib = words.next()?.parse::<u64>().ok()?;
    (words.next()? == "kB").then_some(kib.checked_mul(1024)?)
}

/// This process's stats now; `None` when `/proc/self/stat` cannot be read
/// (not Linux).
#[must_use]
pub fn read_self() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (cpu_ticks, threads) = parse_stat(&stat)?;
    let resident_bytes = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_resident_bytes(&s));
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .and_then(|dir| u64::try_from(dir.count()).ok());
    Some(ProcessStats {
        cpu_ticks,
        threads,
        resident_bytes,
        open_fds,
    })
}

/// Appends `stats` to `out` in the Prometheus text format.
pub fn render(stats: &ProcessStats, out: &mut String) {
    let whole = stats.cpu_ticks / CLOCK_TICKS_PER_S;
    let hundredths = stats.cpu_ticks % CLOCK_TICKS_PER_S;
    let mut metric = |name: &str, kind: &str, help: &str, value: &dyn std::fmt::Display| {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent in seconds.",
        &format_args!("{whole}.{hundredths:02}"),
    );
    metric(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        &stats.threads,
    );
    if let Some(bytes) = stats.resident_bytes {
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            &bytes,
        );
    }
    if let Some(fds) = stats.open_fds {
        metric(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            &fds,
        );
    }
}

/// The value of `process_cpu_seconds_total` in a Prometheus text
/// exposition, µs (what [`render`] writes: seconds with up to six
/// decimals).
#[must_use]
pub fn cpu_micros_in_exposition(text: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("process_cpu_seconds_total "))?;
    seconds_to_micros(value.trim())
}

/// `12.345678` seconds as µs; `None` unless digits with at most six
/// decimals (no sign, no exponent).
#[must_use]
pub fn seconds_to_micros(value: &str) -> Option<u64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = whole.parse::<u64>().ok()?;
    let mut micros = 0u64;
    // Digits only (checked above), at most six: no overflow.
    for digit in fraction.bytes().chain(std::iter::repeat(b'0')).take(6) {
        micros = micros * 10 + u64::from(digit - b'0');
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real line from a Linux 6.x `/proc/<pid>/stat`, with a name that
    /// holds spaces and parentheses.
    const STAT: &str = "11262 (one (ticket) x) S 1 11261 11261 0 -1 4194560 30893 0 0 0 \
        2912 591 0 0 20 0 2 0 158224 1171681280 12984 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17987 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat_gives_user_plus_system_ticks_and_threads() {
        assert_eq!(parse_stat(STAT), Some((2912 + 591, 2)));
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat("no name here"), None);
    }

    #[test]
    fn status_gives_resident_bytes() {
        let status = "Name:\toneticket\nVmPeak:\t 100 kB\nVmRSS:\t   51936 kB\nThreads:\t2\n";
        assert_eq!(parse_resident_bytes(status), Some(51_936 * 1024));
        assert_eq!(parse_resident_bytes("Name:\tx\n"), None);
        assert_eq!(parse_resident_bytes("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn this_process_reads_itself_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let stats = read_self().expect("/proc/self is readable on Linux");
        assert!(stats.threads >= 1);
        assert!(stats.resident_bytes.is_some_and(|b| b > 0));
        assert!(stats.open_fds.is_some_and(|n| n >= 3));
        // Burn some CPU: the counter only goes up.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let later = read_self().expect("readable again");
        assert!(later.cpu_ticks >= stats.cpu_ticks);
    }

    #[test]
    fn the_rendered_text_names_each_metric_with_its_type() {
        let mut out = String::new();
        render(
            &ProcessStats {
                cpu_ticks: 12_345,
                threads: 3,
                resident_bytes: Some(4096),
                open_fds: None,
            },
            &mut out,
        );
        assert!(out.contains(
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 123.45\n"
        ));
        assert!(out.contains("process_threads 3\n"));
        assert!(out.contains("process_resident_memory_bytes 4096\n"));
        assert!(!out.contains("process_open_fds"));
        assert_eq!(cpu_micros_in_exposition(&out), Some(123_450_000));
    }

    #[test]
    fn exposition_values_other_exporters_write_are_read_too() {
        assert_eq!(
            cpu_micros_in_exposition("process_cpu_seconds_total 7\n"),
            Some(7_000_000)
        );
        assert_eq!(
            cpu_micros_in_exposition("x 1\nprocess_cpu_seconds_total 0.000001\n"),
            Some(1)
        );
        assert_eq!(
            cpu_micros_in_exposition("process_cpu_seconds_total 1e3\n"),
            None
        );
        assert_eq!(
            cpu_micros_in_exposition("process_cpu_seconds_total -1\n"),
            None
        );
        assert_eq!(cpu_micros_in_exposition("nothing\n"), None);
        assert_eq!(seconds_to_micros("42.734783"), Some(42_734_783));
        assert_eq!(seconds_to_micros("1.1234567"), None);
    }

    proptest! {
        #[test]
        fn rendered_cpu_reads_back_exactly(ticks in 0u64..u64::MAX / 1_000_000) {
            let mut out = String::new();
            render(&ProcessStats { cpu_ticks: ticks, ..ProcessStats::default() }, &mut out);
            let stats = ProcessStats { cpu_ticks: ticks, ..ProcessStats::default() };
            prop_assert_eq!(cpu_micros_in_exposition(&out), Some(stats.cpu_micros()));
        }
    }
}
