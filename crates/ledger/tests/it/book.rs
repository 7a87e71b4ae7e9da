//! Scenarios of the in-memory `Book`, one rule each: a wallet is topped up,
//! pays fares, holds and posts, overdraws only when allowed, and every bad
//! request is refused without changing anything.

use chrono::{DateTime, Utc};
use ledger::{
    Account, AccountCreated, AccountId, AccountKind, BalanceLimit, BatchError, Book,
    CreateAccountError, Currency, ExpireError, Money, OperatorId, Outcome, PendingStatus,
    PostAmount, ProviderId, Transfer, TransferError,
};

use crate::fixture::{
    account_id, amount, at, direct, direct_overdraft, pending, post, transfer_id, void,
};

const CLEARING: u128 = 1;
const WALLET: u128 = 2;
const PARKING_WALLET: u128 = 3;
const METRO: u128 = 4;
const POINTS: u128 = 5;

/// The overdraft limit of the parking wallet, in dong.
const PARKING_OVERDRAFT_VND: i64 = 50_000;

fn c() -> AccountId {
    account_id(CLEARING)
}
fn w() -> AccountId {
    account_id(WALLET)
}
fn pw() -> AccountId {
    account_id(PARKING_WALLET)
}
fn metro() -> AccountId {
    account_id(METRO)
}

/// A book with a provider clearing account, a wallet with no overdraft, a
/// wallet that may go down to −50,000 on request, the metro's revenue, and
/// an account in another currency.
fn book() -> Book {
    let mut book = Book::new();
    let accounts = [
        Account::new(
            c(),
            AccountKind::ProviderClearing {
                provider_id: ProviderId::parse("VNPAY").unwrap(),
            },
        ),
        Account::new(w(), AccountKind::RiderWallet),
        Account::new(pw(), AccountKind::RiderWallet)
            .with_limit(BalanceLimit::DebitsMustNotExceedCredits {
                overdraft_limit: Money::vnd(PARKING_OVERDRAFT_VND),
            })
            .unwrap(),
        Account::new(
            metro(),
            AccountKind::OperatorRevenue {
                operator_id: OperatorId::parse("HURC1").unwrap(),
            },
        ),
        Account {
            currency: Currency::from_iso_numeric(999).unwrap(),
            ..Account::new(account_id(POINTS), AccountKind::RiderWallet)
        },
    ];
    for account in accounts {
        assert_eq!(book.create_account(account), Ok(AccountCreated::Created));
    }
    book
}

/// What a batch should do: `Ok` lists per transfer whether it was created
/// (`true`) or a repeat (`false`).
type Expected = Result<Vec<bool>, BatchError>;

/// Applies `batch` at `now` and checks the result and, after it, each
/// listed account's `[debits_pending, debits_posted, credits_pending,
/// credits_posted]`. A refused batch must leave the book exactly as it was.
fn check(
    book: &mut Book,
    batch: &[Transfer],
    now: DateTime<Utc>,
    expected: Expected,
    totals: &[(AccountId, [i64; 4])],
) {
    let before = book.clone();
    let got = book.apply(batch, now).map(|outcomes| {
        outcomes
            .iter()
            .map(|o| matches!(o, Outcome::Created(_)))
            .collect()
    });
    assert_eq!(got, expected, "batch {batch:#?}");
    if got.is_err() {
        assert_eq!(*book, before, "a refused batch changed the book");
    }
    for (id, [dpe, dpo, cpe, cpo]) in totals {
        let b = book.balances(*id).unwrap();
        assert_eq!(
            [
                b.debits_pending.as_vnd(),
                b.debits_posted.as_vnd(),
                b.credits_pending.as_vnd(),
                b.credits_posted.as_vnd()
            ],
            [*dpe, *dpo, *cpe, *cpo],
            "totals of {id}"
        );
    }
}

fn rejected(index: usize, id: u128, error: TransferError) -> Expected {
    Err(BatchError::Rejected {
        index,
        id: transfer_id(id),
        error,
    })
}

#[test]
fn top_up_then_fares_until_the_wallet_is_empty() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, c(), w(), 20_000)],
        at(0),
        Ok(vec![true]),
        &[(c(), [0, 20_000, 0, 0]), (w(), [0, 0, 0, 20_000])],
    );
    check(
        &mut b,
        &[direct(2, w(), metro(), 7_000)],
        at(1),
        Ok(vec![true]),
        &[(w(), [0, 7_000, 0, 20_000]), (metro(), [0, 0, 0, 7_000])],
    );
    check(
        &mut b,
        &[direct(3, w(), metro(), 13_000)],
        at(2),
        Ok(vec![true]),
        &[(w(), [0, 20_000, 0, 20_000])],
    );
    check(
        &mut b,
        &[direct(4, w(), metro(), 1)],
        at(3),
        rejected(
            0,
            4,
            TransferError::ExceedsLimit {
                account_id: w(),
                available: Money::ZERO,
                amount: Money::vnd(1),
            },
        ),
        &[(w(), [0, 20_000, 0, 20_000])],
    );
}

#[test]
fn malformed_transfers_are_refused() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, w(), w(), 5)],
        at(0),
        rejected(0, 1, TransferError::SameAccount(w())),
        &[],
    );
    let ghost = account_id(99);
    check(
        &mut b,
        &[direct(1, c(), ghost, 5)],
        at(0),
        rejected(0, 1, TransferError::AccountNotFound(ghost)),
        &[],
    );
    check(
        &mut b,
        &[direct(1, c(), account_id(POINTS), 5)],
        at(0),
        rejected(
            0,
            1,
            TransferError::CurrencyMismatch {
                account_id: account_id(POINTS),
                account: Currency::from_iso_numeric(999).unwrap(),
                transfer: Currency::VND,
            },
        ),
        &[],
    );
    check(&mut b, &[], at(0), Err(BatchError::Empty), &[]);
    check(
        &mut b,
        &[post(2, 1, PostAmount::Full)],
        at(0),
        rejected(0, 2, TransferError::PendingNotFound(transfer_id(1))),
        &[],
    );
    check(
        &mut b,
        &[direct(1, c(), w(), 5), void(2, 1)],
        at(0),
        rejected(1, 2, TransferError::NotPending(transfer_id(1))),
        &[(w(), [0, 0, 0, 0])],
    );
    assert!(b.transfers().is_empty());
}

#[test]
fn a_repeat_returns_the_first_result_and_a_changed_repeat_is_refused() {
    let mut b = book();
    let first = b.apply(&[direct(1, c(), w(), 10_000)], at(0)).unwrap();
    let again = b.apply(&[direct(1, c(), w(), 10_000)], at(60)).unwrap();
    assert_eq!(again, vec![Outcome::Exists(first[0].record().clone())]);
    assert_eq!(again[0].record().accepted_at, at(0));
    check(
        &mut b,
        &[direct(1, c(), w(), 10_001)],
        at(61),
        rejected(0, 1, TransferError::IdConflict(transfer_id(1))),
        &[(w(), [0, 0, 0, 10_000])],
    );
    // A repeat inside a batch with new transfers: the repeat is a no-op.
    check(
        &mut b,
        &[direct(1, c(), w(), 10_000), direct(2, w(), metro(), 4_000)],
        at(62),
        Ok(vec![false, true]),
        &[(w(), [0, 4_000, 0, 10_000])],
    );
    // The same id twice in one batch: the second is a repeat of the first.
    check(
        &mut b,
        &[direct(3, c(), w(), 1), direct(3, c(), w(), 1)],
        at(63),
        Ok(vec![true, false]),
        &[(w(), [0, 4_000, 0, 10_001])],
    );
    check(
        &mut b,
        &[direct(4, c(), w(), 1), direct(4, c(), w(), 2)],
        at(63),
        rejected(1, 4, TransferError::IdConflict(transfer_id(4))),
        &[(w(), [0, 4_000, 0, 10_001])],
    );
    assert_eq!(b.transfers().len(), 3);
}

#[test]
fn a_failing_member_fails_the_whole_batch() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, c(), w(), 10_000)],
        at(0),
        Ok(vec![true]),
        &[],
    );
    check(
        &mut b,
        &[
            direct(2, w(), metro(), 6_000),
            direct(3, c(), w(), 500),
            direct(4, w(), metro(), 4_501),
        ],
        at(1),
        rejected(
            2,
            4,
            TransferError::ExceedsLimit {
                account_id: w(),
                available: Money::vnd(4_500),
                amount: Money::vnd(4_501),
            },
        ),
        &[(w(), [0, 0, 0, 10_000]), (metro(), [0, 0, 0, 0])],
    );
    check(
        &mut b,
        &[
            direct(2, w(), metro(), 6_000),
            direct(3, c(), w(), 500),
            direct(4, w(), metro(), 4_500),
        ],
        at(1),
        Ok(vec![true, true, true]),
        &[(w(), [0, 10_500, 0, 10_500]), (metro(), [0, 0, 0, 10_500])],
    );
}

#[test]
fn pending_holds_count_against_the_limit_and_post_in_part() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, c(), w(), 100_000)],
        at(0),
        Ok(vec![true]),
        &[],
    );
    check(
        &mut b,
        &[pending(2, w(), metro(), 80_000, 3_600)],
        at(10),
        Ok(vec![true]),
        &[(w(), [80_000, 0, 0, 100_000]), (metro(), [0, 0, 80_000, 0])],
    );
    check(
        &mut b,
        &[direct(3, w(), metro(), 20_001)],
        at(11),
        rejected(
            0,
            3,
            TransferError::ExceedsLimit {
                account_id: w(),
                available: Money::vnd(20_000),
                amount: Money::vnd(20_001),
            },
        ),
        &[],
    );
    check(
        &mut b,
        &[post(4, 2, PostAmount::Partial(amount(80_001)))],
        at(12),
        rejected(
            0,
            4,
            TransferError::ExceedsPendingAmount {
                pending_id: transfer_id(2),
                requested: Money::vnd(80_001),
                pending: Money::vnd(80_000),
            },
        ),
        &[],
    );
    check(
        &mut b,
        &[post(4, 2, PostAmount::Partial(amount(12_000)))],
        at(12),
        Ok(vec![true]),
        &[(w(), [0, 12_000, 0, 100_000]), (metro(), [0, 0, 0, 12_000])],
    );
    assert_eq!(
        b.pending_status(transfer_id(2)),
        Some(PendingStatus::Posted {
            by: transfer_id(4),
            amount: amount(12_000)
        })
    );
    let resolved = TransferError::PendingAlreadyResolved {
        pending_id: transfer_id(2),
        status: PendingStatus::Posted {
            by: transfer_id(4),
            amount: amount(12_000),
        },
    };
    check(
        &mut b,
        &[post(5, 2, PostAmount::Full)],
        at(13),
        rejected(0, 5, resolved.clone()),
        &[],
    );
    check(&mut b, &[void(5, 2)], at(13), rejected(0, 5, resolved), &[]);
    assert_eq!(
        b.expire(transfer_id(2), at(99_999)),
        Err(ExpireError::AlreadyResolved {
            pending_id: transfer_id(2),
            status: PendingStatus::Posted {
                by: transfer_id(4),
                amount: amount(12_000)
            },
        })
    );
}

#[test]
fn void_releases_and_full_post_moves_everything() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, c(), w(), 50_000)],
        at(0),
        Ok(vec![true]),
        &[],
    );
    check(
        &mut b,
        &[pending(2, w(), metro(), 30_000, 60), void(3, 2)],
        at(1),
        Ok(vec![true, true]),
        &[(w(), [0, 0, 0, 50_000]), (metro(), [0, 0, 0, 0])],
    );
    check(
        &mut b,
        &[pending(4, w(), metro(), 30_000, 60)],
        at(2),
        Ok(vec![true]),
        &[],
    );
    check(
        &mut b,
        &[post(5, 4, PostAmount::Full)],
        at(3),
        Ok(vec![true]),
        &[(w(), [0, 30_000, 0, 50_000]), (metro(), [0, 0, 0, 30_000])],
    );
    assert_eq!(b.transfer(transfer_id(3)).unwrap().amount, amount(30_000));
    assert_eq!(b.transfer(transfer_id(5)).unwrap().debit_account_id, w());
}

#[test]
fn pendings_expire_only_when_due_and_only_once() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, c(), w(), 50_000)],
        at(0),
        Ok(vec![true]),
        &[],
    );
    check(
        &mut b,
        &[
            pending(2, w(), metro(), 10_000, 100),
            pending(3, w(), metro(), 5_000, 50),
        ],
        at(0),
        Ok(vec![true, true]),
        &[(w(), [15_000, 0, 0, 50_000])],
    );
    assert_eq!(
        b.expire(transfer_id(2), at(99)),
        Err(ExpireError::NotYetDue {
            pending_id: transfer_id(2),
            expires_at: at(100),
        })
    );
    assert_eq!(
        b.expire(transfer_id(1), at(99)),
        Err(ExpireError::NotPending(transfer_id(1)))
    );
    assert_eq!(
        b.expire(transfer_id(9), at(99)),
        Err(ExpireError::NotFound(transfer_id(9)))
    );
    // Past its timeout a pending can no longer be posted, even before the
    // expiry is recorded; the hold stays until it is.
    check(
        &mut b,
        &[post(4, 2, PostAmount::Full)],
        at(100),
        rejected(
            0,
            4,
            TransferError::PendingExpired {
                pending_id: transfer_id(2),
                expires_at: at(100),
            },
        ),
        &[(w(), [15_000, 0, 0, 50_000])],
    );
    assert_eq!(b.expire_due(at(49)), vec![]);
    assert_eq!(b.expire_due(at(100)), vec![transfer_id(3), transfer_id(2)]);
    assert_eq!(b.expire_due(at(100)), vec![]);
    check(
        &mut b,
        &[],
        at(0),
        Err(BatchError::Empty),
        &[(w(), [0, 0, 0, 50_000]), (metro(), [0, 0, 0, 0])],
    );
    check(
        &mut b,
        &[void(4, 2)],
        at(101),
        rejected(
            0,
            4,
            TransferError::PendingAlreadyResolved {
                pending_id: transfer_id(2),
                status: PendingStatus::Expired { at: at(100) },
            },
        ),
        &[],
    );
    assert_eq!(b.expiries().len(), 2);
}

#[test]
fn overdraft_needs_both_the_account_and_the_transfer_to_allow_it() {
    let mut b = book();
    check(
        &mut b,
        &[direct(1, c(), pw(), 10_000), direct(2, c(), w(), 10_000)],
        at(0),
        Ok(vec![true, true]),
        &[],
    );
    // The parking exit: the fee is charged even past the balance, down to
    // the account's overdraft limit.
    check(
        &mut b,
        &[direct_overdraft(
            3,
            pw(),
            metro(),
            10_000 + PARKING_OVERDRAFT_VND + 1,
        )],
        at(1),
        rejected(
            0,
            3,
            TransferError::ExceedsLimit {
                account_id: pw(),
                available: Money::vnd(10_000 + PARKING_OVERDRAFT_VND),
                amount: Money::vnd(10_000 + PARKING_OVERDRAFT_VND + 1),
            },
        ),
        &[],
    );
    check(
        &mut b,
        &[direct_overdraft(
            3,
            pw(),
            metro(),
            10_000 + PARKING_OVERDRAFT_VND,
        )],
        at(1),
        Ok(vec![true]),
        &[(pw(), [0, 60_000, 0, 10_000])],
    );
    assert_eq!(
        b.balances(pw())
            .unwrap()
            .balance(ledger::NormalSide::Credit),
        Ok(Money::vnd(-PARKING_OVERDRAFT_VND))
    );
    // A wallet opened without an overdraft limit cannot be overdrawn, even
    // by a transfer that allows it.
    check(
        &mut b,
        &[direct_overdraft(4, w(), metro(), 10_001)],
        at(2),
        rejected(
            0,
            4,
            TransferError::ExceedsLimit {
                account_id: w(),
                available: Money::vnd(10_000),
                amount: Money::vnd(10_001),
            },
        ),
        &[],
    );
    // A top-up brings the overdrawn wallet back; ordinary fares need it above 0.
    check(
        &mut b,
        &[direct(5, c(), pw(), 50_500), direct(6, pw(), metro(), 501)],
        at(3),
        rejected(
            1,
            6,
            TransferError::ExceedsLimit {
                account_id: pw(),
                available: Money::vnd(500),
                amount: Money::vnd(501),
            },
        ),
        &[],
    );
}

#[test]
fn accounts_are_created_once() {
    let mut b = book();
    let check =
        |b: &mut Book, account: Account, expected: Result<AccountCreated, CreateAccountError>| {
            assert_eq!(b.create_account(account), expected);
        };
    check(
        &mut b,
        Account::new(w(), AccountKind::RiderWallet),
        Ok(AccountCreated::Exists),
    );
    check(
        &mut b,
        Account::new(w(), AccountKind::Penalties),
        Err(CreateAccountError::IdConflict(w())),
    );
    let bad = Account {
        limit: BalanceLimit::CreditsMustNotExceedDebits {
            overdraft_limit: Money::vnd(-1),
        },
        ..Account::new(account_id(50), AccountKind::PlatformFee)
    };
    check(
        &mut b,
        bad,
        Err(CreateAccountError::Invalid(
            ledger::account::InvalidAccount::NegativeOverdraftLimit(Money::vnd(-1)),
        )),
    );
    assert!(b.account(account_id(50)).is_none());
    let hurc1 = OperatorId::parse("HURC1").unwrap();
    check(
        &mut b,
        Account::new(
            account_id(51),
            AccountKind::OperatorRevenue {
                operator_id: hurc1.clone(),
            },
        ),
        Err(CreateAccountError::OperatorHasRevenueAccount(hurc1)),
    );
    assert!(b.account(account_id(51)).is_none());
}
