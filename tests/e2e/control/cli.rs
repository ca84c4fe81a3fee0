//! The server commands of the CLI against a real server: push, ls, show,
//! rm, tenants, tokens and instances, with `--json` output, the server's
//! error messages and exit codes 0/1/2.

use serde_json::Value;

use super::{SECRET_INTEGRATION, hello_integration};
use crate::server::{ServerOptions, TestServer};

fn json_of(run: &crate::support::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not json ({e}): {run:?}"))
}

#[test]
fn component_push_ls_show_rm() {
    let server = TestServer::start(ServerOptions::default());
    let echo = weft_tests::component_path(weft_tests::ECHO);

    let pushed = server.weft(["component".as_ref(), "push".as_ref(), echo.as_os_str()]);
    assert_eq!(pushed.code, Some(0), "{pushed:?}");
    assert!(
        pushed.stdout.starts_with("pushed echo@1.0.0 (sha256 "),
        "{pushed:?}"
    );
    let again = server.weft(["component".as_ref(), "push".as_ref(), echo.as_os_str()]);
    assert_eq!(again.code, Some(0), "same bytes again is fine: {again:?}");

    let ls = server.weft(["component", "ls"]);
    assert_eq!(ls.code, Some(0));
    assert!(
        ls.stdout
            .lines()
            .any(|l| l.starts_with("echo ") && l.contains("1.0.0")),
        "{ls:?}"
    );
    let ls = server.weft(["component", "ls", "--json"]);
    assert_eq!(json_of(&ls)[0]["name"], "echo");

    let show = server.weft(["component", "show", "echo@1.0.0", "--json"]);
    assert_eq!(json_of(&show)["version"], "1.0.0");

    // Refused by the server: its message, exit 1.
    let file = server.scratch().join("hello.yaml");
    std::fs::write(&file, hello_integration()).unwrap();
    let pushed = server.weft(["integration".as_ref(), "push".as_ref(), file.as_os_str()]);
    assert_eq!(pushed.code, Some(0), "{pushed:?}");
    assert_eq!(pushed.stdout.trim(), "pushed hello@1");
    let rm = server.weft(["component", "rm", "echo@1.0.0"]);
    assert_eq!(rm.code, Some(1), "{rm:?}");
    assert!(
        rm.stderr.contains("component echo@1.0.0 is used by integration versions hello@1; it cannot be deleted (409)"),
        "{rm:?}"
    );
    let rm = server.weft(["component", "rm", "echo@9.9.9"]);
    assert_eq!(rm.code, Some(1));
    assert!(
        rm.stderr.contains("component echo@9.9.9 not found (404)"),
        "{rm:?}"
    );

    // Usage errors exit 2.
    assert_eq!(server.weft(["component", "show"]).code, Some(2));
}

#[test]
fn push_validates_locally_first() {
    let server = TestServer::start(ServerOptions::default());
    let garbage = server.scratch().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let run = server.weft(["component".as_ref(), "push".as_ref(), garbage.as_os_str()]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("garbage.wasm"), "{run:?}");
    assert!(run.stderr.contains("not a WebAssembly file"), "{run:?}");

    let broken = server.scratch().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: t\nversion: 1\nflows:\n  - name: f\n    trigger: { type: webhok }\n    steps: []\n",
    )
    .unwrap();
    let run = server.weft(["integration".as_ref(), "push".as_ref(), broken.as_os_str()]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("broken.yaml is invalid:"), "{run:?}");
    assert!(
        run.stderr
            .contains("flows[0].trigger: unknown variant `webhok`"),
        "{run:?}"
    );
    // Nothing was stored.
    let listed = server.weft(["integration", "ls", "--json"]);
    assert_eq!(json_of(&listed), serde_json::json!([]));
}

#[test]
fn tenant_token_and_instance_round_trip() {
    let server = TestServer::start(ServerOptions::with_builtins());
    let file = server.scratch().join("vault.yaml");
    std::fs::write(&file, SECRET_INTEGRATION).unwrap();
    assert_eq!(
        server
            .weft(["integration".as_ref(), "push".as_ref(), file.as_os_str()])
            .code,
        Some(0)
    );

    let created = server.weft(["tenant", "create", "acme"]);
    assert_eq!(created.code, Some(0), "{created:?}");
    assert_eq!(created.stdout.trim(), "created tenant acme");
    let token = server.weft(["token", "create", "--tenant", "acme"]);
    assert_eq!(token.code, Some(0), "{token:?}");
    let token = token.stdout.trim().to_owned();
    assert!(token.starts_with("weft_"), "{token}");

    let secret_file = server.scratch().join("api_key.txt");
    std::fs::write(&secret_file, "from-a-file-9d1e\n").unwrap();
    let secret_arg = format!("api_key=@{}", secret_file.display());
    let made = server.weft_as(
        &token,
        [
            "instance",
            "create",
            "vault@1",
            "--config",
            "region=us",
            "--secret",
            &secret_arg,
            "--json",
        ],
    );
    assert_eq!(made.code, Some(0), "{made:?}");
    let made = json_of(&made);
    assert_eq!(made["tenant"], "acme");
    assert_eq!(made["secrets"]["api_key"], "***");
    let id = made["id"].as_str().unwrap().to_owned();

    let shown = server.weft_as(&token, ["instance", "show", &id, "--json"]);
    let shown = json_of(&shown);
    assert_eq!(shown["status"], "created");
    assert_eq!(shown["config"]["region"], "us");
    assert_eq!(
        shown["webhooks"]["call"],
        format!("{}/hooks/{id}/call", server.url())
    );
    let enabled = server.weft_as(&token, ["instance", "enable", &id]);
    assert_eq!(enabled.code, Some(0), "{enabled:?}");
    assert!(
        enabled.stdout.contains("status       active"),
        "{enabled:?}"
    );
    let ls = server.weft_as(&token, ["instance", "ls"]);
    assert!(ls.stdout.contains(&id), "{ls:?}");

    // A config problem shows the server's message; the tenant cannot list tenants.
    let bad = server.weft_as(&token, ["instance", "create", "vault@1"]);
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr
            .contains("secrets.api_key: missing required secret 'api_key'"),
        "{bad:?}"
    );
    let denied = server.weft_as(&token, ["tenant", "ls"]);
    assert_eq!(denied.code, Some(1));
    assert!(denied.stderr.contains("(403)"), "{denied:?}");
    assert!(!server.stderr().contains("from-a-file-9d1e"));
}
