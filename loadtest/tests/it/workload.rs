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

proptest! {
    #[test]
    fn every_planned_tap_fits_its_terminal_and_decodes(
        terminals in 4u32..300, cards in 1u32..5_000, metro in 0u32..=100, index in 0u64..1_000_000,
    ) {
        let Ok(workload) = Workload::new(terminals, cards, metro) else { return Ok(()); };
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
        );
        prop_assert!(fits);
        prop_assert_eq!(&built.medium, &Medium::TransitCard { card_id: card_uid(planned.card) });
        let json = serde_json::to_vec(&built).expect("encodes");
        prop_assert!(json.len() <= Tap::MAX_BYTES);
        prop_assert_eq!(decode::<Tap>(&json).expect("decodes"), built);
    }
}
