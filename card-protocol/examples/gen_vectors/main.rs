//! Writes `vectors/requests.json` and `vectors/tickets.json` from fixed keys
//! and fixed times. Run by hand after a format change:
//! `cargo run -p card-protocol --example gen_vectors`; commit the output.
//! Every value is derived from constants here (Ed25519 and HMAC are
//! deterministic), so a rerun is byte-identical.

mod fixed;
mod requests;
mod tickets;

use std::path::Path;

use serde::Serialize;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    write(&dir.join("requests.json"), &requests::request_vectors());
    write(&dir.join("tickets.json"), &tickets::ticket_vectors());
}

/// The committed form: pretty JSON and a final newline. The crate's tests
/// compare the files with this form of a fresh generation.
pub fn render(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    text.push('\n');
    text
}

fn write(path: &Path, value: &impl Serialize) {
    std::fs::write(path, render(value))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
