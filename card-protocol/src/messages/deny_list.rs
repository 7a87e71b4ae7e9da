//! The deny list: media, tickets and holder keys a terminal must refuse,
//! distributed as a full snapshot or as a delta between two versions.
//!
//! Versions increase strictly. A terminal applies a delta only when its
//! `from_version` equals the version it holds; otherwise it fetches a
//! snapshot. [`DenyList`] is that state machine, shared by terminals'
//! simulators and the backend's tests.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::fields::{BankCardToken, CardUid};
use super::{MessageError, check};
use crate::ids::TicketId;
use crate::keys::PublicKey;

/// Most entries in a snapshot: bounds the download and a validator's memory
/// (about 100 bytes an entry in JSON, so at most ~20 MB). A list that grows
/// past this needs a compact filter format, not a bigger JSON array.
pub const MAX_DENY_SNAPSHOT_ENTRIES: usize = 200_000;

/// Most entries (added plus removed) in one delta: a terminal polls every
/// few minutes, so a delta this large means it should take a snapshot.
pub const MAX_DENY_DELTA_ENTRIES: usize = 10_000;

/// One thing to refuse.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    content = "value",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum DenyEntry {
    /// A transit card, by UID.
    CardId(CardUid),
    /// A bank card, by provider token.
    BankCardToken(BankCardToken),
    /// A QR ticket, by `cti` (refunded, reported stolen, double use).
    TicketId(TicketId),
    /// Every ticket bound to this holder key (a lost or cloned phone).
    HolderKey(PublicKey),
}

/// The whole list at one version, `GET /v1/deny-list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DenyListSnapshotFields")]
pub struct DenyListSnapshot {
    /// The list's version.
    pub version: u64,
    /// Every entry, each once.
    pub entries: Vec<DenyEntry>,
    /// The backend's clock, unix seconds.
    pub server_time_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyListSnapshotFields {
    version: u64,
    entries: Vec<DenyEntry>,
    server_time_s: u64,
}

impl TryFrom<DenyListSnapshotFields> for DenyListSnapshot {
    type Error = MessageError;
    fn try_from(f: DenyListSnapshotFields) -> Result<Self, MessageError> {
        check(
            f.entries.len() <= MAX_DENY_SNAPSHOT_ENTRIES,
            "too many deny-list entries",
        )?;
        let unique: BTreeSet<&DenyEntry> = f.entries.iter().collect();
        check(unique.len() == f.entries.len(), "duplicate deny-list entry")?;
        Ok(DenyListSnapshot {
            version: f.version,
            entries: f.entries,
            server_time_s: f.server_time_s,
        })
    }
}

/// The changes from one version to a later one,
/// `GET /v1/deny-list/delta?from_version=N`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DenyListDeltaFields")]
pub struct DenyListDelta {
    /// The version this delta applies to.
    pub from_version: u64,
    /// The version after applying it; greater than `from_version`.
    pub to_version: u64,
    /// Entries to add.
    pub added: Vec<DenyEntry>,
    /// Entries to remove.
    pub removed: Vec<DenyEntry>,
    /// The backend's clock, unix seconds.
    pub server_time_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyListDeltaFields {
    from_version: u64,
    to_version: u64,
    added: Vec<DenyEntry>,
    removed: Vec<DenyEntry>,
    server_time_s: u64,
}

impl TryFrom<DenyListDeltaFields> for DenyListDelta {
    type Error = MessageError;
    fn try_from(f: DenyListDeltaFields) -> Result<Self, MessageError> {
        check(
            f.from_version < f.to_version,
            "to_version must exceed from_version",
        )?;
        check(
            f.added.len().saturating_add(f.removed.len()) <= MAX_DENY_DELTA_ENTRIES,
            "too many entries in one delta",
        )?;
        let mut seen = BTreeSet::new();
        check(
            f.added.iter().chain(&f.removed).all(|e| seen.insert(e)),
            "an entry appears twice in one delta (or is both added and removed)",
        )?;
        Ok(DenyListDelta {
            from_version: f.from_version,
            to_version: f.to_version,
            added: f.added,
            removed: f.removed,
            server_time_s: f.server_time_s,
        })
    }
}

/// A delta that does not start at the local version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "delta starts at version {from_version}, the local list is at {local_version}: fetch a snapshot"
)]
pub struct VersionMismatch {
    /// The version held locally.
    pub local_version: u64,
    /// The version the delta starts at.
    pub from_version: u64,
}

/// A terminal's deny list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DenyList {
    version: u64,
    entries: BTreeSet<DenyEntry>,
}

impl DenyList {
    /// The list a snapshot describes.
    #[must_use]
    pub fn from_snapshot(snapshot: &DenyListSnapshot) -> DenyList {
        DenyList {
            version: snapshot.version,
            entries: snapshot.entries.iter().cloned().collect(),
        }
    }

    /// Applies `delta` if it starts at this list's version; otherwise leaves
    /// the list unchanged and says so (the terminal then fetches a snapshot).
    pub fn apply(&mut self, delta: &DenyListDelta) -> Result<(), VersionMismatch> {
        if delta.from_version != self.version {
            return Err(VersionMismatch {
                local_version: self.version,
                from_version: delta.from_version,
            });
        }
        for entry in &delta.removed {
            self.entries.remove(entry);
        }
        self.entries.extend(delta.added.iter().cloned());
        self.version = delta.to_version;
        Ok(())
    }

    /// The version held.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether `entry` must be refused.
    #[must_use]
    pub fn contains(&self, entry: &DenyEntry) -> bool {
        self.entries.contains(entry)
    }

    /// How many entries the list holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is denied.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
