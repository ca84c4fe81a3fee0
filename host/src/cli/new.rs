//! `weft new NAME`: scaffolds a connector crate that builds as-is with
//! `cargo build --release` (its `.cargo/config.toml` selects the
//! `wasm32-wasip2` target) and runs with `weft component call`.
//!
//! The crate depends on a copy of the guest SDK written beside its sources
//! (`weft-sdk/`, from the sources compiled into this binary), so it builds
//! anywhere: nothing points into a weft checkout. `--sdk PATH` uses another
//! SDK instead (e.g. a checkout's `sdk-guest`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

mod sdk;

/// Where the SDK copy goes, relative to the crate.
const SDK_DIR: &str = "weft-sdk";

/// Arguments of `weft new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Component name (lowercase letters, digits and '-', starting with a letter).
    pub name: String,
    /// Directory to create (default: ./NAME).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Use the `weft-sdk` crate at PATH instead of writing a copy of the
    /// one this weft was built with into `NAME/weft-sdk/`.
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// Creates the crate.
pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "invalid component name {name:?}: use lowercase letters, digits and '-', starting with a letter"
        );
    }
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = match &args.sdk {
        Some(path) => path
            .canonicalize()
            .with_context(|| format!("weft-sdk not found at {}", path.display()))?
            .display()
            .to_string(),
        None => SDK_DIR.to_owned(),
    };
    write(&dir.join("Cargo.toml"), &cargo_toml(name, &sdk))?;
    if args.sdk.is_none() {
        sdk::write_to(&dir.join(SDK_DIR), write)?;
        write(&dir.join("Cargo.lock"), sdk::CARGO_LOCK)?;
    }
    write(&dir.join(".cargo/config.toml"), CARGO_CONFIG)?;
    write(&dir.join("src/lib.rs"), &LIB_RS.replace("{{name}}", name))?;
    let wasm = format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    );
    write(
        &dir.join("README.md"),
        &README.replace("{{name}}", name).replace("{{wasm}}", &wasm),
    )?;
    write(&dir.join(".gitignore"), "/target\n")?;
    println!("created {} — build and try it:", dir.display());
    println!("  cd {} && cargo build --release", dir.display());
    println!("  weft component describe {wasm}");
    println!("  weft component call {wasm} greet --input '{{\"name\":\"Ada\"}}'");
    println!("  weft component push {wasm}    # to a running server");
    println!("(see {}/README.md)", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

fn cargo_toml(name: &str, sdk: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
description = "A Weft connector component"

[lib]
crate-type = ["cdylib"]

[dependencies]
# The guest SDK: a copy `weft new` wrote beside this crate (or --sdk PATH).
weft-sdk = {{ path = {sdk:?} }}

# Small, fast components: size-optimised, one codegen unit, no unwinding.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A standalone crate, not part of any enclosing workspace. Building several
# connectors? Share one target dir (see README.md): drop this table and list
# the crates as members of one workspace, or set CARGO_TARGET_DIR.
[workspace]
"#
    )
}

const CARGO_CONFIG: &str = r#"# Components are built for WASI preview 2; `rustup target add wasm32-wasip2` once.
[build]
target = "wasm32-wasip2"
# Several connectors can share one target dir, so the SDK and its
# dependencies build once for all of them (relative to this crate):
# target-dir = "../target"
"#;

const README: &str = r#"# {{name}}

A Weft connector component, scaffolded by `weft new`.

    rustup target add wasm32-wasip2       # once
    cargo build --release                 # .cargo/config.toml picks the target
    weft component describe {{wasm}}
    weft component call {{wasm}} greet --input '{"name":"Ada"}'
    weft component push {{wasm}}          # to a running server (WEFT_SERVER, WEFT_TOKEN)

Actions live in `src/lib.rs`: each is a typed function registered with
`weft_sdk::connector!`, which derives the JSON Schemas `describe` prints.

`weft-sdk/` is the guest SDK (and the WIT it binds) that this `weft` was
built with, written here so the crate builds anywhere. Replace it with a
newer copy from a newer `weft new`, or point `Cargo.toml` at another one.

## Several connectors, one target dir

Each crate builds the SDK and its dependencies into its own `target/`. To
build them once for all your connectors, share one target dir, either:

- set `CARGO_TARGET_DIR=/some/shared/target` for every build (or
  `target-dir = "../target"` in each crate's `.cargo/config.toml`); the
  component is then at `$CARGO_TARGET_DIR/wasm32-wasip2/release/`, or
- make one workspace: a `Cargo.toml` in the parent directory with
  `[workspace] members = ["{{name}}", "other-connector"]` and
  `resolver = "3"`; remove the `[workspace]` table from each crate's
  `Cargo.toml` and move its `[profile.release]` to the workspace's. Keep
  one SDK copy for all of them (move `weft-sdk/` up beside the crates and
  depend on `{ path = "../weft-sdk" }`): a workspace holds one `weft-sdk`.
"#;

const LIB_RS: &str = r#"//! `{{name}}`: a Weft connector component.
//!
//! Each action is one typed function; `connector!` registers them and
//! derives the JSON Schemas `describe()` reports.

use weft_sdk::{Context, Error};

weft_sdk::types! {
    /// Input of `greet`.
    pub struct GreetInput {
        /// Who to greet.
        pub name: String,
    }

    /// Output of `greet`.
    pub struct GreetOutput {
        /// The greeting.
        pub message: String,
    }
}

/// Says hello; an empty name is invalid input (not retried).
fn greet(input: GreetInput, ctx: &Context) -> Result<GreetOutput, Error> {
    if input.name.trim().is_empty() {
        return Err(Error::invalid_input("name must not be empty"));
    }
    weft_sdk::log::info(format!("greeting {} (attempt {})", input.name, ctx.attempt));
    Ok(GreetOutput {
        message: format!("Hello, {}!", input.name),
    })
}

weft_sdk::connector! {
    name: "{{name}}",
    version: env!("CARGO_PKG_VERSION"),
    description: "Says hello",
    // Outbound hosts this component calls, e.g. "api.example.com:443".
    hosts: [],
    actions: [
        { key: "greet", title: "Greet", description: "Returns a greeting for `name`", run: greet },
    ],
}
"#;
