//! The terminal journal: batches of records (terminal → backend) and the
//! acknowledgement (backend → terminal).
//!
//! Every terminal numbers what it decides, online or offline, as
//! `(terminal_id, boot_epoch, seq)` and keeps each record until the backend
//! acknowledges it. The ack's watermark is contiguous: every record with
//! `seq ≤ ack_watermark` is stored durably, so the terminal may free exactly
//! those. A retry resends the same records with the same numbers; the
//! backend stores each key once.

use serde::{Deserialize, Serialize};

use super::tap::{
    Decision, Medium, Reason, TapEvent, check_medium_for_event, check_outcome, present_or_null,
};
use super::{MessageError, check};
use crate::ids::TerminalId;
use crate::ticket::Verdict;

/// Most records in one batch: bounds the request body (about 1 MiB at the
/// worst-case 2 KiB a record) and the backend's work per request, while a
/// terminal offline for a busy hour (a few hundred taps) catches up in one or
/// two uploads.
pub const MAX_JOURNAL_BATCH_RECORDS: usize = 500;

/// Most missing ranges in one ack: a terminal resends these first; more
/// holes are reported in later acks once these are filled.
pub const MAX_MISSING_RANGES: usize = 64;

/// Whether the terminal decided with the backend's answer or on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The terminal applied the backend's [`super::TapDecision`].
    Online,
    /// The terminal decided from its own rules (network down or too slow);
    /// the backend prices the record when it arrives.
    Offline,
}

/// One journaled tap and what the terminal did about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JournalRecordFields")]
pub struct JournalRecord {
    /// Sequence number within the batch's boot epoch, from 1.
    pub seq: u64,
    /// The terminal's clock at the tap, unix seconds.
    pub device_time_s: u64,
    /// Where and what.
    pub event: TapEvent,
    /// What was presented.
    pub medium: Medium,
    /// Online or offline.
    pub decided_by: DecidedBy,
    /// What the terminal did (opened the gate or not).
    pub decision: Decision,
    /// Why, when not a plain accept.
    pub reason: Option<Reason>,
    /// The charge the terminal showed, in dong (provisional; the backend
    /// re-prices offline records).
    pub amount_vnd: i64,
    /// The terminal's own verdict on a QR medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_verdict: Option<Verdict>,
    /// The deny-list version in force at the tap.
    pub deny_list_version: u64,
    /// The key-set version in force at the tap.
    pub key_set_version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalRecordFields {
    seq: u64,
    device_time_s: u64,
    event: TapEvent,
    medium: Medium,
    decided_by: DecidedBy,
    decision: Decision,
    #[serde(deserialize_with = "present_or_null")]
    reason: Option<Reason>,
    amount_vnd: i64,
    #[serde(default)]
    ticket_verdict: Option<Verdict>,
    deny_list_version: u64,
    key_set_version: u64,
}

impl TryFrom<JournalRecordFields> for JournalRecord {
    type Error = MessageError;
    fn try_from(f: JournalRecordFields) -> Result<JournalRecord, MessageError> {
        check(f.seq >= 1, "seq starts at 1")?;
        check_medium_for_event(&f.medium, &f.event)?;
        check_outcome(f.decision, f.reason, f.amount_vnd, f.ticket_verdict)?;
        Ok(JournalRecord {
            seq: f.seq,
            device_time_s: f.device_time_s,
            event: f.event,
            medium: f.medium,
            decided_by: f.decided_by,
            decision: f.decision,
            reason: f.reason,
            amount_vnd: f.amount_vnd,
            ticket_verdict: f.ticket_verdict,
            deny_list_version: f.deny_list_version,
            key_set_version: f.key_set_version,
        })
    }
}

/// Records uploaded together, `POST /v1/journal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JournalBatchFields")]
pub struct JournalBatch {
    /// The terminal; must equal the authenticated `X-OT-Terminal`.
    pub terminal_id: TerminalId,
    /// The boot epoch all records belong to.
    pub boot_epoch: u32,
    /// The terminal's clock at upload, unix seconds.
    pub device_time_s: u64,
    /// 1 to [`MAX_JOURNAL_BATCH_RECORDS`] records in strictly increasing
    /// `seq` (gaps allowed: a batch may resend missing ranges and new
    /// records together).
    pub records: Vec<JournalRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalBatchFields {
    terminal_id: TerminalId,
    boot_epoch: u32,
    device_time_s: u64,
    records: Vec<JournalRecord>,
}

impl TryFrom<JournalBatchFields> for JournalBatch {
    type Error = MessageError;
    fn try_from(f: JournalBatchFields) -> Result<JournalBatch, MessageError> {
        check(
            !f.records.is_empty() && f.records.len() <= MAX_JOURNAL_BATCH_RECORDS,
            "a batch holds 1 to MAX_JOURNAL_BATCH_RECORDS records",
        )?;
        check(
            f.records
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.seq < b.seq)),
            "records must be in strictly increasing seq",
        )?;
        Ok(JournalBatch {
            terminal_id: f.terminal_id,
            boot_epoch: f.boot_epoch,
            device_time_s: f.device_time_s,
            records: f.records,
        })
    }
}

/// An inclusive range of sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeqRange {
    /// First missing seq.
    pub from_seq: u64,
    /// Last missing seq (inclusive).
    pub to_seq: u64,
}

/// The backend's answer to a [`JournalBatch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "JournalAckFields")]
pub struct JournalAck {
    /// Echo of the batch's terminal.
    pub terminal_id: TerminalId,
    /// Echo of the batch's boot epoch.
    pub boot_epoch: u32,
    /// Every record with `seq ≤ ack_watermark` of this boot epoch is stored
    /// durably; 0 when none is. The terminal may free exactly those.
    pub ack_watermark: u64,
    /// Ranges above the watermark the backend has not received although it
    /// has seen a higher seq: resend them. Sorted, disjoint, not adjacent;
    /// the first starts at `ack_watermark + 1`; at most
    /// [`MAX_MISSING_RANGES`].
    pub missing: Vec<SeqRange>,
    /// The backend's clock, unix seconds.
    pub server_time_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalAckFields {
    terminal_id: TerminalId,
    boot_epoch: u32,
    ack_watermark: u64,
    missing: Vec<SeqRange>,
    server_time_s: u64,
}

impl TryFrom<JournalAckFields> for JournalAck {
    type Error = MessageError;
    fn try_from(f: JournalAckFields) -> Result<JournalAck, MessageError> {
        check(
            f.missing.len() <= MAX_MISSING_RANGES,
            "too many missing ranges",
        )?;
        check(
            f.missing.iter().all(|r| r.from_seq <= r.to_seq),
            "a missing range needs from_seq <= to_seq",
        )?;
        check(
            f.missing
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.to_seq.saturating_add(1) < b.from_seq)),
            "missing ranges must be sorted, disjoint and not adjacent",
        )?;
        check(
            f.missing
                .first()
                .is_none_or(|r| Some(r.from_seq) == f.ack_watermark.checked_add(1)),
            "the first missing range starts right after the watermark",
        )?;
        Ok(JournalAck {
            terminal_id: f.terminal_id,
            boot_epoch: f.boot_epoch,
            ack_watermark: f.ack_watermark,
            missing: f.missing,
            server_time_s: f.server_time_s,
        })
    }
}

/// What the backend has durably stored for one `(terminal, boot epoch)`,
/// and the ack it implies. Pure bookkeeping the fare-validation service and
/// simulators share, so the ack rules live in one place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalProgress {
    /// Highest seq such that 1..=watermark are all stored.
    watermark: u64,
    /// Stored seqs above the watermark, as disjoint sorted inclusive ranges.
    above: Vec<SeqRange>,
}

impl JournalProgress {
    /// Records that `seq` is stored (idempotent). `seq` 0 is ignored: the
    /// first record of an epoch is 1.
    pub fn record(&mut self, seq: u64) {
        if seq == 0
            || seq <= self.watermark
            || self
                .above
                .iter()
                .any(|r| (r.from_seq..=r.to_seq).contains(&seq))
        {
            return;
        }
        self.above.push(SeqRange {
            from_seq: seq,
            to_seq: seq,
        });
        self.above.sort_unstable_by_key(|r| r.from_seq);
        let mut merged: Vec<SeqRange> = Vec::with_capacity(self.above.len());
        for r in self.above.drain(..) {
            match merged.last_mut() {
                Some(last) if last.to_seq.saturating_add(1) >= r.from_seq => {
                    last.to_seq = last.to_seq.max(r.to_seq);
                }
                _ => merged.push(r),
            }
        }
        if let Some(first) = merged.first()
            && first.from_seq == self.watermark + 1
        {
            self.watermark = first.to_seq;
            merged.remove(0);
        }
        self.above = merged;
    }

    /// The contiguous watermark.
    #[must_use]
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// The holes between the watermark and the highest stored seq, at most
    /// [`MAX_MISSING_RANGES`] of them, lowest first.
    #[must_use]
    pub fn missing(&self) -> Vec<SeqRange> {
        // Every stored range starts at least 2 above the seq before it
        // (ranges are merged and not adjacent), so each gap is non-empty.
        let mut holes = Vec::new();
        let mut next = self.watermark.saturating_add(1);
        for stored in self.above.iter().take(MAX_MISSING_RANGES) {
            holes.push(SeqRange {
                from_seq: next,
                to_seq: stored.from_seq.saturating_sub(1),
            });
            next = stored.to_seq.saturating_add(1);
        }
        holes
    }

    /// The ack for this progress.
    #[must_use]
    pub fn ack(&self, terminal_id: TerminalId, boot_epoch: u32, server_time_s: u64) -> JournalAck {
        JournalAck {
            terminal_id,
            boot_epoch,
            ack_watermark: self.watermark,
            missing: self.missing(),
            server_time_s,
        }
    }
}
