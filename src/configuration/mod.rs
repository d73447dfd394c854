//! Configuration: built-in defaults (the shipped `config/dirsync.toml`), then the operator's file,
//! then `DIRSYNC__SECTION__KEY` environment variables; then validation into [`Settings`].
//!
//! Named `configuration` so it does not clash with the `config` crate it wraps.

mod raw;
mod settings;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};

use crate::secret::SecretString;
use raw::RawConfig;
pub use settings::{
    AdminSettings, DatabaseSettings, DatabaseUrl, Deactivation, GroupMatch, LdapSettings,
    LogFormat, LogSettings, QualyticsSettings, RoleRule, ScimSettings, ServerSettings, Settings,
    SyncSettings, TeamRule,
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
    let tls = match (
        raw.scim.tls_certificate.trim(),
        raw.scim.tls_private_key.trim(),
    ) {
        ("", "") => None,
        ("", _) | (_, "") => {
            return Err(invalid(
                "scim.tls_certificate",
                "set both scim.tls_certificate and scim.tls_private_key, or neither",
            ));
        }
        (certificate, key) => Some(settings::TlsFiles {
            certificate: PathBuf::from(certificate),
            private_key: PathBuf::from(key),
        }),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = if raw.scim.public_url.is_empty() {
        format!("{scheme}://{scim_listen}{base_path}")
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
    if raw.scim.max_connections == 0 {
        return Err(invalid("scim.max_connections", "must be at least 1"));
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
            max_connections: raw.scim.max_connections as usize,
            tls,
            quota: {
                if raw.scim.requests_per_second == 0 {
                    return Err(invalid("scim.requests_per_second", "must be at least 1"));
                }
                if raw.scim.burst < raw.scim.requests_per_second {
                    return Err(invalid(
                        "scim.burst",
                        "must be at least scim.requests_per_second",
                    ));
                }
                crate::domain::Quota {
                    per_second: raw.scim.requests_per_second,
                    burst: raw.scim.burst,
                }
            },
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
        sync: sync_settings(&raw.sync)?,
        ldap: ldap_settings(raw.ldap)?,
        qualytics: qualytics_settings(raw.qualytics)?,
        audit_retention: match raw.audit.retention.trim() {
            "" | "forever" => None,
            text => Some(duration("audit.retention", text)?).filter(|d| !d.is_zero()),
        },
    })
}

/// Team permissions, lowest first (Qualytics "Team Permissions").
pub const PERMISSIONS: [&str; 5] = ["Reporter", "Viewer", "Drafter", "Author", "Editor"];
/// User roles, lowest first (Qualytics "User Roles").
pub const ROLES: [&str; 3] = ["Member", "Manager", "Admin"];

fn group_match(
    key: &'static str,
    group: Option<String>,
    group_id: Option<String>,
    pattern: Option<String>,
) -> Result<GroupMatch, ConfigError> {
    match (group, group_id, pattern) {
        (Some(name), None, None) => Ok(GroupMatch::Name(name)),
        (None, Some(id), None) => Ok(GroupMatch::Id(id)),
        (None, None, Some(pattern)) => Ok(GroupMatch::Pattern(pattern)),
        _ => Err(invalid(
            key,
            "each rule names exactly one of group, group_id or pattern",
        )),
    }
}

fn qualytics_settings(raw: raw::RawQualytics) -> Result<Option<QualyticsSettings>, ConfigError> {
    if raw.url.trim().is_empty() {
        return Ok(None);
    }
    let url = absolute_url("qualytics.url", raw.url.trim())?;
    let token = match (raw.token.is_empty(), raw.token_file.is_empty()) {
        (false, false) => {
            return Err(invalid(
                "qualytics.token",
                "set token or token_file, not both",
            ));
        }
        (true, true) => {
            return Err(invalid(
                "qualytics.token",
                "must be set when qualytics.url is",
            ));
        }
        (true, false) => SecretString::new(
            std::fs::read_to_string(&raw.token_file)
                .map_err(|e| {
                    invalid(
                        "qualytics.token_file",
                        format!("cannot read {:?}: {e}", raw.token_file),
                    )
                })?
                .trim()
                .to_owned(),
        ),
        (false, true) => SecretString::new(raw.token),
    };
    let roles_add_only = match raw.role_mode.as_str() {
        "manage" => false,
        "add_only" => true,
        other => {
            return Err(invalid(
                "qualytics.role_mode",
                format!("{other:?} is not manage or add_only"),
            ));
        }
    };
    let mut teams = Vec::new();
    for rule in raw.teams {
        let permission = PERMISSIONS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(&rule.permission))
            .ok_or_else(|| {
                invalid(
                    "qualytics.teams",
                    format!(
                        "{:?} is not one of {}",
                        rule.permission,
                        PERMISSIONS.join(", ")
                    ),
                )
            })?;
        if rule
            .team
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("public"))
        {
            return Err(invalid(
                "qualytics.teams",
                "the Public team is never managed by dirsync",
            ));
        }
        teams.push(TeamRule {
            tenant: rule.tenant,
            group: group_match("qualytics.teams", rule.group, rule.group_id, rule.pattern)?,
            team: rule.team,
            permission: (*permission).to_owned(),
            datastores: rule.datastores,
        });
    }
    let mut roles = Vec::new();
    for rule in raw.roles {
        let role = ROLES
            .iter()
            .find(|r| r.eq_ignore_ascii_case(&rule.role))
            .ok_or_else(|| {
                invalid(
                    "qualytics.roles",
                    format!("{:?} is not one of {}", rule.role, ROLES.join(", ")),
                )
            })?;
        roles.push(RoleRule {
            tenant: rule.tenant,
            group: group_match("qualytics.roles", rule.group, rule.group_id, rule.pattern)?,
            role: (*role).to_owned(),
        });
    }
    Ok(Some(QualyticsSettings {
        url,
        token,
        tls_verify: raw.tls_verify,
        timeout: duration("qualytics.timeout", &raw.timeout)?,
        max_retries: raw.max_retries,
        tenants: raw.tenants,
        roles_add_only,
        adopt_teams: raw.adopt_teams,
        teams,
        roles,
    }))
}

fn sync_settings(raw: &raw::RawSync) -> Result<SyncSettings, ConfigError> {
    let schedule = match raw.schedule.trim() {
        "" => None,
        text => {
            let schedule = cron::Schedule::from_str(text).map_err(|e| {
                invalid(
                    "sync.schedule",
                    format!(
                        "{text:?} is not a 6-field cron expression (sec min hour day month weekday, \
                         e.g. \"0 */15 * * * *\"): {e}"
                    ),
                )
            })?;
            if schedule.upcoming(chrono::Utc).next().is_none() {
                return Err(invalid("sync.schedule", format!("{text:?} never fires")));
            }
            Some(schedule)
        }
    };
    if raw.guard_max_destructive_percent > 100 {
        return Err(invalid(
            "sync.guard_max_destructive_percent",
            "must be 0 to 100",
        ));
    }
    Ok(SyncSettings {
        schedule,
        change_delay: duration("sync.change_delay", &raw.change_delay)?,
        guard_max_destructive: raw.guard_max_destructive as usize,
        guard_max_destructive_percent: raw.guard_max_destructive_percent,
        lease: duration("sync.lease", &raw.lease)?,
    })
}

fn ldap_settings(raw: raw::RawLdap) -> Result<Option<LdapSettings>, ConfigError> {
    if raw.url.trim().is_empty() {
        return Ok(None);
    }
    let urls: Vec<String> = raw
        .url
        .split([' ', ','])
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(url) = urls
        .iter()
        .find(|u| !(u.starts_with("ldap://") || u.starts_with("ldaps://")))
    {
        return Err(invalid(
            "ldap.url",
            format!("{url:?} must start with ldap:// or ldaps://"),
        ));
    }
    let required = |key: &'static str, value: &str| -> Result<String, ConfigError> {
        match value.trim() {
            "" => Err(invalid(key, "must be set when ldap.url is")),
            v => Ok(v.to_owned()),
        }
    };
    let bind_password = match (
        raw.bind_password.is_empty(),
        raw.bind_password_file.is_empty(),
    ) {
        (false, false) => {
            return Err(invalid(
                "ldap.bind_password",
                "set bind_password or bind_password_file, not both",
            ));
        }
        (true, false) => SecretString::new(
            std::fs::read_to_string(&raw.bind_password_file)
                .map_err(|e| {
                    invalid(
                        "ldap.bind_password_file",
                        format!("cannot read {:?}: {e}", raw.bind_password_file),
                    )
                })?
                .trim()
                .to_owned(),
        ),
        _ => SecretString::new(raw.bind_password.clone()),
    };
    let member_attribute = match raw.group_object_class.as_str() {
        "groupOfNames" => "member",
        "groupOfUniqueNames" => "uniqueMember",
        "posixGroup" => "memberUid",
        other => {
            return Err(invalid(
                "ldap.group_object_class",
                format!(
                    "{other:?} is not \"groupOfNames\", \"groupOfUniqueNames\" or \"posixGroup\""
                ),
            ));
        }
    };
    let deactivation = match raw.deactivation.as_str() {
        "remove_from_groups" => Deactivation::RemoveFromGroups,
        "disabled_ou" => Deactivation::DisabledOu(required("ldap.disabled_ou", &raw.disabled_ou)?),
        "lock_attribute" => Deactivation::LockAttribute(
            required("ldap.lock_attribute", &raw.lock_attribute)?,
            required("ldap.lock_value", &raw.lock_value)?,
        ),
        other => {
            return Err(invalid(
                "ldap.deactivation",
                format!("{other:?} is not remove_from_groups, disabled_ou or lock_attribute"),
            ));
        }
    };
    let attributes: std::collections::BTreeMap<String, Vec<String>> = raw
        .attributes
        .into_iter()
        .filter(|(_, paths)| !paths.trim().is_empty())
        .map(|(name, paths)| {
            (
                name,
                paths
                    .split('|')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )
        })
        .collect();
    let user_rdn = required("ldap.user_rdn", &raw.user_rdn)?;
    if !attributes.keys().any(|a| a.eq_ignore_ascii_case(&user_rdn)) {
        return Err(invalid(
            "ldap.user_rdn",
            format!("{user_rdn:?} needs a mapping in [ldap.attributes] to take its value from"),
        ));
    }
    if raw.page_size == 0 {
        return Err(invalid("ldap.page_size", "must be at least 1"));
    }
    Ok(Some(LdapSettings {
        urls,
        starttls: raw.starttls,
        tls_verify: raw.tls_verify,
        bind_dn: required("ldap.bind_dn", &raw.bind_dn)?,
        bind_password,
        base_dn: required("ldap.base_dn", &raw.base_dn)?,
        tenants: raw.tenants,
        tenant_ou: raw.tenant_ou,
        users_ou: required("ldap.users_ou", &raw.users_ou)?,
        groups_ou: required("ldap.groups_ou", &raw.groups_ou)?,
        user_object_classes: raw.user_object_classes,
        user_rdn,
        group_object_class: raw.group_object_class,
        member_attribute: member_attribute.to_owned(),
        placeholder_dn: required("ldap.placeholder_dn", &raw.placeholder_dn)?,
        gid_number_min: raw.gid_number_min,
        deactivation,
        marker_attribute: required("ldap.marker_attribute", &raw.marker_attribute)?,
        page_size: raw.page_size,
        timeout: duration("ldap.timeout", &raw.timeout)?,
        attributes,
    }))
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
