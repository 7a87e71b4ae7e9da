//! The terminal registry (`transit.terminal`) and the scoped admin API keys
//! (`admin.api_key`).
//!
//! Terminal rows are plain data here (ids as text); the service checks them
//! against the card protocol's id forms and the fare configuration before
//! it writes, and the table's CHECKs refuse what slips through.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::StoreError;

/// Most terminals one page lists: a screen's worth, and a bounded response.
pub const MAX_TERMINAL_PAGE: u32 = 500;

/// What a terminal is and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A bus validator; taps carry the actual route, this is the default.
    BusValidator {
        /// The usual route.
        route_id: String,
    },
    /// A metro gate lane.
    MetroGate {
        /// The station.
        station_id: String,
        /// `entry` or `exit`.
        direction: Direction,
    },
    /// A parking barrier.
    ParkingGate {
        /// The lot.
        lot_id: String,
        /// The gate within the lot.
        gate_id: String,
        /// `entry` or `exit`.
        direction: Direction,
    },
}

/// Which way a gate lets people through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Into the paid area or lot.
    Entry,
    /// Out of it.
    Exit,
}

impl Direction {
    const fn as_str(self) -> &'static str {
        match self {
            Direction::Entry => "entry",
            Direction::Exit => "exit",
        }
    }

    fn parse(text: Option<String>) -> Result<Direction, StoreError> {
        match text.as_deref() {
            Some("entry") => Ok(Direction::Entry),
            Some("exit") => Ok(Direction::Exit),
            other => Err(StoreError::Corrupt(format!("terminal direction {other:?}"))),
        }
    }
}

/// Active or disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalStatus {
    /// Accepted on the terminal API.
    Active,
    /// Refused with 403.
    Disabled,
}

/// A registered terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalRecord {
    /// The terminal id.
    pub terminal_id: String,
    /// The operator whose revenue its taps earn.
    pub operator_id: String,
    /// What and where.
    pub placement: Placement,
    /// Active or disabled.
    pub status: TerminalStatus,
    /// The key derivation version it was provisioned with.
    pub key_version: i32,
    /// Bumped on every change.
    pub config_version: i64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const TERMINAL_COLUMNS: &str = "terminal_id, operator_id, mode, route_id, station_id, lot_id, \
    gate_id, direction, status, key_version, config_version, created_at, updated_at";

fn terminal_from_row(row: &sqlx::postgres::PgRow) -> Result<TerminalRecord, StoreError> {
    let mode: String = row.try_get("mode")?;
    let required = |column: &str| -> Result<String, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("terminal without {column}")))
    };
    let placement = match mode.as_str() {
        "bus_validator" => Placement::BusValidator {
            route_id: required("route_id")?,
        },
        "metro_gate" => Placement::MetroGate {
            station_id: required("station_id")?,
            direction: Direction::parse(row.try_get("direction")?)?,
        },
        "parking_gate" => Placement::ParkingGate {
            lot_id: required("lot_id")?,
            gate_id: required("gate_id")?,
            direction: Direction::parse(row.try_get("direction")?)?,
        },
        other => return Err(StoreError::Corrupt(format!("terminal mode {other:?}"))),
    };
    let status: String = row.try_get("status")?;
    Ok(TerminalRecord {
        terminal_id: row.try_get("terminal_id")?,
        operator_id: row.try_get("operator_id")?,
        placement,
        status: if status == "active" {
            TerminalStatus::Active
        } else {
            TerminalStatus::Disabled
        },
        key_version: row.try_get("key_version")?,
        config_version: row.try_get("config_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The terminal registry and admin keys in Postgres.
#[derive(Clone, Debug)]
pub struct Terminals {
    pool: PgPool,
}

impl Terminals {
    /// The registry on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> Terminals {
        Terminals { pool }
    }

    /// Registers a terminal. An id in use is
    /// `Duplicate { constraint: "terminal_pkey" }`.
    #[tracing::instrument(skip_all, fields(terminal_id = terminal_id))]
    pub async fn register(
        &self,
        terminal_id: &str,
        operator_id: &str,
        placement: &Placement,
        now: DateTime<Utc>,
    ) -> Result<TerminalRecord, StoreError> {
        let (mode, route, station, lot, gate, direction) = match placement {
            Placement::BusValidator { route_id } => {
                ("bus_validator", Some(route_id), None, None, None, None)
            }
            Placement::MetroGate {
                station_id,
                direction,
            } => (
                "metro_gate",
                None,
                Some(station_id),
                None,
                None,
                Some(direction.as_str()),
            ),
            Placement::ParkingGate {
                lot_id,
                gate_id,
                direction,
            } => (
                "parking_gate",
                None,
                None,
                Some(lot_id),
                Some(gate_id),
                Some(direction.as_str()),
            ),
        };
        let sql = format!(
            "INSERT INTO transit.terminal (terminal_id, operator_id, mode, route_id, station_id, \
             lot_id, gate_id, direction, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9) RETURNING {TERMINAL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(terminal_id)
            .bind(operator_id)
            .bind(mode)
            .bind(route)
            .bind(station)
            .bind(lot)
            .bind(gate)
            .bind(direction)
            .bind(now.trunc_subsecs(6))
            .fetch_one(&self.pool)
            .await?;
        terminal_from_row(&row)
    }

    /// Disables a terminal (idempotent); `None` if no such terminal.
    pub async fn disable(
        &self,
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TerminalRecord>, StoreError> {
        let sql = format!(
            "UPDATE transit.terminal SET status = 'disabled', disabled_at = COALESCE(disabled_at, $2), \
             config_version = config_version + CASE WHEN status = 'active' THEN 1 ELSE 0 END, \
             updated_at = $2 WHERE terminal_id = $1 RETURNING {TERMINAL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(terminal_id)
            .bind(now.trunc_subsecs(6))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(terminal_from_row).transpose()
    }

    /// Terminals with ids after `after`, at most `limit` (≤ [`MAX_TERMINAL_PAGE`]).
    pub async fn page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TerminalRecord>, StoreError> {
        let sql = format!(
            "SELECT {TERMINAL_COLUMNS} FROM transit.terminal WHERE terminal_id > $1 \
             ORDER BY terminal_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit.min(MAX_TERMINAL_PAGE)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(terminal_from_row).collect()
    }

    /// Every terminal (the services cache the registry in memory).
    pub async fn all(&self) -> Result<Vec<TerminalRecord>, StoreError> {
        let sql = format!("SELECT {TERMINAL_COLUMNS} FROM transit.terminal ORDER BY terminal_id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(terminal_from_row).collect()
    }
}

/// Every admin API key starts with this (`otk_<key id>_<secret>`).
pub const API_KEY_PREFIX: &str = "otk_";

/// SHA-256 of a presented API key: what `admin.api_key` stores.
#[must_use]
pub fn api_key_hash(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// An admin API key as stored (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id (printed in the key, listed by `admin-key list`).
    pub key_id: Uuid,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// A label for people.
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// Whether the key grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

fn api_key_from_row(row: &sqlx::postgres::PgRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        key_id: row.try_get("key_id")?,
        scopes: row.try_get("scopes")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Scoped API keys in Postgres.
#[derive(Clone, Debug)]
pub struct ApiKeys {
    pool: PgPool,
}

impl ApiKeys {
    /// The key table on `pool`.
    #[must_use]
    pub const fn new(pool: PgPool) -> ApiKeys {
        ApiKeys { pool }
    }

    /// Stores a new key by the SHA-256 of its secret.
    pub async fn create(
        &self,
        key_id: Uuid,
        secret_sha256: &[u8; 32],
        scopes: &[String],
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRecord, StoreError> {
        let row = sqlx::query(
            "INSERT INTO admin.api_key (key_id, secret_sha256, scopes, label, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING key_id, scopes, label, created_at, revoked_at",
        )
        .bind(key_id)
        .bind(secret_sha256.as_slice())
        .bind(scopes)
        .bind(label)
        .bind(now.trunc_subsecs(6))
        .fetch_one(&self.pool)
        .await?;
        api_key_from_row(&row)
    }

    /// The unrevoked key a caller presented (the whole `otk_…` token), or
    /// `None` for anything else: no prefix, unknown, revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        if !token.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        self.find_active(&api_key_hash(token)).await
    }

    /// The unrevoked key whose secret hashes to `secret_sha256`.
    pub async fn find_active(
        &self,
        secret_sha256: &[u8; 32],
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key_id, scopes, label, created_at, revoked_at FROM admin.api_key \
             WHERE secret_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(secret_sha256.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    /// Every key, oldest first.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, scopes, label, created_at, revoked_at FROM admin.api_key \
             ORDER BY created_at, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    /// Revokes a key (idempotent); false if no such key.
    pub async fn revoke(&self, key_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE admin.api_key SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1",
        )
        .bind(key_id)
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }
}
