//! A private PostgreSQL 15 for a test or bench run: [`PgServer::start`]
//! (Debian's `postgresql` package, binaries under
//! `/usr/lib/postgresql/15/bin` or `$WEFT_PG_BIN`) runs `initdb` into a
//! temp dir owned by the unprivileged `postgres` user (PostgreSQL refuses
//! to run as root), starts the server on a free loopback port (no fsync:
//! the data is thrown away) and hands every caller a database of its own
//! ([`PgServer::database`]), so tests run in parallel.
//!
//! The server runs under a small supervising shell whose stdin is a pipe
//! from this process: when this process exits, however it exits, the pipe
//! closes, the shell stops PostgreSQL (`SIGQUIT`, immediate shutdown) and
//! removes the temp dir. Nothing is left behind.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long PostgreSQL may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The user PostgreSQL runs as when we run as root.
const PG_USER: &str = "postgres";

/// A running private server; it stops when this process exits.
pub struct PgServer {
    port: u16,
    bin: PathBuf,
    /// Held open: closing it stops the server.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
    /// Serialises `CREATE DATABASE` and numbers the databases.
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

/// `program` run as the PostgreSQL user when we are root.
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

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("pick a free loopback port: {e}"))
}

/// A new empty directory under the system temp dir.
fn temp_root() -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let root = std::env::temp_dir().join(format!("weft-pg-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("temp dir {}: {e}", root.display()))?;
    Ok(root)
}

impl PgServer {
    /// Starts a server (`max_connections` at most) without fsync (tests
    /// need no crash safety of the database itself) and waits until it
    /// accepts connections.
    pub fn start(max_connections: u32) -> Result<Self, String> {
        Self::start_with(max_connections, false)
    }

    /// [`PgServer::start`], with `durable` commits (fsync and full page
    /// writes on, as a production database runs: what benchmarks compare
    /// with sled's fsynced group commits).
    pub fn start_with(max_connections: u32, durable: bool) -> Result<Self, String> {
        let bin = bin_dir();
        if !bin.join("initdb").exists() {
            return Err(format!(
                "{} has no initdb: install Debian's postgresql package (make test-setup) or set WEFT_PG_BIN",
                bin.display()
            ));
        }
        let root = temp_root()?;
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
        let port = free_port()?;
        let mut run = as_pg_user(&bin.join("postgres"));
        run.arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&root)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                &format!("max_connections={max_connections}"),
                "-c",
                if durable { "fsync=on" } else { "fsync=off" },
                "-c",
                if durable {
                    "full_page_writes=on"
                } else {
                    "full_page_writes=off"
                },
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
        let server = Self {
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

    /// Runs `sql` against database `db` as the superuser; returns the
    /// unaligned output, or psql's error.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
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
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
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

    /// A fresh, empty database; returns its URL
    /// (`postgres://postgres@127.0.0.1:PORT/NAME`).
    ///
    /// # Panics
    ///
    /// If the server refuses `CREATE DATABASE`.
    pub fn database(&self) -> String {
        let mut n = self.create.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        let name = format!("weft_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}
