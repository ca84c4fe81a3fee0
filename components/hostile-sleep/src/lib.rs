//! `hostile-sleep@1.0.0`, a hostile fixture: action `run` sleeps for an hour,
//! blocked in a host call (a `wasi:clocks` pollable); only the wall-clock
//! deadline stops it.

use std::time::Duration;

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    std::thread::sleep(Duration::from_secs(3600));
    Ok(Value::Null)
}

weft_sdk::connector! {
    name: "hostile-sleep",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: sleeps for an hour",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Sleeps for an hour", run: run }],
}
