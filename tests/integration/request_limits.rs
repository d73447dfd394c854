//! Bodies over the configured size limit are refused with 413, whether the client declares the
//! length or streams the body in chunks, and nothing is written.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, TestApp, assert_scim_error, user_body};

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_writes_nothing() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("DIRSYNC__SCIM__MAX_BODY_BYTES", "2048")],
    )
    .await
    .unwrap();
    let mut body = user_body("big@example.com");
    body["displayName"] = serde_json::json!("x".repeat(4096));
    let response = app.post("/Users", body).await;
    assert_eq!(response.status(), 413);
    assert_scim_error(&response.json().await.unwrap(), 413, None);
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_without_being_read_whole() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("DIRSYNC__SCIM__MAX_BODY_BYTES", "2048")],
    )
    .await
    .unwrap();
    let address = app.scim_address();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/scim/v2/Users HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", "x".repeat(0x400));
    // Three 1 KiB chunks pass the 2 KiB limit; the server answers without waiting for the end.
    for _ in 0..3 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    let mut response = vec![0u8; 1024];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read(&mut response),
    )
    .await
    .unwrap()
    .unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

async fn every_other_limit_is_refused_or_capped_and_the_daemon_stays_up(app: TestApp) {
    let alice = app.create_user("alice@example.com").await;
    // Headers past hyper's buffer: 431, before any handler runs.
    let huge = "x".repeat(512 * 1024);
    let response = app
        .scim(reqwest::Method::GET, "/Users")
        .header("x-padding", huge)
        .send()
        .await;
    assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(431));
    // A filter over 4,096 bytes, and one nested past 32 levels: 400 invalidFilter.
    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
    for filter in [long, deep] {
        let response = app
            .scim(reqwest::Method::GET, "/Users")
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_scim_error(&response.json().await.unwrap(), 400, Some("invalidFilter"));
    }
    // More than 1,000 PATCH operations: 400, and nothing of it applied.
    let operations: Vec<serde_json::Value> = (0..1001)
        .map(|n| serde_json::json!({"op": "replace", "path": "displayName", "value": format!("n{n}")}))
        .collect();
    let (status, body) = app
        .patch(
            &format!("/Users/{alice}"),
            serde_json::Value::Array(operations),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, stored) = app.get_json(&format!("/Users/{alice}")).await;
    assert!(stored.get("displayName").is_none(), "{stored}");
    // An indexed attribute over 1,024 bytes: 400 invalidValue naming it, on create, PATCH and
    // group create alike, and nothing stored (PostgreSQL cannot index such a value).
    let long = "b".repeat(1025);
    let mut body = crate::support::user_body("long@example.com");
    body["displayName"] = serde_json::Value::String(long.clone());
    let response = app.post("/Users", body).await;
    assert_eq!(response.status(), 400);
    let refused: serde_json::Value = response.json().await.unwrap();
    assert_scim_error(&refused, 400, Some("invalidValue"));
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .starts_with("displayName"),
        "{refused}"
    );
    let (status, _) = app
        .patch(
            &format!("/Users/{alice}"),
            serde_json::json!([{"op": "replace", "path": "externalId", "value": long}]),
        )
        .await;
    assert_eq!(status, 400);
    let response = app
        .post(
            "/Groups",
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": long,
            }),
        )
        .await;
    assert_eq!(response.status(), 400);
    let (_, users) = app.get_json("/Users").await;
    assert_eq!(users["totalResults"], 1, "{users}");
    let (_, stored) = app.get_json(&format!("/Users/{alice}")).await;
    assert!(stored.get("externalId").is_none(), "{stored}");
    // A page asked for past 1,000 is cut to 1,000 (RFC 7644 §3.4.2.4 lets the server cap it).
    let (status, page) = app.get_json("/Users?count=1000000").await;
    assert_eq!((status, page["itemsPerPage"].as_u64()), (200, Some(1)));
    let (status, config) = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(
        (status, config["filter"]["maxResults"].as_u64()),
        (200, Some(1000))
    );
    // And the daemon is still up.
    let (status, _) = app.get_json(&format!("/Users/{alice}")).await;
    assert_eq!(status, 200);
}

crate::on_both_databases!(every_other_limit_is_refused_or_capped_and_the_daemon_stays_up);

#[tokio::test]
async fn a_connection_over_the_limit_gets_503_with_retry_after_until_one_closes() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("DIRSYNC__SCIM__MAX_CONNECTIONS", "2")])
        .await
        .unwrap();
    let address = app.scim_address();
    // Two idle connections take both slots.
    let first = TcpStream::connect(&address).await.unwrap();
    let _second = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // A fresh client (its own connection) is turned away, with a SCIM error and Retry-After.
    let refused = reqwest::Client::new()
        .get(format!("{}/Users", app.scim))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_scim_error(&refused.json().await.unwrap(), 503, None);
    // One closes; its slot serves the next client.
    drop(first);
    let started = std::time::Instant::now();
    loop {
        let status = reqwest::Client::new()
            .get(format!("{}/Users", app.scim))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no slot came free"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
