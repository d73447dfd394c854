//! Health endpoints, the backend each lane runs on, and graceful shutdown.

use std::time::Duration;

use dirsync::store::Backend as StoreBackend;
use sea_orm::ConnectionTrait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::on_both_databases;
use crate::support::{Backend, TestApp, user_body};

on_both_databases!(
    each_lane_runs_on_its_database,
    healthz_and_readyz_answer_on_both_listeners_without_a_token,
    shutdown_stops_accepting_and_finishes_the_request_in_flight,
);

async fn each_lane_runs_on_its_database(app: TestApp) {
    let expected = match app.backend {
        Backend::Sqlite => StoreBackend::Sqlite,
        Backend::Postgres => StoreBackend::Postgres,
    };
    assert_eq!(app.store.backend(), expected);
}

async fn healthz_and_readyz_answer_on_both_listeners_without_a_token(app: TestApp) {
    let scim_root = app.scim.trim_end_matches("/api/scim/v2").to_owned();
    for root in [scim_root, app.admin.clone()] {
        for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let response = app
                .client
                .get(format!("{root}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{root}{path}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["status"], status);
        }
    }
}

async fn shutdown_stops_accepting_and_finishes_the_request_in_flight(mut app: TestApp) {
    let address = app.scim_address();
    let body = user_body("inflight@example.com").to_string();
    let (first, rest) = body.split_at(body.len() / 2);

    // A request whose body is only half sent when the shutdown starts.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/scim/v2/Users HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
        app.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let running = app.take_running();
    let shutdown = tokio::spawn(running.shutdown());

    // New connections are refused soon after the shutdown starts.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener still accepts after shutdown began");

    // The request in flight completes.
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..n]);
        if String::from_utf8_lossy(&response).contains("inflight@example.com") {
            break;
        }
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .unwrap()
        .unwrap();

    // What it wrote is stored: read through a new connection, the daemon's pool being closed.
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM users WHERE user_name = 'inflight@example.com'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
}
