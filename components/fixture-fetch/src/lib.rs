//! `fixture-fetch@1.0.0`, a test fixture: action `fetch` sends `GET {url}`
//! and returns `{status, body}`. Unlike `http` and `echo` it declares only
//! `127.0.0.1` and `localhost` (any port), so the host's "not declared by
//! component" refusal can be tested.
//!
//! Its `describe()` reserves 24 MiB of linear memory first, far more than
//! `fetch` needs: under a smaller `[sandbox.limits] memory` describing it
//! fails while its steps still run, so a test can tell whether the host
//! took its outbound grant from the manifest stored at upload or described
//! the component again.

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

/// Reserves `DESCRIBE_RESERVE` bytes of linear memory, then returns `text`.
fn reserving(text: &'static str) -> &'static str {
    const DESCRIBE_RESERVE: usize = 24 << 20;
    let reserved: Vec<u8> = Vec::with_capacity(DESCRIBE_RESERVE);
    std::hint::black_box(&reserved);
    text
}

weft_sdk::connector! {
    name: "fixture-fetch",
    version: env!("CARGO_PKG_VERSION"),
    description: reserving("Test fixture: sends GET {url}; declares only 127.0.0.1 and localhost"),
    hosts: ["127.0.0.1", "localhost"],
    actions: [{ key: "fetch", title: "Fetch", description: "Sends GET {url}; returns {status, body}", run: fetch }],
}
