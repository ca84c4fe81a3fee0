//! A Weft node in this process: [`InProcessServer::start`] opens
//! `weft::node::Node` over a temp data dir (real sled, real components
//! from target/components), starts its tasks on a runtime of its own and
//! answers requests by calling `Node::router()` with
//! `tower::ServiceExt::oneshot` — no socket, no binary. Its [`Api`]s are
//! the same clients the binary-driven tests use, so a test body can run
//! against both.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use serde_json::Value;
use tower::ServiceExt as _;
use weft::config::Config;
use weft::node::Node;
use weft::server::auth::ensure_operator_token;

use crate::server::{Api, OPERATOR_TOKEN, Resp};
use crate::support::temp_dir;

/// What an [`Api`] talking to an in-process node holds.
#[derive(Clone, Debug)]
pub struct Handle {
    router: Router,
    runtime: tokio::runtime::Handle,
}

impl Handle {
    /// Sends one request through the router and reads the whole answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(Vec<u8>, &str)>,
    ) -> Resp {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some((bytes, content_type)) => request
                .header("content-type", content_type)
                .body(Body::from(bytes)),
            None => request.body(Body::empty()),
        }
        .expect("a valid request");
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let answer = router
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let status = answer.status().as_u16();
            let headers = answer.headers().clone();
            let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .unwrap_or_else(|e| panic!("{path}: reading the body: {e}"));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let json = serde_json::from_str(&text).unwrap_or(Value::Null);
            Resp {
                status,
                headers,
                text,
                json,
            }
        })
    }
}

/// A node in this process, with `WEFT_OPERATOR_TOKEN` set to
/// [`OPERATOR_TOKEN`] and `builtins` registered.
pub struct InProcessServer {
    handle: Handle,
    // Dropped in this order: the node's tasks stop with the runtime, then
    // the data dir goes.
    _node: Node,
    _runtime: Arc<tokio::runtime::Runtime>,
    _data: tempfile::TempDir,
}

impl InProcessServer {
    /// Opens and starts a node over a new temp data dir.
    pub fn start(builtins: Option<PathBuf>) -> Self {
        let data = temp_dir();
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime"),
        );
        let mut config = Config::default();
        config.server.builtins = builtins;
        // Webhook URLs name this address; nothing listens on it.
        let listen: SocketAddr = "127.0.0.1:8080".parse().expect("an address");
        let node = runtime.block_on(async {
            let mut node = Node::open(config, data.path(), listen)
                .await
                .expect("the node opens");
            ensure_operator_token(node.state().store.as_ref(), Some(OPERATOR_TOKEN))
                .expect("the operator token is stored");
            node.start().expect("the node starts");
            node
        });
        Self {
            handle: Handle {
                router: node.router(),
                runtime: runtime.handle().clone(),
            },
            _node: node,
            _runtime: runtime,
            _data: data,
        }
    }

    /// A client with the operator token.
    pub fn api(&self) -> Api {
        self.api_as(Some(OPERATOR_TOKEN))
    }

    /// A client with `token` (or none).
    pub fn api_as(&self, token: Option<&str>) -> Api {
        Api::in_process(self.handle.clone(), token)
    }
}
