//! Private network namespaces for tests that make the host aim at a
//! non-loopback address (a private, link-local or metadata literal) to
//! prove it is refused: such a test runs in a namespace of its own whose
//! only interface is loopback, so a broken guard can never send a packet
//! off the machine.
//!
//! `unshare -rn` (a user and a network namespace; works unprivileged and
//! as root) with `ip link set lo up`, both from util-linux and iproute2.

use std::process::Command;

use crate::support::{CLI_DEADLINE, Run, run_with_deadline, weft_bin};

/// Set in the environment of a test re-run inside a private namespace.
const INSIDE: &str = "WEFT_TEST_PRIVATE_NETNS";

/// The shell prefix that brings loopback up in the new namespace.
const LO_UP: &str = "ip link set lo up && exec \"$@\"";

/// A command that runs `program ARGS…` in a fresh private network
/// namespace with loopback up.
fn isolated(program: &std::path::Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["-rn", "sh", "-c", LO_UP, "sh"]).arg(program);
    cmd
}

/// Runs `weft ARGS` inside a private network namespace.
pub fn weft_isolated<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = isolated(&weft_bin());
    cmd.args(args);
    run_with_deadline(cmd, CLI_DEADLINE)
}

/// Makes the calling test run inside a private network namespace.
///
/// Returns `true` when the caller is already inside one and should go on
/// with its body. Otherwise it re-runs this test binary with only the test
/// `name` (its path below the crate, e.g. `outbound::policy::refuses`)
/// inside a new namespace, fails if that run fails or ran no test, and
/// returns `false`: the caller returns at once.
pub fn enter(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test executable path");
    let mut cmd = isolated(&exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1");
    let run = run_with_deadline(cmd, CLI_DEADLINE);
    assert_eq!(
        run.code,
        Some(0),
        "{name} failed inside its private network namespace:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("1 passed"),
        "{name} did not run inside its private network namespace:\n{}",
        run.stdout
    );
    false
}
