//! The stream entry's wire form: a compact binary encoding, versioned by its
//! first byte.
//!
//! Every committed event carries one entry (the `d` field of the shard
//! stream), which the ingest decodes into Postgres rows. As JSON, encoding
//! and decoding an entry cost about a tenth of the service's CPU per tap
//! (field names written and parsed for every entry, times as RFC 3339 text,
//! the buffer grown by reallocation); this encoding writes each field in a
//! fixed order with its length or tag, and decoding reads it back without a
//! parser (BENCHMARKS.md, "session 6").
//!
//! **Format, version 1** (`FORMAT_V1`, then the fields of [`StreamEntry`] in
//! declaration order): unsigned integers as LEB128 varints, signed ones
//! zigzag-encoded first; text as a varint byte length and UTF-8; an
//! `Option` as a byte 0 (none) or 1 then the value; a bool as a byte 0 or 1;
//! a UUID as its 16 bytes; a time as signed seconds and nanoseconds since
//! the Unix epoch; a date as signed days from 0001-01-01 (chrono's
//! `num_days_from_ce`); an enum as a one-byte tag then its fields (see the
//! `tag` functions). Nothing may follow the last field.
//!
//! **Compatibility:** an entry beginning with `{` is JSON, as written before
//! this format (decoded by serde), so entries left in a stream across an
//! upgrade are still ingested. Any other first byte is a format this build
//! does not know: the ingest dead-letters it rather than guess.
//!
//! **The stored reply** of an idempotency record (what a retry is answered)
//! uses the same encoding: `FORMAT_V1`, then the [`Reply`]'s fields as in
//! an entry ([`encode_reply`], [`decode_reply`]); a reply beginning with
//! `{` is JSON, as records written before it (they live 8 days) hold. A
//! record is the 64-hex request hash and this reply: about 213 bytes of
//! Redis memory with the binary reply, 360 with JSON (`MEMORY USAGE`).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::record::{
    RecordedEvent, RecordedKind, Reply, StreamEntry, StreamEntryRef, TapContext, TapSource, Verdict,
};

/// The first byte of a version-1 entry.
pub const FORMAT_V1: u8 = 1;

/// The first byte of a JSON entry (written before the binary format).
const JSON_OPEN: u8 = b'{';

/// Bytes an entry usually takes: the buffer is allocated once at this size.
const TYPICAL_BYTES: usize = 384;
/// Bytes a stored reply usually takes.
const TYPICAL_REPLY_BYTES: usize = 64;

/// Why an entry does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream entry: {0}")]
pub struct EntryError(String);

fn error(what: impl Into<String>) -> EntryError {
    EntryError(what.into())
}

/// Encodes an entry (version 1).
#[must_use]
pub fn encode(entry: &StreamEntryRef<'_>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(TYPICAL_BYTES));
    w.byte(FORMAT_V1);
    w.text(entry.key);
    w.option(entry.account_id.as_ref(), |w, id| w.uuid(id));
    w.bool(entry.changed);
    w.option(entry.event, Writer::event);
    w.reply(entry.reply);
    w.option(entry.tap, Writer::tap);
    w.text(entry.config_id);
    w.signed(entry.decided_at_ms);
    w.0
}

/// Encodes the reply an idempotency record keeps (version 1).
#[must_use]
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(TYPICAL_REPLY_BYTES));
    w.byte(FORMAT_V1);
    w.reply(reply);
    w.0
}

/// Decodes a stored reply: version 1, or JSON as written before it.
///
/// # Errors
/// As [`decode`].
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, EntryError> {
    decode_versioned(bytes, "reply", |r| r.reply())
}

/// Decodes an entry: version 1, or JSON as written before it.
///
/// # Errors
/// A truncated or damaged entry, trailing bytes, a value out of range, or
/// an unknown format.
pub fn decode(bytes: &[u8]) -> Result<StreamEntry, EntryError> {
    decode_versioned(bytes, "entry", |r| r.entry())
}

/// By the first byte: version 1, read by `read` to the last byte, or JSON.
fn decode_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    name: &str,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, EntryError>,
) -> Result<T, EntryError> {
    match bytes.first() {
        Some(&FORMAT_V1) => {
            let mut r = Reader { rest: &bytes[1..] };
            let value = read(&mut r)?;
            if r.rest.is_empty() {
                Ok(value)
            } else {
                Err(error(format!("{} bytes after the {name}", r.rest.len())))
            }
        }
        Some(&JSON_OPEN) => serde_json::from_slice(bytes).map_err(|e| error(e.to_string())),
        Some(other) => Err(error(format!("unknown format {other:#04x}"))),
        None => Err(error("empty")),
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, value: u8) {
        self.0.push(value);
    }

    fn bool(&mut self, value: bool) {
        self.byte(u8::from(value));
    }

    fn unsigned(&mut self, mut value: u64) {
        while value >= 0x80 {
            // Low seven bits with the continuation bit: the cast keeps them.
            #[allow(clippy::cast_possible_truncation)]
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        #[allow(clippy::cast_possible_truncation)]
        self.0.push(value as u8);
    }

    fn signed(&mut self, value: i64) {
        // Zigzag: 0, -1, 1, -2, … → 0, 1, 2, 3, … (a bit reinterpretation).
        #[allow(clippy::cast_sign_loss)]
        self.unsigned(((value << 1) ^ (value >> 63)) as u64);
    }

    fn text(&mut self, value: &str) {
        self.unsigned(value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
    }

    fn uuid(&mut self, value: &Uuid) {
        self.0.extend_from_slice(value.as_bytes());
    }

    fn time(&mut self, value: &DateTime<Utc>) {
        self.signed(value.timestamp());
        self.unsigned(u64::from(value.timestamp_subsec_nanos()));
    }

    fn date(&mut self, value: NaiveDate) {
        self.signed(i64::from(chrono::Datelike::num_days_from_ce(&value)));
    }

    fn option<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Writer, T)) {
        match value {
            None => self.byte(0),
            Some(value) => {
                self.byte(1);
                write(self, value);
            }
        }
    }

    fn opt_text(&mut self, value: Option<&String>) {
        self.option(value, |w, v| w.text(v));
    }

    fn event(&mut self, event: &RecordedEvent) {
        self.time(&event.at);
        self.byte(kind_tag(&event.kind));
        match &event.kind {
            RecordedKind::TopUp { amount_vnd } => self.signed(*amount_vnd),
            RecordedKind::Bus {
                route_id: id,
                category_id,
            }
            | RecordedKind::MetroIn {
                station_id: id,
                category_id,
            }
            | RecordedKind::BuyPass {
                product_id: id,
                category_id,
            } => {
                self.text(id);
                self.text(category_id);
            }
            RecordedKind::MetroOut { station_id: id }
            | RecordedKind::ParkIn { lot_id: id }
            | RecordedKind::ParkOut { lot_id: id }
            | RecordedKind::ParkOutLostTicket { lot_id: id } => self.text(id),
        }
    }

    fn reply(&mut self, reply: &Reply) {
        self.byte(match reply.decision {
            Verdict::Accept => 0,
            Verdict::Deny => 1,
        });
        self.opt_text(reply.reason.as_ref());
        self.signed(reply.amount_vnd);
        self.option(reply.balance_vnd, Writer::signed);
        self.opt_text(reply.pass_id.as_ref());
        self.opt_text(reply.fare_product_id.as_ref());
        self.option(reply.version, Writer::unsigned);
        self.option(reply.service_day, Writer::date);
        self.opt_text(reply.ticket_verdict.as_ref());
    }

    fn tap(&mut self, tap: &TapContext) {
        self.text(&tap.terminal_id);
        self.unsigned(u64::from(tap.boot_epoch));
        self.unsigned(tap.seq);
        self.byte(match tap.source {
            TapSource::Online => 0,
            TapSource::Journal => 1,
        });
        self.unsigned(tap.device_time_s);
        self.time(&tap.event_time);
        self.date(tap.service_day);
        self.text(&tap.event_kind);
        self.opt_text(tap.route_id.as_ref());
        self.opt_text(tap.stop_id.as_ref());
        self.opt_text(tap.station_id.as_ref());
        self.opt_text(tap.lot_id.as_ref());
        self.opt_text(tap.gate_id.as_ref());
        self.opt_text(tap.vehicle_class.as_ref());
        self.text(&tap.operator_id);
        self.text(&tap.medium_kind);
        self.option(tap.medium_id.as_ref(), |w, id| w.uuid(id));
        self.opt_text(tap.ticket_id.as_ref());
        self.opt_text(tap.category_id.as_ref());
        self.opt_text(tap.ticket_verdict.as_ref());
    }
}

/// The one-byte tag of each event kind (never reused).
fn kind_tag(kind: &RecordedKind) -> u8 {
    match kind {
        RecordedKind::TopUp { .. } => 0,
        RecordedKind::Bus { .. } => 1,
        RecordedKind::MetroIn { .. } => 2,
        RecordedKind::MetroOut { .. } => 3,
        RecordedKind::BuyPass { .. } => 4,
        RecordedKind::ParkIn { .. } => 5,
        RecordedKind::ParkOut { .. } => 6,
        RecordedKind::ParkOutLostTicket { .. } => 7,
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, EntryError> {
        let (&first, rest) = self.rest.split_first().ok_or_else(|| error("truncated"))?;
        self.rest = rest;
        Ok(first)
    }

    fn bool(&mut self) -> Result<bool, EntryError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(error(format!("bool byte {other}"))),
        }
    }

    fn unsigned(&mut self) -> Result<u64, EntryError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(error("varint overflows 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(error("varint longer than 10 bytes"))
    }

    fn signed(&mut self) -> Result<i64, EntryError> {
        let zigzag = self.unsigned()?;
        // The inverse of the writer's zigzag (a bit reinterpretation).
        #[allow(clippy::cast_possible_wrap)]
        Ok(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], EntryError> {
        if n > self.rest.len() {
            return Err(error("truncated"));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn text(&mut self) -> Result<String, EntryError> {
        let len = usize::try_from(self.unsigned()?).map_err(|_| error("text length"))?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| error("text is not UTF-8"))
    }

    fn uuid(&mut self) -> Result<Uuid, EntryError> {
        let bytes = self.take(16)?;
        Uuid::from_slice(bytes).map_err(|e| error(e.to_string()))
    }

    fn time(&mut self) -> Result<DateTime<Utc>, EntryError> {
        let seconds = self.signed()?;
        let nanos = u32::try_from(self.unsigned()?).map_err(|_| error("nanoseconds"))?;
        DateTime::from_timestamp(seconds, nanos).ok_or_else(|| error("time out of range"))
    }

    fn date(&mut self) -> Result<NaiveDate, EntryError> {
        let days = i32::try_from(self.signed()?).map_err(|_| error("date out of range"))?;
        NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| error("date out of range"))
    }

    fn option<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, EntryError>,
    ) -> Result<Option<T>, EntryError> {
        if self.bool()? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_text(&mut self) -> Result<Option<String>, EntryError> {
        self.option(Self::text)
    }

    fn entry(&mut self) -> Result<StreamEntry, EntryError> {
        Ok(StreamEntry {
            key: self.text()?,
            account_id: self.option(Self::uuid)?,
            changed: self.bool()?,
            event: self.option(Self::event)?,
            reply: self.reply()?,
            tap: self.option(Self::tap)?,
            config_id: self.text()?,
            decided_at_ms: self.signed()?,
        })
    }

    fn event(&mut self) -> Result<RecordedEvent, EntryError> {
        let at = self.time()?;
        let kind = match self.byte()? {
            0 => RecordedKind::TopUp {
                amount_vnd: self.signed()?,
            },
            1 => RecordedKind::Bus {
                route_id: self.text()?,
                category_id: self.text()?,
            },
            2 => RecordedKind::MetroIn {
                station_id: self.text()?,
                category_id: self.text()?,
            },
            3 => RecordedKind::MetroOut {
                station_id: self.text()?,
            },
            4 => RecordedKind::BuyPass {
                product_id: self.text()?,
                category_id: self.text()?,
            },
            5 => RecordedKind::ParkIn {
                lot_id: self.text()?,
            },
            6 => RecordedKind::ParkOut {
                lot_id: self.text()?,
            },
            7 => RecordedKind::ParkOutLostTicket {
                lot_id: self.text()?,
            },
            other => return Err(error(format!("event kind tag {other}"))),
        };
        Ok(RecordedEvent { at, kind })
    }

    fn reply(&mut self) -> Result<Reply, EntryError> {
        Ok(Reply {
            decision: match self.byte()? {
                0 => Verdict::Accept,
                1 => Verdict::Deny,
                other => return Err(error(format!("decision tag {other}"))),
            },
            reason: self.opt_text()?,
            amount_vnd: self.signed()?,
            balance_vnd: self.option(Self::signed)?,
            pass_id: self.opt_text()?,
            fare_product_id: self.opt_text()?,
            version: self.option(Self::unsigned)?,
            service_day: self.option(Self::date)?,
            ticket_verdict: self.opt_text()?,
        })
    }

    fn tap(&mut self) -> Result<TapContext, EntryError> {
        Ok(TapContext {
            terminal_id: self.text()?,
            boot_epoch: u32::try_from(self.unsigned()?).map_err(|_| error("boot epoch"))?,
            seq: self.unsigned()?,
            source: match self.byte()? {
                0 => TapSource::Online,
                1 => TapSource::Journal,
                other => return Err(error(format!("tap source tag {other}"))),
            },
            device_time_s: self.unsigned()?,
            event_time: self.time()?,
            service_day: self.date()?,
            event_kind: self.text()?,
            route_id: self.opt_text()?,
            stop_id: self.opt_text()?,
            station_id: self.opt_text()?,
            lot_id: self.opt_text()?,
            gate_id: self.opt_text()?,
            vehicle_class: self.opt_text()?,
            operator_id: self.text()?,
            medium_kind: self.text()?,
            medium_id: self.option(Self::uuid)?,
            ticket_id: self.opt_text()?,
            category_id: self.opt_text()?,
            ticket_verdict: self.opt_text()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-z0-9_:-]{1,24}", any::<String>()]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        // Any valid time, to the nanosecond (leap-second nanos included).
        (-8_000_000_000_i64..8_000_000_000, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("in range"))
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        // Years 1 to ~8200: JSON dates (the compatibility path) are four-digit.
        (1_i32..3_000_000).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("in range"))
    }

    fn uuid() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn kind() -> BoxedStrategy<RecordedKind> {
        prop_oneof![
            any::<i64>().prop_map(|amount_vnd| RecordedKind::TopUp { amount_vnd }),
            (text(), text()).prop_map(|(route_id, category_id)| RecordedKind::Bus {
                route_id,
                category_id
            }),
            (text(), text()).prop_map(|(station_id, category_id)| RecordedKind::MetroIn {
                station_id,
                category_id
            }),
            text().prop_map(|station_id| RecordedKind::MetroOut { station_id }),
            (text(), text()).prop_map(|(product_id, category_id)| RecordedKind::BuyPass {
                product_id,
                category_id
            }),
            text().prop_map(|lot_id| RecordedKind::ParkIn { lot_id }),
            text().prop_map(|lot_id| RecordedKind::ParkOut { lot_id }),
            text().prop_map(|lot_id| RecordedKind::ParkOutLostTicket { lot_id }),
        ]
        .boxed()
    }

    fn reply() -> BoxedStrategy<Reply> {
        (
            any::<bool>(),
            proptest::option::of(text()),
            any::<i64>(),
            proptest::option::of(any::<i64>()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(date()),
            proptest::option::of(text()),
        )
            .prop_map(
                |(accept, reason, amount, balance, pass, product, version, day, verdict)| Reply {
                    decision: if accept {
                        Verdict::Accept
                    } else {
                        Verdict::Deny
                    },
                    reason,
                    amount_vnd: amount,
                    balance_vnd: balance,
                    pass_id: pass,
                    fare_product_id: product,
                    version,
                    service_day: day,
                    ticket_verdict: verdict,
                },
            )
            .boxed()
    }

    fn tap() -> BoxedStrategy<TapContext> {
        let ids = (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        );
        let rest = (
            text(),
            text(),
            proptest::option::of(uuid()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        );
        (
            (
                text(),
                any::<u32>(),
                any::<u64>(),
                any::<bool>(),
                any::<u64>(),
            ),
            (time(), date(), text()),
            ids,
            rest,
        )
            .prop_map(
                |(
                    (terminal_id, boot_epoch, seq, online, device_time_s),
                    (event_time, service_day, event_kind),
                    (route_id, stop_id, station_id, lot_id, gate_id, vehicle_class),
                    (operator_id, medium_kind, medium_id, ticket_id, category_id, verdict),
                )| TapContext {
                    terminal_id,
                    boot_epoch,
                    seq,
                    source: if online {
                        TapSource::Online
                    } else {
                        TapSource::Journal
                    },
                    device_time_s,
                    event_time,
                    service_day,
                    event_kind,
                    route_id,
                    stop_id,
                    station_id,
                    lot_id,
                    gate_id,
                    vehicle_class,
                    operator_id,
                    medium_kind,
                    medium_id,
                    ticket_id,
                    category_id,
                    ticket_verdict: verdict,
                },
            )
            .boxed()
    }

    fn entry() -> BoxedStrategy<StreamEntry> {
        (
            text(),
            proptest::option::of(uuid()),
            any::<bool>(),
            proptest::option::of(
                (time(), kind()).prop_map(|(at, kind)| RecordedEvent { at, kind }),
            ),
            reply(),
            proptest::option::of(tap()),
            text(),
            any::<i64>(),
        )
            .prop_map(
                |(key, account_id, changed, event, reply, tap, config_id, decided_at_ms)| {
                    StreamEntry {
                        key,
                        account_id,
                        changed,
                        event,
                        reply,
                        tap,
                        config_id,
                        decided_at_ms,
                    }
                },
            )
            .boxed()
    }

    proptest! {
        #[test]
        fn every_entry_round_trips(entry in entry()) {
            let bytes = encode(&StreamEntryRef::of(&entry));
            prop_assert_eq!(bytes.first(), Some(&FORMAT_V1));
            prop_assert_eq!(decode(&bytes), Ok(entry));
        }

        #[test]
        fn a_cut_or_extended_entry_is_refused(entry in entry(), cut in any::<prop::sample::Index>(), extra in any::<u8>()) {
            let bytes = encode(&StreamEntryRef::of(&entry));
            let shorter = &bytes[..cut.index(bytes.len())];
            prop_assert!(decode(shorter).is_err(), "a prefix of {} bytes decoded", shorter.len());
            let mut longer = bytes.clone();
            longer.push(extra);
            prop_assert!(decode(&longer).is_err());
        }

        #[test]
        fn every_reply_round_trips_and_json_replies_still_decode(reply in reply(), cut in any::<prop::sample::Index>()) {
            let bytes = encode_reply(&reply);
            prop_assert_eq!(decode_reply(&bytes), Ok(reply.clone()));
            let json = serde_json::to_vec(&reply).expect("JSON");
            prop_assert_eq!(decode_reply(&json), Ok(reply));
            let short = &bytes[..cut.index(bytes.len())];
            prop_assert!(decode_reply(short).is_err());
            let mut long = bytes.clone();
            long.push(0);
            prop_assert!(decode_reply(&long).is_err());
        }

        #[test]
        fn json_entries_written_before_still_decode(entry in entry()) {
            let json = serde_json::to_vec(&entry).expect("encodes");
            prop_assert_eq!(decode(&json), Ok(entry));
        }

        #[test]
        fn decoding_any_bytes_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
            if let Some(first) = bytes.first_mut() {
                *first = FORMAT_V1;
            }
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn unknown_formats_and_empty_entries_are_refused() {
        assert_eq!(decode(b""), Err(error("empty")));
        assert_eq!(decode(&[2, 0]), Err(error("unknown format 0x02")));
        assert!(decode(b"{not json").is_err());
    }

    #[test]
    fn a_typical_tap_entry_fits_the_first_allocation_and_is_smaller_than_json() {
        let at = DateTime::from_timestamp(1_795_776_921, 123_456_789).expect("time");
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
        let entry = StreamEntry {
            key: "tap:lt-gate-00017-out:1795776817:40".into(),
            account_id: Some(Uuid::from_u128(7)),
            changed: true,
            event: Some(RecordedEvent {
                at,
                kind: RecordedKind::MetroOut {
                    station_id: "BEN_THANH".into(),
                },
            }),
            reply: Reply {
                decision: Verdict::Accept,
                reason: None,
                amount_vnd: 19_000,
                balance_vnd: Some(99_941_000),
                pass_id: None,
                fare_product_id: Some("metro_h3".into()),
                version: Some(32),
                service_day: Some(day),
                ticket_verdict: None,
            },
            tap: Some(TapContext {
                terminal_id: "lt-gate-00017-out".into(),
                boot_epoch: 1_795_776_817,
                seq: 40,
                source: TapSource::Online,
                device_time_s: 1_795_776_921,
                event_time: at,
                service_day: day,
                event_kind: "metro_exit".into(),
                route_id: None,
                stop_id: None,
                station_id: Some("BEN_THANH".into()),
                lot_id: None,
                gate_id: None,
                vehicle_class: None,
                operator_id: "hurc1".into(),
                medium_kind: "transit_card".into(),
                medium_id: Some(Uuid::from_u128(9)),
                ticket_id: None,
                category_id: Some("adult".into()),
                ticket_verdict: None,
            }),
            config_id: "6f7facd58c92480c".into(),
            decided_at_ms: 1_795_776_921_123,
        };
        let bytes = encode(&StreamEntryRef::of(&entry));
        let json = serde_json::to_vec(&entry).expect("encodes");
        assert!(bytes.len() <= TYPICAL_BYTES, "{} bytes", bytes.len());
        assert!(
            bytes.len() * 3 < json.len(),
            "{} vs {} bytes of JSON",
            bytes.len(),
            json.len()
        );
        assert_eq!(decode(&bytes), Ok(entry));
    }
}
