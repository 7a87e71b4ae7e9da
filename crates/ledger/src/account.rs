//! The chart of accounts: account kinds, their normal balance, balance
//! limits, and the four running totals every account carries.
//!
//! Following TigerBeetle, an account never stores "a balance": it stores
//! `debits_pending`, `debits_posted`, `credits_pending` and `credits_posted`,
//! each only ever changed by transfers. A balance is computed from them
//! according to the account's *normal side*:
//!
//! | kind | normal | what it is |
//! |---|---|---|
//! | rider wallet | credit | stored value we owe the rider (a liability) |
//! | provider clearing | debit | money a payment provider collected for us and owes us (an asset) |
//! | unearned pass revenue | credit | passes sold but not yet ridden (a liability) |
//! | operator revenue | credit | fares earned by one operator, owed to it at settlement |
//! | penalties | credit | penalty fares and fees collected |
//! | platform fee | credit | the platform's own share |
//!
//! For a credit-normal account `balance = credits_posted − debits_posted`
//! and `available = credits_posted − debits_posted − debits_pending` (money
//! held by a pending debit is not spendable). A debit-normal account mirrors
//! it: `balance = debits_posted − credits_posted`,
//! `available = debits_posted − credits_posted − credits_pending`.
//!
//! A top-up debits the provider's clearing account and credits the wallet; a
//! fare debits the wallet and credits the operator's revenue.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, OperatorId, ProviderId};
use crate::money::{Money, Overflow};

/// The ISO 4217 numeric code of the Vietnamese dong.
const ISO_4217_VND: u16 = 704;

/// The highest ISO 4217 numeric code (three decimal digits).
const ISO_4217_MAX: u16 = 999;

/// The currency (TigerBeetle's "ledger") an account and its transfers are in.
/// Only accounts of one currency transact with each other. Today everything
/// is VND; the type exists so that a second asset (loyalty points, say) can
/// never be mixed with dong by accident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Currency(u16);

/// A number that is not an ISO 4217 numeric code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not an ISO 4217 numeric currency code (1..=999)")]
pub struct InvalidCurrency(pub u16);

impl Currency {
    /// Vietnamese dong, ISO 4217 numeric 704.
    pub const VND: Currency = Currency(ISO_4217_VND);

    /// A currency by its ISO 4217 numeric code.
    pub fn from_iso_numeric(code: u16) -> Result<Self, InvalidCurrency> {
        if (1..=ISO_4217_MAX).contains(&code) {
            Ok(Currency(code))
        } else {
            Err(InvalidCurrency(code))
        }
    }

    /// The ISO 4217 numeric code.
    #[must_use]
    pub const fn iso_numeric(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Currency {
    type Error = InvalidCurrency;
    fn try_from(code: u16) -> Result<Self, InvalidCurrency> {
        Self::from_iso_numeric(code)
    }
}

impl From<Currency> for u16 {
    fn from(currency: Currency) -> u16 {
        currency.0
    }
}

/// Which side of an account its balance grows on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalSide {
    /// Assets: the balance grows with debits.
    Debit,
    /// Liabilities and revenue: the balance grows with credits.
    Credit,
}

/// What an account is for: its place in the chart of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AccountKind {
    /// A rider's stored value.
    RiderWallet,
    /// Money a payment provider collected for top-ups and owes us.
    ProviderClearing {
        /// The provider.
        provider_id: ProviderId,
    },
    /// Passes sold and not yet recognised as operator revenue.
    UnearnedPassRevenue,
    /// Fares earned by one operator.
    OperatorRevenue {
        /// The operator.
        operator_id: OperatorId,
    },
    /// Penalty fares and fees.
    Penalties,
    /// The platform's own fee.
    PlatformFee,
}

impl AccountKind {
    /// The side the balance grows on.
    #[must_use]
    pub const fn normal_side(&self) -> NormalSide {
        match self {
            AccountKind::ProviderClearing { .. } => NormalSide::Debit,
            AccountKind::RiderWallet
            | AccountKind::UnearnedPassRevenue
            | AccountKind::OperatorRevenue { .. }
            | AccountKind::Penalties
            | AccountKind::PlatformFee => NormalSide::Credit,
        }
    }

    /// The limit an account of this kind gets unless its creator says
    /// otherwise: a wallet cannot spend more than it holds (no overdraft); the
    /// others are unlimited because they are the other side of wallets and
    /// providers, whose own limits already bound them.
    #[must_use]
    pub const fn default_limit(&self) -> BalanceLimit {
        match self {
            AccountKind::RiderWallet => BalanceLimit::DebitsMustNotExceedCredits {
                overdraft_limit: Money::ZERO,
            },
            AccountKind::ProviderClearing { .. }
            | AccountKind::UnearnedPassRevenue
            | AccountKind::OperatorRevenue { .. }
            | AccountKind::Penalties
            | AccountKind::PlatformFee => BalanceLimit::None,
        }
    }

    /// A stable snake_case name for storage and reports.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            AccountKind::RiderWallet => "rider_wallet",
            AccountKind::ProviderClearing { .. } => "provider_clearing",
            AccountKind::UnearnedPassRevenue => "unearned_pass_revenue",
            AccountKind::OperatorRevenue { .. } => "operator_revenue",
            AccountKind::Penalties => "penalties",
            AccountKind::PlatformFee => "platform_fee",
        }
    }
}

/// A limit on how far an account's balance may go on its weak side.
///
/// The floor is 0 for every transfer, except a transfer that explicitly asks
/// for [`Overdraft::Allowed`]: that one may take the account down to
/// `−overdraft_limit`. Both must agree — the account must have been opened
/// with an overdraft limit, and the transfer must ask — so going negative is
/// never implicit. (The parking exit is the one such transfer today: a
/// vehicle must be let out even when the wallet cannot pay.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "limit")]
pub enum BalanceLimit {
    /// No limit.
    None,
    /// `debits_pending + debits_posted ≤ credits_posted` (+ `overdraft_limit`
    /// for transfers that allow overdraft). For credit-normal accounts:
    /// wallets.
    DebitsMustNotExceedCredits {
        /// How far below zero an overdraft-allowing transfer may go (≥ 0).
        overdraft_limit: Money,
    },
    /// `credits_pending + credits_posted ≤ debits_posted` (+ `overdraft_limit`
    /// for transfers that allow overdraft). For debit-normal accounts.
    CreditsMustNotExceedDebits {
        /// How far below zero an overdraft-allowing transfer may go (≥ 0).
        overdraft_limit: Money,
    },
}

impl BalanceLimit {
    /// The overdraft limit, if the limit has one.
    #[must_use]
    pub const fn overdraft_limit(&self) -> Option<Money> {
        match self {
            BalanceLimit::None => None,
            BalanceLimit::DebitsMustNotExceedCredits { overdraft_limit }
            | BalanceLimit::CreditsMustNotExceedDebits { overdraft_limit } => {
                Some(*overdraft_limit)
            }
        }
    }
}

/// Whether a transfer may take a limited account below zero (down to the
/// account's `overdraft_limit`). An enum, not a bool, so a call site reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overdraft {
    /// The account's floor is 0 for this transfer.
    #[default]
    Forbidden,
    /// The account's floor is `−overdraft_limit` for this transfer.
    Allowed,
}

/// An account's immutable description. Balances live apart, in [`Balances`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    /// The caller-chosen id.
    pub id: AccountId,
    /// Only accounts of one currency transact.
    pub currency: Currency,
    /// Its place in the chart.
    pub kind: AccountKind,
    /// Its balance limit.
    pub limit: BalanceLimit,
}

/// Why an account description is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAccount {
    /// An overdraft limit below zero would be a floor above zero.
    #[error("the overdraft limit must not be negative, got {0}")]
    NegativeOverdraftLimit(Money),
}

impl Account {
    /// A VND account of `kind` with the kind's default limit.
    #[must_use]
    pub fn new(id: AccountId, kind: AccountKind) -> Account {
        let limit = kind.default_limit();
        Account {
            id,
            currency: Currency::VND,
            kind,
            limit,
        }
    }

    /// The same account with another limit.
    pub fn with_limit(self, limit: BalanceLimit) -> Result<Account, InvalidAccount> {
        let account = Account { limit, ..self };
        account.validate()?;
        Ok(account)
    }

    /// Checks what the field types cannot: the overdraft limit is ≥ 0.
    pub fn validate(&self) -> Result<(), InvalidAccount> {
        match self.limit.overdraft_limit() {
            Some(limit) if limit.is_negative() => {
                Err(InvalidAccount::NegativeOverdraftLimit(limit))
            }
            _ => Ok(()),
        }
    }
}

/// The four running totals of an account. All start at zero and only
/// transfers change them; each stays ≥ 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Balances {
    /// Held by open pending transfers debiting the account.
    pub debits_pending: Money,
    /// Moved out by posted transfers debiting the account.
    pub debits_posted: Money,
    /// Held by open pending transfers crediting the account.
    pub credits_pending: Money,
    /// Moved in by posted transfers crediting the account.
    pub credits_posted: Money,
}

impl Balances {
    /// The posted balance on the account's normal side.
    pub fn balance(&self, side: NormalSide) -> Result<Money, Overflow> {
        match side {
            NormalSide::Credit => self.credits_posted.checked_sub(self.debits_posted),
            NormalSide::Debit => self.debits_posted.checked_sub(self.credits_posted),
        }
    }

    /// The posted balance less what pending transfers hold against it: what
    /// the account can still spend.
    pub fn available(&self, side: NormalSide) -> Result<Money, Overflow> {
        match side {
            NormalSide::Credit => self.balance(side)?.checked_sub(self.debits_pending),
            NormalSide::Debit => self.balance(side)?.checked_sub(self.credits_pending),
        }
    }

    /// These totals, planned from `from`, carried onto `onto`: `onto +
    /// (self − from)`, field by field. Two writers that planned changes to
    /// an account from the same totals reach the same result whichever
    /// commits first, so an account whose totals no rule reads (no balance
    /// limit) need not be locked while a batch is planned: the store locks
    /// it only at the end and rebases the plan onto what is there.
    pub fn rebased(&self, from: &Balances, onto: &Balances) -> Result<Balances, Overflow> {
        let field = |planned: Money, from: Money, onto: Money| {
            planned
                .checked_sub(from)
                .and_then(|delta| onto.checked_add(delta))
        };
        Ok(Balances {
            debits_pending: field(
                self.debits_pending,
                from.debits_pending,
                onto.debits_pending,
            )?,
            debits_posted: field(self.debits_posted, from.debits_posted, onto.debits_posted)?,
            credits_pending: field(
                self.credits_pending,
                from.credits_pending,
                onto.credits_pending,
            )?,
            credits_posted: field(
                self.credits_posted,
                from.credits_posted,
                onto.credits_posted,
            )?,
        })
    }

    /// Whether these totals respect `limit` for a transfer with `overdraft`.
    /// Used after applying a change, so an overflow counts as a breach.
    #[must_use]
    pub fn within(&self, limit: BalanceLimit, overdraft: Overdraft) -> bool {
        let (out, inn, overdraft_limit) = match limit {
            BalanceLimit::None => return true,
            BalanceLimit::DebitsMustNotExceedCredits { overdraft_limit } => (
                self.debits_pending.checked_add(self.debits_posted),
                self.credits_posted,
                overdraft_limit,
            ),
            BalanceLimit::CreditsMustNotExceedDebits { overdraft_limit } => (
                self.credits_pending.checked_add(self.credits_posted),
                self.debits_posted,
                overdraft_limit,
            ),
        };
        let allowance = match overdraft {
            Overdraft::Forbidden => Money::ZERO,
            Overdraft::Allowed => overdraft_limit,
        };
        match (out, inn.checked_add(allowance)) {
            (Ok(out), Ok(ceiling)) => out <= ceiling,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn totals(dpe: i64, dpo: i64, cpe: i64, cpo: i64) -> Balances {
        Balances {
            debits_pending: Money::vnd(dpe),
            debits_posted: Money::vnd(dpo),
            credits_pending: Money::vnd(cpe),
            credits_posted: Money::vnd(cpo),
        }
    }

    #[test]
    fn balance_and_available_follow_the_normal_side() {
        let check = |b: Balances, side: NormalSide, expected: (i64, i64)| {
            assert_eq!(
                (b.balance(side), b.available(side)),
                (Ok(Money::vnd(expected.0)), Ok(Money::vnd(expected.1)))
            );
        };
        check(totals(3, 10, 5, 50), NormalSide::Credit, (40, 37));
        check(totals(3, 10, 5, 50), NormalSide::Debit, (-40, -45));
        check(totals(0, 70, 4, 20), NormalSide::Debit, (50, 46));
        check(totals(0, 0, 0, 0), NormalSide::Credit, (0, 0));
    }

    #[test]
    fn limits_bound_the_weak_side() {
        let wallet = |overdraft_limit: i64| BalanceLimit::DebitsMustNotExceedCredits {
            overdraft_limit: Money::vnd(overdraft_limit),
        };
        let check = |b: Balances, limit: BalanceLimit, overdraft: Overdraft, expected: bool| {
            assert_eq!(
                b.within(limit, overdraft),
                expected,
                "{b:?} {limit:?} {overdraft:?}"
            );
        };
        check(totals(5, 5, 0, 10), wallet(0), Overdraft::Forbidden, true);
        check(totals(6, 5, 0, 10), wallet(0), Overdraft::Forbidden, false);
        check(totals(6, 5, 0, 10), wallet(0), Overdraft::Allowed, false);
        check(totals(6, 5, 0, 10), wallet(1), Overdraft::Allowed, true);
        check(totals(6, 5, 0, 10), wallet(1), Overdraft::Forbidden, false);
        check(totals(0, 0, 100, 0), wallet(0), Overdraft::Forbidden, true);
        let clearing = BalanceLimit::CreditsMustNotExceedDebits {
            overdraft_limit: Money::ZERO,
        };
        check(totals(0, 10, 4, 6), clearing, Overdraft::Forbidden, true);
        check(totals(0, 10, 5, 6), clearing, Overdraft::Forbidden, false);
        check(
            totals(1000, 0, 0, 0),
            BalanceLimit::None,
            Overdraft::Forbidden,
            true,
        );
        check(
            totals(i64::MAX, 1, 0, i64::MAX),
            wallet(0),
            Overdraft::Forbidden,
            false,
        );
    }

    fn any_totals() -> impl Strategy<Value = Balances> {
        let total = 0..=i64::MAX / 4;
        (total.clone(), total.clone(), total.clone(), total)
            .prop_map(|(a, b, c, d)| totals(a, b, c, d))
    }

    fn plus(b: Balances, d: (i64, i64, i64, i64)) -> Balances {
        totals(
            b.debits_pending.as_vnd() + d.0,
            b.debits_posted.as_vnd() + d.1,
            b.credits_pending.as_vnd() + d.2,
            b.credits_posted.as_vnd() + d.3,
        )
    }

    proptest! {
        /// Rebasing onto the totals planned from is the plan itself.
        #[test]
        fn rebasing_onto_the_same_totals_changes_nothing(from in any_totals(), planned in any_totals()) {
            prop_assert_eq!(planned.rebased(&from, &from), Ok(planned));
        }

        /// Two writers planning from the same totals end at the same totals
        /// in either commit order: each one's change, added once.
        #[test]
        fn concurrent_plans_commute(
            start in any_totals(),
            a in (0..1_000_000i64, 0..1_000_000i64, 0..1_000_000i64, 0..1_000_000i64),
            b in (0..1_000_000i64, 0..1_000_000i64, 0..1_000_000i64, 0..1_000_000i64),
        ) {
            let (plan_a, plan_b) = (plus(start, a), plus(start, b));
            let a_then_b = plan_b.rebased(&start, &plan_a.rebased(&start, &start).unwrap());
            let b_then_a = plan_a.rebased(&start, &plan_b.rebased(&start, &start).unwrap());
            let both = plus(plus(start, a), b);
            prop_assert_eq!(a_then_b, Ok(both));
            prop_assert_eq!(b_then_a, Ok(both));
        }
    }

    #[test]
    fn rebasing_past_the_range_is_an_overflow() {
        let top = totals(0, 0, 0, i64::MAX);
        assert_eq!(
            totals(0, 0, 0, 10).rebased(&totals(0, 0, 0, 0), &top),
            Err(Overflow)
        );
        // A release planned from a hold is carried onto later holds.
        assert_eq!(
            totals(0, 0, 0, 10).rebased(&totals(0, 0, 10, 0), &totals(0, 0, 15, 5)),
            Ok(totals(0, 0, 5, 15))
        );
    }

    #[test]
    fn chart_defaults() {
        let id = AccountId::new(Uuid::from_u128(7)).unwrap();
        let wallet = Account::new(id, AccountKind::RiderWallet);
        assert_eq!(wallet.currency, Currency::VND);
        assert_eq!(wallet.kind.normal_side(), NormalSide::Credit);
        assert_eq!(
            wallet.limit,
            BalanceLimit::DebitsMustNotExceedCredits {
                overdraft_limit: Money::ZERO
            }
        );
        let clearing = Account::new(
            id,
            AccountKind::ProviderClearing {
                provider_id: ProviderId::parse("VNPAY").unwrap(),
            },
        );
        assert_eq!(clearing.kind.normal_side(), NormalSide::Debit);
        assert_eq!(clearing.limit, BalanceLimit::None);
        assert_eq!(
            wallet
                .clone()
                .with_limit(BalanceLimit::DebitsMustNotExceedCredits {
                    overdraft_limit: Money::vnd(-1)
                }),
            Err(InvalidAccount::NegativeOverdraftLimit(Money::vnd(-1)))
        );
        assert!(
            wallet
                .with_limit(BalanceLimit::DebitsMustNotExceedCredits {
                    overdraft_limit: Money::vnd(50_000)
                })
                .is_ok()
        );
    }

    #[test]
    fn currency_codes() {
        let check = |code: u16, ok: bool| {
            assert_eq!(Currency::from_iso_numeric(code).is_ok(), ok, "{code}");
        };
        check(0, false);
        check(1, true);
        check(704, true);
        check(999, true);
        check(1000, false);
        assert_eq!(Currency::VND.iso_numeric(), 704);
    }
}
