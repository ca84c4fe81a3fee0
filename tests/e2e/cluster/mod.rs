//! Several real `weft serve` nodes on one PostgreSQL database (each with
//! its own data dir for its compiled artifacts, all with the same master
//! key): what one node stores, the others serve and run; a node's
//! acknowledged executions survive `kill -9` (three nodes under load,
//! `kill9.rs`); a sync webhook is answered by the node that received it
//! whichever node ran it (`sync.rs`); one node fires the schedules and
//! another takes over when it dies; a database that goes away shows in
//! `/readyz`; a bad store URL stops the start with a clear error.

mod kill9;
mod sync;

use std::time::Duration;

use serde_json::json;

use crate::executions::{INTEGRATION, finished};
use crate::server::{ServerOptions, TestServer, poll};
use crate::triggers::post_json;

/// The master key every node of a test cluster shares (base64 of 32
/// bytes): secrets sealed on one node open on the others.
const MASTER_KEY: &str = "d2VmdC1jbHVzdGVyLXRlc3QtbWFzdGVyLWtleS0zMmI=";

fn node(url: &str, builtins: bool) -> TestServer {
    let base = if builtins {
        ServerOptions::with_builtins()
    } else {
        ServerOptions::default()
    };
    node_with(url, base)
}

/// A node on `url` started with `options` (and the cluster's store and
/// master key).
fn node_with(url: &str, options: ServerOptions) -> TestServer {
    let mut args = options.args.clone();
    args.extend(["--store".to_owned(), url.to_owned()]);
    let mut env = options.env.clone();
    env.push(("WEFT_MASTER_KEY".into(), MASTER_KEY.into()));
    TestServer::start(ServerOptions {
        args,
        env,
        ..options
    })
}

const HELLO: &str = r#"
name: hello
version: 1
config:
  - { key: greeting, type: string, default: "hello" }
  - { key: api_key, type: secret }
flows:
  - name: echo
    trigger: { type: webhook, mode: sync, timeout: 60s }
    steps:
      - id: echo
        component: echo@1.0.0
        action: echo
        input: { body: "{{ trigger.body }}", key: "{{ config.api_key }}" }
      - id: reply
        respond:
          status: 200
          body: { echoed: "{{ steps.echo }}" }
  - name: count
    trigger: { type: webhook }
    steps:
      - id: bump
        component: echo@1.0.0
        action: echo
        input: { n: "{{ trigger.body.n }}" }
"#;

#[test]
fn a_component_pushed_to_one_node_runs_on_the_others() {
    let url = crate::pg::database();
    let a = node(&url, false);
    let b = node(&url, false);
    let c = node(&url, false);
    let echo = std::fs::read(weft_tests::component_path(weft_tests::ECHO)).unwrap();
    let pushed = a.api().push_component(echo);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    // B validates the integration against a component only A compiled.
    let integration = b.api().push_integration(HELLO);
    assert_eq!(integration.status, 201, "{integration:?}");
    let listed = b.api().get("/v1/components");
    assert!(listed.text.contains("echo"), "{listed:?}");
    assert_eq!(
        b.api().post("/v1/tenants", &json!({"name": "acme"})).status,
        201
    );
    let made = b.api().post(
        "/v1/instances",
        &json!({"integration": "hello@1", "tenant": "acme", "secrets": {"api_key": "s3cret"}}),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.json["id"].as_str().unwrap().to_owned();
    assert_eq!(b.api().enable(&id).json["status"], "active");
    // A and C see the instance B created and open the secret B sealed; an
    // idle receiving node runs its sync webhook itself, so its caller
    // gets the answer in clear.
    for server in [&a, &b, &c] {
        let answer = post_json(server, &format!("/hooks/{id}/echo"), &json!({"hi": 1}), &[]);
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.json["echoed"]["body"],
            json!({"hi": 1}),
            "{answer:?}"
        );
        assert_eq!(answer.json["echoed"]["key"], "s3cret", "{answer:?}");
    }
    // Any node reads the executions of all.
    let listed = c
        .api()
        .get(&format!("/v1/executions?instance={id}&flow=echo"));
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(
        listed.json["executions"].as_array().map(Vec::len),
        Some(3),
        "{listed:?}"
    );
    let loaded = [&b, &c]
        .iter()
        .filter(|n| {
            n.stderr()
                .contains("loaded a component another node stored")
        })
        .count();
    assert!(loaded >= 1, "no node loaded the component A stored");
}

#[test]
fn one_node_on_postgres_keeps_acknowledged_work_across_kill9() {
    let url = crate::pg::database();
    let mut server = node(&url, true);
    assert_eq!(server.api().push_integration(INTEGRATION).status, 201);
    let instance = crate::executions::instance(&server.api(), "acme", Some("k"), true);
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(crate::executions::start(
            &server.api(),
            &instance,
            "nap",
            &json!({"ms": 300, "n": n}),
        ));
    }
    server.restart_after_kill9();
    for id in &ids {
        let done = finished(&server.api(), id);
        assert_eq!(done["status"], "succeeded", "{done:#}");
        assert_eq!(
            done["output"],
            json!({"n": done["trigger"]["body"]["n"]}),
            "{done:#}"
        );
    }
}

#[test]
fn readyz_follows_the_database() {
    let url = crate::pg::database();
    let server = node(&url, false);
    let ready = |server: &TestServer| {
        reqwest::blocking::get(format!("{}/readyz", server.url()))
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(ready(&server), 200);
    let db = url.rsplit('/').next().unwrap().to_owned();
    crate::pg::psql(
        &url.replace(&db, "postgres"),
        &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"),
    );
    crate::pg::terminate_connections(&url);
    assert!(
        poll(Duration::from_secs(30), || ready(&server) == 503),
        "readyz stayed up without the database"
    );
    // Requests needing the store fail cleanly, never a crash.
    let listed = server.api().get("/v1/tenants");
    assert!(listed.status >= 500, "{listed:?}");
    crate::pg::psql(
        &url.replace(&db, "postgres"),
        &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"),
    );
    assert!(
        poll(Duration::from_secs(30), || ready(&server) == 200),
        "readyz did not come back with the database"
    );
    assert_eq!(server.api().get("/v1/tenants").status, 200);
}

#[test]
fn a_bad_store_is_a_clear_error_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://weft:pw-not-shown@127.0.0.1:{port}/weft");
    let failed = TestServer::start_in(
        ServerOptions {
            args: vec!["--store".into(), url],
            ..ServerOptions::default()
        },
        crate::support::temp_dir(),
    )
    .expect_err("started without its database");
    assert_ne!(failed.code, Some(0));
    assert!(
        failed.stderr.contains(&format!("127.0.0.1:{port}/weft")),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("pw-not-shown"), "{}", failed.stderr);
    let other = TestServer::start_in(
        ServerOptions {
            env: vec![("WEFT_STORE".into(), "mysql://db/weft".into())],
            ..ServerOptions::default()
        },
        crate::support::temp_dir(),
    )
    .expect_err("started on an unsupported store");
    assert!(
        other.stderr.contains("unsupported store"),
        "{}",
        other.stderr
    );
}

const TICKER: &str = r#"
name: ticker
version: 1
flows:
  - name: tick
    trigger: { type: schedule, cron: "* * * * * *" }
    steps:
      - id: at
        component: echo@1.0.0
        action: echo
        input: { at: "{{ trigger.scheduled_at }}" }
  - name: catch
    trigger: { type: schedule, cron: "* * * * * *", catch_up: once }
    steps:
      - id: at
        component: echo@1.0.0
        action: echo
        input: { at: "{{ trigger.scheduled_at }}" }
"#;

/// How many of `instance`'s `catch` executions were caught up (fired for
/// a due time missed while no node led).
fn caught_up(server: &TestServer, instance: &str) -> usize {
    let page = server.api().get(&format!(
        "/v1/executions?instance={instance}&flow=catch&limit=500"
    ));
    assert_eq!(page.status, 200, "{page:?}");
    page.json["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let id = e["id"].as_str().unwrap();
            let full = server.api().get(&format!("/v1/executions/{id}"));
            full.json["trigger"]["caught_up"] == true
        })
        .count()
}

/// The due times of `instance`'s tick executions, as stored (one entry per
/// execution).
fn due_times(server: &TestServer, instance: &str) -> Vec<String> {
    let page = server.api().get(&format!(
        "/v1/executions?instance={instance}&flow=tick&limit=500"
    ));
    assert_eq!(page.status, 200, "{page:?}");
    page.json["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let id = e["id"].as_str().unwrap();
            let full = server.api().get(&format!("/v1/executions/{id}"));
            full.json["trigger"]["scheduled_at"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// `weft_scheduler_leader` of `server` (1 while it fires the schedules).
fn leads(server: &TestServer) -> Option<f64> {
    server.metric("weft_scheduler_leader")
}

fn readyz(server: &TestServer) -> String {
    server.api_as(None).get("/readyz").text
}

/// One of three nodes leads and fires; killed with `kill -9`, one of the
/// other two takes over.
#[test]
fn a_per_second_schedule_fires_once_per_due_time_across_three_nodes_while_the_leader_dies() {
    let url = crate::pg::database();
    let nodes = [node(&url, true), node(&url, true), node(&url, true)];
    let api = nodes[0].api();
    assert_eq!(api.push_integration(TICKER).status, 201);
    assert_eq!(
        api.post("/v1/tenants", &json!({"name": "acme"})).status,
        201
    );
    let made = api.post(
        "/v1/instances",
        &json!({"integration": "ticker@1", "tenant": "acme"}),
    );
    let id = made.json["id"].as_str().unwrap().to_owned();
    assert_eq!(api.enable(&id).json["status"], "active");
    let roles = |nodes: &[TestServer]| nodes.iter().map(leads).collect::<Vec<_>>();
    let one_leader = |roles: &[Option<f64>]| {
        roles.iter().filter(|r| **r == Some(1.0)).count() == 1 && roles.iter().all(|r| r.is_some())
    };
    // Exactly one node leads.
    assert!(
        poll(Duration::from_secs(30), || one_leader(&roles(&nodes))),
        "not exactly one leader: {:?}",
        roles(&nodes)
    );
    let [mut leader, standbys @ ..] = {
        let mut nodes = nodes;
        let first = nodes.iter().position(|n| leads(n) == Some(1.0)).unwrap();
        nodes.swap(0, first);
        nodes
    };
    assert!(
        readyz(&leader).contains("scheduler: leader"),
        "{}",
        readyz(&leader)
    );
    for standby in &standbys {
        assert!(
            readyz(standby).contains("scheduler: standby"),
            "{}",
            readyz(standby)
        );
    }
    assert!(poll(Duration::from_secs(60), || due_times(
        &standbys[0],
        &id
    )
    .len()
        >= 3));
    assert!(leader.stderr().contains("became the scheduler leader"));
    for standby in &standbys {
        assert!(!standby.stderr().contains("became the scheduler leader"));
        assert!(
            !standby.stderr().contains("schedule fired"),
            "only the leader fires"
        );
    }
    assert_eq!(caught_up(&standbys[0], &id), 0);
    leader.kill9();
    // The lease (5 s) expires and one standby takes over.
    assert!(
        poll(Duration::from_secs(30), || one_leader(&roles(&standbys))),
        "no single standby took over: {:?}",
        roles(&standbys)
    );
    let new_leader = standbys.iter().find(|n| leads(n) == Some(1.0)).unwrap();
    assert!(new_leader.wait_for_stderr("became the scheduler leader", Duration::from_secs(5)));
    assert!(readyz(new_leader).contains("scheduler: leader"));
    let before = due_times(new_leader, &id).len();
    assert!(
        poll(Duration::from_secs(60), || due_times(new_leader, &id).len()
            >= before + 3),
        "the schedule stopped with the leader"
    );
    let times = due_times(&standbys[0], &id);
    let unique: std::collections::BTreeSet<&String> = times.iter().collect();
    assert_eq!(unique.len(), times.len(), "a due time ran twice: {times:?}");
    assert!(times.iter().all(|t| !t.is_empty()), "{times:?}");
    // Due times passed while nobody led: the new leader fires one
    // caught-up run for a flow with `catch_up: once`.
    assert_eq!(caught_up(new_leader, &id), 1);
}
