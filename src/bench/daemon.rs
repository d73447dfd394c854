//! The daemon under test: this same binary's `serve` as a child process on loopback, with its
//! own data directory, so its RSS is the daemon's alone and not the load generator's.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `dirsync serve`; killed and its data directory removed when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    data_dir: PathBuf,
    pub scim: String,
    pub admin: String,
    pub admin_token: String,
}

impl Daemon {
    /// Starts the daemon on SQLite in a fresh directory, or on this PostgreSQL database.
    pub fn start(
        database_url: Option<&str>,
        settings: &[(String, String)],
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let data_dir = std::env::temp_dir().join(format!("dirsync-bench-{}", std::process::id()));
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let admin_token = crate::secret::generate_token().expose().to_owned();
        let mut child = Command::new(exe)
            .arg("serve")
            // Nothing of the operator's configuration: bench users must never reach a real
            // LDAP directory or Qualytics through a DIRSYNC_CONFIG or DIRSYNC__ variable.
            .env_clear()
            .env("DIRSYNC__SERVER__DATA_DIR", &data_dir)
            .env("DIRSYNC__DATABASE__URL", database_url.unwrap_or(""))
            .env("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__TOKEN", &admin_token)
            .env("DIRSYNC__SCIM__REQUESTS_PER_SECOND", "1000000")
            .env("DIRSYNC__SCIM__BURST", "1000000")
            .env("DIRSYNC__SYNC__SCHEDULE", "")
            .env("DIRSYNC__LOG__FORMAT", "json")
            .envs(settings.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start dirsync serve: {e}"))?;
        let events = match child.stderr.take() {
            Some(stderr) => drain(stderr),
            None => return Err("dirsync serve has no stderr".into()),
        };
        let mut daemon = Self {
            child,
            data_dir,
            scim: String::new(),
            admin: String::new(),
            admin_token,
        };
        while daemon.scim.is_empty() || daemon.admin.is_empty() {
            let event: serde_json::Value = events
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| "dirsync serve did not start within 60 s".to_owned())?;
            let address = event["address"].as_str().unwrap_or_default();
            match event["message"].as_str().unwrap_or_default() {
                m if m.starts_with("SCIM API listening") => {
                    daemon.scim = format!("http://{address}/api/scim/v2");
                }
                m if m.starts_with("admin API listening") => {
                    daemon.admin = format!("http://{address}");
                }
                _ => {}
            }
        }
        Ok(daemon)
    }

    /// The daemon's resident set size in MiB, from /proc.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Reads the daemon's log on a thread for as long as it runs (a full pipe would stall it),
/// passing each line on while someone listens.
fn drain(stderr: std::process::ChildStderr) -> mpsc::Receiver<serde_json::Value> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr);
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            let event = serde_json::from_str(&line).unwrap_or_default();
            line.clear();
            if sender.send(event).is_err() {
                // Nobody listens once the daemon is up: discard the rest unparsed, so the
                // request log costs the load generator no CPU.
                let _ = std::io::copy(&mut lines, &mut std::io::sink());
                return;
            }
        }
    });
    receiver
}
