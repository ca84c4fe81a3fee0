//! `hostile-http@1.0.0`, a hostile fixture: action `run` sends `GET
//! http://example.com/` (declared in `hosts`) and returns `{status}`; a refused
//! request fails with `fatal("GET http://example.com/ failed:
//! http-request-denied (...)")`.

use weft_sdk::serde_json::{Value, json};
use weft_sdk::{Context, Error, http};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let response = http::get("http://example.com/").send()?;
    Ok(json!({ "status": response.status() }))
}

weft_sdk::connector! {
    name: "hostile-http",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: sends GET http://example.com/",
    hosts: ["example.com:80"],
    actions: [{ key: "run", title: "Run", description: "Sends GET http://example.com/", run: run }],
}
