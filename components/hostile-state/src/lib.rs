//! `hostile-state@1.0.0`, a hostile fixture: action `run` stores 8,192
//! values of 200 KiB under distinct keys of its instance scope (1.6 GiB),
//! and fails with the host's refusal as a `fatal` error when a write is
//! refused. If nothing stops it, it returns `{"stored": 8192}`.

use weft_sdk::serde_json::{Value, json};
use weft_sdk::state::{self, Scope};
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let value = "s".repeat(200 << 10);
    for i in 0..8_192 {
        state::set(Scope::Instance, &format!("key-{i}"), &value)
            .map_err(|e| Error::fatal(format!("write {i}: {}", e.message())))?;
    }
    Ok(json!({ "stored": 8_192 }))
}

weft_sdk::connector! {
    name: "hostile-state",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: stores 1.6 GiB of state",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Stores 8,192 values of 200 KiB", run: run }],
}
