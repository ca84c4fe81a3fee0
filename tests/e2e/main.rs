//! End-to-end tests: the real `weft` binary and real components built by
//! `make components`, one test binary with a module per area.

mod cluster;
mod concurrency;
mod console;
mod control;
mod executions;
mod files;
mod flows_local;
mod hostile;
mod hygiene;
mod in_process;
mod loading;
mod nats;
mod netns;
mod newcomer;
mod outbound;
mod pg;
mod scaffold;
mod server;
mod storage_contract;
mod support;
mod triggers;
