//! `hostile-file@1.0.0`, a hostile fixture: action `run` reads `/etc/passwd`
//! and returns it; with no filesystem granted it fails with `fatal("read
//! /etc/passwd: <io error>")`.

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<String, Error> {
    std::fs::read_to_string("/etc/passwd")
        .map_err(|e| Error::fatal(format!("read /etc/passwd: {e}")))
}

weft_sdk::connector! {
    name: "hostile-file",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: reads /etc/passwd",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Reads /etc/passwd", run: run }],
}
