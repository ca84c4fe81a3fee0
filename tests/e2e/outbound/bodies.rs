//! Request bodies reach servers that do not read chunked bodies: the SDK
//! (and so the built-in `http` connector) announces the length of every
//! body it sends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use serde_json::{Value, json};

use crate::support::{temp_dir, weft};

/// What the length-only server saw of one request.
#[derive(Debug)]
struct Seen {
    content_length: Option<usize>,
    chunked: bool,
    body: Vec<u8>,
}

/// A one-request HTTP/1.1 server on 127.0.0.1 that, like Python's
/// `http.server`, reads exactly `Content-Length` bytes of body and ignores
/// `Transfer-Encoding` (a chunked body reads as empty).
fn length_only_server() -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/submit", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let (mut content_length, mut chunked) = (None, false);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().ok(),
                "transfer-encoding" => chunked = value.contains("chunked"),
                _ => {}
            }
        }
        let mut body = vec![0; content_length.unwrap_or(0)];
        reader.read_exact(&mut body).unwrap();
        let answer = r#"{"ok":true}"#;
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = tx.send(Seen {
            content_length,
            chunked,
            body,
        });
    });
    (url, rx)
}

#[test]
fn http_connector_post_body_carries_a_content_length() {
    let dir = temp_dir();
    let settings = dir.path().join("weft.toml");
    std::fs::write(
        &settings,
        "[sandbox.outbound]\nallow = [\"127.0.0.1\"]\nallow_cidrs = [\"127.0.0.1/32\"]\n",
    )
    .unwrap();
    let http = weft_tests::component_path(weft_tests::HTTP);
    let sent = json!({"order": 42, "items": ["a", "b"]});

    for method in ["POST", "PUT"] {
        let (url, seen) = length_only_server();
        let input = json!({"method": method, "url": url, "json": sent}).to_string();
        let run = weft([
            "component",
            "call",
            http.to_str().unwrap(),
            "request",
            "--input",
            &input,
            "--settings",
            settings.to_str().unwrap(),
        ]);
        assert_eq!(run.code, Some(0), "{method}: {run:?}");
        let output: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(output["body"], json!({"ok": true}), "{method}: {run:?}");
        let seen = seen
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        assert!(!seen.chunked, "{method} was sent chunked: {seen:?}");
        assert_eq!(
            seen.content_length,
            Some(sent.to_string().len()),
            "{method}: {seen:?}"
        );
        let received: Value = serde_json::from_slice(&seen.body).unwrap();
        assert_eq!(received, sent, "{method}");
    }
}
