//! Policy for the guest's outbound HTTP (`wasi:http/outgoing-handler`).
//!
//! Deny by default: until an operator allowlist is configured, every
//! request is refused with `http-request-denied`, and the refusal is
//! recorded on the step so the author sees why.

use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

/// Per-step hooks the wasi:http implementation calls before sending.
#[derive(Debug, Default)]
pub struct OutboundHooks {
    /// Why requests were refused, in order; copied into the step's log.
    pub denials: Vec<String>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        let host = request.uri().host().unwrap_or("").to_owned();
        self.denials.push(format!(
            "outbound request to host {host:?} denied: no outbound hosts are allowed"
        ));
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
