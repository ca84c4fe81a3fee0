//! XML → JSON. Each element becomes an object of its attributes (`@name`)
//! and children (by local name, namespace prefixes dropped); an element
//! with only text becomes that string; text beside attributes or children
//! is `#text`; a name repeated among siblings becomes an array (and any
//! name listed in `arrays` always does, so one-item lists keep their
//! shape). The result is `{ root-name: … }`.

use weft_sdk::serde_json::{Map, Value};
use weft_sdk::{Context, Error};

/// Deepest element nesting accepted; deeper documents are refused rather
/// than recursed into.
const MAX_DEPTH: usize = 256;

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
        assert!(error.message().contains("deeper than 256"), "{error}");
    }
}
