//! The layering check: which top-level modules of `host/src` may name
//! which others. The test reads every `host/src/**/*.rs`, collects the
//! `crate::x` paths in code (in `use` items, `use crate::{a, b}` groups,
//! paths in expressions and serde `with = "crate::…"` strings; comments
//! are skipped), and fails on an edge between two top-level modules that
//! [`ALLOWED`] does not list, and on a listed edge no code has any more.
//! A deliberate change of the layering is one line of the table.

/// `(from, to)`: code in module `from` may name `crate::to`. Grouped by
/// layer, top to bottom: every edge points to a later group (or within
/// one, down its listed order), so the pipeline trigger → queue → flow →
/// sandbox → storage has no way back up. Two tests-only edges from the
/// sandbox are the exception, marked.
const ALLOWED: &[(&str, &str)] = &[
    // Wiring: the CLI drives everything; node.rs is the composition root
    // and implements the engine's InstanceSource port with the instances.
    ("cli", "config"),
    ("cli", "flow"),
    ("cli", "instances"),
    ("cli", "integration"),
    ("cli", "integration_versions"),
    ("cli", "model"),
    ("cli", "node"),
    ("cli", "sandbox"),
    ("cli", "server"),
    ("cli", "storage"),
    ("cli", "units"),
    ("node", "brokers"),
    ("node", "config"),
    ("node", "console"),
    ("node", "flow"),
    ("node", "instances"),
    ("node", "integration"),
    ("node", "metrics"),
    ("node", "submit"),
    ("node", "registry"),
    ("node", "sandbox"),
    ("node", "server"),
    ("node", "storage"),
    ("node", "triggers"),
    // The web console forwards to the API and checks sign-in tokens.
    ("console", "server"),
    ("console", "storage"),
    // The HTTP API: merges the webhook trigger's router and OpenAPI part.
    ("server", "brokers"), // /readyz shows the brokers; uploads check broker names
    ("server", "config"),
    ("server", "flow"),
    ("server", "instances"),
    ("server", "integration"),
    ("server", "integration_versions"),
    ("server", "metrics"),
    ("server", "model"),
    ("server", "submit"),
    ("server", "registry"),
    ("server", "sandbox"),
    ("server", "storage"),
    ("server", "triggers"),
    // Triggers start executions through submit::Submit, never the engine.
    ("triggers", "egress"),
    ("triggers", "instances"),
    ("triggers", "integration"),
    ("triggers", "model"),
    ("triggers", "submit"),
    ("triggers", "storage"),
    ("triggers", "template"),
    ("triggers", "units"),
    // Queue triggers (message brokers) too.
    ("brokers", "instances"),
    ("brokers", "integration"),
    ("brokers", "metrics"),
    ("brokers", "submit"),
    ("brokers", "storage"),
    ("brokers", "units"),
    // Instances own their Lifecycle and InstanceListener ports (the
    // lifecycle trigger and the scheduler implement them).
    ("instances", "integration"),
    ("instances", "integration_versions"),
    ("instances", "model"),
    ("instances", "submit"), // the lifecycle idempotency key
    ("instances", "sandbox"),
    ("instances", "storage"),
    ("integration_versions", "integration"),
    ("integration_versions", "model"),
    ("integration_versions", "storage"),
    // The executor implements submit::Submit; components come through the
    // sandbox's ComponentSource port, instances through its own.
    ("flow", "config"), // the [engine] settings
    ("flow", "integration"),
    ("flow", "metrics"),
    ("flow", "model"),
    ("flow", "submit"),
    ("flow", "sandbox"),
    ("flow", "storage"),
    ("flow", "template"),
    ("flow", "units"),
    ("registry", "metrics"),
    ("registry", "model"),
    ("registry", "sandbox"), // implements ComponentSource
    ("registry", "storage"),
    ("submit", "model"),
    ("submit", "storage"),
    // Leaves: settings, records and the sandbox.
    ("config", "brokers"), // to move: [brokers] settings are typed in brokers/settings.rs
    ("config", "sandbox"),
    ("config", "units"),
    ("metrics", "sandbox"),
    ("storage", "integration"),
    ("storage", "model"),
    ("storage", "sandbox"),
    ("integration", "sandbox"),
    ("integration", "template"),
    ("model", "sandbox"), // StepError and LogLine ride in step records
    ("model", "units"),
    ("sandbox", "egress"),
    ("sandbox", "model"), // tests only: a StepError inside a stored step record
    ("sandbox", "storage"), // tests only: the step record's storage encoding
    ("sandbox", "units"),
    ("egress", "units"),
];

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The code of `source` with comments blanked out; string and character
/// literals are kept (serde's `with = "crate::…"` names a dependency).
fn without_comments(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            i += end;
            out.push(' ');
        } else if rest.starts_with('"') {
            // A string literal, escapes included.
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => {
                        j += 1;
                        break;
                    }
                    _ => j += 1,
                }
            }
            let j = j.min(rest.len());
            out.push_str(&rest[..j]);
            i += j;
        } else if rest.starts_with("'\"'") {
            // The one character literal that would open a string.
            out.push_str("' '");
            i += 3;
        } else {
            let c = rest.chars().next().expect("not at the end");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The top-level module names that `code` reaches with `crate::…`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at;
        from = start + "crate::".len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each item
            // at depth one.
            let mut depth = 1;
            let mut item_start = true;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if depth == 1 && item_start && !c.is_whitespace() => {
                        item_start = false;
                        let name = ident(&group[k..]);
                        if !name.is_empty() {
                            found.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The top-level module a file of `src` belongs to: `flow` for
/// `src/flow.rs` and `src/flow/**`, `None` for the crate root files.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reads the source dir") {
        let path = entry.expect("reads a dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every edge between two top-level modules, with a file that makes it.
fn edges(src: &Path) -> BTreeMap<(String, String), PathBuf> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in files {
        // This file's test snippets name modules on purpose.
        let Some(from) = top_module(src, &file).filter(|m| m != "layering") else {
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("reads a source file");
        for to in crate_paths(&without_comments(&source)) {
            if to != from && modules.contains(&to) {
                edges
                    .entry((from.clone(), to))
                    .or_insert_with(|| file.strip_prefix(src).unwrap_or(&file).to_owned());
            }
        }
    }
    edges
}

/// Edges not in `allowed`, and allowed edges that no code makes.
fn check(
    edges: &BTreeMap<(String, String), PathBuf>,
    allowed: &[(&str, &str)],
) -> (Vec<String>, Vec<String>) {
    let allowed: BTreeSet<(String, String)> = allowed
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let refused = edges
        .iter()
        .filter(|(edge, _)| !allowed.contains(*edge))
        .map(|((a, b), file)| format!("{a} -> {b} (first in host/src/{})", file.display()))
        .collect();
    let stale = allowed
        .iter()
        .filter(|edge| !edges.contains_key(*edge))
        .map(|(a, b)| format!("(\"{a}\", \"{b}\")"))
        .collect();
    (refused, stale)
}

#[test]
fn modules_import_only_what_the_layering_table_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    assert!(
        edges.contains_key(&("storage".to_owned(), "model".to_owned())),
        "the scan found no storage -> model edge; is it reading {}?",
        src.display()
    );
    let (refused, stale) = check(&edges, ALLOWED);
    assert!(
        refused.is_empty(),
        "imports the layering table in host/src/layering.rs does not allow:\n  {}\n\
         import from a lower module instead, or, if the layering changes on \
         purpose, add the edge to ALLOWED",
        refused.join("\n  ")
    );
    assert!(
        stale.is_empty(),
        "edges in ALLOWED (host/src/layering.rs) that no code makes any more; \
         delete their lines:\n  {}",
        stale.join("\n  ")
    );
}

#[test]
fn the_scan_sees_every_way_of_naming_a_module() {
    let code = without_comments(
        r#"
        use crate::server::AppState;
        use crate::{flow, model::{ExecutionRecord, StepRecord}, units::ByteSize};
        fn f() { crate::triggers::start::accepted("x"); }
        #[serde(with = "crate::sandbox::x")]
        // use crate::registry::Registry;
        /* crate::cli */ let quote = '"'; let s = "crate::metrics in a string";
        macro_rules! m { () => { $crate::instances::x } }
        "#,
    );
    let found: Vec<String> = crate_paths(&code).into_iter().collect();
    assert_eq!(
        found,
        [
            "flow", "metrics", "model", "sandbox", "server", "triggers", "units"
        ]
    );
}

#[test]
fn a_new_upward_import_fails_the_check() {
    let mut edges = BTreeMap::new();
    edges.insert(
        ("storage".to_owned(), "server".to_owned()),
        PathBuf::from("storage/mod.rs"),
    );
    edges.insert(
        ("storage".to_owned(), "model".to_owned()),
        PathBuf::from("storage/executions.rs"),
    );
    let (refused, stale) = check(&edges, &[("storage", "model"), ("server", "storage")]);
    assert_eq!(
        refused,
        ["storage -> server (first in host/src/storage/mod.rs)"]
    );
    assert_eq!(stale, ["(\"server\", \"storage\")"]);
}
