//! Versions and preconditions (RFC 7644 §3.14): ETag on every resource, If-Match, If-None-Match.

use reqwest::Method;
use serde_json::json;

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error, user_body};

/// How many entries the tenant's audit trail (its change log) holds.
async fn changes(app: &TestApp) -> usize {
    let trail = app.admin_get_json("/v1/tenants/acme/audit").await;
    trail["entries"].as_array().unwrap().len()
}

on_both_databases!(
    a_write_with_a_stale_if_match_is_412_and_changes_nothing,
    a_write_with_the_current_if_match_succeeds,
    a_get_with_the_current_if_none_match_is_304,
    a_write_that_changes_nothing_keeps_the_version_and_records_no_change,
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

async fn a_write_that_changes_nothing_keeps_the_version_and_records_no_change(app: TestApp) {
    let user = app.create_user("same@example.com").await;
    let group = app.create_group("Same", &[&user]).await;
    let (_, stored_user) = app.get_json(&format!("/Users/{user}")).await;
    let (_, stored_group) = app.get_json(&format!("/Groups/{group}")).await;
    let before = changes(&app).await;
    // A rewrite would show in lastModified.
    app.clock.advance(chrono::Duration::minutes(5));
    let writes = [
        // Okta pushing a profile again.
        (
            Method::PUT,
            format!("/Users/{user}"),
            user_body("same@example.com"),
        ),
        (
            Method::PATCH,
            format!("/Users/{user}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": "active", "value": true}]}),
        ),
        // Entra adding a member the group has, and removing one it does not.
        (
            Method::PATCH,
            format!("/Groups/{group}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]},
                                  {"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]}),
        ),
    ];
    for (method, path, body) in writes {
        let response = app
            .scim(method.clone(), &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method} {path}");
        assert_eq!(response.headers()["etag"], "W/\"1\"", "{method} {path}");
    }
    let (_, user_now) = app.get_json(&format!("/Users/{user}")).await;
    let (_, group_now) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(user_now["meta"], stored_user["meta"]);
    assert_eq!(group_now["meta"], stored_group["meta"]);
    assert_eq!(group_now["members"], stored_group["members"]);
    assert_eq!(
        changes(&app).await,
        before,
        "nothing entered the change log"
    );
    // A write that changes something still moves the version.
    let (status, changed) = app
        .patch(
            &format!("/Groups/{group}"),
            json!([{"op": "remove", "path": "members", "value": [{"value": user}]}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(changed["meta"]["version"], "W/\"2\"");
    assert_ne!(
        changed["meta"]["lastModified"],
        stored_group["meta"]["lastModified"]
    );
    assert_eq!(changes(&app).await, before + 1);
}
