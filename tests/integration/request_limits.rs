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
    let address = app
        .scim
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
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
