//! The `dirsync` binary as an operator uses it: one-shot commands, their errors and exit codes,
//! and `serve` stopping cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::user_body;

fn dirsync(data_dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dirsync"))
        .args(args)
        .env("DIRSYNC__SERVER__DATA_DIR", data_dir)
        .env("DIRSYNC__LOG__FORMAT", "text")
        .envs(env.iter().copied())
        .output()
        .expect("dirsync runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dirsync(
        dir.path(),
        &[
            (
                "DIRSYNC__DATABASE__URL",
                "postgres://dirsync:pg-password-1@db.internal/dirsync",
            ),
            (
                "DIRSYNC__ADMIN__TOKEN",
                "admin-credential-that-is-long-enough-0123",
            ),
            ("DIRSYNC__LDAP__URL", "ldap://ldap.internal:389"),
            ("DIRSYNC__LDAP__BIND_DN", "cn=dirsync,dc=example,dc=org"),
            ("DIRSYNC__LDAP__BIND_PASSWORD", "ldap-password-2"),
            ("DIRSYNC__LDAP__BASE_DN", "dc=example,dc=org"),
            ("DIRSYNC__QUALYTICS__URL", "https://acme.qualytics.example"),
            ("DIRSYNC__QUALYTICS__TOKEN", "qualytics-token-3"),
        ],
        &["check-config"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("ldap.internal") && printed.contains("acme.qualytics.example"),
        "{printed}"
    );
    assert!(
        !printed.contains("ldap-password-2") && !printed.contains("qualytics-token-3"),
        "{printed}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[scim]") && stdout.contains("base_path = \"/api/scim/v2\""),
        "{stdout}"
    );
    assert!(stdout.contains("db.internal"));
    assert!(
        !stdout.contains("pg-password-1") && !stdout.contains("admin-credential-that"),
        "{stdout}"
    );
}

#[test]
fn a_bad_configuration_value_exits_2_with_a_sentence_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dirsync(
        dir.path(),
        &[("DIRSYNC__SCIM__LISTEN", "everywhere")],
        &["check-config"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("scim.listen"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_key_in_the_config_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dirsync.toml");
    std::fs::write(&file, "[database]\nurll = \"x\"\n").unwrap();
    let out = dirsync(
        dir.path(),
        &[],
        &["--config", file.to_str().unwrap(), "serve"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("urll"), "{}", text(&out.stderr));
    let missing = dirsync(
        dir.path(),
        &[("DIRSYNC_CONFIG", "/nonexistent.toml")],
        &["check-config"],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent.toml"));
}

#[test]
fn tenant_and_token_commands_report_bad_input_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 5] = [
        &["token", "create", "--tenant", "nope"],
        &["tenant", "create", "Bad Name"],
        &["tenant", "create", "ok", "--idp", "azure"],
        &["token", "revoke", "not-an-id"],
        &["token", "list", "--tenant", "nope"],
    ];
    for args in cases {
        let out = dirsync(dir.path(), &[], args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.trim().lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
    let out = dirsync(dir.path(), &[], &["tenant", "list"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "only the header: nothing was created"
    );
}

#[test]
fn an_unreachable_database_exits_2_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let out = dirsync(
        dir.path(),
        &[
            (
                "DIRSYNC__DATABASE__URL",
                "postgres://postgres@127.0.0.1:1/dirsync",
            ),
            ("DIRSYNC__DATABASE__CONNECT_TIMEOUT", "2s"),
        ],
        &["tenant", "list"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot open the database at postgres://postgres@127.0.0.1:1/dirsync"),
        "{stderr}"
    );
}

/// The README's walk-through: create a tenant and a token on the command line, start the
/// daemon, create and read a user with the token, stop it with SIGTERM; only the refused request
/// is logged.
#[tokio::test]
async fn the_operator_flow_works_from_the_command_line_and_serve_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dirsync(
        dir.path(),
        &[],
        &["tenant", "create", "acme", "--idp", "okta"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = dirsync(
        dir.path(),
        &[],
        &[
            "token",
            "create",
            "--tenant",
            "acme",
            "--name",
            "okta",
            "--expires-in",
            "90d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("dirsync_"))
        .expect("the token is printed")
        .to_owned();
    let listed = text(&dirsync(dir.path(), &[], &["token", "list", "--tenant", "acme"]).stdout);
    assert!(
        listed.contains("okta") && listed.contains("active") && !listed.contains(&token[8..]),
        "{listed}"
    );

    let mut serve = Command::new(env!("CARGO_BIN_EXE_dirsync"))
        .arg("serve")
        .env("DIRSYNC__SERVER__DATA_DIR", dir.path())
        .env("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0")
        .env("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0")
        .env("DIRSYNC__LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let address = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not report its address"
        );
        let line = lines.next().expect("serve is running").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("SCIM API listening"))
        {
            break event["address"].as_str().unwrap().to_owned();
        }
    };
    assert!(
        dir.path().join("admin.token").exists(),
        "the admin credential was generated"
    );

    let client = reqwest::Client::new();
    let base = format!("http://{address}/api/scim/v2");
    let created = client
        .post(format!("{base}/Users"))
        .bearer_auth(&token)
        .json(&user_body("cli@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = crate::support::id_of(created).await;
    let read = client
        .get(format!("{base}/Users/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let refused = client
        .get(format!("{base}/Users"))
        .bearer_auth("dirsync_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let kill = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let exited = Instant::now();
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(
            exited.elapsed() < Duration::from_secs(10),
            "serve did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
    // At the default level only refused and failed requests get a log line.
    let logged: Vec<u64> = lines
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter(|event| event["message"] == "request")
        .filter_map(|event| event["status"].as_u64())
        .collect();
    assert_eq!(logged, [401]);
}

#[tokio::test]
async fn migrate_creates_a_wal_mode_sqlite_database_with_foreign_keys_and_is_idempotent() {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = dirsync(dir.path(), &[], &["migrate"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("is up to date"));
    }
    let db = Database::connect(format!("sqlite://{}/dirsync.db", dir.path().display()))
        .await
        .unwrap();
    let pragma = |sql: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .unwrap_or_else(|_| row.try_get_by_index::<i64>(0).unwrap().to_string())
        }
    };
    assert_eq!(pragma("PRAGMA journal_mode").await, "wal");
    let tables = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        ))
        .await
        .unwrap();
    let tables: Vec<String> = tables
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect();
    for table in [
        "api_tokens",
        "change_log",
        "group_members",
        "groups",
        "sync_runs",
        "tenants",
        "users",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
    // A membership row cannot point at a user that does not exist: the foreign key holds.
    let orphan = db
        .execute_unprepared(
            "PRAGMA foreign_keys = ON; INSERT INTO group_members (tenant_id, group_id, user_id, created_at) \
             VALUES (x'00', x'01', x'02', '2026-01-01T00:00:00Z')",
        )
        .await;
    assert!(orphan.is_err(), "an orphan membership was accepted");
}

/// The harness itself, at toy size: every scenario runs against a real daemon without errors.
#[test]
fn bench_starts_a_daemon_runs_every_scenario_and_prints_a_table_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "--users",
        "120",
        "--members",
        "110",
        "--lag-seconds",
        "3",
    ];
    let out = dirsync(dir.path(), &[], &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for scenario in [
        "hello route",
        "create 120 users",
        "page all 120 users by 100",
        "userName eq lookups",
        "GET user by id",
        "group PATCH add to 110 members",
        "(large group present)",
        "Entra cycle on 20 tenants at once",
    ] {
        assert!(table.contains(scenario), "{scenario} missing from\n{table}");
    }
    for row in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| scenario") && !l.starts_with("| run"))
    {
        let errors = row.split('|').nth(8).unwrap().trim();
        assert_eq!(errors, "0", "{row}");
    }
    assert!(table.contains("p50 at 100:"), "{table}");
    // Scenario 7, where slapd is installed (the README's test command makes sure it is).
    let slapd = std::path::Path::new("/usr/sbin/slapd").is_file();
    if !slapd && std::env::var_os(crate::support::postgres::REQUIRE_SERVICES).is_none() {
        return;
    }
    let writes = |run: &str| -> String {
        let row = table.lines().find(|l| l.starts_with(&format!("| {run}")));
        let row = row.unwrap_or_else(|| panic!("no {run} row in\n{table}"));
        row.split('|').nth(3).unwrap().trim().to_owned()
    };
    // 120 users and 12 groups; then nothing; then one user renamed.
    assert_eq!(writes("first full apply"), "132", "{table}");
    assert_eq!(writes("no-change run"), "0", "{table}");
    assert_eq!(writes("after 1 users changed"), "1", "{table}");
    assert!(table.contains("Change-to-LDAP lag under"), "{table}");
    assert!(
        !table.contains("(0 failed), 0 change-driven runs"),
        "{table}"
    );
}
