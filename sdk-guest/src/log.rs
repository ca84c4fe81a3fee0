//! Structured log lines recorded on the step (the world's `log` import).
//!
//! ```no_run
//! weft_sdk::log::info("fetching orders");
//! weft_sdk::warn!("{} orders skipped", 3);
//! ```
//!
//! Anything a component prints to stdout or stderr is captured into the step
//! log too, but without a level.

use crate::wit::weft::connector::log as wit;

pub use wit::Level;

/// Records `message` at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    wit::log(level, message.as_ref());
}

/// Records a trace-level line.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Records a debug-level line.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Records an info-level line.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Records a warn-level line.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Records an error-level line.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}

/// `trace!("{} items", n)`: [`trace`] with `format!` arguments.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::trace(::std::format!($($arg)*)) };
}

/// `debug!("{} items", n)`: [`debug`] with `format!` arguments.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(::std::format!($($arg)*)) };
}

/// `info!("{} items", n)`: [`info`] with `format!` arguments.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(::std::format!($($arg)*)) };
}

/// `warn!("{} items", n)`: [`warn`] with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(::std::format!($($arg)*)) };
}

/// `error!("{} items", n)`: [`error`] with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(::std::format!($($arg)*)) };
}
