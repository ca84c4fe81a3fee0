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
//!
//! [`RawOrderServer::start_durable`] adds to that the storage work of one
//! sync execution, through Weft's own sled store on a data dir of its
//! own: the record and its queue entry, the `running` mark, a record per
//! step (`total`, `status`, the answer), one group-committed fsync before
//! the second component call and the end, flushed after the answer. Still
//! no engine, templates, routing, authentication or queue claims: the gap
//! between it and the plain baseline is what durability costs, the gap
//! between it and Weft is everything else.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use weft::model::{ExecutionRecord, ExecutionStatus, FlowResponse, StepRecord, StepStatus};
use weft::storage::{ExecutionStore as _, QueueEntry, SledStore, Storage as _};

use crate::raw::RawComponent;

/// What a request handler has: the component and, for the durable
/// baseline, the store.
struct Raw {
    component: RawComponent,
    store: Option<SledStore>,
}

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
        Self::start_with(None)
    }

    /// The same, storing each request as a sync execution in a sled store
    /// under `dir`.
    pub(crate) fn start_durable(dir: &Path) -> Self {
        Self::start_with(Some(SledStore::open(dir).expect("raw baseline store")))
    }

    fn start_with(store: Option<SledStore>) -> Self {
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
                    let raw = Arc::new(Raw {
                        component: RawComponent::metered(&bytes),
                        store,
                    });
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

/// `total` and `status` on the body, answered as the `order` flow answers
/// (stored on the way when the server has a store).
async fn order(State(raw): State<Arc<Raw>>, body: String) -> Response {
    let stored = raw.store.as_ref().map(|store| (store, begin(store, &body)));
    let total = raw.component.call("total", &body).await;
    if let (Some((store, id)), Ok(output)) = (&stored, &total) {
        store
            .put_step(id, &step("total", &body, output))
            .expect("put step");
        // Before the second component call, as the engine does.
        store.durable().await.expect("durable");
    }
    let status = raw.component.call("status", &body).await;
    let (Ok(total), Ok(status)) = (total, status) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "step failed").into_response();
    };
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let answer = json!({
        "order_id": parse(&total)["order_id"],
        "item_count": parse(&total)["item_count"],
        "total": parse(&total)["total"],
        "status": parse(&status)["status"],
    });
    if let Some((store, id)) = stored {
        store
            .put_step(&id, &step("status", &body, &status))
            .expect("put step");
        let reply = answer.to_string();
        store
            .put_step(&id, &step("reply", &reply, &reply))
            .expect("put step");
        store
            .update_execution(&id, &mut |r| {
                r.status = ExecutionStatus::Succeeded;
                r.output = Some(answer.clone());
                r.response = Some(FlowResponse {
                    status: 200,
                    headers: Default::default(),
                    body: answer.clone(),
                });
                r.finished_at = Some(Utc::now());
            })
            .expect("end");
        // The end reaches the disk after the answer (nobody waits for it).
        let store = store.clone();
        tokio::spawn(async move { store.durable().await });
    }
    Json(answer).into_response()
}

/// Stores a new sync execution of `body` with its queue entry and marks
/// it running; returns its id.
fn begin(store: &SledStore, body: &str) -> String {
    let trigger = json!({ "body": serde_json::from_str::<Value>(body).unwrap_or(Value::Null) });
    let record = ExecutionRecord::queued("acme", "raw", "order-bench@1", "order", trigger);
    let entry = QueueEntry::new(&record.id, "acme", "raw", "order");
    store
        .create_execution(&record, &entry)
        .expect("create execution");
    store
        .update_execution(&record.id, &mut |r| {
            r.status = ExecutionStatus::Running;
            r.started_at = Some(Utc::now());
        })
        .expect("running mark");
    record.id
}

/// The record of step `id` that got `input` and answered `output`.
fn step(id: &str, input: &str, output: &str) -> StepRecord {
    let json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    StepRecord {
        path: id.to_owned(),
        step: id.to_owned(),
        kind: "action".into(),
        component: Some("orders-example@1.0.0".into()),
        action: Some(id.to_owned()),
        status: StepStatus::Succeeded,
        input: Some(json(input)),
        output: Some(json(output)),
        error: None,
        logs: Vec::new(),
        attempts: 1,
        duration: Duration::ZERO,
        fuel_used: 0,
        peak_memory: 0,
        started_at: Utc::now(),
        sealed_output: None,
    }
}
