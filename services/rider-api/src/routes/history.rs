//! History: trips (bus legs, metro trips paired from their tap in and tap
//! out), parking stays, wallet transactions (the wallet's ledger transfers)
//! and receipts, newest first, with opaque cursors.
//!
//! Trips and stays are read from the account's recorded events
//! (`rider.account_event`, written by the projection's stream ingest), so a
//! tap shows up once the ingest has stored it, normally within a second.
//! A metro trip's fare is the hold taken at the tap in plus what the tap out
//! gave back; a tap in with no tap out is `open` while the hot state still
//! has it open, else `incomplete` (charged the hold). Fares are
//! `provisional` until settlement has posted the rider's day
//! (`settlement.account_day` settled after the events were stored), then
//! `settled`.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use ledger::{TransferBody, TransferRecord};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, Json, Path, Query};
use store_pg::rider_history::AccountEventRow;
use store_pg::rider_orders::TopupStatus;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Rider;
use crate::http::{CursorKind, ProblemDoc, decode_cursor, encode_cursor, not_found, page_size};
use crate::state::AppState;

/// A page request.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// `next_cursor` of the previous page; absent for the first.
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

/// A trip: a bus leg or a metro trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TripView {
    /// `bus` or `metro`.
    pub mode: String,
    /// `completed`, `open` (tapped in, not out yet) or `incomplete`
    /// (no tap out: charged the maximum fare).
    pub status: String,
    /// The bus route.
    pub route_id: Option<String>,
    /// The metro entry station.
    pub from_station: Option<String>,
    /// The metro exit station.
    pub to_station: Option<String>,
    /// Boarding or tap-in time.
    pub started_at: DateTime<Utc>,
    /// Tap-out time.
    pub ended_at: Option<DateTime<Utc>>,
    /// The service day.
    pub service_day: NaiveDate,
    /// What the trip cost, VND (the hold while open).
    pub fare_vnd: i64,
    /// `provisional` until settlement posts the day, then `settled`.
    pub fare_status: String,
    /// The pass that covered it.
    pub pass_id: Option<String>,
    /// The GTFS fare product that priced it.
    pub fare_product_id: Option<String>,
}

/// A page of trips.
#[derive(Debug, Serialize, ToSchema)]
pub struct TripPage {
    /// Newest first.
    pub items: Vec<TripView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A parking stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StayView {
    /// The lot.
    pub lot_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// Entry time.
    pub entered_at: DateTime<Utc>,
    /// Exit time.
    pub exited_at: Option<DateTime<Utc>>,
    /// The fee, VND.
    pub fee_vnd: i64,
    /// `provisional` until settlement posts the day, then `settled`.
    pub fee_status: String,
}

/// A page of stays.
#[derive(Debug, Serialize, ToSchema)]
pub struct StayPage {
    /// Newest first.
    pub items: Vec<StayView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A ledger transfer of the wallet.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    /// The transfer id.
    pub transfer_id: Uuid,
    /// Why: `top_up`, `fare`, `parking_fee`, `pass_sale`, `penalty`,
    /// `refund`, `adjustment`, …
    pub code: String,
    /// `direct`, `pending` (a hold), `post` (a hold charged), `void` (a
    /// hold released).
    pub kind: String,
    /// `in` (credited to the wallet) or `out` (debited from it).
    pub direction: String,
    /// The amount, VND.
    pub amount_vnd: i64,
    /// When the ledger accepted it.
    pub at: DateTime<Utc>,
    /// What it is about, when the poster said.
    pub reference: Option<String>,
}

/// A page of wallet transactions.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPage {
    /// Newest first.
    pub items: Vec<TransactionView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A receipt: a top-up or a pass purchase.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    /// The receipt id (the top-up or purchase id).
    pub receipt_id: Uuid,
    /// `top_up` or `pass_purchase`.
    pub kind: String,
    /// The amount, VND.
    pub amount_vnd: i64,
    /// Top-ups: `pending`, `confirming`, `succeeded`, `failed`; purchases:
    /// `paid`.
    pub status: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// What it was for.
    pub description: String,
    /// The provider's transaction number (top-ups).
    pub provider_transaction: Option<String>,
    /// The pass (purchases).
    pub product_id: Option<String>,
    /// The pass's validity (purchases).
    pub valid_from: Option<NaiveDate>,
    /// The pass's validity (purchases).
    pub valid_until: Option<NaiveDate>,
}

/// A charge the gates and the app made, not yet posted by settlement.
const PROVISIONAL: &str = "provisional";
/// A charge settlement has posted to the ledger.
const SETTLED: &str = "settled";

/// Settled when every event behind the item is.
fn fare_status(events: &[&AccountEventRow]) -> String {
    if events.iter().all(|e| e.settled) {
        SETTLED
    } else {
        PROVISIONAL
    }
    .to_owned()
}

fn metro_trip(entry: &AccountEventRow, exit: Option<&AccountEventRow>, open: bool) -> TripView {
    let (status, fare) = match exit {
        Some(exit) if exit.reason.as_deref() == Some("incomplete_journey") => (
            "incomplete",
            entry.amount_vnd.saturating_add(exit.amount_vnd),
        ),
        Some(exit) => (
            "completed",
            entry.amount_vnd.saturating_add(exit.amount_vnd),
        ),
        None if open => ("open", entry.amount_vnd),
        None => ("incomplete", entry.amount_vnd),
    };
    TripView {
        mode: "metro".to_owned(),
        status: status.to_owned(),
        route_id: None,
        from_station: entry.station_id.clone(),
        to_station: exit.and_then(|e| e.station_id.clone()),
        started_at: entry.event_time,
        ended_at: exit.map(|e| e.event_time),
        service_day: entry.service_day,
        fare_vnd: fare,
        fare_status: fare_status(
            &[Some(entry), exit]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        ),
        pass_id: entry
            .pass_id
            .clone()
            .or_else(|| exit.and_then(|e| e.pass_id.clone())),
        fare_product_id: exit.and_then(|e| e.fare_product_id.clone()),
    }
}

fn bus_trip(event: &AccountEventRow) -> TripView {
    TripView {
        mode: "bus".to_owned(),
        status: "completed".to_owned(),
        route_id: event.route_id.clone(),
        from_station: None,
        to_station: None,
        started_at: event.event_time,
        ended_at: None,
        service_day: event.service_day,
        fare_vnd: event.amount_vnd,
        fare_status: fare_status(&[event]),
        pass_id: event.pass_id.clone(),
        fare_product_id: event.fare_product_id.clone(),
    }
}

/// Pairs events (newest first) into at most `limit` items: an "end" event
/// (`metro_out`; `park_out` or `park_out_lost_ticket`) takes the "start"
/// event right below it; a
/// start alone is an open or abandoned item; anything else stands alone.
/// Returns the items as (first event, optional second) indices, the lowest
/// version used, and whether the last end event still needs its start from
/// beyond the batch.
fn pair_events(events: &[AccountEventRow], limit: usize, start: &str, end: &[&str]) -> Paired {
    let mut items = Vec::new();
    let mut lowest = None;
    let mut i = 0;
    let mut dangling = false;
    while items.len() < limit {
        let Some(event) = events.get(i) else { break };
        if end.contains(&event.kind.as_str()) {
            match events.get(i + 1) {
                Some(next) if next.kind == start => {
                    items.push((i, Some(i + 1)));
                    lowest = Some(next.version);
                    i += 2;
                }
                None => {
                    items.push((i, None));
                    lowest = Some(event.version);
                    dangling = true;
                    i += 1;
                }
                Some(_) => {
                    items.push((i, None));
                    lowest = Some(event.version);
                    i += 1;
                }
            }
        } else {
            items.push((i, None));
            lowest = Some(event.version);
            i += 1;
        }
    }
    Paired {
        items,
        lowest,
        dangling,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Paired {
    items: Vec<(usize, Option<usize>)>,
    lowest: Option<i64>,
    dangling: bool,
}

/// The events a page of `limit` items needs at most: two per item, plus one
/// to see whether a last end event's start is in the batch.
fn batch_size(limit: u32) -> u32 {
    limit.saturating_mul(2).saturating_add(1)
}

/// Fetches a page of paired events: the batch, its pairing, and the start
/// of a dangling end event (the very next event of the list, when it is a
/// start: pairs are always adjacent, so a page cursor never skips an event).
async fn paged_events(
    state: &AppState,
    rider: Rider,
    kinds: &[&str],
    start: &str,
    end: &[&str],
    query: &PageQuery,
) -> Result<
    (
        Vec<AccountEventRow>,
        Paired,
        Option<AccountEventRow>,
        Option<String>,
    ),
    ApiError,
> {
    let before = decode_cursor(CursorKind::Events, query.cursor.as_deref())?;
    let limit = page_size(query.limit)?;
    let events = state
        .history
        .events(rider.account_id, kinds, before, batch_size(limit))
        .await
        .map_err(ApiError::internal)?;
    let limit_items = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut paired = pair_events(&events, limit_items, start, end);
    let mut partner = None;
    let dangling_end = paired
        .items
        .last()
        .filter(|_| paired.dangling)
        .and_then(|&(last, _)| events.get(last));
    if let Some(end_event) = dangling_end {
        let below = state
            .history
            .events(rider.account_id, kinds, Some(end_event.version), 1)
            .await
            .map_err(ApiError::internal)?;
        partner = below.into_iter().next().filter(|e| e.kind == start);
        if let Some(p) = &partner {
            paired.lowest = Some(p.version);
        }
    }
    let next = (paired.items.len() == limit_items)
        .then_some(paired.lowest)
        .flatten()
        .map(|v| encode_cursor(CursorKind::Events, v));
    Ok((events, paired, partner, next))
}

/// The rider's trips, newest first.
#[utoipa::path(
    get, path = "/v1/me/trips", tag = "history",
    security(("session" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of trips", body = TripPage),
        (status = 400, description = "`invalid_query`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (cursor or limit)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn trips(
    State(state): State<AppState>,
    rider: Rider,
    Query(query): Query<PageQuery>,
) -> Result<Json<TripPage>, ApiError> {
    let (events, paired, partner, next_cursor) = paged_events(
        &state,
        rider,
        &["bus", "metro_in", "metro_out"],
        "metro_in",
        &["metro_out"],
        &query,
    )
    .await?;
    let open_trip_at = state
        .projection
        .state(rider.account_id)
        .await
        .map_err(ApiError::internal)?
        .open_trip
        .map(|trip| trip.entered_at_s);
    let mut items = Vec::with_capacity(paired.items.len());
    for (first, second) in &paired.items {
        let Some(event) = events.get(*first) else {
            continue;
        };
        let item = match event.kind.as_str() {
            "bus" => bus_trip(event),
            "metro_out" => {
                let entry = second.and_then(|i| events.get(i)).or(partner.as_ref());
                match entry {
                    Some(entry) => metro_trip(entry, Some(event), false),
                    // A tap out whose tap in is gone (never, with a whole
                    // event log): show what it charged.
                    None => TripView {
                        to_station: event.station_id.clone(),
                        started_at: event.event_time,
                        ..metro_trip(event, None, false)
                    },
                }
            }
            _ => metro_trip(
                event,
                None,
                open_trip_at == Some(event.event_time.timestamp()),
            ),
        };
        items.push(item);
    }
    Ok(Json(TripPage { items, next_cursor }))
}

/// The rider's parking stays, newest first.
#[utoipa::path(
    get, path = "/v1/me/parking-stays", tag = "history",
    security(("session" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of stays", body = StayPage),
        (status = 400, description = "`invalid_query`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (cursor or limit)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn stays(
    State(state): State<AppState>,
    rider: Rider,
    Query(query): Query<PageQuery>,
) -> Result<Json<StayPage>, ApiError> {
    let (events, paired, partner, next_cursor) = paged_events(
        &state,
        rider,
        &["park_in", "park_out", "park_out_lost_ticket"],
        "park_in",
        &["park_out", "park_out_lost_ticket"],
        &query,
    )
    .await?;
    let mut items = Vec::with_capacity(paired.items.len());
    for (first, second) in &paired.items {
        let Some(event) = events.get(*first) else {
            continue;
        };
        let item = if event.kind != "park_in" {
            let entry = second.and_then(|i| events.get(i)).or(partner.as_ref());
            StayView {
                lot_id: event.lot_id.clone().unwrap_or_default(),
                status: "closed".to_owned(),
                entered_at: entry.map_or(event.event_time, |e| e.event_time),
                exited_at: Some(event.event_time),
                fee_vnd: entry
                    .map_or(0, |e| e.amount_vnd)
                    .saturating_add(event.amount_vnd),
                fee_status: fare_status(
                    &[Some(event), entry]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>(),
                ),
            }
        } else {
            StayView {
                lot_id: event.lot_id.clone().unwrap_or_default(),
                status: "open".to_owned(),
                entered_at: event.event_time,
                exited_at: None,
                fee_vnd: event.amount_vnd,
                fee_status: fare_status(&[event]),
            }
        };
        items.push(item);
    }
    Ok(Json(StayPage { items, next_cursor }))
}

fn transaction(account: ledger::AccountId, record: &TransferRecord) -> TransactionView {
    let kind = match record.transfer.body {
        TransferBody::Direct(_) => "direct",
        TransferBody::Pending { .. } => "pending",
        TransferBody::Post { .. } => "post",
        TransferBody::Void { .. } => "void",
    };
    let code = serde_json::to_value(record.transfer.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    TransactionView {
        transfer_id: record.id().as_uuid(),
        code,
        kind: kind.to_owned(),
        direction: if record.credit_account_id == account {
            "in"
        } else {
            "out"
        }
        .to_owned(),
        amount_vnd: record.amount.money().as_vnd(),
        at: record.accepted_at,
        reference: record
            .transfer
            .reference
            .as_ref()
            .map(|r| r.as_str().to_owned()),
    }
}

/// The wallet's ledger transactions, newest first.
#[utoipa::path(
    get, path = "/v1/me/wallet/transactions", tag = "history",
    security(("session" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of transactions", body = TransactionPage),
        (status = 400, description = "`invalid_query`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (cursor or limit)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn transactions(
    State(state): State<AppState>,
    rider: Rider,
    Query(query): Query<PageQuery>,
) -> Result<Json<TransactionPage>, ApiError> {
    let before = decode_cursor(CursorKind::Transfers, query.cursor.as_deref())?;
    let limit = page_size(query.limit)?;
    let rows = state
        .history
        .wallet_transfers(rider.account_id, before, limit)
        .await
        .map_err(ApiError::internal)?;
    let full = u32::try_from(rows.len()).is_ok_and(|n| n == limit);
    let next_cursor = rows
        .last()
        .filter(|_| full)
        .map(|(seq, _)| encode_cursor(CursorKind::Transfers, *seq));
    Ok(Json(TransactionPage {
        items: rows
            .iter()
            .map(|(_, record)| transaction(rider.account_id, record))
            .collect(),
        next_cursor,
    }))
}

/// A receipt of a top-up or a pass purchase.
#[utoipa::path(
    get, path = "/v1/me/receipts/{id}", tag = "history",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "A top-up id or a pass purchase id")),
    responses(
        (status = 200, description = "The receipt", body = ReceiptView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for another rider's receipt)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn receipt(
    State(state): State<AppState>,
    rider: Rider,
    Path(id): Path<Uuid>,
) -> Result<Json<ReceiptView>, ApiError> {
    if let Some(topup) = state
        .orders
        .topup_of(rider.account_id, id)
        .await
        .map_err(ApiError::internal)?
    {
        return Ok(Json(ReceiptView {
            receipt_id: topup.topup_id,
            kind: "top_up".to_owned(),
            amount_vnd: topup.amount_vnd,
            status: topup.status.as_str().to_owned(),
            created_at: topup.created_at,
            description: format!("Wallet top-up via {}", topup.provider_id),
            provider_transaction: topup
                .provider_txn_no
                .filter(|_| topup.status == TopupStatus::Succeeded),
            product_id: None,
            valid_from: None,
            valid_until: None,
        }));
    }
    let purchase = state
        .orders
        .purchase_of(rider.account_id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("receipt"))?;
    let name = state
        .passes
        .offer(&purchase.product_id)
        .map_or_else(|| purchase.product_id.clone(), |offer| offer.name.clone());
    Ok(Json(ReceiptView {
        receipt_id: purchase.purchase_id,
        kind: "pass_purchase".to_owned(),
        amount_vnd: purchase.price_vnd,
        status: "paid".to_owned(),
        created_at: purchase.bought_at,
        description: format!("{name} ({})", purchase.category_id),
        provider_transaction: None,
        product_id: Some(purchase.product_id),
        valid_from: Some(purchase.first_day),
        valid_until: Some(purchase.last_day),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(version: i64, kind: &str) -> AccountEventRow {
        AccountEventRow {
            version,
            event_key: format!("k{version}"),
            kind: kind.to_owned(),
            event_time: DateTime::from_timestamp(1_770_000_000 + version * 60, 0)
                .unwrap_or_default(),
            service_day: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
            route_id: None,
            station_id: None,
            lot_id: None,
            product_id: None,
            category_id: None,
            top_up_vnd: None,
            amount_vnd: 0,
            balance_vnd: 0,
            reason: None,
            pass_id: None,
            fare_product_id: None,
            terminal_id: None,
            settled: false,
        }
    }

    /// Pairs `kinds` (newest first, versions counting down) into `limit`
    /// items and compares the pairing.
    fn check(kinds: &[&str], limit: usize, expected: &[(usize, Option<usize>)], dangling: bool) {
        let top = i64::try_from(kinds.len()).unwrap_or(0);
        let events: Vec<_> = kinds
            .iter()
            .zip((1..=top).rev())
            .map(|(kind, v)| event(v, kind))
            .collect();
        let paired = pair_events(&events, limit, "metro_in", &["metro_out"]);
        assert_eq!(paired.items, expected, "{kinds:?}");
        assert_eq!(paired.dangling, dangling, "{kinds:?}");
    }

    #[test]
    fn metro_taps_pair_and_buses_stand_alone() {
        check(
            &["metro_out", "metro_in", "bus"],
            10,
            &[(0, Some(1)), (2, None)],
            false,
        );
        check(
            &["bus", "metro_in", "metro_out", "metro_in"],
            10,
            &[(0, None), (1, None), (2, Some(3))],
            false,
        );
        check(&["metro_out", "metro_in", "bus"], 1, &[(0, Some(1))], false);
        check(&["bus", "metro_out"], 10, &[(0, None), (1, None)], true);
        check(&["metro_out", "bus"], 10, &[(0, None), (1, None)], false);
        check(&[], 10, &[], false);
    }

    fn kinds() -> impl Strategy<Value = Vec<&'static str>> {
        proptest::collection::vec(
            prop_oneof![Just("bus"), Just("metro_in"), Just("metro_out")],
            0..40,
        )
    }

    proptest! {
        /// Every event is used at most once, pages never overlap, and
        /// walking pages with the returned lowest version visits every
        /// event exactly once.
        #[test]
        fn pages_cover_every_event_once(kinds in kinds(), limit in 1usize..6) {
            let top = i64::try_from(kinds.len()).unwrap_or(0);
            let events: Vec<_> = kinds.iter().zip((1..=top).rev()).map(|(k, v)| event(v, k)).collect();
            let mut seen = Vec::new();
            let mut before = i64::MAX;
            loop {
                let batch: Vec<_> = events.iter().filter(|e| e.version < before).cloned().collect();
                let paired = pair_events(&batch, limit, "metro_in", &["metro_out"]);
                for (a, b) in &paired.items {
                    seen.push(batch[*a].version);
                    if let Some(b) = b { seen.push(batch[*b].version); }
                }
                match paired.lowest {
                    Some(lowest) if paired.items.len() == limit => before = lowest,
                    _ => break,
                }
            }
            let mut expected: Vec<i64> = events.iter().map(|e| e.version).collect();
            seen.sort_unstable();
            expected.sort_unstable();
            prop_assert_eq!(seen, expected);
        }
    }
}
