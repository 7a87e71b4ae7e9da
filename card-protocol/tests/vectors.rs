//! The crate's integration tests: every committed vector in `vectors/` is
//! checked through the public API, exactly as an independent implementation
//! of SPEC.md would check it.

use std::path::Path;

use card_protocol::messages::{
    DenyList, DenyListDelta, DenyListSnapshot, JournalAck, JournalBatch, JournalProgress, KeySet,
    Medium, Message, ServerTime, Tap, TapDecision, TerminalConfig, decode,
};
use card_protocol::request_auth::{
    AuthHeaders, MasterKey, RequestParts, derive_terminal_key, sign_request, verify_request,
};
use card_protocol::ticket::{MAX_LEVEL2_BYTES, MAX_TICKET_BYTES};
use card_protocol::{Kid, PublicKey, TerminalId, VerifyingKeys, verify_qr};
use serde::{Deserialize, Serialize};

// The generator's modules, compiled into this test so it can check that
// the committed files are exactly what the generator produces.
#[path = "../examples/gen_vectors/fixed.rs"]
mod fixed;
#[path = "../examples/gen_vectors/requests.rs"]
mod requests;
#[path = "../examples/gen_vectors/tickets.rs"]
mod tickets;

fn read_vectors<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestVectors {
    master_key: String,
    cases: Vec<RequestVector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestVector {
    name: String,
    terminal_id: String,
    derived_key: String,
    method: String,
    path: String,
    timestamp: u64,
    body: String,
    signature: String,
    now: u64,
    expect: String,
}

#[test]
fn request_vectors_hold() {
    let vectors: RequestVectors = read_vectors("requests.json");
    let master = MasterKey::new(&hex::decode(&vectors.master_key).expect("hex master key"))
        .expect("valid master key");
    let mut seen = std::collections::BTreeSet::new();
    for case in &vectors.cases {
        let name = &case.name;
        let terminal = TerminalId::parse(&case.terminal_id).expect("vector terminal id");
        let key = derive_terminal_key(&master, &terminal);
        assert_eq!(
            hex::encode(key.as_bytes()),
            case.derived_key,
            "{name}: derived key"
        );
        let parts = RequestParts {
            method: &case.method,
            path: &case.path,
            body: case.body.as_bytes(),
        };
        let ours = sign_request(&key, &parts, case.timestamp, &terminal).expect("valid parts");
        // A valid case's signature is the one any correct signer produces; a
        // bad one is not. A stale case may carry either.
        match case.expect.as_str() {
            "valid" => assert_eq!(ours, case.signature, "{name}: signature"),
            "bad_signature" => assert_ne!(ours, case.signature, "{name}: signature"),
            _ => {}
        }
        let headers = AuthHeaders::parse(
            &case.terminal_id,
            &case.timestamp.to_string(),
            &case.signature,
        )
        .expect("vector headers are well formed");
        let verdict = match verify_request(&key, &headers, &parts, case.now) {
            Ok(()) => "valid",
            Err(e) => e.verdict(),
        };
        assert_eq!(verdict, case.expect, "{name}");
        seen.insert(verdict);
    }
    let all = ["valid", "stale", "bad_signature"];
    assert_eq!(
        seen,
        all.into_iter().collect(),
        "every verdict has a vector"
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketVectors {
    keys: Vec<KeyVector>,
    cases: Vec<TicketVector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyVector {
    kid: String,
    public_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketVector {
    name: String,
    level: u8,
    payload: String,
    now: u64,
    expect: String,
    claims: Option<ClaimsVector>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ClaimsVector {
    iss: String,
    exp: u64,
    nbf: u64,
    cti: String,
    holder_key: Option<String>,
    product: u16,
    rider_category: u8,
}

#[test]
fn ticket_vectors_hold() {
    let vectors: TicketVectors = read_vectors("tickets.json");
    let keys: VerifyingKeys = vectors
        .keys
        .iter()
        .map(|k| {
            let public = PublicKey::parse_hex(&k.public_key).expect("vector key hex");
            assert_eq!(
                Kid::parse_hex(&k.kid),
                Ok(public.kid()),
                "kid of {}",
                k.public_key
            );
            public
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for case in &vectors.cases {
        let name = &case.name;
        let payload = hex::decode(&case.payload).expect("vector payload hex");
        let got = verify_qr(&payload, &keys, case.now);
        let verdict = match &got {
            Ok(_) => "valid",
            Err(e) => e.verdict().as_str(),
        };
        assert_eq!(verdict, case.expect, "{name}");
        seen.insert(verdict);
        match (got, &case.claims) {
            (Ok(verified), Some(expected)) => {
                let c = &verified.claims;
                let got = ClaimsVector {
                    iss: c.issuer.as_str().to_owned(),
                    exp: c.validity.expires_s(),
                    nbf: c.validity.not_before_s(),
                    cti: c.ticket_id.to_string(),
                    holder_key: c.holder.map(|k| hex::encode(k.as_bytes())),
                    product: c.product.0,
                    rider_category: c.rider_category.0,
                };
                assert_eq!(&got, expected, "{name}: claims");
                assert_eq!(
                    verified.proof_step.is_some(),
                    case.level == 2,
                    "{name}: level"
                );
                let limit = if case.level == 2 {
                    MAX_LEVEL2_BYTES
                } else {
                    MAX_TICKET_BYTES
                };
                assert!(payload.len() <= limit, "{name}: size");
            }
            (Ok(_), None) => panic!("{name}: a valid case must list its claims"),
            (Err(_), Some(_)) => panic!("{name}: only valid cases list claims"),
            (Err(_), None) => {}
        }
    }
    let all = [
        "valid",
        "expired",
        "not_yet_valid",
        "bad_signature",
        "unknown_key",
        "malformed",
        "bad_proof",
        "stale_proof",
    ];
    assert_eq!(
        seen,
        all.into_iter().collect(),
        "every verdict has a vector"
    );
}

/// Parses `vectors/messages/<name>.json` as `M` and checks that it
/// serialises back to the same JSON.
fn message_example<M: Message>(name: &str) -> M {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/messages")
        .join(format!("{name}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let message: M = decode(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let original: serde_json::Value = serde_json::from_slice(&text).expect("example is JSON");
    let again = serde_json::to_value(&message).expect("messages serialise");
    assert_eq!(again, original, "{name}: round trip");
    message
}

#[test]
fn message_examples_parse_and_round_trip() {
    let examples =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/messages"))
            .expect("examples folder")
            .count();
    let tap: Tap = message_example("tap");
    let decision: TapDecision = message_example("tap_decision");
    let batch: JournalBatch = message_example("journal_batch");
    let ack: JournalAck = message_example("journal_ack");
    let snapshot: DenyListSnapshot = message_example("deny_list_snapshot");
    let delta: DenyListDelta = message_example("deny_list_delta");
    let keys: KeySet = message_example("key_set");
    let _: TerminalConfig = message_example("terminal_config");
    let _: ServerTime = message_example("server_time");
    assert_eq!(examples, 9, "every example file is checked here");

    // The examples tell one consistent story.
    let Medium::Qr { payload } = &tap.medium else {
        panic!("the tap example presents a QR")
    };
    let verified = verify_qr(
        payload.as_bytes(),
        &keys.verifying_keys_at(tap.device_time_s),
        tap.device_time_s,
    )
    .expect("the example QR verifies with the example key set");
    assert_eq!(decision.ticket_id, Some(verified.claims.ticket_id));
    assert_eq!(
        (decision.seq, decision.boot_epoch),
        (tap.seq, tap.boot_epoch)
    );

    let mut progress = JournalProgress::default();
    for seq in (1..batch.records[0].seq).chain(batch.records.iter().map(|r| r.seq)) {
        progress.record(seq);
    }
    let expected = progress.ack(
        batch.terminal_id.clone(),
        batch.boot_epoch,
        ack.server_time_s,
    );
    assert_eq!(
        ack, expected,
        "the ack example is what the batch example earns"
    );

    let mut list = DenyList::from_snapshot(&snapshot);
    list.apply(&delta)
        .expect("the delta starts at the snapshot's version");
    assert_eq!(list.version(), delta.to_version);
    assert!(delta.removed.iter().all(|e| !list.contains(e)));
    assert!(delta.added.iter().all(|e| list.contains(e)));
}

fn render(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    text
}

#[test]
fn committed_vectors_are_the_generator_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let check = |file: &str, fresh: String| {
        let committed = std::fs::read_to_string(dir.join(file)).expect("committed vectors");
        assert!(
            committed == fresh,
            "{file} differs from the generator: run `cargo run -p card-protocol --example gen_vectors`"
        );
    };
    check("requests.json", render(&requests::request_vectors()));
    check("tickets.json", render(&tickets::ticket_vectors()));
}
