//! The raw baseline of the order webhook: what this machine can do for
//! the work of one `order-bench` request with nothing of Weft around it.
//!
//! An in-process axum server on `127.0.0.1:0`, on a runtime and threads of
//! its own (two workers, like `weft serve` on two cores), answers every
//! `POST /order` by instantiating `orders-example` twice from one pooled
//! `InstancePre` ([`RawComponent::metered`]: fuel, epoch deadline and pool
//! sized like Weft's sandbox), calling `total` then `status` with the
//! request body as input, exactly as the `order` flow of
//! `components/examples/order-bench/integration.yaml` does, and answering
//! `{order_id, item_count, total, status}` with 200. No persistence, no
//! templates, no routing beyond the one path, no authentication.

use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::raw::RawComponent;

/// The running baseline server; [`RawOrderServer::stop`] shuts it down.
pub(crate) struct RawOrderServer {
    /// `http://127.0.0.1:PORT/order`.
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl RawOrderServer {
    /// Compiles `orders-example` and starts the server on its own thread.
    pub(crate) fn start() -> Self {
        let bytes = std::fs::read(weft_tests::component_path("orders-example"))
            .expect("orders-example component");
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("raw-order".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("raw server runtime");
                runtime.block_on(async move {
                    let raw = Arc::new(RawComponent::metered(&bytes));
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind raw server");
                    let addr = listener.local_addr().expect("raw server address");
                    url_tx
                        .send(format!("http://{addr}/order"))
                        .expect("send url");
                    let app = axum::Router::new()
                        .route("/order", axum::routing::post(order))
                        .with_state(raw);
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await
                        .expect("raw server");
                });
            })
            .expect("raw server thread");
        let url = url_rx.recv().expect("raw server started");
        Self { url, stop, thread }
    }

    /// Stops the server and waits for its thread.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("raw server thread");
    }
}

/// `total` and `status` on the body, answered as the `order` flow answers.
async fn order(State(raw): State<Arc<RawComponent>>, body: String) -> Response {
    let total = raw.call("total", &body).await;
    let status = raw.call("status", &body).await;
    let (Ok(total), Ok(status)) = (total, status) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "step failed").into_response();
    };
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let (total, status) = (parse(&total), parse(&status));
    Json(json!({
        "order_id": total["order_id"],
        "item_count": total["item_count"],
        "total": total["total"],
        "status": status["status"],
    }))
    .into_response()
}
