//! Host bindings of the `weft:connector` world, generated once from `wit/`.
//! Public (hidden) only so benchmarks can build a raw-wasmtime baseline
//! over the same world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "weft:connector/connector",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use self::StepError as WitStepError;
pub use self::weft::connector::{log, state};
