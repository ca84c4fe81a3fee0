//! CSV ↔ rows: `csv-to-rows` parses CSV text (RFC 4180: quoted fields may
//! hold the delimiter, quotes doubled, line breaks) into one JSON object
//! per line keyed by the header, or arrays without one; `json-to-csv`
//! writes rows back, quoting only the fields that need it.

use weft_sdk::serde_json::{Map, Number, Value};
use weft_sdk::{Context, Error};

weft_sdk::types! {
    /// Input of `csv-to-rows`.
    pub struct CsvToRows {
        /// The CSV text.
        pub csv: String,
        /// The field delimiter, one ASCII character (default `,`; `\t` for TSV).
        #[serde(default = "comma")]
        pub delimiter: String,
        /// Whether the first line names the columns (default true). Without
        /// one, rows are arrays unless `columns` names them.
        #[serde(default = "yes")]
        pub header: bool,
        /// Column names to use instead of (or, with `header: false`, in the
        /// absence of) the header line.
        #[serde(default)]
        pub columns: Option<Vec<String>>,
        /// Trim spaces around every field (default false).
        #[serde(default)]
        pub trim: bool,
        /// Turn numbers into JSON numbers, `true`/`false` into booleans and
        /// empty fields into null (default false: every field a string).
        #[serde(default)]
        pub typed: bool,
        /// Accept lines with fewer or more fields than the columns: missing
        /// fields become null, extra ones are dropped (default false: such
        /// a line is an error naming it).
        #[serde(default)]
        pub flexible: bool,
    }

    /// Output of `csv-to-rows`.
    #[derive(Debug)]
    pub struct Rows {
        /// One object per data line (keyed by column), or one array per line.
        pub rows: Vec<Value>,
        /// The column names (empty when rows are arrays).
        pub columns: Vec<String>,
        /// How many rows.
        pub count: usize,
    }

    /// Input of `json-to-csv`.
    pub struct JsonToCsv {
        /// The rows: an array of objects or of arrays, or a string holding
        /// such an array as JSON text.
        pub rows: Value,
        /// The columns and their order (default: every key of the rows in
        /// order of first appearance). Ignored for array rows.
        #[serde(default)]
        pub columns: Option<Vec<String>>,
        /// The field delimiter, one ASCII character (default `,`).
        #[serde(default = "comma")]
        pub delimiter: String,
        /// Write a header line with the column names (default true).
        #[serde(default = "yes")]
        pub header: bool,
        /// `lf` (default) or `crlf` line endings.
        #[serde(default)]
        pub line_ending: LineEnding,
    }

    /// Line endings of written CSV.
    #[derive(Default, Clone, Copy)]
    #[serde(rename_all = "lowercase")]
    pub enum LineEnding {
        /// `\n`.
        #[default]
        Lf,
        /// `\r\n` (RFC 4180).
        Crlf,
    }

    /// Output of `json-to-csv`.
    #[derive(Debug)]
    pub struct Csv {
        /// The CSV text.
        pub csv: String,
        /// The columns written (empty for array rows).
        pub columns: Vec<String>,
        /// How many data lines.
        pub count: usize,
    }
}

fn comma() -> String {
    ",".into()
}

fn yes() -> bool {
    true
}

/// The one-byte delimiter `text` names.
fn delimiter(text: &str) -> Result<u8, Error> {
    let text = if text == "\\t" { "\t" } else { text };
    match text.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => Ok(*b),
        _ => Err(Error::invalid_input(format!(
            "delimiter {text:?} must be one ASCII character other than a quote or line break"
        ))),
    }
}

/// A CSV field as JSON: a string, or with `typed` a number, boolean or null.
fn field(text: &str, typed: bool) -> Value {
    if !typed {
        return Value::String(text.to_owned());
    }
    match text {
        "" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            // Keep leading zeros ("007") and the like as text: only
            // canonical numbers become numbers.
            let canonical = text
                .parse::<i64>()
                .ok()
                .filter(|n| n.to_string() == text)
                .map(Number::from)
                .or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .filter(|f| {
                            f.is_finite() && !text.starts_with(['+', '.']) && !text.ends_with('.')
                        })
                        .filter(|_| !text.starts_with("0") || text.starts_with("0.") || text == "0")
                        .filter(|_| {
                            !text.starts_with("-0") || text.starts_with("-0.") || text == "-0"
                        })
                        .and_then(Number::from_f64)
                });
            canonical.map_or_else(|| Value::String(text.to_owned()), Value::Number)
        }
    }
}

/// Parses CSV text into rows.
pub fn csv_to_rows(input: CsvToRows, _: &Context) -> Result<Rows, Error> {
    let text = input.csv.strip_prefix('\u{feff}').unwrap_or(&input.csv);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(&input.delimiter)?)
        .has_headers(false)
        .flexible(true)
        .trim(if input.trim {
            csv::Trim::All
        } else {
            csv::Trim::None
        })
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let bad = |e: csv::Error| Error::invalid_input(format!("csv: {e}"));
    let mut columns: Vec<String> = Vec::new();
    if input.header {
        match records.next() {
            Some(header) => columns = header.map_err(bad)?.iter().map(str::to_owned).collect(),
            None => {
                return Ok(Rows {
                    rows: Vec::new(),
                    columns: input.columns.unwrap_or_default(),
                    count: 0,
                });
            }
        }
    }
    if let Some(given) = input.columns {
        columns = given;
    }
    for (i, name) in columns.iter().enumerate() {
        if columns[..i].contains(name) {
            return Err(Error::invalid_input(format!(
                "column {name:?} appears twice; name the columns with `columns`"
            )));
        }
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(bad)?;
        let line = record.position().map_or(0, csv::Position::line);
        // A blank line is a record with one empty field: skip it.
        if record.len() == 1 && record.get(0) == Some("") {
            continue;
        }
        if columns.is_empty() {
            rows.push(Value::Array(
                record.iter().map(|f| field(f, input.typed)).collect(),
            ));
            continue;
        }
        if record.len() != columns.len() && !input.flexible {
            return Err(Error::invalid_input(format!(
                "csv line {line} has {} fields, expected {} ({}); set flexible: true to accept it",
                record.len(),
                columns.len(),
                columns.join(", ")
            )));
        }
        let mut row = Map::new();
        for (i, name) in columns.iter().enumerate() {
            let value = record.get(i).map_or(Value::Null, |f| field(f, input.typed));
            row.insert(name.clone(), value);
        }
        rows.push(Value::Object(row));
    }
    Ok(Rows {
        count: rows.len(),
        rows,
        columns,
    })
}

/// A JSON value as one CSV field: strings as they are, null as empty,
/// numbers and booleans as JSON text, arrays and objects as JSON.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Formats rows as CSV text.
pub fn json_to_csv(input: JsonToCsv, _: &Context) -> Result<Csv, Error> {
    let rows = match input.rows {
        Value::String(text) => weft_sdk::serde_json::from_str(&text)
            .map_err(|e| Error::invalid_input(format!("rows is a string but not JSON: {e}")))?,
        other => other,
    };
    let Value::Array(rows) = rows else {
        return Err(Error::invalid_input(
            "rows must be an array of objects or arrays",
        ));
    };
    let objects = rows.iter().all(Value::is_object);
    if !objects && !rows.iter().all(Value::is_array) {
        return Err(Error::invalid_input(
            "rows must all be objects or all be arrays",
        ));
    }
    let columns: Vec<String> = if !objects {
        Vec::new()
    } else if let Some(columns) = input.columns {
        columns
    } else {
        let mut seen: Vec<String> = Vec::new();
        for row in &rows {
            for key in row.as_object().into_iter().flat_map(Map::keys) {
                if !seen.contains(key) {
                    seen.push(key.clone());
                }
            }
        }
        seen
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter(&input.delimiter)?)
        .flexible(!objects)
        .terminator(match input.line_ending {
            LineEnding::Lf => csv::Terminator::Any(b'\n'),
            LineEnding::Crlf => csv::Terminator::CRLF,
        })
        .from_writer(Vec::new());
    let failed = |e: csv::Error| Error::fatal(format!("csv: {e}"));
    if objects && input.header && !columns.is_empty() {
        writer.write_record(&columns).map_err(failed)?;
    }
    for row in &rows {
        let fields: Vec<String> = match row {
            Value::Object(map) => columns.iter().map(|c| cell(map.get(c))).collect(),
            Value::Array(items) => items.iter().map(|v| cell(Some(v))).collect(),
            _ => unreachable!("checked above"),
        };
        writer.write_record(&fields).map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::fatal(format!("csv: {e}")))?;
    let csv = String::from_utf8(bytes).map_err(|e| Error::fatal(format!("csv: {e}")))?;
    Ok(Csv {
        csv,
        columns,
        count: rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use weft_sdk::serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<Rows, Error> {
        csv_to_rows(
            weft_sdk::serde_json::from_value(value).unwrap(),
            &Context::default(),
        )
    }

    fn write(value: Value) -> Result<Csv, Error> {
        json_to_csv(
            weft_sdk::serde_json::from_value(value).unwrap(),
            &Context::default(),
        )
    }

    #[test]
    fn parses_quoted_fields_under_a_header() {
        let rows = parse(json!({
            "csv": "\u{feff}id,name,note\r\n1,\"Lovelace, Ada\",\"said \"\"hi\"\"\"\n2,Bob,\"two\nlines\"\n\n"
        }))
        .unwrap();
        assert_eq!(rows.columns, ["id", "name", "note"]);
        assert_eq!(
            rows.rows,
            vec![
                json!({ "id": "1", "name": "Lovelace, Ada", "note": "said \"hi\"" }),
                json!({ "id": "2", "name": "Bob", "note": "two\nlines" }),
            ]
        );
        assert_eq!(rows.count, 2);
    }

    #[test]
    fn delimiters_typing_and_no_header() {
        let rows = parse(
            json!({ "csv": "a;007;1.5;true;\n", "delimiter": ";", "header": false, "typed": true }),
        )
        .unwrap();
        assert_eq!(rows.rows, vec![json!(["a", "007", 1.5, true, null])]);
        let named = parse(json!({ "csv": "1\t2\n", "delimiter": "\\t", "header": false, "columns": ["x", "y"], "typed": true }))
            .unwrap();
        assert_eq!(named.rows, vec![json!({ "x": 1, "y": 2 })]);
        assert!(parse(json!({ "csv": "a", "delimiter": "ab" })).is_err());
    }

    #[test]
    fn ragged_lines_fail_unless_flexible() {
        let error = parse(json!({ "csv": "a,b\n1,2\n3\n" })).unwrap_err();
        assert!(
            error.message().contains("line 3 has 1 fields, expected 2"),
            "{error}"
        );
        let rows = parse(json!({ "csv": "a,b\n3\n4,5,6\n", "flexible": true })).unwrap();
        assert_eq!(
            rows.rows,
            vec![
                json!({ "a": "3", "b": null }),
                json!({ "a": "4", "b": "5" })
            ]
        );
        let error = parse(json!({ "csv": "a,a\n1,2\n" })).unwrap_err();
        assert!(error.message().contains("\"a\" appears twice"), "{error}");
        assert_eq!(parse(json!({ "csv": "" })).unwrap().count, 0);
    }

    #[test]
    fn writes_rows_quoting_what_needs_it() {
        let csv = write(json!({ "rows": [
            { "id": 1, "name": "Lovelace, Ada", "paid": true },
            { "id": 2, "name": "say \"hi\"", "extra": null },
        ] }))
        .unwrap();
        assert_eq!(csv.columns, ["id", "name", "paid", "extra"]);
        assert_eq!(
            csv.csv,
            "id,name,paid,extra\n1,\"Lovelace, Ada\",true,\n2,\"say \"\"hi\"\"\",,\n"
        );
        let chosen = write(json!({ "rows": "[{\"a\":1,\"b\":2}]", "columns": ["b"], "delimiter": ";", "line_ending": "crlf" }))
            .unwrap();
        assert_eq!(chosen.csv, "b\r\n2\r\n");
        let arrays = write(json!({ "rows": [[1, "x"], [2]] })).unwrap();
        assert_eq!(arrays.csv, "1,x\n2\n");
        assert!(write(json!({ "rows": [{ "a": 1 }, [1]] })).is_err());
        assert!(write(json!({ "rows": { "a": 1 } })).is_err());
    }

    #[test]
    fn round_trips() {
        let text = "id,name\n1,\"a,b\"\n2,\"c\"\"d\"\n";
        let rows = parse(json!({ "csv": text })).unwrap();
        let back = write(json!({ "rows": rows.rows })).unwrap();
        assert_eq!(back.csv, text);
    }
}
