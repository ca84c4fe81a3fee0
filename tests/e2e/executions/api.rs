//! The executions API and CLI: the manual trigger route, filters and
//! cursor pagination, replay, tenant isolation, bad values, redaction of
//! secrets, and the engine's metrics.

use serde_json::{Value, json};

use super::{execution, finished, instance, server, start, step};
use crate::server::{OPERATOR_TOKEN, TestServer};

/// `POST path` with JSON and extra headers; returns status, headers, body.
fn post_with(
    server: &TestServer,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(OPERATOR_TOKEN)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = response.json().unwrap_or(Value::Null);
    (status, headers, json)
}

fn ids(page: &Value) -> Vec<String> {
    page["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page:#}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_manual_route_starts_durable_executions_once_per_key() {
    let server = server(None);
    let api = server.api();
    let id = instance(&api, "acme", None, true);
    let path = format!("/v1/instances/{id}/flows/quick/run");

    let (status, headers, body) = post_with(&server, &path, &json!({ "n": 7 }), &[]);
    assert_eq!(status, 202, "{body:#}");
    let exec = body["execution_id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/executions/{exec}"));
    let done = finished(&api, &exec);
    assert_eq!(done["status"], "succeeded");
    assert_eq!(
        done["trigger"],
        json!({ "body": { "n": 7 }, "headers": {}, "query": {}, "method": "POST" })
    );
    assert_eq!(step(&done, "hello")["output"], json!({ "n": 7 }));

    // The same Idempotency-Key returns the first execution.
    let key = [("Idempotency-Key", "order-42")];
    let (s1, _, first) = post_with(&server, &path, &json!({ "n": 1 }), &key);
    let (s2, h2, second) = post_with(&server, &path, &json!({ "n": 2 }), &key);
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["execution_id"], second["execution_id"]);
    assert_eq!(h2["idempotent-replayed"], "true");
    let (status, _, bad) = post_with(&server, &path, &json!({}), &[("Idempotency-Key", "a b")]);
    assert_eq!(status, 400, "{bad:#}");

    // Refusals, each naming what is wrong.
    let hook = api.post(&format!("/v1/instances/{id}/flows/hook/run"), &json!({}));
    assert_eq!(hook.status, 409, "{hook:?}");
    assert!(hook.error().contains("webhook trigger"), "{hook:?}");
    let missing = api.post(&format!("/v1/instances/{id}/flows/quik/run"), &json!({}));
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(
        missing.error().contains("did you mean 'quick'?"),
        "{missing:?}"
    );
    let not_json = api.post_bytes(&path, b"{nope".to_vec(), "application/json");
    assert_eq!(not_json.status, 400, "{not_json:?}");
    let created = instance(&api, "acme", None, false);
    let inactive = api.post(
        &format!("/v1/instances/{created}/flows/quick/run"),
        &json!({}),
    );
    assert_eq!(inactive.status, 409, "{inactive:?}");
    assert!(
        inactive.error().contains("is created, not active"),
        "{inactive:?}"
    );

    // Another tenant cannot see or start anything of acme's.
    let operator = server.api();
    operator.post("/v1/tenants", &json!({ "name": "bolt" }));
    let token = operator.post("/v1/tokens", &json!({ "tenant": "bolt" }));
    let bolt = server.api_as(token.json["token"].as_str());
    assert_eq!(bolt.post(&path, &json!({})).status, 404);
    assert_eq!(bolt.get(&format!("/v1/executions/{exec}")).status, 404);
    assert_eq!(
        bolt.post(&format!("/v1/executions/{exec}/replay"), &json!({}))
            .status,
        404
    );
    assert_eq!(ids(&bolt.get("/v1/executions").json), Vec::<String>::new());
    assert_eq!(
        ids(&bolt.get(&format!("/v1/executions?instance={id}")).json),
        Vec::<String>::new()
    );
}

#[test]
fn listing_filters_pages_and_replays() {
    let server = server(None);
    let api = server.api();
    let a = instance(&api, "acme", None, true);
    let b = instance(&api, "bolt", None, true);
    let quick: Vec<String> = (0..5)
        .map(|n| start(&api, &a, "quick", &json!({ "n": n })))
        .collect();
    let boom = start(&api, &a, "boom", &json!({ "n": 9 }));
    let other = start(&api, &b, "quick", &json!({ "n": 100 }));
    for e in quick.iter().chain([&boom, &other]) {
        finished(&api, e);
    }

    // Newest first, filtered, paged with the cursor.
    let all = ids(&api.get(&format!("/v1/executions?instance={a}")).json);
    let mut expected: Vec<String> = quick.iter().chain([&boom]).cloned().collect();
    expected.reverse();
    assert_eq!(all, expected);
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = format!(
            "/v1/executions?instance={a}&flow=quick&limit=2{}",
            cursor.map(|c| format!("&cursor={c}")).unwrap_or_default()
        );
        let page = api.get(&query);
        assert_eq!(page.status, 200, "{page:?}");
        let got = ids(&page.json);
        assert!(got.len() <= 2);
        paged.extend(got);
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut newest_first = quick.clone();
    newest_first.reverse();
    assert_eq!(paged, newest_first);
    let failed = api.get("/v1/executions?status=failed").json;
    assert_eq!(ids(&failed), std::slice::from_ref(&boom));
    assert!(
        failed["executions"][0]["error"]
            .as_str()
            .unwrap()
            .contains("boom 9")
    );
    let listed = &api
        .get(&format!("/v1/executions?flow=quick&instance={b}"))
        .json;
    assert_eq!(ids(listed), std::slice::from_ref(&other));
    assert!(
        listed["executions"][0]["duration_ms"].is_i64(),
        "{listed:#}"
    );

    // Bad values answer 400 naming them.
    for (query, named) in [
        ("status=bogus", "\"bogus\""),
        ("limit=0", "\"0\""),
        ("limit=501", "\"501\""),
        ("limit=ten", "\"ten\""),
        ("cursor=not-an-id", "\"not-an-id\""),
        ("stauts=failed", "stauts"),
    ] {
        let bad = api.get(&format!("/v1/executions?{query}"));
        assert_eq!(bad.status, 400, "{query}: {bad:?}");
        assert!(bad.error().contains(named), "{query}: {bad:?}");
    }

    // A replay: same trigger, linked to the original.
    let (status, headers, replayed) = post_with(
        &server,
        &format!("/v1/executions/{}/replay", quick[3]),
        &json!({}),
        &[],
    );
    assert_eq!(status, 202, "{replayed:#}");
    let new = replayed["execution_id"].as_str().unwrap();
    assert_eq!(headers["location"], format!("/v1/executions/{new}"));
    let new = finished(&api, new);
    let original = execution(&api, &quick[3]);
    assert_eq!(new["replay_of"], quick[3]);
    assert_eq!(new["trigger"], original["trigger"]);
    assert_eq!(new["status"], "succeeded");
    assert_eq!(api.get("/v1/executions/nope").status, 404);

    // Metrics of what ran.
    assert!(server.metric("weft_executions_total{status=\"succeeded\"}") >= Some(7.0));
    assert_eq!(
        server.metric("weft_executions_total{status=\"failed\"}"),
        Some(1.0)
    );
    assert_eq!(
        server.metric("weft_queue_depth{tenant=\"acme\"}"),
        Some(0.0)
    );
    assert_eq!(
        server.metric("weft_queue_depth{tenant=\"bolt\"}"),
        Some(0.0)
    );
    assert!(
        server.metric("weft_step_duration_seconds_count{kind=\"action\",status=\"succeeded\"}")
            >= Some(7.0)
    );
    assert!(server.metric("weft_queue_wait_seconds_count") >= Some(8.0));
    let openapi = api.get("/v1/openapi.json").json;
    for path in [
        "/v1/executions",
        "/v1/executions/{id}",
        "/v1/executions/{id}/replay",
        "/v1/instances/{id}/flows/{flow}/run",
        "/hooks/{instance}/{flow}",
        "/hooks/{instance}",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} not documented");
    }
    let hook = &openapi["paths"]["/hooks/{instance}/{flow}"];
    for method in ["post", "put", "patch", "get", "delete"] {
        assert!(hook[method].is_object(), "webhook {method} not documented");
    }
}

#[test]
fn secrets_never_appear_in_executions_and_the_cli_shows_them_as_stars() {
    const SECRET: &str = "sk-live-5f0c2a9e77d1";
    let server = server(None);
    let api = server.api();
    let id = instance(&api, "acme", Some(SECRET), true);

    let payload = server.scratch().join("payload.json");
    std::fs::write(&payload, r#"{"note": "hi"}"#).unwrap();
    let run = server.weft([
        "instance".as_ref(),
        "run".as_ref(),
        id.as_ref(),
        "secretive".as_ref(),
        "--payload".as_ref(),
        payload.as_os_str(),
        "--wait".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let shown: Value = serde_json::from_str(&run.stdout).expect("json");
    let exec = shown["id"].as_str().unwrap().to_owned();
    assert_eq!(shown["status"], "succeeded", "{shown:#}");
    assert_eq!(shown["trigger"]["body"], json!({ "note": "hi" }));
    assert_eq!(
        step(&shown, "use")["input"],
        json!({ "key": "***", "header": "Bearer ***" })
    );
    assert_eq!(
        step(&shown, "leak")["error"]["message"],
        "fatal error: rejected key ***"
    );

    let api_text = api.get(&format!("/v1/executions/{exec}")).text;
    let list_text = api.get("/v1/executions").text;
    let cli_json = server.weft(["exec", "show", &exec, "--json"]);
    let cli_human = server.weft(["exec", "show", &exec]);
    assert_eq!(cli_human.code, Some(0), "{cli_human:?}");
    for (what, text) in [
        ("GET /v1/executions/{id}", &api_text),
        ("GET /v1/executions", &list_text),
        ("weft instance run --json", &run.stdout),
        ("weft exec show --json", &cli_json.stdout),
        ("weft exec show", &cli_human.stdout),
        ("the server log", &server.stderr()),
    ] {
        assert!(!text.contains(SECRET), "{what} shows the secret:\n{text}");
    }
    assert!(api_text.contains("***"));
    // The human view is a step tree with the figures that matter.
    for needle in [
        "status       succeeded",
        "use  echo@1.0.0 echo",
        "✗ leak",
        "error: rejected key ***",
        "fuel ",
        "attempts 1",
    ] {
        assert!(cli_human.stdout.contains(needle), "{needle}: {cli_human:?}");
    }

    // ls, replay and a failing run through the CLI.
    let ls = server.weft(["exec", "ls", "--flow", "secretive"]);
    assert_eq!(ls.code, Some(0), "{ls:?}");
    assert!(ls.stdout.starts_with("ID"), "{ls:?}");
    assert!(ls.stdout.contains(&exec) && ls.stdout.contains("succeeded"));
    let replay = server.weft(["exec", "replay", &exec, "--json"]);
    assert_eq!(replay.code, Some(0), "{replay:?}");
    let replayed: Value = serde_json::from_str(&replay.stdout).unwrap();
    assert_eq!(replayed["replay_of"], exec);
    let boom = server.weft(["instance", "run", &id, "boom", "--wait"]);
    assert_eq!(boom.code, Some(1), "a failed run exits 1: {boom:?}");
    assert!(boom.stdout.contains("status       failed"), "{boom:?}");
    let bad = server.weft(["exec", "ls", "--status", "bogus"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("unknown status \"bogus\""), "{bad:?}");
}
