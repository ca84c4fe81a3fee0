//! `fixture-fetch@1.0.0`, a test fixture: action `fetch` sends `GET {url}`
//! and returns `{status, body}`. Unlike `http` and `echo` it declares only
//! `127.0.0.1` and `localhost` (any port), so the host's "not declared by
//! component" refusal can be tested.

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
    name: "fixture-fetch",
    version: env!("CARGO_PKG_VERSION"),
    description: "Test fixture: sends GET {url}; declares only 127.0.0.1 and localhost",
    hosts: ["127.0.0.1", "localhost"],
    actions: [{ key: "fetch", title: "Fetch", description: "Sends GET {url}; returns {status, body}", run: fetch }],
}
