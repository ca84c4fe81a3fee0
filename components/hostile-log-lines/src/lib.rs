//! `hostile-log-lines@1.0.0`, a hostile fixture: action `run` calls the log
//! import forever with *empty* lines. A cap on text bytes alone never
//! stops it; the log budget charges every line its overhead.

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    loop {
        weft_sdk::log::info("");
    }
}

weft_sdk::connector! {
    name: "hostile-log-lines",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: logs empty lines forever",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Logs empty lines forever", run: run }],
}
