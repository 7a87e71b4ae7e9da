//! The JSON messages between terminals and the backend (SPEC.md §5).
//!
//! Every message type checks its own rules when it is deserialised (field
//! forms, ranges, cross-field rules, list limits), so a value that exists is
//! valid. Unknown fields are refused: a misspelt field would otherwise be
//! silently dropped and change the meaning. [`decode`] adds the byte limit
//! of each message before parsing.

mod config;
mod deny_list;
mod fields;
mod journal;
mod key_set;
mod tap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use config::{
    GateDirection, JournalPolicy, MAX_DENY_LIST_AGE_S, MAX_OFFLINE_S, MAX_UPLOAD_INTERVAL_S,
    OfflinePolicy, Placement, TerminalConfig,
};
pub use deny_list::{
    DenyEntry, DenyList, DenyListDelta, DenyListSnapshot, MAX_DENY_DELTA_ENTRIES,
    MAX_DENY_SNAPSHOT_ENTRIES, VersionMismatch,
};
pub use fields::{
    BankCardToken, CARD_UID_LENGTHS_BYTES, CardUid, InvalidField, MAX_BANK_CARD_TOKEN_CHARS,
    MAX_PLATE_CHARS, MAX_WIRE_ID_BYTES, MIN_BANK_CARD_TOKEN_CHARS, MIN_PLATE_CHARS, Plate,
    QrPayload, VehicleClass, WireId,
};
pub use journal::{
    DecidedBy, JournalAck, JournalBatch, JournalProgress, JournalRecord, MAX_JOURNAL_BATCH_RECORDS,
    MAX_MISSING_RANGES, SeqRange,
};
pub use key_set::{KeySet, KeySetKey, MAX_KEY_SET_KEYS};
pub use tap::{
    Decision, MAX_ABS_AMOUNT_VND, MAX_ABS_BALANCE_VND, Medium, Reason, Tap, TapDecision, TapEvent,
};

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The body is longer than the message's limit.
    #[error("message is longer than its limit of {limit_bytes} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit_bytes: usize,
    },
    /// Not JSON, a missing or unknown field, or a field of the wrong form
    /// (serde's message names the field and the rule).
    #[error("invalid message: {0}")]
    Json(#[from] serde_json::Error),
    /// A rule across fields or a list limit is broken.
    #[error("invalid message: {0}")]
    Invalid(&'static str),
}

/// `Ok` when `rule` holds, else `Invalid(what)`.
fn check(rule: bool, what: &'static str) -> Result<(), MessageError> {
    if rule {
        Ok(())
    } else {
        Err(MessageError::Invalid(what))
    }
}

/// A message type and its body limit.
pub trait Message: Serialize + DeserializeOwned {
    /// Largest accepted JSON body, in bytes.
    const MAX_BYTES: usize;
}

/// Parses a message body after checking its size.
pub fn decode<M: Message>(json: &[u8]) -> Result<M, MessageError> {
    if json.len() > M::MAX_BYTES {
        return Err(MessageError::TooLarge {
            limit_bytes: M::MAX_BYTES,
        });
    }
    match std::str::from_utf8(json) {
        // One check of the whole body, instead of one per string by the
        // slice parser (a tap has about fifteen: keys and values).
        Ok(text) => Ok(serde_json::from_str(text)?),
        // Not UTF-8: the slice parser says where, as it always did.
        Err(_) => Ok(serde_json::from_slice(json)?),
    }
}

/// The backend's clock, `GET /v1/time`: for a terminal that has nothing else
/// to ask but needs to correct its clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTime {
    /// Unix seconds.
    pub server_time_s: u64,
}

/// Body limits. A record or tap is at most about 1 KiB (a 336-character QR
/// payload plus ids of at most 64 bytes); the limits leave 2× headroom for
/// whitespace.
impl Message for Tap {
    const MAX_BYTES: usize = 2 * 1024;
}
impl Message for TapDecision {
    const MAX_BYTES: usize = 2 * 1024;
}
impl Message for JournalBatch {
    /// [`MAX_JOURNAL_BATCH_RECORDS`] records of at most 2 KiB.
    const MAX_BYTES: usize = MAX_JOURNAL_BATCH_RECORDS * 2 * 1024;
}
impl Message for JournalAck {
    /// [`MAX_MISSING_RANGES`] ranges of at most 64 bytes, plus the rest.
    const MAX_BYTES: usize = 8 * 1024;
}
impl Message for DenyListSnapshot {
    /// [`MAX_DENY_SNAPSHOT_ENTRIES`] entries of at most 128 bytes.
    const MAX_BYTES: usize = MAX_DENY_SNAPSHOT_ENTRIES * 128;
}
impl Message for DenyListDelta {
    /// [`MAX_DENY_DELTA_ENTRIES`] entries of at most 128 bytes.
    const MAX_BYTES: usize = MAX_DENY_DELTA_ENTRIES * 128;
}
impl Message for KeySet {
    /// [`MAX_KEY_SET_KEYS`] keys of at most 256 bytes.
    const MAX_BYTES: usize = MAX_KEY_SET_KEYS * 256;
}
impl Message for TerminalConfig {
    const MAX_BYTES: usize = 4 * 1024;
}
impl Message for ServerTime {
    const MAX_BYTES: usize = 256;
}

#[cfg(test)]
mod tests;
