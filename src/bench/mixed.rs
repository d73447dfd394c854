//! Scenario 6: Entra's provisioning cycle on many tenants at once. Each tenant, one request at
//! a time as Entra sends them, looks a user up by userName, creates it when missing, patches an
//! attribute, and at the end creates a group and adds every user to it one PATCH at a time.
//! All tenants run side by side, so the figures include what tenants cost each other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use super::daemon::Daemon;
use super::load::Figures;
use super::{Scim, new_tenant};

/// Runs the cycle on `tenants` tenants with `users` users each.
pub async fn entra_cycles(
    client: &Client,
    daemon: &Daemon,
    tenants: usize,
    users: usize,
) -> Result<Figures, String> {
    let mut cycles = Vec::with_capacity(tenants);
    for _ in 0..tenants {
        let scim = Arc::new(Scim {
            client: client.clone(),
            base: daemon.scim.clone(),
            token: new_tenant(client, daemon).await?.1,
        });
        cycles.push(tokio::spawn(cycle(scim, users)));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for handle in cycles {
        let (tenant_latencies, tenant_errors) = handle
            .await
            .map_err(|e| format!("a tenant's cycle failed: {e}"))?;
        latencies.extend(tenant_latencies);
        errors += tenant_errors;
    }
    latencies.sort_unstable();
    Ok(Figures {
        requests: latencies.len(),
        concurrency: tenants,
        elapsed: started.elapsed(),
        latencies,
        errors,
    })
}

/// One tenant's cycle; the latency of every request and how many failed.
async fn cycle(scim: Arc<Scim>, users: usize) -> (Vec<Duration>, usize) {
    let mut timed = Timed::default();
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let name = format!("entra{i}@example.com");
        let filter = format!("userName eq \"{name}\"");
        let lookup = scim.get("/Users").query(&[("filter", filter)]);
        timed.expect(&scim, lookup, &[200]).await;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "active": true,
            "displayName": format!("Entra User {i}"),
        });
        let Some(created) = timed.json(scim.post("/Users", body), 201).await else {
            continue;
        };
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let patch = scim.patch(
            &format!("/Users/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "displayName", "value": format!("Renamed {i}")}]
            }),
        );
        timed.expect(&scim, patch, &[200, 204]).await;
        ids.push(id);
    }
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Entra cycle group",
    });
    if let Some(group) = timed.json(scim.post("/Groups", group), 201).await {
        let group = group["id"].as_str().unwrap_or_default().to_owned();
        for id in &ids {
            let add = scim.patch(
                &format!("/Groups/{group}"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]
                }),
            );
            timed.expect(&scim, add, &[200, 204]).await;
        }
    }
    (timed.latencies, timed.errors)
}

/// Latencies and failures of one tenant's requests.
#[derive(Default)]
struct Timed {
    latencies: Vec<Duration>,
    errors: usize,
}

impl Timed {
    async fn expect(&mut self, scim: &Scim, request: reqwest::RequestBuilder, statuses: &[u16]) {
        let begun = Instant::now();
        let status = scim.send(request).await;
        self.latencies.push(begun.elapsed());
        if !status.is_some_and(|s| statuses.contains(&s)) {
            self.errors += 1;
        }
    }

    async fn json(&mut self, request: reqwest::RequestBuilder, status: u16) -> Option<Value> {
        let begun = Instant::now();
        let answer = match request.send().await {
            Ok(response) if response.status().as_u16() == status => response.json().await.ok(),
            _ => None,
        };
        self.latencies.push(begun.elapsed());
        if answer.is_none() {
            self.errors += 1;
        }
        answer
    }
}
