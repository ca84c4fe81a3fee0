//! Host bindings of the `weft:connector` world, generated once from `wit/`.
//! Public (hidden) only so benchmarks can build a raw-wasmtime baseline
//! over the same world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "weft:connector/connector",
    // State calls reach storage that flushes to disk: they are async so
    // the host can run them on a blocking thread.
    imports: {
        "weft:connector/state.get": async | trappable,
        "weft:connector/state.set": async | trappable,
        "weft:connector/state.delete": async | trappable,
        "weft:connector/state.keys": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use self::StepError as WitStepError;
pub use self::weft::connector::{log, state};
