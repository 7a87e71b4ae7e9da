//! The small subset of CBOR (RFC 8949) the QR ticket needs, written by hand
//! so encoding is exactly RFC 8949 §4.2.1 core deterministic and decoding is
//! exactly as strict.
//!
//! The encoder always writes the shortest head. The decoder accepts only
//! definite lengths and shortest heads, so every accepted item has one byte
//! spelling; callers check map key order with [`Decoder::map_key`]. Together
//! this makes a verified ticket's bytes unique: any other spelling of the
//! same content is `malformed`, never a second valid ticket.

/// CBOR major types used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Major {
    Unsigned = 0,
    Negative = 1,
    Bytes = 2,
    Text = 3,
    Array = 4,
    Map = 5,
    Tag = 6,
    Simple = 7,
}

impl Major {
    fn from_initial_byte(byte: u8) -> Major {
        match byte >> 5 {
            0 => Major::Unsigned,
            1 => Major::Negative,
            2 => Major::Bytes,
            3 => Major::Text,
            4 => Major::Array,
            5 => Major::Map,
            6 => Major::Tag,
            _ => Major::Simple,
        }
    }
}

/// Why bytes are not the deterministic CBOR item the caller expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input ends inside an item.
    #[error("CBOR input ends inside an item")]
    Truncated,
    /// Bytes follow the last item.
    #[error("bytes follow the CBOR item")]
    TrailingBytes,
    /// A head is longer than needed, uses indefinite length, or uses a
    /// reserved additional-information value.
    #[error("CBOR item is not in deterministic (shortest, definite) form")]
    NotDeterministic,
    /// The item has another major type, tag or length than the format says.
    #[error("CBOR item has an unexpected type")]
    UnexpectedType,
    /// A value is out of the range the format allows.
    #[error("CBOR value out of range")]
    OutOfRange,
    /// Map keys are not in strictly increasing deterministic order (which
    /// also rules out duplicates).
    #[error("CBOR map keys are duplicated or out of deterministic order")]
    KeyOrder,
    /// A text string is not UTF-8.
    #[error("CBOR text is not UTF-8")]
    InvalidUtf8,
}

/// Appends deterministic CBOR to a buffer.
#[derive(Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Encoder {
        Encoder::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The shortest head for `major` with argument `arg`.
    fn head(&mut self, major: Major, arg: u64) {
        let m = (major as u8) << 5;
        if let Ok(small) = u8::try_from(arg)
            && small < 24
        {
            self.buf.push(m | small);
        } else if let Ok(v) = u8::try_from(arg) {
            self.buf.push(m | 24);
            self.buf.push(v);
        } else if let Ok(v) = u16::try_from(arg) {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = u32::try_from(arg) {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
    }

    fn length(&mut self, major: Major, len: usize) {
        let len = u64::try_from(len).expect("a usize length fits u64 on every supported target");
        self.head(major, len);
    }

    pub(crate) fn uint(&mut self, value: u64) {
        self.head(Major::Unsigned, value);
    }

    pub(crate) fn int(&mut self, value: i64) {
        match u64::try_from(value) {
            Ok(v) => self.head(Major::Unsigned, v),
            // CBOR stores a negative n as -1 - n, which is `!n` in two's
            // complement and lies in 0..=i64::MAX.
            Err(_) => self.head(
                Major::Negative,
                u64::try_from(!value).expect("!n >= 0 for every negative n"),
            ),
        }
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.length(Major::Bytes, value.len());
        self.buf.extend_from_slice(value);
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.length(Major::Text, value.len());
        self.buf.extend_from_slice(value.as_bytes());
    }

    pub(crate) fn array(&mut self, len: usize) {
        self.length(Major::Array, len);
    }

    pub(crate) fn map(&mut self, len: usize) {
        self.length(Major::Map, len);
    }

    pub(crate) fn tag(&mut self, tag: u64) {
        self.head(Major::Tag, tag);
    }
}

/// Reads deterministic CBOR from a slice, never past its end.
pub(crate) struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Decoder<'a> {
        Decoder { input, pos: 0 }
    }

    /// Succeeds only when every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), CborError> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(CborError::TrailingBytes)
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self.pos.checked_add(n).ok_or(CborError::Truncated)?;
        let slice = self.input.get(self.pos..end).ok_or(CborError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let slice = self.take(1)?;
        slice.first().copied().ok_or(CborError::Truncated)
    }

    /// Reads a head, insisting on the shortest definite form.
    fn head(&mut self) -> Result<(Major, u64), CborError> {
        let initial = self.byte()?;
        let major = Major::from_initial_byte(initial);
        let info = initial & 0x1f;
        let (arg, min) = match info {
            0..=23 => return Ok((major, u64::from(info))),
            24 => (u64::from(self.byte()?), 24),
            25 => (u64::from(u16::from_be_bytes(self.array_of()?)), 0x100),
            26 => (u64::from(u32::from_be_bytes(self.array_of()?)), 0x1_0000),
            27 => (u64::from_be_bytes(self.array_of()?), 0x1_0000_0000),
            // 28–30 are reserved; 31 is indefinite length or "break".
            _ => return Err(CborError::NotDeterministic),
        };
        if arg < min {
            return Err(CborError::NotDeterministic);
        }
        Ok((major, arg))
    }

    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let slice = self.take(N)?;
        slice.try_into().map_err(|_| CborError::Truncated)
    }

    fn expect(&mut self, major: Major) -> Result<u64, CborError> {
        let (got, arg) = self.head()?;
        if got == major {
            Ok(arg)
        } else {
            Err(CborError::UnexpectedType)
        }
    }

    fn expect_len(&mut self, major: Major) -> Result<usize, CborError> {
        let len = self.expect(major)?;
        let len = usize::try_from(len).map_err(|_| CborError::Truncated)?;
        // A length can never exceed the bytes left: cheap early rejection of
        // huge claimed counts before any loop or allocation uses them.
        if len > self.input.len().saturating_sub(self.pos) {
            return Err(CborError::Truncated);
        }
        Ok(len)
    }

    pub(crate) fn uint(&mut self) -> Result<u64, CborError> {
        self.expect(Major::Unsigned)
    }

    /// An integer of either sign that fits `i64`.
    pub(crate) fn int(&mut self) -> Result<i64, CborError> {
        match self.head()? {
            (Major::Unsigned, v) => i64::try_from(v).map_err(|_| CborError::OutOfRange),
            (Major::Negative, n) => {
                let n = i64::try_from(n).map_err(|_| CborError::OutOfRange)?;
                Ok(-1 - n)
            }
            _ => Err(CborError::UnexpectedType),
        }
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CborError> {
        let len = self.expect_len(Major::Bytes)?;
        self.take(len)
    }

    /// A byte string of exactly `N` bytes.
    pub(crate) fn bytes_exact<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        self.bytes()?
            .try_into()
            .map_err(|_| CborError::UnexpectedType)
    }

    pub(crate) fn text(&mut self) -> Result<&'a str, CborError> {
        let len = self.expect_len(Major::Text)?;
        std::str::from_utf8(self.take(len)?).map_err(|_| CborError::InvalidUtf8)
    }

    pub(crate) fn array(&mut self) -> Result<usize, CborError> {
        self.expect_len(Major::Array)
    }

    pub(crate) fn map(&mut self) -> Result<usize, CborError> {
        self.expect_len(Major::Map)
    }

    pub(crate) fn tag(&mut self) -> Result<u64, CborError> {
        self.expect(Major::Tag)
    }

    /// Reads an integer map key and checks it sorts strictly after
    /// `previous` (the encoded bytes of the previous key, updated here) in
    /// bytewise order of deterministic encodings. Strict order also forbids
    /// duplicate keys.
    pub(crate) fn map_key(&mut self, previous: &mut Option<&'a [u8]>) -> Result<i64, CborError> {
        let start = self.pos;
        let key = self.int()?;
        let encoded = self
            .input
            .get(start..self.pos)
            .ok_or(CborError::Truncated)?;
        if previous.is_some_and(|p| p >= encoded) {
            return Err(CborError::KeyOrder);
        }
        *previous = Some(encoded);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(f: impl FnOnce(&mut Encoder)) -> Vec<u8> {
        let mut e = Encoder::new();
        f(&mut e);
        e.into_bytes()
    }

    #[test]
    fn integers_use_the_shortest_head() {
        // Expected bytes from RFC 8949 Appendix A.
        let check = |value: i64, expected: &str| {
            assert_eq!(hex::encode(encoded(|e| e.int(value))), expected, "{value}");
        };
        check(0, "00");
        check(23, "17");
        check(24, "1818");
        check(255, "18ff");
        check(256, "190100");
        check(65_536, "1a00010000");
        check(1_000_000_000_000, "1b000000e8d4a51000");
        check(-1, "20");
        check(-24, "37");
        check(-25, "3818");
        check(-70_000, "3a0001116f");
        check(i64::MIN, "3b7fffffffffffffff");
    }

    #[test]
    fn strings_and_containers() {
        let check = |bytes: Vec<u8>, expected: &str| assert_eq!(hex::encode(bytes), expected);
        check(encoded(|e| e.bytes(&[])), "40");
        check(encoded(|e| e.bytes(&[1, 2, 3, 4])), "4401020304");
        check(encoded(|e| e.text("IETF")), "6449455446");
        check(encoded(|e| e.array(3)), "83");
        check(encoded(|e| e.map(25)), "b819");
        check(encoded(|e| e.tag(18)), "d2");
    }

    #[test]
    fn rejects_what_is_not_deterministic() {
        let check = |input: &str, expected: CborError| {
            let bytes = hex::decode(input).expect("test hex");
            let mut d = Decoder::new(&bytes);
            let got = d.int().and_then(|_| d.finish());
            assert_eq!(got, Err(expected), "{input}");
        };
        check("1817", CborError::NotDeterministic);
        check("190017", CborError::NotDeterministic);
        check("1a0000ffff", CborError::NotDeterministic);
        check("1b00000000ffffffff", CborError::NotDeterministic);
        check("1c", CborError::NotDeterministic);
        check("1f", CborError::NotDeterministic);
        check("19", CborError::Truncated);
        check("1b0000", CborError::Truncated);
        check("", CborError::Truncated);
        check("0000", CborError::TrailingBytes);
        check("40", CborError::UnexpectedType);
        check("1bffffffffffffffff", CborError::OutOfRange);
        check("3bffffffffffffffff", CborError::OutOfRange);
    }

    #[test]
    fn map_keys_must_increase() {
        let check = |keys: &[i64], expected: Result<(), CborError>| {
            let bytes = encoded(|e| keys.iter().for_each(|k| e.int(*k)));
            let mut d = Decoder::new(&bytes);
            let mut previous = None;
            let got = keys
                .iter()
                .try_for_each(|_| d.map_key(&mut previous).map(|_| ()));
            assert_eq!(got, expected, "{keys:?}");
        };
        check(&[1, 4, 5, 7, 8, -70_000], Ok(()));
        check(&[1, -1, -2], Ok(()));
        check(&[1, 24, -1], Ok(()));
        check(&[4, 1], Err(CborError::KeyOrder));
        check(&[1, 1], Err(CborError::KeyOrder));
        check(&[-1, 1], Err(CborError::KeyOrder));
        check(&[-70_000, -2], Err(CborError::KeyOrder));
    }

    #[test]
    fn huge_claimed_lengths_are_truncation_not_allocation() {
        let check = |input: &str| {
            let bytes = hex::decode(input).expect("test hex");
            assert_eq!(Decoder::new(&bytes).bytes(), Err(CborError::Truncated));
        };
        check("5bffffffffffffffff");
        check("5a0001000000");
        check("4401");
    }

    proptest! {
        #[test]
        fn integers_round_trip(value in any::<i64>()) {
            let bytes = encoded(|e| e.int(value));
            let mut d = Decoder::new(&bytes);
            prop_assert_eq!(d.int(), Ok(value));
            prop_assert_eq!(d.finish(), Ok(()));
        }

        #[test]
        fn byte_strings_round_trip(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let bytes = encoded(|e| e.bytes(&value));
            let mut d = Decoder::new(&bytes);
            prop_assert_eq!(d.bytes(), Ok(value.as_slice()));
            prop_assert_eq!(d.finish(), Ok(()));
        }

        #[test]
        fn key_order_is_numeric_order_within_a_sign(a in any::<i64>(), b in any::<i64>()) {
            // Deterministic order sorts non-negative keys before negative ones
            // and, within a sign, by magnitude: check the decoder agrees.
            prop_assume!(a != b);
            let bytes = encoded(|e| { e.int(a); e.int(b) });
            let mut d = Decoder::new(&bytes);
            let mut previous = None;
            let ordered = d.map_key(&mut previous).and_then(|_| d.map_key(&mut previous)).is_ok();
            let expected = match (a >= 0, b >= 0) {
                (true, true) => a < b,
                (false, false) => a > b,
                (sign_a, _) => sign_a,
            };
            prop_assert_eq!(ordered, expected);
        }
    }
}
