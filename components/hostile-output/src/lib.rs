//! `hostile-output@1.0.0`, a hostile fixture: action `run` returns a 16 MiB JSON string; the output
//! cap stops it.

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<String, Error> {
    Ok("x".repeat(16 << 20))
}

weft_sdk::connector! {
    name: "hostile-output",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: returns a 16 MiB JSON string",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Returns a 16 MiB JSON string", run: run }],
}
