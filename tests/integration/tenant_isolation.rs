//! No request can read or change another tenant's data: every endpoint is tried with another
//! tenant's ids and token.

use reqwest::Method;
use serde_json::json;

use crate::on_both_databases;
use crate::support::{TestApp, json_of, patch_body, user_body};

on_both_databases!(
    another_tenants_users_and_groups_are_invisible_by_id_list_and_filter,
    another_tenants_users_and_groups_cannot_be_replaced_or_deleted,
    another_tenants_users_cannot_be_made_members,
    the_same_user_name_may_exist_in_two_tenants,
    another_tenants_ids_fail_through_patch_bulk_and_member_filters,
);

async fn another_tenants_users_and_groups_are_invisible_by_id_list_and_filter(app: TestApp) {
    let user = app.create_user("secret@acme.example").await;
    let group = app.create_group("Acme Admins", &[&user]).await;
    let (_, other) = app.another_tenant("globex").await;
    for path in [format!("/Users/{user}"), format!("/Groups/{group}")] {
        let response = app
            .scim_as(&other, Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    for path in [
        "/Users",
        "/Groups",
        "/Users?filter=userName%20eq%20%22secret%40acme.example%22",
        "/Groups?filter=displayName%20eq%20%22Acme%20Admins%22",
    ] {
        let body: serde_json::Value = app
            .scim_as(&other, Method::GET, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["totalResults"], 0, "{path}");
    }
}

async fn another_tenants_users_and_groups_cannot_be_replaced_or_deleted(app: TestApp) {
    let user = app.create_user("victim@acme.example").await;
    let group = app.create_group("Victims", &[&user]).await;
    let (_, other) = app.another_tenant("globex").await;
    let attempts = [
        (
            Method::PUT,
            format!("/Users/{user}"),
            user_body("hijacked@globex.example"),
        ),
        (Method::DELETE, format!("/Users/{user}"), json!(null)),
        (
            Method::PUT,
            format!("/Groups/{group}"),
            json!({"displayName": "Hijacked", "members": []}),
        ),
        (Method::DELETE, format!("/Groups/{group}"), json!(null)),
    ];
    for (method, path, body) in attempts {
        let mut request = app.scim_as(&other, method.clone(), &path);
        if !body.is_null() {
            request = request.json(&body);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            404,
            "{method} {path}"
        );
    }
    let (_, read_user) = app.get_json(&format!("/Users/{user}")).await;
    assert_eq!(read_user["userName"], "victim@acme.example");
    let (_, read_group) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(read_group["displayName"], "Victims");
    assert_eq!(read_group["members"][0]["value"], user.as_str());
}

async fn another_tenants_users_cannot_be_made_members(app: TestApp) {
    let acme_user = app.create_user("insider@acme.example").await;
    let (_, other) = app.another_tenant("globex").await;
    let body = json!({"displayName": "Globex Team", "members": [{"value": acme_user}]});
    let response = app
        .scim_as(&other, Method::POST, "/Groups")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let group: serde_json::Value = response.json().await.unwrap();
    assert_eq!(group["members"], json!([]));
    let (_, read) = app.get_json(&format!("/Users/{acme_user}")).await;
    assert!(read.get("groups").is_none());
}

async fn the_same_user_name_may_exist_in_two_tenants(app: TestApp) {
    app.create_user("shared@example.com").await;
    let (_, other) = app.another_tenant("globex").await;
    let response = app
        .scim_as(&other, Method::POST, "/Users")
        .json(&user_body("shared@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn another_tenants_ids_fail_through_patch_bulk_and_member_filters(app: TestApp) {
    let user = app.create_user("target@acme.example").await;
    let group = app.create_group("Acme Ops", &[&user]).await;
    let (_, other) = app.another_tenant("globex").await;
    let rename = patch_body(json!([{"op": "replace", "path": "displayName", "value": "Hijacked"}]));
    for path in [format!("/Users/{user}"), format!("/Groups/{group}")] {
        let response = app
            .scim_as(&other, Method::PATCH, &path)
            .json(&rename)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "PATCH {path}");
    }
    // Bulk resolves every path within the caller's tenant too.
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "PATCH", "path": format!("/Users/{user}"), "data": rename},
            {"method": "PUT", "path": format!("/Groups/{group}"), "data": {"displayName": "Hijacked", "members": []}},
            {"method": "DELETE", "path": format!("/Groups/{group}")},
            {"method": "DELETE", "path": format!("/Users/{user}")}
        ]
    });
    let answer = json_of(app.scim_as(&other, Method::POST, "/Bulk").json(&bulk)).await;
    let statuses: Vec<&str> = answer["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["404", "404", "404", "404"], "{answer}");
    // Globex's own group cannot take Acme's user by PATCH either, and a member filter finds
    // nothing of Acme's.
    let created = json_of(
        app.scim_as(&other, Method::POST, "/Groups")
            .json(&json!({"displayName": "Globex Ops"})),
    )
    .await;
    let globex_group = created["id"].as_str().unwrap();
    let add = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": user}]}]));
    let response = app
        .scim_as(&other, Method::PATCH, &format!("/Groups/{globex_group}"))
        .json(&add)
        .send()
        .await
        .unwrap();
    // Unknown in this tenant, the member is dropped, as on POST.
    assert_eq!(response.status(), 200);
    let patched: serde_json::Value = response.json().await.unwrap();
    assert_eq!(patched["members"], json!([]), "{patched}");
    let filter = format!("/Groups?filter=members.value%20eq%20%22{user}%22");
    let found = json_of(app.scim_as(&other, Method::GET, &filter)).await;
    assert_eq!(found["totalResults"], 0, "{found}");
    // Acme's data is as it was.
    let (_, read_user) = app.get_json(&format!("/Users/{user}")).await;
    assert_eq!(read_user["userName"], "target@acme.example");
    assert_eq!(
        read_user["groups"].as_array().map(Vec::len),
        Some(1),
        "{read_user}"
    );
    let (_, read_group) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(read_group["displayName"], "Acme Ops");
}
