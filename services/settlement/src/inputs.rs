//! From stored rows to plan inputs: an event row of `rider.account_event`
//! (or a gate-accepted offline tap) becomes a [`DayEvent`] with the engine's
//! interned ids; the fingerprint of an account-day's inputs; and the
//! per-operator parts of a plan for the statements.
//!
//! Pure: rows in, values out. A row the engine cannot read (an id the
//! running configuration does not have) is a typed error, and its
//! account-day is reported instead of settled.

use std::collections::BTreeMap;

use fares::engine::{Engine, EventKind, ParkExit};
use ledger::{Money, OperatorId};
use ring::digest::{Context, SHA256};
use store_pg::settlement::{EventInput, OperatorPart};

use crate::plan::{Carry, DayEvent, EventKey, LineKind, Provisional, Settled, Verdict};

/// Why a stored event cannot be settled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A kind this settlement does not know.
    #[error("event {key}: unknown kind {kind:?}")]
    UnknownKind {
        /// The event key.
        key: String,
        /// The kind.
        kind: String,
    },
    /// A column the kind needs is empty.
    #[error("event {key}: no {field}")]
    Missing {
        /// The event key.
        key: String,
        /// The column.
        field: &'static str,
    },
    /// An id the running fare configuration does not have.
    #[error("event {key}: unknown {what} {id:?}")]
    UnknownId {
        /// The event key.
        key: String,
        /// What kind of id.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A key settlement cannot use.
    #[error("event key {0:?} is not a valid key")]
    Key(String),
    /// A carry that does not decode.
    #[error("the carried state does not decode: {0}")]
    Carry(String),
}

fn need<'r>(
    row: &'r EventInput,
    value: &'r Option<String>,
    field: &'static str,
) -> Result<&'r str, InputError> {
    value.as_deref().ok_or_else(|| InputError::Missing {
        key: row.event_key.clone(),
        field,
    })
}

fn unknown(row: &EventInput, what: &'static str, id: &str) -> InputError {
    InputError::UnknownId {
        key: row.event_key.clone(),
        what,
        id: id.to_owned(),
    }
}

/// The operator code of a terminal's operator id: upper-cased; an id that
/// is no valid code (it has `.` or `:`) gives `None`, and the engine's owner
/// of the leg is used instead.
#[must_use]
pub fn operator_code(operator_id: Option<&str>) -> Option<OperatorId> {
    operator_id.and_then(|id| OperatorId::parse(&id.to_ascii_uppercase()).ok())
}

/// The plan input of one stored event.
///
/// # Errors
/// See [`InputError`].
pub fn day_event(engine: &Engine, row: &EventInput) -> Result<DayEvent, InputError> {
    let category = |id: &str| {
        engine
            .category(id)
            .ok_or_else(|| unknown(row, "category", id))
    };
    let kind = match row.kind.as_str() {
        "top_up" => EventKind::TopUp {
            amount: Money::vnd(row.top_up_vnd.ok_or_else(|| InputError::Missing {
                key: row.event_key.clone(),
                field: "top_up_vnd",
            })?),
        },
        "bus" => {
            let route = need(row, &row.route_id, "route_id")?;
            EventKind::Bus {
                route: engine
                    .route(route)
                    .ok_or_else(|| unknown(row, "route", route))?,
                category: category(need(row, &row.category_id, "category_id")?)?,
            }
        }
        "metro_in" => {
            let station = need(row, &row.station_id, "station_id")?;
            EventKind::MetroIn {
                station: engine
                    .station(station)
                    .ok_or_else(|| unknown(row, "station", station))?,
                category: category(need(row, &row.category_id, "category_id")?)?,
            }
        }
        "metro_out" => {
            let station = need(row, &row.station_id, "station_id")?;
            EventKind::MetroOut {
                station: engine
                    .station(station)
                    .ok_or_else(|| unknown(row, "station", station))?,
            }
        }
        "buy_pass" => {
            let product = need(row, &row.product_id, "product_id")?;
            EventKind::BuyPass {
                product: engine
                    .pass(product)
                    .ok_or_else(|| unknown(row, "pass", product))?,
                category: category(need(row, &row.category_id, "category_id")?)?,
            }
        }
        "park_in" | "park_out" | "park_out_lost_ticket" => {
            let lot_id = need(row, &row.lot_id, "lot_id")?;
            let lot = engine
                .lot(lot_id)
                .ok_or_else(|| unknown(row, "lot", lot_id))?;
            match row.kind.as_str() {
                "park_in" => EventKind::ParkIn { lot },
                "park_out" => EventKind::ParkOut {
                    lot,
                    exit: ParkExit::WithMedium,
                },
                _ => EventKind::ParkOut {
                    lot,
                    exit: ParkExit::LostTicket,
                },
            }
        }
        other => {
            return Err(InputError::UnknownKind {
                key: row.event_key.clone(),
                kind: other.to_owned(),
            });
        }
    };
    Ok(DayEvent {
        key: EventKey::parse(&row.event_key).map_err(|_| InputError::Key(row.event_key.clone()))?,
        at: row.event_time.fixed_offset(),
        kind,
        operator: operator_code(row.operator_id.as_deref()),
        provisional: Some(Provisional {
            verdict: Verdict::Accept,
            amount: Money::vnd(row.amount_vnd),
        }),
    })
}

/// SHA-256 of a carry's canonical JSON (field order is fixed by the
/// types and maps are sorted, so equal carries have equal digests).
#[must_use]
pub fn carry_digest(carry: &Carry) -> [u8; 32] {
    let json =
        serde_json::to_vec(carry).expect("a carry always serialises: no maps with non-string keys");
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ring::digest::digest(&SHA256, &json).as_ref());
    digest
}

/// The fingerprint of an account-day's inputs: the start carry and every
/// event (key, kind of row, time) in order. Stored rows never change, so an
/// equal fingerprint means nothing new to settle.
#[must_use]
pub fn input_digest(start: &[u8; 32], rows: &[&EventInput]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(start);
    for row in rows {
        for part in [
            row.event_key.as_bytes(),
            if row.gate_override { b"gate" } else { b"event" },
            &row.event_time.timestamp_micros().to_be_bytes(),
        ] {
            context.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            context.update(part);
        }
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    digest
}

/// What the gates and the app charged on the day: Σ of the provisional
/// amounts of every non-top-up event (holds placed and refunds included).
#[must_use]
pub fn provisional_total(rows: &[&EventInput]) -> i64 {
    rows.iter()
        .filter(|r| r.kind != "top_up")
        .map(|r| r.amount_vnd)
        .fold(0i64, i64::saturating_add)
}

/// The plan's lines summed per operator, for the statements.
///
/// # Errors
/// An overflow of a sum.
pub fn operator_parts(lines: &[crate::plan::Line]) -> Result<Vec<OperatorPart>, ledger::Overflow> {
    let mut parts: BTreeMap<&OperatorId, OperatorPart> = BTreeMap::new();
    for line in lines {
        let Some(operator) = &line.operator else {
            continue;
        };
        if line.settled != Settled::Accept {
            continue;
        }
        let part = parts.entry(operator).or_insert_with(|| OperatorPart {
            operator_id: operator.to_string(),
            ..OperatorPart::default()
        });
        let add = |total: &mut i64, amount: Money| -> Result<(), ledger::Overflow> {
            *total = Money::vnd(*total).checked_add(amount)?.as_vnd();
            Ok(())
        };
        let is_leg = matches!(line.kind, LineKind::Bus)
            || (line.kind == LineKind::MetroOut && line.reason.is_none());
        if is_leg {
            part.legs = part.legs.saturating_add(1);
        }
        add(&mut part.full_fares_vnd, line.full_fare)?;
        add(&mut part.discounts_vnd, line.discount)?;
        add(&mut part.cap_reductions_vnd, line.cap_reduction)?;
        add(&mut part.fares_charged_vnd, line.fare_charged)?;
        add(&mut part.fares_settled_vnd, line.fare_settled)?;
        add(&mut part.incomplete_vnd, line.incomplete_charge)?;
        add(&mut part.pass_recognised_vnd, line.pass_recognised)?;
        // The lost-ticket fee is the lot operator's parking revenue too.
        add(&mut part.parking_vnd, line.parking_fee)?;
        add(&mut part.parking_vnd, line.lost_ticket_fee)?;
    }
    Ok(parts.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn row(kind: &str) -> EventInput {
        EventInput {
            account_id: Uuid::from_u128(7),
            event_key: "tap:T1:0:1".into(),
            kind: kind.into(),
            event_time: DateTime::<Utc>::from_timestamp(1_772_400_000, 0).unwrap(),
            route_id: Some("19".into()),
            station_id: Some("BTH".into()),
            lot_id: Some("BXS-P".into()),
            product_id: Some("metro_day".into()),
            category_id: Some("adult".into()),
            top_up_vnd: Some(50_000),
            amount_vnd: 6_000,
            operator_id: Some("samco".into()),
            medium_kind: Some("transit_card".into()),
            gate_override: false,
        }
    }

    #[test]
    fn rows_become_engine_events() {
        let engine = Engine::hcmc().unwrap();
        let check = |row: EventInput, expected: Result<EventKind, InputError>| {
            assert_eq!(
                day_event(&engine, &row).map(|e| e.kind),
                expected,
                "{row:?}"
            );
        };
        let adult = engine.category("adult").unwrap();
        check(
            row("bus"),
            Ok(EventKind::Bus {
                route: engine.route("19").unwrap(),
                category: adult,
            }),
        );
        check(
            row("metro_out"),
            Ok(EventKind::MetroOut {
                station: engine.station("BTH").unwrap(),
            }),
        );
        let lot = engine.lot("BXS-P").unwrap();
        check(
            row("park_out"),
            Ok(EventKind::ParkOut {
                lot,
                exit: ParkExit::WithMedium,
            }),
        );
        check(
            row("park_out_lost_ticket"),
            Ok(EventKind::ParkOut {
                lot,
                exit: ParkExit::LostTicket,
            }),
        );
        check(
            row("top_up"),
            Ok(EventKind::TopUp {
                amount: Money::vnd(50_000),
            }),
        );
        check(
            EventInput {
                route_id: Some("999".into()),
                ..row("bus")
            },
            Err(InputError::UnknownId {
                key: "tap:T1:0:1".into(),
                what: "route",
                id: "999".into(),
            }),
        );
        check(
            EventInput {
                category_id: None,
                ..row("metro_in")
            },
            Err(InputError::Missing {
                key: "tap:T1:0:1".into(),
                field: "category_id",
            }),
        );
        check(
            row("teleport"),
            Err(InputError::UnknownKind {
                key: "tap:T1:0:1".into(),
                kind: "teleport".into(),
            }),
        );
    }

    #[test]
    fn operator_codes_come_from_the_registry_upper_cased() {
        let check = |id: Option<&str>, expected: Option<&str>| {
            assert_eq!(
                operator_code(id).map(|o| o.to_string()),
                expected.map(str::to_owned)
            );
        };
        check(Some("samco"), Some("SAMCO"));
        check(Some("d1_parking"), Some("D1_PARKING"));
        check(Some("op.with:colon"), None);
        check(None, None);
    }

    #[test]
    fn the_fingerprint_changes_with_any_event_or_the_start() {
        let a = row("bus");
        let b = EventInput {
            event_key: "tap:T1:0:2".into(),
            ..row("bus")
        };
        let base = input_digest(&[0; 32], &[&a]);
        assert_eq!(base, input_digest(&[0; 32], &[&a]));
        assert_ne!(base, input_digest(&[1; 32], &[&a]));
        assert_ne!(base, input_digest(&[0; 32], &[&a, &b]));
        assert_ne!(base, input_digest(&[0; 32], &[&b]));
        assert_ne!(
            base,
            input_digest(
                &[0; 32],
                &[&EventInput {
                    gate_override: true,
                    ..row("bus")
                }]
            )
        );
    }
}
