//! A throwaway PostgreSQL cluster for the test binary: started on first use from the system's
//! binaries, shared by every test (each gets its own database), and gone with the process.
//!
//! The postmaster runs under a small `sh` supervisor that carries a parent-death signal: when
//! the test process exits, however it exits, the supervisor stops PostgreSQL with a fast
//! shutdown and removes the cluster's directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};

/// Set by the README's test command: a missing PostgreSQL fails the run instead of skipping.
pub const REQUIRE_SERVICES: &str = "DIRSYNC_TEST_REQUIRE_SERVICES";

const SUPERVISOR: &str = r#"
dir="$1"; bin="$2"; port="$3"; shift 3
"$@" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
    > "$dir/postgres.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid; rm -rf "$dir"; exit 0' TERM INT HUP
wait $pid
"#;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// A URL of a fresh, empty database, or why there is none.
pub async fn fresh_database() -> Result<String, String> {
    let port = match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster.port,
        Err(reason) => return Err(reason.clone()),
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .await
        .map_err(|e| format!("cannot connect to the test cluster: {e}"))?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .map_err(|e| format!("cannot create a test database: {e}"))?;
    let _ = admin.close().await;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/{name}"))
}

/// A fresh database, or `None` (announced once) when PostgreSQL is missing and not required;
/// a panic when it is required (`REQUIRE_SERVICES`).
pub async fn database_or_skip() -> Option<String> {
    match fresh_database().await {
        Ok(url) => Some(url),
        Err(reason) if std::env::var_os(REQUIRE_SERVICES).is_some() => {
            panic!("PostgreSQL is required ({REQUIRE_SERVICES}) but unavailable: {reason}")
        }
        Err(reason) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| super::announce(&format!("note: PostgreSQL lane SKIPPED: {reason}")));
            None
        }
    }
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A fresh cluster directory, initialised: the directory, the binaries, and the command prefix
/// that runs a program as the postgres user (empty when not root).
fn init_cluster() -> Result<(PathBuf, PathBuf, Vec<&'static str>), String> {
    let bin = bin_dir().ok_or("PostgreSQL server binaries not found under /usr/lib/postgresql")?;
    let dir = tempfile::Builder::new()
        .prefix("dirsync-test-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    // initdb and postgres refuse to run as root; run them as the postgres user, which needs to
    // own the directory. setpriv execs, so the supervisor's child is the postmaster itself.
    let as_postgres: Vec<&str> = if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return Err("cannot chown the test cluster directory to postgres".into());
        }
        vec![
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ]
    } else {
        Vec::new()
    };
    let initdb = as_user(&as_postgres, &bin.join("initdb"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    Ok((dir, bin, as_postgres))
}

/// `program` run through the `as_postgres` prefix.
fn as_user(as_postgres: &[&str], program: &Path) -> Command {
    match as_postgres.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())
        .map(|a| a.port())
}

fn start() -> Result<Cluster, String> {
    let (dir, bin, as_postgres) = init_cluster()?;
    let port = free_port()?;
    spawn_supervisor(&dir, &bin, port, &as_postgres)?;
    wait_until_ready(port, &dir)?;
    Ok(Cluster { port })
}

/// Runs `ALTER DATABASE <database> <clause>` through `admin` (a connection to another database
/// of the cluster) and ends every session of `database`, so a pool reconnects into the change.
pub async fn alter_database_and_end_sessions(
    admin: &sea_orm::DatabaseConnection,
    database: &str,
    clause: &str,
) {
    use sea_orm::ConnectionTrait;
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{database}\" {clause}; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();
}

/// A cluster of one test's own, which it may stop and start again (a PostgreSQL restart under
/// the daemon). Stopped and removed when dropped.
pub struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: Vec<&'static str>,
    pub port: u16,
}

impl PrivateCluster {
    /// A running private cluster, or why there is none.
    pub fn start() -> Result<PrivateCluster, String> {
        let (dir, bin, as_postgres) = init_cluster()?;
        let cluster = PrivateCluster {
            dir,
            bin,
            as_postgres,
            port: free_port()?,
        };
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    /// A running private cluster; `None` when there can be none and the run does not require
    /// one.
    pub fn start_or_skip() -> Option<PrivateCluster> {
        match Self::start() {
            Ok(cluster) => Some(cluster),
            Err(reason) if std::env::var_os(REQUIRE_SERVICES).is_some() => {
                panic!("a private PostgreSQL cluster is required but could not start: {reason}")
            }
            Err(reason) => {
                super::announce(&format!(
                    "note: private PostgreSQL cluster SKIPPED: {reason}"
                ));
                None
            }
        }
    }

    /// Gives `dir` to the user the cluster runs as, so it can hold a tablespace.
    pub fn give(&self, dir: &Path) -> Result<(), String> {
        if self.as_postgres.is_empty() {
            return Ok(());
        }
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir)
            .status()
            .map_err(|e| e.to_string())?;
        match status.success() {
            true => Ok(()),
            false => Err(format!("cannot chown {} to postgres", dir.display())),
        }
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = as_user(&self.as_postgres, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts it and waits until it accepts connections.
    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        self.pg_ctl(&["-w", "-t", "30", "-o", &options, "-l", &log, "start"])
    }

    /// Stops it the way a restart does (fast shutdown: sessions are ended, in-flight
    /// transactions rolled back) and waits until it is down.
    pub fn pg_ctl_stop(&self) -> Result<(), String> {
        self.pg_ctl(&["-w", "-m", "fast", "stop"])
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Spawns the supervisor from a thread that lives as long as the process: the parent-death
/// signal fires when the spawning *thread* exits, so it must not be a short-lived test thread.
fn spawn_supervisor(dir: &Path, bin: &Path, port: u16, as_postgres: &[&str]) -> Result<(), String> {
    let mut command = Command::new("setpriv");
    command
        .args(["--pdeathsig", "TERM", "sh", "-c", SUPERVISOR, "sh"])
        .arg(dir)
        .arg(bin)
        .arg(port.to_string())
        .args(as_postgres)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-supervisor".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = sender.send(Ok(()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = sender.send(Err(format!("cannot start PostgreSQL: {e}")));
            }
        })
        .map_err(|e| e.to_string())?;
    receiver.recv().map_err(|e| e.to_string())?
}

// Blocking is intended: this runs once, under the OnceLock, before any test can use the cluster.
#[allow(clippy::disallowed_methods)]
fn wait_until_ready(port: u16, dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Accepting TCP is not yet accepting queries; pg_isready-equivalent via a short wait.
            let ready = Command::new("sh")
                .args([
                    "-c",
                    &format!(
                        "grep -q 'ready to accept connections' '{}'",
                        dir.join("postgres.log").display()
                    ),
                ])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    Err(format!(
        "PostgreSQL did not become ready within 30 s: {log}"
    ))
}
