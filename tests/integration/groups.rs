//! `/Groups`: members as rows, PUT replacing the member list, unknown members skipped.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    a_group_is_created_with_members_and_read_back_with_their_display_names,
    groups_filter_by_display_name_case_insensitively,
    excluded_members_are_not_returned,
    put_makes_the_member_list_exactly_the_one_sent,
    unknown_member_ids_are_skipped_and_recorded_while_the_rest_applies,
    a_users_groups_attribute_lists_its_groups,
    deleting_a_group_keeps_its_members,
    a_group_without_a_display_name_is_400,
    nested_groups_are_members_too,
);

fn member_ids(group: &Value) -> Vec<String> {
    group["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_group_is_created_with_members_and_read_back_with_their_display_names(app: TestApp) {
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let group = app.create_group("Engineering", &[&alice, &bob]).await;
    let (_, plain) = app.get_json(&format!("/Groups/{group}")).await;
    assert!(plain["members"][0].get("display").is_none(), "{plain}");
    // `display` is derived and returned on request (RFC 7643 §7 `returned: request`).
    let (status, read) = app
        .get_json(&format!(
            "/Groups/{group}?attributes=displayName,members,members.display"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["displayName"], "Engineering");
    assert_eq!(
        read["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    assert_eq!(member_ids(&read), vec![alice.clone(), bob]);
    assert_eq!(read["members"][0]["type"], "User");
    assert_eq!(read["members"][0]["display"], "alice@example.com");
    assert_eq!(
        read["members"][0]["$ref"],
        format!("{}/Users/{alice}", app.scim)
    );
}

async fn groups_filter_by_display_name_case_insensitively(app: TestApp) {
    let group = app.create_group("Sales EMEA", &[]).await;
    app.create_group("Sales US", &[]).await;
    let (_, list) = app
        .get_json("/Groups?filter=displayName%20eq%20%22sales%20emea%22")
        .await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], group.as_str());
}

async fn excluded_members_are_not_returned(app: TestApp) {
    let user = app.create_user("member@example.com").await;
    let group = app.create_group("Big", &[&user]).await;
    let (_, read) = app
        .get_json(&format!("/Groups/{group}?excludedAttributes=members"))
        .await;
    assert!(read.get("members").is_none(), "{read}");
    assert_eq!(read["displayName"], "Big");
    let (_, list) = app.get_json("/Groups?excludedAttributes=members").await;
    assert!(list["Resources"][0].get("members").is_none());
}

async fn put_makes_the_member_list_exactly_the_one_sent(app: TestApp) {
    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    let c = app.create_user("c@example.com").await;
    let group = app.create_group("Team", &[&a, &b]).await;
    let body = json!({"displayName": "Team Renamed", "members": [{"value": b}, {"value": c, "display": "Okta sends this"}]});
    let response = app
        .scim(Method::PUT, &format!("/Groups/{group}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.unwrap();
    assert_eq!(read["displayName"], "Team Renamed");
    assert_eq!(member_ids(&read), vec![b.clone(), c.clone()]);
    let (_, stored) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(member_ids(&stored), vec![b, c]);
}

async fn unknown_member_ids_are_skipped_and_recorded_while_the_rest_applies(app: TestApp) {
    let known = app.create_user("known@example.com").await;
    let body = json!({"displayName": "Mixed", "members": [
        {"value": known}, {"value": "not-a-uuid"}, {"value": "01890000-0000-7000-8000-000000000000"}
    ]});
    let response = app.post("/Groups", body).await;
    assert_eq!(response.status(), 201);
    let group: Value = response.json().await.unwrap();
    assert_eq!(member_ids(&group), vec![known]);
    let log = app
        .store
        .changes_since(app.tenant.id, 0, 100)
        .await
        .unwrap();
    let skipped = log
        .iter()
        .find(|c| c.operation == "members_skipped")
        .expect("a skipped-members record");
    assert_eq!(
        skipped.detail.as_ref().unwrap()["unknown_members"],
        json!(["not-a-uuid", "01890000-0000-7000-8000-000000000000"])
    );
}

async fn a_users_groups_attribute_lists_its_groups(app: TestApp) {
    let user = app.create_user("grouped@example.com").await;
    let first = app.create_group("First", &[&user]).await;
    let second = app.create_group("Second", &[&user]).await;
    let (_, read) = app.get_json(&format!("/Users/{user}")).await;
    let groups: Vec<&str> = read["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap())
        .collect();
    assert_eq!(groups, vec![first.as_str(), second.as_str()]);
    assert_eq!(read["groups"][0]["display"], "First");
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(
        list["Resources"][0]["groups"].as_array().map(Vec::len),
        Some(2)
    );
}

async fn deleting_a_group_keeps_its_members(app: TestApp) {
    let user = app.create_user("survivor@example.com").await;
    let group = app.create_group("Doomed", &[&user]).await;
    let response = app
        .scim(Method::DELETE, &format!("/Groups/{group}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = app.get_json(&format!("/Groups/{group}")).await;
    assert_eq!(status, 404);
    let (status, read) = app.get_json(&format!("/Users/{user}")).await;
    assert_eq!(status, 200);
    assert!(read.get("groups").is_none());
}

async fn a_group_without_a_display_name_is_400(app: TestApp) {
    let response = app.post("/Groups", json!({"members": []})).await;
    assert_eq!(response.status(), 400);
    assert_scim_error(&response.json().await.unwrap(), 400, Some("invalidValue"));
    let response = app
        .post(
            "/Groups",
            json!({"displayName": "x", "members": "everyone"}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let (_, list) = app.get_json("/Groups").await;
    assert_eq!(list["totalResults"], 0);
}

async fn nested_groups_are_members_too(app: TestApp) {
    let inner = app.create_group("Inner", &[]).await;
    let outer = app.create_group("Outer", &[&inner]).await;
    let (_, read) = app
        .get_json(&format!(
            "/Groups/{outer}?attributes=members,members.display"
        ))
        .await;
    assert_eq!(member_ids(&read), vec![inner]);
    assert_eq!(read["members"][0]["type"], "Group");
    assert_eq!(read["members"][0]["display"], "Inner");
}
