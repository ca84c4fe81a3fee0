//! A run killed between two steps that pass a secret-derived value
//! resumes with the value in clear (from its sealed copy), computing what
//! an uninterrupted run computes, while its records stay redacted.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{SECRET, USER, assert_clean, assert_data_dir_clean, instance, server};
use crate::executions::{execution, finished, start, step};

/// One request the sink received.
struct Received {
    headers: BTreeMap<String, String>,
    body: Value,
}

/// A loopback HTTP service that never answers its first request (the
/// step stays blocked in it until the host dies) and answers every later
/// one `200 {"ok": true}`.
struct Sink {
    url: String,
    rx: mpsc::Receiver<Received>,
}

impl Sink {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { break };
                let Some(received) = read_request(&stream) else {
                    continue;
                };
                if tx.send(received).is_err() {
                    break;
                }
                if n == 0 {
                    held.push(stream);
                } else {
                    let mut stream = stream;
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}",
                    );
                }
            }
        });
        Self { url, rx }
    }

    fn next(&self) -> Received {
        self.rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the step reached the sink")
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Received {
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

#[test]
fn a_resumed_run_reads_secret_derived_outputs_in_clear() {
    let sink = Sink::start();
    let mut server = server("");
    let id = instance(&server, json!({ "sink": sink.url }));
    let api = server.api();
    let exec = start(&api, &id, "relay", &json!({}));

    // Step `creds` is durable before `call` starts; `call` is now blocked
    // in the sink: kill the host there.
    let first = sink.next();
    let basic = format!("Basic {}", STANDARD.encode(format!("{USER}:{SECRET}")));
    assert_eq!(first.headers["authorization"], basic, "uninterrupted value");
    let before = execution(&api, &exec);
    assert_eq!(before["status"], "running", "{before:#}");
    let paths: Vec<&str> = before["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["creds"], "killed during `call`");
    server.restart_after_kill9();
    let api = server.api();

    // The step that was cut off runs again, with what the uninterrupted
    // run gave it.
    let second = sink.next();
    assert_eq!(second.headers["authorization"], basic);
    assert_eq!(second.headers["x-key"], SECRET);
    assert_eq!(second.body, json!({ "upper": SECRET.to_uppercase() }));
    assert_eq!(second.headers["x-key"], first.headers["x-key"]);
    assert_eq!(second.body, first.body);

    let after = finished(&api, &exec);
    assert_eq!(after["status"], "succeeded", "{after:#}");
    assert_eq!(after["resumed"], 1);
    assert_eq!(step(&after, "creds"), step(&before, "creds"), "not re-run");
    assert_eq!(step(&after, "creds")["output"]["key"], "***");
    assert_clean("the resumed execution", &after.to_string(), &[]);
    server.restart();
    assert_data_dir_clean(&server, &[]);
}
