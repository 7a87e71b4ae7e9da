//! Wire formats between OneTicket and its terminals: the QR ticket (COSE_Sign1
//! with CWT claims), terminal request signing, and the JSON messages.
//! `SPEC.md` beside this crate is the normative text; `vectors/` holds test
//! vectors any implementation can check.
//!
//! **Invariant:** pure. No I/O, no clock, no randomness: `now`, keys and ids
//! are arguments.
//!
//! **Invariant:** decoders never panic: every byte string and every JSON
//! document gets a value or a typed error.
//!
//! Map:
//! - [`ticket`]: sign and verify QR tickets (level 1 and level 2);
//!   [`verify_qr`] is the terminals' one entry point, with the check order of
//!   SPEC.md §3.4.
//! - [`keys`]: Ed25519 public keys, key ids, the trusted key set.
//! - [`request_auth`]: per-terminal HKDF keys and HMAC-signed requests
//!   (SPEC.md §4).
//! - [`messages`]: the JSON messages (SPEC.md §5) with their validation, the
//!   deny-list and journal-ack state machines.
//! - [`ids`]: terminal and ticket ids.
//! - `cbor` (private): the deterministic CBOR subset the ticket uses.
//!
//! **Boundary:** no transport. Which HTTP routes carry the messages, and how
//! terminals, tickets and accounts are stored, belongs to the services.

mod cbor;
pub mod ids;
pub mod keys;
pub mod messages;
pub mod request_auth;
pub mod ticket;

pub use ids::{TerminalId, TicketId};
pub use keys::{Kid, PublicKey, VerifyingKeys};
pub use ticket::{
    TicketClaims, TicketError, Verdict, VerifiedTicket, sign_level2, sign_ticket, verify_qr,
};
