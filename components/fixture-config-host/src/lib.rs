//! `fixture-config-host@1.0.0`, a test fixture: action `fetch` sends
//! `GET {url}` and returns `{status, body}`. Its only declared host is the
//! template `{{ config.base_url }}`, so what it may reach is the host of
//! each instance's `base_url` (still within the operator's allowlist).

use weft_sdk::{Context, Error, http};

weft_sdk::types! {
    /// Input of `fetch`.
    pub struct Fetch {
        pub url: String,
    }

    /// Output of `fetch`: the status and the body as (lossy) text.
    pub struct Fetched {
        pub status: u16,
        pub body: String,
    }
}

fn fetch(input: Fetch, _: &Context) -> Result<Fetched, Error> {
    let response = http::get(input.url).send()?;
    let body = String::from_utf8_lossy(response.bytes()).into_owned();
    Ok(Fetched {
        status: response.status(),
        body,
    })
}

weft_sdk::connector! {
    name: "fixture-config-host",
    version: env!("CARGO_PKG_VERSION"),
    description: "Test fixture: sends GET {url}; declares only the host of config base_url",
    hosts: ["{{ config.base_url }}"],
    actions: [{ key: "fetch", title: "Fetch", description: "Sends GET {url}; returns {status, body}", run: fetch }],
}
