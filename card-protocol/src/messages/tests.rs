//! Tests of the message types: field rules, cross-field rules, limits, and
//! the journal and deny-list state machines.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::keys::PublicKey;

/// Parses `value` as `M`: `Ok` with the re-serialised JSON, or the error
/// text.
fn parse<M: Message>(value: &Value) -> Result<Value, String> {
    let bytes = serde_json::to_vec(value).expect("test JSON serialises");
    decode::<M>(&bytes)
        .map(|m| serde_json::to_value(&m).expect("messages serialise"))
        .map_err(|e| e.to_string())
}

/// Checks that `value` parses as `M` exactly when `ok`, and that what parses
/// serialises back to the same JSON.
fn check<M: Message>(value: Value, ok: bool) {
    match parse::<M>(&value) {
        Ok(again) => {
            assert!(ok, "accepted: {value}");
            assert_eq!(again, value, "round trip");
        }
        Err(e) => assert!(!ok, "refused {value}: {e}"),
    }
}

/// `base` with `patch` merged in (a `null` in `patch` removes the field).
fn with(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    if let (Some(out), Some(patch)) = (out.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            if v.is_null() {
                out.remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn tap() -> Value {
    json!({
        "terminal_id": "BUS-0042",
        "boot_epoch": 3,
        "seq": 1207,
        "device_time_s": 1_767_225_600,
        "event": {"kind": "bus_boarding", "route_id": "19", "stop_id": "BX-MIEN-DONG"},
        "medium": {"kind": "transit_card", "card_id": "04a1b2c3d4e5f6"}
    })
}

#[test]
fn taps() {
    check::<Tap>(tap(), true);
    check::<Tap>(with(&tap(), json!({"seq": 0})), false);
    check::<Tap>(with(&tap(), json!({"sequence": 5})), false);
    check::<Tap>(with(&tap(), json!({"device_time_s": null})), false);
    check::<Tap>(with(&tap(), json!({"terminal_id": "BUS 42"})), false);
    check::<Tap>(
        with(
            &tap(),
            json!({"event": {"kind": "bus_boarding", "route_id": "19"}}),
        ),
        true,
    );
    check::<Tap>(
        with(
            &tap(),
            json!({"event": {"kind": "metro_entry", "station_id": "BTH", "lane": 2}}),
        ),
        false,
    );
    check::<Tap>(
        with(
            &tap(),
            json!({"event": {"kind": "metro_entrance", "station_id": "BTH"}}),
        ),
        false,
    );
    let qr = json!({"kind": "qr", "payload": "0oRJoQ"});
    check::<Tap>(with(&tap(), json!({"medium": qr})), true);
    let padded = json!({"kind": "qr", "payload": "0oRJoQ=="});
    check::<Tap>(with(&tap(), json!({"medium": padded})), false);
    let plate = json!({"kind": "plate", "plate": "59X1-123.45"});
    check::<Tap>(with(&tap(), json!({"medium": plate})), false);
    let parking = json!({
        "kind": "parking_entry", "lot_id": "BXS-P", "gate_id": "IN-1", "vehicle_class": "motorbike"
    });
    check::<Tap>(
        with(&tap(), json!({"medium": plate, "event": parking})),
        true,
    );
    let truck = with(&parking, json!({"vehicle_class": "truck"}));
    check::<Tap>(
        with(&tap(), json!({"medium": plate, "event": truck})),
        false,
    );
}

fn decision() -> Value {
    json!({
        "terminal_id": "BUS-0042",
        "boot_epoch": 3,
        "seq": 1207,
        "decision": "accept",
        "reason": null,
        "amount_vnd": 6000,
        "balance_vnd": 94000,
        "server_time_s": 1_767_225_601
    })
}

#[test]
fn decisions() {
    check::<TapDecision>(decision(), true);
    let deny = json!({"decision": "deny", "reason": "insufficient_funds", "amount_vnd": 0});
    check::<TapDecision>(with(&decision(), deny.clone()), true);
    check::<TapDecision>(
        with(&decision(), with(&deny, json!({"amount_vnd": 6000}))),
        false,
    );
    check::<TapDecision>(with(&decision(), json!({"decision": "deny"})), false);
    let mut no_reason = decision();
    no_reason.as_object_mut().map(|o| o.remove("reason"));
    check::<TapDecision>(no_reason, false);
    check::<TapDecision>(with(&decision(), json!({"reason": "lot_full"})), false);
    check::<TapDecision>(
        with(&decision(), json!({"reason": "incomplete_journey"})),
        true,
    );
    check::<TapDecision>(with(&decision(), json!({"amount_vnd": -3000})), true);
    check::<TapDecision>(with(&decision(), json!({"amount_vnd": 100_000_001})), false);
    check::<TapDecision>(with(&decision(), json!({"amount_vnd": 6000.0})), false);
    let rejected = json!({
        "decision": "deny", "reason": "ticket_rejected", "amount_vnd": 0, "ticket_verdict": "stale_proof"
    });
    check::<TapDecision>(with(&decision(), rejected.clone()), true);
    check::<TapDecision>(
        with(
            &decision(),
            with(&rejected, json!({"ticket_verdict": null})),
        ),
        false,
    );
    check::<TapDecision>(
        with(
            &decision(),
            with(&rejected, json!({"ticket_verdict": "valid"})),
        ),
        false,
    );
    check::<TapDecision>(
        with(&decision(), json!({"ticket_verdict": "expired"})),
        false,
    );
    let by_ticket = json!({
        "ticket_verdict": "valid",
        "ticket_id": "000102030405060708090a0b0c0d0e0f",
        "product_id": "metro_day",
        "amount_vnd": 0
    });
    check::<TapDecision>(with(&decision(), by_ticket), true);
}

fn record(seq: u64) -> Value {
    json!({
        "seq": seq,
        "device_time_s": 1_767_225_600 + seq,
        "event": {"kind": "metro_entry", "station_id": "BTH"},
        "medium": {"kind": "transit_card", "card_id": "04a1b2c3"},
        "decided_by": "offline",
        "decision": "accept",
        "reason": null,
        "amount_vnd": 19000,
        "deny_list_version": 41,
        "key_set_version": 7
    })
}

fn batch(seqs: &[u64]) -> Value {
    json!({
        "terminal_id": "METRO-BTH-G03",
        "boot_epoch": 1,
        "device_time_s": 1_767_229_200,
        "records": seqs.iter().map(|s| record(*s)).collect::<Vec<_>>()
    })
}

#[test]
fn journal_batches() {
    check::<JournalBatch>(batch(&[1, 2, 3]), true);
    check::<JournalBatch>(batch(&[5, 9, 10]), true);
    check::<JournalBatch>(batch(&[]), false);
    check::<JournalBatch>(batch(&[2, 2]), false);
    check::<JournalBatch>(batch(&[3, 2]), false);
    check::<JournalBatch>(batch(&[0]), false);
    let full: Vec<u64> = (1..=500).collect();
    check::<JournalBatch>(batch(&full), true);
    let over: Vec<u64> = (1..=501).collect();
    check::<JournalBatch>(batch(&over), false);
    let denied = with(
        &record(1),
        json!({"decision": "deny", "reason": "deny_listed", "amount_vnd": 0}),
    );
    let mut b = batch(&[]);
    b["records"] = json!([denied]);
    check::<JournalBatch>(b, true);
}

fn ack(watermark: u64, missing: Value) -> Value {
    json!({
        "terminal_id": "METRO-BTH-G03",
        "boot_epoch": 1,
        "ack_watermark": watermark,
        "missing": missing,
        "server_time_s": 1_767_229_201
    })
}

#[test]
fn journal_acks() {
    let range = |a: u64, b: u64| json!({"from_seq": a, "to_seq": b});
    check::<JournalAck>(ack(0, json!([])), true);
    check::<JournalAck>(ack(120, json!([range(121, 130), range(140, 140)])), true);
    check::<JournalAck>(ack(120, json!([range(122, 130)])), false);
    check::<JournalAck>(ack(120, json!([range(121, 130), range(131, 135)])), false);
    check::<JournalAck>(ack(120, json!([range(121, 130), range(125, 135)])), false);
    check::<JournalAck>(ack(120, json!([range(121, 120)])), false);
    let many: Vec<Value> = (0..65).map(|i| range(121 + 3 * i, 121 + 3 * i)).collect();
    check::<JournalAck>(ack(120, json!(many)), false);
    check::<JournalAck>(ack(120, json!(many[..64])), true);
}

proptest! {
    #[test]
    fn journal_progress_matches_its_definition(
        seqs in proptest::collection::vec(0u64..300, 0..400),
    ) {
        let mut progress = JournalProgress::default();
        for s in &seqs {
            progress.record(*s);
        }
        let stored: BTreeSet<u64> = seqs.iter().copied().filter(|s| *s >= 1).collect();
        let watermark = (1..).take_while(|s| stored.contains(s)).last().unwrap_or(0);
        prop_assert_eq!(progress.watermark(), watermark);
        // The holes are exactly the unstored seqs between the watermark and
        // the highest stored seq, as maximal ranges, lowest first.
        let highest = stored.last().copied().unwrap_or(0);
        let mut expected = Vec::new();
        let mut s = watermark + 1;
        while s < highest {
            if stored.contains(&s) { s += 1; continue; }
            let from = s;
            while !stored.contains(&s) { s += 1; }
            expected.push(SeqRange { from_seq: from, to_seq: s - 1 });
        }
        expected.truncate(MAX_MISSING_RANGES);
        prop_assert_eq!(progress.missing(), expected);
        // What the progress produces is a valid ack.
        let terminal = crate::TerminalId::parse("T-1").expect("valid id");
        let value = serde_json::to_value(progress.ack(terminal, 1, 0)).expect("serialises");
        prop_assert!(parse::<JournalAck>(&value).is_ok());
    }
}

fn entry(kind: &str, value: &str) -> Value {
    json!({"kind": kind, "value": value})
}

#[test]
fn deny_list_messages() {
    let card = entry("card_id", "04a1b2c3");
    let cti = entry("ticket_id", "000102030405060708090a0b0c0d0e0f");
    let snapshot = |entries: Value| json!({"version": 42, "entries": entries, "server_time_s": 1});
    check::<DenyListSnapshot>(snapshot(json!([card, cti])), true);
    check::<DenyListSnapshot>(snapshot(json!([card, card])), false);
    check::<DenyListSnapshot>(snapshot(json!([entry("card_id", "04A1B2C3")])), false);
    check::<DenyListSnapshot>(snapshot(json!([entry("pan", "4111111111111111")])), false);
    check::<DenyListSnapshot>(
        snapshot(json!([{"kind": "card_id", "value": "04a1b2c3", "note": "x"}])),
        false,
    );
    let delta = |from: u64, to: u64, added: Value, removed: Value| json!({"from_version": from, "to_version": to, "added": added, "removed": removed, "server_time_s": 1});
    check::<DenyListDelta>(delta(41, 42, json!([card]), json!([cti])), true);
    check::<DenyListDelta>(delta(42, 42, json!([card]), json!([])), false);
    check::<DenyListDelta>(delta(43, 42, json!([]), json!([])), false);
    check::<DenyListDelta>(delta(41, 42, json!([card]), json!([card])), false);
}

#[test]
fn a_delta_applies_only_at_its_from_version() {
    let snapshot: DenyListSnapshot = serde_json::from_value(json!({
        "version": 41, "entries": [entry("card_id", "04a1b2c3")], "server_time_s": 1
    }))
    .expect("valid snapshot");
    let delta = |from: u64, to: u64| -> DenyListDelta {
        serde_json::from_value(json!({
            "from_version": from, "to_version": to,
            "added": [entry("ticket_id", "000102030405060708090a0b0c0d0e0f")],
            "removed": [entry("card_id", "04a1b2c3")],
            "server_time_s": 1
        }))
        .expect("valid delta")
    };
    let mut list = DenyList::from_snapshot(&snapshot);
    let before = list.clone();
    assert_eq!(
        list.apply(&delta(40, 42)),
        Err(VersionMismatch {
            local_version: 41,
            from_version: 40
        })
    );
    assert_eq!(list, before, "a refused delta changes nothing");
    assert_eq!(list.apply(&delta(41, 45)), Ok(()));
    assert_eq!(list.version(), 45);
    let card = DenyEntry::CardId(CardUid::parse("04a1b2c3").expect("valid uid"));
    assert!(!list.contains(&card));
    assert_eq!(list.len(), 1);
}

proptest! {
    #[test]
    fn deltas_in_order_reach_the_latest_snapshot(
        steps in proptest::collection::vec(
            (proptest::collection::btree_set(0u8..40, 0..10), proptest::collection::btree_set(0u8..40, 0..10)),
            1..8,
        ),
    ) {
        // The backend's view: a set per version. Each step adds some ids and
        // removes others; the delta is what changed.
        let id = |n: u8| DenyEntry::TicketId(crate::TicketId::from_bytes([n; 16]));
        let mut truth: BTreeSet<u8> = BTreeSet::new();
        let mut list = DenyList::default();
        for (version, (add, remove)) in (1u64..).zip(&steps) {
            let next: BTreeSet<u8> = truth.union(add).copied().filter(|n| !remove.contains(n) || add.contains(n)).collect();
            let added: Vec<Value> = next.difference(&truth).map(|n| serde_json::to_value(id(*n)).expect("ser")).collect();
            let removed: Vec<Value> = truth.difference(&next).map(|n| serde_json::to_value(id(*n)).expect("ser")).collect();
            let delta: DenyListDelta = serde_json::from_value(json!({
                "from_version": version - 1, "to_version": version,
                "added": added, "removed": removed, "server_time_s": 0
            })).expect("a computed delta is valid");
            prop_assert_eq!(list.apply(&delta), Ok(()));
            truth = next;
        }
        prop_assert_eq!(list.len(), truth.len());
        for n in 0u8..40 {
            prop_assert_eq!(list.contains(&id(n)), truth.contains(&n));
        }
    }
}

fn key_json(seed: u8, not_before_s: u64, not_after_s: u64) -> Value {
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("seed");
    let key = PublicKey::of(&pair);
    json!({
        "kid": key.kid().to_string(),
        "public_key": String::from(key),
        "not_before_s": not_before_s,
        "not_after_s": not_after_s
    })
}

#[test]
fn key_sets() {
    let set = |keys: Value| json!({"version": 7, "keys": keys});
    check::<KeySet>(
        set(json!([key_json(1, 0, 100), key_json(2, 50, 200)])),
        true,
    );
    check::<KeySet>(set(json!([])), false);
    check::<KeySet>(
        set(json!([key_json(1, 0, 100), key_json(1, 0, 200)])),
        false,
    );
    check::<KeySet>(set(json!([key_json(1, 100, 100)])), false);
    let wrong_kid = with(&key_json(1, 0, 100), json!({"kid": "00000000"}));
    check::<KeySet>(set(json!([wrong_kid])), false);
    let many: Vec<Value> = (1..=17).map(|s| key_json(s, 0, 100)).collect();
    check::<KeySet>(set(json!(many)), false);
    check::<KeySet>(set(json!(many[..16])), true);

    let parsed: KeySet =
        serde_json::from_value(set(json!([key_json(1, 0, 100), key_json(2, 50, 200)])))
            .expect("valid set");
    let trusted = |now_s: u64| parsed.verifying_keys_at(now_s).len();
    assert_eq!(trusted(0), 2, "a key announced ahead is trusted early");
    assert_eq!(trusted(99), 2);
    assert_eq!(trusted(100), 1, "not_after is exclusive");
    assert_eq!(trusted(200), 0);
}

fn config() -> Value {
    json!({
        "terminal_id": "PARK-BXS-IN1",
        "config_version": 3,
        "operator_id": "tnxp",
        "placement": {"kind": "parking_gate", "lot_id": "BXS-P", "gate_id": "IN-1", "direction": "entry"},
        "journal": {"upload_interval_s": 60, "max_batch_records": 500},
        "offline": {"max_offline_s": 86400, "max_deny_list_age_s": 21600},
        "min_deny_list_version": 41,
        "min_key_set_version": 7,
        "server_time_s": 1_767_225_600
    })
}

#[test]
fn terminal_configs() {
    check::<TerminalConfig>(config(), true);
    let journal = |interval: u32, records: u32| json!({"journal": {"upload_interval_s": interval, "max_batch_records": records}});
    check::<TerminalConfig>(with(&config(), journal(0, 500)), false);
    check::<TerminalConfig>(with(&config(), journal(3600, 500)), true);
    check::<TerminalConfig>(with(&config(), journal(3601, 500)), false);
    check::<TerminalConfig>(with(&config(), journal(60, 501)), false);
    check::<TerminalConfig>(with(&config(), journal(60, 0)), false);
    let offline = json!({"offline": {"max_offline_s": 604_801, "max_deny_list_age_s": 0}});
    check::<TerminalConfig>(with(&config(), offline), false);
    let metro =
        json!({"placement": {"kind": "metro_gate", "station_id": "BTH", "direction": "exit"}});
    check::<TerminalConfig>(with(&config(), metro), true);
    let bus =
        json!({"placement": {"kind": "bus_validator", "route_id": "19", "direction": "exit"}});
    check::<TerminalConfig>(with(&config(), bus), false);
}

#[test]
fn body_limits_come_first() {
    let check_limit = |len: usize, ok: bool| {
        let mut body = serde_json::to_vec(&json!({"server_time_s": 1})).expect("ser");
        body.resize(len, b' ');
        assert_eq!(decode::<ServerTime>(&body).is_ok(), ok, "{len} bytes");
    };
    check_limit(<ServerTime as Message>::MAX_BYTES, true);
    check_limit(<ServerTime as Message>::MAX_BYTES + 1, false);
}

/// Decodes `bytes` as `M`; whatever is accepted must survive a round trip
/// unchanged (so validation and serialisation agree).
fn accepted_round_trips<M: Message + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> bool {
    match decode::<M>(bytes) {
        Ok(m) => {
            let again = serde_json::to_vec(&m).expect("messages serialise");
            decode::<M>(&again).ok() == Some(m)
        }
        Err(_) => true,
    }
}

proptest! {
    #[test]
    fn mutated_messages_are_refused_or_round_trip(
        which in 0usize..4,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        delete in any::<bool>(),
    ) {
        let samples = [tap(), batch(&[4, 5]), ack(3, json!([{"from_seq": 4, "to_seq": 4}])), config()];
        let mut bytes = serde_json::to_vec(&samples[which]).expect("ser");
        let i = at.index(bytes.len());
        if delete { bytes.remove(i); } else { bytes.insert(i, byte); }
        let ok = match which {
            0 => accepted_round_trips::<Tap>(&bytes),
            1 => accepted_round_trips::<JournalBatch>(&bytes),
            2 => accepted_round_trips::<JournalAck>(&bytes),
            _ => accepted_round_trips::<TerminalConfig>(&bytes),
        };
        prop_assert!(ok);
    }
}
