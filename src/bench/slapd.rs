//! A throwaway OpenLDAP `slapd` from the system's binaries (the recipe in
//! `shared/research/rust-stack.md`), for the bench's reconciliation scenario and the LDAP
//! tests: its own directory, port and database, the memberof overlay on, stopped and removed
//! when dropped. It can be stopped and started again on the same port and data, for tests of a
//! directory that goes away.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SUFFIX: &str = "dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PW: &str = "secret";

const SLAPD: &str = "/usr/sbin/slapd";

const CONF: &str = r#"
include         /etc/ldap/schema/core.schema
include         /etc/ldap/schema/cosine.schema
include         /etc/ldap/schema/inetorgperson.schema
include         /etc/ldap/schema/nis.schema
pidfile         @DIR@/slapd.pid
argsfile        @DIR@/slapd.args
loglevel        none
modulepath      /usr/lib/ldap
moduleload      back_mdb
moduleload      memberof
database        mdb
maxsize         8589934592
suffix          "dc=example,dc=org"
rootdn          "cn=admin,dc=example,dc=org"
rootpw          secret
directory       @DIR@/data
dbnosync
index           objectClass eq
index           uid,cn,member,memberOf eq
overlay         memberof
memberof-group-oc    groupOfNames
memberof-member-ad   member
memberof-memberof-ad memberOf
"#;

const BASE: &str = "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n";

#[derive(Debug)]
pub struct Slapd {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
    pub url: String,
}

impl Slapd {
    /// A running slapd with the suffix entry, or why there is none.
    pub fn start() -> Result<Slapd, String> {
        if !std::path::Path::new(SLAPD).is_file() {
            return Err(format!(
                "{SLAPD} not found (apt-get install slapd ldap-utils)"
            ));
        }
        let dir =
            std::env::temp_dir().join(format!("dirsync-slapd-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
        let conf = CONF.replace("@DIR@", &dir.display().to_string());
        std::fs::write(dir.join("slapd.conf"), conf).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("base.ldif"), BASE).map_err(|e| e.to_string())?;
        let loaded = Command::new("/usr/sbin/slapadd")
            .args(["-q", "-f"])
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(dir.join("base.ldif"))
            .output()
            .map_err(|e| format!("cannot run slapadd: {e}"))?;
        if !loaded.status.success() {
            return Err(format!(
                "slapadd failed: {}",
                String::from_utf8_lossy(&loaded.stderr)
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut slapd = Slapd {
            child: None,
            url: format!("ldap://127.0.0.1:{port}/"),
            port,
            dir,
        };
        slapd.resume()?;
        Ok(slapd)
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slapd.conf")
    }

    /// Starts slapd (again) on its port and data.
    pub fn resume(&mut self) -> Result<(), String> {
        let child = Command::new(SLAPD)
            .args(["-d", "0", "-f"])
            .arg(self.conf())
            .args(["-h", &self.url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start slapd: {e}"))?;
        self.child = Some(child);
        self.wait_until_listening()
    }

    // Blocking is fine here: it runs before the test talks to slapd, for a few milliseconds.
    #[allow(clippy::disallowed_methods)]
    fn wait_until_listening(&self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err("slapd did not start listening within 10 s".into())
    }

    /// Freezes slapd (SIGSTOP): connections are still accepted by the kernel, but nothing
    /// answers, as with a hung server.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen slapd go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
        }
    }

    /// Stops slapd (SIGINT, a clean shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
