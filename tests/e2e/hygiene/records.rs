//! What executions store and serve: `respond` answers, step inputs,
//! outputs and errors, and trigger headers, with the secret in clear only
//! in the live answer the flow gives its caller.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::{SECRET, SIGNING_KEY, USER, assert_clean, assert_data_dir_clean, instance, server};
use crate::executions::{execution, step};
use crate::triggers::{hook, post_json};

#[test]
fn respond_answers_are_live_in_clear_and_stored_redacted() {
    let mut server = server("");
    let id = instance(&server, json!({}));
    let answer = post_json(&server, &format!("/hooks/{id}/answer"), &json!({}), &[]);
    assert_eq!(answer.status, 200, "{answer:?}");
    // The live answer is the flow's business.
    assert_eq!(answer.headers["x-token"], SECRET);
    let basic = format!("Basic {}", STANDARD.encode(format!("{USER}:{SECRET}")));
    assert_eq!(answer.headers["x-basic"], basic.as_str());
    assert_eq!(answer.json["key"], SECRET);
    assert_eq!(answer.json["upper"], SECRET.to_uppercase());
    let exec = answer.headers["x-weft-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();

    // Every stored and served copy is redacted, derived forms included.
    let api = server.api();
    let shown = api.get(&format!("/v1/executions/{exec}"));
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_clean("GET /v1/executions/{id}", &shown.text, &[]);
    assert_eq!(shown.json["response"]["headers"]["x-token"], "***");
    assert_eq!(
        shown.json["response"]["headers"]["x-basic"],
        format!("Basic {}", STANDARD.encode(format!("{USER}:***")))
    );
    assert_eq!(shown.json["response"]["body"]["key"], "***");
    // A repeat served from the record (the same Idempotency-Key) is the
    // stored copy.
    let first = post_json(
        &server,
        &format!("/hooks/{id}/answer"),
        &json!({}),
        &[("idempotency-key", "k-1")],
    );
    assert_eq!(first.json["key"], SECRET, "{first:?}");
    let repeat = post_json(
        &server,
        &format!("/hooks/{id}/answer"),
        &json!({}),
        &[("idempotency-key", "k-1")],
    );
    assert_eq!(repeat.status, 200, "{repeat:?}");
    assert_eq!(repeat.json["key"], "***", "{repeat:?}");
    let shown_cli = server.weft(["exec", "show", &exec]);
    assert_eq!(shown_cli.code, Some(0), "{shown_cli:?}");
    assert_clean("weft exec show", &shown_cli.stdout, &[]);

    server.restart();
    assert_data_dir_clean(&server, &[]);
}

#[test]
fn inputs_are_rendered_from_redacted_secrets_and_encodings_are_redacted() {
    let server = server("");
    let id = instance(&server, json!({}));
    let answer = post_json(&server, &format!("/hooks/{id}/derived"), &json!({}), &[]);
    assert_eq!(answer.status, 200, "{answer:?}");
    let basic = format!("Basic {}", STANDARD.encode(format!("{USER}:{SECRET}")));
    // The component got (and the caller gets) the real rendering.
    assert_eq!(answer.json["authorization"], basic.as_str(), "{answer:?}");
    assert_eq!(answer.json["upper"], SECRET.to_uppercase());
    let exec = answer.headers["x-weft-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let api = server.api();
    let shown = api.get(&format!("/v1/executions/{exec}"));
    assert_clean("the execution record", &shown.text, &[]);
    let record = execution(&api, &exec);
    let creds = step(&record, "creds");
    // Derived from `***`, not from the secret.
    assert_eq!(
        creds["input"],
        json!({
            "authorization": format!("Basic {}", STANDARD.encode(format!("{USER}:***"))),
            "upper": "***",
            "lower": "***",
        }),
        "{record:#}"
    );
    // The output (the component's echo of the real input) has each
    // encoding redacted.
    let output = creds["output"].to_string();
    assert!(output.contains("***"), "{output}");
    let rejected = step(&record, "rejected");
    let message = rejected["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("fatal"), "{message}");
    assert_eq!(message.matches("***").count(), 2, "{message}");
}

#[test]
fn credential_headers_are_seen_by_the_flow_and_blanked_in_records() {
    let mut server = server("");
    let id = instance(&server, json!({}));
    let body = br#"{"event":"ping"}"#.to_vec();
    let signature = weft::triggers::signature::sign(SIGNING_KEY.as_bytes(), &body);
    let bearer = "Bearer tok-4e1f9c2b7a6d";
    let cookie = "session=cookie-9d8c7b6a5f";
    let api_key = "apikey-1a2b3c4d5e6f";
    let hub = "sha256=hubsig-0f1e2d3c4b5a";
    let headers = [
        ("authorization", bearer),
        ("cookie", cookie),
        ("x-api-key", api_key),
        ("x-acme-sig", signature.as_str()),
        ("x-hub-signature-256", hub),
        ("x-plain", "visible"),
    ];
    let answer = hook(
        &server,
        "POST",
        &format!("/hooks/{id}/headers"),
        &headers,
        Some((body, "application/json")),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    // The flow saw every header in clear.
    assert_eq!(
        answer.json,
        json!({
            "authorization": bearer, "cookie": cookie, "api_key": api_key,
            "signature": signature, "hub": hub, "plain": "visible",
            "auth_len": bearer.len(),
        })
    );
    let exec = answer.headers["x-weft-execution-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let secrets = [bearer, "tok-4e1f9c2b7a6d", cookie, api_key, hub, &signature];
    let api = server.api();
    let shown = api.get(&format!("/v1/executions/{exec}"));
    assert_clean("the execution record", &shown.text, &secrets);
    let trigger = &shown.json["trigger"]["headers"];
    for name in [
        "authorization",
        "cookie",
        "x-api-key",
        "x-acme-sig",
        "x-hub-signature-256",
    ] {
        assert_eq!(trigger[name], "***", "{name}: {trigger:#}");
    }
    assert_eq!(trigger["x-plain"], "visible");
    let seen = step(&shown.json, "seen");
    assert_eq!(seen["input"]["authorization"], "***");
    assert_eq!(
        seen["input"]["auth_len"], 3,
        "rendered from the blanked header"
    );
    assert_eq!(seen["output"]["authorization"], "***", "echoed values too");
    assert_eq!(seen["output"]["plain"], "visible");

    // A replay runs with the headers in clear again (from the sealed copy).
    let replayed = api.post(&format!("/v1/executions/{exec}/replay"), &json!({}));
    assert_eq!(replayed.status, 202, "{replayed:?}");
    let again = crate::executions::finished(&api, replayed.json["execution_id"].as_str().unwrap());
    assert_eq!(again["status"], "succeeded", "{again:#}");
    assert_eq!(step(&again, "seen")["output"]["auth_len"], bearer.len());
    assert_clean("the replay's record", &again.to_string(), &secrets);

    server.restart();
    assert_data_dir_clean(&server, &secrets);
}
