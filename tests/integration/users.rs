//! `/Users`: create, read, filter, replace, delete, and the errors around them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error, id_of, user_body};

on_both_databases!(
    each_user_on_a_page_carries_exactly_its_own_groups,
    a_created_user_can_be_read_back_with_id_meta_and_etag,
    user_name_filters_match_case_insensitively,
    total_results_counts_the_whole_result_on_full_short_and_empty_pages,
    a_duplicate_user_name_in_any_case_is_a_409_uniqueness_error,
    concurrent_creates_are_all_stored_once_and_duplicates_among_them_are_409,
    put_replaces_the_user_and_bumps_the_version,
    put_to_a_user_name_that_is_taken_is_a_409_and_changes_nothing,
    delete_removes_the_user_and_its_group_memberships,
    unknown_user_ids_are_404_with_a_scim_error,
    the_password_is_accepted_but_never_returned,
    malformed_json_is_400_invalid_syntax_and_writes_nothing,
    a_body_without_a_user_name_is_400_and_writes_nothing,
    a_json_body_with_a_non_json_content_type_is_415,
    requests_without_a_content_type_are_accepted,
    resource_paths_are_matched_case_insensitively,
    every_user_write_is_in_the_change_log_with_its_token_and_request,
);

async fn a_created_user_can_be_read_back_with_id_meta_and_etag(app: TestApp) {
    let response = app.post("/Users", user_body("bjensen@example.com")).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    assert_eq!(response.headers()["etag"], "W/\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("{}/Users/{id}", app.scim));
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], "W/\"1\"");

    let (status, read) = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(read, created);
    assert_eq!(read["name"]["givenName"], "Given");
    assert_eq!(read["userName"], "bjensen@example.com");
}

async fn user_name_filters_match_case_insensitively(app: TestApp) {
    let id = app.create_user("Alice@Example.com").await;
    app.create_user("bob@example.com").await;
    let (status, list) = app
        .get_json("/Users?filter=userName%20eq%20%22ALICE%40example.COM%22")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        list["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["itemsPerPage"], 1);
    assert_eq!(list["startIndex"], 1);
    assert_eq!(list["Resources"][0]["id"], id.as_str());
    // Entra's probes write spaces as '+'.
    let (_, list) = app
        .get_json("/Users?filter=userName+eq+%22nobody%40example.com%22")
        .await;
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["Resources"], json!([]));
}

async fn total_results_counts_the_whole_result_on_full_short_and_empty_pages(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("pager{i}@example.com")).await);
    }
    // A full page, a short last page, a page past the end, and a count of 0 (RFC 7644 §3.4.2.4).
    for (query, items) in [
        ("startIndex=1&count=2", 2),
        ("startIndex=4&count=2", 2),
        ("startIndex=5&count=2", 1),
        ("startIndex=9&count=2", 0),
        ("count=0", 0),
    ] {
        let (status, list) = app.get_json(&format!("/Users?{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(list["totalResults"], 5, "{query}");
        assert_eq!(
            list["Resources"].as_array().map_or(0, Vec::len),
            items,
            "{query}"
        );
    }
    let (_, last) = app.get_json("/Users?startIndex=5&count=2").await;
    assert_eq!(last["Resources"][0]["id"], ids[4].as_str());
    let (_, filtered) = app
        .get_json("/Users?filter=userName%20sw%20%22pager%22&startIndex=2&count=10")
        .await;
    assert_eq!(filtered["totalResults"], 5);
    assert_eq!(filtered["Resources"].as_array().map_or(0, Vec::len), 4);
}

async fn concurrent_creates_are_all_stored_once_and_duplicates_among_them_are_409(app: TestApp) {
    // Concurrent creates are written in batches; every name is sent twice (in two cases), so
    // batches hold duplicates of each other and of rows committed a batch earlier.
    let app = std::sync::Arc::new(app);
    let creates = (0..48).map(|i| {
        let app = app.clone();
        async move {
            let name = match i % 2 {
                0 => format!("burst{}@example.com", i / 2),
                _ => format!("BURST{}@example.com", i / 2),
            };
            let response = app.post("/Users", user_body(&name)).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (i / 2, status, body)
        }
    });
    let answers = futures_util::future::join_all(creates).await;
    let mut created = std::collections::BTreeMap::new();
    for (n, status, body) in &answers {
        match status {
            201 => assert!(
                created.insert(*n, body["id"].clone()).is_none(),
                "{n} created twice"
            ),
            409 => assert_scim_error(body, 409, Some("uniqueness")),
            other => panic!("create answered {other}: {body}"),
        }
    }
    assert_eq!(created.len(), 24);
    let (_, list) = app.get_json("/Users?count=100").await;
    assert_eq!(list["totalResults"], 24);
    for (n, id) in &created {
        let (status, user) = app
            .get_json(&format!("/Users/{}", id.as_str().unwrap()))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            user["userName"].as_str().unwrap().to_lowercase(),
            format!("burst{n}@example.com")
        );
    }
    let log = app
        .store
        .changes_since(app.tenant.id, 0, 100)
        .await
        .unwrap();
    assert_eq!(log.len(), 24);
    assert!(log.iter().all(|c| c.operation == "create"));
}

async fn a_duplicate_user_name_in_any_case_is_a_409_uniqueness_error(app: TestApp) {
    app.create_user("carol@example.com").await;
    let response = app.post("/Users", user_body("CAROL@example.com")).await;
    assert_eq!(response.status(), 409);
    assert_scim_error(&response.json().await.unwrap(), 409, Some("uniqueness"));
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 1);
}

async fn put_replaces_the_user_and_bumps_the_version(app: TestApp) {
    let id = app.create_user("dave@example.com").await;
    let mut body = user_body("dave@example.com");
    body["displayName"] = json!("Dave");
    body["name"] = json!({"givenName": "David"});
    let response = app
        .scim(Method::PUT, &format!("/Users/{id}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    let (_, read) = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(read["displayName"], "Dave");
    assert_eq!(read["name"], json!({"givenName": "David"}));
    assert_eq!(read["meta"]["version"], "W/\"2\"");
}

async fn put_to_a_user_name_that_is_taken_is_a_409_and_changes_nothing(app: TestApp) {
    app.create_user("erin@example.com").await;
    let id = app.create_user("frank@example.com").await;
    let response = app
        .scim(Method::PUT, &format!("/Users/{id}"))
        .json(&user_body("Erin@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let (_, read) = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(read["userName"], "frank@example.com");
    assert_eq!(read["meta"]["version"], "W/\"1\"");
}

async fn delete_removes_the_user_and_its_group_memberships(app: TestApp) {
    let gone = app.create_user("gone@example.com").await;
    let stays = app.create_user("stays@example.com").await;
    let group = app.create_group("Staff", &[&gone, &stays]).await;
    let response = app
        .scim(Method::DELETE, &format!("/Users/{gone}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = app.get_json(&format!("/Users/{gone}")).await;
    assert_eq!(status, 404);
    let (_, group) = app.get_json(&format!("/Groups/{group}")).await;
    let members: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, vec![stays.as_str()]);
    assert_eq!(
        group["meta"]["version"], "W/\"2\"",
        "the group's member list changed"
    );
    let response = app
        .scim(Method::DELETE, &format!("/Users/{gone}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

async fn unknown_user_ids_are_404_with_a_scim_error(app: TestApp) {
    for id in [
        "010101001010101011001010101011",
        "01890000-0000-7000-8000-000000000000",
    ] {
        let (status, body) = app.get_json(&format!("/Users/{id}")).await;
        assert_eq!(status, 404);
        assert_scim_error(&body, 404, None);
    }
}

async fn the_password_is_accepted_but_never_returned(app: TestApp) {
    let mut body = user_body("pat@example.com");
    body["password"] = json!("hunter2-secret");
    let response = app.post("/Users", body).await;
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("password"),
        "{text}"
    );
    let (_, list) = app.get_json("/Users").await;
    assert!(!list.to_string().contains("hunter2"));
}

async fn malformed_json_is_400_invalid_syntax_and_writes_nothing(app: TestApp) {
    for body in [
        "{\"userName\": ",
        "[1,2]",
        "\u{0}",
        "{\"userName\": \"a\"}}",
    ] {
        let response = app
            .scim(Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        assert_scim_error(&response.json().await.unwrap(), 400, Some("invalidSyntax"));
    }
    let invalid_utf8 = app
        .scim(Method::POST, "/Users")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid_utf8.status(), 400);
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
}

async fn a_body_without_a_user_name_is_400_and_writes_nothing(app: TestApp) {
    for body in [
        json!({"displayName": "x"}),
        json!({"userName": ""}),
        json!({"userName": 42}),
    ] {
        let response = app.post("/Users", body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_scim_error(&response.json().await.unwrap(), 400, Some("invalidValue"));
    }
    let (_, list) = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
}

async fn a_json_body_with_a_non_json_content_type_is_415(app: TestApp) {
    let response = app
        .scim(Method::POST, "/Users")
        .header("content-type", "text/plain")
        .body(user_body("t@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_scim_error(&response.json().await.unwrap(), 415, None);
}

async fn requests_without_a_content_type_are_accepted(app: TestApp) {
    for (content_type, user) in [
        (None, "none@example.com"),
        (Some("application/json"), "json@example.com"),
        (
            Some("application/scim+json; charset=utf-8"),
            "scim@example.com",
        ),
    ] {
        let mut request = app
            .scim(Method::POST, "/Users")
            .body(user_body(user).to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            201,
            "{content_type:?}"
        );
    }
}

async fn resource_paths_are_matched_case_insensitively(app: TestApp) {
    let response = app.post("/users", user_body("lower@example.com")).await;
    assert_eq!(response.status(), 201);
    let id = id_of(response).await;
    let (status, _) = app.get_json(&format!("/USERS/{id}")).await;
    assert_eq!(status, 200);
    let (status, body) = app.get_json("/Nonsense").await;
    assert_eq!(status, 404);
    assert_scim_error(&body, 404, None);
}

async fn every_user_write_is_in_the_change_log_with_its_token_and_request(app: TestApp) {
    let response = app
        .scim(Method::POST, "/Users")
        .header("x-request-id", "req-create-1")
        .json(&user_body("logged@example.com"))
        .send()
        .await
        .unwrap();
    let id = id_of(response).await;
    app.scim(Method::PUT, &format!("/Users/{id}"))
        .json(&user_body("logged2@example.com"))
        .send()
        .await
        .unwrap();
    app.scim(Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    // A failed write leaves no record.
    app.post("/Users", json!({"displayName": "no userName"}))
        .await;

    let log = app
        .store
        .changes_since(app.tenant.id, 0, 100)
        .await
        .unwrap();
    let ops: Vec<&str> = log.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(ops, vec!["create", "update", "delete"]);
    assert!(
        log.iter().all(|c| c.resource_type == "User"
            && c.resource_id.map(|u| u.to_string()) == Some(id.clone()))
    );
    assert_eq!(log[0].request_id.as_deref(), Some("req-create-1"));
    assert!(log.iter().all(|c| c.token_id.is_some()));
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
}

async fn each_user_on_a_page_carries_exactly_its_own_groups(app: TestApp) {
    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let cat = app.create_user("cat@example.com").await;
    let first = app.create_group("First", &[&ann]).await;
    let second = app.create_group("Second", &[&ann, &cat]).await;
    let groups_of = |user: &serde_json::Value| -> Vec<String> {
        user["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .map(|g| g["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, page) = app.get_json("/Users?count=10").await;
    let users = page["Resources"].as_array().unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ann.as_str(), bob.as_str(), cat.as_str()]);
    assert_eq!(groups_of(&users[0]), [first.as_str(), second.as_str()]);
    assert!(groups_of(&users[1]).is_empty());
    assert_eq!(groups_of(&users[2]), [second.as_str()]);
    // A page in the middle, and a lookup, join the same way.
    let (_, middle) = app.get_json("/Users?startIndex=3&count=1").await;
    assert_eq!(middle["totalResults"], 3);
    assert_eq!(middle["Resources"][0]["id"], cat.as_str());
    assert_eq!(groups_of(&middle["Resources"][0]), [second.as_str()]);
    let (_, found) = app
        .get_json("/Users?filter=userName%20eq%20%22ANN%40example.com%22")
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(groups_of(&found["Resources"][0]), [first, second]);
    let (_, one) = app.get_json(&format!("/Users/{cat}")).await;
    assert_eq!(groups_of(&one).len(), 1);
}
