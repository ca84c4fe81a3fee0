//! XML → JSON. Each element becomes an object of its attributes (`@name`)
//! and children (by local name, namespace prefixes dropped); an element
//! with only text becomes that string; text beside attributes or children
//! is `#text`; a name repeated among siblings becomes an array (and any
//! name listed in `arrays` always does, so one-item lists keep their
//! shape). The result is `{ root-name: … }`.

use weft_sdk::serde_json::{Map, Value};
use weft_sdk::{Context, Error};

/// Deepest element nesting accepted; deeper documents are refused before
/// parsing rather than recursed into. Each level may cost two levels of
/// JSON (an object, and an array for a repeated name), and the host reads
/// a step's output JSON to at most 128 levels.
const MAX_DEPTH: usize = 60;

weft_sdk::types! {
    /// Input of `xml-to-json`.
    pub struct XmlToJson {
        /// The XML text.
        pub xml: String,
        /// Element names that are always arrays, even when they occur once.
        #[serde(default)]
        pub arrays: Vec<String>,
        /// Trim whitespace around text (default true).
        #[serde(default = "yes")]
        pub trim: bool,
    }

    /// Output of `xml-to-json`.
    #[derive(Debug)]
    pub struct Json {
        /// `{ root-name: … }`.
        pub json: Value,
    }
}

fn yes() -> bool {
    true
}

/// Parses XML into JSON.
pub fn xml_to_json(input: XmlToJson, _: &Context) -> Result<Json, Error> {
    check_depth(&input.xml)?;
    let doc = roxmltree::Document::parse(&input.xml)
        .map_err(|e| Error::invalid_input(format!("xml: {e}")))?;
    let root = doc.root_element();
    let value = element(root, &input, 0)?;
    let mut json = Map::new();
    json.insert(root.tag_name().name().to_owned(), value);
    Ok(Json {
        json: Value::Object(json),
    })
}

/// Refuses text whose elements nest deeper than [`MAX_DEPTH`], scanning
/// tags without building anything (so the parser never sees such a
/// document). Comments, CDATA, processing instructions and declarations
/// are skipped; quoted attribute values may hold `>`.
fn check_depth(xml: &str) -> Result<(), Error> {
    let bytes = xml.as_bytes();
    let skip_to = |from: usize, end: &str| {
        xml[from..]
            .find(end)
            .map_or(bytes.len(), |i| from + i + end.len())
    };
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(at) = xml[i..].find('<') {
        let start = i + at;
        let rest = &xml[start..];
        if rest.starts_with("<!--") {
            i = skip_to(start, "-->");
        } else if rest.starts_with("<![CDATA[") {
            i = skip_to(start, "]]>");
        } else if rest.starts_with("<?") {
            i = skip_to(start, "?>");
        } else if rest.starts_with("<!") {
            i = skip_to(start, ">");
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            i = skip_to(start, ">");
        } else {
            // An opening tag: find its end outside quotes.
            let mut quote = None;
            let mut end = bytes.len();
            for (j, &b) in bytes.iter().enumerate().skip(start + 1) {
                match (quote, b) {
                    (None, b'"' | b'\'') => quote = Some(b),
                    (Some(q), _) if b == q => quote = None,
                    (None, b'>') => {
                        end = j;
                        break;
                    }
                    _ => {}
                }
            }
            if end < bytes.len() && bytes[end - 1] != b'/' {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Error::invalid_input(format!(
                        "xml nests deeper than {MAX_DEPTH} elements"
                    )));
                }
            }
            i = (end + 1).min(bytes.len());
        }
        if i >= bytes.len() {
            break;
        }
    }
    Ok(())
}

fn element(node: roxmltree::Node<'_, '_>, input: &XmlToJson, depth: usize) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid_input(format!(
            "xml nests deeper than {MAX_DEPTH} elements"
        )));
    }
    let mut map = Map::new();
    for attribute in node.attributes() {
        map.insert(
            format!("@{}", attribute.name()),
            Value::String(attribute.value().to_owned()),
        );
    }
    let mut text = String::new();
    for child in node.children() {
        if child.is_element() {
            let name = child.tag_name().name().to_owned();
            let value = element(child, input, depth + 1)?;
            let always = input.arrays.contains(&name);
            // element() never returns an array: an array here is one
            // this loop made for a repeated or `arrays` name.
            match map.get_mut(&name) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None if always => {
                    map.insert(name, Value::Array(vec![value]));
                }
                None => {
                    map.insert(name, value);
                }
            }
        } else if child.is_text() {
            text.push_str(child.text().unwrap_or(""));
        }
    }
    let text = if input.trim {
        text.trim().to_owned()
    } else {
        text
    };
    if map.is_empty() {
        return Ok(Value::String(text));
    }
    if !text.trim().is_empty() {
        map.insert("#text".into(), Value::String(text));
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use weft_sdk::serde_json::json;

    use super::*;

    fn convert(value: Value) -> Result<Value, Error> {
        xml_to_json(
            weft_sdk::serde_json::from_value(value).unwrap(),
            &Context::default(),
        )
        .map(|j| j.json)
    }

    #[test]
    fn elements_attributes_text_and_repeats() {
        let xml = r#"<?xml version="1.0"?>
<orders xmlns:x="urn:x" batch="7">
  <order id="1"><sku>A-1</sku><qty>2</qty></order>
  <order id="2"><sku>B &amp; C</sku><note><![CDATA[<fragile>]]></note></order>
  <x:total currency="EUR">12.50</x:total>
</orders>"#;
        assert_eq!(
            convert(json!({ "xml": xml })).unwrap(),
            json!({ "orders": {
                "@batch": "7",
                "order": [
                    { "@id": "1", "sku": "A-1", "qty": "2" },
                    { "@id": "2", "sku": "B & C", "note": "<fragile>" },
                ],
                "total": { "@currency": "EUR", "#text": "12.50" },
            } })
        );
    }

    #[test]
    fn forced_arrays_keep_one_item_lists() {
        let xml = "<list><item>a</item></list>";
        assert_eq!(
            convert(json!({ "xml": xml })).unwrap(),
            json!({ "list": { "item": "a" } })
        );
        assert_eq!(
            convert(json!({ "xml": xml, "arrays": ["item"] })).unwrap(),
            json!({ "list": { "item": ["a"] } })
        );
        let three = "<l><i>1</i><i>2</i><i>3</i></l>";
        assert_eq!(
            convert(json!({ "xml": three })).unwrap(),
            json!({ "l": { "i": ["1", "2", "3"] } })
        );
    }

    #[test]
    fn refuses_broken_or_too_deep_documents() {
        let error = convert(json!({ "xml": "<a><b></a>" })).unwrap_err();
        assert!(error.message().starts_with("xml: "), "{error}");
        let deep = format!("{}{}", "<a>".repeat(300), "</a>".repeat(300));
        let error = convert(json!({ "xml": deep })).unwrap_err();
        assert!(error.message().contains("deeper than 60"), "{error}");
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        let error = convert(json!({ "xml": deep })).unwrap_err();
        assert!(error.message().contains("deeper than 60"), "{error}");
        // Siblings, self-closing tags, comments and quoted '>' do not nest.
        let wide = format!(
            "<r>{}<!-- <x><x> --><![CDATA[<y><y>]]><b a=\"1>2\"/></r>",
            "<a>1</a>".repeat(1000)
        );
        assert!(convert(json!({ "xml": wide })).is_ok());
        let just = format!("{}{}", "<a>".repeat(60), "</a>".repeat(60));
        assert!(convert(json!({ "xml": just })).is_ok());
    }
}
