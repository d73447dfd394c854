//! The admin API: tenants and tokens over HTTP, behind the admin credential.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::TestApp;

on_both_databases!(
    the_admin_api_refuses_requests_without_the_admin_credential,
    tenants_and_tokens_made_over_the_admin_api_work_on_the_scim_api,
    a_token_revoked_over_the_admin_api_stops_working,
    the_admin_api_answers_bad_requests_with_clear_errors,
);

async fn the_admin_api_refuses_requests_without_the_admin_credential(app: TestApp) {
    let url = format!("{}/v1/tenants", app.admin);
    for request in [
        app.client.get(&url),
        app.client.get(&url).bearer_auth(&app.token),
        app.client.get(&url).bearer_auth("x"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

async fn tenants_and_tokens_made_over_the_admin_api_work_on_the_scim_api(app: TestApp) {
    let response = app
        .admin(Method::POST, "/v1/tenants")
        .json(&json!({"name": "contoso", "idp": "entra"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let tenant: Value = response.json().await.unwrap();
    assert_eq!(tenant["idp_kind"], "entra");
    let response = app
        .admin(Method::POST, "/v1/tenants/contoso/tokens")
        .json(&json!({"name": "entra-prod", "expires_in": "90d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let issued: Value = response.json().await.unwrap();
    let secret = issued["secret"].as_str().unwrap();
    assert!(secret.starts_with("dirsync_"));
    assert!(issued["token"]["expires_at"].is_string());

    let response = app
        .scim_as(secret, Method::POST, "/Users")
        .json(&crate::support::user_body("c@contoso.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, own) = app.get_json("/Users").await;
    assert_eq!(
        own["totalResults"], 0,
        "the new tenant's user is not the seeded tenant's"
    );

    let listed: Value = app.admin_get_json("/v1/tenants/contoso/tokens").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(
        !listed.to_string().contains(&secret["dirsync_".len()..]),
        "token lists never show secrets"
    );
    let tenants: Value = app.admin_get_json("/v1/tenants").await;
    let names: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["acme", "contoso"]);
}

async fn a_token_revoked_over_the_admin_api_stops_working(app: TestApp) {
    let id = app.store.list_tokens(app.tenant.id).await.unwrap()[0].id;
    let response = app
        .admin(Method::DELETE, &format!("/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let revoked: Value = response.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        app.scim(Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn the_admin_api_answers_bad_requests_with_clear_errors(app: TestApp) {
    let cases = [
        (Method::POST, "/v1/tenants/nope/tokens", json!({}), 404),
        (Method::GET, "/v1/tenants/nope", json!(null), 404),
        (
            Method::POST,
            "/v1/tenants",
            json!({"name": "Not Valid"}),
            400,
        ),
        (Method::POST, "/v1/tenants", json!({"name": "acme"}), 409),
        (
            Method::POST,
            "/v1/tenants",
            json!({"name": "x", "idp": "azure"}),
            400,
        ),
        (Method::POST, "/v1/tenants", json!({"nam": "x"}), 400),
        (
            Method::POST,
            "/v1/tenants/acme/tokens",
            json!({"expires_in": "forever"}),
            400,
        ),
        (Method::DELETE, "/v1/tokens/not-a-uuid", json!(null), 404),
        (Method::DELETE, "/v1/tenants", json!(null), 405),
        (Method::GET, "/v1/nothing", json!(null), 404),
    ];
    for (method, path, body, status) in cases {
        let mut request = app.admin(method.clone(), path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{method} {path} {body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().is_some_and(|e| e.len() > 5),
            "{error}"
        );
    }
    let tenants: Value = app.admin_get_json("/v1/tenants").await;
    assert_eq!(
        tenants.as_array().map(Vec::len),
        Some(1),
        "nothing was half-created"
    );
}
