//! `hostile-output@1.0.0`, a hostile fixture: action `run` returns a 16 MiB
//! JSON string; the output cap stops it.
//!
//! The string is produced while it is serialised, never held as a value, and
//! its JSON text, quotes included, is exactly 16 MiB, a power of two, so the
//! serialiser's doubling buffer ends at exactly 16 MiB: the guest stays well
//! within the default 64 MiB memory cap and the step reaches the output
//! check instead of the memory limit.

use std::borrow::Cow;
use std::fmt;

use weft_sdk::schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use weft_sdk::serde::{Serialize, Serializer};
use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

/// The size of the output's JSON text.
const OUTPUT_BYTES: usize = 16 << 20;

/// A string of `OUTPUT_BYTES - 2` `x`s (plus two quotes in JSON).
struct Output;

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chunk = "x".repeat(4096);
        let len = OUTPUT_BYTES - 2;
        for _ in 0..len / chunk.len() {
            f.write_str(&chunk)?;
        }
        f.write_str(&chunk[..len % chunk.len()])
    }
}

impl Serialize for Output {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Output {
    fn schema_name() -> Cow<'static, str> {
        "Output".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

fn run(_: Value, _: &Context) -> Result<Output, Error> {
    Ok(Output)
}

weft_sdk::connector! {
    name: "hostile-output",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: returns a 16 MiB JSON string",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Returns a 16 MiB JSON string", run: run }],
}
