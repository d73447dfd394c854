//! `/metrics` on the admin listener: SCIM requests, 429s and normalisations by tenant.

use dirsync::domain::IdpKind;
use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, TestApp, user_body};

#[tokio::test]
async fn metrics_count_requests_refusals_and_normalisations_by_tenant() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let (entra, token) = app.another_tenant_of_kind("contoso", IdpKind::Entra).await;
    let id = app.create_user("m@example.com").await;
    let response = app
        .scim_as(&token, Method::POST, "/Users")
        .json(&user_body("e@example.com"))
        .send()
        .await
        .unwrap();
    let entra_user: serde_json::Value = response.json().await.unwrap();
    let patched = app
        .scim_as(
            &token,
            Method::PATCH,
            &format!("/Users/{}", entra_user["id"].as_str().unwrap()),
        )
        .json(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    app.admin(Method::PATCH, "/v1/tenants/acme")
        .json(&json!({"settings": {"quota": {"per_second": 1, "burst": 1}}}))
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        app.scim(Method::GET, &format!("/Users/{id}"))
            .send()
            .await
            .unwrap();
    }
    let response = app
        .client
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "no credential is needed to scrape");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    let acme = app.tenant.id.to_string();
    let contoso = entra.id.to_string();
    for line in [
        format!(
            r#"dirsync_scim_requests_total{{tenant="{acme}",resource="users",method="POST",status="201"}} 1"#
        ),
        format!(
            r#"dirsync_scim_requests_total{{tenant="{acme}",resource="users",method="GET",status="429"}} 2"#
        ),
        format!(r#"dirsync_scim_rate_limited_total{{tenant="{acme}"}} 2"#),
        format!(
            r#"dirsync_normalisations_total{{tenant="{contoso}",normalisation="string_booleans"}} 1"#
        ),
        format!(
            r#"dirsync_normalisations_total{{tenant="{contoso}",normalisation="ops_any_case"}} 1"#
        ),
    ] {
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert!(text.contains("dirsync_scim_request_duration_seconds_bucket"));
}
