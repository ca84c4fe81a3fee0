//! `hostile-socket@1.0.0`, a hostile fixture: action `run` connects a TCP
//! socket to `127.0.0.1:80`; with sockets denied it fails with `fatal("connect
//! 127.0.0.1:80: <io error>")`.

use std::net::TcpStream;

use weft_sdk::serde_json::Value;
use weft_sdk::{Context, Error};

fn run(_: Value, _: &Context) -> Result<String, Error> {
    TcpStream::connect("127.0.0.1:80")
        .map(|_| "connected to 127.0.0.1:80".to_owned())
        .map_err(|e| Error::fatal(format!("connect 127.0.0.1:80: {e}")))
}

weft_sdk::connector! {
    name: "hostile-socket",
    version: env!("CARGO_PKG_VERSION"),
    description: "Hostile fixture: connects a TCP socket to 127.0.0.1:80",
    hosts: [],
    actions: [{ key: "run", title: "Run", description: "Connects a TCP socket to 127.0.0.1:80", run: run }],
}
