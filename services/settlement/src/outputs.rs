//! The day's outputs, written to `DIR/<service day>/`:
//!
//! - `statement.csv` and `statement.json`: one line per operator: legs,
//!   full fares, discounts, cap reductions, fares charged by the engine and
//!   settled (apportioned), incomplete-journey charges, pass revenue
//!   recognised, parking, **net revenue** (settled fares + incomplete +
//!   pass revenue + parking), and the net of the day's adjustment
//!   transfers (already inside the other figures: it says how much of the
//!   day was paid as later corrections).
//! - `fare_transactions.csv`: TIDES-style fare transactions (the TIDES
//!   `fare_transactions` table, `spec/fare_transactions.schema.json`), one
//!   row per settled rider transaction, see [`TIDES_COLUMNS`].
//! - `reconciliation.json`: totals that must balance, provisional vs
//!   settled per account (the accounts that differ, and the sums), journal
//!   gaps per terminal boot, taps with unknown media, and account-days
//!   that could not be settled.
//!
//! **TIDES mapping.** `transaction_id`: the event key (`:incomplete` added
//! for the charge of an incomplete trip, `close:<day>:<account>:incomplete`
//! for one closed at the day's close); `service_date`; `event_timestamp`
//! (RFC 3339); `amount`: what the rider paid for the row as settled (the
//! top-up for an `Add`, 0 for a tap in: a hold is not a charge; on a capped
//! day the engine's charge, since the apportionment moves revenue between
//! operators, not the rider's charge);
//! `currency_type` `VND`; `fare_action`: top-up `Add`, pass `Purchase`,
//! bus boarding and metro tap in `Enter` (`Transfer entrance` with a
//! transfer discount), metro tap out `Exit` (`Transfer exit` with a
//! discount), an incomplete trip's charge `Adjust`, parking `Other`;
//! `device_id`: the terminal of a tap; `stop_id`: the metro station;
//! `group_size` 1; `media_type` from the tap's medium (transit card →
//! `Smart card or ticket`, bank card → `Bank card`, QR → `Optical scan`,
//! plate → `Other type`); `rider_category`; `fare_product`: `Single ride`,
//! `Exempt` or the pass id; `fare_capped`: a cap reduced the fare;
//! `balance`: the wallet after the event. Left empty because OneTicket
//! does not have them: `trip_id_performed`, `pattern_id`, `stop_sequence`,
//! `vehicle_id`, `fare_id` (a GTFS v1 field; fares are GTFS-Fares v2),
//! `fare_period`; and, deliberately, `fare_media_id` and
//! `fare_media_id_purchased` (card ids stay out of exports). Denied events
//! are not transactions and are not listed; the reconciliation counts them.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, SecondsFormat};
use fares::engine::{Coverage, Engine, EventKind};
use ledger::Money;
use serde::Serialize;
use store_pg::settlement::{
    AccountDayTotals, JournalGap, MAX_REPORT_ROWS, OperatorTotals, UnknownMediumTaps,
};

use crate::job::{SettleError, Settler};
use crate::plan::{DayPlan, Line, LineKind, LineSource, Settled};

/// Accounts per page of the export passes (same reasoning as the job's).
pub const EXPORT_ACCOUNTS_PER_PAGE: u32 = 500;

/// The TIDES `fare_transactions` columns, in the schema's order.
pub const TIDES_COLUMNS: [&str; 22] = [
    "transaction_id",
    "service_date",
    "event_timestamp",
    "amount",
    "currency_type",
    "fare_action",
    "trip_id_performed",
    "pattern_id",
    "stop_sequence",
    "vehicle_id",
    "device_id",
    "fare_id",
    "stop_id",
    "group_size",
    "media_type",
    "rider_category",
    "fare_product",
    "fare_period",
    "fare_capped",
    "fare_media_id",
    "fare_media_id_purchased",
    "balance",
];

/// Why outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Reading what was settled failed.
    #[error(transparent)]
    Settle(#[from] SettleError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store_pg::StoreError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CSV row could not be written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
    /// A sum left the range of `Money`.
    #[error("amount overflow in the outputs")]
    Overflow,
}

/// One operator's statement line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    /// The operator.
    pub operator_id: String,
    /// Accounts that rode, parked or used a pass with it.
    pub accounts: i64,
    /// Bus boardings and completed metro trips.
    pub legs: i64,
    /// Σ full fares.
    pub full_fares_vnd: i64,
    /// Σ transfer discounts.
    pub discounts_vnd: i64,
    /// Σ cap reductions.
    pub cap_reductions_vnd: i64,
    /// Σ the engine's charges.
    pub fares_charged_vnd: i64,
    /// Σ settled fares (apportioned on capped days).
    pub fares_settled_vnd: i64,
    /// Σ incomplete-journey charges.
    pub incomplete_vnd: i64,
    /// Σ pass revenue recognised.
    pub pass_recognised_vnd: i64,
    /// Σ parking fees.
    pub parking_vnd: i64,
    /// Settled fares + incomplete + pass revenue + parking.
    pub net_revenue_vnd: i64,
    /// Net of the day's adjustment transfers (included above).
    pub adjustments_vnd: i64,
}

/// The day's statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The service day.
    pub service_day: NaiveDate,
    /// Always `VND`.
    pub currency: &'static str,
    /// One line per operator, by code.
    pub operators: Vec<StatementLine>,
    /// Σ net revenue.
    pub net_revenue_vnd: i64,
}

fn statement_line(t: &OperatorTotals) -> Result<StatementLine, OutputError> {
    let net = Money::checked_sum([
        Money::vnd(t.fares_settled_vnd),
        Money::vnd(t.incomplete_vnd),
        Money::vnd(t.pass_recognised_vnd),
        Money::vnd(t.parking_vnd),
    ])
    .map_err(|_| OutputError::Overflow)?;
    Ok(StatementLine {
        operator_id: t.operator_id.clone(),
        accounts: t.accounts,
        legs: t.legs,
        full_fares_vnd: t.full_fares_vnd,
        discounts_vnd: t.discounts_vnd,
        cap_reductions_vnd: t.cap_reductions_vnd,
        fares_charged_vnd: t.fares_charged_vnd,
        fares_settled_vnd: t.fares_settled_vnd,
        incomplete_vnd: t.incomplete_vnd,
        pass_recognised_vnd: t.pass_recognised_vnd,
        parking_vnd: t.parking_vnd,
        net_revenue_vnd: net.as_vnd(),
        adjustments_vnd: t.adjustments_vnd,
    })
}

/// The statement of `day` from what was settled.
///
/// # Errors
/// The database failed, or an overflow.
pub async fn statement(settler: &Settler, day: NaiveDate) -> Result<Statement, OutputError> {
    let operators = settler
        .store()
        .operator_totals(day)
        .await?
        .iter()
        .map(statement_line)
        .collect::<Result<Vec<_>, _>>()?;
    let net = Money::checked_sum(operators.iter().map(|o| Money::vnd(o.net_revenue_vnd)))
        .map_err(|_| OutputError::Overflow)?;
    Ok(Statement {
        service_day: day,
        currency: "VND",
        operators,
        net_revenue_vnd: net.as_vnd(),
    })
}

/// Σ over the day's settled account-days.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayTotals {
    /// Account-days settled.
    pub accounts: i64,
    /// Events settled.
    pub events: i64,
    /// What the hot path charged.
    pub provisional_vnd: i64,
    /// What settlement charged (debits plus the change of open holds).
    pub settled_vnd: i64,
    /// Rider wallet debits.
    pub rider_debits_vnd: i64,
    /// Operator revenue credits.
    pub operator_credits_vnd: i64,
    /// Penalties credits.
    pub penalties_vnd: i64,
    /// Platform fee credits.
    pub platform_fees_vnd: i64,
    /// Pass sales (unearned revenue credits).
    pub pass_sales_vnd: i64,
    /// Pass revenue recognised (unearned revenue debits).
    pub pass_recognitions_vnd: i64,
    /// Σ adjustment amounts.
    pub adjustments_vnd: i64,
    /// `rider debits = operator credits + penalties + platform fees + pass
    /// sales − pass recognitions`.
    pub balanced: bool,
}

/// An account whose settled charge differs from the provisional one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountDifference {
    /// The wallet.
    pub account_id: uuid::Uuid,
    /// What the hot path charged.
    pub provisional_vnd: i64,
    /// What settlement charged.
    pub settled_vnd: i64,
    /// Settled − provisional.
    pub difference_vnd: i64,
}

/// An account-day that could not be settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The wallet.
    pub account_id: uuid::Uuid,
    /// Why.
    pub error: String,
}

/// A terminal boot's journal progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The terminal.
    pub terminal_id: String,
    /// Its boot epoch.
    pub boot_epoch: i64,
    /// Contiguously acknowledged up to this seq.
    pub watermark: i64,
    /// The highest seq seen.
    pub max_seq_seen: i64,
    /// Seqs above the watermark not uploaded yet.
    pub missing: i64,
}

/// Taps with an unknown medium at one terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unknown {
    /// The terminal.
    pub terminal_id: String,
    /// Its operator.
    pub operator_id: String,
    /// The medium kind.
    pub medium_kind: String,
    /// Taps.
    pub taps: i64,
    /// Of which the gate let through (offline).
    pub accepted: i64,
}

/// The reconciliation report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// The service day.
    pub service_day: NaiveDate,
    /// Sums that must balance.
    pub totals: DayTotals,
    /// Accounts whose settled charge differs from the provisional one (at
    /// most `MAX_REPORT_ROWS`; the totals cover all).
    pub differences: Vec<AccountDifference>,
    /// Journal gaps of the terminals that tapped that day.
    pub journal_gaps: Vec<Gap>,
    /// Taps whose medium resolved to no account.
    pub unknown_media: Vec<Unknown>,
    /// Account-days not settled, and why.
    pub failures: Vec<Failure>,
}

fn add(total: &mut i64, amount: i64) -> Result<(), OutputError> {
    *total = total.checked_add(amount).ok_or(OutputError::Overflow)?;
    Ok(())
}

fn totals_add(t: &mut DayTotals, a: &AccountDayTotals) -> Result<(), OutputError> {
    add(&mut t.accounts, 1)?;
    add(&mut t.events, i64::from(a.event_count))?;
    add(&mut t.provisional_vnd, a.provisional_vnd)?;
    add(&mut t.settled_vnd, a.settled_vnd)?;
    add(&mut t.rider_debits_vnd, a.rider_debits_vnd)?;
    add(&mut t.operator_credits_vnd, a.operator_credits_vnd)?;
    add(&mut t.penalties_vnd, a.penalties_vnd)?;
    add(&mut t.platform_fees_vnd, a.platform_fees_vnd)?;
    add(&mut t.pass_sales_vnd, a.pass_sales_vnd)?;
    add(&mut t.pass_recognitions_vnd, a.pass_recognitions_vnd)?;
    add(&mut t.adjustments_vnd, a.adjustments_vnd)
}

/// The reconciliation report of `day`, reading the settled account-days
/// page by page.
///
/// # Errors
/// The database failed, or an overflow.
pub async fn reconciliation(
    settler: &Settler,
    day: NaiveDate,
) -> Result<Reconciliation, OutputError> {
    let store = settler.store();
    let mut totals = DayTotals::default();
    let mut differences = Vec::new();
    let max_rows = usize::try_from(MAX_REPORT_ROWS).unwrap_or(usize::MAX);
    let mut after = None;
    loop {
        let page = store
            .account_totals(day, after, EXPORT_ACCOUNTS_PER_PAGE)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.account_id);
        for a in &page {
            totals_add(&mut totals, a)?;
            if a.provisional_vnd != a.settled_vnd && differences.len() < max_rows {
                differences.push(AccountDifference {
                    account_id: a.account_id,
                    provisional_vnd: a.provisional_vnd,
                    settled_vnd: a.settled_vnd,
                    difference_vnd: a.settled_vnd.saturating_sub(a.provisional_vnd),
                });
            }
        }
    }
    let right = i128::from(totals.operator_credits_vnd)
        + i128::from(totals.penalties_vnd)
        + i128::from(totals.platform_fees_vnd)
        + i128::from(totals.pass_sales_vnd)
        - i128::from(totals.pass_recognitions_vnd);
    totals.balanced = right == i128::from(totals.rider_debits_vnd);
    Ok(Reconciliation {
        service_day: day,
        totals,
        differences,
        journal_gaps: store
            .journal_gaps(day)
            .await?
            .into_iter()
            .map(gap)
            .collect(),
        unknown_media: store
            .unknown_media(day)
            .await?
            .into_iter()
            .map(unknown)
            .collect(),
        failures: store
            .failures(day)
            .await?
            .into_iter()
            .map(|(account_id, error)| Failure { account_id, error })
            .collect(),
    })
}

fn gap(g: JournalGap) -> Gap {
    Gap {
        terminal_id: g.terminal_id,
        boot_epoch: g.boot_epoch,
        watermark: g.watermark,
        max_seq_seen: g.max_seq_seen,
        missing: g.missing,
    }
}

fn unknown(u: UnknownMediumTaps) -> Unknown {
    Unknown {
        terminal_id: u.terminal_id,
        operator_id: u.operator_id,
        medium_kind: u.medium_kind,
        taps: u.taps,
        accepted: u.accepted,
    }
}

fn media_type(kind: Option<&str>) -> &'static str {
    match kind {
        Some("transit_card") => "Smart card or ticket",
        Some("bank_card") => "Bank card",
        Some("qr") => "Optical scan",
        Some("plate") => "Other type",
        _ => "",
    }
}

/// The TIDES rows of one settled account-day: one per accepted
/// transaction (see the module docs).
#[must_use]
pub fn tides_rows(
    engine: &Engine,
    day: NaiveDate,
    rows: &[store_pg::settlement::EventInput],
    plan: &DayPlan,
) -> Vec<[String; 22]> {
    let mut out = Vec::new();
    for line in &plan.lines {
        if line.settled != Settled::Accept || line.kind == LineKind::PassExpiry {
            continue;
        }
        let key = match &line.source {
            LineSource::Event(key) => key.as_str().to_owned(),
            LineSource::DayClose => format!("close:{day}:{}", plan.account),
        };
        let row = match &line.source {
            LineSource::Event(key) => rows.iter().find(|r| r.event_key == key.as_str()),
            LineSource::DayClose => None,
        };
        let transaction_id = if line.kind == LineKind::IncompleteTrip {
            format!("{key}:incomplete")
        } else {
            key.clone()
        };
        let device = key
            .strip_prefix("tap:")
            .and_then(|rest| rest.split(':').next())
            .filter(|_| row.is_some())
            .unwrap_or_default();
        let stop = match line.event {
            Some(EventKind::MetroIn { station, .. } | EventKind::MetroOut { station }) => {
                engine.station_id(station).unwrap_or_default().to_owned()
            }
            _ => String::new(),
        };
        out.push([
            transaction_id,
            day.to_string(),
            line.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            amount(line).to_string(),
            "VND".to_owned(),
            fare_action(line).to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            device.to_owned(),
            String::new(),
            stop,
            "1".to_owned(),
            media_type(row.and_then(|r| r.medium_kind.as_deref())).to_owned(),
            row.and_then(|r| r.category_id.clone()).unwrap_or_default(),
            fare_product(engine, line),
            String::new(),
            line.cap_reduction.is_positive().to_string(),
            String::new(),
            String::new(),
            line.balance
                .map(|b| b.as_vnd().to_string())
                .unwrap_or_default(),
        ]);
    }
    out
}

/// What the rider paid for the row: the engine's charge (on a capped day
/// the apportionment moves revenue between operators, not the rider's
/// charge), an incomplete trip's charge, a pass, a parking fee (with a
/// lost-ticket fee); a top-up's amount for an `Add`.
fn amount(line: &Line) -> i64 {
    if line.kind == LineKind::TopUp {
        return line.top_up.as_vnd();
    }
    Money::checked_sum([
        line.fare_charged,
        line.incomplete_charge,
        line.pass_price,
        line.parking_fee,
        line.lost_ticket_fee,
    ])
    .map_or(i64::MAX, Money::as_vnd)
}

fn fare_action(line: &Line) -> &'static str {
    let transfer = line.discount.is_positive();
    match line.kind {
        LineKind::TopUp => "Add",
        LineKind::PassSale => "Purchase",
        LineKind::Bus | LineKind::MetroIn if transfer => "Transfer entrance",
        LineKind::Bus | LineKind::MetroIn => "Enter",
        LineKind::MetroOut if transfer => "Transfer exit",
        LineKind::MetroOut => "Exit",
        LineKind::IncompleteTrip => "Adjust",
        LineKind::ParkIn | LineKind::ParkOut | LineKind::PassExpiry => "Other",
    }
}

fn fare_product(engine: &Engine, line: &Line) -> String {
    if line.kind == LineKind::PassSale {
        return line
            .pass
            .and_then(|p| engine.pass_id(p))
            .unwrap_or_default()
            .to_owned();
    }
    match line.coverage {
        Some(Coverage::Fare) => "Single ride".to_owned(),
        Some(Coverage::Exempt) => "Exempt".to_owned(),
        Some(Coverage::Pass(p)) => engine.pass_id(p).unwrap_or_default().to_owned(),
        None => String::new(),
    }
}

/// What [`write_day`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Written {
    /// The directory of the day.
    pub dir: PathBuf,
    /// The statement.
    pub statement: Statement,
    /// The reconciliation report.
    pub reconciliation: Reconciliation,
    /// TIDES rows written.
    pub fare_transactions: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> OutputError + '_ {
    move |source| OutputError::Csv {
        path: path.to_owned(),
        source,
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), OutputError> {
    let file = File::create(path).map_err(io(path))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| OutputError::Io {
        path: path.to_owned(),
        source: e.into(),
    })?;
    out.write_all(b"\n").map_err(io(path))?;
    out.flush().map_err(io(path))
}

/// Writes the statement, the TIDES export and the reconciliation of `day`
/// into `out_dir/<day>/`.
///
/// # Errors
/// See [`OutputError`].
pub async fn write_day(
    settler: &Settler,
    day: NaiveDate,
    out_dir: &Path,
) -> Result<Written, OutputError> {
    let dir = out_dir.join(day.to_string());
    fs::create_dir_all(&dir).map_err(io(&dir))?;

    let statement = statement(settler, day).await?;
    let path = dir.join("statement.csv");
    let mut csv = csv::Writer::from_path(&path).map_err(csv_error(&path))?;
    csv.write_record([
        "service_day",
        "operator_id",
        "accounts",
        "legs",
        "full_fares_vnd",
        "discounts_vnd",
        "cap_reductions_vnd",
        "fares_charged_vnd",
        "fares_settled_vnd",
        "incomplete_vnd",
        "pass_recognised_vnd",
        "parking_vnd",
        "net_revenue_vnd",
        "adjustments_vnd",
    ])
    .map_err(csv_error(&path))?;
    for o in &statement.operators {
        csv.write_record([
            day.to_string(),
            o.operator_id.clone(),
            o.accounts.to_string(),
            o.legs.to_string(),
            o.full_fares_vnd.to_string(),
            o.discounts_vnd.to_string(),
            o.cap_reductions_vnd.to_string(),
            o.fares_charged_vnd.to_string(),
            o.fares_settled_vnd.to_string(),
            o.incomplete_vnd.to_string(),
            o.pass_recognised_vnd.to_string(),
            o.parking_vnd.to_string(),
            o.net_revenue_vnd.to_string(),
            o.adjustments_vnd.to_string(),
        ])
        .map_err(csv_error(&path))?;
    }
    csv.flush().map_err(io(&path))?;
    write_json(&dir.join("statement.json"), &statement)?;

    let path = dir.join("fare_transactions.csv");
    let mut csv = csv::Writer::from_path(&path).map_err(csv_error(&path))?;
    csv.write_record(TIDES_COLUMNS).map_err(csv_error(&path))?;
    let mut written = 0u64;
    let mut after = None;
    loop {
        let (last, plans) = settler
            .settled_plans(day, after, EXPORT_ACCOUNTS_PER_PAGE)
            .await?;
        let Some(last) = last else {
            break;
        };
        after = Some(last);
        for (rows, plan) in &plans {
            for record in tides_rows(settler.engine(), day, rows, plan) {
                csv.write_record(&record).map_err(csv_error(&path))?;
                written += 1;
            }
        }
    }
    csv.flush().map_err(io(&path))?;

    let reconciliation = reconciliation(settler, day).await?;
    write_json(&dir.join("reconciliation.json"), &reconciliation)?;
    Ok(Written {
        dir,
        statement,
        reconciliation,
        fare_transactions: written,
    })
}
