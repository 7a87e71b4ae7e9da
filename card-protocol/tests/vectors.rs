//! The crate's integration tests: every committed vector in `vectors/` is
//! checked through the public API, exactly as an independent implementation
//! of SPEC.md would check it.

use std::path::Path;

use card_protocol::TerminalId;
use card_protocol::request_auth::{
    AuthHeaders, MasterKey, RequestParts, derive_terminal_key, sign_request, verify_request,
};
use serde::Deserialize;

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
