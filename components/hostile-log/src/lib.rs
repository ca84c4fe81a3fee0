//! `hostile-log@1.0.0`, a hostile fixture: action `run` calls the log import
//! forever with 64 KiB lines; the log volume cap stops it.

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let line = "x".repeat(64 << 10);
    loop {
        weft_sdk::log::info(&line);
    }
}

weft_sdk::connector! {
    name: "hostile-log",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: logs 64 KiB lines forever",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Logs 64 KiB lines forever", run: run }],
}
