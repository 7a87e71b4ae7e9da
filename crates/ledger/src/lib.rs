//! The signed-token ledger: money, ids, the chart of accounts, balanced
//! transfers and the ticket key ring.
//!
//! **Invariant:** pure. No I/O, no clock, no randomness: time, ids and keys
//! come in as arguments. The tidy test in `services/oneticket/tests` fails the
//! build if this crate's `Cargo.toml` gains an I/O dependency.
//!
//! Map of the double-entry part (modelled on TigerBeetle):
//! - [`ids`]: `AccountId`, `TransferId` (caller-chosen UUIDs), `OperatorId`,
//!   `ProviderId` (short codes).
//! - [`account`]: the chart of accounts, normal sides, balance limits, the
//!   four running totals and how a balance is computed from them.
//! - [`transfer`]: direct, pending, post and void transfers, and the records
//!   the ledger keeps of them.
//! - [`engine`]: the rules, as pure planning functions over a read-only view;
//!   every store applies them the same way.
//! - [`book`]: the ledger in memory.
//! - [`split`]: exact pro-rata splits for settlement.
#![deny(clippy::float_arithmetic)]

pub mod account;
pub mod book;
pub mod engine;
pub mod ids;
pub mod money;
pub mod split;
pub mod transfer;

pub use account::{Account, AccountKind, BalanceLimit, Balances, Currency, NormalSide, Overdraft};
pub use book::{AccountCreated, Book, CreateAccountError, Expiry};
pub use engine::{
    AccountState, BatchError, BatchPlan, ExpireError, ExpiryPlan, LedgerView, MAX_BATCH_TRANSFERS,
    Outcome, TransferError,
};
pub use ids::{AccountId, IdError, OperatorId, ProviderId, TransferId};
pub use money::{Money, Overflow};
pub use transfer::{
    Amount, Movement, PendingStatus, PendingTimeout, PostAmount, Reference, Transfer, TransferBody,
    TransferCode, TransferRecord,
};

pub mod keyring;
