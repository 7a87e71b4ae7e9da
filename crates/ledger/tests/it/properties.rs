//! Property tests of the `Book`: random sequences of batches (with repeats,
//! reused ids, members that fail), posts, voids and expiries racing on a
//! small set of accounts. After every step the book must agree with an
//! independent model written the simplest way (i128 totals, a cloned state
//! per batch), and the ledger invariants must hold:
//!
//! - I1 conservation: Σ debits = Σ credits, posted and pending separately;
//! - I6 every account's totals equal the replay of the accepted transfers
//!   and expiries;
//! - I4 a pending transfer is resolved at most once;
//! - I5 no account is ever past its limit;
//! - I3 a repeat returns the first record and changes nothing, and a
//!   refused batch changes nothing at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ledger::{
    Account, AccountId, AccountKind, BalanceLimit, BatchError, Book, Money, OperatorId, Outcome,
    Overdraft, PendingStatus, PendingTimeout, PostAmount, ProviderId, Transfer, TransferBody,
    TransferCode, TransferId,
};
use proptest::prelude::*;

use crate::fixture::{account_id, amount, at, movement, transfer_id};

/// Accounts 0..CREATED_ACCOUNTS exist; index CREATED_ACCOUNTS never does.
const CREATED_ACCOUNTS: usize = 5;
/// The overdraft limit of the overdraft-capable accounts, in dong.
const OVERDRAFT_LIMIT_VND: i64 = 1_000;
/// The largest amount drawn, in dong: comparable to balances so limits bite.
const MAX_AMOUNT_VND: i64 = 1_500;
/// The longest pending timeout drawn, in seconds: a few steps of the clock,
/// so posts, voids and expiries race.
const MAX_TIMEOUT_S: u32 = 180;
/// The longest step of the clock between operations, in seconds.
const MAX_STEP_S: i64 = 30;

/// The limits the model knows, by account index.
fn limit_of(index: usize) -> BalanceLimit {
    match index {
        1 => BalanceLimit::DebitsMustNotExceedCredits {
            overdraft_limit: Money::ZERO,
        },
        2 => BalanceLimit::DebitsMustNotExceedCredits {
            overdraft_limit: Money::vnd(OVERDRAFT_LIMIT_VND),
        },
        4 => BalanceLimit::CreditsMustNotExceedDebits {
            overdraft_limit: Money::vnd(OVERDRAFT_LIMIT_VND),
        },
        _ => BalanceLimit::None,
    }
}

fn accounts() -> Vec<Account> {
    let kinds = [
        AccountKind::ProviderClearing {
            provider_id: ProviderId::parse("MOMO").unwrap(),
        },
        AccountKind::RiderWallet,
        AccountKind::RiderWallet,
        AccountKind::OperatorRevenue {
            operator_id: OperatorId::parse("HURC1").unwrap(),
        },
        AccountKind::ProviderClearing {
            provider_id: ProviderId::parse("VNPAY").unwrap(),
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Account {
            limit: limit_of(i),
            ..Account::new(account_id(i as u128), kind)
        })
        .collect()
}

/// One transfer request with concrete ids, in terms of small indices.
#[derive(Clone, Debug)]
enum Req {
    Move {
        id: u128,
        debit: usize,
        credit: usize,
        dong: i64,
        overdraft: bool,
        timeout_s: Option<u32>,
    },
    Post {
        id: u128,
        pending: u128,
        partial_dong: Option<i64>,
    },
    Void {
        id: u128,
        pending: u128,
    },
}

/// How a generated request picks an id: a new one, or one used before (a
/// repeat or a conflict, depending on the rest of the request).
#[derive(Clone, Copy, Debug)]
enum Pick {
    Fresh,
    Old(usize),
    /// Only for pending ids: one still open.
    Open(usize),
}

/// A generated request, before its ids are resolved against what the run
/// has used so far.
#[derive(Clone, Debug)]
enum Draft {
    Move {
        id: Pick,
        debit: usize,
        credit: usize,
        dong: i64,
        overdraft: bool,
        timeout_s: Option<u32>,
    },
    Post {
        id: Pick,
        pending: Pick,
        partial_dong: Option<i64>,
    },
    Void {
        id: Pick,
        pending: Pick,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Batch(Vec<Draft>),
    /// Re-submit the n-th earlier batch (mod the number so far).
    Repeat(usize),
    ExpireDue,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![4 => Just(Pick::Fresh), 1 => any::<usize>().prop_map(Pick::Old)]
}

/// Debit and credit account indices: mostly two different created
/// accounts; now and then the same one twice, or the one never created.
fn account_pair() -> impl Strategy<Value = (usize, usize)> {
    let offset = prop_oneof![12 => 1..CREATED_ACCOUNTS, 1 => Just(0)];
    (0..CREATED_ACCOUNTS, offset, 0..24u8).prop_map(|(debit, offset, missing)| {
        let credit = (debit + offset) % CREATED_ACCOUNTS;
        match missing {
            0 => (CREATED_ACCOUNTS, credit),
            1 => (debit, CREATED_ACCOUNTS),
            _ => (debit, credit),
        }
    })
}

fn draft() -> impl Strategy<Value = Draft> {
    // A pending transfer to post or void is mostly one still open, at times
    // one already resolved, rarely one that does not exist.
    let pending = prop_oneof![
        1 => Just(Pick::Fresh),
        3 => any::<usize>().prop_map(Pick::Old),
        8 => any::<usize>().prop_map(Pick::Open),
    ];
    prop_oneof![
        5 => (pick(), account_pair(), 1..=MAX_AMOUNT_VND, any::<bool>(),
              proptest::option::of(1..=MAX_TIMEOUT_S))
            .prop_map(|(id, (debit, credit), dong, overdraft, timeout_s)|
                Draft::Move { id, debit, credit, dong, overdraft, timeout_s }),
        3 => (pick(), pending.clone(), proptest::option::of(1..=MAX_AMOUNT_VND))
            .prop_map(|(id, pending, partial_dong)| Draft::Post { id, pending, partial_dong }),
        1 => (pick(), pending).prop_map(|(id, pending)| Draft::Void { id, pending }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec(draft(), 1..2).prop_map(Op::Batch),
        3 => proptest::collection::vec(draft(), 2..5).prop_map(Op::Batch),
        1 => any::<usize>().prop_map(Op::Repeat),
        2 => Just(Op::ExpireDue),
    ]
}

/// Turns drafts into requests: fresh ids count up, old ids come from
/// `used` (ids of earlier requests, accepted or not), `pendings` (ids of
/// accepted pending transfers) or `open` (those still open).
struct Ids {
    next: u128,
    used: Vec<u128>,
    pendings: Vec<u128>,
    open: Vec<u128>,
}

impl Ids {
    fn resolve(&mut self, pick: Pick, from_pendings: bool) -> u128 {
        let pool = if from_pendings {
            &self.pendings
        } else {
            &self.used
        };
        match pick {
            Pick::Old(n) if !pool.is_empty() => pool[n % pool.len()],
            Pick::Open(n) if !self.open.is_empty() => self.open[n % self.open.len()],
            _ => {
                self.next += 1;
                self.next
            }
        }
    }

    fn request(&mut self, draft: &Draft) -> Req {
        let req = match *draft {
            Draft::Move {
                id,
                debit,
                credit,
                dong,
                overdraft,
                timeout_s,
            } => {
                let id = self.resolve(id, false);
                Req::Move {
                    id,
                    debit,
                    credit,
                    dong,
                    overdraft,
                    timeout_s,
                }
            }
            Draft::Post {
                id,
                pending,
                partial_dong,
            } => Req::Post {
                pending: self.resolve(pending, true),
                id: self.resolve(id, false),
                partial_dong,
            },
            Draft::Void { id, pending } => Req::Void {
                pending: self.resolve(pending, true),
                id: self.resolve(id, false),
            },
        };
        let id = match req {
            Req::Move { id, .. } | Req::Post { id, .. } | Req::Void { id, .. } => id,
        };
        self.used.push(id);
        req
    }
}

fn to_transfer(req: &Req) -> Transfer {
    let (id, body) = match *req {
        Req::Move {
            id,
            debit,
            credit,
            dong,
            overdraft,
            timeout_s,
        } => {
            let overdraft = if overdraft {
                Overdraft::Allowed
            } else {
                Overdraft::Forbidden
            };
            let m = movement(
                account_id(debit as u128),
                account_id(credit as u128),
                dong,
                overdraft,
            );
            let body = match timeout_s {
                None => TransferBody::Direct(m),
                Some(s) => TransferBody::Pending {
                    movement: m,
                    timeout: PendingTimeout::from_secs(s).unwrap(),
                },
            };
            (id, body)
        }
        Req::Post {
            id,
            pending,
            partial_dong,
        } => (
            id,
            TransferBody::Post {
                pending_id: transfer_id(pending),
                amount: partial_dong.map_or(PostAmount::Full, |d| PostAmount::Partial(amount(d))),
            },
        ),
        Req::Void { id, pending } => (
            id,
            TransferBody::Void {
                pending_id: transfer_id(pending),
            },
        ),
    };
    Transfer {
        id: transfer_id(id),
        code: TransferCode::Fare,
        reference: None,
        body,
    }
}

/// The independent model: totals as `[debits_pending, debits_posted,
/// credits_pending, credits_posted]` in i128 per account index.
#[derive(Clone, Debug, Default)]
struct Model {
    totals: [[i128; 4]; CREATED_ACCOUNTS],
    requests: HashMap<TransferId, Transfer>,
    /// Pending id → (debit, credit, amount, expires_at, still open).
    pendings: HashMap<TransferId, (usize, usize, i128, DateTime<Utc>, bool)>,
}

const DPE: usize = 0;
const DPO: usize = 1;
const CPE: usize = 2;
const CPO: usize = 3;

impl Model {
    fn within_limit(&self, index: usize, overdraft: bool) -> bool {
        let t = self.totals[index];
        let allowance = if overdraft {
            i128::from(OVERDRAFT_LIMIT_VND)
        } else {
            0
        };
        match index {
            1 => t[DPE] + t[DPO] <= t[CPO],
            2 => t[DPE] + t[DPO] <= t[CPO] + allowance,
            4 => t[CPE] + t[CPO] <= t[DPO] + allowance,
            _ => true,
        }
    }

    /// Applies one request; `Ok(created)` or `Err(())` if refused.
    fn apply_one(&mut self, req: &Req, now: DateTime<Utc>) -> Result<bool, ()> {
        let transfer = to_transfer(req);
        if let Some(first) = self.requests.get(&transfer.id) {
            return if *first == transfer {
                Ok(false)
            } else {
                Err(())
            };
        }
        match *req {
            Req::Move {
                debit,
                credit,
                dong,
                overdraft,
                timeout_s,
                ..
            } => {
                if debit == credit || debit >= CREATED_ACCOUNTS || credit >= CREATED_ACCOUNTS {
                    return Err(());
                }
                let (d, c) = if timeout_s.is_some() {
                    (DPE, CPE)
                } else {
                    (DPO, CPO)
                };
                self.totals[debit][d] += i128::from(dong);
                self.totals[credit][c] += i128::from(dong);
                if !self.within_limit(debit, overdraft) || !self.within_limit(credit, overdraft) {
                    return Err(());
                }
                if let Some(s) = timeout_s {
                    let expires_at = now + chrono::TimeDelta::seconds(i64::from(s));
                    self.pendings.insert(
                        transfer.id,
                        (debit, credit, i128::from(dong), expires_at, true),
                    );
                }
            }
            Req::Post {
                pending,
                partial_dong,
                ..
            } => {
                let (debit, credit, held) = self.open_pending(pending, now)?;
                let posted = partial_dong.map_or(held, i128::from);
                if posted > held {
                    return Err(());
                }
                self.release(pending, debit, credit, held);
                self.totals[debit][DPO] += posted;
                self.totals[credit][CPO] += posted;
            }
            Req::Void { pending, .. } => {
                let (debit, credit, held) = self.open_pending(pending, now)?;
                self.release(pending, debit, credit, held);
            }
        }
        self.requests.insert(transfer.id, transfer);
        Ok(true)
    }

    fn open_pending(&self, pending: u128, now: DateTime<Utc>) -> Result<(usize, usize, i128), ()> {
        match self.pendings.get(&transfer_id(pending)) {
            Some(&(debit, credit, held, expires_at, true)) if now < expires_at => {
                Ok((debit, credit, held))
            }
            _ => Err(()),
        }
    }

    fn release(&mut self, pending: u128, debit: usize, credit: usize, held: i128) {
        self.totals[debit][DPE] -= held;
        self.totals[credit][CPE] -= held;
        if let Some(p) = self.pendings.get_mut(&transfer_id(pending)) {
            p.4 = false;
        }
    }

    /// All or nothing: `Ok(created flags)` or `Err(index of the failure)`.
    fn apply(&mut self, batch: &[Req], now: DateTime<Utc>) -> Result<Vec<bool>, usize> {
        let mut next = self.clone();
        let mut created = Vec::new();
        for (index, req) in batch.iter().enumerate() {
            created.push(next.apply_one(req, now).map_err(|()| index)?);
        }
        *self = next;
        Ok(created)
    }

    fn expire_due(&mut self, now: DateTime<Utc>) -> Vec<TransferId> {
        let mut due: Vec<(DateTime<Utc>, TransferId)> = self
            .pendings
            .iter()
            .filter(|(_, p)| p.4 && p.3 <= now)
            .map(|(id, p)| (p.3, *id))
            .collect();
        due.sort();
        for (_, id) in &due {
            let (debit, credit, held, _, _) = self.pendings[id];
            self.totals[debit][DPE] -= held;
            self.totals[credit][CPE] -= held;
            self.pendings.get_mut(id).unwrap().4 = false;
        }
        due.into_iter().map(|(_, id)| id).collect()
    }
}

fn totals_of(book: &Book, index: usize) -> [i128; 4] {
    let b = book.balances(account_id(index as u128)).unwrap();
    [
        b.debits_pending,
        b.debits_posted,
        b.credits_pending,
        b.credits_posted,
    ]
    .map(|m| i128::from(m.as_vnd()))
}

/// Rebuilds every account's totals from the log alone.
fn replay(book: &Book) -> HashMap<AccountId, [i128; 4]> {
    let mut totals: HashMap<AccountId, [i128; 4]> = HashMap::new();
    let mut held = HashMap::new();
    let mut bump = |id: AccountId, field: usize, dong: i128| {
        totals.entry(id).or_default()[field] += dong;
    };
    for r in book.transfers() {
        let dong = i128::from(r.amount.money().as_vnd());
        match &r.transfer.body {
            TransferBody::Direct(_) => {
                bump(r.debit_account_id, DPO, dong);
                bump(r.credit_account_id, CPO, dong);
            }
            TransferBody::Pending { .. } => {
                held.insert(r.id(), dong);
                bump(r.debit_account_id, DPE, dong);
                bump(r.credit_account_id, CPE, dong);
            }
            TransferBody::Post { pending_id, .. } => {
                let h = held[pending_id];
                bump(r.debit_account_id, DPE, -h);
                bump(r.credit_account_id, CPE, -h);
                bump(r.debit_account_id, DPO, dong);
                bump(r.credit_account_id, CPO, dong);
            }
            TransferBody::Void { .. } => {
                bump(r.debit_account_id, DPE, -dong);
                bump(r.credit_account_id, CPE, -dong);
            }
        }
    }
    for e in book.expiries() {
        let p = book.transfer(e.pending_id).unwrap();
        let h = i128::from(p.amount.money().as_vnd());
        bump(p.debit_account_id, DPE, -h);
        bump(p.credit_account_id, CPE, -h);
    }
    totals
}

fn check_invariants(book: &Book, model: &Model) -> Result<(), TestCaseError> {
    let mut sums = [0i128; 4];
    let replayed = replay(book);
    for index in 0..CREATED_ACCOUNTS {
        let t = totals_of(book, index);
        prop_assert_eq!(
            t,
            model.totals[index],
            "account {} differs from the model",
            index
        );
        let r = replayed
            .get(&account_id(index as u128))
            .copied()
            .unwrap_or_default();
        prop_assert_eq!(t, r, "account {} differs from the replay of the log", index);
        prop_assert!(
            t.iter().all(|&x| x >= 0),
            "negative total on account {}",
            index
        );
        prop_assert!(
            model.within_limit(index, true),
            "account {} past its hard limit",
            index
        );
        let state = book.account(account_id(index as u128)).unwrap();
        prop_assert!(
            state
                .balances
                .within(state.account.limit, Overdraft::Allowed)
        );
        for (sum, x) in sums.iter_mut().zip(t) {
            *sum += x;
        }
    }
    prop_assert_eq!(sums[DPE], sums[CPE], "pending debits ≠ pending credits");
    prop_assert_eq!(sums[DPO], sums[CPO], "posted debits ≠ posted credits");

    let mut resolutions: HashMap<TransferId, usize> = HashMap::new();
    for r in book.transfers() {
        if let Some(pending_id) = r.transfer.pending_id() {
            *resolutions.entry(pending_id).or_default() += 1;
        }
    }
    for e in book.expiries() {
        *resolutions.entry(e.pending_id).or_default() += 1;
    }
    for (pending_id, count) in resolutions {
        prop_assert_eq!(count, 1, "pending {} resolved {} times", pending_id, count);
        prop_assert!(!book.pending_status(pending_id).unwrap().is_open());
    }
    for r in book.transfers() {
        if let TransferBody::Pending { .. } = r.transfer.body {
            let open = matches!(
                book.pending_status(r.id()),
                Some(PendingStatus::Open { .. })
            );
            prop_assert_eq!(open, model.pendings[&r.id()].4);
        }
    }
    Ok(())
}

/// Opening balances so that limits bite but do not block everything: each
/// wallet gets 2,000 from the unlimited clearing account, and the limited
/// clearing account (4) is debited 2,000 so it can take credits.
fn funding() -> Vec<Req> {
    let fund = |id, debit, credit| Req::Move {
        id,
        debit,
        credit,
        dong: 2_000,
        overdraft: false,
        timeout_s: None,
    };
    vec![fund(1_001, 0, 1), fund(1_002, 0, 2), fund(1_003, 4, 3)]
}

fn run(ops: &[(Op, i64)]) -> Result<(), TestCaseError> {
    let mut book = Book::new();
    for account in accounts() {
        book.create_account(account).unwrap();
    }
    let mut model = Model::default();
    let mut ids = Ids {
        next: 0,
        used: Vec::new(),
        pendings: Vec::new(),
        open: Vec::new(),
    };
    let mut submitted: Vec<Vec<Req>> = vec![funding()];
    let mut clock_s = 0;
    let steps = std::iter::once((None, 0)).chain(ops.iter().map(|(op, s)| (Some(op), *s)));
    for (op, step_s) in steps {
        clock_s += step_s;
        let now = at(clock_s);
        let batch = match op {
            None => funding(),
            Some(Op::ExpireDue) => {
                let expired = book.expire_due(now);
                prop_assert_eq!(expired, model.expire_due(now));
                check_invariants(&book, &model)?;
                continue;
            }
            Some(Op::Batch(drafts)) => drafts.iter().map(|d| ids.request(d)).collect(),
            Some(Op::Repeat(n)) => submitted[n % submitted.len()].clone(),
        };
        submitted.push(batch.clone());
        let transfers: Vec<Transfer> = batch.iter().map(to_transfer).collect();
        let before = book.clone();
        let got = book.apply(&transfers, now);
        let expected = model.apply(&batch, now);
        match (&got, &expected) {
            (Ok(outcomes), Ok(created)) => {
                let flags: Vec<bool> = outcomes
                    .iter()
                    .map(|o| matches!(o, Outcome::Created(_)))
                    .collect();
                prop_assert_eq!(&flags, created);
                for record in outcomes.iter().filter_map(|o| match o {
                    Outcome::Created(r)
                        if matches!(r.transfer.body, TransferBody::Pending { .. }) =>
                    {
                        Some(r)
                    }
                    _ => None,
                }) {
                    let n = record.id().as_uuid().as_u128() - transfer_id(0).as_uuid().as_u128();
                    ids.pendings.push(n);
                    ids.open.push(n);
                }
                for outcome in outcomes {
                    let first = book.transfer(outcome.record().id()).unwrap();
                    prop_assert_eq!(
                        outcome.record(),
                        first,
                        "a repeat must return the first record"
                    );
                }
                if created.iter().all(|c| !c) {
                    prop_assert_eq!(&book, &before, "a pure repeat changed the book");
                }
            }
            (Err(BatchError::Rejected { index, .. }), Err(model_index)) => {
                prop_assert_eq!(index, model_index);
                prop_assert_eq!(&book, &before, "a refused batch changed the book");
            }
            _ => prop_assert!(
                false,
                "book {:?} but model {:?} for {:?}",
                got,
                expected,
                batch
            ),
        }
        check_invariants(&book, &model)?;
        ids.open.retain(|id| {
            book.pending_status(transfer_id(*id))
                .is_some_and(|status| status.is_open())
        });
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn book_agrees_with_the_model_and_keeps_every_invariant(
        ops in proptest::collection::vec((op(), 0i64..=MAX_STEP_S), 1..80)
    ) {
        run(&ops)?;
    }
}
