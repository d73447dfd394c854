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
