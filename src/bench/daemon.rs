//! The daemon under test: this same binary's `serve` as a child process on loopback, with its
//! own data directory, so its RSS is the daemon's alone and not the load generator's. The
//! replica and crash tests start it the same way, from the built binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Every line a daemon logged, for tests that read its whole log.
pub type Log = Arc<Mutex<Vec<String>>>;

/// A running `dirsync serve`; killed and its data directory removed when dropped.
#[derive(Debug)]
pub struct Daemon {
    exe: PathBuf,
    child: Option<Child>,
    data_dir: PathBuf,
    database_url: String,
    /// Kept when asked for ([`Daemon::start_binary_keeping_log`]); otherwise discarded.
    log: Option<Log>,
    pub scim: String,
    /// The SCIM listener's origin (`http://address`), which also answers `/healthz`.
    pub scim_origin: String,
    pub admin: String,
    pub admin_token: String,
}

/// jemalloc's settings in systemd/dirsync.service.
const MALLOC_CONF: &str = "dirty_decay_ms:1000,muzzy_decay_ms:1000";

impl Daemon {
    /// Starts the daemon on SQLite in a fresh directory, or on this PostgreSQL database.
    pub fn start(
        database_url: Option<&str>,
        settings: &[(String, String)],
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        Self::start_binary(&exe, database_url, settings)
    }

    /// The same, running `exe` (the tests run the built `dirsync`, not themselves).
    pub fn start_binary(
        exe: &std::path::Path,
        database_url: Option<&str>,
        settings: &[(String, String)],
    ) -> Result<Self, String> {
        Self::launch(exe, database_url, settings, None)
    }

    /// The same, keeping every line the daemon logs ([`Daemon::log`]).
    pub fn start_binary_keeping_log(
        exe: &std::path::Path,
        database_url: Option<&str>,
        settings: &[(String, String)],
    ) -> Result<Self, String> {
        Self::launch(exe, database_url, settings, Some(Log::default()))
    }

    fn launch(
        exe: &std::path::Path,
        database_url: Option<&str>,
        settings: &[(String, String)],
        log: Option<Log>,
    ) -> Result<Self, String> {
        let data_dir =
            std::env::temp_dir().join(format!("dirsync-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let admin_token = crate::secret::generate_token().expose().to_owned();
        let mut daemon = Self {
            exe: exe.to_owned(),
            child: None,
            data_dir,
            database_url: database_url.unwrap_or("").to_owned(),
            log,
            scim: String::new(),
            scim_origin: String::new(),
            admin: String::new(),
            admin_token,
        };
        daemon.spawn(settings)?;
        Ok(daemon)
    }

    /// Stops the daemon and starts it again on the same data with these settings (on new
    /// ports).
    pub fn restart(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        self.kill();
        self.spawn(settings)
    }

    fn spawn(&mut self, settings: &[(String, String)]) -> Result<(), String> {
        let mut child = Command::new(&self.exe)
            .arg("serve")
            // Nothing of the operator's configuration: bench users must never reach a real
            // LDAP directory or Qualytics through a DIRSYNC_CONFIG or DIRSYNC__ variable.
            .env_clear()
            .env("DIRSYNC__SERVER__DATA_DIR", &self.data_dir)
            .env("DIRSYNC__DATABASE__URL", &self.database_url)
            .env("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__TOKEN", &self.admin_token)
            .env("DIRSYNC__SCIM__REQUESTS_PER_SECOND", "1000000")
            .env("DIRSYNC__SCIM__BURST", "1000000")
            .env("DIRSYNC__SYNC__SCHEDULE", "")
            .env("DIRSYNC__LOG__FORMAT", "json")
            // As systemd/dirsync.service runs it (see there why), unless the bench was given
            // allocator settings to try.
            .env(
                "_RJEM_MALLOC_CONF",
                std::env::var("_RJEM_MALLOC_CONF").unwrap_or_else(|_| MALLOC_CONF.to_owned()),
            )
            .envs(settings.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start dirsync serve: {e}"))?;
        let events = match child.stderr.take() {
            Some(stderr) => drain(stderr, self.log.clone()),
            None => return Err("dirsync serve has no stderr".into()),
        };
        self.child = Some(child);
        self.scim.clear();
        self.admin.clear();
        while self.scim.is_empty() || self.admin.is_empty() {
            let event: serde_json::Value = events
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| "dirsync serve did not start within 60 s".to_owned())?;
            let address = event["address"].as_str().unwrap_or_default();
            match event["message"].as_str().unwrap_or_default() {
                m if m.starts_with("SCIM API listening") => {
                    self.scim_origin = format!("http://{address}");
                    self.scim = format!("{}/api/scim/v2", self.scim_origin);
                }
                m if m.starts_with("admin API listening") => {
                    self.admin = format!("http://{address}");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every line logged so far, when the log is kept.
    pub fn log(&self) -> Vec<String> {
        self.log
            .as_ref()
            .and_then(|log| log.lock().ok().map(|lines| lines.clone()))
            .unwrap_or_default()
    }

    /// An admin API request with the daemon's admin credential.
    pub fn admin(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(&self.admin_token)
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the daemon with SIGKILL, as a crash would: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The daemon's resident set size in MiB, from /proc.
    pub fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    /// The most the daemon's resident set has been since the last `reset_peak_rss` (or its
    /// start), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// Starts measuring the peak afresh (proc(5), `clear_refs`: 5 resets the peak RSS).
    pub fn reset_peak_rss(&self) {
        let pid = self.child.as_ref().map_or(0, Child::id);
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }

    /// CPU time the daemon has used, user and system, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.child
            .as_ref()
            .map_or(0.0, |c| cpu_seconds(&c.id().to_string()))
    }

    fn status_mib(&self, field: &str) -> f64 {
        let pid = self.child.as_ref().map_or(0, Child::id);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

/// CPU time process `pid` ("self" for this one) has used, user and system, in seconds: fields
/// 14 and 15 of proc(5)'s `stat`, counted after the parenthesised command name (which may hold
/// spaces), in USER_HZ ticks (100 a second on Linux).
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: f64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Reads the daemon's log on a thread for as long as it runs (a full pipe would stall it),
/// passing each line on while someone listens, and keeping every line in `keep` if given.
fn drain(
    stderr: std::process::ChildStderr,
    keep: Option<Log>,
) -> mpsc::Receiver<serde_json::Value> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr);
        let mut line = String::new();
        let mut listened = true;
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if listened {
                let event = serde_json::from_str(&line).unwrap_or_default();
                listened = sender.send(event).is_ok();
            }
            match &keep {
                Some(log) => {
                    if let Ok(mut log) = log.lock() {
                        log.push(std::mem::take(&mut line));
                    }
                }
                // Nobody listens once the daemon is up and nobody keeps the log: discard the
                // rest unparsed, so the request log costs the load generator no CPU.
                None if !listened => {
                    let _ = std::io::copy(&mut lines, &mut std::io::sink());
                    return;
                }
                None => {}
            }
            line.clear();
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time is read from this process's stat line and grows with work done (ticks are
    /// 10 ms, so 200 ms of spinning shows as at least 0.1 s).
    #[test]
    fn cpu_seconds_counts_the_cpu_a_process_uses() {
        let before = cpu_seconds("self");
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        while started.elapsed() < Duration::from_millis(200) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let used = cpu_seconds("self") - before;
        assert!(used >= 0.1, "{used} s");
        assert_eq!(cpu_seconds("no-such-process"), 0.0);
    }
}
