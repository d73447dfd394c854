//! Bad input gets the right SCIM error, writes nothing, and leaves the daemon serving.

use reqwest::Method;
use serde_json::json;

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    wrong_types_and_unknown_attributes_are_400_and_write_nothing,
    deeply_nested_json_and_invalid_utf8_are_400_invalid_syntax,
    errors_never_leak_sql_or_paths,
);

async fn wrong_types_and_unknown_attributes_are_400_and_write_nothing(app: TestApp) {
    for (body, scim_type) in [
        (json!({"userName": "a", "active": "maybe"}), "invalidValue"),
        (
            json!({"userName": "a", "emails": [{"value": 7}]}),
            "invalidValue",
        ),
        (json!({"userName": "a", "shoeSize": 44}), "invalidSyntax"),
        (
            json!({"userName": "a", "name": {"nickname": "x"}}),
            "invalidSyntax",
        ),
        (json!({"userName": ["a"]}), "invalidValue"),
    ] {
        let (status, error) = app.send(Method::POST, "/Users", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_scim_error(&error, 400, Some(scim_type));
    }
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
}

async fn deeply_nested_json_and_invalid_utf8_are_400_invalid_syntax(app: TestApp) {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for body in [deep.into_bytes(), b"{\"userName\": \"\xff\xfe\"}".to_vec()] {
        let response = app
            .scim(Method::POST, "/Users")
            .header("Content-Type", "application/scim+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_scim_error(&response.json().await.unwrap(), 400, Some("invalidSyntax"));
    }
    let (status, _) = app.get_json("/Users").await;
    assert_eq!(status, 200);
}

async fn errors_never_leak_sql_or_paths(app: TestApp) {
    let responses = [
        app.get_json("/Users?filter=userName%20eq").await.1,
        app.get_json("/Users?sortBy=nope").await.1,
        app.send(Method::POST, "/Users", json!({"userName": 1}))
            .await
            .1,
        app.get_json("/Groups/zzz").await.1,
    ];
    for body in responses {
        let detail = body["detail"].as_str().unwrap().to_lowercase();
        for leak in ["select", "sqlite", "postgres", "/src/", ".rs:", "panicked"] {
            assert!(!detail.contains(leak), "{detail}");
        }
    }
}
