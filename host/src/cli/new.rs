//! `weft new NAME`: scaffolds a connector crate that builds as-is with
//! `cargo build --release` (its `.cargo/config.toml` selects the
//! `wasm32-wasip2` target) and runs with `weft component call`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

/// Where this build of `weft` finds the guest SDK by default.
const SDK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk-guest");

/// Arguments of `weft new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Component name (lowercase letters, digits and '-', starting with a letter).
    pub name: String,
    /// Directory to create (default: ./NAME).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Path of the `weft-sdk` crate (default: the one this weft was built with).
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
        Some(path) => path.clone(),
        None => PathBuf::from(SDK_PATH),
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("weft-sdk not found at {} (pass --sdk PATH)", sdk.display()))?;
    write(&dir.join("Cargo.toml"), &cargo_toml(name, &sdk))?;
    write(&dir.join(".cargo/config.toml"), CARGO_CONFIG)?;
    write(&dir.join("src/lib.rs"), &LIB_RS.replace("{{name}}", name))?;
    write(&dir.join(".gitignore"), "/target\n")?;
    println!("created {} — build and try it:", dir.display());
    println!("  cd {} && cargo build --release", dir.display());
    println!(
        "  weft component call target/wasm32-wasip2/release/{}.wasm greet --input '{{\"name\":\"Ada\"}}'",
        name.replace('-', "_")
    );
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
description = "A Weft connector component"

[lib]
crate-type = ["cdylib"]

[dependencies]
weft-sdk = {{ path = {sdk:?} }}

# Small, fast components: size-optimised, one codegen unit, no unwinding.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A standalone crate, not part of any enclosing workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

const CARGO_CONFIG: &str = r#"# Components are built for WASI preview 2; `rustup target add wasm32-wasip2` once.
[build]
target = "wasm32-wasip2"
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
