//! `transform@1.0.0`, Weft's built-in format converter: `csv-to-rows`
//! (CSV text to rows, with header handling, quoting and a delimiter
//! option), `json-to-csv` (rows back to CSV text) and `xml-to-json`. Pure
//! functions of their input: no outbound hosts, no state.

mod csv_rows;
mod xml;

weft_sdk::connector! {
    name: "transform",
    version: env!("CARGO_PKG_VERSION"),
    description: "Converts between formats: CSV to rows, rows (JSON) to CSV, XML to JSON",
    hosts: [],
    actions: [
        {
            key: "csv-to-rows",
            title: "CSV to rows",
            description: "Parses {csv} (RFC 4180 quoting; delimiter, header, columns, typed options); returns {rows, columns, count}",
            run: csv_rows::csv_to_rows,
        },
        {
            key: "json-to-csv",
            title: "JSON to CSV",
            description: "Formats {rows} (objects or arrays, or a JSON text of them) as CSV; returns {csv, columns, count}",
            run: csv_rows::json_to_csv,
        },
        {
            key: "xml-to-json",
            title: "XML to JSON",
            description: "Parses {xml} into JSON: elements as objects, attributes as @name, text as #text, repeated elements as arrays; returns {json}",
            run: xml::xml_to_json,
        },
    ],
}
