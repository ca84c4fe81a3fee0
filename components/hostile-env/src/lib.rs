//! `hostile-env@1.0.0`, a hostile fixture: action `run` reads `HOME` and counts
//! the environment variables. It returns `{home, count}` if it sees any
//! environment, else `fatal("no environment: HOME: <error>; 0 variables")`.

use weft_sdk::serde_json::{Value, json};
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<Value, Error> {
    let home = std::env::var("HOME");
    let count = std::env::vars().count();
    match home {
        Err(e) if count == 0 => Err(Error::fatal(format!(
            "no environment: HOME: {e}; 0 variables"
        ))),
        home => Ok(json!({ "home": home.ok(), "count": count })),
    }
}

weft_sdk::connector! {
    name: "hostile-env",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: reads environment variables",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Reads environment variables", run: run }],
}
