//! `/Bulk` (RFC 7644 §3.7): bulkId references in any order, failOnErrors, advertised limits.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    bulk_operations_resolve_bulk_ids_even_when_they_refer_forward,
    fail_on_errors_stops_after_that_many_errors,
    a_bulk_id_that_is_never_created_fails_only_its_operation,
    more_operations_than_max_operations_is_413,
    a_bulk_body_over_the_payload_limit_is_413,
);

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

async fn bulk_operations_resolve_bulk_ids_even_when_they_refer_forward(app: TestApp) {
    let (status, response) = app
        .send(
            Method::POST,
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g",
                 "data": {"displayName": "Tour Guides", "members": [{"type": "User", "value": "bulkId:u"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "u",
                 "data": {"userName": "guide@example.com"}},
                {"method": "PATCH", "path": "/Users/bulkId:u",
                 "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "replace", "path": "title", "value": "Guide"}]}},
                {"method": "DELETE", "path": "/Users/01234567-89ab-7def-8123-456789abcdef"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        response["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    let ops = response["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "404"]);
    assert_eq!(ops[3]["response"]["status"], "404");
    let group_location = ops[0]["location"].as_str().unwrap();
    let user_location = ops[1]["location"].as_str().unwrap();
    let user_id = user_location.rsplit('/').next().unwrap();
    let group_id = group_location.rsplit('/').next().unwrap();
    let (_, group) = app.get_json(&format!("/Groups/{group_id}")).await;
    assert_eq!(group["members"][0]["value"], user_id);
    let (_, user) = app.get_json(&format!("/Users/{user_id}")).await;
    assert_eq!(user["title"], "Guide");
}

async fn fail_on_errors_stops_after_that_many_errors(app: TestApp) {
    app.create_user("taken@example.com").await;
    let (status, response) = app
        .send(
            Method::POST,
            "/Bulk",
            json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "TAKEN@example.com"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "never@example.com"}},
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    let ops = response["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{response}");
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    let (_, list) = app
        .get_json("/Users?filter=userName%20eq%20%22never@example.com%22")
        .await;
    assert_eq!(list["totalResults"], 0);
}

async fn a_bulk_id_that_is_never_created_fails_only_its_operation(app: TestApp) {
    let (_, response) = app
        .send(
            Method::POST,
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "x",
                 "data": {"displayName": "Orphans", "members": [{"value": "bulkId:nobody"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "y", "data": {"userName": "fine@example.com"}},
            ]}),
        )
        .await;
    let statuses: Vec<&str> = response["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["409", "201"], "{response}");
}

async fn more_operations_than_max_operations_is_413(app: TestApp) {
    let operations: Vec<Value> = (0..1001)
        .map(|n| json!({"method": "DELETE", "path": format!("/Users/{n}")}))
        .collect();
    let (status, body) = app
        .send(
            Method::POST,
            "/Bulk",
            json!({"schemas": [BULK], "Operations": operations}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_scim_error(&body, 413, None);
}

async fn a_bulk_body_over_the_payload_limit_is_413(app: TestApp) {
    let big = "x".repeat(1_100_000);
    let (status, body) = app
        .send(
            Method::POST,
            "/Bulk",
            json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": big}}]}),
        )
        .await;
    assert_eq!(status, 413);
    assert_scim_error(&body, 413, None);
}
