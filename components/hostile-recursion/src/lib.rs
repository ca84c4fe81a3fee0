//! `hostile-recursion@1.0.0`, a hostile fixture: action `run` recurses without
//! bound until the wasm stack limit traps (stack overflow). Each frame uses its
//! callee's result through `black_box`, so the optimiser cannot turn the
//! recursion into a loop, and holds only scalars, so the shadow stack in linear
//! memory does not grow.

use std::hint::black_box;

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn dive(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    black_box(dive(black_box(depth + 1))).wrapping_add(depth)
}

fn run(_: Value, _: &Context) -> Result<u64, Error> {
    Ok(dive(0))
}

weft_sdk::connector! {
    name: "hostile-recursion",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: recurses until the stack overflows",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Recurses until the stack overflows", run: run }],
}
