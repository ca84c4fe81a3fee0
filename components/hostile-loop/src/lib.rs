//! `hostile-loop@1.0.0`, a hostile fixture: action `run` spins forever; only
//! fuel or the deadline stops it.

use std::hint::black_box;

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

weft_sdk::connector! {
    name: "hostile-loop",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: loops forever",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Loops forever", run: run }],
}
