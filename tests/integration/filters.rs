//! Filters (RFC 7644 §3.4.2.2), sorting, paging and attribute selection, answered by the
//! database: the same expectations on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    every_filter_operator_selects_the_right_users,
    group_filters_reach_members_and_meta,
    date_time_filters_compare_instants,
    a_bad_filter_is_400_invalid_filter_saying_where_it_broke,
    results_sort_by_any_attribute_in_either_order,
    paging_walks_a_filtered_sorted_list_without_repeats,
    attributes_and_excluded_attributes_shape_every_response,
    search_posts_take_the_query_in_the_body,
    a_root_search_returns_users_and_groups,
);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Five users with attributes worth filtering on.
async fn seed(app: &TestApp) {
    let users = [
        json!({"userName": "alice@example.com", "displayName": "Alice Archer", "title": "Engineer",
               "externalId": "EXT-1", "active": true,
               "name": {"givenName": "Alice", "familyName": "Archer"},
               "emails": [{"value": "alice@example.com", "type": "work", "primary": true},
                          {"value": "alice@home.example", "type": "home"}],
               ENTERPRISE: {"department": "R&D", "manager": {"value": "m-1"}}}),
        json!({"userName": "bob@example.com", "displayName": "Bob Baker", "title": "Manager",
               "externalId": "ext-2", "active": false,
               "name": {"givenName": "Bob", "familyName": "Baker"},
               "emails": [{"value": "bob@example.org", "type": "work"}],
               ENTERPRISE: {"department": "Sales"}}),
        json!({"userName": "carol@example.com", "displayName": "Carol Cole",
               "active": true, "name": {"givenName": "Carol", "familyName": "Cole"},
               "emails": [{"value": "carol@home.example", "type": "home"}]}),
        json!({"userName": "Dave@Example.com", "title": "engineer", "active": true,
               "name": {"familyName": "Dunn"}}),
        json!({"userName": "erin@example.net", "displayName": "Erin Eve", "active": true,
               "nickName": "", "name": {"givenName": "Erin", "familyName": "Eve"}}),
    ];
    for mut user in users {
        user["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]);
        let (status, body) = app.send(Method::POST, "/Users", user).await;
        assert_eq!(status, 201, "{body}");
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|u| u["userName"].as_str().unwrap_or("?").to_lowercase())
                .map(|n| n.split('@').next().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn filtered(app: &TestApp, filter: &str) -> Value {
    let response = app
        .scim(Method::GET, "/Users")
        .query(&[("filter", filter)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{filter}: {body}");
    body
}

async fn every_filter_operator_selects_the_right_users(app: TestApp) {
    seed(&app).await;
    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "DAVE@example.com""#, &["dave"]),
        (r#"USERNAME Eq "alice@example.com""#, &["alice"]),
        (
            r#"userName ne "alice@example.com""#,
            &["bob", "carol", "dave", "erin"],
        ),
        (
            r#"userName co "EXAMPLE.COM""#,
            &["alice", "bob", "carol", "dave"],
        ),
        (r#"userName sw "CA""#, &["carol"]),
        (r#"userName ew ".net""#, &["erin"]),
        (r#"userName gt "carol@example.com""#, &["dave", "erin"]),
        (
            r#"userName ge "carol@example.com""#,
            &["carol", "dave", "erin"],
        ),
        (r#"userName lt "bob@example.com""#, &["alice"]),
        (r#"userName le "bob@example.com""#, &["alice", "bob"]),
        (r#"title eq "ENGINEER""#, &["alice", "dave"]),
        (r#"title pr"#, &["alice", "bob", "dave"]),
        (r#"nickName pr"#, &[]),
        (r#"title eq null"#, &["carol", "erin"]),
        (r#"not (title eq "Engineer")"#, &["bob", "carol", "erin"]),
        (r#"externalId eq "ext-1""#, &[]),
        (r#"externalId eq "EXT-1""#, &["alice"]),
        (r#"externalId sw "ext""#, &["bob"]),
        (r#"active eq false"#, &["bob"]),
        (r#"active eq true and title pr"#, &["alice", "dave"]),
        (
            r#"title eq "manager" or displayName sw "carol""#,
            &["bob", "carol"],
        ),
        (
            r#"(title pr or displayName ew "eve") and not (active eq false)"#,
            &["alice", "dave", "erin"],
        ),
        (r#"name.familyName eq "cole""#, &["carol"]),
        (r#"name.givenName pr"#, &["alice", "bob", "carol", "erin"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw "D""#,
            &["dave"],
        ),
        (r#"emails.value ew "@home.example""#, &["alice", "carol"]),
        (r#"emails co "example.org""#, &["bob"]),
        (
            r#"emails[type eq "work" and value co "example.com"]"#,
            &["alice"],
        ),
        (r#"emails[type eq "home"]"#, &["alice", "carol"]),
        (r#"emails[primary eq true]"#, &["alice"]),
        (r#"emails pr"#, &["alice", "bob", "carol"]),
        (r#"not (emails pr)"#, &["dave", "erin"]),
        (
            r#"emails[type eq "work"].value eq "bob@example.org""#,
            &["bob"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#,
            &["alice"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#,
            &["alice"],
        ),
        (
            r#"meta.resourceType eq "User""#,
            &["alice", "bob", "carol", "dave", "erin"],
        ),
        (r#"meta.resourceType eq "Group""#, &[]),
        (r#"id eq "not-a-uuid""#, &[]),
    ];
    for (filter, expected) in cases {
        let list = filtered(&app, filter).await;
        assert_eq!(names(&list), *expected, "{filter}");
        assert_eq!(list["totalResults"], expected.len(), "{filter}");
    }
}

async fn group_filters_reach_members_and_meta(app: TestApp) {
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let both = app.create_group("Both", &[&alice, &bob]).await;
    let only_bob = app.create_group("Only Bob", &[&bob]).await;
    let empty = app.create_group("Empty", &[]).await;
    let ids = |list: &Value| -> Vec<String> {
        let mut ids: Vec<String> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let cases = [
        (format!(r#"members.value eq "{alice}""#), vec![both.clone()]),
        (
            format!(r#"members[value eq "{bob}"]"#),
            sorted(vec![both.clone(), only_bob.clone()]),
        ),
        (
            "members pr".to_owned(),
            sorted(vec![both.clone(), only_bob.clone()]),
        ),
        ("not (members pr)".to_owned(), vec![empty.clone()]),
        (
            r#"members.type eq "User" and displayName sw "only""#.to_owned(),
            vec![only_bob.clone()],
        ),
        (format!(r#"id eq "{empty}""#), vec![empty.clone()]),
        (
            r#"meta.version eq "W/\"1\"""#.to_owned(),
            sorted(vec![both.clone(), only_bob.clone(), empty.clone()]),
        ),
    ];
    for (filter, expected) in cases {
        let response = app
            .scim(Method::GET, "/Groups")
            .query(&[("filter", filter.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{filter}");
        assert_eq!(ids(&response.json().await.unwrap()), expected, "{filter}");
    }
    let response = app
        .scim(Method::GET, "/Users")
        .query(&[("filter", format!(r#"groups.value eq "{only_bob}""#))])
        .send()
        .await
        .unwrap();
    let list: Value = response.json().await.unwrap();
    assert_eq!(names(&list), ["bob"]);
}

async fn date_time_filters_compare_instants(app: TestApp) {
    app.create_user("early@example.com").await;
    app.clock.advance(chrono::Duration::hours(2));
    let middle = (dirsync::clock::Clock::now(&app.clock) - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    app.create_user("late@example.com").await;
    let later = filtered(&app, &format!(r#"meta.created gt "{middle}""#)).await;
    assert_eq!(names(&later), ["late"]);
    let earlier = filtered(&app, &format!(r#"meta.lastModified le "{middle}""#)).await;
    assert_eq!(names(&earlier), ["early"]);
    let response = app
        .scim(Method::GET, "/Users")
        .query(&[("filter", r#"meta.created gt "yesterday""#)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn a_bad_filter_is_400_invalid_filter_saying_where_it_broke(app: TestApp) {
    for (filter, fragment) in [
        (r#"userName eq "x"#, "unterminated"),
        (r#"(userName eq "x""#, "expected \")\""),
        (r#"userName like "x""#, "unknown operator"),
        (r#"emails[type eq "work""#, "expected \"]\""),
        (r#"shoeSize eq 42"#, "shoeSize"),
        (r#"userName eq "x" and"#, "character"),
        (r#"password eq "x""#, "cannot be filtered"),
    ] {
        let response = app
            .scim(Method::GET, "/Users")
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{filter}");
        let body: Value = response.json().await.unwrap();
        assert_scim_error(&body, 400, Some("invalidFilter"));
        assert!(
            body["detail"].as_str().unwrap().contains(fragment),
            "{filter}: {body}"
        );
    }
}

async fn sorted_names(app: &TestApp, query: &[(&str, &str)]) -> Vec<String> {
    let response = app
        .scim(Method::GET, "/Users")
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query:?}");
    let list: Value = response.json().await.unwrap();
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            u["userName"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap()
                .to_lowercase()
        })
        .collect()
}

async fn results_sort_by_any_attribute_in_either_order(app: TestApp) {
    seed(&app).await;
    assert_eq!(
        sorted_names(&app, &[("sortBy", "userName")]).await,
        ["alice", "bob", "carol", "dave", "erin"]
    );
    assert_eq!(
        sorted_names(&app, &[("sortBy", "userName"), ("sortOrder", "descending")]).await,
        ["erin", "dave", "carol", "bob", "alice"]
    );
    // Users without a givenName sort last.
    assert_eq!(
        sorted_names(
            &app,
            &[("sortBy", "name.givenName"), ("sortOrder", "descending")]
        )
        .await[..4],
        ["erin", "carol", "bob", "alice"]
    );
    assert_eq!(
        sorted_names(&app, &[("sortBy", "name.familyName")]).await,
        ["alice", "bob", "carol", "dave", "erin"]
    );
    assert_eq!(
        sorted_names(&app, &[("sortBy", "emails.value"), ("filter", "emails pr")]).await,
        ["alice", "bob", "carol"]
    );
    let response = app
        .scim(Method::GET, "/Users")
        .query(&[("sortBy", "userName"), ("sortOrder", "sideways")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn paging_walks_a_filtered_sorted_list_without_repeats(app: TestApp) {
    for n in 0..25 {
        app.create_user(&format!("user{n:02}@example.com")).await;
    }
    app.create_user("outsider@example.org").await;
    let mut seen = Vec::new();
    for start in [1, 11, 21] {
        let start = start.to_string();
        let response = app
            .scim(Method::GET, "/Users")
            .query(&[
                ("filter", r#"userName ew "example.com""#),
                ("sortBy", "userName"),
                ("sortOrder", "descending"),
                ("startIndex", start.as_str()),
                ("count", "10"),
            ])
            .send()
            .await
            .unwrap();
        let page: Value = response.json().await.unwrap();
        assert_eq!(page["totalResults"], 25);
        assert_eq!(page["startIndex"].to_string(), start);
        for user in page["Resources"].as_array().unwrap() {
            seen.push(user["userName"].as_str().unwrap().to_owned());
        }
    }
    let mut expected: Vec<String> = (0..25).map(|n| format!("user{n:02}@example.com")).collect();
    expected.reverse();
    assert_eq!(seen, expected);
}

async fn attributes_and_excluded_attributes_shape_every_response(app: TestApp) {
    seed(&app).await;
    let response = app
        .scim(Method::GET, "/Users")
        .query(&[
            ("filter", r#"userName eq "alice@example.com""#),
            ("attributes", "userName,name.givenName,emails.value"),
        ])
        .send()
        .await
        .unwrap();
    let list: Value = response.json().await.unwrap();
    let alice = &list["Resources"][0];
    let mut keys: Vec<&str> = alice
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["emails", "id", "name", "schemas", "userName"]);
    assert_eq!(alice["name"], json!({"givenName": "Alice"}));
    assert_eq!(
        alice["emails"],
        json!([{"value": "alice@example.com"}, {"value": "alice@home.example"}])
    );
    let id = alice["id"].as_str().unwrap();
    let (_, read) = app
        .get_json(&format!(
            "/Users/{id}?excludedAttributes=emails,{ENTERPRISE}:department"
        ))
        .await;
    assert!(read.get("emails").is_none(), "{read}");
    assert_eq!(read[ENTERPRISE], json!({"manager": {"value": "m-1"}}));
    assert_eq!(read["id"], id);
    let (status, patched) = app
        .patch(
            &format!("/Users/{id}?attributes=title"),
            json!([{"op": "replace", "path": "title", "value": "Lead"}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched.as_object().unwrap().len(), 3, "{patched}");
    assert_eq!(patched["title"], "Lead");
}

async fn search_posts_take_the_query_in_the_body(app: TestApp) {
    seed(&app).await;
    let (status, list) = app
        .send(
            Method::POST,
            "/Users/.search",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "title pr",
                "sortBy": "userName",
                "sortOrder": "descending",
                "attributes": ["userName"],
                "startIndex": 1,
                "count": 2,
            }),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalResults"], 3);
    assert_eq!(list["itemsPerPage"], 2);
    assert_eq!(list["Resources"][0]["userName"], "Dave@Example.com");
    assert!(list["Resources"][0].get("title").is_none());
    let (status, _) = app.send(Method::GET, "/Users/.search", json!({})).await;
    assert_eq!(status, 405);
}

async fn a_root_search_returns_users_and_groups(app: TestApp) {
    let user = app.create_user("sales@example.com").await;
    app.create_user("other@example.com").await;
    let group = app.create_group("Sales", &[&user]).await;
    let (status, list) = app
        .send(
            Method::POST,
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": r#"displayName sw "sales" or userName sw "sales""#}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalResults"], 2);
    let ids: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [user.as_str(), group.as_str()]);
    let (status, second) = app
        .send(
            Method::POST,
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "startIndex": 3, "count": 5}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(second["totalResults"], 3);
    assert_eq!(second["Resources"][0]["id"], group.as_str());
}
