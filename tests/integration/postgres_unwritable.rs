//! PostgreSQL that cannot take writes: its disk full (a tablespace on a small tmpfs of a
//! private cluster) or the database read-only (as a standby is, when a failover points the
//! daemon at one). Writes answer a SCIM 503 that names the cause, with nothing half-written;
//! reads go on; writes work again once the cause is gone.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;

use crate::faults::assert_all_readable;
use crate::support::postgres::{PrivateCluster, alter_database_and_end_sessions};
use crate::support::tmpfs::{Unmount, mount_tmpfs, remount};
use crate::support::{Backend, TestApp, assert_scim_error, id_of, user_body};

/// A 503 whose detail names `cause`, with a Retry-After.
async fn assert_unwritable(response: reqwest::Response, cause: &str) {
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after);
    assert_scim_error(&body, 503, None);
    assert!(
        body["detail"].as_str().unwrap_or_default().contains(cause),
        "{body}"
    );
}

/// 20,000 characters that do not compress, so each user really takes disk (PostgreSQL
/// compresses long values that repeat themselves).
fn incompressible() -> String {
    (0..625)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_postgresql_disk_refuses_writes_with_503_keeps_reads_and_recovers() {
    let disk = tempfile::tempdir().unwrap();
    if mount_tmpfs(disk.path(), "16m").is_none() {
        return;
    }
    let _unmount = Unmount(disk.path().to_owned());
    let Some(cluster) = PrivateCluster::start_or_skip() else {
        return;
    };
    cluster.give(disk.path()).unwrap();
    // The whole database lives in the small tablespace; the WAL stays on the cluster's disk.
    let admin = Database::connect(cluster.url()).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "CREATE TABLESPACE small LOCATION '{}'",
            disk.path().display()
        ))
        .await
        .unwrap();
    admin
        .execute_unprepared("CREATE DATABASE on_small_disk TABLESPACE small")
        .await
        .unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/on_small_disk",
        cluster.port
    );
    let app = TestApp::spawn_with(
        Backend::Postgres,
        &[("DIRSYNC__DATABASE__URL", url.as_str())],
    )
    .await
    .unwrap();

    let mut acknowledged = Vec::new();
    let full = loop {
        let mut body = user_body(&format!("big{}@example.com", acknowledged.len()));
        body["title"] = Value::String(incompressible());
        let response = app.post("/Users", body).await;
        if response.status() != StatusCode::CREATED {
            break response;
        }
        acknowledged.push(id_of(response).await);
        assert!(acknowledged.len() < 2000, "the disk never filled");
    };
    assert_unwritable(full, "disk is full").await;
    assert_all_readable(&app, &acknowledged).await;

    remount(disk.path(), "size=64m");
    let response = app
        .post("/Users", user_body("after-full@example.com"))
        .await;
    assert_eq!(response.status(), 201);
    acknowledged.push(id_of(response).await);
    // Every acknowledged user is there once, and the refused one not at all.
    let (status, listed) = app.get_json("/Users?count=1").await;
    assert_eq!(status, 200);
    assert_eq!(listed["totalResults"], acknowledged.len());
    drop(app);
    drop(admin);
}

/// Makes new sessions of `database` read-only (or writable again) and ends the open ones, so
/// the daemon's pool reconnects into the new setting.
async fn set_read_only(admin: &DatabaseConnection, database: &str, read_only: bool) {
    let setting = match read_only {
        true => "SET default_transaction_read_only = on",
        false => "RESET default_transaction_read_only",
    };
    alter_database_and_end_sessions(admin, database, setting).await;
}

#[tokio::test]
async fn a_read_only_postgresql_database_refuses_writes_with_503_and_keeps_reads() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let before = id_of(app.post("/Users", user_body("before@example.com")).await).await;
    let (server, database) = app.database_url.rsplit_once('/').unwrap();
    let admin = Database::connect(format!("{server}/postgres"))
        .await
        .unwrap();
    set_read_only(&admin, database, true).await;

    // The first use of a cut connection may fail as an outage; every answer is a 503 all the
    // same, and once reconnected it names the cause. Under a loaded machine the pool takes
    // longer than half a second to reconnect (CI once saw five outages in a row), so it gets
    // up to 10 s.
    let mut named = false;
    for n in 0..100 {
        let response = app
            .post("/Users", user_body(&format!("during{n}@example.com")))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert_scim_error(&body, 503, None);
        if body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("read-only")
        {
            named = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(named, "no 503 said the database is read-only");
    let deleted = app
        .scim(Method::DELETE, &format!("/Users/{before}"))
        .send()
        .await
        .unwrap();
    assert_unwritable(deleted, "read-only").await;
    let (status, user) = app.get_json(&format!("/Users/{before}")).await;
    assert_eq!(status, 200, "{user}");
    let (_, found) = app
        .get_json("/Users?filter=userName%20sw%20%22during%22")
        .await;
    assert_eq!(
        found["totalResults"], 0,
        "a refused create was half-written"
    );

    set_read_only(&admin, database, false).await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for n in 0..5 {
        status = app
            .post("/Users", user_body(&format!("after{n}@example.com")))
            .await
            .status();
        if status == StatusCode::CREATED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::CREATED, "writes did not come back");
}
