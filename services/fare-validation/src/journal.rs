//! `POST /v1/journal`: store a batch of journal records idempotently,
//! answer the contiguous ack watermark and the missing ranges, and price
//! the records whose tap the backend does not know yet.
//!
//! Storing comes first and is all-or-nothing (a sequence number reused
//! with other content is a 409 and stores nothing); the ack reflects only
//! what is durable. Pricing follows: every stored record still `pending`
//! (this batch's and any an earlier upload left unpriced) whose tap is not
//! in `transit.tap` goes through the projection with the tap's own key, so
//! an online tap that is also journaled is applied once (the projection
//! answers the repeat), and a tap Redis lost before the ingest is applied
//! again from the journal. Online and offline records are treated alike.
//!
//! An offline record is priced at its device time corrected by the clock
//! offset the upload reveals (`server time − batch device_time_s`), never
//! later than now.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use card_protocol::messages::{
    DecidedBy, JournalAck, JournalBatch, JournalRecord, MAX_MISSING_RANGES, Message, SeqRange, Tap,
    decode,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use projection::TapSource;
use ring::digest;
use service_kit::{ApiError, Json, ProblemType};
use store_pg::journal::{JournalRow, Journals, Pricing};
use store_pg::terminal::TerminalRecord;

use crate::auth;
use crate::state::AppState;
use crate::taps::{self, INVALID_MESSAGE, MAX_STORED_SEQ, Priced, TERMINAL_MISMATCH, TapInput};

/// Pending records priced per upload: two full batches, so a backlog left
/// by a failure drains over the next uploads without one request doing
/// unbounded work.
pub const MAX_PRICED_PER_UPLOAD: u32 = 1_000;

/// 409: a record's key was stored before with other content.
pub const RECORD_CONFLICT: ProblemType = ProblemType::new(
    "journal_record_conflict",
    "A sequence number was reused with other content",
);

fn time_of(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

fn signed(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// `POST /v1/journal`.
#[tracing::instrument(skip_all, fields(terminal_id, records))]
pub(crate) async fn post_journal(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<JournalAck>, ApiError> {
    let now = state.clock().now();
    let now_s = state.clock().now_s();
    let terminal = auth::terminal(&state, &method, &uri, &headers, &body, now_s)
        .await?
        .record;
    tracing::Span::current().record("terminal_id", terminal.terminal_id.as_str());
    let batch: JournalBatch =
        decode(&body).map_err(|e| taps::message_error(&e, JournalBatch::MAX_BYTES))?;
    tracing::Span::current().record("records", batch.records.len());
    if batch.terminal_id.as_str() != terminal.terminal_id {
        return Err(ApiError::Forbidden {
            detail: TERMINAL_MISMATCH.to_owned(),
        });
    }
    if batch.records.iter().any(|r| r.seq > MAX_STORED_SEQ) {
        return Err(ApiError::Unprocessable {
            kind: INVALID_MESSAGE,
            detail: "seq above 2^63 - 1".to_owned(),
        });
    }
    let clock_offset_s = signed(now_s).saturating_sub(signed(batch.device_time_s));
    let rows: Vec<JournalRow> = batch
        .records
        .iter()
        .map(journal_row)
        .collect::<Result<_, _>>()?;
    let journals = Journals::new(state.inner.pool.clone());
    let boot_epoch = i64::from(batch.boot_epoch);
    journals
        .store_batch(
            &terminal.terminal_id,
            boot_epoch,
            clock_offset_s,
            &rows,
            now,
        )
        .await
        .map_err(ApiError::internal)?
        .map_err(|conflict| {
            ApiError::conflict(
                RECORD_CONFLICT,
                format!("seq {} was stored before with other content", conflict.seq),
            )
        })?;
    let (watermark, islands) = journals
        .progress(&terminal.terminal_id, boot_epoch, MAX_MISSING_RANGES, now)
        .await
        .map_err(ApiError::internal)?;
    price_pending(&state, &journals, &terminal, now).await?;
    let mut missing = Vec::with_capacity(islands.len());
    let mut next = watermark.saturating_add(1);
    for (first, last) in islands {
        if first > next {
            missing.push(SeqRange {
                from_seq: next.unsigned_abs(),
                to_seq: first.saturating_sub(1).unsigned_abs(),
            });
        }
        next = last.saturating_add(1);
    }
    missing.truncate(MAX_MISSING_RANGES);
    Ok(Json(JournalAck {
        terminal_id: batch.terminal_id,
        boot_epoch: batch.boot_epoch,
        ack_watermark: watermark.unsigned_abs(),
        missing,
        server_time_s: now_s,
    }))
}

fn journal_row(record: &JournalRecord) -> Result<JournalRow, ApiError> {
    let json = serde_json::to_value(record).map_err(ApiError::internal)?;
    let bytes = serde_json::to_vec(&json).map_err(ApiError::internal)?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, &bytes).as_ref());
    let seq = i64::try_from(record.seq)
        .map_err(|_| ApiError::bad_request(INVALID_MESSAGE, "seq above 2^63 - 1".to_owned()))?;
    Ok(JournalRow {
        seq,
        content_sha256: hash,
        record: json,
        decided_by: match record.decided_by {
            DecidedBy::Online => "online",
            DecidedBy::Offline => "offline",
        },
        device_time: time_of(signed(record.device_time_s)),
        decision: match record.decision {
            card_protocol::messages::Decision::Accept => "accept",
            card_protocol::messages::Decision::Deny => "deny",
        },
        reason: record.reason.and_then(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .and_then(|code| REASON_CODES.iter().copied().find(|c| *c == code))
        }),
        amount_vnd: record.amount_vnd,
        deny_list_version: signed(record.deny_list_version),
        key_set_version: signed(record.key_set_version),
    })
}

/// Reason codes as static text (the journal row stores `&'static str`).
const REASON_CODES: [&str; 9] = [
    "insufficient_funds",
    "no_open_trip",
    "incomplete_journey",
    "lot_full",
    "already_parked",
    "no_open_stay",
    "unknown_medium",
    "deny_listed",
    "ticket_rejected",
];

/// Prices this terminal's pending records (see the module docs).
async fn price_pending(
    state: &AppState,
    journals: &Journals,
    terminal: &TerminalRecord,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let pending = journals
        .pending(&terminal.terminal_id, MAX_PRICED_PER_UPLOAD)
        .await
        .map_err(ApiError::internal)?;
    for record in pending {
        let known = journals
            .known_taps(&terminal.terminal_id, record.boot_epoch, &[record.seq])
            .await
            .map_err(ApiError::internal)?;
        let pricing = if known.is_empty() {
            price_record(state, terminal, &record, now).await?
        } else {
            Pricing::Known
        };
        journals
            .mark(
                &terminal.terminal_id,
                record.boot_epoch,
                record.seq,
                pricing,
                now,
            )
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(())
}

async fn price_record(
    state: &AppState,
    terminal: &TerminalRecord,
    stored: &store_pg::journal::PendingRecord,
    now: DateTime<Utc>,
) -> Result<Pricing, ApiError> {
    let Ok(record) = serde_json::from_value::<JournalRecord>(stored.record.clone()) else {
        return Ok(Pricing::Unpriced);
    };
    let (Ok(terminal_id), Ok(boot_epoch)) = (
        card_protocol::TerminalId::parse(&terminal.terminal_id),
        u32::try_from(stored.boot_epoch),
    ) else {
        return Ok(Pricing::Unpriced);
    };
    let tap = Tap {
        terminal_id,
        boot_epoch,
        seq: record.seq,
        device_time_s: record.device_time_s,
        event: record.event,
        medium: record.medium,
    };
    let corrected = time_of(signed(tap.device_time_s))
        .checked_add_signed(TimeDelta::seconds(stored.clock_offset_s))
        .unwrap_or(now)
        .min(now);
    let input = TapInput {
        terminal,
        tap: &tap,
        source: TapSource::Journal,
        event_time: corrected,
        now,
    };
    let hash = taps::tap_hash(&tap);
    Ok(match taps::price(state, &input, hash).await? {
        Priced::Answered(..) => Pricing::Applied,
        Priced::Conflict => {
            tracing::warn!(
                seq = tap.seq,
                "a journal record conflicts with the online tap of its key"
            );
            Pricing::Conflict
        }
        Priced::Unpriceable(_) => Pricing::Unpriced,
    })
}
