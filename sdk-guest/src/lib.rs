//! Write Weft connector components in Rust.
//!
//! A connector is a WebAssembly component for the `weft:connector` world
//! (built for `wasm32-wasip2`). This crate is the only dependency it needs:
//! write one plain function per action, taking a typed input and the step's
//! [`Context`] and returning a typed output or an [`Error`]; declare the input
//! and output types with [`types!`]; register everything once with
//! [`connector!`]. The SDK derives each action's JSON Schemas for
//! `describe()`, turns the input JSON into your type (a mismatch becomes
//! [`Error::InvalidInput`] naming the offending field) and your output back
//! into JSON.
//!
//! ```
//! use weft_sdk::{Context, Error, http, state::{self, Scope}};
//!
//! weft_sdk::types! {
//!     /// Input of `check-inventory`.
//!     pub struct CheckInventory {
//!         /// Stock-keeping unit, e.g. `A-1`.
//!         pub sku: String,
//!         pub qty: u32,
//!     }
//!
//!     /// Output of `check-inventory`.
//!     pub struct Availability {
//!         pub available: bool,
//!         pub in_stock: u32,
//!     }
//! }
//!
//! fn check_inventory(input: CheckInventory, ctx: &Context) -> Result<Availability, Error> {
//!     if input.qty == 0 {
//!         return Err(Error::invalid_input("qty must be positive"));
//!     }
//!     weft_sdk::info!("checking {} x {} (attempt {})", input.qty, input.sku, ctx.attempt);
//!     let in_stock: u32 = http::get("https://api.acme.example/stock")
//!         .query("sku", &input.sku)
//!         .header("idempotency-key", &ctx.idempotency_key)
//!         .send()?
//!         .error_for_status()?
//!         .json()?;
//!     state::set(Scope::Flow, "last-sku", &input.sku)?;
//!     Ok(Availability { available: in_stock >= input.qty, in_stock })
//! }
//!
//! weft_sdk::connector! {
//!     name: "acme",
//!     version: env!("CARGO_PKG_VERSION"),
//!     description: "Orders and inventory at Acme",
//!     hosts: ["api.acme.example:443"],
//!     actions: [
//!         {
//!             key: "check-inventory",
//!             title: "Check inventory",
//!             description: "Whether a quantity of a SKU is in stock",
//!             run: check_inventory,
//!         },
//!     ],
//! }
//! # fn main() {}
//! ```
//!
//! The crate needs `crate-type = ["cdylib"]` and builds with
//! `cargo build --release --target wasm32-wasip2`; the result is the
//! component. Action functions are plain Rust: unit-test them natively with
//! `Context::default()` as long as they call no host import.
//!
//! Imports: [`log`] (structured step log), [`state`] (key-value state per
//! execution, flow or instance) and [`http`] (outbound HTTP to the hosts the
//! component declares and the operator allows). Plain WASI clocks and random
//! work as usual; stdout and stderr go to the step log; the filesystem,
//! environment variables and sockets are not available.

#![warn(missing_docs)]

mod context;
mod error;
pub mod http;
pub mod log;
mod runtime;
pub mod state;

pub use context::Context;
pub use error::Error;
pub use {schemars, serde, serde_json, wit_bindgen};

/// The generated `weft:connector` bindings (including `wasi:http`). Not a
/// stable API: use the modules above.
#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "weft:connector/connector",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_connector",
        default_bindings_module: "weft_sdk::wit",
        runtime_path: "weft_sdk::wit_bindgen::rt",
    });
}

/// What the macros expand to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::{action_info, call, component_info, unknown_action};
}

// The generated export code names this crate `weft_sdk`, also inside it.
extern crate self as weft_sdk;

/// Declares action input and output types: adds `Serialize`, `Deserialize`
/// and `JsonSchema` derives to each item, using this crate's `serde` and
/// `schemars` so the component needs no other dependency.
///
/// Doc comments become schema descriptions; `#[serde(...)]` attributes work
/// as usual.
///
/// ```
/// weft_sdk::types! {
///     /// A greeting request.
///     #[derive(Debug)]
///     #[serde(deny_unknown_fields)]
///     pub struct Greet {
///         /// Who to greet.
///         pub name: String,
///         #[serde(default)]
///         pub shout: bool,
///     }
/// }
/// ```
///
/// (A crate that depends on `serde` and `schemars` 1.x itself may derive
/// the three traits directly instead.)
#[macro_export]
macro_rules! types {
    ($($item:item)*) => {$(
        #[derive($crate::serde::Serialize, $crate::serde::Deserialize, $crate::schemars::JsonSchema)]
        #[serde(crate = "weft_sdk::serde")]
        #[schemars(crate = "weft_sdk::schemars")]
        $item
    )*};
}

/// Registers the component: its name, version, description, the outbound
/// hosts it needs, and its actions. Use it once, at the crate root.
///
/// ```text
/// weft_sdk::connector! {
///     name: "echo",                                // registry name
///     version: env!("CARGO_PKG_VERSION"),          // semantic version
///     description: "Returns its input",
///     hosts: ["api.acme.example:443"],             // host:port, *.domain:port or "*"
///     actions: [
///         { key: "echo", title: "Echo", description: "Returns its input", run: echo },
///     ],
/// }
/// ```
///
/// `run` is any `Fn(Input, &Context) -> Result<Output, Error>` where `Input`
/// is `Deserialize + JsonSchema` and `Output` is `Serialize + JsonSchema`
/// (`serde_json::Value` works for both). Calling an action not listed fails
/// with `invalid input: unknown action 'x'; known: a, b`.
#[macro_export]
macro_rules! connector {
    (
        name: $name:expr,
        version: $version:expr,
        description: $description:expr,
        hosts: [$($host:expr),* $(,)?],
        actions: [$(
            {
                key: $key:literal,
                title: $title:expr,
                description: $action_description:expr,
                run: $run:expr $(,)?
            }
        ),* $(,)?] $(,)?
    ) => {
        struct __WeftConnector;

        impl $crate::wit::Guest for __WeftConnector {
            fn describe() -> $crate::wit::ComponentInfo {
                $crate::__private::component_info(
                    $name,
                    $version,
                    $description,
                    &[$($host),*],
                    ::std::vec![$(
                        $crate::__private::action_info($key, $title, $action_description, $run)
                    ),*],
                )
            }

            fn run(
                action: ::std::string::String,
                input: ::std::string::String,
                ctx: $crate::wit::StepContext,
            ) -> ::core::result::Result<::std::string::String, $crate::wit::StepError> {
                let ctx = $crate::Context::from(ctx);
                match action.as_str() {
                    $($key => $crate::__private::call($run, &input, &ctx),)*
                    other => ::core::result::Result::Err(
                        $crate::__private::unknown_action(other, &[$($key),*]),
                    ),
                }
            }
        }

        $crate::wit::__export_connector!(__WeftConnector with_types_in $crate::wit);
    };
}
