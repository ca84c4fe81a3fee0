//! A fake "your app" for the concurrency tests: an axum server on loopback
//! that records when each request began and ended, holds `PUT`s while its
//! gate is closed (without blocking other requests), answers the first
//! `fail_next` `PUT`s with 503, and a `PUT` to an id starting with `bad`
//! with 400.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::server::poll;

/// One thing the app saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `begin` when a request arrived, `end` when it was answered.
    pub phase: &'static str,
    /// `GET`, `PUT`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The body's `seq`, if any.
    pub seq: Option<u64>,
    /// The answer's status (`end` only).
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    events: Mutex<Vec<Event>>,
    fail_next: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running fake app; stops when dropped.
pub struct App {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    gate: watch::Sender<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl App {
    /// An app whose gate is `open`.
    pub fn start(open: bool) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake app");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared::default());
        let (gate, gate_rx) = watch::channel(open);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake app runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app =
                    axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
                        let shared = state.clone();
                        let mut gate = gate_rx.clone();
                        async move { answer(&shared, &mut gate, method, uri, body).await }
                    });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            url,
            shared,
            gate,
            stop: Some(stop),
        }
    }

    /// Lets held and later `PUT`s through.
    pub fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Answers the next `n` `PUT`s with 503.
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Everything seen so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.shared.events.lock().unwrap().clone()
    }

    /// Most requests in progress at once so far.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits (up to `deadline`) until `count` events match `pred`.
    pub fn wait_for(&self, deadline: Duration, count: usize, pred: impl Fn(&Event) -> bool) {
        let seen = poll(deadline, || {
            self.events().iter().filter(|e| pred(e)).count() >= count
        });
        assert!(
            seen,
            "the app did not see {count} matching events within {deadline:?}: {:#?}",
            self.events()
        );
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn answer(
    shared: &Shared,
    gate: &mut watch::Receiver<bool>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event = |phase, status| Event {
        phase,
        method: method.to_string(),
        path: uri.path().to_owned(),
        seq: body["seq"].as_u64(),
        status,
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    shared.events.lock().unwrap().push(event("begin", 0));
    let status = if method == Method::PUT {
        let _ = gate.wait_for(|open| *open).await;
        let failing = shared
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            StatusCode::SERVICE_UNAVAILABLE
        } else if uri
            .path()
            .rsplit('/')
            .next()
            .is_some_and(|id| id.starts_with("bad"))
        {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        }
    } else {
        StatusCode::NOT_FOUND
    };
    shared
        .events
        .lock()
        .unwrap()
        .push(event("end", status.as_u16()));
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    (
        status,
        axum::Json(json!({ "ok": status == StatusCode::OK })),
    )
}
