//! Vietnamese licence plates: every way a camera, an attendant or a rider
//! writes one → one canonical spelling, so a plate read at the entry lane
//! matches the same plate read at the exit lane and the plate a rider linked
//! to their account.
//!
//! Pure: no I/O, no clock. The rules (Circular 24/2023/TT-BCA and the
//! 2010 five-digit serials, as summarised by the Vehicle registration plates
//! of Vietnam article) for civilian domestic plates:
//!
//! ```text
//!   province   series                      serial
//!   2 digits   1–2 letters [+ 1 digit]     4 digits, or 5 written DDD.DD
//!   51         A                           123.45        car          51A-123.45
//!   59         X1                          234.56        motorbike    59X1-234.56 (two rows: "59-X1" over "234.56")
//!   59         AB                          123.45        motorbike, 2023 series
//!   29         MD1                         1234          < 50 cc ("MĐ1"), old 4-digit serial
//! ```
//!
//! Letters are the civilian set: A–Z without I, J, O, Q, W (they read as
//! digits or are unused); `Đ` is written `D` (the wire alphabet is ASCII;
//! no civilian series pairs a D with a Đ of the same shape).
//!
//! Canonical form: `PROVINCE SERIES "-" SERIAL`, uppercase, with the dot of a
//! five-digit serial (`59X1-234.56`, `51A-1234`): exactly the example of the
//! card protocol's `plate` field, 8 to 12 characters of `A–Z 0–9 . -`.
//!
//! Accepted spellings: any case, any run of spaces, tabs, line breaks
//! (two-row plates), dots, dashes or underscores between the characters.
//! Without separators one reading can be ambiguous: `59X12345` is the car
//! `59X-123.45` or the old motorbike `59X1-2345`. Then a separator after the
//! series decides (`59X1 2345`, `59X-12345`); with none the text is refused
//! as [`PlateError::Ambiguous`] rather than guessed.
//!
//! Foreign, diplomatic (`NG`), military and temporary plates are outside
//! these rules and are refused with a typed error; a gate falls back to the
//! card or the QR for them.

use std::fmt;

/// Longest input accepted, in characters: the longest plate (12) written
/// with a separator between every character still fits; anything longer is
/// not a plate, and the bound keeps the work per call constant.
pub const MAX_PLATE_INPUT_CHARS: usize = 32;

/// Digits of the province (registration locality) code.
const PROVINCE_DIGITS: usize = 2;
/// Letters of a series: one (cars, old motorbikes) or two (2023 motorbike
/// series, `LD`, `MĐ`).
const MAX_SERIES_LETTERS: usize = 2;
/// Serial lengths: four digits (before 2010) or five (`DDD.DD`).
const SERIAL_DIGITS: [usize; 2] = [4, 5];

/// Letters the civilian scheme does not use.
const EXCLUDED_LETTERS: [char; 5] = ['I', 'J', 'O', 'Q', 'W'];

/// Why a text is not a Vietnamese plate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    /// Nothing but separators.
    #[error("the plate is empty")]
    Empty,
    /// Longer than [`MAX_PLATE_INPUT_CHARS`].
    #[error("the plate text is longer than {MAX_PLATE_INPUT_CHARS} characters")]
    TooLong,
    /// A character that is neither a letter, a digit nor a separator.
    #[error("the plate holds a character that is not a letter, a digit or a separator")]
    InvalidCharacter,
    /// A letter the civilian scheme does not use (I, J, O, Q, W).
    #[error("the plate holds a letter civilian plates do not use (I, J, O, Q, W)")]
    ExcludedLetter,
    /// Not two province digits, a series and a 4- or 5-digit serial.
    #[error("the plate is not two province digits, a series and a 4- or 5-digit serial")]
    Shape,
    /// The serial is all zeros (serials start at 0001 / 000.01).
    #[error("the plate's serial is zero")]
    ZeroSerial,
    /// Two readings fit and no separator tells the series from the serial.
    #[error("the plate reads two ways; write a space or dash after the series")]
    Ambiguous,
}

/// A plate in canonical form (see the module docs). Only [`Plate::parse`]
/// builds one, so a value is always canonical.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Plate(String);

impl Plate {
    /// Normalises `text` (any accepted spelling) to the canonical plate.
    ///
    /// # Errors
    /// A [`PlateError`] saying what is wrong; never panics.
    pub fn parse(text: &str) -> Result<Plate, PlateError> {
        normalise(text)
    }

    /// The canonical spelling.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Separators people and cameras put between the characters of a plate.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '.' | '-' | '_')
}

/// One reading: where the series ends and the serial starts, in the compact
/// (separator-free) text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reading {
    series_end: usize,
}

fn normalise(text: &str) -> Result<Plate, PlateError> {
    if text.chars().count() > MAX_PLATE_INPUT_CHARS {
        return Err(PlateError::TooLong);
    }
    // The compact text, and the compact positions a separator stood before
    // (a dot too: it only ever separates the serial's groups in a valid
    // spelling, so it never marks the series boundary by accident below).
    let mut compact: Vec<char> = Vec::with_capacity(MAX_PLATE_INPUT_CHARS);
    let mut boundaries: Vec<usize> = Vec::new();
    for c in text.chars() {
        if is_separator(c) {
            if !compact.is_empty() && boundaries.last() != Some(&compact.len()) {
                boundaries.push(compact.len());
            }
            continue;
        }
        let c = match c {
            'Đ' | 'đ' => 'D',
            other => other.to_ascii_uppercase(),
        };
        if !c.is_ascii_alphanumeric() {
            return Err(PlateError::InvalidCharacter);
        }
        if EXCLUDED_LETTERS.contains(&c) {
            return Err(PlateError::ExcludedLetter);
        }
        compact.push(c);
    }
    if compact.is_empty() {
        return Err(PlateError::Empty);
    }

    let (letters_end, readings) = readings(&compact)?;
    // A separator right after the series letters, or after the digit that
    // may follow them, is the row break: it says where the series ends.
    let marked: Vec<usize> = [letters_end, letters_end + 1]
        .into_iter()
        .filter(|end| boundaries.contains(end))
        .collect();
    let fits_marks = |r: &Reading| marked.is_empty() || marked.contains(&r.series_end);
    let reading = match readings.as_slice() {
        [] => return Err(PlateError::Shape),
        // One reading, but the row break says otherwise (`59X1-234`): a
        // misread, not a plate.
        [only] if !fits_marks(only) => return Err(PlateError::Shape),
        [only] => *only,
        several => {
            let fitting: Vec<Reading> = several
                .iter()
                .copied()
                .filter(|r| !marked.is_empty() && fits_marks(r))
                .collect();
            match fitting.as_slice() {
                [only] => *only,
                _ => return Err(PlateError::Ambiguous),
            }
        }
    };
    Ok(Plate(render(&compact, reading)))
}

/// Where the series letters end, and every split of `compact` into
/// province, series and serial that follows the rules; or the first rule the
/// text breaks when none does.
fn readings(compact: &[char]) -> Result<(usize, Vec<Reading>), PlateError> {
    let province = compact.get(..PROVINCE_DIGITS).ok_or(PlateError::Shape)?;
    let province_ok =
        province.iter().all(char::is_ascii_digit) && province.first().is_some_and(|&c| c != '0');
    if !province_ok {
        return Err(PlateError::Shape);
    }
    let rest = compact.get(PROVINCE_DIGITS..).ok_or(PlateError::Shape)?;
    let letters = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if letters == 0 || letters > MAX_SERIES_LETTERS {
        return Err(PlateError::Shape);
    }
    let mut found = Vec::with_capacity(2);
    let mut zero_serial = false;
    // The series is its letters, then possibly one digit.
    for series_digit in [0, 1] {
        let series_len = letters + series_digit;
        let Some(serial) = rest.get(series_len..) else {
            continue;
        };
        let digits_ok = serial.iter().all(char::is_ascii_digit)
            && rest
                .get(letters..series_len)
                .is_some_and(|d| d.iter().all(char::is_ascii_digit));
        if !digits_ok || !SERIAL_DIGITS.contains(&serial.len()) {
            continue;
        }
        if serial.iter().all(|&c| c == '0') {
            zero_serial = true;
            continue;
        }
        found.push(Reading {
            series_end: PROVINCE_DIGITS + series_len,
        });
    }
    if found.is_empty() && zero_serial {
        return Err(PlateError::ZeroSerial);
    }
    Ok((PROVINCE_DIGITS + letters, found))
}

fn render(compact: &[char], reading: Reading) -> String {
    let (head, serial) = compact.split_at(reading.series_end);
    let mut out: String = head.iter().collect();
    out.push('-');
    if serial.len() == 5 {
        out.extend(serial.iter().take(3));
        out.push('.');
        out.extend(serial.iter().skip(3));
    } else {
        out.extend(serial.iter());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Result<&str, PlateError>) {
        assert_eq!(
            Plate::parse(input).as_ref().map(Plate::as_str),
            expected.as_ref().map(|s| *s),
            "input {input:?}"
        );
    }

    #[test]
    fn spellings_of_one_plate_meet() {
        check("59-X1 234.56", Ok("59X1-234.56"));
        check("59-X1\n234.56", Ok("59X1-234.56"));
        check("59x1-23456", Ok("59X1-234.56"));
        check("  59 - x1   234 . 56 ", Ok("59X1-234.56"));
        check("59X123456", Ok("59X1-234.56"));
        check("51A-123.45", Ok("51A-123.45"));
        check("51A 12345", Ok("51A-123.45"));
        check("51a 12345", Ok("51A-123.45"));
        check("51A_123_45", Ok("51A-123.45"));
        check("59-AB 123.45", Ok("59AB-123.45"));
        check("29-MĐ1 123.45", Ok("29MD1-123.45"));
        check("29-mđ1 1234", Ok("29MD1-1234"));
        check("51LD-012.34", Ok("51LD-012.34"));
        check("52-S8 1234", Ok("52S8-1234"));
        check("51A-1234", Ok("51A-1234"));
    }

    #[test]
    fn ambiguity_is_settled_by_a_separator_or_refused() {
        check("59X1 2345", Ok("59X1-2345"));
        check("59-X1-2345", Ok("59X1-2345"));
        check("59X-12345", Ok("59X-123.45"));
        check("59X-123.45", Ok("59X-123.45"));
        check("59X12345", Err(PlateError::Ambiguous));
        check("51a12345", Err(PlateError::Ambiguous));
        check("59AB12345", Err(PlateError::Ambiguous));
        check("59.X12345", Err(PlateError::Ambiguous));
        check("59X 1 2345", Err(PlateError::Ambiguous));
    }

    #[test]
    fn not_plates_are_typed_errors() {
        check("", Err(PlateError::Empty));
        check(" -.. ", Err(PlateError::Empty));
        check(
            &"1".repeat(MAX_PLATE_INPUT_CHARS + 1),
            Err(PlateError::TooLong),
        );
        check("59X1/234.56", Err(PlateError::InvalidCharacter));
        check("59Ẋ1-234.56", Err(PlateError::InvalidCharacter));
        check("59O1-234.56", Err(PlateError::ExcludedLetter));
        check("59I-12345", Err(PlateError::ExcludedLetter));
        check("09X1-234.56", Err(PlateError::Shape));
        check("5X1-234.56", Err(PlateError::Shape));
        check("59-123.45", Err(PlateError::Shape));
        check("59ABC-123.45", Err(PlateError::Shape));
        check("59X1-234", Err(PlateError::Shape));
        check("51A1-23.45", Ok("51A1-2345"));
        check("59X1-234567", Err(PlateError::Shape));
        check("59X12-345.67", Err(PlateError::Shape));
        check("59A1B-12345", Err(PlateError::Shape));
        check("59X1-000.00", Err(PlateError::ZeroSerial));
        check("51A-0000", Err(PlateError::ZeroSerial));
    }

    #[test]
    fn canonical_plates_fit_the_wire_field() {
        for text in ["59X1-234.56", "51A-1234", "29MD1-123.45"] {
            let plate = Plate::parse(text).expect("valid plate");
            let wire = card_protocol::messages::Plate::parse(plate.as_str());
            assert!(wire.is_ok(), "{plate} is a valid wire plate");
        }
    }

    /// A plate as its parts: (province, series letters, series digit, serial).
    fn plate_parts() -> impl Strategy<Value = (u8, String, Option<u8>, String)> {
        let letter =
            proptest::sample::select("ABCDEFGHKLMNPRSTUVXYZ".chars().collect::<Vec<char>>());
        (
            10u8..=99,
            proptest::collection::vec(letter, 1..=MAX_SERIES_LETTERS),
            proptest::option::of(0u8..=9),
            prop_oneof![1u32..=9_999u32, 1u32..=99_999u32],
            any::<bool>(),
        )
            .prop_map(|(province, letters, digit, serial, five)| {
                let serial = if five || serial > 9_999 {
                    format!("{serial:05}")
                } else {
                    format!("{serial:04}")
                };
                (province, letters.into_iter().collect(), digit, serial)
            })
    }

    fn canonical_of(parts: &(u8, String, Option<u8>, String)) -> String {
        let (province, letters, digit, serial) = parts;
        let digit = digit.map(|d| d.to_string()).unwrap_or_default();
        let serial = if serial.len() == 5 {
            format!("{}.{}", &serial[..3], &serial[3..])
        } else {
            serial.clone()
        };
        format!("{province}{letters}{digit}-{serial}")
    }

    /// Writes the plate as a person or camera might: random case, random
    /// separators between any characters, always at least one separator
    /// between the series and the serial (the two rows of a plate).
    fn spelling(
        parts: &(u8, String, Option<u8>, String),
        seps: &[usize],
        lower: &[bool],
    ) -> String {
        const SEPS: [&str; 7] = ["", " ", "-", ".", "\n", "  ", "_"];
        let (province, letters, digit, serial) = parts;
        let head = format!(
            "{province}{letters}{}",
            digit.map(|d| d.to_string()).unwrap_or_default()
        );
        let mut out = String::new();
        let chars: Vec<char> = head.chars().chain(serial.chars()).collect();
        for (i, c) in chars.iter().enumerate() {
            let pick = seps.get(i).copied().unwrap_or(0) % SEPS.len();
            let letters_end = 2 + letters.len();
            if i != head.len() && (i == letters_end || i == letters_end + 1) {
                // Only the row break may stand where a series can end: a
                // second separator there makes the text read two ways.
            } else if i == head.len() {
                // The row break: never empty, never a lone dot.
                out.push_str(if pick.is_multiple_of(2) { " " } else { "-" });
            } else if i > 0 {
                out.push_str(SEPS[pick]);
            }
            if lower.get(i).copied().unwrap_or(false) {
                out.extend(c.to_lowercase());
            } else {
                out.push(*c);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn every_spelling_gives_the_canonical_form(
            parts in plate_parts(),
            seps in proptest::collection::vec(0usize..7, 12),
            lower in proptest::collection::vec(any::<bool>(), 12),
        ) {
            let text = spelling(&parts, &seps, &lower);
            let got = Plate::parse(&text);
            prop_assert_eq!(got.map(|p| p.0), Ok(canonical_of(&parts)), "{:?}", text);
        }

        #[test]
        fn compact_spellings_are_canonical_or_ambiguous(parts in plate_parts()) {
            let canonical = canonical_of(&parts);
            let compact: String = canonical.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            match Plate::parse(&compact) {
                Ok(plate) => prop_assert_eq!(plate.0, canonical),
                Err(error) => prop_assert_eq!(error, PlateError::Ambiguous),
            }
        }

        #[test]
        fn normalising_twice_changes_nothing(text in "[0-9A-Za-z .\\-\n]{0,20}") {
            if let Ok(once) = Plate::parse(&text) {
                prop_assert_eq!(Plate::parse(once.as_str()), Ok(once.clone()));
                let wire = card_protocol::messages::Plate::parse(once.as_str());
                prop_assert!(wire.is_ok(), "{}", once);
            }
        }

        #[test]
        fn any_text_gives_a_plate_or_a_typed_error(text in "\\PC{0,40}") {
            let _ = Plate::parse(&text);
        }
    }
}
