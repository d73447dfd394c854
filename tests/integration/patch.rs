//! PATCH (RFC 7644 §3.5.2) on users and groups: operations, all-or-nothing, member row deltas,
//! concurrency, and the tenant settings that shape group PATCH.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    patch_replaces_adds_and_removes_user_attributes_and_bumps_the_version,
    a_patch_that_fails_part_way_changes_nothing,
    patch_paths_to_read_only_attributes_are_400_mutability,
    a_value_path_patch_changes_only_the_selected_email,
    deactivating_a_user_keeps_it_its_attributes_and_its_groups,
    group_patches_add_and_remove_members_without_touching_the_others,
    sixteen_concurrent_patches_adding_different_members_lose_none,
    unknown_member_ids_in_a_patch_are_skipped_and_recorded,
    a_tenant_can_make_unknown_member_ids_a_400,
    a_tenant_can_have_group_patches_answered_with_204,
    group_patch_responses_honour_excluded_attributes,
    a_patch_body_that_is_not_a_patch_op_is_400,
);

async fn patch_replaces_adds_and_removes_user_attributes_and_bumps_the_version(app: TestApp) {
    let id = app.create_user("alice@example.com").await;
    let (status, user) = app
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "displayName", "value": "Alice"},
                {"op": "add", "path": "phoneNumbers", "value": [{"value": "+1 555", "type": "work"}]},
                {"op": "remove", "path": "name.familyName"},
                {"op": "replace", "value": {"title": "Engineer", "name": {"givenName": "Al"}}},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["displayName"], "Alice");
    assert_eq!(user["title"], "Engineer");
    assert_eq!(user["name"], json!({"givenName": "Al"}));
    assert_eq!(user["phoneNumbers"][0]["value"], "+1 555");
    assert_eq!(user["meta"]["version"], "W/\"2\"");
    let (_, read) = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(read, user);
}

async fn a_patch_that_fails_part_way_changes_nothing(app: TestApp) {
    let id = app.create_user("bob@example.com").await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "replace", "path": "active", "value": "maybe"},
            ]),
        )
        .await;
    assert_eq!(status, 400);
    assert_scim_error(&body, 400, Some("invalidValue"));
    let (_, read) = app.get_json(&format!("/Users/{id}")).await;
    assert!(read.get("displayName").is_none(), "{read}");
    assert_eq!(read["meta"]["version"], "W/\"1\"");
}

async fn patch_paths_to_read_only_attributes_are_400_mutability(app: TestApp) {
    let id = app.create_user("carol@example.com").await;
    for path in ["id", "meta.lastModified", "groups"] {
        let (status, body) = app
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": path, "value": "x"}]),
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_scim_error(&body, 400, Some("mutability"));
    }
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
        )
        .await;
    assert_eq!(status, 400);
    assert_scim_error(&body, 400, Some("invalidPath"));
}

async fn a_value_path_patch_changes_only_the_selected_email(app: TestApp) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "dave",
        "emails": [
            {"value": "dave@work.example", "type": "work", "primary": true},
            {"value": "dave@home.example", "type": "home"}
        ]
    });
    let (status, created) = app.send(Method::POST, "/Users", body).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let (status, user) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "dave@new.example"}]),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        user["emails"],
        json!([
            {"value": "dave@work.example", "type": "work", "primary": true},
            {"value": "dave@new.example", "type": "home"}
        ])
    );
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"}]),
        )
        .await;
    assert_eq!(status, 400);
    assert_scim_error(&body, 400, Some("noTarget"));
}

async fn deactivating_a_user_keeps_it_its_attributes_and_its_groups(app: TestApp) {
    let id = app.create_user("erin@example.com").await;
    let group = app.create_group("Staff", &[&id]).await;
    let (status, user) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["active"], false);
    assert_eq!(user["groups"][0]["value"], group.as_str());
    assert_eq!(user["name"]["givenName"], "Given");
    let (_, list) = app.get_json("/Users?filter=active%20eq%20false").await;
    assert_eq!(list["totalResults"], 1);
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn group_patches_add_and_remove_members_without_touching_the_others(app: TestApp) {
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(app.create_user(&format!("m{n}@example.com")).await);
    }
    let group = app.create_group("Team", &[&users[0], &users[1]]).await;
    let path = format!("/Groups/{group}");
    let (status, _) = app
        .patch(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": users[2]}, {"value": users[0]}]}]),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .patch(
            &path,
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[1])}]),
        )
        .await;
    assert_eq!(status, 200);
    // Entra's form: remove with a value list removes only those members.
    let (status, after) = app
        .patch(
            &path,
            json!([
                {"op": "add", "path": "members", "value": [{"value": users[3]}]},
                {"op": "remove", "path": "members", "value": [{"value": users[2]}]},
            ]),
        )
        .await;
    assert_eq!(status, 200);
    let mut expected = vec![users[0].clone(), users[3].clone()];
    expected.sort();
    assert_eq!(member_ids(&after), expected);
    let (status, cleared) = app
        .patch(&path, json!([{"op": "remove", "path": "members"}]))
        .await;
    assert_eq!(status, 200);
    assert!(member_ids(&cleared).is_empty());
}

async fn sixteen_concurrent_patches_adding_different_members_lose_none(app: TestApp) {
    let group = app.create_group("Everyone", &[]).await;
    let mut users = Vec::new();
    for n in 0..64 {
        users.push(app.create_user(&format!("c{n}@example.com")).await);
    }
    let app = std::sync::Arc::new(app);
    let mut clients = Vec::new();
    for chunk in users.chunks(4) {
        let (app, group, chunk) = (app.clone(), group.clone(), chunk.to_vec());
        clients.push(tokio::spawn(async move {
            for user in chunk {
                let (status, body) = app
                    .patch(
                        &format!("/Groups/{group}?excludedAttributes=members"),
                        json!([{"op": "add", "path": "members", "value": [{"value": user}]}]),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    assert_eq!(clients.len(), 16);
    for client in clients {
        client.await.unwrap();
    }
    let (_, read) = app.get_json(&format!("/Groups/{group}")).await;
    users.sort();
    assert_eq!(member_ids(&read), users);
}

async fn unknown_member_ids_in_a_patch_are_skipped_and_recorded(app: TestApp) {
    let user = app.create_user("known@example.com").await;
    let group = app.create_group("Mixed", &[]).await;
    let ghost = "01234567-89ab-7def-8123-456789abcdef";
    let (status, body) = app
        .patch(
            &format!("/Groups/{group}"),
            json!([{"op": "add", "path": "members", "value": [{"value": ghost}, {"value": user}]}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(member_ids(&body), vec![user]);
    let changes = app
        .store
        .changes_since(app.tenant.id, 0, 100)
        .await
        .unwrap();
    let skipped = changes
        .iter()
        .find(|c| c.operation == "members_skipped")
        .expect("a members_skipped record");
    assert_eq!(skipped.detail, Some(json!({"unknown_members": [ghost]})));
}

async fn a_tenant_can_make_unknown_member_ids_a_400(app: TestApp) {
    let (status, _) = app
        .admin(Method::PATCH, "/v1/tenants/acme")
        .json(&json!({"settings": {"unknown_members": "reject"}}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    let user = app.create_user("strict@example.com").await;
    let group = app.create_group("Strict", &[]).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{group}"),
            json!([
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "add", "path": "members", "value": [{"value": user}, {"value": "not-a-member-id"}]},
            ]),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_scim_error(&body, 400, Some("invalidValue"));
    let (_, read) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(read["displayName"], "Strict");
    assert!(member_ids(&read).is_empty());
}

async fn a_tenant_can_have_group_patches_answered_with_204(app: TestApp) {
    app.store
        .update_tenant(
            "acme",
            None,
            Some(dirsync::domain::TenantSettings {
                group_patch_response: dirsync::domain::GroupPatchResponse::NoContent,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let user = app.create_user("quiet@example.com").await;
    let group = app.create_group("Quiet", &[]).await;
    let response = app
        .scim(Method::PATCH, &format!("/Groups/{group}"))
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    let (_, read) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(member_ids(&read), vec![user]);
}

async fn group_patch_responses_honour_excluded_attributes(app: TestApp) {
    let user = app.create_user("x@example.com").await;
    let group = app.create_group("Large", &[&user]).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{group}?excludedAttributes=members"),
            json!([{"op": "replace", "path": "displayName", "value": "Larger"}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["displayName"], "Larger");
    assert!(body.get("members").is_none(), "{body}");
}

async fn a_patch_body_that_is_not_a_patch_op_is_400(app: TestApp) {
    let id = app.create_user("y@example.com").await;
    for body in [
        json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "jump"}]}),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove"}]}),
    ] {
        let (status, error) = app
            .send(Method::PATCH, &format!("/Users/{id}"), body.clone())
            .await;
        assert_eq!(status, 400, "{body}: {error}");
        assert!(error["scimType"].is_string(), "{error}");
    }
    let (status, _) = app
        .patch(
            "/Users/01234567-89ab-7def-8123-456789abcdef",
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )
        .await;
    assert_eq!(status, 404);
}
