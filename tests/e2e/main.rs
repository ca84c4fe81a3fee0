//! End-to-end tests: the real `weft` binary and real components built by
//! `make components`, one test binary with a module per area.

mod hostile;
mod loading;
mod outbound;
mod support;
