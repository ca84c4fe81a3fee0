//! `hostile-stdio@1.0.0`, a hostile fixture: action `run` writes 3,000
//! lines of 100 bytes to each of the log import, stdout and stderr —
//! about 300 KB per stream, under a 1 MiB cap per stream, but over one
//! 1 MiB budget for the three together (with each line's overhead). If
//! nothing stops it, it returns `{"done": true}`.

use weft_sdk::serde_json::{Value, json};
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let (log, out, err) = ("l".repeat(100), "o".repeat(100), "e".repeat(100));
    for _ in 0..3_000 {
        weft_sdk::log::info(&log);
        println!("{out}");
        eprintln!("{err}");
    }
    Ok(json!({ "done": true }))
}

weft_sdk::connector! {
    name: "hostile-stdio",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: floods log, stdout and stderr together",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Writes 3,000 lines to each stream", run: run }],
}
