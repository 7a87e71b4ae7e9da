//! One GTFS file read as a table of text: header, rows with their line
//! numbers, and typed field readers that report problems to the error sink
//! instead of failing.
//!
//! Handles what real feeds contain: a UTF-8 byte-order mark, CRLF line ends,
//! quoted fields, spaces around values and unknown extra columns (ignored).

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::error::{FeedErrorCode as Code, Sink};
use super::time::{parse_date, parse_time};

/// A parsed file: its name, the header and the rows.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) file: &'static str,
    headers: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    line: u64,
    fields: csv::StringRecord,
}

impl Table {
    /// Reads `text` as the file `file`. Rows whose length differs from the
    /// header's, and required columns missing from the header, are reported;
    /// what can be read is kept so that later checks still find their errors.
    pub(crate) fn parse(
        file: &'static str,
        text: &str,
        required_columns: &[&'static str],
        sink: &mut Sink,
    ) -> Table {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = LineIndex::new(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut headers = Vec::new();
        let mut rows = Vec::new();
        let mut record = csv::StringRecord::new();
        let mut header_read = false;
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    let line = error.position().map(|p| lines.line_of(p.byte()));
                    sink.error(Code::CsvParsingFailed, file, line, None, error.to_string());
                    break;
                }
            }
            let line = record.position().map_or(0, |p| lines.line_of(p.byte()));
            if !header_read {
                header_read = true;
                headers = record.iter().map(str::to_owned).collect();
                continue;
            }
            if record.iter().all(str::is_empty) {
                sink.warning(
                    Code::EmptyRow,
                    file,
                    Some(line),
                    None,
                    "the row is empty".into(),
                );
                continue;
            }
            if record.len() != headers.len() {
                sink.error(
                    Code::InvalidRowLength,
                    file,
                    Some(line),
                    None,
                    format!(
                        "the row has {} field(s) but the header has {}",
                        record.len(),
                        headers.len()
                    ),
                );
                continue;
            }
            rows.push(Row {
                line,
                fields: record.clone(),
            });
        }
        for (i, name) in headers.iter().enumerate() {
            if headers.iter().take(i).any(|earlier| earlier == name) {
                sink.error(
                    Code::DuplicatedColumn,
                    file,
                    Some(1),
                    None,
                    format!("the column {name:?} appears more than once"),
                );
            }
        }
        let table = Table {
            file,
            headers,
            rows,
        };
        for &column in required_columns {
            if !table.has_column(column) {
                sink.error(
                    Code::MissingRequiredColumn,
                    file,
                    Some(1),
                    Some(column),
                    format!("the header has no {column} column"),
                );
            }
        }
        table
    }

    /// True when the header has the column `name` (whatever the values).
    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The rows in file order.
    pub(crate) fn records(&self) -> impl Iterator<Item = Rec<'_>> {
        self.rows.iter().map(move |row| Rec { table: self, row })
    }
}

/// Byte offsets where lines start, to number rows the way an editor does.
/// (The csv reader's own line count does not advance on CRLF and lone-CR
/// line ends, and its record offsets may point at the line end before the
/// record, so both are corrected here.)
struct LineIndex<'t> {
    bytes: &'t [u8],
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> LineIndex<'t> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let ends_line = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if ends_line {
                starts.push(i + 1);
            }
        }
        LineIndex { bytes, starts }
    }

    /// The 1-based line of the record starting at byte `offset`: the line
    /// of its first byte after any line-end bytes.
    fn line_of(&self, offset: u64) -> u64 {
        let mut offset = usize::try_from(offset).unwrap_or(usize::MAX);
        while matches!(self.bytes.get(offset), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        let index = self.starts.partition_point(|&start| start <= offset);
        u64::try_from(index).unwrap_or(u64::MAX)
    }
}

/// One row of a table, with typed field readers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec<'t> {
    table: &'t Table,
    row: &'t Row,
}

impl<'t> Rec<'t> {
    pub(crate) fn line(&self) -> u64 {
        self.row.line
    }

    /// The value of `field`, or `None` when it is empty or the column is absent.
    pub(crate) fn get(&self, field: &str) -> Option<&'t str> {
        let index = self.table.column(field)?;
        self.row.fields.get(index).filter(|v| !v.is_empty())
    }

    /// Reports `code` for `field` of this row.
    pub(crate) fn error(&self, sink: &mut Sink, code: Code, field: &'static str, message: String) {
        sink.error(
            code,
            self.table.file,
            Some(self.line()),
            Some(field),
            message,
        );
    }

    /// The value of a required field; an empty value is reported. A missing
    /// column was reported once for the whole file, so it is not repeated.
    pub(crate) fn req(&self, field: &'static str, sink: &mut Sink) -> Option<&'t str> {
        let value = self.get(field);
        if value.is_none() && self.table.has_column(field) {
            self.error(
                sink,
                Code::MissingRequiredField,
                field,
                format!("{field} is required"),
            );
        }
        value
    }

    /// An optional integer field; a non-integer is reported and read as absent.
    pub(crate) fn int(&self, field: &'static str, sink: &mut Sink) -> Option<i64> {
        let text = self.get(field)?;
        match text.parse::<i64>() {
            Ok(value) => Some(value),
            Err(_) => {
                self.error(
                    sink,
                    Code::InvalidInteger,
                    field,
                    format!("{text:?} is not an integer"),
                );
                None
            }
        }
    }

    /// An optional enum field whose options are `allowed`.
    pub(crate) fn enumeration(
        &self,
        field: &'static str,
        allowed: &[i64],
        sink: &mut Sink,
    ) -> Option<i64> {
        let value = self.int(field, sink)?;
        if allowed.contains(&value) {
            Some(value)
        } else {
            self.error(
                sink,
                Code::UnexpectedEnumValue,
                field,
                format!("{value} is not one of {allowed:?}"),
            );
            None
        }
    }

    /// A required enum field.
    pub(crate) fn req_enumeration(
        &self,
        field: &'static str,
        allowed: &[i64],
        sink: &mut Sink,
    ) -> Option<i64> {
        self.req(field, sink)?;
        self.enumeration(field, allowed, sink)
    }

    /// An optional time field, in seconds since midnight.
    pub(crate) fn time(&self, field: &'static str, sink: &mut Sink) -> Option<u32> {
        let text = self.get(field)?;
        let parsed = parse_time(text);
        if parsed.is_none() {
            self.error(
                sink,
                Code::InvalidTime,
                field,
                format!("{text:?} is not a H:MM:SS time"),
            );
        }
        parsed
    }

    /// A required date field.
    pub(crate) fn req_date(&self, field: &'static str, sink: &mut Sink) -> Option<NaiveDate> {
        let text = self.req(field, sink)?;
        let parsed = parse_date(text);
        if parsed.is_none() {
            self.error(
                sink,
                Code::InvalidDate,
                field,
                format!("{text:?} is not a YYYYMMDD date"),
            );
        }
        parsed
    }

    /// An optional IANA timezone field.
    pub(crate) fn timezone(&self, field: &'static str, sink: &mut Sink) -> Option<Tz> {
        let text = self.get(field)?;
        match text.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.error(
                    sink,
                    Code::InvalidTimezone,
                    field,
                    format!("{text:?} is not an IANA timezone"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` and returns `(line, field values)` per row plus error codes.
    fn read(text: &str, required: &[&'static str]) -> (Vec<(u64, Vec<String>)>, Vec<Code>) {
        let mut sink = Sink::default();
        let table = Table::parse("t.txt", text, required, &mut sink);
        let rows = table
            .records()
            .map(|r| {
                let values = ["a", "b"]
                    .iter()
                    .map(|f| r.get(f).unwrap_or("∅").to_owned())
                    .collect();
                (r.line(), values)
            })
            .collect();
        (rows, sink.errors.iter().map(|e| e.code).collect())
    }

    #[test]
    fn reads_real_world_csv() {
        let check = |text: &str, expected_rows: &[(u64, [&str; 2])], expected_errors: &[Code]| {
            let (rows, errors) = read(text, &["a"]);
            let expected: Vec<(u64, Vec<String>)> = expected_rows
                .iter()
                .map(|(l, v)| (*l, v.iter().map(|s| (*s).to_owned()).collect()))
                .collect();
            assert_eq!(rows, expected, "{text:?}");
            assert_eq!(errors, expected_errors, "{text:?}");
        };
        check("a,b\n1,2\n", &[(2, ["1", "2"])], &[]);
        check(
            "\u{feff}a,b\r\n1,2\r\n3,4",
            &[(2, ["1", "2"]), (3, ["3", "4"])],
            &[],
        );
        check(
            "b,a,extra\n\"x, \"\"y\"\"\",2,z\n",
            &[(2, ["2", "x, \"y\""])],
            &[],
        );
        check("a , b\n 1 ,  \n", &[(2, ["1", "∅"])], &[]);
        check(
            "a,b\n1,2,3\n4,5\n",
            &[(3, ["4", "5"])],
            &[Code::InvalidRowLength],
        );
        check("b\n1\n", &[(2, ["∅", "1"])], &[Code::MissingRequiredColumn]);
        check("a,a\n1,2\n", &[(2, ["1", "∅"])], &[Code::DuplicatedColumn]);
        check("", &[], &[Code::MissingRequiredColumn]);
        check("a,b\n\n\n5,6\n", &[(4, ["5", "6"])], &[]);
        check("a,b\r1,2\r\r3,4", &[(2, ["1", "2"]), (4, ["3", "4"])], &[]);
        check("a,b\r\n\r\n1,2\r\n", &[(3, ["1", "2"])], &[]);
    }

    #[test]
    fn typed_fields_report_bad_values_once() {
        let mut sink = Sink::default();
        let table = Table::parse(
            "t.txt",
            "n,e,t,d,z\nx,7,25:00,2026,Mars/Olympus\n,,,,\n",
            &[],
            &mut sink,
        );
        let rec = table.records().next().expect("one row");
        assert_eq!(rec.int("n", &mut sink), None);
        assert_eq!(rec.enumeration("e", &[0, 1], &mut sink), None);
        assert_eq!(rec.time("t", &mut sink), None);
        assert_eq!(rec.req_date("d", &mut sink), None);
        assert_eq!(rec.timezone("z", &mut sink), None);
        let codes: Vec<Code> = sink.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                Code::InvalidInteger,
                Code::UnexpectedEnumValue,
                Code::InvalidTime,
                Code::InvalidDate,
                Code::InvalidTimezone
            ]
        );
        assert!(sink.errors.iter().all(|e| e.line == Some(2)));
        assert_eq!(sink.warnings.len(), 1, "the all-empty row is a warning");
    }
}
