//! Discovery (RFC 7644 §4): what is advertised is what is implemented; read-only endpoints.

use reqwest::Method;
use serde_json::Value;

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    the_service_provider_config_advertises_what_dirsync_implements,
    resource_types_and_schemas_are_listed_and_readable_one_by_one,
    discovery_endpoints_refuse_writes_with_405,
);

async fn the_service_provider_config_advertises_what_dirsync_implements(app: TestApp) {
    let (status, config) = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    for feature in ["patch", "bulk", "filter", "sort", "etag"] {
        assert_eq!(config[feature]["supported"], true, "{feature}");
    }
    assert_eq!(config["changePassword"]["supported"], false);
    assert_eq!(config["bulk"]["maxOperations"], 1000);
    assert_eq!(config["bulk"]["maxPayloadSize"], 1_048_576);
    assert_eq!(config["filter"]["maxResults"], 1000);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    let (status, _) = app.get_json("/serviceproviderconfig").await;
    assert_eq!(status, 200);
}

async fn resource_types_and_schemas_are_listed_and_readable_one_by_one(app: TestApp) {
    let (status, types) = app.get_json("/ResourceTypes").await;
    assert_eq!(status, 200);
    assert_eq!(types["totalResults"], 2);
    let (_, user) = app.get_json("/ResourceTypes/User").await;
    assert_eq!(user["schema"], "urn:ietf:params:scim:schemas:core:2.0:User");
    let (status, schemas) = app.get_json("/Schemas").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ]
    );
    let (status, group) = app
        .get_json("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await;
    assert_eq!(status, 200);
    let members = group["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "members")
        .unwrap();
    let display = members["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "display")
        .unwrap();
    assert_eq!(
        (display["mutability"].clone(), display["returned"].clone()),
        (Value::from("readOnly"), Value::from("request"))
    );
    let (status, body) = app.get_json("/Schemas/urn:nope").await;
    assert_eq!(status, 404);
    assert_scim_error(&body, 404, None);
}

async fn discovery_endpoints_refuse_writes_with_405(app: TestApp) {
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let (status, body) = app.send(method.clone(), path, serde_json::json!({})).await;
            assert_eq!(status, 405, "{method} {path}");
            assert_scim_error(&body, 405, None);
        }
    }
}
