//! Per-tenant quotas: a tenant over its quota gets 429 with Retry-After and a SCIM error body,
//! another tenant is untouched, reads keep their own budget, and quota changes apply at once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, assert_scim_error, user_body};

async fn spawn(per_second: &str, burst: &str) -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("DIRSYNC__SCIM__REQUESTS_PER_SECOND", per_second),
            ("DIRSYNC__SCIM__BURST", burst),
        ],
    )
    .await
    .unwrap()
}

async fn create(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.scim_as(token, Method::POST, "/Users")
        .json(&user_body(name))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_flooding_tenant_gets_429s_while_another_tenants_requests_all_succeed() {
    let app = spawn("1", "5").await;
    let (_, other) = app.another_tenant("quiet").await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for n in 0..15 {
        let response = create(&app, &app.token.clone(), &format!("flood{n}@example.com")).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 && limited.is_none() {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            limited = Some((retry, response.json::<Value>().await.unwrap()));
        }
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!((5..=7).contains(&created), "{statuses:?}");
    let (retry, body) = limited.expect("some requests were refused");
    assert!(retry >= 1);
    assert_scim_error(&body, 429, None);
    // The flooding tenant's reads have their own budget: its IdP's probes still pass.
    let (status, _) = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    for n in 0..5 {
        let response = create(&app, &other, &format!("quiet{n}@example.com")).await;
        assert_eq!(response.status(), 201, "the other tenant is never slowed");
    }
}

#[tokio::test]
async fn a_quota_set_over_the_admin_api_applies_at_once_and_can_be_reset() {
    let app = spawn("50", "100").await;
    let response = app
        .admin(Method::PATCH, "/v1/tenants/acme")
        .json(&json!({"settings": {"quota": {"per_second": 1, "burst": 2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for n in 0..4 {
            out.push(
                create(&app, &app.token.clone(), &format!("q{n}@example.com"))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        out
    };
    assert_eq!(&statuses[..2], [201, 201]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    let response = app
        .admin(Method::PATCH, "/v1/tenants/acme")
        .json(&json!({"settings": {"quota": null}}))
        .send()
        .await
        .unwrap();
    let tenant: Value = response.json().await.unwrap();
    assert_eq!(tenant["settings"]["quota"], Value::Null);
    assert_eq!(
        create(&app, &app.token.clone(), "back@example.com")
            .await
            .status(),
        201
    );
    let bad = app
        .admin(Method::PATCH, "/v1/tenants/acme")
        .json(&json!({"settings": {"quota": {"per_second": 0, "burst": 1}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
