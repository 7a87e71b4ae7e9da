//! Identifiers that cross the wire: terminal ids and ticket ids.
//!
//! Both are newtypes with validating constructors, so a value that exists is
//! one a terminal and the backend agree on byte for byte (the terminal id is
//! part of the HMAC canonical string and of the key derivation).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest terminal id, in bytes. Ids are printed on device labels and sent in
/// a header on every request; 64 leaves room for `<operator>-<depot>-<serial>`
/// schemes without letting a header grow without bound.
pub const MAX_TERMINAL_ID_BYTES: usize = 64;

/// Bytes in a ticket id (`cti`): a 128-bit id, the size of a UUID or of a
/// ledger transfer id.
pub const TICKET_ID_BYTES: usize = 16;

/// A terminal id is not acceptable: empty, too long, or a character outside
/// `A–Z a–z 0–9 - _ .`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("terminal id must be 1..={MAX_TERMINAL_ID_BYTES} characters of A-Z a-z 0-9 - _ .")]
pub struct InvalidTerminalId;

/// The id of a validator, gate or other terminal: 1 to 64 characters of
/// `A–Z a–z 0–9 - _ .`, compared exactly (case-sensitive).
///
/// The character set excludes separators (`\n`, `:`, spaces) so the id can sit
/// in a header and in the `\n`-separated canonical string unambiguously.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TerminalId(String);

impl TerminalId {
    /// Checks and wraps a terminal id.
    pub fn parse(id: &str) -> Result<TerminalId, InvalidTerminalId> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if id.is_empty() || id.len() > MAX_TERMINAL_ID_BYTES || !id.bytes().all(allowed) {
            return Err(InvalidTerminalId);
        }
        Ok(TerminalId(id.to_owned()))
    }

    /// The id as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TerminalId {
    type Error = InvalidTerminalId;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        TerminalId::parse(&id)
    }
}

impl From<TerminalId> for String {
    fn from(id: TerminalId) -> String {
        id.0
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ticket id is not 16 bytes of lowercase hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ticket id must be {TICKET_ID_BYTES} bytes written as 32 lowercase hex digits")]
pub struct InvalidTicketId;

/// The ticket id, CWT claim `cti`: 16 opaque bytes chosen by the issuer. In
/// JSON it is 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketId([u8; TICKET_ID_BYTES]);

impl TicketId {
    /// Wraps 16 bytes: every value is a valid id.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; TICKET_ID_BYTES]) -> TicketId {
        TicketId(bytes)
    }

    /// The raw 16 bytes, as carried in the ticket.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; TICKET_ID_BYTES] {
        &self.0
    }

    /// Parses 32 lowercase hex digits.
    pub fn parse_hex(text: &str) -> Result<TicketId, InvalidTicketId> {
        parse_lower_hex::<TICKET_ID_BYTES>(text)
            .map(TicketId)
            .ok_or(InvalidTicketId)
    }
}

impl TryFrom<String> for TicketId {
    type Error = InvalidTicketId;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        TicketId::parse_hex(&text)
    }
}

impl From<TicketId> for String {
    fn from(id: TicketId) -> String {
        hex::encode(id.0)
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId({})", hex::encode(self.0))
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Decodes exactly `N` bytes from `2 × N` lowercase hex digits. Uppercase is
/// refused so every value has one spelling (ids are compared as strings in
/// logs, deny lists and databases).
pub(crate) fn parse_lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let lowercase = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lowercase || text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_ids() {
        let check = |id: &str, ok: bool| {
            assert_eq!(TerminalId::parse(id).is_ok(), ok, "{id:?}");
        };
        check("BUS-0042", true);
        check("metro.l1.bt01_g3", true);
        check(&"a".repeat(MAX_TERMINAL_ID_BYTES), true);
        check(&"a".repeat(MAX_TERMINAL_ID_BYTES + 1), false);
        check("", false);
        check("BUS 42", false);
        check("BUS\n42", false);
        check("BUS:42", false);
        check("XE-BUÝT", false);
    }

    #[test]
    fn ticket_id_hex() {
        let check = |text: &str, expected: Option<[u8; 16]>| {
            assert_eq!(
                TicketId::parse_hex(text).ok().map(|t| *t.as_bytes()),
                expected
            );
        };
        let bytes: [u8; 16] = core::array::from_fn(|i| u8::try_from(i).unwrap_or(0) * 17);
        check(&hex::encode(bytes), Some(bytes));
        check(&hex::encode(bytes).to_uppercase(), None);
        check(&hex::encode(&bytes[..15]), None);
        check("zz", None);
        check("", None);
    }
}
