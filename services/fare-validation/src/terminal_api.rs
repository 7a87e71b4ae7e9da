//! What terminals read: the deny list (snapshot and delta, signed
//! requests), the ticket key set and the server time (public), and their
//! own configuration (signed).
//!
//! Deny-list routes: `GET /v1/deny-list` (snapshot), `GET
//! /v1/deny-list/delta?from_version=N` (card protocol §5.7) and `GET
//! /v1/denylist?since=V` (one route for both: a snapshot without `since`
//! or when `since` is unknown or too far behind, else the delta). When
//! nothing changed since the version asked about, the answer is
//! `204 No Content` (a delta must move the version forward).

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use card_protocol::keys::PublicKey;
use card_protocol::messages::{
    BankCardToken, CardUid, DenyEntry, DenyListDelta, DenyListSnapshot, GateDirection,
    JournalPolicy, KeySet, MAX_DENY_DELTA_ENTRIES, OfflinePolicy, Placement, ServerTime,
    TerminalConfig, WireId,
};
use card_protocol::{TerminalId, TicketId};
use serde::Deserialize;
use service_kit::{ApiError, Json, Query};
use store_pg::deny_list::{DenyKind, Since, StoredEntry};
use store_pg::terminal::{Direction, TerminalRecord};

use crate::auth;
use crate::state::AppState;

/// Journal upload interval handed to terminals, s: once a minute keeps
/// the journal path (and its ack) close behind the online path.
pub const JOURNAL_UPLOAD_INTERVAL_S: u32 = 60;
/// Records per upload handed to terminals: the protocol's maximum.
pub const JOURNAL_MAX_BATCH_RECORDS: u32 = 500;
/// How long a terminal may decide offline, s: a day covers an outage; past
/// it only valid QR tickets pass.
pub const OFFLINE_MAX_S: u32 = 24 * 3_600;
/// Oldest deny list a terminal may decide cards with, s: a day.
pub const OFFLINE_MAX_DENY_LIST_AGE_S: u32 = 24 * 3_600;

fn entry_of((kind, value): &StoredEntry) -> Option<DenyEntry> {
    match kind {
        DenyKind::CardId => CardUid::parse(value).ok().map(DenyEntry::CardId),
        DenyKind::BankCardToken => BankCardToken::parse(value)
            .ok()
            .map(DenyEntry::BankCardToken),
        DenyKind::TicketId => TicketId::parse_hex(value).ok().map(DenyEntry::TicketId),
        DenyKind::HolderKey => PublicKey::parse_hex(value).ok().map(DenyEntry::HolderKey),
    }
}

fn entries(stored: &[StoredEntry]) -> Vec<DenyEntry> {
    stored.iter().filter_map(entry_of).collect()
}

async fn signed(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<std::sync::Arc<TerminalRecord>, ApiError> {
    auth::terminal(state, method, uri, headers, body, state.clock().now_s())
        .await
        .map(|signed| signed.record)
}

async fn snapshot(state: &AppState) -> Result<Response, ApiError> {
    let snapshot = state
        .inner
        .deny_list
        .snapshot()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(DenyListSnapshot {
        version: snapshot.version,
        entries: entries(&snapshot.entries),
        server_time_s: state.clock().now_s(),
    })
    .into_response())
}

async fn since(state: &AppState, from_version: u64) -> Result<Response, ApiError> {
    match state
        .inner
        .deny_list
        .since(from_version, MAX_DENY_DELTA_ENTRIES)
        .await
        .map_err(ApiError::internal)?
    {
        Since::Unchanged => Ok(StatusCode::NO_CONTENT.into_response()),
        Since::SnapshotNeeded => snapshot(state).await,
        Since::Delta(delta) => Ok(Json(DenyListDelta {
            from_version: delta.from_version,
            to_version: delta.to_version,
            added: entries(&delta.added),
            removed: entries(&delta.removed),
            server_time_s: state.clock().now_s(),
        })
        .into_response()),
    }
}

/// `GET /v1/deny-list`.
#[tracing::instrument(skip_all)]
pub(crate) async fn deny_list_snapshot(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    signed(&state, &method, &uri, &headers, &body).await?;
    snapshot(&state).await
}

/// Query of `GET /v1/deny-list/delta`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeltaQuery {
    from_version: u64,
}

/// `GET /v1/deny-list/delta?from_version=N`: the delta, or a snapshot when
/// the version is unknown or too far behind.
#[tracing::instrument(skip_all)]
pub(crate) async fn deny_list_delta(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<DeltaQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    signed(&state, &method, &uri, &headers, &body).await?;
    since(&state, query.from_version).await
}

/// Query of `GET /v1/denylist`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinceQuery {
    since: Option<u64>,
}

/// `GET /v1/denylist?since=V`.
#[tracing::instrument(skip_all)]
pub(crate) async fn deny_list_since(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<SinceQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    signed(&state, &method, &uri, &headers, &body).await?;
    match query.since {
        None => snapshot(&state).await,
        Some(version) => since(&state, version).await,
    }
}

/// `GET /v1/keys`: the published ticket key set.
#[tracing::instrument(skip_all)]
pub(crate) async fn keys(State(state): State<AppState>) -> Json<KeySet> {
    Json(state.inner.key_set.clone())
}

/// `GET /v1/time`.
#[tracing::instrument(skip_all)]
pub(crate) async fn time(State(state): State<AppState>) -> Json<ServerTime> {
    Json(ServerTime {
        server_time_s: state.clock().now_s(),
    })
}

fn gate_direction(direction: Direction) -> GateDirection {
    match direction {
        Direction::Entry => GateDirection::Entry,
        Direction::Exit => GateDirection::Exit,
    }
}

fn wire(id: &str) -> Result<WireId, ApiError> {
    WireId::parse(id).map_err(ApiError::internal)
}

/// `GET /v1/config`: the calling terminal's configuration.
#[tracing::instrument(skip_all)]
pub(crate) async fn config(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TerminalConfig>, ApiError> {
    let terminal = signed(&state, &method, &uri, &headers, &body).await?;
    let placement = match &terminal.placement {
        store_pg::terminal::Placement::BusValidator { route_id } => Placement::BusValidator {
            route_id: wire(route_id)?,
        },
        store_pg::terminal::Placement::MetroGate {
            station_id,
            direction,
        } => Placement::MetroGate {
            station_id: wire(station_id)?,
            direction: gate_direction(*direction),
        },
        store_pg::terminal::Placement::ParkingGate {
            lot_id,
            gate_id,
            direction,
        } => Placement::ParkingGate {
            lot_id: wire(lot_id)?,
            gate_id: wire(gate_id)?,
            direction: gate_direction(*direction),
        },
    };
    let deny_list_version = state
        .inner
        .deny_list
        .version()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(TerminalConfig {
        terminal_id: TerminalId::parse(&terminal.terminal_id).map_err(ApiError::internal)?,
        config_version: terminal.config_version.unsigned_abs(),
        operator_id: wire(&terminal.operator_id)?,
        placement,
        journal: JournalPolicy {
            upload_interval_s: JOURNAL_UPLOAD_INTERVAL_S,
            max_batch_records: JOURNAL_MAX_BATCH_RECORDS,
        },
        offline: OfflinePolicy {
            max_offline_s: OFFLINE_MAX_S,
            max_deny_list_age_s: OFFLINE_MAX_DENY_LIST_AGE_S,
        },
        min_deny_list_version: deny_list_version,
        min_key_set_version: state.inner.key_set.version,
        server_time_s: state.clock().now_s(),
    }))
}
