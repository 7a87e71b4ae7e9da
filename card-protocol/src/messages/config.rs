//! A terminal's configuration, `GET /v1/config`: where it stands, how it
//! uploads its journal, and how it behaves offline.

use serde::{Deserialize, Serialize};

use super::fields::WireId;
use super::journal::MAX_JOURNAL_BATCH_RECORDS;
use super::{MessageError, check};
use crate::ids::TerminalId;

/// Longest journal upload interval, in seconds: a terminal that is online
/// uploads at least this often, so online taps reach the book of record
/// through the journal within minutes even if the stream path fails.
pub const MAX_UPLOAD_INTERVAL_S: u32 = 3_600;

/// Longest a terminal may run offline, in seconds: a week covers a long
/// outage; beyond it an unreachable terminal is a fault to fix, not a mode.
pub const MAX_OFFLINE_S: u32 = 7 * 24 * 3_600;

/// Oldest deny list a terminal may rely on, in seconds (same bound and
/// reason as [`MAX_OFFLINE_S`]).
pub const MAX_DENY_LIST_AGE_S: u32 = 7 * 24 * 3_600;

/// Which way a gate lane lets people or vehicles through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateDirection {
    /// Into the paid area or the lot.
    Entry,
    /// Out of the paid area or the lot.
    Exit,
}

/// What the terminal is and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Placement {
    /// A validator on a bus; the route can change per trip, so the tap
    /// carries it and this is the default.
    BusValidator {
        /// The route the bus usually runs.
        route_id: WireId,
    },
    /// A metro fare gate.
    MetroGate {
        /// The station.
        station_id: WireId,
        /// Entry or exit lane.
        direction: GateDirection,
    },
    /// A parking lane barrier.
    ParkingGate {
        /// The lot.
        lot_id: WireId,
        /// This lane or gate.
        gate_id: WireId,
        /// Entry or exit lane.
        direction: GateDirection,
    },
}

/// How the terminal uploads its journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalPolicy {
    /// Upload at least this often while online, seconds, 1..=3600.
    pub upload_interval_s: u32,
    /// Records per batch, 1..=500.
    pub max_batch_records: u32,
}

/// How the terminal decides without the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflinePolicy {
    /// After this long without a backend reply, deny everything but valid QR
    /// tickets; seconds, 0..=604800.
    pub max_offline_s: u32,
    /// Treat the deny list as unusable (deny cards and bank cards) once it is
    /// this old; seconds, 0..=604800.
    pub max_deny_list_age_s: u32,
}

/// A terminal's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TerminalConfigFields")]
pub struct TerminalConfig {
    /// The terminal this configuration is for.
    pub terminal_id: TerminalId,
    /// Increases whenever the configuration changes.
    pub config_version: u64,
    /// The operator whose revenue the terminal's taps earn.
    pub operator_id: WireId,
    /// What and where the terminal is.
    pub placement: Placement,
    /// Journal uploads.
    pub journal: JournalPolicy,
    /// Offline behaviour.
    pub offline: OfflinePolicy,
    /// The terminal must hold at least this deny-list version before it
    /// decides offline.
    pub min_deny_list_version: u64,
    /// The terminal must hold at least this key-set version.
    pub min_key_set_version: u64,
    /// The backend's clock, unix seconds.
    pub server_time_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminalConfigFields {
    terminal_id: TerminalId,
    config_version: u64,
    operator_id: WireId,
    placement: Placement,
    journal: JournalPolicy,
    offline: OfflinePolicy,
    min_deny_list_version: u64,
    min_key_set_version: u64,
    server_time_s: u64,
}

impl TryFrom<TerminalConfigFields> for TerminalConfig {
    type Error = MessageError;
    fn try_from(f: TerminalConfigFields) -> Result<Self, MessageError> {
        let max_records = u32::try_from(MAX_JOURNAL_BATCH_RECORDS)
            .expect("MAX_JOURNAL_BATCH_RECORDS is 500, far below u32::MAX");
        check(
            (1..=MAX_UPLOAD_INTERVAL_S).contains(&f.journal.upload_interval_s),
            "journal.upload_interval_s out of range",
        )?;
        check(
            (1..=max_records).contains(&f.journal.max_batch_records),
            "journal.max_batch_records out of range",
        )?;
        check(
            f.offline.max_offline_s <= MAX_OFFLINE_S,
            "offline.max_offline_s out of range",
        )?;
        check(
            f.offline.max_deny_list_age_s <= MAX_DENY_LIST_AGE_S,
            "offline.max_deny_list_age_s out of range",
        )?;
        Ok(TerminalConfig {
            terminal_id: f.terminal_id,
            config_version: f.config_version,
            operator_id: f.operator_id,
            placement: f.placement,
            journal: f.journal,
            offline: f.offline,
            min_deny_list_version: f.min_deny_list_version,
            min_key_set_version: f.min_key_set_version,
            server_time_s: f.server_time_s,
        })
    }
}
