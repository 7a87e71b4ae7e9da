//! The audit: rebuilds every account's totals from the transfer log and
//! checks them against the stored totals, checks conservation per currency,
//! limits, and the bookkeeping of pending transfers. It trusts nothing the
//! adapter wrote except the log itself, and reports every problem it finds;
//! an empty report is a pass.
//!
//! Sums are computed as `numeric` in SQL and read as text into `i128`, so a
//! corrupt total near `i64::MAX` is reported, not an overflow error.

use ledger::{AccountId, Currency, TransferId};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;
use crate::rows;

/// An account's four totals, `[debits_pending, debits_posted,
/// credits_pending, credits_posted]`, in dong.
pub type Totals = [i128; 4];

/// Which pair of totals a conservation finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `debits_pending` and `credits_pending`.
    Pending,
    /// `debits_posted` and `credits_posted`.
    Posted,
}

/// One problem the audit found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Stored totals differ from the replay of the log.
    TotalsMismatch {
        /// The account.
        account_id: AccountId,
        /// What the account row says.
        stored: Totals,
        /// What the transfers add up to.
        rebuilt: Totals,
    },
    /// Σ debits ≠ Σ credits over the stored totals of one currency.
    Unbalanced {
        /// The currency.
        currency: Currency,
        /// Pending or posted.
        phase: Phase,
        /// Σ debits.
        debits: i128,
        /// Σ credits.
        credits: i128,
    },
    /// An account past its hard balance limit, or with a negative total.
    LimitBreached {
        /// The account.
        account_id: AccountId,
    },
    /// A pending transfer whose open/resolved bookkeeping disagrees:
    /// open but not queued for expiry, queued but resolved, resolved by an
    /// expiry before it was due, or resolved by a transfer that does not
    /// name it.
    PendingBookkeeping {
        /// The pending transfer.
        pending_id: TransferId,
        /// What is wrong.
        problem: String,
    },
}

/// What the audit found; empty means the ledger passed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Every problem found.
    pub findings: Vec<Finding>,
    /// How many accounts were checked.
    pub accounts_checked: u64,
    /// How many transfers were replayed.
    pub transfers_replayed: u64,
}

impl AuditReport {
    /// True when nothing is wrong.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

fn int(row: &sqlx::postgres::PgRow, column: &str) -> Result<i128, StoreError> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} = {text:?} is not an integer")))
}

fn totals(row: &sqlx::postgres::PgRow, prefix: &str) -> Result<Totals, StoreError> {
    Ok([
        int(row, &format!("{prefix}_dpe"))?,
        int(row, &format!("{prefix}_dpo"))?,
        int(row, &format!("{prefix}_cpe"))?,
        int(row, &format!("{prefix}_cpo"))?,
    ])
}

/// Runs every check in one repeatable-read transaction, so the checks see
/// one consistent state even while the ledger keeps taking transfers.
#[tracing::instrument(skip_all)]
pub async fn audit(pool: &PgPool) -> Result<AuditReport, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut report = AuditReport::default();

    // I6: stored totals = replay of the log. A pending transfer holds its
    // amount until a resolution row exists; a post moves its own amount.
    let rows = sqlx::query(
        "WITH contribution AS ( \
           SELECT t.debit_account_id AS account_id, \
             CASE WHEN t.kind = 'pending' AND r.pending_id IS NULL THEN t.amount_vnd ELSE 0 END AS dpe, \
             CASE WHEN t.kind IN ('direct', 'post') THEN t.amount_vnd ELSE 0 END AS dpo, \
             0 AS cpe, 0 AS cpo \
           FROM ledger.transfer t LEFT JOIN ledger.pending_resolution r ON r.pending_id = t.transfer_id \
           UNION ALL \
           SELECT t.credit_account_id, 0, 0, \
             CASE WHEN t.kind = 'pending' AND r.pending_id IS NULL THEN t.amount_vnd ELSE 0 END, \
             CASE WHEN t.kind IN ('direct', 'post') THEN t.amount_vnd ELSE 0 END \
           FROM ledger.transfer t LEFT JOIN ledger.pending_resolution r ON r.pending_id = t.transfer_id \
         ), rebuilt AS ( \
           SELECT account_id, sum(dpe::numeric) AS dpe, sum(dpo::numeric) AS dpo, \
             sum(cpe::numeric) AS cpe, sum(cpo::numeric) AS cpo \
           FROM contribution GROUP BY account_id \
         ) \
         SELECT a.account_id, \
           a.debits_pending_vnd::text AS stored_dpe, a.debits_posted_vnd::text AS stored_dpo, \
           a.credits_pending_vnd::text AS stored_cpe, a.credits_posted_vnd::text AS stored_cpo, \
           COALESCE(r.dpe, 0)::text AS rebuilt_dpe, COALESCE(r.dpo, 0)::text AS rebuilt_dpo, \
           COALESCE(r.cpe, 0)::text AS rebuilt_cpe, COALESCE(r.cpo, 0)::text AS rebuilt_cpo \
         FROM ledger.account a LEFT JOIN rebuilt r USING (account_id) \
         ORDER BY a.account_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        report.accounts_checked += 1;
        let stored = totals(row, "stored")?;
        let rebuilt = totals(row, "rebuilt")?;
        if stored != rebuilt {
            report.findings.push(Finding::TotalsMismatch {
                account_id: rows::account_id(row.try_get("account_id")?)?,
                stored,
                rebuilt,
            });
        }
    }
    let replayed: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger.transfer")
        .fetch_one(&mut *tx)
        .await?;
    report.transfers_replayed = u64::try_from(replayed).unwrap_or_default();

    // I1: conservation over the stored totals, per currency.
    let rows = sqlx::query(
        "SELECT currency, sum(debits_pending_vnd::numeric)::text AS dpe, \
           sum(credits_pending_vnd::numeric)::text AS cpe, \
           sum(debits_posted_vnd::numeric)::text AS dpo, \
           sum(credits_posted_vnd::numeric)::text AS cpo \
         FROM ledger.account GROUP BY currency ORDER BY currency",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let code: i16 = row.try_get("currency")?;
        let currency = u16::try_from(code)
            .ok()
            .and_then(|code| Currency::from_iso_numeric(code).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("currency {code}")))?;
        for (phase, debits, credits) in [
            (Phase::Pending, int(row, "dpe")?, int(row, "cpe")?),
            (Phase::Posted, int(row, "dpo")?, int(row, "cpo")?),
        ] {
            if debits != credits {
                report.findings.push(Finding::Unbalanced {
                    currency,
                    phase,
                    debits,
                    credits,
                });
            }
        }
    }

    // I5: hard limits and non-negative totals.
    let breached: Vec<Uuid> = sqlx::query_scalar(
        "SELECT account_id FROM ledger.account WHERE \
           least(debits_pending_vnd, debits_posted_vnd, credits_pending_vnd, credits_posted_vnd) < 0 \
           OR (limit_kind = 'debits_must_not_exceed_credits' AND \
               debits_pending_vnd::numeric + debits_posted_vnd > credits_posted_vnd::numeric + overdraft_limit_vnd) \
           OR (limit_kind = 'credits_must_not_exceed_debits' AND \
               credits_pending_vnd::numeric + credits_posted_vnd > debits_posted_vnd::numeric + overdraft_limit_vnd) \
         ORDER BY account_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for id in breached {
        report.findings.push(Finding::LimitBreached {
            account_id: rows::account_id(id)?,
        });
    }

    // I4: pending bookkeeping.
    let rows = sqlx::query(
        "SELECT t.transfer_id AS pending_id, 'open but not queued for expiry' AS problem \
           FROM ledger.transfer t \
           WHERE t.kind = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM ledger.pending_resolution r WHERE r.pending_id = t.transfer_id) \
             AND NOT EXISTS (SELECT 1 FROM ledger.pending_open o WHERE o.pending_id = t.transfer_id) \
         UNION ALL \
         SELECT o.pending_id, 'queued for expiry but resolved' \
           FROM ledger.pending_open o JOIN ledger.pending_resolution r USING (pending_id) \
         UNION ALL \
         SELECT o.pending_id, 'queued with the wrong expiry' \
           FROM ledger.pending_open o JOIN ledger.transfer t ON t.transfer_id = o.pending_id \
           WHERE o.expires_at <> t.expires_at \
         UNION ALL \
         SELECT r.pending_id, 'expired before it was due' \
           FROM ledger.pending_resolution r JOIN ledger.transfer t ON t.transfer_id = r.pending_id \
           WHERE r.resolution = 'expired' AND r.resolved_at < t.expires_at \
         UNION ALL \
         SELECT r.pending_id, 'resolved by a transfer of the wrong kind' \
           FROM ledger.pending_resolution r JOIN ledger.transfer t ON t.transfer_id = r.resolving_transfer_id \
           WHERE (r.resolution = 'posted' AND t.kind <> 'post') \
              OR (r.resolution = 'voided' AND t.kind <> 'void') \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let problem: String = row.try_get("problem")?;
        report.findings.push(Finding::PendingBookkeeping {
            pending_id: rows::transfer_id(row.try_get("pending_id")?)?,
            problem,
        });
    }
    tx.commit().await?;
    Ok(report)
}
