//! The Qualytics target against the stand-in controlplane: rules make teams with their
//! permission and datastores, memberships follow groups, roles follow role rules, renames keep
//! team ids, 429 storms are waited out, and the Public team is never touched.

use dirsync::sync::{Mode, Outcome, Report, Trigger};
use reqwest::Method;
use serde_json::json;

use crate::support::qualytics::{StandIn, TOKEN};
use crate::support::{Backend, TestApp};

const EMAILS: [&str; 3] = ["alice@x.example", "bob@x.example", "carol@x.example"];

fn config(url: &str, extra: &str) -> String {
    format!(
        r#"
[qualytics]
url = "{url}"
token = "{TOKEN}"
max_retries = 6
{extra}

[[qualytics.teams]]
pattern = "data *"
permission = "Editor"
datastores = [1, 2]

[[qualytics.roles]]
group = "Qualytics Admins"
role = "Admin"
"#
    )
}

async fn spawn(backend: Backend, extra: &str) -> Option<(TestApp, StandIn)> {
    let standin = StandIn::start(&EMAILS).await;
    let app = TestApp::spawn_with_config(backend, &[], Some(&config(&standin.url, extra))).await?;
    Some((app, standin))
}

macro_rules! qualytics_tests {
    ($($name:ident $(with $extra:expr)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let extra: &str = [$($extra)?].first().copied().unwrap_or("");
                    let (app, standin) = super::spawn(crate::support::Backend::Sqlite, extra).await.unwrap();
                    super::$name(app, standin).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let extra: &str = [$($extra)?].first().copied().unwrap_or("");
                    if let Some((app, standin)) = super::spawn(crate::support::Backend::Postgres, extra).await {
                        super::$name(app, standin).await;
                    }
                }
            )*
        }
    };
}

qualytics_tests!(
    a_rule_creates_a_team_with_its_permission_datastores_and_members_and_a_second_apply_writes_nothing,
    membership_changes_flow_to_team_members,
    roles_are_granted_and_demoted_by_role_rules,
    roles_are_only_raised_in_add_only_mode with "role_mode = \"add_only\"",
    deactivated_users_lose_access_and_get_it_back_on_reactivation,
    a_rename_keeps_the_team_id,
    a_429_storm_is_waited_out,
    the_guard_refuses_deleting_many_teams_until_forced,
    the_public_team_and_teams_made_by_hand_are_left_alone,
    a_team_made_by_hand_is_adopted_when_configured with "adopt_teams = true",
    users_not_in_qualytics_yet_wait_without_failing_the_run,
    a_refused_token_fails_the_run_with_a_reason_and_changes_nothing,
    a_controlplane_too_slow_for_the_timeout_fails_the_run_and_the_next_converges
        with "timeout = \"300ms\"",
);

async fn reconcile(app: &TestApp, force: bool) -> Report {
    app.reconciler
        .reconcile_once(
            &app.tenant,
            "qualytics",
            Mode::Apply,
            Trigger::Manual,
            force,
        )
        .await
        .unwrap()
}

/// alice, bob, carol as SCIM users; returns their ids.
async fn users(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for email in EMAILS {
        ids.push(app.create_user(email).await);
    }
    ids
}

fn team_users(standin: &StandIn, name: &str) -> Vec<i64> {
    let team = standin.world.lock().unwrap().team(name).unwrap();
    let mut ids: Vec<i64> = team["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

fn role(standin: &StandIn, email: &str) -> String {
    standin.world.lock().unwrap().user(email).unwrap()["role"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_rule_creates_a_team_with_its_permission_datastores_and_members_and_a_second_apply_writes_nothing(
    app: TestApp,
    standin: StandIn,
) {
    let ids = users(&app).await;
    let group = app
        .create_group("Data Engineers", &[&ids[0], &ids[1]])
        .await;
    app.create_group("Qualytics Admins", &[&ids[0]]).await;
    app.create_group("Marketing", &[&ids[2]]).await;
    let first = reconcile(&app, false).await;
    assert_eq!(
        first.outcome,
        Outcome::Applied,
        "{:?} {:?}",
        first.failures,
        first.error
    );
    let team = standin
        .world
        .lock()
        .unwrap()
        .team("Data Engineers")
        .unwrap();
    assert_eq!(team["permission"], "Editor");
    assert_eq!(team["datastore_ids"], json!([1, 2]));
    assert_eq!(team["description"], format!("dirsync:{group}"));
    assert_eq!(team_users(&standin, "Data Engineers"), [1, 2]);
    assert!(
        standin.world.lock().unwrap().team("Marketing").is_none(),
        "no rule, no team"
    );
    assert_eq!(role(&standin, "alice@x.example"), "Admin");
    assert_eq!(role(&standin, "bob@x.example"), "Member");
    let writes = standin.world.lock().unwrap().writes().len();
    let second = reconcile(&app, false).await;
    assert_eq!(second.writes(), 0, "{:?}", second.planned);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tenant = app.tenant.id.to_string();
    let runs = format!(
        r#"dirsync_reconcile_runs_total{{tenant="{tenant}",target="qualytics",outcome="applied"}} 2"#
    );
    assert!(metrics.contains(&runs), "{metrics}");
    let created = format!(
        r#"dirsync_reconcile_operations_total{{tenant="{tenant}",target="qualytics",operation="create_group"}} 1"#
    );
    assert!(metrics.contains(&created), "{metrics}");
    let lag = format!(
        r#"dirsync_provisioning_lag_seconds_count{{tenant="{tenant}",target="qualytics"}} 2"#
    );
    assert!(metrics.contains(&lag), "{metrics}");
    assert_eq!(
        standin.world.lock().unwrap().writes().len(),
        writes,
        "the second apply sent no write"
    );
}

async fn membership_changes_flow_to_team_members(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    let group = app
        .create_group("Data Engineers", &[&ids[0], &ids[1]])
        .await;
    reconcile(&app, false).await;
    app.patch(
        &format!("/Groups/{group}"),
        json!([
            {"op": "add", "path": "members", "value": [{"value": ids[2]}]},
            {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])},
        ]),
    )
    .await;
    reconcile(&app, false).await;
    assert_eq!(team_users(&standin, "Data Engineers"), [1, 3]);
}

async fn roles_are_granted_and_demoted_by_role_rules(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    let admins = app.create_group("Qualytics Admins", &[&ids[1]]).await;
    reconcile(&app, false).await;
    assert_eq!(role(&standin, "bob@x.example"), "Admin");
    app.patch(
        &format!("/Groups/{admins}"),
        json!([{"op": "remove", "path": "members"}]),
    )
    .await;
    reconcile(&app, false).await;
    assert_eq!(role(&standin, "bob@x.example"), "Member");
}

async fn roles_are_only_raised_in_add_only_mode(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    let admins = app.create_group("Qualytics Admins", &[&ids[1]]).await;
    standin.world.lock().unwrap().users[2]["role"] = json!("Manager");
    reconcile(&app, false).await;
    assert_eq!(role(&standin, "bob@x.example"), "Admin");
    assert_eq!(role(&standin, "carol@x.example"), "Manager", "not lowered");
    app.patch(
        &format!("/Groups/{admins}"),
        json!([{"op": "remove", "path": "members"}]),
    )
    .await;
    let report = reconcile(&app, false).await;
    assert_eq!(report.writes(), 0);
    assert_eq!(role(&standin, "bob@x.example"), "Admin");
}

async fn deactivated_users_lose_access_and_get_it_back_on_reactivation(
    app: TestApp,
    standin: StandIn,
) {
    let ids = users(&app).await;
    app.create_group("Data Engineers", &[&ids[0], &ids[1]])
        .await;
    app.create_group("Qualytics Admins", &[&ids[0]]).await;
    reconcile(&app, false).await;
    let active = |value: bool| json!([{"op": "replace", "path": "active", "value": value}]);
    app.patch(&format!("/Users/{}", ids[0]), active(false))
        .await;
    reconcile(&app, false).await;
    assert_eq!(team_users(&standin, "Data Engineers"), [2]);
    assert_eq!(role(&standin, "alice@x.example"), "Member");
    app.patch(&format!("/Users/{}", ids[0]), active(true)).await;
    reconcile(&app, false).await;
    assert_eq!(team_users(&standin, "Data Engineers"), [1, 2]);
    assert_eq!(role(&standin, "alice@x.example"), "Admin");
}

async fn a_rename_keeps_the_team_id(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    let group = app.create_group("Data Engineers", &[&ids[0]]).await;
    reconcile(&app, false).await;
    let id = standin
        .world
        .lock()
        .unwrap()
        .team("Data Engineers")
        .unwrap()["id"]
        .clone();
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "replace", "path": "displayName", "value": "Data Platform"}]),
    )
    .await;
    let report = reconcile(&app, false).await;
    assert_eq!(report.applied.get("move_group"), Some(&1));
    let world = standin.world.lock().unwrap();
    assert_eq!(world.team("Data Platform").unwrap()["id"], id);
    assert!(world.team("Data Engineers").is_none());
    let deletes = world
        .requests
        .iter()
        .filter(|(m, _, _)| m == "DELETE")
        .count();
    assert_eq!(deletes, 0, "renamed in place, never deleted and re-created");
}

async fn a_429_storm_is_waited_out(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    app.create_group("Data Engineers", &[&ids[0]]).await;
    standin.world.lock().unwrap().throttle = 5;
    let report = reconcile(&app, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.error);
    assert!(standin.has_team("Data Engineers"));
    // Beyond max_retries the run fails cleanly and the next converges.
    app.create_group("Data Science", &[&ids[1]]).await;
    standin.world.lock().unwrap().throttle = 50;
    let failed = reconcile(&app, false).await;
    assert_eq!(failed.outcome, Outcome::Failed);
    standin.world.lock().unwrap().throttle = 0;
    assert_eq!(reconcile(&app, false).await.outcome, Outcome::Applied);
    assert!(standin.has_team("Data Science"));
}

async fn a_controlplane_too_slow_for_the_timeout_fails_the_run_and_the_next_converges(
    app: TestApp,
    standin: StandIn,
) {
    let ids = users(&app).await;
    app.create_group("Data Engineers", &[&ids[0]]).await;
    standin.world.lock().unwrap().delay = std::time::Duration::from_secs(2);
    let failed = reconcile(&app, false).await;
    assert_eq!(failed.outcome, Outcome::Failed, "{failed:?}");
    let reason = failed.error.unwrap_or_default();
    assert!(reason.contains("qualytics"), "{reason}");
    assert!(standin.world.lock().unwrap().writes().is_empty());
    standin.world.lock().unwrap().delay = std::time::Duration::ZERO;
    let report = reconcile(&app, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.error);
    assert!(standin.has_team("Data Engineers"));
}

async fn the_guard_refuses_deleting_many_teams_until_forced(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    let mut groups = Vec::new();
    for name in ["Data A", "Data B", "Data C"] {
        groups.push(app.create_group(name, &[&ids[0]]).await);
    }
    reconcile(&app, false).await;
    for group in &groups {
        app.scim(Method::DELETE, &format!("/Groups/{group}"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(reconcile(&app, false).await.outcome, Outcome::Refused);
    assert!(standin.has_team("Data A"));
    let forced = reconcile(&app, true).await;
    assert_eq!(forced.applied.get("delete_group"), Some(&3));
    assert_eq!(
        standin.world.lock().unwrap().teams.len(),
        1,
        "only Public is left"
    );
}

async fn the_public_team_and_teams_made_by_hand_are_left_alone(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    standin.world.lock().unwrap().teams.push(json!({"id": 50, "name": "Data Engineers", "description": "made in the UI", "permission": "Viewer", "datastore_ids": [9], "user_ids": [3]}));
    app.create_group("Data Engineers", &[&ids[0]]).await;
    app.create_group("Public", &[&ids[0]]).await;
    let report = reconcile(&app, false).await;
    assert_eq!(report.plan.conflicts, ["Data Engineers"]);
    let world = standin.world.lock().unwrap();
    let hand = world.team("Data Engineers").unwrap();
    assert_eq!(
        (hand["permission"].clone(), hand["user_ids"].clone()),
        (json!("Viewer"), json!([3]))
    );
    let public = world.team("Public").unwrap();
    assert_eq!(public["user_ids"], json!([1, 2, 3]));
    assert!(
        !world
            .requests
            .iter()
            .any(|(m, p, _)| m != "GET" && p.ends_with("/teams/1"))
    );
}

async fn a_team_made_by_hand_is_adopted_when_configured(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    standin.world.lock().unwrap().teams.push(json!({"id": 50, "name": "Data Engineers", "description": "", "permission": "Viewer", "datastore_ids": [9], "user_ids": [3]}));
    let group = app.create_group("Data Engineers", &[&ids[0]]).await;
    reconcile(&app, false).await;
    let team = standin
        .world
        .lock()
        .unwrap()
        .team("Data Engineers")
        .unwrap();
    assert_eq!(team["id"], 50);
    assert_eq!(team["permission"], "Editor");
    assert_eq!(team["description"], format!("dirsync:{group}"));
    assert_eq!(team_users(&standin, "Data Engineers"), [1]);
}

async fn users_not_in_qualytics_yet_wait_without_failing_the_run(app: TestApp, standin: StandIn) {
    let ids = users(&app).await;
    let dave = app.create_user("dave@x.example").await;
    app.create_group("Data Engineers", &[&ids[0], &dave]).await;
    let report = reconcile(&app, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.failures);
    assert_eq!(report.plan.waiting, ["dave@x.example"]);
    assert_eq!(team_users(&standin, "Data Engineers"), [1]);
    // Dave signs in to Qualytics; the next run adds him.
    standin.world.lock().unwrap().users.push(json!({"id": 4, "email": "dave@x.example", "role": "Member", "user_type": "Human", "deleted_at": null}));
    reconcile(&app, false).await;
    assert_eq!(team_users(&standin, "Data Engineers"), [1, 4]);
    let again = reconcile(&app, false).await;
    assert_eq!(again.writes(), 0);
}

#[tokio::test]
async fn the_permission_model_is_shown_by_the_admin_api_and_the_cli_with_a_rule_change_dry_run() {
    let (app, standin) = spawn(Backend::Sqlite, "").await.unwrap();
    let ids = users(&app).await;
    app.create_group("Data Engineers", &[&ids[0], &ids[1]])
        .await;
    app.create_group("Qualytics Admins", &[&ids[0]]).await;
    let body: serde_json::Value = app
        .admin(
            Method::GET,
            "/v1/tenants/acme/permissions?user=bob@x.example",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["users"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["users"][0]["role"], "Member");
    assert_eq!(body["users"][0]["teams"], json!(["Data Engineers"]));
    assert_eq!(
        body["users"][0]["datastores"],
        json!({"1": "Editor", "2": "Editor"})
    );
    assert_eq!(body["teams"][0]["permission"], "Editor");

    let dir = app
        .database_url
        .trim_start_matches("sqlite://")
        .trim_end_matches("/dirsync.db")
        .to_owned();
    let config = format!("{dir}/dirsync.toml");
    let proposed = format!("{dir}/proposed.toml");
    std::fs::write(
        &proposed,
        config_text(&standin.url).replace(
            "permission = \"Editor\"\ndatastores = [1, 2]",
            "permission = \"Author\"\ndatastores = [3]",
        ),
    )
    .unwrap();
    let run = |args: Vec<String>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dirsync"));
        command
            .args(args)
            .env("DIRSYNC__SERVER__DATA_DIR", &dir)
            .env("DIRSYNC__DATABASE__URL", &app.database_url);
        async move { command.output().await.unwrap() }
    };
    let shown = run(vec![
        "--config".into(),
        config.clone(),
        "permissions".into(),
        "--tenant".into(),
        "acme".into(),
        "--user".into(),
        "alice@x.example".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        stdout.contains("role Admin") && stdout.contains("teams: Data Engineers"),
        "{stdout}"
    );
    let dry = run(vec![
        "--config".into(),
        config,
        "permissions".into(),
        "--tenant".into(),
        "acme".into(),
        "--rules".into(),
        proposed,
    ])
    .await;
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("gives 1 user Author on datastore 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("takes Editor on datastore 1 from 1 user"),
        "{stdout}"
    );
    assert!(
        standin.world.lock().unwrap().writes().is_empty(),
        "showing writes nothing"
    );
}

fn config_text(url: &str) -> String {
    config(url, "")
}

async fn a_refused_token_fails_the_run_with_a_reason_and_changes_nothing(
    app: TestApp,
    standin: StandIn,
) {
    let ids = users(&app).await;
    app.create_group("Data Engineers", &[&ids[0]]).await;
    // A SCIM-only token, say: the controlplane answers 401.
    let bad = dirsync::configuration::QualyticsSettings {
        token: dirsync::secret::SecretString::new("a-scim-only-token".into()),
        ..crate::support::settings(
            None,
            &[
                ("DIRSYNC__QUALYTICS__URL", &standin.url),
                ("DIRSYNC__QUALYTICS__TOKEN", "x"),
            ],
        )
        .qualytics
        .unwrap()
    };
    let target = dirsync::sync::qualytics::QualyticsTarget::new(bad).unwrap();
    let reconciler = dirsync::sync::Reconciler::new(
        app.store.clone(),
        vec![std::sync::Arc::new(target)],
        dirsync::sync::Guard {
            max_destructive: 100,
            max_destructive_percent: 50,
        },
        chrono::Duration::minutes(5),
    );
    let report = reconciler
        .reconcile_once(
            &app.tenant,
            "qualytics",
            Mode::Apply,
            Trigger::Manual,
            false,
        )
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Failed);
    let error = report.error.unwrap();
    assert!(
        error.contains("401") && error.contains("Admin service token"),
        "{error}"
    );
    assert!(standin.world.lock().unwrap().writes().is_empty());
}

/// `systemctl reload` with edited rules: the preview and the next apply both use the new ones.
#[tokio::test]
async fn a_reload_with_edited_rules_changes_the_preview_and_the_next_apply() {
    let (mut app, standin) = spawn(Backend::Sqlite, "").await.unwrap();
    let ids = users(&app).await;
    app.create_group("Data Engineers", &[&ids[0]]).await;
    reconcile(&app, false).await;
    let edited = tempfile::tempdir().unwrap();
    let file = edited.path().join("dirsync.toml");
    std::fs::write(
        &file,
        config_text(&standin.url).replace(
            "permission = \"Editor\"\ndatastores = [1, 2]",
            "permission = \"Author\"\ndatastores = [3]",
        ),
    )
    .unwrap();
    let settings = crate::support::settings(
        Some(&file),
        &[("DIRSYNC__ADMIN__TOKEN", crate::support::ADMIN_TOKEN)],
    );
    let running = app.take_running();
    running.reload(&settings).unwrap();

    let body: serde_json::Value = app.admin_get_json("/v1/tenants/acme/permissions").await;
    assert_eq!(body["teams"][0]["permission"], "Author", "{body}");
    let report = reconcile(&app, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.failures);
    let team = standin
        .world
        .lock()
        .unwrap()
        .team("Data Engineers")
        .unwrap();
    assert_eq!(
        (team["permission"].clone(), team["datastore_ids"].clone()),
        (json!("Author"), json!([3]))
    );
    running.shutdown().await;
}
