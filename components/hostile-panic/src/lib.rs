//! `hostile-panic@1.0.0`, a hostile fixture: action `run` panics with `hostile
//! panic`. On wasm32-wasip2 a panic prints `panicked at ...: hostile panic` to
//! stderr, then aborts (an `unreachable` trap).

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    panic!("hostile panic")
}

weft_sdk::connector! {
    name: "hostile-panic",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: panics",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Panics", run: run }],
}
