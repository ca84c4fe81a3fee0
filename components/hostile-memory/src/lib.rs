//! `hostile-memory@1.0.0`, a hostile fixture: action `run` keeps allocating 1
//! MiB blocks until allocation fails: the memory cap stops it (a failed grow
//! aborts the guest, or traps with `trap_on_grow_failure`).

use std::hint::black_box;

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(black_box(vec![1u8; 1 << 20]));
    }
}

weft_sdk::connector! {
    name: "hostile-memory",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: allocates 1 MiB blocks until memory runs out",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Allocates 1 MiB blocks until memory runs out", run: run }],
}
