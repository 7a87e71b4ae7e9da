//! Writes `vectors/requests.json` and `vectors/tickets.json` from fixed keys
//! and fixed times. Run by hand after a format change:
//! `cargo run -p card-protocol --example gen_vectors`; commit the output.
//! Every value is derived from constants here (Ed25519 and HMAC are
//! deterministic), so a rerun is byte-identical.

mod requests;
mod tickets;

use std::path::Path;

use serde::Serialize;

/// The time most cases are checked at: 2026-01-01T00:00:00Z, the first
/// second of a level-2 time step.
const NOW_S: u64 = 1_767_225_600;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    write(&dir.join("requests.json"), &requests::request_vectors());
    write(&dir.join("tickets.json"), &tickets::ticket_vectors());
}

fn write(path: &Path, value: &impl Serialize) {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
