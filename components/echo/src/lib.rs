//! `echo@1.0.0`: returns its input unchanged. Its other actions exist for the
//! host's tests: `fail` returns the guest error it is asked for, `state`
//! drives the state import, `sleep` blocks in a clock call, `log` writes to
//! the log import, stdout and stderr, `fetch` sends a GET through the
//! outbound HTTP import, and `flaky` fails its first attempts. It declares
//! every host (`*`), so only the operator's allowlist decides what `fetch`
//! may reach.

use std::time::{Duration, Instant};

use weft_sdk::serde_json::Value;
use weft_sdk::state::{self, Scope};
use weft_sdk::{Context, Error, http};

weft_sdk::types! {
    /// Input of `fail`: the error to return.
    pub struct Fail {
        pub kind: FailKind,
        pub message: String,
    }

    /// Which `step-error` case `fail` returns.
    #[serde(rename_all = "kebab-case")]
    pub enum FailKind {
        InvalidInput,
        Upstream,
        Fatal,
    }

    /// Input of `state`: one operation on one scope.
    pub struct StateOp {
        pub scope: Scope,
        pub op: Op,
        /// The key (`get`, `set`, `delete`) or key prefix (`keys`).
        #[serde(default)]
        pub key: String,
        /// The value to `set`.
        #[serde(default)]
        pub value: Value,
    }

    /// A state operation.
    #[serde(rename_all = "lowercase")]
    pub enum Op {
        Get,
        Set,
        Delete,
        Keys,
    }

    /// Input of `sleep`.
    pub struct Sleep {
        pub ms: u64,
    }

    /// Output of `sleep`.
    pub struct Slept {
        pub slept_ms: u64,
    }

    /// Input and output of `log`.
    pub struct Lines {
        pub lines: u32,
    }

    /// Input of `fetch`.
    pub struct Fetch {
        pub url: String,
    }

    /// Output of `fetch`: the response status and body (lossy UTF-8).
    pub struct Fetched {
        pub status: u16,
        pub body: String,
    }

    /// Input of `flaky`: how many attempts fail before one succeeds.
    pub struct Flaky {
        pub fail_times: u32,
    }

    /// Output of `flaky`: what the succeeding attempt saw.
    pub struct Attempted {
        pub attempt: u32,
        pub idempotency_key: String,
    }
}

fn flaky(input: Flaky, ctx: &Context) -> Result<Attempted, Error> {
    if ctx.attempt <= input.fail_times {
        return Err(Error::upstream(format!(
            "attempt {} of a flaky upstream failed (key {})",
            ctx.attempt, ctx.idempotency_key
        )));
    }
    Ok(Attempted {
        attempt: ctx.attempt,
        idempotency_key: ctx.idempotency_key.clone(),
    })
}

fn echo(input: Value, _: &Context) -> Result<Value, Error> {
    Ok(input)
}

fn fail(input: Fail, _: &Context) -> Result<(), Error> {
    Err(match input.kind {
        FailKind::InvalidInput => Error::invalid_input(input.message),
        FailKind::Upstream => Error::upstream(input.message),
        FailKind::Fatal => Error::fatal(input.message),
    })
}

/// `get` returns the value or `null`, `keys` the sorted keys with the prefix
/// `key`, `set` and `delete` return `null`.
fn state(input: StateOp, _: &Context) -> Result<Value, Error> {
    let StateOp {
        scope,
        op,
        key,
        value,
    } = input;
    Ok(match op {
        Op::Get => state::get(scope, &key)?.unwrap_or(Value::Null),
        Op::Set => {
            state::set(scope, &key, &value)?;
            Value::Null
        }
        Op::Delete => {
            state::delete(scope, &key);
            Value::Null
        }
        Op::Keys => state::keys(scope, &key).into(),
    })
}

fn sleep(input: Sleep, _: &Context) -> Result<Slept, Error> {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(input.ms));
    let slept_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Slept { slept_ms })
}

/// Writes `log line 0` .. `log line n-1` at info level, then one line each to
/// stdout and stderr.
fn log(input: Lines, _: &Context) -> Result<Lines, Error> {
    for i in 0..input.lines {
        weft_sdk::info!("log line {i}");
    }
    println!("echo: stdout line");
    eprintln!("echo: stderr line");
    Ok(input)
}

/// Any status is a success; a transport failure or refusal is the error
/// `weft_sdk::http` reports, e.g. `fatal("GET <url> failed: http-request-denied (...)")`.
fn fetch(input: Fetch, _: &Context) -> Result<Fetched, Error> {
    let response = http::get(input.url).send()?;
    let body = String::from_utf8_lossy(response.bytes()).into_owned();
    Ok(Fetched {
        status: response.status(),
        body,
    })
}

weft_sdk::connector! {
    name: "echo",
    version: env!("CARGO_PKG_VERSION"),
    description: "Returns its input; also fails, sleeps, logs, fetches and touches state on request, for tests",
    hosts: ["*"],
    actions: [
        { key: "echo", title: "Echo", description: "Returns its input unchanged", run: echo },
        {
            key: "fail",
            title: "Fail",
            description: "Returns the error {kind: invalid-input|upstream|fatal, message}",
            run: fail,
        },
        {
            key: "state",
            title: "State",
            description: "Runs {scope, op: get|set|delete|keys, key, value} against the state import",
            run: state,
        },
        { key: "sleep", title: "Sleep", description: "Sleeps {ms} milliseconds", run: sleep },
        {
            key: "log",
            title: "Log",
            description: "Writes {lines} log lines, one stdout line and one stderr line",
            run: log,
        },
        { key: "fetch", title: "Fetch", description: "Sends GET {url}; returns {status, body}", run: fetch },
        {
            key: "flaky",
            title: "Flaky",
            description: "Fails with an upstream error on the first {fail_times} attempts",
            run: flaky,
        },
    ],
}
