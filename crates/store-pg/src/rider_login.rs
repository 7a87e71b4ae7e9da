//! What the rider API keeps about logging in (schema `rider`, migration
//! 0040): one login (phone or e-mail and an argon2id hash) per account,
//! sessions by the SHA-256 of their token, the phone's holder key, and the
//! admin's decision on a rider category.
//!
//! **Boundary:** no secret is stored here in the clear, and nothing here
//! checks a password or decides a session's validity: the service does.

use chrono::{DateTime, SubsecRound, Utc};
use ledger::AccountId;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;
use crate::rider::CategoryStatus;
use crate::rows;

/// A stored login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRecord {
    /// The account it opens.
    pub account_id: AccountId,
    /// `phone` or `email`.
    pub identifier_kind: String,
    /// The canonical identifier.
    pub identifier: String,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id.
    pub session_id: Uuid,
    /// Whose.
    pub account_id: AccountId,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last used at (updated at most once per the service's touch interval).
    pub last_seen_at: DateTime<Utc>,
    /// Its absolute end.
    pub expires_at: DateTime<Utc>,
    /// When it was logged out, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// Its id.
    pub session_id: Uuid,
    /// Whose.
    pub account_id: AccountId,
    /// SHA-256 of the token.
    pub token_sha256: [u8; 32],
    /// Its absolute end.
    pub expires_at: DateTime<Utc>,
}

/// Logins, sessions, holder keys and category decisions in Postgres.
#[derive(Clone, Debug)]
pub struct RiderLogins {
    pool: PgPool,
}

const SESSION_COLUMNS: &str =
    "session_id, account_id, created_at, last_seen_at, expires_at, revoked_at";

fn session_from_row(row: &sqlx::postgres::PgRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        session_id: row.try_get("session_id")?,
        account_id: rows::account_id(row.try_get("account_id")?)?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl RiderLogins {
    /// The store on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> RiderLogins {
        RiderLogins { pool }
    }

    /// Records the login of a new account. An identifier in use is
    /// `Duplicate { constraint: "login_identifier_key" }`.
    pub async fn insert_login(
        &self,
        login: &LoginRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rider.login (account_id, identifier_kind, identifier, password_hash, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(login.account_id.as_uuid())
        .bind(&login.identifier_kind)
        .bind(&login.identifier)
        .bind(&login.password_hash)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether an identifier is taken.
    pub async fn identifier_taken(&self, identifier: &str) -> Result<bool, StoreError> {
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rider.login WHERE identifier = $1)")
                .bind(identifier)
                .fetch_one(&self.pool)
                .await?;
        Ok(taken)
    }

    /// The login with this canonical identifier.
    pub async fn login(&self, identifier: &str) -> Result<Option<LoginRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT account_id, identifier_kind, identifier, password_hash FROM rider.login \
             WHERE identifier = $1",
        )
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(LoginRecord {
                account_id: rows::account_id(row.try_get("account_id")?)?,
                identifier_kind: row.try_get("identifier_kind")?,
                identifier: row.try_get("identifier")?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// The login of an account.
    pub async fn login_of(&self, account_id: AccountId) -> Result<Option<LoginRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT account_id, identifier_kind, identifier, password_hash FROM rider.login \
             WHERE account_id = $1",
        )
        .bind(account_id.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(LoginRecord {
                account_id: rows::account_id(row.try_get("account_id")?)?,
                identifier_kind: row.try_get("identifier_kind")?,
                identifier: row.try_get("identifier")?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// Opens a session at `now`.
    pub async fn create_session(
        &self,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<SessionRecord, StoreError> {
        let now = now.trunc_subsecs(6);
        let sql = format!(
            "INSERT INTO rider.session (session_id, account_id, token_sha256, created_at, \
             last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) RETURNING {SESSION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(session.session_id)
            .bind(session.account_id.as_uuid())
            .bind(session.token_sha256.as_slice())
            .bind(now)
            .bind(session.expires_at.trunc_subsecs(6))
            .fetch_one(&self.pool)
            .await?;
        session_from_row(&row)
    }

    /// The session whose token hashes to `token_sha256`.
    pub async fn session_by_token(
        &self,
        token_sha256: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM rider.session WHERE token_sha256 = $1");
        let row = sqlx::query(&sql)
            .bind(token_sha256.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Marks a session used at `now` (never moves `last_seen_at` back).
    pub async fn touch_session(
        &self,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rider.session SET last_seen_at = $2 WHERE session_id = $1 AND last_seen_at < $2",
        )
        .bind(session_id)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes a session; returns whether it was live before.
    pub async fn revoke_session(
        &self,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let revoked = sqlx::query(
            "UPDATE rider.session SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(revoked == 1)
    }

    /// Sets (or replaces) the phone key tickets of the account are bound to.
    pub async fn set_holder_key(
        &self,
        account_id: AccountId,
        public_key: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rider.holder_key (account_id, public_key, registered_at) \
             VALUES ($1, $2, $3) ON CONFLICT (account_id) \
             DO UPDATE SET public_key = EXCLUDED.public_key, registered_at = EXCLUDED.registered_at",
        )
        .bind(account_id.as_uuid())
        .bind(public_key.as_slice())
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account's holder key, if the phone registered one.
    pub async fn holder_key(&self, account_id: AccountId) -> Result<Option<[u8; 32]>, StoreError> {
        let key: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT public_key FROM rider.holder_key WHERE account_id = $1")
                .bind(account_id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
        key.map(|bytes| {
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| StoreError::Corrupt("holder key length".to_owned()))
        })
        .transpose()
    }

    /// Records a category and its verification state for an account;
    /// returns whether the account exists.
    pub async fn set_category(
        &self,
        account_id: AccountId,
        category_id: &str,
        status: CategoryStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE rider.account SET category_id = $2, category_status = $3, updated_at = $4 \
             WHERE account_id = $1",
        )
        .bind(account_id.as_uuid())
        .bind(category_id)
        .bind(status.as_str())
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Deletes sessions that ended (expired, revoked, or unused) before
    /// `before`, at most `limit`; returns how many went.
    pub async fn purge_sessions(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM rider.session WHERE session_id IN (SELECT session_id FROM rider.session \
             WHERE expires_at < $1 OR revoked_at < $1 OR last_seen_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }
}
