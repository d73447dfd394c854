//! The reconciliation step against the in-memory target and the real store: idempotence, plan
//! mode, the guard, failed reads, the lease, and run records.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use dirsync::domain::sync::TargetLink;
use dirsync::store::{HELD_LINKS, LINK_BATCH};
use dirsync::sync::memory::MemoryTarget;
use dirsync::sync::{Guard, Mode, Outcome, Reconciler, Trigger};
use reqwest::Method;
use serde_json::json;

use crate::on_both_databases;
use crate::support::TestApp;

on_both_databases!(
    a_first_apply_creates_everything_and_a_second_changes_nothing,
    creates_renamed_or_deleted_between_plan_and_apply_are_left_to_the_next_run,
    an_apply_creates_a_group_once_every_user_is_created_and_moved,
    an_apply_that_cannot_read_the_store_again_fails_the_run_and_the_next_converges,
    plan_mode_reports_the_operations_and_applies_none,
    the_guard_refuses_a_mass_delete_unless_forced,
    a_failed_read_of_the_target_fails_the_run_with_nothing_applied,
    one_run_per_tenant_and_target_at_a_time,
    a_target_that_goes_away_mid_run_stops_the_run_and_the_next_converges,
    deactivated_users_leave_their_groups_and_come_back_when_reactivated,
    recorded_links_become_exactly_what_a_run_read_and_unchanged_ones_are_not_rewritten,
    links_recorded_batch_by_batch_are_written_once_the_read_is_complete,
);

fn reconciler(app: &TestApp, target: Arc<MemoryTarget>) -> Reconciler {
    Reconciler::new(
        app.store.clone(),
        vec![target],
        Guard {
            max_destructive: 100,
            max_destructive_percent: 50,
        },
        chrono::Duration::minutes(5),
    )
}

async fn apply(reconciler: &Reconciler, app: &TestApp) -> dirsync::sync::Report {
    reconciler
        .reconcile_once(&app.tenant, "memory", Mode::Apply, Trigger::Manual, false)
        .await
        .unwrap()
}

async fn a_first_apply_creates_everything_and_a_second_changes_nothing(app: TestApp) {
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    app.create_group("Staff", &[&alice, &bob]).await;
    let target = Arc::new(MemoryTarget::default());
    let reconciler = reconciler(&app, target.clone());
    let first = apply(&reconciler, &app).await;
    assert_eq!(first.outcome, Outcome::Applied);
    assert_eq!(first.writes(), 3);
    // The apply spent its operations as it went; the report counts them.
    assert!(first.plan.operations.is_empty(), "{:?}", first.plan);
    assert_eq!(first.planned.get("create_user"), Some(&2));
    assert_eq!(first.planned, first.applied);
    let staff = &target.entries()["group/Staff"];
    assert_eq!(staff.members.len(), 2);
    let second = apply(&reconciler, &app).await;
    assert_eq!(second.outcome, Outcome::Applied);
    assert!(second.planned.is_empty(), "{:?}", second.planned);
    assert_eq!(target.writes(), 3, "the second apply wrote nothing");
    let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].status, "applied");
    assert_eq!(
        runs[1].counts.as_ref().unwrap()["applied"]["create_user"],
        2
    );
    assert_eq!(
        runs[1].counts.as_ref().unwrap()["planned"]["create_user"],
        2
    );
    // Where the run spent its time, step by step, in the report and the record.
    let steps: Vec<&str> = first.phases_ms.keys().copied().collect();
    assert_eq!(steps, ["apply", "plan", "read_store", "read_target"]);
    let recorded = runs[1].counts.as_ref().unwrap()["phases_ms"]
        .as_object()
        .unwrap();
    assert_eq!(recorded.len(), 4, "{recorded:?}");
}

/// An apply creates its groups only after every user is created, moved and updated, so a new
/// group's members name users where they now are.
async fn an_apply_creates_a_group_once_every_user_is_created_and_moved(app: TestApp) {
    let moved = app.create_user("before@example.com").await;
    let target = Arc::new(MemoryTarget::default());
    let reconciler = reconciler(&app, target.clone());
    assert_eq!(apply(&reconciler, &app).await.outcome, Outcome::Applied);
    let rename = json!([{"op": "replace", "path": "userName", "value": "after@example.com"}]);
    assert_eq!(app.patch(&format!("/Users/{moved}"), rename).await.0, 200);
    let added = app.create_user("added@example.com").await;
    app.create_group("Team", &[&moved, &added]).await;
    let second = apply(&reconciler, &app).await;
    assert_eq!(second.outcome, Outcome::Applied, "{second:?}");
    assert_eq!(
        target.applied(),
        [
            "create_user",
            "create_user",
            "move_user",
            "update_user",
            "create_group"
        ]
    );
    let team = &target.entries()["group/Team"];
    let members: Vec<&str> = team.members.iter().map(String::as_str).collect();
    assert_eq!(
        members,
        ["user/added@example.com", "user/after@example.com"]
    );
}

/// An apply maps its creates again from the store as it makes them: a user renamed after the
/// plan is not created where the plan looked, one deleted is not created at all, and the next
/// run creates the renamed one where it now belongs.
async fn creates_renamed_or_deleted_between_plan_and_apply_are_left_to_the_next_run(app: TestApp) {
    app.create_user("kept@example.com").await;
    let renamed = app.create_user("renamed@example.com").await;
    let gone = app.create_user("gone@example.com").await;
    let target = Arc::new(MemoryTarget::default());
    let reconciler = reconciler(&app, target.clone());
    let (run, resume) = apply_held_after_planning(&app, &reconciler, &target).await;
    let rename = json!([{"op": "replace", "path": "userName", "value": "moved@example.com"}]);
    assert_eq!(app.patch(&format!("/Users/{renamed}"), rename).await.0, 200);
    let deleted = app.scim(Method::DELETE, &format!("/Users/{gone}")).send();
    assert_eq!(deleted.await.unwrap().status(), 204);
    resume.send(()).unwrap();
    let first = run.await.unwrap();
    assert_eq!(first.outcome, Outcome::Applied, "{first:?}");
    assert_eq!(first.planned.get("create_user"), Some(&3));
    assert_eq!(first.applied.get("create_user"), Some(&1));
    let held = || target.entries().into_keys().collect::<Vec<_>>();
    assert_eq!(held(), ["user/kept@example.com"]);
    let second = apply(&reconciler, &app).await;
    assert_eq!(second.applied.get("create_user"), Some(&1));
    assert_eq!(held(), ["user/kept@example.com", "user/moved@example.com"]);
}

/// An apply whose read of the store fails while it maps its creates again stops as a run
/// whose target went away does: a failed outcome saying why, nothing half-applied, and the
/// next run converges.
async fn an_apply_that_cannot_read_the_store_again_fails_the_run_and_the_next_converges(
    app: TestApp,
) {
    use sea_orm::ConnectionTrait;
    app.create_user("first@example.com").await;
    let target = Arc::new(MemoryTarget::default());
    let reconciler = reconciler(&app, target.clone());
    let (run, resume) = apply_held_after_planning(&app, &reconciler, &target).await;
    let database = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    database
        .execute_unprepared(&rename("users", "users_away"))
        .await
        .unwrap();
    resume.send(()).unwrap();
    let failed = run.await.unwrap();
    assert_eq!(failed.outcome, Outcome::Failed, "{failed:?}");
    let why = failed.error.unwrap_or_default();
    assert!(why.starts_with("cannot read the store"), "{why}");
    assert_eq!(target.writes(), 0);
    database
        .execute_unprepared(&rename("users_away", "users"))
        .await
        .unwrap();
    let again = apply(&reconciler, &app).await;
    assert_eq!(again.outcome, Outcome::Applied, "{again:?}");
    assert_eq!(again.applied.get("create_user"), Some(&1));
}

/// Starts an apply that stops once it has planned (a narrowed run reads the target a second
/// time after it read the store) until the returned sender says go on.
async fn apply_held_after_planning(
    app: &TestApp,
    reconciler: &Reconciler,
    target: &MemoryTarget,
) -> (
    tokio::task::JoinHandle<dirsync::sync::Report>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (reached, planned) = tokio::sync::oneshot::channel();
    let (resume, resumed) = tokio::sync::oneshot::channel();
    target.hold_read(2, reached, resumed);
    let run = tokio::spawn({
        let (reconciler, tenant) = (reconciler.clone(), app.tenant.clone());
        async move {
            reconciler
                .reconcile_once(&tenant, "memory", Mode::Apply, Trigger::Manual, false)
                .await
                .unwrap()
        }
    });
    planned.await.unwrap();
    (run, resume)
}

async fn plan_mode_reports_the_operations_and_applies_none(app: TestApp) {
    app.create_user("carol@example.com").await;
    let target = Arc::new(MemoryTarget::default());
    let report = reconciler(&app, target.clone())
        .reconcile_once(&app.tenant, "memory", Mode::Plan, Trigger::Manual, false)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Planned);
    assert_eq!(report.plan.counts().get("create_user"), Some(&1));
    assert_eq!(target.writes(), 0);
    assert!(target.entries().is_empty());
}

async fn the_guard_refuses_a_mass_delete_unless_forced(app: TestApp) {
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(app.create_user(&format!("u{n}@example.com")).await);
    }
    let target = Arc::new(MemoryTarget::default());
    let reconciler = reconciler(&app, target.clone());
    apply(&reconciler, &app).await;
    for id in &ids[..3] {
        let response = app
            .scim(Method::DELETE, &format!("/Users/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let refused = apply(&reconciler, &app).await;
    assert_eq!(refused.outcome, Outcome::Refused);
    assert!(refused.error.as_deref().unwrap().contains("--force"));
    assert_eq!(target.entries().len(), 4, "nothing was deleted");
    let forced = reconciler
        .reconcile_once(&app.tenant, "memory", Mode::Apply, Trigger::Manual, true)
        .await
        .unwrap();
    assert_eq!(forced.outcome, Outcome::Applied);
    assert_eq!(forced.applied.get("delete_user"), Some(&3));
    let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
    assert!(runs.iter().any(|r| r.status == "refused"));
}

async fn a_failed_read_of_the_target_fails_the_run_with_nothing_applied(app: TestApp) {
    app.create_user("dave@example.com").await;
    let target = Arc::new(MemoryTarget::default());
    target.fail_reads.store(true, Ordering::SeqCst);
    let reconciler = reconciler(&app, target.clone());
    let report = apply(&reconciler, &app).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("nothing was changed")
    );
    assert_eq!(target.writes(), 0);
    target.fail_reads.store(false, Ordering::SeqCst);
    assert_eq!(apply(&reconciler, &app).await.outcome, Outcome::Applied);
    assert_eq!(target.entries().len(), 1);
}

async fn one_run_per_tenant_and_target_at_a_time(app: TestApp) {
    let lock = |holder: &'static str| {
        app.store.lock_run(
            app.tenant.id,
            "memory",
            holder,
            chrono::Duration::minutes(5),
        )
    };
    let held = lock("another-replica")
        .await
        .unwrap()
        .expect("the lock is free");
    let again = lock("a-third").await.unwrap();
    assert!(again.is_none(), "a held lock was taken twice");
    let target = Arc::new(MemoryTarget::default());
    let report = apply(&reconciler(&app, target.clone()), &app).await;
    assert_eq!(report.outcome, Outcome::Busy);
    assert_eq!(target.writes(), 0);
    match app.store.backend() {
        // A lease whose holder died expires and is taken over.
        dirsync::store::Backend::Sqlite => app.clock.advance(chrono::Duration::minutes(6)),
        // The advisory lock is the holder's transaction's; it ends when the holder lets go
        // (or its connection dies: the replica tests kill a holder).
        dirsync::store::Backend::Postgres => held.release().await.unwrap(),
    }
    let report = apply(&reconciler(&app, target), &app).await;
    assert_eq!(report.outcome, Outcome::Applied);
}

async fn deactivated_users_leave_their_groups_and_come_back_when_reactivated(app: TestApp) {
    let erin = app.create_user("erin@example.com").await;
    app.create_group("Team", &[&erin]).await;
    let target = Arc::new(MemoryTarget::default());
    let reconciler = reconciler(&app, target.clone());
    apply(&reconciler, &app).await;
    let deactivate = |active: bool| json!([{"op": "replace", "path": "active", "value": active}]);
    app.patch(&format!("/Users/{erin}"), deactivate(false))
        .await;
    apply(&reconciler, &app).await;
    assert!(target.entries()["group/Team"].members.is_empty());
    assert!(target.entries().contains_key("user/erin@example.com"));
    app.patch(&format!("/Users/{erin}"), deactivate(true)).await;
    apply(&reconciler, &app).await;
    assert_eq!(target.entries()["group/Team"].members.len(), 1);
}

async fn a_target_that_goes_away_mid_run_stops_the_run_and_the_next_converges(app: TestApp) {
    for n in 0..3 {
        app.create_user(&format!("w{n}@example.com")).await;
    }
    let target = Arc::new(MemoryTarget::default());
    target.fail_writes.store(true, Ordering::SeqCst);
    let reconciler = reconciler(&app, target.clone());
    let report = apply(&reconciler, &app).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(
        report.failures.len(),
        1,
        "the run stops at the first unavailable answer"
    );
    assert!(report.error.as_deref().unwrap().contains("went away"));
    target.fail_writes.store(false, Ordering::SeqCst);
    let report = apply(&reconciler, &app).await;
    assert_eq!(report.outcome, Outcome::Applied);
    assert_eq!(target.entries().len(), 3);
}

async fn recorded_links_become_exactly_what_a_run_read_and_unchanged_ones_are_not_rewritten(
    app: TestApp,
) {
    // Replaces the links and reads them back in id order.
    let app = &app;
    let replace = |links: Vec<TargetLink>| async move {
        replace_links(app, &links).await;
        held_links(app).await
    };
    let first = vec![
        link(1, "user", "a1", "uid=alice"),
        link(2, "user", "a2", "uid=bob"),
        link(3, "group", "a3", "cn=staff"),
    ];
    assert_eq!(replace(first.clone()).await, first);
    let updated_at = || async {
        let db = sea_orm::Database::connect(app.database_url.as_str())
            .await
            .unwrap();
        let rows = sea_orm::ConnectionTrait::query_all_raw(
            &db,
            sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT updated_at FROM target_links ORDER BY resource_id",
            ),
        )
        .await
        .unwrap();
        rows.iter()
            .map(|r| {
                r.try_get_by_index::<chrono::DateTime<chrono::Utc>>(0)
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let before = updated_at().await;

    // Bob moved, the group is gone, a new user appeared (named twice: the first wins); Alice
    // is as she was, so her row is left alone.
    app.clock.advance(chrono::Duration::minutes(1));
    let second = vec![
        link(1, "user", "a1", "uid=alice"),
        link(2, "user", "a2", "uid=robert"),
        link(4, "user", "a4", "uid=carol"),
        link(4, "user", "a5", "uid=carol2"),
    ];
    assert_eq!(replace(second.clone()).await, second[..3].to_vec());
    let after = updated_at().await;
    assert_eq!(after[0], before[0], "an unchanged link was rewritten");
    assert!(after[1] > before[1], "a changed link was not rewritten");
    // More links than one page of the store's reads: every page is compared and returned.
    let many: Vec<TargetLink> = (1..=1201)
        .map(|n| {
            link(
                n,
                if n % 2 == 0 { "group" } else { "user" },
                &format!("a{n}"),
                "x",
            )
        })
        .collect();
    assert_eq!(replace(many.clone()).await, many);
    assert_eq!(replace(many[1..].to_vec()).await, many[1..].to_vec());
    // Another target's links are its own.
    assert!(
        app.store
            .links(app.tenant.id, "qualytics")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn links_recorded_batch_by_batch_are_written_once_the_read_is_complete(app: TestApp) {
    let held = || held_links(&app);
    let earlier = [
        link(1, "user", "a1", "uid=alice"),
        link(2, "user", "a2", "uid=bob"),
        link(3, "group", "a3", "cn=staff"),
    ];
    replace_links(&app, &earlier).await;

    // A read that stops part way (Alice moved, resource 3 now read as a user) writes nothing.
    let mut recording = app.store.record_links(app.tenant.id, "ldap").unwrap();
    let read = vec![
        link(1, "user", "a1", "uid=alice2"),
        link(3, "user", "a3", "uid=staff"),
    ];
    recording.record(&refs(&read)).await.unwrap();
    drop(recording);
    assert_eq!(held().await, earlier.to_vec());

    // A complete read in two batches: a resource named again in a later batch keeps its first
    // link, and finishing writes what differs and drops what the read did not show (Bob, and
    // resource 3 as a group).
    let mut recording = app.store.record_links(app.tenant.id, "ldap").unwrap();
    recording.record(&refs(&read)).await.unwrap();
    recording
        .record(&refs(&[
            link(1, "user", "a1", "uid=elsewhere"),
            link(4, "group", "a4", "cn=new"),
        ]))
        .await
        .unwrap();
    recording.finish().await.unwrap();
    let complete = vec![
        read[0].clone(),
        read[1].clone(),
        link(4, "group", "a4", "cn=new"),
    ];
    assert_eq!(held().await, complete);

    // Resource 4 read again as a user at the same anchor and DN, in a batch that also holds a
    // group: its link as a group is no answer for it as a user, so it gets a new link.
    let retyped = vec![
        read[0].clone(),
        read[1].clone(),
        link(4, "user", "a4", "cn=new"),
        link(5, "group", "a5", "cn=five"),
    ];
    replace_links(&app, &retyped).await;
    assert_eq!(held().await, retyped);

    // A first read of a large directory does not hold every new link until the end: past
    // HELD_LINKS they are written as they come, and the rest wait for `finish`.
    let many: Vec<TargetLink> = (100..100 + HELD_LINKS as u128 + 700)
        .map(|n| link(n, "user", &format!("a{n}"), &format!("uid=u{n}")))
        .collect();
    let mut recording = app.store.record_links(app.tenant.id, "ldap").unwrap();
    for batch in many.chunks(LINK_BATCH) {
        recording.record(&refs(batch)).await.unwrap();
    }
    drop(recording);
    assert_eq!(held().await.len(), retyped.len() + HELD_LINKS);
}

fn refs(links: &[TargetLink]) -> Vec<dirsync::domain::sync::LinkRef<'_>> {
    links.iter().map(|l| l.borrowed()).collect()
}

/// A link of resource `n`.
fn link(n: u128, kind: &str, anchor: &str, location: &str) -> TargetLink {
    TargetLink {
        resource_type: kind.to_owned(),
        resource_id: uuid::Uuid::from_u128(n),
        anchor: anchor.to_owned(),
        location: location.to_owned(),
    }
}

/// The tenant's LDAP links, by resource id and type.
async fn held_links(app: &TestApp) -> Vec<TargetLink> {
    let mut held = app.store.links(app.tenant.id, "ldap").await.unwrap();
    held.sort_by(|a, b| (a.resource_id, &a.resource_type).cmp(&(b.resource_id, &b.resource_type)));
    held
}

/// Makes the tenant's LDAP links exactly `links`.
async fn replace_links(app: &TestApp, links: &[TargetLink]) {
    app.store
        .replace_links(
            app.tenant.id,
            "ldap",
            links.iter().map(TargetLink::borrowed),
        )
        .await
        .unwrap();
}

/// PostgreSQL numbers change-log entries as they are inserted, and their transactions commit in
/// any order. A change whose transaction was still open while a run noted its position commits
/// after that run with a number below the position: the log's newest entry is not newer than
/// the run, yet the change was never applied. The follower must still run for it.
#[tokio::test]
async fn a_change_committed_after_a_run_with_an_earlier_number_is_still_followed() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(app) = TestApp::spawn(crate::support::Backend::Postgres).await else {
        return;
    };
    let reconciler = reconciler(&app, Arc::new(MemoryTarget::default()));
    app.create_user("first@example.com").await;
    let applied = |report: dirsync::sync::Report| assert_eq!(report.outcome, Outcome::Applied);
    applied(
        reconciler
            .reconcile_once(&app.tenant, "memory", Mode::Apply, Trigger::Manual, false)
            .await
            .unwrap(),
    );

    // Another writer takes the next number and holds its transaction open.
    let other = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let open = other.begin().await.unwrap();
    open.execute_unprepared(&format!(
        "INSERT INTO change_log (tenant_id, occurred_at, resource_type, operation) \
         VALUES ('{}', now(), 'User', 'create')",
        app.tenant.id
    ))
    .await
    .unwrap();
    // A write after it commits first, and a run covers it.
    app.create_user("second@example.com").await;
    applied(
        reconciler
            .reconcile_once(&app.tenant, "memory", Mode::Apply, Trigger::Manual, false)
            .await
            .unwrap(),
    );
    let (position, late) = last_applied_and_late(&app).await;
    assert!(!late);
    let pending = || async {
        app.store
            .pending_changes(app.tenant.id, "memory")
            .await
            .unwrap()
    };
    assert_eq!(pending().await, 0);
    open.commit().await.unwrap();
    assert_eq!(
        pending().await,
        1,
        "status counts the late change as pending"
    );
    assert_eq!(
        app.store.latest_change_seq(app.tenant.id).await.unwrap(),
        position.seq,
        "the late entry is numbered below the run's position"
    );
    assert!(
        app.store
            .committed_late(app.tenant.id, position)
            .await
            .unwrap()
    );

    let shutdown = tokio_util::sync::CancellationToken::new();
    let follower = tokio::spawn(dirsync::sync::schedule::follow_changes(
        reconciler.clone(),
        app.store.clone(),
        std::time::Duration::from_millis(50),
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let followed = loop {
        let runs = app.store.runs(Some(app.tenant.id), 10).await.unwrap();
        if runs
            .iter()
            .any(|run| run.trigger == "change" && run.status == "applied")
        {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    shutdown.cancel();
    follower.await.unwrap();
    assert!(followed, "the follower never ran for the late change");
    let (_, late) = last_applied_and_late(&app).await;
    assert!(!late, "the follower's run counted the late entry");
    assert_eq!(pending().await, 0);
}

/// The last applied run's position, and whether an entry committed late below it.
async fn last_applied_and_late(app: &TestApp) -> (dirsync::domain::sync::ChangePosition, bool) {
    let position = app
        .store
        .last_applied_position(app.tenant.id, "memory")
        .await
        .unwrap()
        .unwrap();
    let late = app
        .store
        .committed_late(app.tenant.id, position)
        .await
        .unwrap();
    (position, late)
}
