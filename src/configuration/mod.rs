//! Configuration: built-in defaults (the shipped `config/dirsync.toml`), then the operator's file,
//! then `DIRSYNC__SECTION__KEY` environment variables; then validation into [`Settings`].
//!
//! Named `configuration` so it does not clash with the `config` crate it wraps.

mod raw;
mod settings;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};

use crate::secret::SecretString;
use raw::RawConfig;
pub use settings::{
    AdminSettings, DatabaseSettings, DatabaseUrl, LogFormat, LogSettings, ScimSettings,
    ServerSettings, Settings,
};

/// The shipped configuration file. It is the documentation of every key and, compiled in, the
/// source of every default, so the two cannot drift apart.
pub const DEFAULTS: &str = include_str!("../../config/dirsync.toml");

/// Prefix of the environment variables that override keys.
pub const ENV_PREFIX: &str = "DIRSYNC";

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed, or a key is unknown or has the wrong type.
    #[error("{0}")]
    Load(String),
    /// A key has a value that makes no sense.
    #[error("configuration key `{key}`: {message}")]
    Invalid {
        /// `section.key`
        key: &'static str,
        /// What is wrong and what would be right.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Reads and validates the configuration. `file` is the operator's file (it must exist when
/// given); `env` replaces the process environment, for tests.
pub fn load(
    file: Option<&Path>,
    env: Option<HashMap<String, String>>,
) -> Result<Settings, ConfigError> {
    let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::Load(format!(
                "configuration file {} does not exist or is not a file",
                path.display()
            )));
        }
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
    }
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .source(env.map(|vars| vars.into_iter().collect()));
    let raw: RawConfig = builder
        .add_source(environment)
        .build()
        .and_then(Config::try_deserialize)
        .map_err(|error| ConfigError::Load(describe(error, file)))?;
    validate(raw)
}

/// The config crate's messages name the key but not always where it came from; add the file.
fn describe(error: config::ConfigError, file: Option<&Path>) -> String {
    let origin = file
        .map(|f| format!(" (in {} or a DIRSYNC__ environment variable)", f.display()))
        .unwrap_or_else(|| " (in a DIRSYNC__ environment variable)".to_owned());
    format!("invalid configuration: {error}{origin}")
}

fn validate(raw: RawConfig) -> Result<Settings, ConfigError> {
    let data_dir = PathBuf::from(&raw.server.data_dir);
    if raw.server.data_dir.trim().is_empty() {
        return Err(invalid("server.data_dir", "must not be empty"));
    }
    let scim_listen = socket_addr("scim.listen", &raw.scim.listen)?;
    let base_path = base_path(&raw.scim.base_path)?;
    let public_url = if raw.scim.public_url.is_empty() {
        format!("http://{scim_listen}{base_path}")
    } else {
        absolute_url("scim.public_url", &raw.scim.public_url)?
    };
    if raw.scim.max_body_bytes < 1024 {
        return Err(invalid(
            "scim.max_body_bytes",
            "must be at least 1024 bytes",
        ));
    }
    if raw.scim.bulk_max_operations == 0 {
        return Err(invalid("scim.bulk_max_operations", "must be at least 1"));
    }
    if raw.database.max_connections == 0 {
        return Err(invalid("database.max_connections", "must be at least 1"));
    }
    Ok(Settings {
        server: settings::ServerSettings {
            shutdown_grace: duration("server.shutdown_grace", &raw.server.shutdown_grace)?,
            data_dir: data_dir.clone(),
        },
        scim: ScimSettings {
            listen: scim_listen,
            base_path,
            public_url,
            max_body_bytes: raw.scim.max_body_bytes,
            bulk_max_operations: raw.scim.bulk_max_operations,
        },
        admin: AdminSettings {
            listen: socket_addr("admin.listen", &raw.admin.listen)?,
            token: admin_token(&raw.admin.token, &raw.admin.token_file)?,
        },
        database: DatabaseSettings {
            url: database_url(&raw.database.url, &data_dir)?,
            max_connections: raw.database.max_connections,
            connect_timeout: duration("database.connect_timeout", &raw.database.connect_timeout)?,
        },
        log: LogSettings {
            format: match raw.log.format.as_str() {
                "auto" => LogFormat::Auto,
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(invalid(
                        "log.format",
                        format!("{other:?} is not one of \"auto\", \"text\", \"json\""),
                    ));
                }
            },
            level: log_level(&raw.log.level)?,
        },
    })
}

fn socket_addr(key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            key,
            format!("{value:?} is not an address like \"127.0.0.1:8080\""),
        )
    })
}

fn duration(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| {
        invalid(
            key,
            format!("{value:?} is not a duration like \"30s\": {e}"),
        )
    })
}

fn base_path(value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim_end_matches('/');
    let valid = value.starts_with('/')
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
    if !valid || trimmed.contains("//") {
        return Err(invalid(
            "scim.base_path",
            format!("{value:?} must be a path like \"/api/scim/v2\""),
        ));
    }
    Ok(trimmed.to_owned())
}

fn absolute_url(key: &'static str, value: &str) -> Result<String, ConfigError> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            key,
            format!(
                "{value:?} must be an absolute http(s) URL like \"https://scim.example.com/api/scim/v2\""
            ),
        )),
    }
}

fn database_url(value: &str, data_dir: &Path) -> Result<DatabaseUrl, ConfigError> {
    if value.is_empty() {
        return Ok(DatabaseUrl::Sqlite(data_dir.join("dirsync.db")));
    }
    if let Some(path) = value.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(invalid(
                "database.url",
                "an sqlite:// URL needs a file path",
            ));
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return match url::Url::parse(value) {
            Ok(url) if url.has_host() => {
                Ok(DatabaseUrl::Postgres(SecretString::new(value.to_owned())))
            }
            _ => Err(invalid("database.url", "is not a valid postgres:// URL")),
        };
    }
    Err(invalid(
        "database.url",
        "must be empty (embedded SQLite), an sqlite:// URL or a postgres:// URL",
    ))
}

fn admin_token(token: &str, token_file: &str) -> Result<Option<SecretString>, ConfigError> {
    match (token.is_empty(), token_file.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Err(invalid(
            "admin.token",
            "set either admin.token or admin.token_file, not both",
        )),
        (false, true) => checked_admin_token("admin.token", token.to_owned()),
        (true, false) => {
            let contents = std::fs::read_to_string(token_file).map_err(|e| {
                invalid(
                    "admin.token_file",
                    format!("cannot read {token_file:?}: {e}"),
                )
            })?;
            checked_admin_token("admin.token_file", contents.trim().to_owned())
        }
    }
}

fn checked_admin_token(
    key: &'static str,
    token: String,
) -> Result<Option<SecretString>, ConfigError> {
    if token.chars().count() < 32 {
        return Err(invalid(
            key,
            "the admin credential must be at least 32 characters long",
        ));
    }
    Ok(Some(SecretString::new(token)))
}

fn log_level(value: &str) -> Result<String, ConfigError> {
    tracing_subscriber::EnvFilter::builder()
        .parse(value)
        .map(|_| value.to_owned())
        .map_err(|e| invalid("log.level", format!("{value:?} is not a log filter: {e}")))
}

/// The effective configuration as TOML, secrets redacted (for `dirsync check-config`).
pub fn render(settings: &Settings) -> String {
    toml::to_string_pretty(settings).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

#[cfg(test)]
mod tests;
