//! The rules of the ledger as pure functions over a read-only view of its
//! state: [`plan_batch`] decides what a batch of transfers does (or why it is
//! refused) and [`plan_expiry`] what expiring a pending transfer does.
//!
//! Planning is split from storing so that every store applies the same rules:
//! the in-memory [`Book`](crate::book::Book) implements [`LedgerView`] over
//! its maps; the Postgres adapter locks the rows a batch touches, loads them
//! into a snapshot that implements [`LedgerView`], plans, and writes the plan
//! back in the same transaction.
//!
//! A plan is all or nothing: the first transfer that fails refuses the whole
//! batch, and nothing of a refused batch is written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::account::{Account, Balances, Currency, Overdraft};
use crate::ids::{AccountId, TransferId};
use crate::money::{Money, Overflow};
use crate::transfer::{
    Movement, PendingStatus, PostAmount, Transfer, TransferBody, TransferRecord,
};

/// The most transfers in one batch: TigerBeetle's 8,190 per request. Large
/// enough to amortise a round trip and a commit; small enough that one
/// batch's locks, memory and transaction time stay bounded.
pub const MAX_BATCH_TRANSFERS: usize = 8_190;

/// An account with its running totals.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountState {
    /// The immutable description.
    pub account: Account,
    /// The running totals.
    pub balances: Balances,
}

/// Read access to a ledger's state, as much of it as a plan needs.
pub trait LedgerView {
    /// An account and its totals.
    fn account(&self, id: AccountId) -> Option<AccountState>;
    /// An accepted transfer.
    fn transfer(&self, id: TransferId) -> Option<TransferRecord>;
    /// The status of a pending transfer; `None` if `id` is not one.
    fn pending_status(&self, id: TransferId) -> Option<PendingStatus>;
}

/// Why one transfer of a batch is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The id was accepted before for a different request.
    #[error("transfer id {0} was already used for a different transfer")]
    IdConflict(TransferId),
    /// Debit and credit name the same account.
    #[error("a transfer cannot debit and credit the same account {0}")]
    SameAccount(AccountId),
    /// An account that does not exist.
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    /// The transfer and an account are in different currencies.
    #[error("account {account_id} is in {account:?}, the transfer in {transfer:?}")]
    CurrencyMismatch {
        /// The account.
        account_id: AccountId,
        /// The account's currency.
        account: Currency,
        /// The transfer's currency.
        transfer: Currency,
    },
    /// The transfer would take the account past its balance limit.
    #[error("account {account_id} has {available} available, {amount} needed")]
    ExceedsLimit {
        /// The account.
        account_id: AccountId,
        /// What it had available on its limited side before the transfer.
        available: Money,
        /// What the transfer needed.
        amount: Money,
    },
    /// A post or void names a transfer that does not exist.
    #[error("pending transfer {0} does not exist")]
    PendingNotFound(TransferId),
    /// A post or void names a transfer that is not pending.
    #[error("transfer {0} is not a pending transfer")]
    NotPending(TransferId),
    /// The pending transfer was already posted, voided or expired.
    #[error("pending transfer {pending_id} is already resolved: {status:?}")]
    PendingAlreadyResolved {
        /// The pending transfer.
        pending_id: TransferId,
        /// How it was resolved.
        status: PendingStatus,
    },
    /// The pending transfer's timeout has passed.
    #[error("pending transfer {pending_id} expired at {expires_at}")]
    PendingExpired {
        /// The pending transfer.
        pending_id: TransferId,
        /// When it expired.
        expires_at: DateTime<Utc>,
    },
    /// A post of more than the pending amount.
    #[error("cannot post {requested} of pending transfer {pending_id} holding {pending}")]
    ExceedsPendingAmount {
        /// The pending transfer.
        pending_id: TransferId,
        /// What the post asked for.
        requested: Money,
        /// What the pending transfer holds.
        pending: Money,
    },
    /// A running total would overflow an `i64` of dong.
    #[error("an account total would overflow")]
    Overflow,
}

impl From<Overflow> for TransferError {
    fn from(_: Overflow) -> Self {
        TransferError::Overflow
    }
}

/// Why a batch is refused. Nothing of a refused batch is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A batch with no transfers.
    #[error("a batch must hold at least one transfer")]
    Empty,
    /// A batch over `MAX_BATCH_TRANSFERS`.
    #[error("a batch holds at most {max} transfers, got {len}", max = MAX_BATCH_TRANSFERS)]
    TooLarge {
        /// How many it held.
        len: usize,
    },
    /// One transfer failed, so the whole batch did.
    #[error("transfer {index} ({id}) of the batch was refused: {error}")]
    Rejected {
        /// Its position in the batch.
        index: usize,
        /// Its id.
        id: TransferId,
        /// Why.
        error: TransferError,
    },
}

/// What a batch did to one transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted now.
    Created(TransferRecord),
    /// Accepted before with the same request: the first result, unchanged.
    Exists(TransferRecord),
}

impl Outcome {
    /// The transfer's record.
    #[must_use]
    pub const fn record(&self) -> &TransferRecord {
        match self {
            Outcome::Created(record) | Outcome::Exists(record) => record,
        }
    }
}

/// What an accepted batch changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPlan {
    /// One outcome per transfer, in batch order.
    pub outcomes: Vec<Outcome>,
    /// The new totals of every account the batch changes.
    pub balances: BTreeMap<AccountId, Balances>,
    /// Pending transfers resolved by this batch, in order, with their status.
    pub resolutions: Vec<(TransferId, PendingStatus)>,
}

impl BatchPlan {
    /// The records the batch creates, in order.
    pub fn created(&self) -> impl Iterator<Item = &TransferRecord> {
        self.outcomes.iter().filter_map(|outcome| match outcome {
            Outcome::Created(record) => Some(record),
            Outcome::Exists(_) => None,
        })
    }
}

/// Plans `batch` at ledger time `now` against `view`: all or nothing.
pub fn plan_batch(
    view: &impl LedgerView,
    batch: &[Transfer],
    now: DateTime<Utc>,
) -> Result<BatchPlan, BatchError> {
    if batch.is_empty() {
        return Err(BatchError::Empty);
    }
    if batch.len() > MAX_BATCH_TRANSFERS {
        return Err(BatchError::TooLarge { len: batch.len() });
    }
    let mut stage = Stage {
        view,
        accounts: BTreeMap::new(),
        changed: BTreeSet::new(),
        records: HashMap::new(),
        statuses: HashMap::new(),
        resolutions: Vec::new(),
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    for (index, transfer) in batch.iter().enumerate() {
        let outcome = stage
            .apply(transfer, now)
            .map_err(|error| BatchError::Rejected {
                index,
                id: transfer.id,
                error,
            })?;
        outcomes.push(outcome);
    }
    let balances = stage
        .changed
        .iter()
        .filter_map(|id| stage.accounts.get(id).map(|s| (*id, s.balances)))
        .collect();
    Ok(BatchPlan {
        outcomes,
        balances,
        resolutions: stage.resolutions,
    })
}

/// Why a pending transfer cannot expire now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpireError {
    /// No such transfer.
    #[error("pending transfer {0} does not exist")]
    NotFound(TransferId),
    /// The transfer is not pending.
    #[error("transfer {0} is not a pending transfer")]
    NotPending(TransferId),
    /// Already posted, voided or expired.
    #[error("pending transfer {pending_id} is already resolved: {status:?}")]
    AlreadyResolved {
        /// The pending transfer.
        pending_id: TransferId,
        /// How it was resolved.
        status: PendingStatus,
    },
    /// Its timeout has not passed yet.
    #[error("pending transfer {pending_id} expires at {expires_at}, not yet")]
    NotYetDue {
        /// The pending transfer.
        pending_id: TransferId,
        /// When it will expire.
        expires_at: DateTime<Utc>,
    },
    /// An account of the transfer is missing or a total would go wrong: a
    /// corrupt store, never a caller's mistake.
    #[error("the ledger state around pending transfer {0} is inconsistent")]
    Inconsistent(TransferId),
}

/// What expiring a pending transfer changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// The pending transfer.
    pub pending_id: TransferId,
    /// The new totals of its debit and credit accounts.
    pub balances: [(AccountId, Balances); 2],
    /// Its new status.
    pub status: PendingStatus,
}

/// Plans the expiry of `pending_id` at ledger time `now`.
pub fn plan_expiry(
    view: &impl LedgerView,
    pending_id: TransferId,
    now: DateTime<Utc>,
) -> Result<ExpiryPlan, ExpireError> {
    let record = view
        .transfer(pending_id)
        .ok_or(ExpireError::NotFound(pending_id))?;
    match view.pending_status(pending_id) {
        None => Err(ExpireError::NotPending(pending_id)),
        Some(PendingStatus::Open { expires_at }) if now < expires_at => {
            Err(ExpireError::NotYetDue {
                pending_id,
                expires_at,
            })
        }
        Some(PendingStatus::Open { .. }) => {
            let inconsistent = || ExpireError::Inconsistent(pending_id);
            let held = record.amount.money();
            let mut debit = view
                .account(record.debit_account_id)
                .ok_or_else(inconsistent)?;
            let mut credit = view
                .account(record.credit_account_id)
                .ok_or_else(inconsistent)?;
            debit.balances.debits_pending = debit
                .balances
                .debits_pending
                .checked_sub(held)
                .map_err(|_| inconsistent())?;
            credit.balances.credits_pending = credit
                .balances
                .credits_pending
                .checked_sub(held)
                .map_err(|_| inconsistent())?;
            Ok(ExpiryPlan {
                pending_id,
                balances: [
                    (record.debit_account_id, debit.balances),
                    (record.credit_account_id, credit.balances),
                ],
                status: PendingStatus::Expired { at: now },
            })
        }
        Some(status) => Err(ExpireError::AlreadyResolved { pending_id, status }),
    }
}

/// A batch in progress: the view plus what earlier transfers of the batch
/// changed.
struct Stage<'v, V: LedgerView> {
    view: &'v V,
    accounts: BTreeMap<AccountId, AccountState>,
    changed: BTreeSet<AccountId>,
    records: HashMap<TransferId, TransferRecord>,
    statuses: HashMap<TransferId, PendingStatus>,
    resolutions: Vec<(TransferId, PendingStatus)>,
}

/// Which running totals a movement changes.
#[derive(Clone, Copy)]
enum Phase {
    Posted,
    Pending,
}

impl<V: LedgerView> Stage<'_, V> {
    fn account(&mut self, id: AccountId) -> Result<AccountState, TransferError> {
        if let Some(state) = self.accounts.get(&id) {
            return Ok(state.clone());
        }
        let state = self
            .view
            .account(id)
            .ok_or(TransferError::AccountNotFound(id))?;
        self.accounts.insert(id, state.clone());
        Ok(state)
    }

    fn transfer(&self, id: TransferId) -> Option<TransferRecord> {
        self.records
            .get(&id)
            .cloned()
            .or_else(|| self.view.transfer(id))
    }

    fn pending_status(&self, id: TransferId) -> Option<PendingStatus> {
        self.statuses
            .get(&id)
            .copied()
            .or_else(|| self.view.pending_status(id))
    }

    fn store(&mut self, states: [AccountState; 2]) {
        for state in states {
            self.changed.insert(state.account.id);
            self.accounts.insert(state.account.id, state);
        }
    }

    fn apply(&mut self, transfer: &Transfer, now: DateTime<Utc>) -> Result<Outcome, TransferError> {
        if let Some(first) = self.transfer(transfer.id) {
            return if first.transfer == *transfer {
                Ok(Outcome::Exists(first))
            } else {
                Err(TransferError::IdConflict(transfer.id))
            };
        }
        let record = match &transfer.body {
            TransferBody::Direct(movement) => {
                self.move_money(transfer, movement, Phase::Posted, now, None)?
            }
            TransferBody::Pending { movement, timeout } => {
                let expires_at = timeout.expires_at(now);
                let record =
                    self.move_money(transfer, movement, Phase::Pending, now, Some(expires_at))?;
                self.statuses
                    .insert(transfer.id, PendingStatus::Open { expires_at });
                record
            }
            TransferBody::Post { pending_id, amount } => {
                self.resolve(transfer, *pending_id, Some(*amount), now)?
            }
            TransferBody::Void { pending_id } => self.resolve(transfer, *pending_id, None, now)?,
        };
        self.records.insert(transfer.id, record.clone());
        Ok(Outcome::Created(record))
    }

    /// A direct or pending movement: checks both accounts, moves, checks the
    /// limits on the result (so pending debits count against the limit).
    fn move_money(
        &mut self,
        transfer: &Transfer,
        movement: &Movement,
        phase: Phase,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<TransferRecord, TransferError> {
        if movement.debit_account_id == movement.credit_account_id {
            return Err(TransferError::SameAccount(movement.debit_account_id));
        }
        let mut debit = self.account(movement.debit_account_id)?;
        let mut credit = self.account(movement.credit_account_id)?;
        for state in [&debit, &credit] {
            if state.account.currency != movement.currency {
                return Err(TransferError::CurrencyMismatch {
                    account_id: state.account.id,
                    account: state.account.currency,
                    transfer: movement.currency,
                });
            }
        }
        let amount = movement.amount.money();
        let (debit_before, credit_before) = (debit.balances, credit.balances);
        match phase {
            Phase::Posted => {
                add(&mut debit.balances.debits_posted, amount)?;
                add(&mut credit.balances.credits_posted, amount)?;
            }
            Phase::Pending => {
                add(&mut debit.balances.debits_pending, amount)?;
                add(&mut credit.balances.credits_pending, amount)?;
            }
        }
        for (state, before) in [(&debit, debit_before), (&credit, credit_before)] {
            if !state
                .balances
                .within(state.account.limit, movement.overdraft)
            {
                return Err(TransferError::ExceedsLimit {
                    account_id: state.account.id,
                    available: available_before_limit(state, before, movement.overdraft),
                    amount,
                });
            }
        }
        self.store([debit, credit]);
        Ok(TransferRecord {
            transfer: transfer.clone(),
            accepted_at: now,
            debit_account_id: movement.debit_account_id,
            credit_account_id: movement.credit_account_id,
            currency: movement.currency,
            amount: movement.amount,
            expires_at,
        })
    }

    /// A post (`post = Some`) or void (`None`) of an open pending transfer.
    fn resolve(
        &mut self,
        transfer: &Transfer,
        pending_id: TransferId,
        post: Option<PostAmount>,
        now: DateTime<Utc>,
    ) -> Result<TransferRecord, TransferError> {
        let pending = self
            .transfer(pending_id)
            .ok_or(TransferError::PendingNotFound(pending_id))?;
        match self.pending_status(pending_id) {
            None => return Err(TransferError::NotPending(pending_id)),
            Some(PendingStatus::Open { expires_at }) if now >= expires_at => {
                return Err(TransferError::PendingExpired {
                    pending_id,
                    expires_at,
                });
            }
            Some(PendingStatus::Open { .. }) => {}
            Some(status) => {
                return Err(TransferError::PendingAlreadyResolved { pending_id, status });
            }
        }
        let held = pending.amount;
        let posted = match post {
            None => None,
            Some(PostAmount::Full) => Some(held),
            Some(PostAmount::Partial(requested)) if requested > held => {
                return Err(TransferError::ExceedsPendingAmount {
                    pending_id,
                    requested: requested.money(),
                    pending: held.money(),
                });
            }
            Some(PostAmount::Partial(requested)) => Some(requested),
        };
        let mut debit = self.account(pending.debit_account_id)?;
        let mut credit = self.account(pending.credit_account_id)?;
        sub(&mut debit.balances.debits_pending, held.money())?;
        sub(&mut credit.balances.credits_pending, held.money())?;
        if let Some(posted) = posted {
            add(&mut debit.balances.debits_posted, posted.money())?;
            add(&mut credit.balances.credits_posted, posted.money())?;
        }
        self.store([debit, credit]);
        let status = match posted {
            Some(amount) => PendingStatus::Posted {
                by: transfer.id,
                amount,
            },
            None => PendingStatus::Voided { by: transfer.id },
        };
        self.statuses.insert(pending_id, status);
        self.resolutions.push((pending_id, status));
        Ok(TransferRecord {
            transfer: transfer.clone(),
            accepted_at: now,
            debit_account_id: pending.debit_account_id,
            credit_account_id: pending.credit_account_id,
            currency: pending.currency,
            amount: posted.unwrap_or(held),
            expires_at: None,
        })
    }
}

fn add(total: &mut Money, amount: Money) -> Result<(), Overflow> {
    *total = total.checked_add(amount)?;
    Ok(())
}

fn sub(total: &mut Money, amount: Money) -> Result<(), TransferError> {
    let left = total.checked_sub(amount)?;
    // A pending total can only fall below zero if a store lost track of a
    // hold; refuse rather than write an impossible total.
    if left.is_negative() {
        return Err(TransferError::Overflow);
    }
    *total = left;
    Ok(())
}

/// What the account had available on its limited side before the transfer,
/// for the error message: `credits_posted (+ overdraft) − debits` or mirrored.
fn available_before_limit(state: &AccountState, before: Balances, overdraft: Overdraft) -> Money {
    use crate::account::BalanceLimit;
    let allowance = match overdraft {
        Overdraft::Forbidden => Money::ZERO,
        Overdraft::Allowed => state.account.limit.overdraft_limit().unwrap_or(Money::ZERO),
    };
    let (inn, out_a, out_b) = match state.account.limit {
        BalanceLimit::None => return Money::MAX,
        BalanceLimit::DebitsMustNotExceedCredits { .. } => (
            before.credits_posted,
            before.debits_posted,
            before.debits_pending,
        ),
        BalanceLimit::CreditsMustNotExceedDebits { .. } => (
            before.debits_posted,
            before.credits_posted,
            before.credits_pending,
        ),
    };
    // Only for the message: on overflow report the nearest bound.
    inn.checked_add(allowance)
        .and_then(|x| x.checked_sub(out_a))
        .and_then(|x| x.checked_sub(out_b))
        .unwrap_or(Money::ZERO)
}
