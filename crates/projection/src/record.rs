//! What the projection writes: the stored state value, the reply a retry
//! gets, and the stream entry the ingest turns into Postgres rows.
//!
//! The stream entry carries every input needed to price the event again
//! (its kind, ids as configuration text, time and category), the decision,
//! the account version it produced, and for taps the device context — so
//! Postgres alone can rebuild a state and settlement can re-price a day.
//! Ids are text, not engine indices, so a record outlives a configuration.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fares::engine::{AccountState, Engine, Event, EventKind, Outcome, ParkExit};
use ledger::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ProjectionError;
use crate::setup::{ConfigId, FareSetup};

/// An event as recorded: kind and ids as configuration text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordedKind {
    /// Money added to the wallet.
    TopUp {
        /// Dong added (> 0).
        amount_vnd: i64,
    },
    /// A bus boarding.
    Bus {
        /// The route.
        route_id: String,
        /// The rider category it was priced for.
        category_id: String,
    },
    /// A metro tap in.
    MetroIn {
        /// The station.
        station_id: String,
        /// The rider category.
        category_id: String,
    },
    /// A metro tap out.
    MetroOut {
        /// The station.
        station_id: String,
    },
    /// A pass bought from the wallet.
    BuyPass {
        /// The pass product.
        product_id: String,
        /// The rider category.
        category_id: String,
    },
    /// A vehicle entering a lot.
    ParkIn {
        /// The lot.
        lot_id: String,
    },
    /// A vehicle leaving a lot through a gate.
    ParkOut {
        /// The lot.
        lot_id: String,
    },
    /// A stay closed by an operator for a rider who lost the medium (the
    /// stay's fee plus the lot's lost-ticket fee).
    ParkOutLostTicket {
        /// The lot.
        lot_id: String,
    },
}

/// An event with its time, as recorded. (No `deny_unknown_fields`: serde
/// does not support it with `flatten`; the kind's own fields are checked.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// The time it was priced with.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: RecordedKind,
}

/// An engine index the engine cannot name back: a programming error
/// (events are built with this very engine).
fn named<T>(value: Option<T>, what: &'static str) -> Result<T, ProjectionError> {
    value.ok_or(ProjectionError::UnknownId(what))
}

impl RecordedEvent {
    /// The recorded form of an engine event.
    ///
    /// # Errors
    /// An index the engine does not have.
    pub fn of(engine: &Engine, event: &Event) -> Result<RecordedEvent, ProjectionError> {
        let category = |c| named(engine.category_id(c), "category").map(str::to_owned);
        let kind = match event.kind {
            EventKind::TopUp { amount } => RecordedKind::TopUp {
                amount_vnd: amount.as_vnd(),
            },
            EventKind::Bus { route, category: c } => RecordedKind::Bus {
                route_id: named(engine.route_id(route), "route")?.to_owned(),
                category_id: category(c)?,
            },
            EventKind::MetroIn {
                station,
                category: c,
            } => RecordedKind::MetroIn {
                station_id: named(engine.station_id(station), "station")?.to_owned(),
                category_id: category(c)?,
            },
            EventKind::MetroOut { station } => RecordedKind::MetroOut {
                station_id: named(engine.station_id(station), "station")?.to_owned(),
            },
            EventKind::BuyPass {
                product,
                category: c,
            } => RecordedKind::BuyPass {
                product_id: named(engine.pass_id(product), "pass")?.to_owned(),
                category_id: category(c)?,
            },
            EventKind::ParkIn { lot } => RecordedKind::ParkIn {
                lot_id: named(engine.lot_id(lot), "lot")?.to_owned(),
            },
            EventKind::ParkOut { lot, exit } => {
                let lot_id = named(engine.lot_id(lot), "lot")?.to_owned();
                match exit {
                    ParkExit::WithMedium => RecordedKind::ParkOut { lot_id },
                    ParkExit::LostTicket => RecordedKind::ParkOutLostTicket { lot_id },
                }
            }
        };
        Ok(RecordedEvent {
            at: event.at.with_timezone(&Utc),
            kind,
        })
    }

    /// The engine event this record describes, with ids interned by
    /// `engine` (which may be a newer configuration than the one that
    /// priced it).
    ///
    /// # Errors
    /// An id this configuration does not have.
    pub fn to_event(&self, engine: &Engine) -> Result<Event, ProjectionError> {
        let category = |id: &str| named(engine.category(id), "category");
        let kind = match &self.kind {
            RecordedKind::TopUp { amount_vnd } => EventKind::TopUp {
                amount: Money::vnd(*amount_vnd),
            },
            RecordedKind::Bus {
                route_id,
                category_id,
            } => EventKind::Bus {
                route: named(engine.route(route_id), "route")?,
                category: category(category_id)?,
            },
            RecordedKind::MetroIn {
                station_id,
                category_id,
            } => EventKind::MetroIn {
                station: named(engine.station(station_id), "station")?,
                category: category(category_id)?,
            },
            RecordedKind::MetroOut { station_id } => EventKind::MetroOut {
                station: named(engine.station(station_id), "station")?,
            },
            RecordedKind::BuyPass {
                product_id,
                category_id,
            } => EventKind::BuyPass {
                product: named(engine.pass(product_id), "pass")?,
                category: category(category_id)?,
            },
            RecordedKind::ParkIn { lot_id } => EventKind::ParkIn {
                lot: named(engine.lot(lot_id), "lot")?,
            },
            RecordedKind::ParkOut { lot_id } => EventKind::ParkOut {
                lot: named(engine.lot(lot_id), "lot")?,
                exit: ParkExit::WithMedium,
            },
            RecordedKind::ParkOutLostTicket { lot_id } => EventKind::ParkOut {
                lot: named(engine.lot(lot_id), "lot")?,
                exit: ParkExit::LostTicket,
            },
        };
        Ok(Event {
            at: self.at.fixed_offset(),
            kind,
        })
    }

    /// The stored `kind` column.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RecordedKind::TopUp { .. } => "top_up",
            RecordedKind::Bus { .. } => "bus",
            RecordedKind::MetroIn { .. } => "metro_in",
            RecordedKind::MetroOut { .. } => "metro_out",
            RecordedKind::BuyPass { .. } => "buy_pass",
            RecordedKind::ParkIn { .. } => "park_in",
            RecordedKind::ParkOut { .. } => "park_out",
            RecordedKind::ParkOutLostTicket { .. } => "park_out_lost_ticket",
        }
    }
}

/// Accept or deny, as recorded and replied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Accepted.
    Accept,
    /// Denied.
    Deny,
}

/// The answer to an event: what a retry gets back unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Accept or deny.
    pub decision: Verdict,
    /// The reason code (`insufficient_funds`, `incomplete_journey`,
    /// `unknown_medium`, …), if any.
    pub reason: Option<String>,
    /// How much the spendable balance went down, dong (negative: up).
    pub amount_vnd: i64,
    /// The spendable balance after the event; `None` when no account.
    pub balance_vnd: Option<i64>,
    /// The pass bought or used.
    pub pass_id: Option<String>,
    /// The GTFS fare product that priced the leg.
    pub fare_product_id: Option<String>,
    /// The account's state version after the event (unchanged on deny).
    pub version: Option<u64>,
    /// The service day of the event.
    pub service_day: Option<NaiveDate>,
    /// The backend's verdict on a QR ticket, when the medium was one and it
    /// did not verify (kept so a retry answers the same verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_verdict: Option<String>,
}

impl Reply {
    /// The reply of an engine outcome.
    #[must_use]
    pub fn of_outcome(engine: &Engine, outcome: &Outcome, version: u64) -> Reply {
        Reply {
            decision: match outcome.decision {
                fares::engine::Decision::Accept => Verdict::Accept,
                fares::engine::Decision::Deny => Verdict::Deny,
            },
            reason: outcome.reason.map(|r| r.code().to_owned()),
            amount_vnd: outcome.amount.as_vnd(),
            balance_vnd: Some(outcome.balance.as_vnd()),
            pass_id: outcome
                .pass
                .and_then(|p| engine.pass_id(p))
                .map(str::to_owned),
            fare_product_id: outcome
                .fare_product
                .and_then(|p| engine.fare_product_id(p))
                .map(str::to_owned),
            version: Some(version),
            service_day: outcome.service_day.date(),
            ticket_verdict: None,
        }
    }

    /// A deny that reached no account.
    #[must_use]
    pub fn denied(reason: &str) -> Reply {
        Reply {
            decision: Verdict::Deny,
            reason: Some(reason.to_owned()),
            amount_vnd: 0,
            balance_vnd: None,
            pass_id: None,
            fare_product_id: None,
            version: None,
            service_day: None,
            ticket_verdict: None,
        }
    }
}

/// How the backend learned of a tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapSource {
    /// Answered on `POST /v1/taps`.
    Online,
    /// Priced from a journal upload.
    Journal,
}

/// The device context of a tap (columns of `transit.tap`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TapContext {
    pub terminal_id: String,
    pub boot_epoch: u32,
    pub seq: u64,
    pub source: TapSource,
    pub device_time_s: u64,
    pub event_time: DateTime<Utc>,
    pub service_day: NaiveDate,
    pub event_kind: String,
    pub route_id: Option<String>,
    pub stop_id: Option<String>,
    pub station_id: Option<String>,
    pub lot_id: Option<String>,
    pub gate_id: Option<String>,
    pub vehicle_class: Option<String>,
    pub operator_id: String,
    pub medium_kind: String,
    pub medium_id: Option<Uuid>,
    /// The QR ticket id, hex.
    pub ticket_id: Option<String>,
    pub category_id: Option<String>,
    pub ticket_verdict: Option<String>,
}

/// One stream entry (the `d` field, JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamEntry {
    /// The event key.
    pub key: String,
    /// The account, when the event reached one.
    pub account_id: Option<Uuid>,
    /// Whether the event changed the account's state (an accepted event):
    /// only those are folded by a rebuild.
    pub changed: bool,
    /// The priced event, when there was one.
    pub event: Option<RecordedEvent>,
    /// The answer.
    pub reply: Reply,
    /// The tap behind the event, if any.
    pub tap: Option<TapContext>,
    /// The configuration that priced it.
    pub config_id: String,
    /// When the backend decided, unix milliseconds.
    pub decided_at_ms: i64,
}

/// A [`StreamEntry`] by reference, for writing: the same JSON without
/// cloning the event, reply and tap context of every commit (a test checks
/// that both serialise to the same bytes).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StreamEntryRef<'a> {
    /// See [`StreamEntry::key`].
    pub key: &'a str,
    /// See [`StreamEntry::account_id`].
    pub account_id: Option<Uuid>,
    /// See [`StreamEntry::changed`].
    pub changed: bool,
    /// See [`StreamEntry::event`].
    pub event: Option<&'a RecordedEvent>,
    /// See [`StreamEntry::reply`].
    pub reply: &'a Reply,
    /// See [`StreamEntry::tap`].
    pub tap: Option<&'a TapContext>,
    /// See [`StreamEntry::config_id`].
    pub config_id: &'a str,
    /// See [`StreamEntry::decided_at_ms`].
    pub decided_at_ms: i64,
}

impl<'a> StreamEntryRef<'a> {
    /// The entry `entry` points to.
    #[must_use]
    pub fn of(entry: &'a StreamEntry) -> StreamEntryRef<'a> {
        StreamEntryRef {
            key: &entry.key,
            account_id: entry.account_id,
            changed: entry.changed,
            event: entry.event.as_ref(),
            reply: &entry.reply,
            tap: entry.tap.as_ref(),
            config_id: &entry.config_id,
            decided_at_ms: entry.decided_at_ms,
        }
    }
}

impl StreamEntry {
    /// The decision time.
    #[must_use]
    pub fn decided_at(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.decided_at_ms)
            .single()
            .unwrap_or_default()
    }
}

/// Separates the fields of a stored state value.
const STATE_SEPARATOR: char = '|';

/// Encodes a state as `<version>|<config id>|<JSON>`: the commit script
/// reads the version before the first `|`; the config id tells a state of
/// another configuration, which is rebuilt rather than used.
///
/// # Errors
/// Never in practice (the state serialises); kept typed for the caller.
pub fn encode_state(config: &ConfigId, state: &AccountState) -> Result<Vec<u8>, ProjectionError> {
    let json = serde_json::to_vec(state).map_err(|e| ProjectionError::Corrupt(e.to_string()))?;
    let mut out = Vec::with_capacity(json.len() + 40);
    out.extend_from_slice(state.version.to_string().as_bytes());
    out.push(b'|');
    out.extend_from_slice(config.as_str().as_bytes());
    out.push(b'|');
    out.extend_from_slice(&json);
    Ok(out)
}

/// A stored state value, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredState {
    /// The version text the commit script compares.
    pub version_text: String,
    /// The configuration it was built with.
    pub config_id: String,
    /// The state, when it decodes.
    pub state: Option<AccountState>,
}

/// Decodes a stored state value (never panics: a damaged value decodes to
/// `state: None` and is rebuilt).
#[must_use]
pub fn decode_state(bytes: &[u8]) -> StoredState {
    let text = String::from_utf8_lossy(bytes);
    let mut parts = text.splitn(3, STATE_SEPARATOR);
    let version_text = parts.next().unwrap_or_default().to_owned();
    let config_id = parts.next().unwrap_or_default().to_owned();
    let state = parts
        .next()
        .and_then(|json| serde_json::from_str::<AccountState>(json).ok())
        .filter(|s| s.version.to_string() == version_text);
    StoredState {
        version_text,
        config_id,
        state,
    }
}

/// The setup-independent check that a stored state belongs to `setup`.
#[must_use]
pub fn usable(stored: &StoredState, setup: &FareSetup) -> Option<AccountState> {
    if stored.config_id == setup.config_id().as_str() {
        stored.state.clone()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn states_round_trip_and_damage_is_detected() {
        let config = ConfigId::from_text("abc123");
        let state = AccountState {
            version: 7,
            balance: Money::vnd(12_000),
            ..AccountState::default()
        };
        let bytes = encode_state(&config, &state).expect("encodes");
        let check = |bytes: &[u8], version: &str, ok: bool| {
            let stored = decode_state(bytes);
            assert_eq!(stored.version_text, version);
            assert_eq!(
                stored.state.is_some(),
                ok,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        };
        check(&bytes, "7", true);
        assert_eq!(decode_state(&bytes).state, Some(state));
        check(b"7|abc123|{not json", "7", false);
        check(b"8|abc123|{\"version\":7}", "8", false);
        check(b"", "", false);
    }

    #[test]
    fn stream_entries_round_trip() {
        let entry = StreamEntry {
            key: "tap:g:1:2".into(),
            account_id: Some(Uuid::from_u128(5)),
            changed: true,
            event: Some(RecordedEvent {
                at: Utc.timestamp_opt(1_772_409_600, 0).single().expect("time"),
                kind: RecordedKind::Bus {
                    route_id: "19".into(),
                    category_id: "adult".into(),
                },
            }),
            reply: Reply::denied("unknown_medium"),
            tap: None,
            config_id: "abc".into(),
            decided_at_ms: 1,
        };
        let bytes = serde_json::to_vec(&entry).expect("encodes");
        assert_eq!(
            serde_json::from_slice::<StreamEntry>(&bytes).expect("decodes"),
            entry
        );
        let by_reference = serde_json::to_vec(&StreamEntryRef::of(&entry)).expect("encodes");
        assert_eq!(by_reference, bytes);
    }

    #[test]
    fn lost_ticket_exits_are_recorded_apart_and_read_back() {
        let setup = FareSetup::hcmc().expect("the shipped configuration loads");
        let engine = setup.engine();
        let lot = engine.lot("BTH-P").expect("a shipped lot");
        let at = Utc
            .timestamp_opt(1_772_409_600, 0)
            .single()
            .expect("time")
            .fixed_offset();
        let check = |exit: ParkExit, kind_name: &str, json_kind: &str| {
            let event = Event {
                at,
                kind: EventKind::ParkOut { lot, exit },
            };
            let recorded = RecordedEvent::of(engine, &event).expect("records");
            assert_eq!(recorded.kind_name(), kind_name);
            assert_eq!(recorded.to_event(engine).expect("reads back"), event);
            let json = serde_json::to_value(&recorded).expect("encodes");
            assert_eq!(json["kind"], json_kind);
            assert_eq!(json["lot_id"], "BTH-P");
            let back: RecordedEvent = serde_json::from_value(json).expect("decodes");
            assert_eq!(back, recorded);
        };
        check(ParkExit::WithMedium, "park_out", "park_out");
        check(
            ParkExit::LostTicket,
            "park_out_lost_ticket",
            "park_out_lost_ticket",
        );
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_state(&bytes);
        }
    }
}
