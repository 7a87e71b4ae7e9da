//! `vectors/requests.json`: signed terminal requests and their verdicts.

use card_protocol::TerminalId;
use card_protocol::request_auth::{MasterKey, RequestParts, derive_terminal_key, sign_request};
use serde::Serialize;

use crate::fixed::NOW_S;

fn terminal(id: &str) -> TerminalId {
    TerminalId::parse(id).expect("vector terminal ids are valid")
}

/// One request case; `sign` says what the terminal signed when it differs from
/// what was sent.
struct RequestCase {
    name: &'static str,
    terminal_id: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    timestamp_s: u64,
    now_s: u64,
    expect: &'static str,
    tamper: Tamper,
}

/// How the sent request differs from the signed one.
enum Tamper {
    None,
    SignedBy(&'static str),
    SignedBody(&'static str),
    SignedPath(&'static str),
    SignedMethod(&'static str),
    FlipSignatureBit(usize),
}

/// `requests.json`: field order as SPEC.md lists it.
#[derive(Serialize)]
pub struct RequestVectors {
    master_key: String,
    cases: Vec<RequestVector>,
}

#[derive(Serialize)]
struct RequestVector {
    name: &'static str,
    terminal_id: &'static str,
    derived_key: String,
    method: &'static str,
    path: &'static str,
    timestamp: u64,
    body: &'static str,
    signature: String,
    now: u64,
    expect: &'static str,
}

pub fn request_vectors() -> RequestVectors {
    let master_bytes: Vec<u8> = (0u8..32).collect();
    let master = MasterKey::new(&master_bytes).expect("32 bytes");
    let tap = r#"{"terminal_id":"BUS-0042","seq":1}"#;
    let base = |name, expect| RequestCase {
        name,
        terminal_id: "BUS-0042",
        method: "POST",
        path: "/v1/taps",
        body: tap,
        timestamp_s: NOW_S,
        now_s: NOW_S,
        expect,
        tamper: Tamper::None,
    };
    let cases = [
        RequestCase {
            method: "GET",
            path: "/v1/keys",
            body: "",
            terminal_id: "METRO-L1-BT01-G03",
            ..base("get with empty body", "valid")
        },
        base("post with json body", "valid"),
        RequestCase {
            method: "GET",
            path: "/v1/deny-list/delta?from_version=41",
            body: "",
            ..base("path with query string", "valid")
        },
        RequestCase {
            body: r#"{"plate":"59X1-123.45","lot":"Bến Thành"}"#,
            path: "/v1/parking/exits",
            terminal_id: "PARK-BT-LANE2",
            ..base("utf-8 body", "valid")
        },
        RequestCase {
            timestamp_s: NOW_S - 60,
            ..base("timestamp 60 s behind", "valid")
        },
        RequestCase {
            timestamp_s: NOW_S + 60,
            ..base("timestamp 60 s ahead", "valid")
        },
        RequestCase {
            timestamp_s: NOW_S - 61,
            ..base("timestamp 61 s behind", "stale")
        },
        RequestCase {
            timestamp_s: NOW_S + 61,
            ..base("timestamp 61 s ahead", "stale")
        },
        RequestCase {
            tamper: Tamper::FlipSignatureBit(0),
            ..base("first signature bit flipped", "bad_signature")
        },
        RequestCase {
            tamper: Tamper::FlipSignatureBit(255),
            ..base("last signature bit flipped", "bad_signature")
        },
        RequestCase {
            tamper: Tamper::SignedBy("BUS-0043"),
            ..base("signed with another terminal's key", "bad_signature")
        },
        RequestCase {
            tamper: Tamper::SignedBody(r#"{"terminal_id":"BUS-0042","seq":2}"#),
            ..base("body changed after signing", "bad_signature")
        },
        RequestCase {
            path: "/v1/deny-list/delta?from_version=41",
            method: "GET",
            body: "",
            tamper: Tamper::SignedPath("/v1/deny-list/delta"),
            ..base("query string left out of the signed path", "bad_signature")
        },
        RequestCase {
            method: "post",
            tamper: Tamper::SignedMethod("POST"),
            ..base("method case differs from the signed one", "bad_signature")
        },
        RequestCase {
            timestamp_s: NOW_S - 3_600,
            tamper: Tamper::FlipSignatureBit(7),
            ..base(
                "stale and badly signed: staleness is checked first",
                "stale",
            )
        },
    ];
    RequestVectors {
        master_key: hex::encode(&master_bytes),
        cases: cases.iter().map(|c| request_case(&master, c)).collect(),
    }
}

fn request_case(master: &MasterKey, case: &RequestCase) -> RequestVector {
    let claimed = terminal(case.terminal_id);
    let derived = derive_terminal_key(master, &claimed);
    let (mut signer, mut method, mut path, mut body) =
        (claimed.clone(), case.method, case.path, case.body);
    match case.tamper {
        Tamper::SignedBy(other) => signer = terminal(other),
        Tamper::SignedBody(b) => body = b,
        Tamper::SignedPath(p) => path = p,
        Tamper::SignedMethod(m) => method = m,
        Tamper::None | Tamper::FlipSignatureBit(_) => {}
    }
    let key = derive_terminal_key(master, &signer);
    let parts = RequestParts {
        method,
        path,
        body: body.as_bytes(),
    };
    let mut signature =
        hex::decode(sign_request(&key, &parts, case.timestamp_s, &signer).expect("valid parts"))
            .expect("own hex");
    if let Tamper::FlipSignatureBit(bit) = case.tamper {
        signature[bit / 8] ^= 0x80 >> (bit % 8);
    }
    RequestVector {
        name: case.name,
        terminal_id: case.terminal_id,
        derived_key: hex::encode(derived.as_bytes()),
        method: case.method,
        path: case.path,
        timestamp: case.timestamp_s,
        body: case.body,
        signature: hex::encode(signature),
        now: case.now_s,
        expect: case.expect,
    }
}
