//! The CSV reading shared by the catalogue, the price book and the FX table: a fixed header,
//! optionally a trailing column that imports may leave out, and 1-based file line numbers in every
//! error so an operator can find the row.

use time::macros::format_description;
use time::Date;

/// A CSV file whose shape is wrong, before any value in it is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// The CSV reader itself gave up.
    #[error("line {line}: malformed CSV: {message}")]
    Malformed { line: u64, message: String },
    /// The first line is not the expected header.
    #[error("line {line}: header must be `{expected}`, found `{found}`")]
    Header {
        line: u64,
        expected: String,
        found: String,
    },
    /// A row has a different number of fields from the header.
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
}

/// One data row: its line in the file and its trimmed fields (as many as the header has).
pub(crate) struct Row {
    pub(crate) line: u64,
    pub(crate) fields: Vec<String>,
}

impl Row {
    /// The field at `i`, or "" when an optional trailing column is absent.
    pub(crate) fn get(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", String::as_str)
    }
}

/// Reads `text` whose header must be `columns`, or `columns` without its last entry when
/// `last_optional` (imports may leave out `source`).
pub(crate) fn read(
    text: &str,
    columns: &[&str],
    last_optional: bool,
) -> Result<Vec<Row>, CsvError> {
    // Spreadsheets often save a UTF-8 byte-order mark, which would otherwise corrupt the header.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut end = 0;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| CsvError::Malformed {
                line: line_at(text, end),
                message: e.to_string(),
            })?;
        if !more {
            break;
        }
        // csv's own record positions miscount blank lines and CRLF, so the line is derived
        // from where the previous record ended instead.
        records.push((line_at(text, end), record.clone()));
        end = usize::try_from(reader.position().byte()).unwrap_or(text.len());
    }
    let mut records = records.into_iter();

    let expected = if last_optional {
        match columns.split_last() {
            Some((last, rest)) => format!("{}[,{last}]", rest.join(",")),
            None => String::new(),
        }
    } else {
        columns.join(",")
    };
    let (header_line, header) = records.next().unwrap_or((1, csv::StringRecord::new()));
    let found: Vec<&str> = header.iter().collect();
    let width = if found == columns {
        columns.len()
    } else if last_optional && !columns.is_empty() && found == columns[..columns.len() - 1] {
        columns.len() - 1
    } else {
        return Err(CsvError::Header {
            line: header_line,
            expected,
            found: found.join(","),
        });
    };

    records
        .map(|(line, r)| {
            if r.len() != width {
                return Err(CsvError::FieldCount {
                    line,
                    expected: width,
                    found: r.len(),
                });
            }
            Ok(Row {
                line,
                fields: r.iter().map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// The 1-based line of the first record starting at or after byte `from`: blank lines (which
/// csv skips) are passed over, and `\n`, `\r\n` and a lone `\r` each end a line, as for csv.
fn line_at(text: &str, from: usize) -> u64 {
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .skip(from)
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(bytes.len(), |i| from + i);
    let before = bytes.get(..start).unwrap_or(bytes);
    let breaks = before
        .iter()
        .enumerate()
        .filter(|&(i, b)| *b == b'\n' || (*b == b'\r' && before.get(i + 1) != Some(&b'\n')))
        .count();
    1 + breaks as u64
}

/// Parses `YYYY-MM-DD` exactly (two-digit month and day).
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

/// The UTC calendar date of an instant: a dated row is in force from 00:00 UTC of its date.
/// None only for instants whose UTC form falls outside `time`'s range.
pub(crate) fn utc_date(at: time::OffsetDateTime) -> Option<Date> {
    at.checked_to_offset(time::UtcOffset::UTC).map(|t| t.date())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[&str] = &["a", "b", "source"];

    #[test]
    fn reads_rows_with_line_numbers_and_optional_last_column() {
        let rows = read("a,b,source\n1,2,x\n\n\"3\",\" 4 \",\"y, z\"\n", COLS, true).unwrap();
        let got: Vec<(u64, Vec<String>)> = rows.into_iter().map(|r| (r.line, r.fields)).collect();
        assert_eq!(
            got,
            vec![
                (2, vec!["1".into(), "2".into(), "x".into()]),
                (4, vec!["3".into(), "4".into(), "y, z".into()]),
            ]
        );
        let rows = read("\u{feff}a,b\n1,2\n", COLS, true).unwrap();
        assert_eq!(rows[0].get(2), "");
    }

    #[test]
    fn line_numbers_survive_blank_lines_crlf_and_quoted_newlines() {
        let cases: &[(&str, &[u64])] = &[
            ("a,b\n1,2\n3,4\n", &[2, 3]),
            ("a,b\r\n1,2\r\n3,4\r\n", &[2, 3]),
            ("a,b\r\n1,2\r\n\r\n\r\n3,4", &[2, 5]),
            ("a,b\n\n1,2\n\n\n3,4\n\n", &[3, 6]),
            ("a,b\r1,2\r\r3,4\r", &[2, 4]),
            ("\n\na,b\n1,2\n", &[4]),
            ("a,b\n\"x\ny\",2\n3,4\n", &[2, 4]),
            ("a,b\r\n\"x\r\ny\r\nz\",2\r\n\r\n3,4\r\n", &[2, 6]),
        ];
        for (text, want) in cases {
            let lines: Vec<u64> = read(text, COLS, true)
                .unwrap()
                .iter()
                .map(|r| r.line)
                .collect();
            assert_eq!(lines, *want, "{text:?}");
        }
        let err = read("\n\nx,y\n", COLS, true).err().unwrap();
        assert_eq!(
            err.to_string(),
            "line 3: header must be `a,b[,source]`, found `x,y`"
        );
    }

    #[test]
    fn shape_errors() {
        let cases: &[(&str, bool, &str)] = &[
            ("", true, "line 1: header must be `a,b[,source]`, found ``"),
            (
                "a,b\n",
                false,
                "line 1: header must be `a,b,source`, found `a,b`",
            ),
            (
                "b,a,source\n",
                false,
                "line 1: header must be `a,b,source`, found `b,a,source`",
            ),
            (
                "a,b,source\n1,2,3\n1,2\n",
                true,
                "line 3: expected 3 fields, found 2",
            ),
            ("a,b\n1,2,3\n", true, "line 2: expected 2 fields, found 3"),
        ];
        for (text, optional, want) in cases {
            let err = read(text, COLS, *optional).err().unwrap();
            assert_eq!(err.to_string(), *want, "{text:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2025-06-10"),
            Some(time::macros::date!(2025 - 06 - 10))
        );
        for bad in [
            "2025-6-10",
            "2025-06-31",
            "10/06/2025",
            "2025-06-10T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
