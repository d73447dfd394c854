//! The shape of the configuration file, exactly as written: every section and key, nothing else.
//! `deny_unknown_fields` turns a typo into an error that names the key.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    pub scim: RawScim,
    pub admin: RawAdmin,
    pub database: RawDatabase,
    pub log: RawLog,
    pub sync: RawSync,
    pub ldap: RawLdap,
    pub qualytics: RawQualytics,
    pub audit: RawAudit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub retention: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQualytics {
    pub url: String,
    pub token: String,
    pub token_file: String,
    pub tls_verify: bool,
    pub timeout: String,
    pub max_retries: u32,
    pub tenants: Vec<String>,
    pub role_mode: String,
    pub adopt_teams: bool,
    pub teams: Vec<RawTeamRule>,
    pub roles: Vec<RawRoleRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeamRule {
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    pub permission: String,
    #[serde(default)]
    pub datastores: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoleRule {
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    pub role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub schedule: String,
    pub change_delay: String,
    pub guard_max_destructive: u32,
    pub guard_max_destructive_percent: u8,
    pub lease: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLdap {
    pub url: String,
    pub starttls: bool,
    pub tls_verify: bool,
    pub bind_dn: String,
    pub bind_password: String,
    pub bind_password_file: String,
    pub base_dn: String,
    pub tenants: Vec<String>,
    pub tenant_ou: bool,
    pub users_ou: String,
    pub groups_ou: String,
    pub user_object_classes: Vec<String>,
    pub user_rdn: String,
    pub group_object_class: String,
    pub placeholder_dn: String,
    pub gid_number_min: u32,
    pub deactivation: String,
    pub disabled_ou: String,
    pub lock_attribute: String,
    pub lock_value: String,
    pub marker_attribute: String,
    pub page_size: u32,
    pub timeout: String,
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub data_dir: String,
    pub shutdown_grace: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScim {
    pub listen: String,
    pub base_path: String,
    pub public_url: String,
    pub max_body_bytes: u64,
    pub bulk_max_operations: u32,
    pub max_connections: u32,
    pub requests_per_second: u32,
    pub burst: u32,
    pub tls_certificate: String,
    pub tls_private_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: String,
    pub token: String,
    pub token_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: String,
    pub format: String,
}
