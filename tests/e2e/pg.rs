//! A private PostgreSQL 15 for the test run: [`database`] starts it once
//! (Debian's `postgresql` package, binaries under
//! `/usr/lib/postgresql/15/bin` or `$WEFT_PG_BIN`), `initdb` into a temp
//! dir owned by the unprivileged `postgres` user (PostgreSQL refuses to run
//! as root), listening on a free loopback port, and hands every caller a
//! database of its own (`CREATE DATABASE`), so tests run in parallel.
//!
//! The server runs under a small supervising shell whose stdin is a pipe
//! from this process: when the test process exits, however it exits, the
//! pipe closes, the shell stops PostgreSQL (`SIGQUIT`, immediate shutdown)
//! and removes the temp dir. Nothing is left behind.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long PostgreSQL may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The user PostgreSQL runs as when the tests run as root.
const PG_USER: &str = "postgres";

/// The running server of this test process.
struct Server {
    port: u16,
    bin: PathBuf,
    /// Held open: closing it stops the server.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
    /// Serialises `CREATE DATABASE`.
    create: Mutex<u32>,
}

fn bin_dir() -> PathBuf {
    std::env::var_os("WEFT_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn is_root() -> bool {
    // /proc/self belongs to the process's effective user.
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `cmd` run as the PostgreSQL user when we are root.
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            PG_USER,
            "--regid",
            PG_USER,
            "--init-groups",
            "--reset-env",
        ])
        .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("pick a free loopback port")
}

fn start() -> Result<Server, String> {
    let bin = bin_dir();
    if !bin.join("initdb").exists() {
        return Err(format!(
            "{} has no initdb: install Debian's postgresql package (make test-setup) or set WEFT_PG_BIN",
            bin.display()
        ));
    }
    let root = tempfile::Builder::new()
        .prefix("weft-pg-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();
    if is_root() {
        let status = Command::new("chown")
            .arg(format!("{PG_USER}:{PG_USER}"))
            .arg(&root)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err(format!(
                "chown {PG_USER} {} failed (is there a {PG_USER} user?)",
                root.display()
            ));
        }
    }
    let data = root.join("data");
    let initdb = as_pg_user(&bin.join("initdb"))
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !initdb.status.success() {
        let _ = std::fs::remove_dir_all(&root);
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let port = free_port();
    let postgres = bin.join("postgres");
    let mut run = as_pg_user(&postgres);
    run.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&root)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=400",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "shared_buffers=32MB",
        ]);
    let program: Vec<String> = std::iter::once(run.get_program())
        .chain(run.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // $1 = the temp dir, the rest = the postgres command line.
    let script = r#"root="$1"; shift
"$@" >"$root/log" 2>&1 &
pid=$!
read _ignored
kill -QUIT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$root""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("weft-pg")
        .arg(&root)
        .args(&program)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn postgres: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let server = Server {
        port,
        bin,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
        create: Mutex::new(0),
    };
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let ready = Command::new(server.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(server);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(root.join("log")).unwrap_or_default();
            return Err(format!("postgres did not start on port {port}:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(e) => panic!("the test postgresql did not start: {e}"),
    }
}

impl Server {
    fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// A fresh, empty database for one test; returns its URL
/// (`postgres://postgres@127.0.0.1:PORT/NAME`).
pub fn database() -> String {
    let server = server();
    let name = {
        let mut n = server.create.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        let name = format!("weft_{}_{n}", std::process::id());
        server
            .psql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        name
    };
    format!("postgres://postgres@127.0.0.1:{}/{name}", server.port)
}

/// Runs `sql` against database `url` (made by [`database`]) as the
/// superuser; returns the unaligned output.
#[allow(dead_code, reason = "for tests that inspect or damage the schema")]
pub fn psql(url: &str, sql: &str) -> String {
    let server = server();
    let db = url.rsplit('/').next().unwrap_or("postgres");
    let out = Command::new(server.bin.join("psql"))
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-h",
            "127.0.0.1",
        ])
        .args(["-p", &server.port.to_string(), "-U", "postgres", "-d", db])
        .args(["-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Drops the connection of every client to `url`'s database (a database
/// that "went away" for a moment).
#[allow(dead_code, reason = "for tests of an unreachable database")]
pub fn terminate_connections(url: &str) {
    let db = url.rsplit('/').next().unwrap_or("postgres");
    let server = server();
    server
        .psql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ))
        .expect("terminate connections");
}
