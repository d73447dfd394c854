//! Several `dirsync serve` processes: two replicas on one PostgreSQL database, and a daemon
//! killed with SIGKILL in the middle of a burst of writes. These run the built binary as child
//! processes (`support::serve`), because what they test is what crosses processes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dirsync::bench::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::postgres::database_or_skip;
use crate::support::serve::Serve;
use crate::support::{json_of, patch_body, user_body};

async fn create(replica: &Serve, token: &str, name: &str) -> (StatusCode, Value) {
    let response = replica
        .scim(Method::POST, "/Users", token)
        .json(&user_body(name))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// Creates a user through `replica`, which must answer 201; its id.
async fn created_id(replica: &Serve, token: &str, name: &str) -> String {
    let (status, body) = create(replica, token, name).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_replicas_on_one_database_answer_one_201_and_one_409_for_the_same_user_name() {
    let Some(url) = database_or_skip().await else {
        return;
    };
    let a = Serve::start(Some(&url), &[]);
    let b = Serve::start(Some(&url), &[]);
    let token = a.tenant().await;
    for round in 0..20 {
        // Different case on each side: userName is unique case-insensitively (RFC 7643 §4.1.1).
        let (lower, upper) = (
            format!("race{round}@example.com"),
            format!("RACE{round}@example.com"),
        );
        let (first, second) = tokio::join!(create(&a, &token, &lower), create(&b, &token, &upper));
        let mut statuses = [first.0.as_u16(), second.0.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}: {first:?} {second:?}");
        let conflict = if first.0 == StatusCode::CONFLICT {
            &first.1
        } else {
            &second.1
        };
        assert_eq!(conflict["scimType"], "uniqueness");
    }
    let list = json_of(b.scim(Method::GET, "/Users?count=0", &token)).await;
    assert_eq!(list["totalResults"], 20);
}

/// The ids of a page of users read through `replica`, and its total.
async fn page(replica: &Serve, token: &str, query: &str) -> (Vec<String>, u64) {
    let list = json_of(replica.scim(Method::GET, &format!("/Users?{query}"), token)).await;
    let ids = list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .collect();
    (ids, list["totalResults"].as_u64().unwrap_or(u64::MAX))
}

/// A replica remembers where each page of a listing ended and its total, but only while the
/// database is unchanged: a write through another replica between two pages shows in the next.
#[tokio::test]
async fn a_page_after_another_replicas_write_shows_the_tenant_as_it_now_is() {
    let Some(url) = database_or_skip().await else {
        return;
    };
    let (a, b) = (Serve::start(Some(&url), &[]), Serve::start(Some(&url), &[]));
    let token = a.tenant().await;
    let mut created = Vec::new();
    for n in 0..6 {
        created.push(created_id(&a, &token, &format!("p{n}@example.com")).await);
    }
    assert_eq!(
        page(&a, &token, "startIndex=1&count=2").await,
        (created[0..2].to_vec(), 6)
    );
    assert_eq!(
        page(&a, &token, "startIndex=3&count=2").await,
        (created[2..4].to_vec(), 6)
    );
    let deleted = b
        .scim(Method::DELETE, &format!("/Users/{}", created[0]), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    created.remove(0);
    for n in 6..8 {
        created.push(created_id(&b, &token, &format!("p{n}@example.com")).await);
    }
    // The third row is now the fourth user created.
    assert_eq!(
        page(&a, &token, "startIndex=3&count=2").await,
        (created[2..4].to_vec(), 7)
    );
    assert_eq!(
        page(&a, &token, "startIndex=5&count=2").await,
        (created[4..6].to_vec(), 7)
    );
}

#[tokio::test]
async fn membership_patches_through_two_replicas_lose_nothing() {
    let Some(url) = database_or_skip().await else {
        return;
    };
    let replicas = Arc::new([Serve::start(Some(&url), &[]), Serve::start(Some(&url), &[])]);
    let token = replicas[0].tenant().await;
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(created_id(&replicas[n % 2], &token, &format!("m{n}@example.com")).await);
    }
    let group = json_of(
        replicas[0]
            .scim(Method::POST, "/Groups", &token)
            .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone"})),
    )
    .await;
    let group = group["id"].as_str().unwrap().to_owned();
    // Entra's way, one member per PATCH, 16 at a time, alternating replicas: each replica
    // reads and writes the same group at once.
    let statuses: Vec<u16> = futures_util::stream::iter(ids.iter().enumerate())
        .map(|(n, id)| {
            let replicas = replicas.clone();
            let (token, group) = (token.clone(), group.clone());
            let id = id.clone();
            async move {
                replicas[n % 2]
                    .scim(Method::PATCH, &format!("/Groups/{group}"), &token)
                    .json(&patch_body(
                        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                    ))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 204),
        "{statuses:?}"
    );
    for replica in replicas.iter() {
        let stored = json_of(replica.scim(Method::GET, &format!("/Groups/{group}"), &token)).await;
        let members: BTreeSet<String> = stored["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(members, ids.iter().cloned().collect::<BTreeSet<_>>());
    }
}

#[tokio::test]
async fn a_run_on_one_replica_makes_the_other_busy_and_killing_it_lets_the_other_take_over() {
    let Some(url) = database_or_skip().await else {
        return;
    };
    let slapd = Slapd::start().unwrap();
    let ldap = [
        ("DIRSYNC__LDAP__URL", slapd.url.as_str()),
        ("DIRSYNC__LDAP__BIND_DN", ROOT_DN),
        ("DIRSYNC__LDAP__BIND_PASSWORD", ROOT_PW),
        ("DIRSYNC__LDAP__BASE_DN", SUFFIX),
        ("DIRSYNC__SYNC__CHANGE_DELAY", "0s"),
    ];
    let mut a = Serve::start(Some(&url), &ldap);
    let b = Serve::start(Some(&url), &ldap);
    let token = a.tenant().await;
    let names: Vec<String> = (0..1500).map(|n| format!("k{n}@example.com")).collect();
    let statuses: Vec<StatusCode> = futures_util::stream::iter(&names)
        .map(|name| {
            let (a, token) = (&a, &token);
            async move { create(a, token, name).await.0 }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED));

    // A's first apply (1,500 LDAP adds) runs in the background...
    let apply = |replica: &Serve| {
        replica
            .admin(Method::POST, "/v1/tenants/acme/reconcile")
            .json(&json!({"target": "ldap"}))
    };
    let reconcile = |replica: &Serve| json_of(apply(replica));
    let runs = |replica: &Serve| json_of(replica.admin(Method::GET, "/v1/tenants/acme/runs"));
    // Its answer never comes: A is killed before the run ends.
    let running = tokio::spawn(apply(&a).send());
    let started = Instant::now();
    loop {
        let runs = runs(&b).await;
        if runs
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["finished_at"].is_null())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "A's run never started: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...so B finds the pair locked.
    let report = reconcile(&b).await;
    assert_eq!(report[0]["outcome"], "busy", "{report}");
    // A dies mid-run, without giving the lock back; B's next trigger takes over at once (a
    // lease would have blocked it for `sync.lease`) and converges.
    a.daemon.kill();
    let _ = running.await;
    let killed = Instant::now();
    let report = loop {
        // PostgreSQL ends the dead client's session when it reads the closed socket: moments.
        let report = reconcile(&b).await;
        if report[0]["outcome"] != "busy" || killed.elapsed() > Duration::from_secs(10) {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report[0]["outcome"], "applied", "{report}");
    let again = reconcile(&b).await;
    assert_eq!(again[0]["outcome"], "applied");
    // A's cut-off run is closed as abandoned, not left "running".
    let runs = runs(&b).await;
    let runs = runs.as_array().unwrap();
    assert!(runs.iter().all(|r| !r["finished_at"].is_null()), "{runs:?}");
    assert_eq!(
        runs.iter().filter(|r| r["status"] == "abandoned").count(),
        1,
        "{runs:?}"
    );
    assert!(
        again[0]["applied"].as_object().unwrap().is_empty(),
        "{again}"
    );
}

/// Creates users 16 at a time until the daemon stops answering; what was acknowledged.
async fn create_until_killed(replica: &Serve, token: &str) -> Vec<(String, String)> {
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers = (0..16).map(|w| {
        let acknowledged = acknowledged.clone();
        async move {
            for n in 0.. {
                let name = format!("burst{w}-{n}@example.com");
                let sent = replica
                    .scim(Method::POST, "/Users", token)
                    .json(&user_body(&name))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != StatusCode::CREATED {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let id = body["id"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push((name, id));
            }
        }
    });
    futures_util::future::join_all(writers).await;
    acknowledged.lock().unwrap().clone()
}

async fn every_acknowledged_write_survives_a_sigkill(database_url: Option<String>) {
    let mut replica = Serve::start(database_url.as_deref(), &[]);
    let token = replica.tenant().await;
    let burst = create_until_killed(&replica, &token);
    let pid = replica.daemon.pid().unwrap().to_string();
    let kill = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // SIGKILL: no shutdown, no flush, requests in flight cut off.
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        assert!(killed.unwrap().success());
    };
    let (acknowledged, ()) = tokio::join!(burst, kill);
    assert!(
        acknowledged.len() > 16,
        "only {} creates before the kill",
        acknowledged.len()
    );
    replica.daemon.restart(&[]).unwrap();
    for (name, id) in &acknowledged {
        let response = replica
            .scim(Method::GET, &format!("/Users/{id}"), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "acknowledged {name} is gone"
        );
        let stored: Value = response.json().await.unwrap();
        assert_eq!(stored["userName"], name.as_str());
        assert_eq!(stored["emails"][0]["value"], name.as_str());
    }
    // Nothing half-written either: every stored user, acknowledged or not, is whole.
    let mut stored = Vec::new();
    loop {
        let page = json_of(
            replica
                .scim(Method::GET, "/Users", &token)
                .query(&[("startIndex", stored.len() + 1), ("count", 1000)]),
        )
        .await;
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        if resources.is_empty() {
            break;
        }
        stored.extend(resources);
    }
    assert!(stored.len() >= acknowledged.len());
    for user in &stored {
        assert_eq!(
            user["emails"][0]["value"], user["userName"],
            "a partial user: {user}"
        );
        assert_eq!(
            user["name"]["familyName"], "Family",
            "a partial user: {user}"
        );
    }
}

#[tokio::test]
async fn every_acknowledged_write_survives_a_sigkill_on_sqlite() {
    every_acknowledged_write_survives_a_sigkill(None).await;
}

#[tokio::test]
async fn every_acknowledged_write_survives_a_sigkill_on_postgres() {
    if let Some(url) = database_or_skip().await {
        every_acknowledged_write_survives_a_sigkill(Some(url)).await;
    }
}
