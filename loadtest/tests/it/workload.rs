//! The fleet and who taps what.

use std::collections::HashSet;

use card_protocol::messages::{Medium, Message, Tap, TapEvent, decode};
use loadtest::workload::{Direction, Role, Workload, WorkloadError, card_uid, stable_uuid, tap};
use proptest::prelude::*;

fn check_new(
    terminals: u32,
    cards: u32,
    metro: u32,
    expected: Result<(usize, usize), WorkloadError>,
) {
    let got = Workload::new(terminals, cards, metro).map(|w| {
        let gates = w
            .terminals()
            .filter(|t| matches!(t.role, Role::Gate { .. }))
            .count();
        (w.terminal_count() - gates, gates)
    });
    assert_eq!(
        got, expected,
        "terminals {terminals} cards {cards} metro {metro}"
    );
}

#[test]
fn the_fleet_splits_terminals_by_the_metro_share() {
    // 40% of 200 terminals → 40 gate pairs (80 gates), 120 buses.
    check_new(200, 10, 40, Ok((120, 80)));
    check_new(10, 10, 0, Ok((10, 0)));
    // At least two gate pairs, so a trip goes from one station to another.
    check_new(10, 10, 1, Ok((6, 4)));
    check_new(4, 10, 100, Ok((0, 4)));
    check_new(3, 10, 50, Err(WorkloadError::Fleet));
    check_new(4, 10, 99, Err(WorkloadError::Fleet));
    check_new(0, 10, 0, Err(WorkloadError::Terminals));
    check_new(10, 0, 0, Err(WorkloadError::Cards));
    check_new(10, 10, 101, Err(WorkloadError::Share));
}

#[test]
fn terminal_ids_are_unique() {
    let workload = Workload::new(500, 10, 30).expect("valid");
    let ids: HashSet<&str> = workload.terminals().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), workload.terminal_count());
}

#[test]
fn card_uids_and_stable_ids_differ_per_card_and_repeat_per_index() {
    assert_eq!(card_uid(1).as_str(), "4c000000000001");
    assert_eq!(card_uid(0x0102_0304).as_str(), "4c000001020304");
    assert_ne!(card_uid(1), card_uid(2));
    assert_eq!(stable_uuid("account", 5), stable_uuid("account", 5));
    assert_ne!(stable_uuid("account", 5), stable_uuid("account", 6));
    assert_ne!(stable_uuid("account", 5), stable_uuid("medium", 5));
}

#[test]
fn a_metro_rider_enters_at_home_and_leaves_at_another_station() {
    let workload = Workload::new(40, 100, 50).expect("valid");
    let metro_card = (0..100)
        .find(|c| workload.is_metro_rider(*c))
        .expect("a metro rider");
    let cards = u64::from(workload.cards());
    let entry = workload.plan(u64::from(metro_card));
    let exit = workload.plan(u64::from(metro_card) + cards);
    let (
        Role::Gate {
            station_id: at_in,
            direction: Direction::Entry,
        },
        Role::Gate {
            station_id: at_out,
            direction: Direction::Exit,
        },
    ) = (&entry.terminal.role, &exit.terminal.role)
    else {
        panic!("entry then exit: {:?} {:?}", entry.terminal, exit.terminal);
    };
    assert_ne!(at_in, at_out);
    assert_eq!(
        workload.plan(u64::from(metro_card) + 2 * cards).terminal,
        entry.terminal
    );
}

#[test]
fn parkers_take_their_share_and_eight_parking_gates() {
    let workload = Workload::with_parking(200, 100, 40, 10).expect("valid");
    let parking: Vec<_> = workload
        .terminals()
        .filter(|t| matches!(t.role, Role::Parking { .. }))
        .collect();
    assert_eq!(
        parking.len(),
        8,
        "an entry and an exit at each of the 4 lots"
    );
    assert_eq!(workload.terminal_count(), 200);
    assert_eq!((0..100).filter(|c| workload.is_parker(*c)).count(), 10);
    assert!((0..100).all(|c| !(workload.is_parker(c) && workload.is_metro_rider(c))));
    // The shares add up to at most 100, and parking needs its 8 gates.
    assert_eq!(
        Workload::with_parking(200, 100, 95, 6),
        Err(WorkloadError::Share)
    );
    assert_eq!(
        Workload::with_parking(8, 100, 0, 100).map(|w| w.terminal_count()),
        Ok(8)
    );
    assert_eq!(
        Workload::with_parking(7, 100, 0, 100),
        Err(WorkloadError::Fleet)
    );
    assert_eq!(
        Workload::with_parking(8, 100, 0, 50),
        Err(WorkloadError::Fleet),
        "bus riders but no validator left"
    );
}

#[test]
fn a_parker_enters_and_leaves_the_same_lot_by_its_gates() {
    let workload = Workload::with_parking(40, 100, 0, 20).expect("valid");
    let parker = (0..100).find(|c| workload.is_parker(*c)).expect("a parker");
    let cards = u64::from(workload.cards());
    let entry = workload.plan(u64::from(parker));
    let exit = workload.plan(u64::from(parker) + cards);
    let (
        Role::Parking {
            lot: lot_in,
            direction: Direction::Entry,
        },
        Role::Parking {
            lot: lot_out,
            direction: Direction::Exit,
        },
    ) = (&entry.terminal.role, &exit.terminal.role)
    else {
        panic!("entry then exit: {:?} {:?}", entry.terminal, exit.terminal);
    };
    assert_eq!(lot_in, lot_out);
    assert_eq!(entry.terminal.role.path(), "/v1/parking/entries");
    assert_eq!(exit.terminal.role.path(), "/v1/parking/exits");
    let built = tap(&exit, 7, 1, 1_772_409_600);
    assert!(matches!(
        built.event,
        TapEvent::ParkingExit { ref lot_id, ref gate_id, .. }
            if lot_id.as_str() == lot_out.lot_id && gate_id.as_str() == lot_out.exit_gate
    ));
}

proptest! {
    #[test]
    fn every_planned_tap_fits_its_terminal_and_decodes(
        terminals in 4u32..300, cards in 1u32..5_000, metro in 0u32..=100, parking in 0u32..=100,
        index in 0u64..1_000_000,
    ) {
        let Ok(workload) = Workload::with_parking(terminals, cards, metro, parking) else {
            return Ok(());
        };
        let planned = workload.plan(index);
        prop_assert_eq!(u64::from(planned.card), index % u64::from(cards));
        let listed: Vec<_> = workload.terminals().collect();
        prop_assert_eq!(listed[planned.terminal_index], planned.terminal);
        let built = tap(&planned, 7, index + 1, 1_772_409_600);
        let fits = matches!(
            (&planned.terminal.role, &built.event),
            (Role::Bus { .. }, TapEvent::BusBoarding { .. })
                | (Role::Gate { direction: Direction::Entry, .. }, TapEvent::MetroEntry { .. })
                | (Role::Gate { direction: Direction::Exit, .. }, TapEvent::MetroExit { .. })
                | (Role::Parking { direction: Direction::Entry, .. }, TapEvent::ParkingEntry { .. })
                | (Role::Parking { direction: Direction::Exit, .. }, TapEvent::ParkingExit { .. })
        );
        prop_assert_eq!(workload.is_parker(planned.card), matches!(planned.terminal.role, Role::Parking { .. }));
        prop_assert!(fits);
        prop_assert_eq!(&built.medium, &Medium::TransitCard { card_id: card_uid(planned.card) });
        let json = serde_json::to_vec(&built).expect("encodes");
        prop_assert!(json.len() <= Tap::MAX_BYTES);
        prop_assert_eq!(decode::<Tap>(&json).expect("decodes"), built);
    }
}
