//! Operator controls: pausing a tenant, rotating a token with an overlap.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    a_paused_tenant_gets_503_with_retry_after_and_others_do_not,
    a_rotated_token_keeps_working_through_the_overlap_and_then_stops,
);

async fn a_paused_tenant_gets_503_with_retry_after_and_others_do_not(app: TestApp) {
    let (_, other) = app.another_tenant("beta").await;
    let response = app
        .admin(Method::POST, "/v1/tenants/acme/pause")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tenant: Value = response.json().await.unwrap();
    assert_eq!(tenant["settings"]["paused"], true);
    let response = app.scim(Method::GET, "/Users").send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "60");
    assert_scim_error(&response.json().await.unwrap(), 503, None);
    let beta = app
        .scim_as(&other, Method::GET, "/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(beta.status(), 200);
    app.admin(Method::POST, "/v1/tenants/acme/resume")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.scim(Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

async fn a_rotated_token_keeps_working_through_the_overlap_and_then_stops(app: TestApp) {
    let tokens: Value = app.admin_get_json("/v1/tenants/acme/tokens").await;
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    let response = app
        .admin(Method::POST, &format!("/v1/tokens/{id}/rotate"))
        .json(&json!({"overlap": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let rotated: Value = response.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert!(rotated["old"]["expires_at"].is_string());
    assert_eq!(
        app.scim(Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "old token, within the overlap"
    );
    let with_new = app
        .scim_as(&new_secret, Method::GET, "/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(with_new.status(), 200);
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        app.scim(Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the overlap is over"
    );
    assert_eq!(
        app.scim_as(&new_secret, Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let again = app
        .admin(Method::POST, &format!("/v1/tokens/{id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "an expired token is not rotated");
}
