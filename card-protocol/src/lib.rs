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
