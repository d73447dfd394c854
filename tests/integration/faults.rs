//! The store failing under the daemon: PostgreSQL restarted (a private cluster, `pg_ctl stop -m
//! fast` and start) or dropping every connection and refusing new ones for a while on the
//! shared one, SQLite's disk filling up, SQLite's files turning read-only under the running
//! daemon (the immutable flag, on an ext4 image of the test's own), and a
//! SQLite file on a read-only file system. Requests fail cleanly with a SCIM 503, the process
//! stays up, nothing that was acknowledged is lost, and it recovers by itself; a database that
//! cannot be opened for writing stops `serve` with a sentence that says why.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::support::postgres::alter_database_and_end_sessions;
use crate::support::tmpfs::{Unmount, mount_ext4, mount_tmpfs, remount, set_immutable};
use crate::support::{Backend, TestApp, assert_scim_error, user_body};

/// Creates users named `prefix…` from `writers` tasks until `stop`; every status, and the
/// acknowledged ids.
async fn create_until(
    app: &TestApp,
    prefix: &str,
    writers: usize,
    stop: Instant,
) -> (Vec<u16>, Vec<String>) {
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..writers).map(|w| {
        let (statuses, acknowledged) = (statuses.clone(), acknowledged.clone());
        async move {
            let mut n = 0;
            while Instant::now() < stop {
                let response = app
                    .post("/Users", user_body(&format!("{prefix}{w}-{n}@example.com")))
                    .await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or_default();
                if status == 201 {
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_owned());
                } else {
                    assert_scim_error(&body, status, None);
                }
                statuses.lock().unwrap().push(status);
                n += 1;
            }
        }
    });
    futures_util::future::join_all(tasks).await;
    let statuses = statuses.lock().unwrap().clone();
    let acknowledged = acknowledged.lock().unwrap().clone();
    (statuses, acknowledged)
}

pub async fn assert_all_readable(app: &TestApp, ids: &[String]) {
    for id in ids {
        let (status, _) = app.get_json(&format!("/Users/{id}")).await;
        assert_eq!(status, 200, "acknowledged user {id} is gone");
    }
}

/// Creates users from 8 writers for `burst` while `outage` takes the database away and gives it
/// back: every answer is 201 or 503, some are 503, the pool reconnects by itself (a new create
/// works, `/readyz` is 200), and every acknowledged user is there.
async fn survives_outage(
    app: &TestApp,
    burst: Duration,
    outage: impl std::future::Future<Output = ()>,
) {
    let writes = create_until(app, "burst", 8, Instant::now() + burst);
    let ((statuses, acknowledged), ()) = tokio::join!(writes, outage);
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "a status other than 201 or 503: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the outage went unnoticed: {statuses:?}"
    );
    let (_, recovered) =
        create_until(app, "after", 1, Instant::now() + Duration::from_millis(300)).await;
    assert!(!recovered.is_empty(), "no create worked after the outage");
    assert_all_readable(app, &acknowledged).await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn postgres_dropping_every_connection_mid_burst_gives_503s_and_the_pool_recovers() {
    let Some(app) = TestApp::spawn_with(
        Backend::Postgres,
        &[("DIRSYNC__DATABASE__CONNECT_TIMEOUT", "1s")],
    )
    .await
    else {
        return;
    };
    let (server, database) = app.database_url.rsplit_once('/').unwrap();
    let admin = Database::connect(format!("{server}/postgres"))
        .await
        .unwrap();
    let outage = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A restart, as the daemon sees it: no new connections, and every open one cut.
        alter_database_and_end_sessions(&admin, database, "ALLOW_CONNECTIONS false").await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"
            ))
            .await
            .unwrap();
    };
    survives_outage(&app, Duration::from_secs(5), outage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_mid_burst_gives_503s_and_the_pool_recovers() {
    let Some(cluster) = crate::support::postgres::PrivateCluster::start_or_skip() else {
        return;
    };
    let url = cluster.url();
    let Some(app) = TestApp::spawn_with(
        Backend::Postgres,
        &[
            ("DIRSYNC__DATABASE__URL", url.as_str()),
            ("DIRSYNC__DATABASE__CONNECT_TIMEOUT", "1s"),
        ],
    )
    .await
    else {
        return;
    };
    let restart = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // pg_ctl blocks while PostgreSQL shuts down and starts; off the runtime's threads.
        let cluster = &cluster;
        tokio::task::block_in_place(|| cluster.pg_ctl_stop()).unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| cluster.pg_ctl_start()).unwrap();
    };
    survives_outage(&app, Duration::from_secs(6), restart).await;
}

#[tokio::test]
async fn a_full_sqlite_disk_refuses_writes_with_503_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    if mount_tmpfs(dir.path(), "3m").is_none() {
        return;
    }
    let _unmount = Unmount(dir.path().to_owned());
    let (app, url) = daemon_on_sqlite_in(dir.path()).await;
    // Large users until the disk is full.
    let mut acknowledged = Vec::new();
    let full = loop {
        let mut body = user_body(&format!("big{}@example.com", acknowledged.len()));
        body["title"] = Value::String("x".repeat(20_000));
        let response = app.post("/Users", body).await;
        if response.status() != StatusCode::CREATED {
            break response;
        }
        acknowledged.push(crate::support::id_of(response).await);
        assert!(acknowledged.len() < 1000, "the disk never filled");
    };
    assert_eq!(full.status(), 503);
    let body: Value = full.json().await.unwrap();
    assert_scim_error(&body, 503, None);
    assert!(body["detail"].as_str().unwrap().contains("full"), "{body}");
    // Reads still work, and the daemon takes writes again once there is room.
    assert_all_readable(&app, &acknowledged).await;
    remount(dir.path(), "size=64m");
    let response = app
        .post("/Users", user_body("after-full@example.com"))
        .await;
    assert_eq!(response.status(), 201);
    acknowledged.push(crate::support::id_of(response).await);

    // Nothing was corrupted on the way.
    assert_intact(&url).await;
}

/// A daemon whose SQLite database lives in `dir`, and the database's URL.
async fn daemon_on_sqlite_in(dir: &std::path::Path) -> (TestApp, String) {
    let url = format!("sqlite://{}/dirsync.db", dir.display());
    let app = TestApp::spawn_with(Backend::Sqlite, &[("DIRSYNC__DATABASE__URL", url.as_str())])
        .await
        .unwrap();
    (app, url)
}

/// `PRAGMA integrity_check` of the SQLite database at `url` is "ok".
async fn assert_intact(url: &str) {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "ok");
}

#[tokio::test]
async fn an_sqlite_file_made_read_only_under_a_running_daemon_refuses_writes_with_503_and_recovers()
{
    let dir = tempfile::tempdir().unwrap();
    let images = tempfile::tempdir().unwrap();
    if mount_ext4(dir.path(), &images.path().join("fs.img"), "64M").is_none() {
        return;
    }
    let _unmount = Unmount(dir.path().to_owned());
    let (app, url) = daemon_on_sqlite_in(dir.path()).await;
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let response = app
            .post("/Users", user_body(&format!("u{n}@example.com")))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        acknowledged.push(crate::support::id_of(response).await);
    }
    // The database and its write-ahead log turn read-only under the open connections.
    let files: Vec<_> = ["dirsync.db", "dirsync.db-wal"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    set_immutable(&files, true);
    let refused = app.post("/Users", user_body("refused@example.com")).await;
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    set_immutable(&files, false);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_scim_error(&body, 503, None);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("cannot take writes"), "{body}");
    // Nothing was half-written, what was acknowledged reads back, and writes come back.
    let (_, listed) = app
        .get_json("/Users?filter=userName%20eq%20%22refused@example.com%22")
        .await;
    assert_eq!(listed["totalResults"], 0, "{listed}");
    assert_all_readable(&app, &acknowledged).await;
    let response = app.post("/Users", user_body("after@example.com")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_intact(&url).await;
}

#[test]
fn serve_on_a_read_only_file_system_exits_2_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    if mount_tmpfs(dir.path(), "8m").is_none() {
        return;
    }
    let _unmount = Unmount(dir.path().to_owned());
    let dirsync = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dirsync"))
            .args(args)
            .env("DIRSYNC__SERVER__DATA_DIR", dir.path())
            .env("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0")
            .output()
            .unwrap()
    };
    assert!(dirsync(&["tenant", "create", "acme"]).status.success());
    // Nothing holds the file open now, so the file system can turn read-only.
    remount(dir.path(), "ro");
    let out = dirsync(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot open the database")
            && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    remount(dir.path(), "rw");
    let listed = dirsync(&["tenant", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("acme"),
        "the data survived"
    );
}
