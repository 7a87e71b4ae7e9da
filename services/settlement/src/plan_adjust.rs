//! Re-settlement: what to post when an account-day's ledger already holds
//! some settlement (a re-run, late taps, a changed day before it).
//!
//! Posted transfers are never edited, so a changed plan cannot simply be
//! posted again (its ids would collide with different bodies). Instead
//! [`reconcile`] compares the new plan with the facts the ledger holds for
//! the account-day and returns only what is missing:
//!
//! - **Holds keep their two-phase shape.** A pending transfer of the plan
//!   that the ledger does not have is created; a post or void of the plan
//!   whose pending transfer is still open is posted (its id is derived from
//!   the pending id, so it is the same whichever run posts it). A pending
//!   transfer of this account-day that the new plan no longer mentions and
//!   that is still open is voided, so no stale hold lingers.
//! - **Everything else is a net flow.** For each pair of accounts, the net
//!   posted flow the plan wants (directs and posts) is compared with the
//!   net posted flow the ledger holds for the account-day (after the holds
//!   above); a difference is posted as one direct transfer with code
//!   `Adjustment`, in the direction that closes it. Adjustments may
//!   overdraw the wallet within its overdraft limit (the ledger checks
//!   both sides even of a credit, and a settled charge is final).
//! - **On a first settlement** (the ledger holds nothing of the
//!   account-day) the plan's own transfers are posted as they are, and the
//!   net flows agree, so no adjustment is made. A re-run with the same
//!   inputs finds every id already posted and returns nothing.
//! - **Adjustment ids** are derived from the account-day and a digest of
//!   the ids the ledger held before the round, so each round has its own
//!   ids, and a round repeated after a crash (same facts) reuses them.

use std::collections::{BTreeMap, BTreeSet};

use ledger::{
    AccountId, Amount, Currency, Money, Movement, Overdraft, Transfer, TransferBody, TransferCode,
    TransferId, TransferRecord,
};
use ring::digest::{Context, SHA256};

use crate::plan::{DayPlan, account_day_reference};
use crate::plan_ids::{Source, resolution_id, settlement_transfer_id};

/// A pending transfer the plan or the ledger's postings name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingFact {
    /// The account its movement debits.
    pub debit: AccountId,
    /// The account its movement credits.
    pub credit: AccountId,
    /// What it holds.
    pub amount: Money,
    /// Whether it still holds (not posted, voided or expired).
    pub open: bool,
}

/// What the ledger holds for one account-day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerFacts {
    /// Every transfer carrying the account-day's reference.
    pub posted: Vec<TransferRecord>,
    /// Every pending transfer named by the plan or by `posted`, by id.
    pub pendings: BTreeMap<TransferId, PendingFact>,
}

/// Why a reconciliation cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// A post or void names a pending transfer nobody knows.
    #[error("pending transfer {0} is neither in the plan nor in the ledger")]
    UnknownPending(TransferId),
    /// A sum left the range of `Money`.
    #[error("amount overflow")]
    Overflow,
}

impl From<ledger::Overflow> for ReconcileError {
    fn from(_: ledger::Overflow) -> ReconcileError {
        ReconcileError::Overflow
    }
}

/// A net flow adjustment: `amount` moved from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// The account debited.
    pub from: AccountId,
    /// The account credited.
    pub to: AccountId,
    /// How much.
    pub amount: Money,
}

/// What to post for an account-day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// The transfers to post, in order, as one batch (may be empty).
    pub transfers: Vec<Transfer>,
    /// The net flow adjustments among them.
    pub adjustments: Vec<Adjustment>,
}

/// Net posted flows between pairs of accounts, keyed by the ordered pair
/// `(low, high)`, positive when money went from `low` to `high`.
#[derive(Default)]
struct Flows(BTreeMap<(AccountId, AccountId), i128>);

impl Flows {
    fn add(&mut self, debit: AccountId, credit: AccountId, amount: Money) {
        let amount = i128::from(amount.as_vnd());
        let (key, signed) = if debit < credit {
            ((debit, credit), amount)
        } else {
            ((credit, debit), -amount)
        };
        *self.0.entry(key).or_default() += signed;
    }
}

fn pending_fact(
    facts: &LedgerFacts,
    planned: &BTreeMap<TransferId, PendingFact>,
    id: TransferId,
) -> Result<PendingFact, ReconcileError> {
    planned
        .get(&id)
        .or_else(|| facts.pendings.get(&id))
        .copied()
        .ok_or(ReconcileError::UnknownPending(id))
}

/// The transfers that bring the ledger's settlement of `plan`'s
/// account-day to `plan`. See the module docs.
///
/// # Errors
/// A post or void of a pending transfer that neither the plan nor the facts
/// know, or an overflow.
pub fn reconcile(plan: &DayPlan, facts: &LedgerFacts) -> Result<Reconciled, ReconcileError> {
    let existing: BTreeMap<TransferId, &TransferRecord> =
        facts.posted.iter().map(|r| (r.id(), r)).collect();
    let first_settlement = facts.posted.is_empty();
    // Pending transfers the plan creates, and whether each is open by now.
    let mut planned: BTreeMap<TransferId, PendingFact> = BTreeMap::new();
    let mut target = Flows::default();
    let mut out: Vec<Transfer> = Vec::new();
    let mut mentioned: BTreeSet<TransferId> = BTreeSet::new();
    for t in &plan.transfers {
        match &t.body {
            TransferBody::Pending { movement: m, .. } => {
                mentioned.insert(t.id);
                let known = facts.pendings.get(&t.id).copied();
                planned.insert(
                    t.id,
                    PendingFact {
                        debit: m.debit_account_id,
                        credit: m.credit_account_id,
                        amount: m.amount.money(),
                        open: known.is_none_or(|k| k.open),
                    },
                );
                if !existing.contains_key(&t.id) && known.is_none() {
                    out.push(t.clone());
                }
            }
            TransferBody::Post { pending_id, amount } => {
                mentioned.insert(*pending_id);
                let pending = pending_fact(facts, &planned, *pending_id)?;
                let posted = match amount {
                    ledger::PostAmount::Full => pending.amount,
                    ledger::PostAmount::Partial(part) => part.money(),
                };
                target.add(pending.debit, pending.credit, posted);
                resolve(&mut planned, facts, &mut out, t, *pending_id, pending);
            }
            TransferBody::Void { pending_id } => {
                mentioned.insert(*pending_id);
                let pending = pending_fact(facts, &planned, *pending_id)?;
                resolve(&mut planned, facts, &mut out, t, *pending_id, pending);
            }
            TransferBody::Direct(m) => {
                target.add(m.debit_account_id, m.credit_account_id, m.amount.money());
                if first_settlement {
                    out.push(t.clone());
                }
            }
        }
    }
    // Stale holds of this account-day that the plan no longer has.
    let mut voids = Vec::new();
    for record in &facts.posted {
        if let TransferBody::Pending { .. } = record.transfer.body {
            let open = facts.pendings.get(&record.id()).is_some_and(|p| p.open);
            if open && !mentioned.contains(&record.id()) {
                voids.push(Transfer {
                    id: resolution_id(record.id()),
                    code: TransferCode::Adjustment,
                    reference: Some(account_day_reference(plan.day, plan.account)),
                    body: TransferBody::Void {
                        pending_id: record.id(),
                    },
                });
            }
        }
    }

    // What is posted once `out` is applied: the ledger's flows and ours.
    let mut actual = Flows::default();
    for record in &facts.posted {
        if matches!(
            record.transfer.body,
            TransferBody::Direct(_) | TransferBody::Post { .. }
        ) {
            actual.add(
                record.debit_account_id,
                record.credit_account_id,
                record.amount.money(),
            );
        }
    }
    for t in &out {
        match &t.body {
            TransferBody::Direct(m) => {
                actual.add(m.debit_account_id, m.credit_account_id, m.amount.money());
            }
            TransferBody::Post { pending_id, amount } => {
                let pending = pending_fact(facts, &planned, *pending_id)?;
                let posted = match amount {
                    ledger::PostAmount::Full => pending.amount,
                    ledger::PostAmount::Partial(part) => part.money(),
                };
                actual.add(pending.debit, pending.credit, posted);
            }
            TransferBody::Pending { .. } | TransferBody::Void { .. } => {}
        }
    }

    let digest = posted_digest(facts);
    let mut adjustments = Vec::new();
    let (mut into_wallet, mut others) = (Vec::new(), Vec::new());
    let pairs: BTreeSet<(AccountId, AccountId)> =
        target.0.keys().chain(actual.0.keys()).copied().collect();
    for (low, high) in pairs {
        let want = target.0.get(&(low, high)).copied().unwrap_or_default();
        let have = actual.0.get(&(low, high)).copied().unwrap_or_default();
        let delta = want - have;
        if delta == 0 {
            continue;
        }
        let (from, to) = if delta > 0 { (low, high) } else { (high, low) };
        let amount = Money::vnd(i64::try_from(delta.abs()).map_err(|_| ReconcileError::Overflow)?);
        let positive = Amount::new(amount).map_err(|_| ReconcileError::Overflow)?;
        let leg = format!("{from}>{to}");
        let batch = if to == plan.account {
            &mut into_wallet
        } else {
            &mut others
        };
        batch.push(Transfer {
            id: settlement_transfer_id(plan.day, plan.account, Source::Adjustment(&digest), &leg),
            code: TransferCode::Adjustment,
            reference: Some(account_day_reference(plan.day, plan.account)),
            body: TransferBody::Direct(Movement {
                debit_account_id: from,
                credit_account_id: to,
                amount: positive,
                currency: Currency::VND,
                overdraft: Overdraft::Allowed,
            }),
        });
        adjustments.push(Adjustment { from, to, amount });
    }
    // The final balances do not depend on the order, but the limits are
    // checked after each transfer: release and credit the wallet first.
    let mut transfers = voids;
    transfers.append(&mut into_wallet);
    transfers.append(&mut out);
    transfers.append(&mut others);
    Ok(Reconciled {
        transfers,
        adjustments,
    })
}

/// Includes the plan's post or void `t` of `pending_id` when the pending
/// transfer is still open and not resolved by an earlier transfer of `out`.
fn resolve(
    planned: &mut BTreeMap<TransferId, PendingFact>,
    facts: &LedgerFacts,
    out: &mut Vec<Transfer>,
    t: &Transfer,
    pending_id: TransferId,
    pending: PendingFact,
) {
    let created_now = out.iter().any(|o| o.id == pending_id);
    let open_in_ledger = facts.pendings.get(&pending_id).is_some_and(|p| p.open);
    if pending.open && (created_now || open_in_ledger) {
        out.push(t.clone());
        if let Some(p) = planned.get_mut(&pending_id) {
            p.open = false;
        }
    }
}

/// SHA-256 over the sorted ids the ledger holds for the account-day.
fn posted_digest(facts: &LedgerFacts) -> [u8; 32] {
    let ids: BTreeSet<TransferId> = facts.posted.iter().map(TransferRecord::id).collect();
    let mut context = Context::new(&SHA256);
    for id in ids {
        context.update(id.as_uuid().as_bytes());
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    digest
}
