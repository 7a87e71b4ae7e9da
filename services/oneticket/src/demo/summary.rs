//! The demo's summary: what the terminals and the app were told (the
//! tally), what Postgres recorded (parking stays and their peak
//! occupancy), what settlement paid each operator for the day (its
//! statement and its provisional vs settled totals), and the audit's
//! verdict; as text for people or JSON for tools (`--json`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use settlement::job::DayReport;
use settlement::outputs::{DayTotals, StatementLine};
use sqlx::{PgPool, Row};

use super::drive::{Mode, Tally};
use super::network::LotSite;
use super::scenario::{self, Rider};

/// Everything the demo reports.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The service day played.
    pub service_day: NaiveDate,
    /// `in_process` (the demo's own services on the day's clock) or
    /// `server` (a running server's clock).
    pub clock: &'static str,
    /// The plan's seed.
    pub seed: u64,
    /// The terminals' boot epoch of this run (every tap's journal key).
    pub boot_epoch: u32,
    /// Riders by category and payment.
    pub riders: RiderCensus,
    /// Terminals by kind.
    pub terminals: TerminalCensus,
    /// What the terminals and the app were told.
    pub tally: Tally,
    /// Peak occupancy of each lot during the day.
    pub parking: Vec<LotPeak>,
    /// What settlement did.
    pub settlement: Settled,
    /// The audit's verdict.
    pub audit: Audited,
}

/// Riders by category and payment.
#[derive(Debug, Serialize)]
pub struct RiderCensus {
    /// All riders.
    pub total: u64,
    /// By category and by payment (`adult`, `transit_card`, …).
    pub by_kind: std::collections::BTreeMap<&'static str, u64>,
}

impl RiderCensus {
    /// The census of `riders`.
    #[must_use]
    pub fn of(riders: &[Rider]) -> RiderCensus {
        RiderCensus {
            total: u64::try_from(riders.len()).unwrap_or(u64::MAX),
            by_kind: scenario::census(riders),
        }
    }
}

/// Terminals by kind.
#[derive(Debug, Serialize)]
pub struct TerminalCensus {
    /// Bus validators.
    pub bus_validators: usize,
    /// Metro gate lanes.
    pub metro_gates: usize,
    /// Parking gates.
    pub parking_gates: usize,
}

/// A lot's busiest moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LotPeak {
    /// The lot.
    pub lot_id: String,
    /// Its bays.
    pub capacity: u32,
    /// Stays that began during the day.
    pub stays: u64,
    /// Most vehicles in at once.
    pub peak: u64,
    /// When the peak was first reached (none without stays).
    pub peak_at: Option<DateTime<Utc>>,
}

/// What settlement did for the day.
#[derive(Debug, Serialize)]
pub struct Settled {
    /// The run's report.
    pub report: DayReport,
    /// The statement: one line per operator.
    pub operators: Vec<StatementLine>,
    /// Σ net revenue, VND.
    pub net_revenue_vnd: i64,
    /// The reconciliation's totals: provisional vs settled.
    pub totals: DayTotals,
}

/// The audit's verdict.
#[derive(Debug, Serialize)]
pub struct Audited {
    /// Every balance rebuilt and every invariant held.
    pub passed: bool,
    /// Accounts checked.
    pub accounts_checked: u64,
    /// Transfers replayed.
    pub transfers_replayed: u64,
    /// Findings of the ledger audit.
    pub ledger_findings: Vec<String>,
    /// Findings of the settlement audit.
    pub settlement_findings: Vec<String>,
}

/// Runs `oneticket audit`'s checks.
///
/// # Errors
/// The database failed.
pub async fn audit(pool: &PgPool) -> anyhow::Result<Audited> {
    let report = store_pg::audit(pool).await?;
    let settled = store_pg::settlement::audit_settlement(pool).await?;
    Ok(Audited {
        passed: report.findings.is_empty() && settled.is_empty(),
        accounts_checked: report.accounts_checked,
        transfers_replayed: report.transfers_replayed,
        ledger_findings: report.findings.iter().map(|f| format!("{f:?}")).collect(),
        settlement_findings: settled.iter().map(|f| format!("{f:?}")).collect(),
    })
}

/// The peak occupancy of every lot over the stays that began in
/// `[start, end)`.
///
/// # Errors
/// The database failed.
pub async fn parking_peaks(
    pool: &PgPool,
    lots: &[LotSite],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<LotPeak>> {
    let rows = sqlx::query(
        "SELECT site_id, entered_at, exited_at FROM parking.stay \
         WHERE entered_at >= $1 AND entered_at < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    let mut stays: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> =
        Vec::with_capacity(rows.len());
    for row in rows {
        stays.push((
            row.try_get("site_id")?,
            row.try_get("entered_at")?,
            row.try_get("exited_at")?,
        ));
    }
    Ok(lots
        .iter()
        .map(|lot| {
            let intervals: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = stays
                .iter()
                .filter(|(site, ..)| *site == lot.lot_id)
                .map(|(_, entered, exited)| (*entered, *exited))
                .collect();
            let (peak, peak_at) = peak_of(&intervals);
            LotPeak {
                lot_id: lot.lot_id.clone(),
                capacity: lot.capacity,
                stays: u64::try_from(intervals.len()).unwrap_or(u64::MAX),
                peak,
                peak_at,
            }
        })
        .collect())
}

/// Most intervals open at once and when that was first reached. An
/// interval is `[entered, exited)` (open-ended without an exit): a vehicle
/// leaving at the instant another enters is not counted twice.
#[must_use]
pub fn peak_of<T: Ord + Copy>(intervals: &[(T, Option<T>)]) -> (u64, Option<T>) {
    // (time, +1 | −1); at equal times exits (false < true) come first.
    let mut edges: Vec<(T, bool)> = Vec::with_capacity(intervals.len() * 2);
    for (entered, exited) in intervals {
        match exited {
            // An empty stay is never open.
            Some(exited) if exited <= entered => {}
            Some(exited) => {
                edges.push((*entered, true));
                edges.push((*exited, false));
            }
            None => edges.push((*entered, true)),
        }
    }
    edges.sort_unstable();
    let (mut open, mut peak, mut peak_at) = (0u64, 0u64, None);
    for (at, entry) in edges {
        if entry {
            open += 1;
            if open > peak {
                peak = open;
                peak_at = Some(at);
            }
        } else {
            open = open.saturating_sub(1);
        }
    }
    (peak, peak_at)
}

/// `1234567` → `1,234,567` (negative amounts keep their sign).
#[must_use]
pub fn grouped(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if amount < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl Summary {
    /// The summary as text for people.
    #[must_use]
    pub fn text(&self, local: impl Fn(DateTime<Utc>) -> String) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "OneTicket demo — service day {} ({}), seed {}",
            self.service_day,
            match self.clock {
                "in_process" => "the day's clock",
                _ => "the server's clock",
            },
            self.seed
        ));
        line(String::new());
        let kind = |k: &str| self.riders.by_kind.get(k).copied().unwrap_or(0);
        line(format!(
            "Riders     {} ({} adult, {} student, {} exempt; {} transit card, {} bank card, {} app QR)",
            self.riders.total,
            kind("adult"),
            kind("student"),
            kind("exempt"),
            kind("transit_card"),
            kind("bank_card"),
            kind("app_qr"),
        ));
        let t = &self.tally;
        let passes: Vec<String> = t
            .passes_bought
            .iter()
            .map(|(p, n)| format!("{n} {p}"))
            .collect();
        line(format!(
            "App        {} top-ups ({} VND), passes: {}{}, {} QR tickets, {} categories verified",
            t.top_ups,
            grouped(t.top_ups_vnd),
            if passes.is_empty() {
                "none".to_owned()
            } else {
                passes.join(", ")
            },
            if t.passes_refused > 0 {
                format!(" ({} refused: wallet too low)", t.passes_refused)
            } else {
                String::new()
            },
            t.tickets_issued,
            t.categories_verified,
        ));
        line(format!(
            "Terminals  {} bus validators, {} metro gate lanes, {} parking gates ({} registered now, {} by an earlier run)",
            self.terminals.bus_validators,
            self.terminals.metro_gates,
            self.terminals.parking_gates,
            t.terminals_registered,
            t.terminals_present,
        ));
        line(String::new());
        line(format!("Taps       {} in all", t.total_taps()));
        for mode in [Mode::Bus, Mode::Metro, Mode::Parking] {
            let rows: Vec<String> = t
                .taps
                .iter()
                .filter(|c| c.mode == mode)
                .map(|c| match &c.reason {
                    Some(reason) => format!("{} {} ({reason})", c.taps, c.decision),
                    None => format!("{} {}", c.taps, c.decision),
                })
                .collect();
            line(format!("  {:<8} {}", mode.as_str(), rows.join(", ")));
        }
        line(String::new());
        line("Parking    peak occupancy".to_owned());
        for lot in &self.parking {
            line(format!(
                "  {:<8} {:>4} of {:<4} {}({} stays)",
                lot.lot_id,
                lot.peak,
                lot.capacity,
                lot.peak_at
                    .map(|at| format!("at {} ", local(at)))
                    .unwrap_or_default(),
                lot.stays
            ));
        }
        line(String::new());
        let s = &self.settlement;
        line(format!(
            "Settlement {} accounts settled, {} failed, {} transfers posted ({} adjustments)",
            s.report.settled, s.report.failed, s.report.transfers, s.report.adjustments
        ));
        line(format!(
            "  {:<12} {:>6} {:>16} {:>14} {:>14}",
            "operator", "legs", "fares settled", "parking", "net revenue"
        ));
        for o in &s.operators {
            line(format!(
                "  {:<12} {:>6} {:>16} {:>14} {:>14}",
                o.operator_id,
                o.legs,
                grouped(o.fares_settled_vnd + o.incomplete_vnd + o.pass_recognised_vnd),
                grouped(o.parking_vnd),
                grouped(o.net_revenue_vnd)
            ));
        }
        line(format!(
            "  {:<12} {:>6} {:>16} {:>14} {:>14} VND",
            "total",
            "",
            "",
            "",
            grouped(s.net_revenue_vnd)
        ));
        let d = &s.totals;
        line(format!(
            "  riders were charged {} VND provisionally (gates and app) and {} VND settled (re-priced, caps apportioned)",
            grouped(d.provisional_vnd),
            grouped(d.settled_vnd),
        ));
        line(format!(
            "  wallets paid {} = operators {} + passes not yet earned {} + penalties {} + fees {}: {}",
            grouped(d.rider_debits_vnd),
            grouped(d.operator_credits_vnd),
            grouped(d.pass_sales_vnd - d.pass_recognitions_vnd),
            grouped(d.penalties_vnd),
            grouped(d.platform_fees_vnd),
            if d.balanced {
                "balanced"
            } else {
                "NOT BALANCED"
            }
        ));
        line(String::new());
        let a = &self.audit;
        line(format!(
            "Audit      {} ({} accounts rebuilt from {} transfers; {} findings)",
            if a.passed { "passed" } else { "FAILED" },
            a.accounts_checked,
            a.transfers_replayed,
            a.ledger_findings.len() + a.settlement_findings.len()
        ));
        for finding in a.ledger_findings.iter().chain(&a.settlement_findings) {
            line(format!("  FAIL {finding}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_peak(intervals: &[(u32, Option<u32>)], expected: (u64, Option<u32>)) {
        assert_eq!(peak_of(intervals), expected, "{intervals:?}");
    }

    #[test]
    fn the_peak_is_the_most_vehicles_in_at_once() {
        check_peak(&[], (0, None));
        check_peak(&[(10, Some(20))], (1, Some(10)));
        check_peak(&[(10, Some(20)), (15, Some(30)), (25, None)], (2, Some(15)));
        // Leaving as another arrives is one bay, not two.
        check_peak(&[(10, Some(20)), (20, Some(30))], (1, Some(10)));
        check_peak(&[(10, None), (11, None), (12, None)], (3, Some(12)));
        check_peak(&[(10, Some(10)), (12, Some(13))], (1, Some(12)));
    }

    fn check_grouped(amount: i64, expected: &str) {
        assert_eq!(grouped(amount), expected);
    }

    #[test]
    fn amounts_are_grouped_by_thousands() {
        check_grouped(0, "0");
        check_grouped(999, "999");
        check_grouped(1_000, "1,000");
        check_grouped(1_234_567, "1,234,567");
        check_grouped(-19_000, "-19,000");
        check_grouped(i64::MIN, "-9,223,372,036,854,775,808");
    }

    proptest! {
        #[test]
        fn the_peak_matches_counting_at_every_arrival(
            stays in proptest::collection::vec((0u32..1_000, proptest::option::of(0u32..500)), 0..40)
        ) {
            let intervals: Vec<(u32, Option<u32>)> = stays
                .iter()
                .map(|(entered, length)| (*entered, length.map(|l| entered + l)))
                .collect();
            let open_at = |t: u32| {
                intervals
                    .iter()
                    .filter(|(e, x)| *e <= t && x.is_none_or(|x| x > t))
                    .count()
            };
            let brute = intervals.iter().map(|(e, _)| open_at(*e)).max().unwrap_or(0);
            let (peak, at) = peak_of(&intervals);
            prop_assert_eq!(peak, u64::try_from(brute).unwrap());
            if let Some(at) = at {
                prop_assert_eq!(u64::try_from(open_at(at)).unwrap(), peak);
            }
        }

        #[test]
        fn grouping_keeps_the_digits(amount: i64) {
            prop_assert_eq!(grouped(amount).replace(',', ""), amount.to_string());
        }
    }
}
