//! The LDAP target against a real OpenLDAP slapd: SCIM writes go in, reconciliation runs, and
//! ldap3 searches check the directory itself.

use std::collections::BTreeSet;

use dirsync::sync::{Mode, Outcome, Report, Trigger};
use ldap3::{LdapConnAsync, Mod, Scope, SearchEntry};
use reqwest::Method;
use serde_json::json;

use crate::support::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
use crate::support::{Backend, TestApp, announce, postgres::REQUIRE_SERVICES};

const PEOPLE: &str = "ou=people,ou=acme,dc=example,dc=org";
const GROUPS: &str = "ou=groups,ou=acme,dc=example,dc=org";

/// Starts slapd and a daemon pointed at it; `None` when slapd or PostgreSQL is missing and not
/// required.
async fn spawn(backend: Backend, extra: &[(&str, &str)]) -> Option<(TestApp, Slapd)> {
    let slapd = match Slapd::start() {
        Ok(slapd) => slapd,
        Err(reason) if std::env::var_os(REQUIRE_SERVICES).is_some() => {
            panic!("slapd is required ({REQUIRE_SERVICES}) but unavailable: {reason}")
        }
        Err(reason) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| announce(&format!("note: LDAP lane SKIPPED: {reason}")));
            return None;
        }
    };
    // First a URL where nothing listens: every test also checks that the target fails over.
    let urls = format!("ldap://127.0.0.1:1/ {}", slapd.url);
    let mut env = vec![
        ("DIRSYNC__LDAP__URL", urls.as_str()),
        ("DIRSYNC__LDAP__BIND_DN", ROOT_DN),
        ("DIRSYNC__LDAP__BIND_PASSWORD", ROOT_PW),
        ("DIRSYNC__LDAP__BASE_DN", SUFFIX),
        // Small pages, so every read crosses page boundaries.
        ("DIRSYNC__LDAP__PAGE_SIZE", "2"),
    ];
    env.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &env).await?;
    Some((app, slapd))
}

macro_rules! ldap_tests {
    ($($name:ident $(with [$($extra:expr),*])?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let extra: &[(&str, &str)] = &[$($($extra),*)?];
                    if let Some((app, slapd)) = super::spawn(crate::support::Backend::Sqlite, extra).await {
                        super::$name(app, slapd).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let extra: &[(&str, &str)] = &[$($($extra),*)?];
                    if let Some((app, slapd)) = super::spawn(crate::support::Backend::Postgres, extra).await {
                        super::$name(app, slapd).await;
                    }
                }
            )*
        }
    };
}

ldap_tests!(
    users_and_groups_provisioned_over_scim_become_entries_and_a_second_apply_writes_nothing,
    member_changes_become_member_values_and_an_empty_group_holds_the_placeholder,
    renames_move_entries_keep_their_entry_uuid_and_rewrite_member_values,
    deactivated_users_leave_their_groups_and_deleted_ones_leave_the_directory,
    a_hand_edited_entry_is_corrected_on_the_next_run,
    entries_made_by_hand_are_left_alone_and_reported,
    the_guard_refuses_a_mass_delete_until_forced,
    a_stopped_directory_fails_the_run_and_the_next_run_converges,
    a_directory_that_stops_answering_times_the_run_out_and_the_next_run_converges
        with [("DIRSYNC__LDAP__TIMEOUT", "1s")],
    deactivated_users_move_to_the_disabled_ou_with_that_policy
        with [("DIRSYNC__LDAP__DEACTIVATION", "disabled_ou")],
    deactivated_users_get_the_lock_attribute_with_that_policy
        with [
            ("DIRSYNC__LDAP__DEACTIVATION", "lock_attribute"),
            ("DIRSYNC__LDAP__LOCK_ATTRIBUTE", "employeeType"),
            ("DIRSYNC__LDAP__LOCK_VALUE", "disabled")
        ],
    posix_groups_hold_member_uids_and_get_allocated_gid_numbers
        with [("DIRSYNC__LDAP__GROUP_OBJECT_CLASS", "posixGroup")],
    scim_writes_reach_the_directory_through_the_change_log
        with [("DIRSYNC__SYNC__CHANGE_DELAY", "50ms")],
    writes_that_never_pause_still_reach_the_directory_while_they_go_on
        with [("DIRSYNC__SYNC__CHANGE_DELAY", "100ms")],
    the_cron_schedule_runs_a_full_drift_check
        with [("DIRSYNC__SYNC__SCHEDULE", "* * * * * *")],
    the_admin_api_plans_and_applies_and_lists_runs,
    entries_read_again_by_dn_are_what_the_whole_read_saw_and_gone_ones_are_left_out,
);

async fn search(slapd: &Slapd, base: &str, filter: &str, attrs: &[&str]) -> Vec<SearchEntry> {
    let (connection, mut ldap) = LdapConnAsync::new(&slapd.url).await.unwrap();
    ldap3::drive!(connection);
    ldap.simple_bind(ROOT_DN, ROOT_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    let result = ldap
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .unwrap();
    let _ = ldap.unbind().await;
    // No such object: the container is not there (yet), so nothing is in it.
    if result.1.rc == 32 {
        return Vec::new();
    }
    let (entries, _) = result.success().unwrap();
    entries.into_iter().map(SearchEntry::construct).collect()
}

async fn modify(slapd: &Slapd, dn: &str, mods: Vec<Mod<&str>>) {
    let (connection, mut ldap) = LdapConnAsync::new(&slapd.url).await.unwrap();
    ldap3::drive!(connection);
    ldap.simple_bind(ROOT_DN, ROOT_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap.modify(dn, mods).await.unwrap().success().unwrap();
}

async fn reconcile(app: &TestApp, mode: Mode, force: bool) -> Report {
    app.reconciler
        .reconcile_once(&app.tenant, "ldap", mode, Trigger::Manual, force)
        .await
        .unwrap()
}

fn values(entry: &SearchEntry, attribute: &str) -> BTreeSet<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
        .map(|(_, v)| v.iter().cloned().collect())
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn dn_of(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

async fn members(slapd: &Slapd, group: &str) -> BTreeSet<String> {
    let found = search(slapd, GROUPS, &format!("(cn={group})"), &["member"]).await;
    found
        .first()
        .map(|g| values(g, "member"))
        .unwrap_or_default()
}

async fn users_and_groups_provisioned_over_scim_become_entries_and_a_second_apply_writes_nothing(
    app: TestApp,
    slapd: Slapd,
) {
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    for n in 0..3 {
        app.create_user(&format!("extra{n}")).await;
    }
    app.create_group("Staff", &[&alice, &bob]).await;
    let plan = reconcile(&app, Mode::Plan, false).await;
    assert_eq!(plan.outcome, Outcome::Planned);
    assert!(
        search(&slapd, SUFFIX, "(uid=alice)", &["uid"])
            .await
            .is_empty(),
        "plan writes nothing"
    );
    let first = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(first.outcome, Outcome::Applied, "{:?}", first.failures);
    assert_eq!(first.applied.get("create_user"), Some(&5));
    let found = search(
        &slapd,
        PEOPLE,
        "(uid=alice)",
        &["*", "memberOf", "entryUUID"],
    )
    .await;
    let entry = &found[0];
    assert_eq!(entry.dn, dn_of("alice"));
    assert_eq!(values(entry, "sn"), set(&["Family"]));
    assert_eq!(values(entry, "givenName"), set(&["Given"]));
    assert_eq!(values(entry, "mail"), set(&["alice"]));
    assert_eq!(
        values(entry, "description"),
        set(&[&format!("dirsync:{alice}")])
    );
    assert_eq!(
        values(entry, "memberOf"),
        set(&[&format!("cn=Staff,{GROUPS}")])
    );
    assert_eq!(
        members(&slapd, "Staff").await,
        set(&[&dn_of("alice"), &dn_of("bob")])
    );
    let second = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(second.outcome, Outcome::Applied);
    assert_eq!(second.writes(), 0, "{:?}", second.planned);
    let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        ["applied", "applied", "planned"]
    );
}

async fn member_changes_become_member_values_and_an_empty_group_holds_the_placeholder(
    app: TestApp,
    slapd: Slapd,
) {
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let group = app.create_group("Team", &[]).await;
    reconcile(&app, Mode::Apply, false).await;
    assert_eq!(
        members(&slapd, "Team").await,
        set(&["cn=empty-membership-placeholder"])
    );
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "add", "path": "members", "value": [{"value": alice}, {"value": bob}]}]),
    )
    .await;
    reconcile(&app, Mode::Apply, false).await;
    assert_eq!(
        members(&slapd, "Team").await,
        set(&[&dn_of("alice"), &dn_of("bob")])
    );
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
    )
    .await;
    reconcile(&app, Mode::Apply, false).await;
    assert_eq!(members(&slapd, "Team").await, set(&[&dn_of("alice")]));
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "remove", "path": "members"}]),
    )
    .await;
    let emptied = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(emptied.outcome, Outcome::Applied, "{:?}", emptied.failures);
    assert_eq!(
        members(&slapd, "Team").await,
        set(&["cn=empty-membership-placeholder"])
    );
}

async fn renames_move_entries_keep_their_entry_uuid_and_rewrite_member_values(
    app: TestApp,
    slapd: Slapd,
) {
    let alice = app.create_user("alice").await;
    let group = app.create_group("Sales", &[&alice]).await;
    reconcile(&app, Mode::Apply, false).await;
    let uuid = |e: &SearchEntry| values(e, "entryUUID");
    let before = search(&slapd, PEOPLE, "(uid=alice)", &["entryUUID"]).await;
    let group_before = search(&slapd, GROUPS, "(cn=Sales)", &["entryUUID"]).await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "userName", "value": "alice.smith"}]),
    )
    .await;
    app.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "replace", "path": "displayName", "value": "Sales EMEA"}]),
    )
    .await;
    let report = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.failures);
    assert_eq!(report.applied.get("move_user"), Some(&1));
    assert_eq!(report.applied.get("move_group"), Some(&1));
    let after = search(&slapd, PEOPLE, "(uid=alice.smith)", &["entryUUID", "uid"]).await;
    assert_eq!(after[0].dn, dn_of("alice.smith"));
    assert_eq!(
        uuid(&after[0]),
        uuid(&before[0]),
        "the entry was renamed, not re-created"
    );
    assert_eq!(values(&after[0], "uid"), set(&["alice.smith"]));
    assert!(
        search(&slapd, PEOPLE, "(uid=alice)", &["uid"])
            .await
            .is_empty()
    );
    let group_after = search(&slapd, GROUPS, "(cn=Sales EMEA)", &["entryUUID", "member"]).await;
    assert_eq!(uuid(&group_after[0]), uuid(&group_before[0]));
    assert_eq!(
        values(&group_after[0], "member"),
        set(&[&dn_of("alice.smith")])
    );
    assert_eq!(reconcile(&app, Mode::Apply, false).await.writes(), 0);
}

async fn deactivated_users_leave_their_groups_and_deleted_ones_leave_the_directory(
    app: TestApp,
    slapd: Slapd,
) {
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    app.create_group("Staff", &[&alice, &bob]).await;
    reconcile(&app, Mode::Apply, false).await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    reconcile(&app, Mode::Apply, false).await;
    assert_eq!(members(&slapd, "Staff").await, set(&[&dn_of("bob")]));
    assert_eq!(
        search(&slapd, PEOPLE, "(uid=alice)", &["uid"]).await.len(),
        1,
        "the entry stays"
    );
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    reconcile(&app, Mode::Apply, false).await;
    assert_eq!(
        members(&slapd, "Staff").await,
        set(&[&dn_of("alice"), &dn_of("bob")])
    );
    let response = app
        .scim(Method::DELETE, &format!("/Users/{bob}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let report = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(report.applied.get("delete_user"), Some(&1));
    assert!(
        search(&slapd, PEOPLE, "(uid=bob)", &["uid"])
            .await
            .is_empty()
    );
    assert_eq!(members(&slapd, "Staff").await, set(&[&dn_of("alice")]));
}

async fn a_hand_edited_entry_is_corrected_on_the_next_run(app: TestApp, slapd: Slapd) {
    app.create_user("alice").await;
    reconcile(&app, Mode::Apply, false).await;
    modify(
        &slapd,
        &dn_of("alice"),
        vec![
            Mod::Replace("mail", ["edited@by.hand"].into()),
            Mod::Add("title", ["Boss"].into()),
        ],
    )
    .await;
    let plan = reconcile(&app, Mode::Plan, false).await;
    assert_eq!(plan.plan.counts().get("update_user"), Some(&1));
    reconcile(&app, Mode::Apply, false).await;
    let entry = &search(&slapd, PEOPLE, "(uid=alice)", &["mail", "title"]).await[0];
    assert_eq!(values(entry, "mail"), set(&["alice"]));
    assert!(values(entry, "title").is_empty());
}

async fn entries_made_by_hand_are_left_alone_and_reported(app: TestApp, slapd: Slapd) {
    app.create_user("alice").await;
    reconcile(&app, Mode::Apply, false).await;
    let (connection, mut ldap) = LdapConnAsync::new(&slapd.url).await.unwrap();
    ldap3::drive!(connection);
    ldap.simple_bind(ROOT_DN, ROOT_PW)
        .await
        .unwrap()
        .success()
        .unwrap();
    for uid in ["operator", "dave"] {
        ldap.add(
            &dn_of(uid),
            vec![
                ("objectClass", ["inetOrgPerson"].into()),
                ("uid", [uid].into()),
                ("cn", ["By Hand"].into()),
                ("sn", ["Hand"].into()),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }
    // A SCIM user whose entry would be where a hand-made one already is.
    app.create_user("dave").await;
    let report = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(report.outcome, Outcome::Applied);
    assert_eq!(report.plan.unmanaged, [dn_of("operator")]);
    assert_eq!(report.plan.conflicts, [dn_of("dave")]);
    let dave = &search(&slapd, PEOPLE, "(uid=dave)", &["cn", "description"]).await[0];
    assert_eq!(values(dave, "cn"), set(&["By Hand"]));
    assert!(values(dave, "description").is_empty(), "not taken over");
    assert_eq!(
        search(&slapd, PEOPLE, "(uid=operator)", &["uid"])
            .await
            .len(),
        1
    );
}

async fn the_guard_refuses_a_mass_delete_until_forced(app: TestApp, slapd: Slapd) {
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(app.create_user(&format!("user{n}")).await);
    }
    reconcile(&app, Mode::Apply, false).await;
    for id in &ids {
        app.scim(Method::DELETE, &format!("/Users/{id}"))
            .send()
            .await
            .unwrap();
    }
    let refused = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(refused.outcome, Outcome::Refused);
    assert_eq!(search(&slapd, PEOPLE, "(uid=*)", &["uid"]).await.len(), 4);
    let forced = reconcile(&app, Mode::Apply, true).await;
    assert_eq!(forced.applied.get("delete_user"), Some(&4));
    assert!(search(&slapd, PEOPLE, "(uid=*)", &["uid"]).await.is_empty());
}

async fn a_stopped_directory_fails_the_run_and_the_next_run_converges(
    app: TestApp,
    mut slapd: Slapd,
) {
    let alice = app.create_user("alice").await;
    reconcile(&app, Mode::Apply, false).await;
    app.create_user("bob").await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    slapd.stop();
    let failed = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(failed.outcome, Outcome::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("cannot read ldap"),
        "{:?}",
        failed.error
    );
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(
        list["totalResults"], 2,
        "SCIM keeps working and nothing is lost"
    );
    slapd.resume().unwrap();
    let converged = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(
        converged.outcome,
        Outcome::Applied,
        "{:?}",
        converged.failures
    );
    assert_eq!(search(&slapd, PEOPLE, "(uid=bob)", &["uid"]).await.len(), 1);
    let alice_entry = &search(&slapd, PEOPLE, "(uid=alice)", &["title"]).await[0];
    assert_eq!(values(alice_entry, "title"), set(&["Lead"]));
    let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
    assert!(
        runs.iter()
            .any(|r| r.status == "failed" && r.error.is_some())
    );
}

async fn deactivated_users_move_to_the_disabled_ou_with_that_policy(app: TestApp, slapd: Slapd) {
    let alice = app.create_user("alice").await;
    app.create_group("Staff", &[&alice]).await;
    reconcile(&app, Mode::Apply, false).await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let report = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.failures);
    let moved = search(&slapd, SUFFIX, "(uid=alice)", &["uid"]).await;
    assert_eq!(
        moved[0].dn,
        "uid=alice,ou=disabled,ou=acme,dc=example,dc=org"
    );
    assert_eq!(
        members(&slapd, "Staff").await,
        set(&["cn=empty-membership-placeholder"])
    );
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    reconcile(&app, Mode::Apply, false).await;
    assert_eq!(members(&slapd, "Staff").await, set(&[&dn_of("alice")]));
}

/// Waits up to 20 s for an entry under People to match `filter`; a background run puts it there.
async fn wait_for_entry(slapd: &Slapd, filter: &str, never: &str) {
    let started = std::time::Instant::now();
    while search(slapd, PEOPLE, filter, &["uid"]).await.is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{never}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn a_directory_that_stops_answering_times_the_run_out_and_the_next_run_converges(
    app: TestApp,
    slapd: Slapd,
) {
    app.create_user("before").await;
    reconcile(&app, Mode::Apply, false).await;
    app.create_user("during").await;
    // SIGSTOP: the port still accepts connections, but nothing answers (a hung server).
    slapd.freeze();
    let failed = reconcile(&app, Mode::Apply, false).await;
    slapd.thaw();
    assert_eq!(failed.outcome, Outcome::Failed, "{failed:?}");
    let reason = failed.error.unwrap_or_default();
    assert!(
        reason.contains("ldap") && reason.contains("nothing was changed"),
        "{reason}"
    );
    let report = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.error);
    wait_for_entry(
        &slapd,
        "(uid=during)",
        "the run after the hang did not converge",
    )
    .await;
}

async fn scim_writes_reach_the_directory_through_the_change_log(app: TestApp, slapd: Slapd) {
    app.create_user("follower").await;
    wait_for_entry(&slapd, "(uid=follower)", "the follower never ran").await;
    // The run is recorded as applied just after its writes reach the directory.
    let started = std::time::Instant::now();
    loop {
        let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
        if runs
            .iter()
            .any(|r| r.trigger == "change" && r.status == "applied")
        {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no applied change-driven run: {runs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn writes_that_never_pause_still_reach_the_directory_while_they_go_on(
    app: TestApp,
    slapd: Slapd,
) {
    // A write every few ms never leaves the log still for a 100 ms delay; the follower must run
    // anyway, within three delays, not wait for the writes to stop.
    app.create_user("steady-0").await;
    let started = std::time::Instant::now();
    let mut written = 1;
    while search(&slapd, PEOPLE, "(uid=steady-0)", &["uid"])
        .await
        .is_empty()
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no run reached the directory during {written} steady writes"
        );
        app.create_user(&format!("steady-{written}")).await;
        written += 1;
    }
}

async fn the_cron_schedule_runs_a_full_drift_check(app: TestApp, slapd: Slapd) {
    app.create_user("scheduled").await;
    wait_for_entry(&slapd, "(uid=scheduled)", "the schedule never ran").await;
    let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
    assert!(runs.iter().any(|r| r.trigger == "schedule"));
}

async fn the_admin_api_plans_and_applies_and_lists_runs(app: TestApp, slapd: Slapd) {
    app.create_user("alice").await;
    let plan: serde_json::Value = app
        .admin(Method::POST, "/v1/tenants/acme/reconcile")
        .json(&json!({"mode": "plan"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan[0]["outcome"], "planned", "{plan}");
    assert_eq!(plan[0]["plan"]["operations"][0]["op"], "create");
    assert!(
        search(&slapd, PEOPLE, "(uid=alice)", &["uid"])
            .await
            .is_empty()
    );
    let response = app
        .admin(Method::POST, "/v1/tenants/acme/reconcile")
        .json(&json!({"target": "ldap"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        search(&slapd, PEOPLE, "(uid=alice)", &["uid"]).await.len(),
        1
    );
    let runs: serde_json::Value = app.admin_get_json("/v1/tenants/acme/runs").await;
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["applied", "planned"]);
    let status: serde_json::Value = app.admin_get_json("/v1/tenants/acme/status").await;
    assert!(
        status["requests_last_hour"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(status["targets"][0]["target"], "ldap");
    assert_eq!(status["targets"][0]["last_applied"]["status"], "applied");
    assert_eq!(status["targets"][0]["pending_changes"], 0);
    app.create_user("bob").await;
    let status: serde_json::Value = app.admin_get_json("/v1/tenants/acme/status").await;
    assert_eq!(status["targets"][0]["pending_changes"], 1, "{status}");
    let unknown = app
        .admin(Method::POST, "/v1/tenants/acme/reconcile")
        .json(&json!({"target": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn the_reconcile_and_status_commands_plan_apply_and_report() {
    let Some((app, slapd)) = spawn(Backend::Sqlite, &[]).await else {
        return;
    };
    app.create_user("alice").await;
    let data_dir = app
        .database_url
        .trim_start_matches("sqlite://")
        .trim_end_matches("/dirsync.db")
        .to_owned();
    let run = |args: Vec<&str>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dirsync"));
        command
            .args(args)
            .env("DIRSYNC__SERVER__DATA_DIR", &data_dir)
            .env("DIRSYNC__DATABASE__URL", &app.database_url)
            .env("DIRSYNC__LDAP__URL", &slapd.url)
            .env("DIRSYNC__LDAP__BIND_DN", ROOT_DN)
            .env("DIRSYNC__LDAP__BIND_PASSWORD", ROOT_PW)
            .env("DIRSYNC__LDAP__BASE_DN", SUFFIX)
            .env(
                "DIRSYNC__ADMIN__LISTEN",
                app.admin.trim_start_matches("http://"),
            )
            .env("DIRSYNC__ADMIN__TOKEN", crate::support::ADMIN_TOKEN);
        async move { command.output().await.unwrap() }
    };
    let plan = run(vec!["reconcile", "--tenant", "acme", "--plan"]).await;
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        stdout.contains(&format!("create {}", dn_of("alice"))),
        "{stdout}"
    );
    assert!(
        search(&slapd, PEOPLE, "(uid=alice)", &["uid"])
            .await
            .is_empty()
    );
    let apply = run(vec!["reconcile", "--tenant", "acme"]).await;
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stdout)
    );
    assert_eq!(
        search(&slapd, PEOPLE, "(uid=alice)", &["uid"]).await.len(),
        1
    );
    let status = run(vec!["status", "--tenant", "acme"]).await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("applied") && stdout.contains("planned") && stdout.contains("manual"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tenant acme: last SCIM request"),
        "{stdout}"
    );
    assert!(
        stdout.contains("requests, 0 refused with 429"),
        "the daemon answered: {stdout}"
    );
    assert!(stdout.contains("ldap: last run applied"), "{stdout}");
    let unknown = run(vec!["reconcile", "--tenant", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).starts_with("error: "));
}

async fn deactivated_users_get_the_lock_attribute_with_that_policy(app: TestApp, slapd: Slapd) {
    let alice = app.create_user("alice").await;
    reconcile(&app, Mode::Apply, false).await;
    let locked = |active: bool| json!([{"op": "replace", "path": "active", "value": active}]);
    app.patch(&format!("/Users/{alice}"), locked(false)).await;
    reconcile(&app, Mode::Apply, false).await;
    let entry = &search(&slapd, PEOPLE, "(uid=alice)", &["employeeType"]).await[0];
    assert_eq!(values(entry, "employeeType"), set(&["disabled"]));
    app.patch(&format!("/Users/{alice}"), locked(true)).await;
    reconcile(&app, Mode::Apply, false).await;
    let entry = &search(&slapd, PEOPLE, "(uid=alice)", &["employeeType"]).await[0];
    assert!(values(entry, "employeeType").is_empty());
}

async fn posix_groups_hold_member_uids_and_get_allocated_gid_numbers(app: TestApp, slapd: Slapd) {
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    app.create_group("Dev", &[&alice, &bob]).await;
    app.create_group("Empty", &[]).await;
    let report = reconcile(&app, Mode::Apply, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.failures);
    let groups = search(
        &slapd,
        GROUPS,
        "(objectClass=posixGroup)",
        &["cn", "gidNumber", "memberUid"],
    )
    .await;
    assert_eq!(groups.len(), 2);
    let dev = groups
        .iter()
        .find(|g| values(g, "cn").contains("Dev"))
        .unwrap();
    assert_eq!(values(dev, "memberUid"), set(&["alice", "bob"]));
    let mut gids: Vec<u32> = groups
        .iter()
        .map(|g| {
            values(g, "gidNumber")
                .into_iter()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    gids.sort();
    assert!(gids[0] >= 20000 && gids[1] > gids[0], "{gids:?}");
    let empty = groups
        .iter()
        .find(|g| values(g, "cn").contains("Empty"))
        .unwrap();
    assert!(values(empty, "memberUid").is_empty());
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "userName", "value": "alice2"}]),
    )
    .await;
    reconcile(&app, Mode::Apply, false).await;
    let dev = &search(&slapd, GROUPS, "(cn=Dev)", &["memberUid"]).await[0];
    assert_eq!(values(dev, "memberUid"), set(&["alice2", "bob"]));
    assert_eq!(reconcile(&app, Mode::Apply, false).await.writes(), 0);
}

async fn entries_read_again_by_dn_are_what_the_whole_read_saw_and_gone_ones_are_left_out(
    app: TestApp,
    slapd: Slapd,
) {
    use dirsync::sync::Target;
    use dirsync::sync::ldap::LdapTarget;
    use dirsync::sync::model::Kind;

    let alice = app.create_user("alice").await;
    app.create_user("bob").await;
    app.create_group("staff", &[alice.as_str()]).await;
    reconcile(&app, Mode::Apply, false).await;
    let settings = app.settings.ldap.clone().unwrap();
    let target = LdapTarget::new(settings);
    let whole = target.observe(&app.tenant).await.unwrap().entries;
    assert_eq!(whole.len(), 3);
    let staff_dn = format!("cn=staff,{GROUPS}");
    // DNs in another case name the same entries; a DN with nothing there, or an entry of the
    // other kind, is left out.
    let wanted = vec![
        (Kind::User, dn_of("alice").to_uppercase()),
        (Kind::Group, staff_dn.to_uppercase()),
        (Kind::User, dn_of("nobody")),
        (Kind::User, staff_dn.clone()),
    ];
    let again = target.observe_again(&app.tenant, &wanted).await.unwrap();
    let expected: Vec<_> = whole
        .iter()
        .filter(|e| e.location != dn_of("bob"))
        .cloned()
        .collect();
    assert_eq!(again, expected, "alice, then the group with its member");
    // What changed since is read as it is now.
    modify(
        &slapd,
        &dn_of("alice"),
        vec![Mod::Add("title", ["Boss"].into())],
    )
    .await;
    let again = target
        .observe_again(&app.tenant, &[(Kind::User, dn_of("alice"))])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attributes.get("title").map(|v| v.len()), Some(1));
}
