//! `weft new NAME`: scaffolds a connector crate (filled in once the guest
//! SDK's shape is final).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `weft new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Component name (lowercase, digits, '-').
    pub name: String,
    /// Directory to create (default: ./NAME).
    #[arg(long)]
    pub path: Option<PathBuf>,
}

/// Creates the crate.
pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("weft new {}: not available yet", args.name)
}
