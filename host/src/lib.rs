//! Weft: a host that runs integration flows whose steps are sandboxed
//! WebAssembly components.
//!
//! The `weft` binary (`main.rs`) is a thin shell over this library so that
//! tests and benchmarks can drive the same code in-process.

pub mod brokers;
pub mod cli;
pub mod config;
pub mod console;
pub mod egress;
pub mod flow;
pub mod instances;
pub mod integration;
pub mod integration_versions;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod model;
pub mod node;
pub mod registry;
pub mod sandbox;
pub mod server;
pub mod storage;
pub mod submit;
pub mod template;
pub mod triggers;
pub mod units;
