//! The admin API (scoped API keys): register, disable and list terminals
//! (scope `terminals`), block a medium (scope `riders`).
//!
//! Changes made here refresh this process's caches at once (registry,
//! media); other instances see them within their refresh intervals.

use axum::extract::State;
use axum::http::StatusCode;
use card_protocol::TerminalId;
use card_protocol::messages::{GateDirection, Placement, WireId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, FieldError, Json, Path, ProblemType, Query};
use store_pg::StoreError;
use store_pg::terminal::{Direction, MAX_TERMINAL_PAGE, TerminalRecord, TerminalStatus};
use uuid::Uuid;

use crate::auth::AdminKey;
use crate::state::AppState;

/// Terminals per page when the caller does not say.
pub const DEFAULT_TERMINAL_PAGE: u32 = 100;
/// Longest block reason accepted, in characters.
pub const MAX_BLOCK_REASON_CHARS: usize = store_pg::rider::MAX_BLOCK_REASON_CHARS;

/// 409: the terminal id is taken.
pub const TERMINAL_EXISTS: ProblemType =
    ProblemType::new("terminal_exists", "A terminal with this id is registered");

/// `POST /v1/admin/terminals` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterTerminal {
    /// The terminal id.
    pub terminal_id: TerminalId,
    /// The operator whose revenue its taps earn.
    pub operator_id: WireId,
    /// What and where (the card protocol's placement).
    pub placement: Placement,
}

/// A terminal as the admin API shows it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TerminalView {
    /// The terminal id.
    pub terminal_id: String,
    /// Its operator.
    pub operator_id: String,
    /// What and where.
    pub placement: Placement,
    /// `active` or `disabled`.
    pub status: String,
    /// Bumped on every change.
    pub config_version: i64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

fn view(record: &TerminalRecord) -> Result<TerminalView, ApiError> {
    let wire = |id: &str| WireId::parse(id).map_err(ApiError::internal);
    let direction = |d: Direction| match d {
        Direction::Entry => GateDirection::Entry,
        Direction::Exit => GateDirection::Exit,
    };
    let placement = match &record.placement {
        store_pg::terminal::Placement::BusValidator { route_id } => Placement::BusValidator {
            route_id: wire(route_id)?,
        },
        store_pg::terminal::Placement::MetroGate {
            station_id,
            direction: d,
        } => Placement::MetroGate {
            station_id: wire(station_id)?,
            direction: direction(*d),
        },
        store_pg::terminal::Placement::ParkingGate {
            lot_id,
            gate_id,
            direction: d,
        } => Placement::ParkingGate {
            lot_id: wire(lot_id)?,
            gate_id: wire(gate_id)?,
            direction: direction(*d),
        },
    };
    Ok(TerminalView {
        terminal_id: record.terminal_id.clone(),
        operator_id: record.operator_id.clone(),
        placement,
        status: match record.status {
            TerminalStatus::Active => "active",
            TerminalStatus::Disabled => "disabled",
        }
        .to_owned(),
        config_version: record.config_version,
        created_at: record.created_at,
    })
}

/// `POST /v1/admin/terminals`.
#[tracing::instrument(skip_all, fields(terminal_id = %body.terminal_id.as_str()))]
pub(crate) async fn register(
    State(state): State<AppState>,
    key: AdminKey,
    Json(body): Json<RegisterTerminal>,
) -> Result<(StatusCode, Json<TerminalView>), ApiError> {
    key.require("terminals")?;
    let engine = state.projection().setup().engine();
    let unknown = |field: &str, what: &str| {
        ApiError::validation(
            "the placement names something the fare configuration does not have",
            vec![FieldError::new(field, format!("unknown {what}"))],
        )
    };
    let dir = |d: GateDirection| match d {
        GateDirection::Entry => Direction::Entry,
        GateDirection::Exit => Direction::Exit,
    };
    let placement = match &body.placement {
        Placement::BusValidator { route_id } => {
            engine
                .route(route_id.as_str())
                .ok_or_else(|| unknown("placement.route_id", "route"))?;
            store_pg::terminal::Placement::BusValidator {
                route_id: route_id.to_string(),
            }
        }
        Placement::MetroGate {
            station_id,
            direction,
        } => {
            engine
                .station(station_id.as_str())
                .ok_or_else(|| unknown("placement.station_id", "station"))?;
            store_pg::terminal::Placement::MetroGate {
                station_id: station_id.to_string(),
                direction: dir(*direction),
            }
        }
        Placement::ParkingGate {
            lot_id,
            gate_id,
            direction,
        } => {
            engine
                .lot(lot_id.as_str())
                .ok_or_else(|| unknown("placement.lot_id", "lot"))?;
            store_pg::terminal::Placement::ParkingGate {
                lot_id: lot_id.to_string(),
                gate_id: gate_id.to_string(),
                direction: dir(*direction),
            }
        }
    };
    let record = state
        .inner
        .terminals
        .register(
            body.terminal_id.as_str(),
            body.operator_id.as_str(),
            &placement,
            state.clock().now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate { .. } => {
                ApiError::conflict(TERMINAL_EXISTS, "a terminal with this id is registered")
            }
            other => ApiError::internal(other),
        })?;
    state.reload_registry().await.map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(view(&record)?)))
}

/// `POST /v1/admin/terminals/{id}/disable`.
#[tracing::instrument(skip_all, fields(terminal_id = %id))]
pub(crate) async fn disable(
    State(state): State<AppState>,
    key: AdminKey,
    Path(id): Path<String>,
) -> Result<Json<TerminalView>, ApiError> {
    key.require("terminals")?;
    let record = state
        .inner
        .terminals
        .disable(&id, state.clock().now())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no terminal with this id"))?;
    state.reload_registry().await.map_err(ApiError::internal)?;
    Ok(Json(view(&record)?))
}

/// Query of `GET /v1/admin/terminals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// A page of terminals.
#[derive(Debug, Serialize, Deserialize)]
pub struct TerminalPage {
    /// The terminals, by id.
    pub terminals: Vec<TerminalView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// `GET /v1/admin/terminals?after=&limit=`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    State(state): State<AppState>,
    key: AdminKey,
    Query(query): Query<PageQuery>,
) -> Result<Json<TerminalPage>, ApiError> {
    key.require("terminals")?;
    let limit = query.limit.unwrap_or(DEFAULT_TERMINAL_PAGE);
    if limit == 0 || limit > MAX_TERMINAL_PAGE {
        return Err(ApiError::validation(
            "limit out of range",
            vec![FieldError::new("limit", format!("1..={MAX_TERMINAL_PAGE}"))],
        ));
    }
    let records = state
        .inner
        .terminals
        .page(query.after.as_deref(), limit)
        .await
        .map_err(ApiError::internal)?;
    let full = u32::try_from(records.len()).is_ok_and(|n| n == limit);
    let next_after = if full {
        records.last().map(|r| r.terminal_id.clone())
    } else {
        None
    };
    Ok(Json(TerminalPage {
        terminals: records.iter().map(view).collect::<Result<_, _>>()?,
        next_after,
    }))
}

/// `POST /v1/admin/media/{id}/block` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockMedium {
    /// Why (an operator's note).
    pub reason: String,
}

/// What blocking did.
#[derive(Debug, Serialize, Deserialize)]
pub struct Blocked {
    /// The medium.
    pub medium_id: Uuid,
    /// The deny-list version that lists it (absent for plates and repeats).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_list_version: Option<u64>,
}

/// `POST /v1/admin/media/{id}/block`.
#[tracing::instrument(skip_all, fields(medium_id = %id))]
pub(crate) async fn block_medium(
    State(state): State<AppState>,
    key: AdminKey,
    Path(id): Path<Uuid>,
    Json(body): Json<BlockMedium>,
) -> Result<Json<Blocked>, ApiError> {
    key.require("riders")?;
    if body.reason.is_empty() || body.reason.chars().count() > MAX_BLOCK_REASON_CHARS {
        return Err(ApiError::validation(
            "reason out of range",
            vec![FieldError::new(
                "reason",
                format!("1..={MAX_BLOCK_REASON_CHARS} characters"),
            )],
        ));
    }
    let outcome = state
        .inner
        .riders
        .block_medium(id, &body.reason, state.clock().now())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no medium with this id"))?;
    state.forget_medium(outcome.kind, &outcome.value);
    state
        .refresh_deny_list()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Blocked {
        medium_id: id,
        deny_list_version: outcome.deny_list_version,
    }))
}
