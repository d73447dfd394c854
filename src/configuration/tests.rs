use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

fn error_text(result: Result<Settings, ConfigError>) -> String {
    match result {
        Ok(_) => String::from("(accepted)"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_built_in_defaults_are_the_documented_ones() {
    let s = load(None, env(&[])).unwrap();
    assert_eq!(s.scim.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.scim.base_path, "/api/scim/v2");
    assert_eq!(s.scim.public_url, "http://127.0.0.1:8080/api/scim/v2");
    assert_eq!(s.admin.listen.to_string(), "127.0.0.1:8081");
    assert!(s.admin.token.is_none());
    assert_eq!(
        s.database.url,
        DatabaseUrl::Sqlite("data/dirsync.db".into())
    );
    assert_eq!(s.server.shutdown_grace, Duration::from_secs(30));
}

#[test]
fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let f = file("[scim]\nlisten = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\n");
    let s = load(
        Some(f.path()),
        env(&[("DIRSYNC__SCIM__LISTEN", "127.0.0.1:9100")]),
    )
    .unwrap();
    assert_eq!(s.scim.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(s.scim.max_body_bytes, 2048);
}

#[test]
fn environment_values_are_converted_to_numbers() {
    let s = load(None, env(&[("DIRSYNC__DATABASE__MAX_CONNECTIONS", "3")])).unwrap();
    assert_eq!(s.database.max_connections, 3);
}

#[test]
fn an_unknown_key_in_the_file_is_refused_by_name() {
    let f = file("[scim]\nlistn = \"0.0.0.0:9000\"\n");
    let text = error_text(load(Some(f.path()), env(&[])));
    assert!(text.contains("listn"), "{text}");
}

#[test]
fn an_unknown_section_is_refused_by_name() {
    let f = file("[ldapp]\nurl = \"ldap://x\"\n");
    let text = error_text(load(Some(f.path()), env(&[])));
    assert!(text.contains("ldapp"), "{text}");
}

#[test]
fn an_unknown_environment_variable_is_refused_by_name() {
    let text = error_text(load(None, env(&[("DIRSYNC__SCIM__LISTN", "x")])));
    assert!(text.contains("listn"), "{text}");
}

#[test]
fn a_bad_value_is_refused_with_its_key() {
    let text = error_text(load(None, env(&[("DIRSYNC__SCIM__LISTEN", "localhost")])));
    assert!(text.contains("scim.listen"), "{text}");
    let text = error_text(load(
        None,
        env(&[("DIRSYNC__DATABASE__MAX_CONNECTIONS", "many")]),
    ));
    assert!(text.contains("max_connections"), "{text}");
    let text = error_text(load(
        None,
        env(&[("DIRSYNC__SERVER__SHUTDOWN_GRACE", "soon")]),
    ));
    assert!(text.contains("server.shutdown_grace"), "{text}");
    let text = error_text(load(
        None,
        env(&[("DIRSYNC__DATABASE__URL", "mysql://x/y")]),
    ));
    assert!(text.contains("database.url"), "{text}");
    let text = error_text(load(None, env(&[("DIRSYNC__LOG__FORMAT", "xml")])));
    assert!(text.contains("log.format"), "{text}");
}

#[test]
fn a_missing_config_file_is_refused() {
    let text = error_text(load(Some(Path::new("/nonexistent/dirsync.toml")), env(&[])));
    assert!(text.contains("/nonexistent/dirsync.toml"), "{text}");
}

#[test]
fn malformed_toml_is_refused() {
    let f = file("[scim\nlisten = ");
    assert!(load(Some(f.path()), env(&[])).is_err());
}

#[test]
fn the_base_path_is_normalised_and_checked() {
    let s = load(None, env(&[("DIRSYNC__SCIM__BASE_PATH", "/scim/v2/")])).unwrap();
    assert_eq!(s.scim.base_path, "/scim/v2");
    let text = error_text(load(None, env(&[("DIRSYNC__SCIM__BASE_PATH", "scim")])));
    assert!(text.contains("scim.base_path"), "{text}");
}

#[test]
fn the_admin_token_comes_from_a_file_and_must_be_long() {
    let f = file("  0123456789abcdef0123456789abcdef\n");
    let path = f.path().to_string_lossy().to_string();
    let s = load(None, env(&[("DIRSYNC__ADMIN__TOKEN_FILE", &path)])).unwrap();
    assert_eq!(
        s.admin.token.as_ref().map(|t| t.expose().to_owned()),
        Some("0123456789abcdef0123456789abcdef".into())
    );
    let text = error_text(load(None, env(&[("DIRSYNC__ADMIN__TOKEN", "short")])));
    assert!(text.contains("admin.token"), "{text}");
}

#[test]
fn the_rendered_configuration_hides_secrets() {
    let s = load(
        None,
        env(&[
            (
                "DIRSYNC__ADMIN__TOKEN",
                "super-secret-admin-credential-0123456789",
            ),
            (
                "DIRSYNC__DATABASE__URL",
                "postgres://dirsync:pgpass@db.internal:5432/dirsync",
            ),
        ]),
    )
    .unwrap();
    let rendered = render(&s);
    assert!(!rendered.contains("super-secret"), "{rendered}");
    assert!(!rendered.contains("pgpass"), "{rendered}");
    assert!(rendered.contains("db.internal"), "{rendered}");
    assert!(!format!("{s:?}").contains("pgpass"));
}
