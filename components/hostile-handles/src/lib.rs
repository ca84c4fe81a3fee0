//! `hostile-handles@1.0.0`, a hostile fixture: action `run` creates
//! `wasi:http/types.fields` resources forever and keeps them all; the host's
//! resource table cap stops it.

use weft_sdk::serde_json::Value;
use weft_sdk::wit::wasi::http::types::Fields;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let mut handles = Vec::new();
    loop {
        handles.push(Fields::new());
    }
}

weft_sdk::connector! {
    name: "hostile-handles",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: creates resource handles forever",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Creates resource handles forever", run: run }],
}
