//! Versions and preconditions (RFC 7644 §3.14): ETag on every resource, If-Match, If-None-Match.

use reqwest::Method;
use serde_json::json;

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error, user_body};

on_both_databases!(
    a_write_with_a_stale_if_match_is_412_and_changes_nothing,
    a_write_with_the_current_if_match_succeeds,
    a_get_with_the_current_if_none_match_is_304,
);

async fn a_write_with_a_stale_if_match_is_412_and_changes_nothing(app: TestApp) {
    let id = app.create_user("etag@example.com").await;
    let path = format!("/Users/{id}");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    for (method, body) in [
        (Method::PATCH, patch),
        (Method::PUT, user_body("etag@example.com")),
        (Method::DELETE, json!({})),
    ] {
        let response = app
            .scim(method.clone(), &path)
            .header("If-Match", "W/\"7\"")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 412, "{method}");
        assert_scim_error(&response.json().await.unwrap(), 412, None);
    }
    let (status, read) = app.get_json(&path).await;
    assert_eq!(status, 200);
    assert_eq!(read["meta"]["version"], "W/\"1\"");
}

async fn a_write_with_the_current_if_match_succeeds(app: TestApp) {
    let group = app.create_group("Versioned", &[]).await;
    let path = format!("/Groups/{group}");
    let response = app.scim(Method::GET, &path).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "W/\"1\"");
    let response = app
        .scim(Method::PATCH, &path)
        .header("If-Match", &etag)
        .json(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "displayName", "value": "V2"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    let response = app
        .scim(Method::DELETE, &path)
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn a_get_with_the_current_if_none_match_is_304(app: TestApp) {
    let id = app.create_user("cache@example.com").await;
    let path = format!("/Users/{id}");
    let response = app
        .scim(Method::GET, &path)
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], "W/\"1\"");
    let response = app
        .scim(Method::GET, &path)
        .header("If-None-Match", "W/\"0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
