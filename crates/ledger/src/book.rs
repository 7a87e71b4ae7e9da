//! `Book`: the ledger in memory. It applies the rules of
//! [`engine`](crate::engine) to maps it owns, and keeps the full log of
//! accepted transfers and expiries from which every balance can be rebuilt.
//!
//! It is the reference implementation the property tests drive, and what a
//! service can use where no database is wanted (a demo, a simulation). The
//! book of record in production is Postgres (`store-pg`), which plans with
//! the same engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::account::{Account, AccountKind, Balances, Currency, InvalidAccount};
use crate::engine::{self, AccountState, BatchError, ExpireError, LedgerView, Outcome};
use crate::ids::{AccountId, OperatorId, TransferId};
use crate::transfer::{PendingStatus, Transfer, TransferBody, TransferRecord};

/// Why an account cannot be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    /// The id is taken by a different account.
    #[error("account id {0} is already used by a different account")]
    IdConflict(AccountId),
    /// The description is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidAccount),
    /// The operator already has a revenue account in this currency: one per
    /// operator, so statements and settlement have one place to look.
    #[error("operator {0} already has a revenue account")]
    OperatorHasRevenueAccount(OperatorId),
}

/// What creating an account did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountCreated {
    /// The account is new.
    Created,
    /// The same account existed already; nothing changed.
    Exists,
}

/// A pending transfer's expiry, as the log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expiry {
    /// The pending transfer.
    pub pending_id: TransferId,
    /// Ledger time of the expiry.
    pub at: DateTime<Utc>,
}

/// The ledger in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    accounts: BTreeMap<AccountId, AccountState>,
    /// The revenue account of each operator, per currency.
    revenue_accounts: BTreeMap<(OperatorId, Currency), AccountId>,
    log: Vec<TransferRecord>,
    by_id: HashMap<TransferId, usize>,
    statuses: HashMap<TransferId, PendingStatus>,
    /// Open pending transfers ordered by expiry, for `expire_due`.
    open_by_expiry: BTreeSet<(DateTime<Utc>, TransferId)>,
    expiries: Vec<Expiry>,
}

impl LedgerView for Book {
    fn account(&self, id: AccountId) -> Option<AccountState> {
        self.accounts.get(&id).cloned()
    }

    fn transfer(&self, id: TransferId) -> Option<TransferRecord> {
        self.by_id.get(&id).and_then(|&i| self.log.get(i)).cloned()
    }

    fn pending_status(&self, id: TransferId) -> Option<PendingStatus> {
        self.statuses.get(&id).copied()
    }
}

impl Book {
    /// An empty book.
    #[must_use]
    pub fn new() -> Book {
        Book::default()
    }

    /// Creates an account with zero totals. Idempotent: the same account
    /// again is `Exists`; another account under the same id is an error.
    pub fn create_account(
        &mut self,
        account: Account,
    ) -> Result<AccountCreated, CreateAccountError> {
        account.validate()?;
        if let Some(existing) = self.accounts.get(&account.id) {
            return if existing.account == account {
                Ok(AccountCreated::Exists)
            } else {
                Err(CreateAccountError::IdConflict(account.id))
            };
        }
        if let AccountKind::OperatorRevenue { operator_id } = &account.kind {
            let key = (operator_id.clone(), account.currency);
            if self.revenue_accounts.contains_key(&key) {
                return Err(CreateAccountError::OperatorHasRevenueAccount(
                    operator_id.clone(),
                ));
            }
            self.revenue_accounts.insert(key, account.id);
        }
        self.accounts.insert(
            account.id,
            AccountState {
                account,
                balances: Balances::default(),
            },
        );
        Ok(AccountCreated::Created)
    }

    /// Applies a batch at ledger time `now`, all or nothing. Returns one
    /// outcome per transfer; a refused batch changes nothing.
    pub fn apply(
        &mut self,
        batch: &[Transfer],
        now: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, BatchError> {
        let plan = engine::plan_batch(self, batch, now)?;
        for record in plan.created() {
            let id = record.id();
            if let (TransferBody::Pending { .. }, Some(expires_at)) =
                (&record.transfer.body, record.expires_at)
            {
                self.statuses.insert(id, PendingStatus::Open { expires_at });
                self.open_by_expiry.insert((expires_at, id));
            }
            self.by_id.insert(id, self.log.len());
            self.log.push(record.clone());
        }
        for (pending_id, status) in &plan.resolutions {
            self.close_pending(*pending_id, *status);
        }
        for (id, balances) in &plan.balances {
            if let Some(state) = self.accounts.get_mut(id) {
                state.balances = *balances;
            }
        }
        Ok(plan.outcomes)
    }

    /// Expires one pending transfer whose timeout has passed at `now`.
    pub fn expire(
        &mut self,
        pending_id: TransferId,
        now: DateTime<Utc>,
    ) -> Result<(), ExpireError> {
        let plan = engine::plan_expiry(self, pending_id, now)?;
        for (id, balances) in plan.balances {
            if let Some(state) = self.accounts.get_mut(&id) {
                state.balances = balances;
            }
        }
        self.close_pending(pending_id, plan.status);
        self.expiries.push(Expiry {
            pending_id,
            at: now,
        });
        Ok(())
    }

    /// Expires every open pending transfer due at `now`, earliest first, and
    /// returns their ids.
    pub fn expire_due(&mut self, now: DateTime<Utc>) -> Vec<TransferId> {
        let due: Vec<TransferId> = self
            .open_by_expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .map(|(_, id)| *id)
            .collect();
        due.into_iter()
            .filter(|id| self.expire(*id, now).is_ok())
            .collect()
    }

    fn close_pending(&mut self, pending_id: TransferId, status: PendingStatus) {
        if let Some(PendingStatus::Open { expires_at }) = self.statuses.get(&pending_id) {
            self.open_by_expiry.remove(&(*expires_at, pending_id));
        }
        self.statuses.insert(pending_id, status);
    }

    /// An account and its totals.
    #[must_use]
    pub fn account(&self, id: AccountId) -> Option<&AccountState> {
        self.accounts.get(&id)
    }

    /// An account's totals.
    #[must_use]
    pub fn balances(&self, id: AccountId) -> Option<Balances> {
        self.accounts.get(&id).map(|state| state.balances)
    }

    /// Every account, by id.
    pub fn accounts(&self) -> impl Iterator<Item = &AccountState> {
        self.accounts.values()
    }

    /// Every accepted transfer, in the order accepted.
    #[must_use]
    pub fn transfers(&self) -> &[TransferRecord] {
        &self.log
    }

    /// One accepted transfer.
    #[must_use]
    pub fn transfer(&self, id: TransferId) -> Option<&TransferRecord> {
        self.by_id.get(&id).and_then(|&i| self.log.get(i))
    }

    /// A pending transfer's status; `None` if `id` is not a pending transfer.
    #[must_use]
    pub fn pending_status(&self, id: TransferId) -> Option<PendingStatus> {
        self.statuses.get(&id).copied()
    }

    /// Every expiry, in the order recorded.
    #[must_use]
    pub fn expiries(&self) -> &[Expiry] {
        &self.expiries
    }
}
