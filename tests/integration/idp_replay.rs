//! Each IdP's provisioning cycle (`tests/idp/<idp>.json`) replayed against a live daemon, with
//! the stored state checked after the steps that change it, and the dialect's normalisations
//! seen firing. The same replay is `dirsync selftest`.

use dirsync::domain::IdpKind;
use dirsync::selftest::{self, Report};
use serde_json::Value;

use crate::on_both_databases;
use crate::support::TestApp;

on_both_databases!(
    entra_s_full_cycle_replays_green,
    okta_s_full_cycle_replays_green,
    onelogin_s_full_cycle_replays_green,
    jumpcloud_s_full_cycle_replays_green,
    entra_s_cycle_against_a_generic_tenant_fails_only_its_dialect_steps,
);

async fn replay_as(app: &TestApp, tenant: &str, kind: IdpKind, corpus: IdpKind) -> Report {
    let (_, token) = app.another_tenant_of_kind(tenant, kind).await;
    let corpus = selftest::corpus(corpus).unwrap();
    selftest::replay(&app.client, &app.scim, &token, &corpus).await
}

fn failures(report: &Report) -> Vec<String> {
    report
        .steps
        .iter()
        .filter_map(|s| s.failure.as_ref().map(|f| format!("{}: {f}", s.name)))
        .collect()
}

/// The normalisations that fired for a tenant, from the admin API.
async fn fired(app: &TestApp, tenant: &str) -> Vec<String> {
    let body: Value = app
        .admin_get_json(&format!("/v1/tenants/{tenant}/normalisations"))
        .await;
    body["normalisations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["fired"].as_u64().unwrap_or(0) > 0)
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

/// After a replay nothing it created is left in the tenant.
async fn assert_cleaned_up(app: &TestApp, tenant: &str) {
    let tenant = app.store.tenant_by_name(tenant).await.unwrap();
    let query = dirsync::domain::ListQuery {
        filter: None,
        sort: None,
        page: dirsync::domain::PageRequest {
            start_index: 1,
            count: 10,
        },
    };
    assert_eq!(
        app.store.list_users(tenant.id, &query).await.unwrap().total,
        0
    );
    assert_eq!(
        app.store
            .list_groups(tenant.id, &query, false)
            .await
            .unwrap()
            .total,
        0
    );
}

async fn entra_s_full_cycle_replays_green(app: TestApp) {
    let report = replay_as(&app, "contoso", IdpKind::Entra, IdpKind::Entra).await;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert!(report.steps.len() >= 20);
    let fired = fired(&app, "contoso").await;
    for expected in [
        "ops_any_case",
        "string_booleans",
        "pathless_value_paths",
        "filtered_path_creates",
        "manager_as_string",
        "filter_on_single_valued",
    ] {
        assert!(
            fired.iter().any(|f| f == expected),
            "{expected} in {fired:?}"
        );
    }
    assert_cleaned_up(&app, "contoso").await;
}

async fn okta_s_full_cycle_replays_green(app: TestApp) {
    let report = replay_as(&app, "okta-org", IdpKind::Okta, IdpKind::Okta).await;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(fired(&app, "okta-org").await, ["patch_id_echo"]);
    assert_cleaned_up(&app, "okta-org").await;
}

async fn onelogin_s_full_cycle_replays_green(app: TestApp) {
    let report = replay_as(&app, "onelogin", IdpKind::Onelogin, IdpKind::Onelogin).await;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(
        fired(&app, "onelogin").await,
        ["drop_empty_values", "drop_unknown_attributes"]
    );
    assert_cleaned_up(&app, "onelogin").await;
}

async fn jumpcloud_s_full_cycle_replays_green(app: TestApp) {
    let report = replay_as(&app, "jumpcloud", IdpKind::Jumpcloud, IdpKind::Jumpcloud).await;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_cleaned_up(&app, "jumpcloud").await;
}

async fn entra_s_cycle_against_a_generic_tenant_fails_only_its_dialect_steps(app: TestApp) {
    let report = replay_as(&app, "strict", IdpKind::Generic, IdpKind::Entra).await;
    let failed: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.failure.is_some())
        .map(|s| s.name.as_str())
        .collect();
    // Every step that needs a normalisation is refused with a SCIM error; the rest pass.
    assert!(failed.contains(&"create user Bob whose manager is sent as a bare string"));
    assert!(failed.contains(&"disable Alice with a string boolean"));
    assert!(failed.iter().any(|f| f.starts_with("update Alice")));
    assert!(
        !failed
            .iter()
            .any(|f| f.starts_with("Test Connection") || f.starts_with("create user Alice"))
    );
    assert!(fired(&app, "strict").await.is_empty());
}

#[tokio::test]
async fn the_selftest_command_replays_a_cycle_and_prints_a_line_per_step() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    let (_, token) = app.another_tenant_of_kind("okta-cli", IdpKind::Okta).await;
    let scim = app.scim.clone();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dirsync"))
        .args(["selftest", "--url", &scim, "--idp", "okta"])
        .env("DIRSYNC_SELFTEST_TOKEN", &token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let steps = selftest::corpus(IdpKind::Okta).unwrap().steps.len();
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("PASS  ")).count(),
        steps
    );
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("selftest: {steps} passed, 0 failed")),
        "{stdout}"
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dirsync"))
        .args([
            "selftest",
            "--url",
            &scim,
            "--idp",
            "okta",
            "--token",
            "dirsync_wrong",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAIL  ") && stdout.contains(" passed, "),
        "{stdout}"
    );
}
