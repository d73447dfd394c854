//! Validated, typed configuration. Secrets are redacted in `Debug` and when printed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::secret::SecretString;

/// Everything dirsync was configured with, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Process-wide settings.
    pub server: ServerSettings,
    /// The SCIM API.
    pub scim: ScimSettings,
    /// The admin API.
    pub admin: AdminSettings,
    /// The store.
    pub database: DatabaseSettings,
    /// Logging.
    pub log: LogSettings,
    /// Reconciliation.
    pub sync: SyncSettings,
    /// The LDAP target; `None` when not configured.
    pub ldap: Option<LdapSettings>,
    /// The Qualytics target; `None` when not configured.
    pub qualytics: Option<QualyticsSettings>,
    /// How long the change log (the audit trail) keeps entries; `None`: for ever.
    #[serde(serialize_with = "optional_duration")]
    pub audit_retention: Option<Duration>,
}

fn optional_duration<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(d) => human_duration(d, serializer),
        None => serializer.serialize_str("forever"),
    }
}

/// Which groups a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMatch {
    /// The group with exactly this displayName.
    Name(String),
    /// The group with this id.
    Id(String),
    /// Groups whose displayName matches this `*` pattern.
    Pattern(String),
}

/// A group → team rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamRule {
    /// Only in this tenant.
    pub tenant: Option<String>,
    /// Which groups.
    pub group: GroupMatch,
    /// The team's name; the group's displayName when `None`.
    pub team: Option<String>,
    /// The team's permission over its datastores.
    pub permission: String,
    /// The datastores.
    pub datastores: Vec<i64>,
}

/// A group → role rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRule {
    /// Only in this tenant.
    pub tenant: Option<String>,
    /// Which groups.
    pub group: GroupMatch,
    /// The role members get.
    pub role: String,
}

/// `[qualytics]`
#[derive(Debug, Clone, Serialize)]
pub struct QualyticsSettings {
    /// The controlplane, without `/api`.
    pub url: String,
    /// The Admin service token.
    #[serde(serialize_with = "redacted")]
    pub token: SecretString,
    /// Verify the certificate.
    pub tls_verify: bool,
    /// Per request.
    #[serde(serialize_with = "human_duration")]
    pub timeout: Duration,
    /// Retries of 429/5xx.
    pub max_retries: u32,
    /// Tenants kept; empty for all.
    pub tenants: Vec<String>,
    /// Only raise roles.
    pub roles_add_only: bool,
    /// Take over teams a rule names that dirsync did not create.
    pub adopt_teams: bool,
    /// Group → team rules.
    pub teams: Vec<TeamRule>,
    /// Group → role rules.
    pub roles: Vec<RoleRule>,
}

/// `[sync]`
#[derive(Debug, Clone, Serialize)]
pub struct SyncSettings {
    /// The full drift check's schedule; `None` when empty.
    #[serde(serialize_with = "schedule_text")]
    pub schedule: Option<cron::Schedule>,
    /// Debounce of the change-log follower; zero turns it off.
    #[serde(serialize_with = "human_duration")]
    pub change_delay: Duration,
    /// The guard's absolute limit.
    pub guard_max_destructive: usize,
    /// The guard's percentage limit.
    pub guard_max_destructive_percent: u8,
    /// A run's lease.
    #[serde(serialize_with = "human_duration")]
    pub lease: Duration,
}

/// What a deactivated user becomes in LDAP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deactivation {
    /// It leaves its groups.
    RemoveFromGroups,
    /// It moves to this OU (and leaves its groups).
    DisabledOu(String),
    /// This attribute gets this value (and it leaves its groups).
    LockAttribute(String, String),
}

/// `[ldap]`
#[derive(Debug, Clone, Serialize)]
pub struct LdapSettings {
    /// `ldap://` or `ldaps://` URLs, tried in order.
    pub urls: Vec<String>,
    /// StartTLS on an `ldap://` URL.
    pub starttls: bool,
    /// Verify the server certificate.
    pub tls_verify: bool,
    /// Bind DN.
    pub bind_dn: String,
    /// Bind password.
    #[serde(serialize_with = "redacted")]
    pub bind_password: SecretString,
    /// Base DN.
    pub base_dn: String,
    /// Tenants kept; empty for all.
    pub tenants: Vec<String>,
    /// A subtree per tenant.
    pub tenant_ou: bool,
    /// Users container (relative).
    pub users_ou: String,
    /// Groups container (relative).
    pub groups_ou: String,
    /// User object classes.
    pub user_object_classes: Vec<String>,
    /// User naming attribute.
    pub user_rdn: String,
    /// Group object class.
    pub group_object_class: String,
    /// Its member attribute.
    pub member_attribute: String,
    /// The placeholder member of empty groups.
    pub placeholder_dn: String,
    /// `posixGroup` entries get gidNumbers from here up.
    pub gid_number_min: u32,
    /// Deactivation policy.
    pub deactivation: Deactivation,
    /// The management marker's attribute.
    pub marker_attribute: String,
    /// Paged read size.
    pub page_size: u32,
    /// Connect and operation timeout.
    #[serde(serialize_with = "human_duration")]
    pub timeout: Duration,
    /// LDAP attribute → SCIM path alternatives.
    pub attributes: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[server]`
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// Holds the SQLite file and the generated admin credential.
    pub data_dir: PathBuf,
    /// How long in-flight requests may run on after a shutdown signal.
    #[serde(serialize_with = "human_duration")]
    pub shutdown_grace: Duration,
}

/// `[scim]`
#[derive(Debug, Clone, Serialize)]
pub struct ScimSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Path prefix, starting with `/`, without a trailing `/`.
    pub base_path: String,
    /// Absolute URL of `base_path` as clients see it, without a trailing `/`.
    pub public_url: String,
    /// Largest accepted request body (also Bulk's maxPayloadSize).
    pub max_body_bytes: u64,
    /// Most operations in one Bulk request.
    pub bulk_max_operations: u32,
    /// Most connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Each tenant's default quota (reads and writes each).
    pub quota: crate::domain::Quota,
    /// PEM certificate chain and private key: the SCIM listener speaks HTTPS with them.
    pub tls: Option<TlsFiles>,
}

/// The PEM files of the SCIM listener's TLS.
#[derive(Debug, Clone, Serialize)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub certificate: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

/// `[admin]`
#[derive(Debug, Clone, Serialize)]
pub struct AdminSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// The configured credential; `None` means dirsync keeps a generated one in the data dir.
    #[serde(serialize_with = "redacted_option")]
    pub token: Option<SecretString>,
}

/// `[database]`
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseSettings {
    /// Where the data lives.
    pub url: DatabaseUrl,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection.
    #[serde(serialize_with = "human_duration")]
    pub connect_timeout: Duration,
}

/// `[log]`
#[derive(Debug, Clone, Serialize)]
pub struct LogSettings {
    /// An env-filter directive.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stderr goes to the systemd journal, text otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which database to use. The URL's password never prints.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// The URL with any password replaced, for logs and `check-config`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match url::Url::parse(url.expose()) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***redacted***"));
                    }
                    parsed.to_string()
                }
                Err(_) => "postgres://***redacted***".to_owned(),
            },
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

fn human_duration<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*duration).to_string())
}

fn schedule_text<S: Serializer>(
    schedule: &Option<cron::Schedule>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match schedule {
        Some(schedule) => serializer.serialize_str(&schedule.to_string()),
        None => serializer.serialize_str(""),
    }
}

fn redacted<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&secret.to_string())
}

fn redacted_option<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_str(&secret.to_string()),
        None => serializer.serialize_str("(generated, kept in <data_dir>/admin.token)"),
    }
}
