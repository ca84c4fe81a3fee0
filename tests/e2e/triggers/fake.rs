//! Fake third-party services for trigger tests: an axum server on
//! loopback, in its own thread and runtime, that records every request and
//! answers through a closure the test gives. Tests wait for requests on a
//! channel ([`Fake::wait_for`]) instead of sleeping.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

/// One request a fake received.
#[derive(Clone, Debug)]
pub struct Hit {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query.
    pub query: String,
    /// Headers by lowercase name.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

type Handler = dyn Fn(&Hit) -> (u16, Value) + Send + Sync;

/// A running fake service; stops when dropped.
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    rx: Mutex<mpsc::Receiver<Hit>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Fake {
    /// A fake answering every request with `respond(hit)`.
    pub fn start(respond: impl Fn(&Hit) -> (u16, Value) + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a fake service");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (tx, rx) = mpsc::channel();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let respond: Arc<Handler> = Arc::new(respond);
        let recorded = hits.clone();
        let tx = Arc::new(Mutex::new(tx));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let respond = respond.clone();
                        let recorded = recorded.clone();
                        let tx = tx.clone();
                        async move {
                            let hit = Hit {
                                method: method.to_string(),
                                path: uri.path().to_owned(),
                                query: uri.query().unwrap_or("").to_owned(),
                                headers: headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (
                                            k.to_string(),
                                            String::from_utf8_lossy(v.as_bytes()).into(),
                                        )
                                    })
                                    .collect(),
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            };
                            let (status, answer) = respond(&hit);
                            recorded.lock().unwrap().push(hit.clone());
                            let _ = tx.lock().unwrap().send(hit);
                            let status = StatusCode::from_u16(status).unwrap();
                            if status == StatusCode::NO_CONTENT {
                                status.into_response()
                            } else {
                                (status, axum::Json(answer)).into_response()
                            }
                        }
                    },
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            url,
            rx: Mutex::new(rx),
            hits,
            stop: Some(stop),
        }
    }

    /// A fake answering `200 {"ok": true}` to everything.
    pub fn recorder() -> Self {
        Self::start(|_| (200, serde_json::json!({ "ok": true })))
    }

    /// The first request matching `pred`, received before or within
    /// `deadline`; `None` if none came.
    pub fn wait_for(&self, deadline: Duration, pred: impl Fn(&Hit) -> bool) -> Option<Hit> {
        let end = Instant::now() + deadline;
        let rx = self.rx.lock().unwrap();
        loop {
            if let Some(hit) = self.hits().into_iter().find(|h| pred(h)) {
                return Some(hit);
            }
            let left = end.checked_duration_since(Instant::now())?;
            // Any new request may match: look again.
            let _ = rx.recv_timeout(left);
        }
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A fake service that accepts every request and holds it open until the
/// test releases it (then it, and every later request, gets
/// `200 {"ok": true}`): a third party that is slow for exactly as long as
/// the test needs, e.g. to kill the host in the middle of a step.
pub struct HeldFake {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    arrived: Arc<Mutex<Vec<String>>>,
    open: tokio::sync::watch::Sender<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl HeldFake {
    /// Starts the fake, holding requests.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a fake service");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let arrived = Arc::new(Mutex::new(Vec::new()));
        let (open, opened) = tokio::sync::watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let recorded = arrived.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = axum::Router::new().fallback(move |uri: Uri| {
                    let recorded = recorded.clone();
                    let mut opened = opened.clone();
                    async move {
                        recorded.lock().unwrap().push(uri.path().to_owned());
                        let _ = opened.wait_for(|open| *open).await;
                        axum::Json(serde_json::json!({ "ok": true }))
                    }
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
            arrived,
            open,
            stop: Some(stop),
        }
    }

    /// Waits until `n` requests to `path` have arrived (held or not);
    /// false after `deadline`.
    pub fn wait_arrivals(&self, path: &str, n: usize, deadline: Duration) -> bool {
        crate::server::poll(deadline, || {
            self.arrived
                .lock()
                .unwrap()
                .iter()
                .filter(|p| *p == path)
                .count()
                >= n
        })
    }

    /// Answers the held requests and every later one at once.
    pub fn release(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for HeldFake {
    fn drop(&mut self) {
        self.release();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
