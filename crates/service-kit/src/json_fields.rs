//! Span fields as a JSON object, written straight into the span's string.
//!
//! `tracing-subscriber`'s `JsonFields` collects a span's fields into a
//! `BTreeMap` of `serde_json::Value`s (each `%`/`?` field through a
//! `format!`) and serialises the map: ~8,000 instructions for the request
//! span's three fields, once per request — 5% of a tap (callgrind, see
//! BENCHMARKS.md). [`FastJsonFields`] writes the same object directly:
//! `{"name":value,…}` with serde_json's string escaping, numbers and
//! booleans as JSON, and the same field-name rules (`r#` stripped, `log.`
//! metadata skipped). Recording more fields later appends them to the
//! object instead of parsing and re-serialising it; the JSON event
//! formatter reads the object back with `serde_json`, where a later
//! duplicate key wins, as it would in `JsonFields`.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as a JSON object (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct FastJsonFields;

impl<'writer> FormatFields<'writer> for FastJsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_char('{')?;
        let mut visitor = JsonFieldVisitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return self.format_fields(current.as_writer(), fields);
        }
        // Reopen the object: drop its closing brace, append, close again.
        if current.fields.ends_with('}') {
            current.fields.pop();
        }
        let first = current.fields == "{";
        let mut visitor = JsonFieldVisitor {
            out: &mut current.fields,
            first,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        let result = visitor.result;
        current.fields.push('}');
        result
    }
}

struct JsonFieldVisitor<'a, W: Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: Write> JsonFieldVisitor<'_, W> {
    /// Writes `"name":` (after a comma unless first); `None` when the
    /// field is skipped.
    fn key(&mut self, field: &Field) -> Option<&mut W> {
        if self.result.is_err() {
            return None;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return None;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        let comma = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .out
            .write_str(comma)
            .and_then(|()| write_json_str(self.out, name))
            .and_then(|()| self.out.write_char(':'));
        self.result.is_ok().then_some(&mut *self.out)
    }

    fn value(&mut self, field: &Field, write: impl FnOnce(&mut W) -> fmt::Result) {
        if let Some(out) = self.key(field) {
            self.result = write(out);
        }
    }
}

impl<W: Write> Visit for JsonFieldVisitor<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // serde_json writes non-finite floats as null.
        self.value(field, |out| {
            if value.is_finite() {
                out.write_str(&serde_json::Value::from(value).to_string())
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.value(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field, |out| write!(out, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.value(field, |out| write!(out, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.value(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.value(field, |out| {
            out.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.value(field, |out| write_json_str(out, value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.value(field, |out| {
            out.write_str(&serde_json::Value::from(value).to_string())
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.value(field, |out| {
            out.write_char('"')?;
            write!(Escaping(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// Writes `text` as a JSON string.
fn write_json_str(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaping(out).write_str(text)?;
    out.write_char('"')
}

/// A writer that escapes what passes through it as the inside of a JSON
/// string, as serde_json does: `"`, `\` and control characters only.
struct Escaping<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut start = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0x00..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(text.get(start..at).unwrap_or_default())?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = at + 1;
        }
        self.0.write_str(text.get(start..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// The line an event inside a span writes, with `fields` formatting the
    /// span's fields (the rest of the layer as `init_tracing` builds it).
    fn line<N>(fields: N, text: &str, number: i64) -> serde_json::Value
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .fmt_fields(fields)
            .with_writer(lines.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                method = "POST",
                route = %text,
                r#type = ?text,
                number,
                flag = true,
                ratio = 0.5_f64,
                late = tracing::field::Empty,
                later = tracing::field::Empty,
            );
            span.record("late", number);
            span.record("later", text);
            span.in_scope(|| tracing::info!(answer = 42, "inside"));
        });
        let bytes = lines
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).expect("one JSON line");
        if let Some(object) = value.as_object_mut() {
            object.remove("timestamp");
        }
        value
    }

    #[test]
    fn the_line_is_what_json_fields_would_write() {
        let ours = line(FastJsonFields, "/v1/taps", 7);
        let theirs = line(
            tracing_subscriber::fmt::format::JsonFields::new(),
            "/v1/taps",
            7,
        );
        assert_eq!(ours, theirs);
        assert_eq!(ours["span"]["route"], "/v1/taps");
        assert_eq!(ours["span"]["type"], "\"/v1/taps\"");
        assert_eq!(ours["span"]["late"], 7);
        assert_eq!(ours["span"]["later"], "/v1/taps");
    }

    proptest! {
        /// Any text and number give the same line as `JsonFields`.
        #[test]
        fn any_field_values_match_json_fields(text in any::<String>(), number in any::<i64>()) {
            let ours = line(FastJsonFields, &text, number);
            let theirs = line(tracing_subscriber::fmt::format::JsonFields::new(), &text, number);
            prop_assert_eq!(ours, theirs);
        }

        /// Escaping agrees with serde_json's string serialisation.
        #[test]
        fn escaping_matches_serde_json(text in any::<String>()) {
            let mut ours = String::new();
            write_json_str(&mut ours, &text).expect("a String never fails");
            prop_assert_eq!(ours, serde_json::to_string(&text).expect("serialises"));
        }
    }
}
