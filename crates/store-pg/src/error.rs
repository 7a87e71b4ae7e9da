//! The store's one error type, and the one place where Postgres error codes,
//! constraint names and ledger rule failures become the cases callers act
//! on.

use ledger::account::InvalidAccount;
use ledger::{AccountId, BatchError, ExpireError, Money, TransferError, TransferId};

/// What a caller of the store can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with this key exists already (the constraint is named).
    #[error("duplicate: {constraint}")]
    Duplicate {
        /// The unique constraint that refused it.
        constraint: String,
    },
    /// Something named does not exist.
    #[error("not found: {0}")]
    NotFound(Missing),
    /// An id was used before for something different.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// An account would pass its balance limit.
    #[error("account {account_id:?} would exceed its balance limit")]
    LimitExceeded {
        /// The account, when known (a constraint violation does not say).
        account_id: Option<AccountId>,
        /// What it had available, when known.
        available: Option<Money>,
        /// What the transfer needed, when known.
        amount: Option<Money>,
    },
    /// The ledger's rules refused the batch for another reason (an expired
    /// or resolved pending transfer, a currency mismatch, …).
    #[error(transparent)]
    Rejected(BatchError),
    /// A pending transfer cannot expire (not due, already resolved, …).
    #[error(transparent)]
    Expire(ExpireError),
    /// An account description the ledger rules refuse.
    #[error(transparent)]
    InvalidAccount(#[from] InvalidAccount),
    /// A row broke another named constraint: input the types did not catch.
    #[error("constraint {constraint} refused the change")]
    Constraint {
        /// The constraint.
        constraint: String,
    },
    /// A stored row does not decode into a ledger value: the database was
    /// changed outside this adapter.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The transaction kept failing on serialization or deadlock and gave up
    /// after `MAX_TRANSACTION_ATTEMPTS`.
    #[error("the ledger is too busy, retry later")]
    Busy,
    /// Any other database failure (connection, timeout, …).
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

/// What was not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// An account.
    #[error("account {0}")]
    Account(AccountId),
    /// A transfer.
    #[error("transfer {0}")]
    Transfer(TransferId),
}

/// What conflicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A transfer id reused with a different request.
    #[error("transfer id {0} was used for a different transfer")]
    TransferId(TransferId),
    /// An account id reused with a different description.
    #[error("account id {0} was used for a different account")]
    AccountId(AccountId),
    /// A pending transfer already posted, voided or expired.
    #[error("pending transfer {0} is already resolved")]
    PendingResolved(TransferId),
}

/// SQLSTATE codes the adapter treats specially.
pub(crate) mod sqlstate {
    /// unique_violation.
    pub const UNIQUE_VIOLATION: &str = "23505";
    /// foreign_key_violation.
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    /// check_violation.
    pub const CHECK_VIOLATION: &str = "23514";
    /// integrity_constraint_violation (raised by the append-only triggers).
    pub const INTEGRITY_CONSTRAINT_VIOLATION: &str = "23000";
    /// serialization_failure.
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// deadlock_detected.
    pub const DEADLOCK_DETECTED: &str = "40P01";
}

impl StoreError {
    /// Whether the transaction that failed this way may succeed if run again
    /// from the start: a serialization failure, a deadlock, or a unique
    /// violation on a key another transaction inserted concurrently (the
    /// retry then sees its row and answers as an idempotent repeat).
    pub(crate) fn is_retryable(error: &sqlx::Error) -> bool {
        let Some(db) = error.as_database_error() else {
            return false;
        };
        match db.code().as_deref() {
            Some(sqlstate::SERIALIZATION_FAILURE | sqlstate::DEADLOCK_DETECTED) => true,
            Some(sqlstate::UNIQUE_VIOLATION) => matches!(
                db.constraint(),
                Some("transfer_pkey" | "pending_resolution_pkey" | "account_pkey")
            ),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let Some(db) = error.as_database_error() else {
            return match error {
                sqlx::Error::RowNotFound => {
                    StoreError::Corrupt("an expected row is missing".into())
                }
                sqlx::Error::Decode(cause) => StoreError::Corrupt(cause.to_string()),
                sqlx::Error::ColumnDecode { index, source } => {
                    StoreError::Corrupt(format!("column {index}: {source}"))
                }
                sqlx::Error::ColumnNotFound(column) => {
                    StoreError::Corrupt(format!("column {column} missing"))
                }
                other => StoreError::Database(other),
            };
        };
        let constraint = db.constraint().unwrap_or_default().to_owned();
        match (db.code().as_deref(), constraint.as_str()) {
            (Some(sqlstate::SERIALIZATION_FAILURE | sqlstate::DEADLOCK_DETECTED), _) => {
                StoreError::Busy
            }
            (
                Some(sqlstate::CHECK_VIOLATION),
                "account_debits_within_limit" | "account_credits_within_limit",
            ) => StoreError::LimitExceeded {
                account_id: None,
                available: None,
                amount: None,
            },
            (Some(sqlstate::UNIQUE_VIOLATION), _) => StoreError::Duplicate { constraint },
            (
                Some(
                    sqlstate::CHECK_VIOLATION
                    | sqlstate::FOREIGN_KEY_VIOLATION
                    | sqlstate::INTEGRITY_CONSTRAINT_VIOLATION,
                ),
                _,
            ) => StoreError::Constraint { constraint },
            _ => StoreError::Database(error),
        }
    }
}

impl From<BatchError> for StoreError {
    fn from(error: BatchError) -> Self {
        match &error {
            BatchError::Rejected { error: rule, .. } => match *rule {
                TransferError::IdConflict(id) => StoreError::Conflict(Conflict::TransferId(id)),
                TransferError::AccountNotFound(id) => StoreError::NotFound(Missing::Account(id)),
                TransferError::PendingNotFound(id) => StoreError::NotFound(Missing::Transfer(id)),
                TransferError::PendingAlreadyResolved { pending_id, .. } => {
                    StoreError::Conflict(Conflict::PendingResolved(pending_id))
                }
                TransferError::ExceedsLimit {
                    account_id,
                    available,
                    amount,
                } => StoreError::LimitExceeded {
                    account_id: Some(account_id),
                    available: Some(available),
                    amount: Some(amount),
                },
                _ => StoreError::Rejected(error),
            },
            BatchError::Empty | BatchError::TooLarge { .. } => StoreError::Rejected(error),
        }
    }
}

impl From<ExpireError> for StoreError {
    fn from(error: ExpireError) -> Self {
        match error {
            ExpireError::NotFound(id) => StoreError::NotFound(Missing::Transfer(id)),
            ExpireError::AlreadyResolved { pending_id, .. } => {
                StoreError::Conflict(Conflict::PendingResolved(pending_id))
            }
            ExpireError::Inconsistent(id) => {
                StoreError::Corrupt(format!("totals around pending transfer {id}"))
            }
            other => StoreError::Expire(other),
        }
    }
}
