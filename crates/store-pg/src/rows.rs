//! Conversions between ledger values and table rows. Reading is strict:
//! a row that does not decode into a valid ledger value is `Corrupt`, never
//! patched up.

use chrono::{DateTime, Utc};
use ledger::{
    Account, AccountId, AccountKind, AccountState, Amount, BalanceLimit, Balances, Currency, Money,
    Movement, OperatorId, Overdraft, PendingTimeout, PostAmount, ProviderId, Reference, Transfer,
    TransferBody, TransferCode, TransferId, TransferRecord,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::error::StoreError;

/// The account columns every query selects, in `account_from_row` order.
pub(crate) const ACCOUNT_COLUMNS: &str = "account_id, currency, kind, operator_id, provider_id, \
     limit_kind, overdraft_limit_vnd, debits_pending_vnd, debits_posted_vnd, \
     credits_pending_vnd, credits_posted_vnd";

/// The transfer columns every query selects, in `transfer_from_row` order.
pub(crate) const TRANSFER_COLUMNS: &str = "transfer_id, seq, kind, code, reference, \
     debit_account_id, credit_account_id, currency, amount_vnd, overdraft, timeout_s, \
     expires_at, pending_id, post_requested_vnd, accepted_at";

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn account_id(uuid: Uuid) -> Result<AccountId, StoreError> {
    AccountId::new(uuid).map_err(corrupt)
}

pub(crate) fn transfer_id(uuid: Uuid) -> Result<TransferId, StoreError> {
    TransferId::new(uuid).map_err(corrupt)
}

fn currency(code: i16) -> Result<Currency, StoreError> {
    u16::try_from(code)
        .map_err(corrupt)
        .and_then(|code| Currency::from_iso_numeric(code).map_err(corrupt))
}

pub(crate) fn currency_code(currency: Currency) -> i16 {
    i16::try_from(currency.iso_numeric()).expect("ISO 4217 numeric codes are at most 999")
}

pub(crate) fn amount(vnd: i64) -> Result<Amount, StoreError> {
    Amount::new(Money::vnd(vnd)).map_err(corrupt)
}

/// `(kind, operator_id, provider_id)` columns of an account kind.
pub(crate) fn kind_columns(kind: &AccountKind) -> (&'static str, Option<String>, Option<String>) {
    let operator = match kind {
        AccountKind::OperatorRevenue { operator_id } => Some(operator_id.to_string()),
        _ => None,
    };
    let provider = match kind {
        AccountKind::ProviderClearing { provider_id } => Some(provider_id.to_string()),
        _ => None,
    };
    (kind.name(), operator, provider)
}

/// `(limit_kind, overdraft_limit_vnd)` columns of a balance limit.
pub(crate) fn limit_columns(limit: BalanceLimit) -> (&'static str, i64) {
    match limit {
        BalanceLimit::None => ("none", 0),
        BalanceLimit::DebitsMustNotExceedCredits { overdraft_limit } => {
            ("debits_must_not_exceed_credits", overdraft_limit.as_vnd())
        }
        BalanceLimit::CreditsMustNotExceedDebits { overdraft_limit } => {
            ("credits_must_not_exceed_debits", overdraft_limit.as_vnd())
        }
    }
}

pub(crate) fn account_from_row(row: &PgRow) -> Result<AccountState, StoreError> {
    let kind: String = row.try_get("kind")?;
    let operator: Option<String> = row.try_get("operator_id")?;
    let provider: Option<String> = row.try_get("provider_id")?;
    let kind = match (kind.as_str(), operator, provider) {
        ("rider_wallet", None, None) => AccountKind::RiderWallet,
        ("provider_clearing", None, Some(p)) => AccountKind::ProviderClearing {
            provider_id: ProviderId::parse(&p).map_err(corrupt)?,
        },
        ("unearned_pass_revenue", None, None) => AccountKind::UnearnedPassRevenue,
        ("operator_revenue", Some(o), None) => AccountKind::OperatorRevenue {
            operator_id: OperatorId::parse(&o).map_err(corrupt)?,
        },
        ("penalties", None, None) => AccountKind::Penalties,
        ("platform_fee", None, None) => AccountKind::PlatformFee,
        (other, _, _) => return Err(corrupt(format!("account kind {other:?}"))),
    };
    let limit_kind: String = row.try_get("limit_kind")?;
    let overdraft_limit = Money::vnd(row.try_get("overdraft_limit_vnd")?);
    let limit = match limit_kind.as_str() {
        "none" => BalanceLimit::None,
        "debits_must_not_exceed_credits" => {
            BalanceLimit::DebitsMustNotExceedCredits { overdraft_limit }
        }
        "credits_must_not_exceed_debits" => {
            BalanceLimit::CreditsMustNotExceedDebits { overdraft_limit }
        }
        other => return Err(corrupt(format!("limit kind {other:?}"))),
    };
    let account = Account {
        id: account_id(row.try_get("account_id")?)?,
        currency: currency(row.try_get("currency")?)?,
        kind,
        limit,
    };
    account.validate().map_err(corrupt)?;
    Ok(AccountState {
        account,
        balances: Balances {
            debits_pending: Money::vnd(row.try_get("debits_pending_vnd")?),
            debits_posted: Money::vnd(row.try_get("debits_posted_vnd")?),
            credits_pending: Money::vnd(row.try_get("credits_pending_vnd")?),
            credits_posted: Money::vnd(row.try_get("credits_posted_vnd")?),
        },
    })
}

fn overdraft(text: Option<&str>) -> Result<Overdraft, StoreError> {
    match text {
        Some("forbidden") => Ok(Overdraft::Forbidden),
        Some("allowed") => Ok(Overdraft::Allowed),
        other => Err(corrupt(format!("overdraft {other:?}"))),
    }
}

fn overdraft_text(overdraft: Overdraft) -> &'static str {
    match overdraft {
        Overdraft::Forbidden => "forbidden",
        Overdraft::Allowed => "allowed",
    }
}

/// A transfer row: its log position and the record.
pub(crate) fn transfer_from_row(row: &PgRow) -> Result<(i64, TransferRecord), StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let kind: String = row.try_get("kind")?;
    let code: i16 = row.try_get("code")?;
    let code = u16::try_from(code)
        .map_err(corrupt)
        .and_then(|c| TransferCode::from_u16(c).map_err(corrupt))?;
    let reference: Option<String> = row.try_get("reference")?;
    let reference = reference
        .map(|r| Reference::parse(&r).map_err(corrupt))
        .transpose()?;
    let debit_account_id = account_id(row.try_get("debit_account_id")?)?;
    let credit_account_id = account_id(row.try_get("credit_account_id")?)?;
    let currency = currency(row.try_get("currency")?)?;
    let amount = amount(row.try_get("amount_vnd")?)?;
    let overdraft_column: Option<String> = row.try_get("overdraft")?;
    let timeout_s: Option<i32> = row.try_get("timeout_s")?;
    let expires_at: Option<DateTime<Utc>> = row.try_get("expires_at")?;
    let pending_id: Option<Uuid> = row.try_get("pending_id")?;
    let post_requested: Option<i64> = row.try_get("post_requested_vnd")?;
    let movement = || -> Result<Movement, StoreError> {
        Ok(Movement {
            debit_account_id,
            credit_account_id,
            amount,
            currency,
            overdraft: overdraft(overdraft_column.as_deref())?,
        })
    };
    let pending = || -> Result<TransferId, StoreError> {
        pending_id
            .ok_or_else(|| corrupt("post or void without pending_id"))
            .and_then(transfer_id)
    };
    let body = match kind.as_str() {
        "direct" => TransferBody::Direct(movement()?),
        "pending" => {
            let seconds = timeout_s
                .and_then(|s| u32::try_from(s).ok())
                .ok_or_else(|| corrupt("pending transfer without a valid timeout"))?;
            TransferBody::Pending {
                movement: movement()?,
                timeout: PendingTimeout::from_secs(seconds).map_err(corrupt)?,
            }
        }
        "post" => TransferBody::Post {
            pending_id: pending()?,
            amount: match post_requested {
                None => PostAmount::Full,
                Some(vnd) => PostAmount::Partial(self::amount(vnd)?),
            },
        },
        "void" => TransferBody::Void {
            pending_id: pending()?,
        },
        other => return Err(corrupt(format!("transfer kind {other:?}"))),
    };
    let record = TransferRecord {
        transfer: Transfer {
            id: transfer_id(row.try_get("transfer_id")?)?,
            code,
            reference,
            body,
        },
        accepted_at: row.try_get("accepted_at")?,
        debit_account_id,
        credit_account_id,
        currency,
        amount,
        expires_at,
    };
    Ok((seq, record))
}

/// Column arrays for inserting many transfers with one `UNNEST`.
#[derive(Default)]
pub(crate) struct TransferColumns {
    pub transfer_id: Vec<Uuid>,
    pub kind: Vec<&'static str>,
    pub code: Vec<i16>,
    pub reference: Vec<Option<String>>,
    pub debit_account_id: Vec<Uuid>,
    pub credit_account_id: Vec<Uuid>,
    pub currency: Vec<i16>,
    pub amount_vnd: Vec<i64>,
    pub overdraft: Vec<Option<&'static str>>,
    pub timeout_s: Vec<Option<i32>>,
    pub expires_at: Vec<Option<DateTime<Utc>>>,
    pub pending_id: Vec<Option<Uuid>>,
    pub pending_kind: Vec<Option<&'static str>>,
    pub pending_amount_vnd: Vec<Option<i64>>,
    pub post_requested_vnd: Vec<Option<i64>>,
    pub accepted_at: Vec<DateTime<Utc>>,
}

impl TransferColumns {
    /// Appends `record`; `pending_amount` is what its pending transfer held
    /// (posts and voids only).
    pub(crate) fn push(&mut self, record: &TransferRecord, pending_amount: Option<Amount>) {
        let t = &record.transfer;
        let (kind, overdraft, timeout_s, pending_id, post_requested) = match &t.body {
            TransferBody::Direct(m) => (
                "direct",
                Some(overdraft_text(m.overdraft)),
                None,
                None,
                None,
            ),
            TransferBody::Pending { movement, timeout } => (
                "pending",
                Some(overdraft_text(movement.overdraft)),
                Some(
                    i32::try_from(timeout.as_secs())
                        .expect("timeouts are at most 31 days of seconds"),
                ),
                None,
                None,
            ),
            TransferBody::Post { pending_id, amount } => (
                "post",
                None,
                None,
                Some(pending_id.as_uuid()),
                match amount {
                    PostAmount::Full => None,
                    PostAmount::Partial(a) => Some(a.money().as_vnd()),
                },
            ),
            TransferBody::Void { pending_id } => {
                ("void", None, None, Some(pending_id.as_uuid()), None)
            }
        };
        self.transfer_id.push(t.id.as_uuid());
        self.kind.push(kind);
        self.code
            .push(i16::try_from(t.code.as_u16()).expect("transfer codes are small"));
        self.reference
            .push(t.reference.as_ref().map(|r| r.as_str().to_owned()));
        self.debit_account_id
            .push(record.debit_account_id.as_uuid());
        self.credit_account_id
            .push(record.credit_account_id.as_uuid());
        self.currency.push(currency_code(record.currency));
        self.amount_vnd.push(record.amount.money().as_vnd());
        self.overdraft.push(overdraft);
        self.timeout_s.push(timeout_s);
        self.expires_at.push(record.expires_at);
        self.pending_kind.push(pending_id.map(|_| "pending"));
        self.pending_id.push(pending_id);
        self.pending_amount_vnd
            .push(pending_amount.map(|a| a.money().as_vnd()));
        self.post_requested_vnd.push(post_requested);
        self.accepted_at.push(record.accepted_at);
    }
}
