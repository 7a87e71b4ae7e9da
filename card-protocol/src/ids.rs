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
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let [high, low] = *pair.first_chunk::<2>()?;
        *byte = (lower_hex_digit(high)? << 4) | lower_hex_digit(low)?;
    }
    Some(out)
}

/// The value of a lowercase hex digit.
fn lower_hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Appends `bytes` as lowercase hex.
pub(crate) fn push_lower_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
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

    proptest::proptest! {
        /// The hand-written hex agrees with the `hex` crate both ways, and
        /// anything but lowercase hex of the exact length is refused.
        #[test]
        fn lower_hex_round_trips(bytes in proptest::array::uniform32(proptest::prelude::any::<u8>()), flip in 0usize..64) {
            let mut text = String::new();
            push_lower_hex(&mut text, &bytes);
            proptest::prop_assert_eq!(&text, &hex::encode(bytes));
            proptest::prop_assert_eq!(parse_lower_hex::<32>(&text), Some(bytes));
            proptest::prop_assert_eq!(parse_lower_hex::<31>(&text), None);
            let mut upper = text.clone().into_bytes();
            if let Some(c) = upper.get_mut(flip) {
                *c = if c.is_ascii_digit() { b'g' } else { c.to_ascii_uppercase() };
            }
            let upper = String::from_utf8(upper).expect("ascii");
            proptest::prop_assert_eq!(parse_lower_hex::<32>(&upper), None);
        }
    }
}
