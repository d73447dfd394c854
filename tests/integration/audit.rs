//! The change log as the audit trail: who changed what, before and after, secrets removed;
//! paged over the admin API and the CLI; pruned past the retention.

use dirsync::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::TestApp;

on_both_databases!(
    every_change_records_the_resource_before_and_after_without_secrets,
    the_audit_trail_pages_by_position_and_filters_by_user,
    entries_past_the_retention_are_pruned,
    a_members_only_patch_is_one_membership_entry_and_a_rename_is_an_update,
);

async fn audit(app: &TestApp, query: &str) -> Value {
    app.admin_get_json(&format!("/v1/tenants/acme/audit{query}"))
        .await
}

async fn every_change_records_the_resource_before_and_after_without_secrets(app: TestApp) {
    let mut body = crate::support::user_body("alice@example.com");
    body["password"] = json!("hunter2-secret");
    let (status, created) = app.send(Method::POST, "/Users", body).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    app.scim(Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    let trail = audit(&app, "").await;
    let entries = trail["entries"].as_array().unwrap();
    let ops: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "update", "delete"]);
    assert_eq!(
        entries[0]["detail"]["after"]["userName"],
        "alice@example.com"
    );
    assert!(entries[0]["detail"].get("before").is_none());
    assert!(entries[1]["detail"]["before"].get("title").is_none());
    assert_eq!(entries[1]["detail"]["after"]["title"], "Lead");
    assert_eq!(entries[2]["detail"]["before"]["title"], "Lead");
    assert!(entries[1]["token_id"].is_string() && entries[1]["request_id"].is_string());
    assert!(
        !trail.to_string().contains("hunter2"),
        "no secret in the audit trail"
    );
}

async fn the_audit_trail_pages_by_position_and_filters_by_user(app: TestApp) {
    let alice = app.create_user("alice@example.com").await;
    app.create_user("bob@example.com").await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "title", "value": "x"}]),
    )
    .await;
    let first = audit(&app, "?limit=2").await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    let next = first["next_after"].as_i64().unwrap();
    let second = audit(&app, &format!("?limit=2&after={next}")).await;
    assert_eq!(second["entries"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_after"], Value::Null);
    let alice_only = audit(&app, "?user=ALICE@example.com").await;
    let ops: Vec<&str> = alice_only["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "update"]);
    let tomorrow = (app.clock.now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let none = audit(&app, &format!("?since={tomorrow}")).await;
    assert!(none["entries"].as_array().unwrap().is_empty());
}

async fn entries_past_the_retention_are_pruned(app: TestApp) {
    app.create_user("old@example.com").await;
    app.clock.advance(chrono::Duration::days(30));
    app.create_user("new@example.com").await;
    let deleted = app
        .store
        .prune_changes(app.clock.now() - chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let trail = audit(&app, "").await;
    assert_eq!(trail["entries"].as_array().unwrap().len(), 1);
    assert_eq!(
        trail["entries"][0]["detail"]["after"]["userName"],
        "new@example.com"
    );
}

#[tokio::test]
async fn the_audit_command_prints_a_line_per_change_with_what_changed() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    let alice = app.create_user("alice@example.com").await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    let dir = app
        .database_url
        .trim_start_matches("sqlite://")
        .trim_end_matches("/dirsync.db")
        .to_owned();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dirsync"))
        .args([
            "audit",
            "--tenant",
            "acme",
            "--user",
            "alice@example.com",
            "--since",
            "1h",
        ])
        .env("DIRSYNC__SERVER__DATA_DIR", &dir)
        .env("DIRSYNC__DATABASE__URL", &app.database_url)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].contains("create") && lines[1].contains("update"),
        "{stdout}"
    );
    assert!(lines[1].contains("changed: title"), "{stdout}");
}

async fn a_members_only_patch_is_one_membership_entry_and_a_rename_is_an_update(app: TestApp) {
    let user = app.create_user("member@example.com").await;
    let group = app.create_group("Engineers", &[]).await;
    let after_create = audit(&app, "").await["entries"].as_array().unwrap().len();
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "add", "path": "members", "value": [{"value": user}]}]),
    )
    .await;
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "replace", "path": "displayName", "value": "Engineering"}]),
    )
    .await;
    let trail = audit(&app, "").await;
    let ops: Vec<&str> = trail["entries"].as_array().unwrap()[after_create..]
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["membership", "update"]);
}
