//! `dirsync bench`: starts a daemon on loopback, drives it with the scenarios of an IdP's
//! provisioning cycle, and prints one table row per scenario. Figures, never assertions: what
//! is fast enough is read off the table against the hello route measured in the same run.

pub mod daemon;
mod load;
mod mixed;
mod reconcile;
pub mod slapd;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use daemon::Daemon;
use load::{Figures, drive};

/// How many tenants the mixed cycle runs on at once.
const MIXED_TENANTS: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub users: usize,
    /// How many members the one large group grows to (at most `users`).
    pub members: usize,
    /// PostgreSQL instead of SQLite in a temporary directory.
    pub database_url: Option<String>,
    /// Extra `DIRSYNC__` settings for the daemon.
    pub daemon_env: Vec<(String, String)>,
    /// Groups of ten members for the reconciliation scenario.
    pub groups: usize,
    /// Which scenarios run.
    pub scenarios: Scenarios,
    /// How long steady writes run while change-to-LDAP lag is measured.
    pub lag_writing: Duration,
}

/// Which scenarios a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenarios {
    /// The SCIM scenarios (1–6) and reconciliation into slapd (7).
    All,
    /// Scenarios 1–6.
    Scim,
    /// Scenario 7.
    Reconcile,
}

struct Row {
    scenario: String,
    figures: Figures,
    /// CPU the daemon (`None` for the hello route, which it does not serve) and the bench
    /// process used during the scenario, in seconds: on two shared cores, what a request costs
    /// each side, whatever the throughput.
    daemon_cpu: Option<f64>,
    bench_cpu: f64,
    /// The daemon's RSS after the scenario; `None` for the hello route, which it does not serve.
    rss_after: Option<f64>,
    note: String,
}

/// Runs the chosen scenarios and returns their tables.
pub async fn run(options: &Options) -> Result<String, String> {
    let client = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    if options.scenarios != Scenarios::Reconcile {
        out.push_str(&scim_scenarios(&client, options).await?);
    }
    if options.scenarios != Scenarios::Scim {
        if !out.is_empty() {
            out.push('\n');
        }
        let (users, groups) = (options.users, options.groups);
        let database_url = options.database_url.as_deref();
        let lag = options.lag_writing;
        out.push_str(&reconcile::into_slapd(&client, database_url, users, groups, lag).await?);
    }
    Ok(out)
}

/// Scenarios 1–6, against one daemon.
async fn scim_scenarios(client: &Client, options: &Options) -> Result<String, String> {
    let daemon = Daemon::start(options.database_url.as_deref(), &options.daemon_env)?;
    let rss_before = daemon.rss_mib();
    let (_, token) = new_tenant(client, &daemon).await?;
    let scim = Arc::new(Scim {
        client: client.clone(),
        base: daemon.scim.clone(),
        token,
    });
    let mut rows = vec![hello(client).await?];
    let mut cpu_before = (daemon.cpu_seconds(), daemon::cpu_seconds("self"));
    let mut push = |scenario: String, figures: Figures, note: String| {
        let cpu = (daemon.cpu_seconds(), daemon::cpu_seconds("self"));
        rows.push(Row {
            scenario,
            figures,
            daemon_cpu: Some(cpu.0 - cpu_before.0),
            bench_cpu: cpu.1 - cpu_before.1,
            rss_after: Some(daemon.rss_mib()),
            note,
        });
        cpu_before = cpu;
    };

    // The daemon's own ceiling: what its server, request parsing, logging and metrics cost
    // across two processes, with no token check and no database. Reads are also read against
    // this row, since the hello route above pays no hand-off between processes.
    let healthz = format!("{}/healthz", daemon.scim_origin);
    let figures = drive(CEILING_REQUESTS, 32, |_| get_ok(client, &healthz)).await;
    push(
        "healthz on the daemon (its own ceiling)".into(),
        figures,
        "no token, no database".into(),
    );

    let users = options.users;
    let s = scim.clone();
    let creates = drive(users, 16, move |i| {
        let s = s.clone();
        async move { s.send(s.post("/Users", user(i))).await == Some(201) }
    })
    .await;
    push(format!("create {users} users"), creates, String::new());

    let (paging, ids, first, last) = page_all(&scim).await?;
    let note = format!("page 1 {:.2} ms, last page {:.2} ms", ms(first), ms(last));
    push(format!("page all {} users by 100", ids.len()), paging, note);
    let ids = Arc::new(ids);

    // Each its own scenario, so each gets its own CPU figures.
    let by_name = |label: &'static str| {
        let s = scim.clone();
        async move {
            let figures = drive(users, 32, move |i| {
                let s = s.clone();
                async move {
                    let filter = format!("userName eq \"{}\"", user_name(i));
                    s.send(s.get("/Users").query(&[("filter", filter)])).await == Some(200)
                }
            })
            .await;
            (format!("userName eq lookups{label}"), figures)
        }
    };
    let by_id = |label: &'static str| {
        let s = scim.clone();
        let ids = ids.clone();
        async move {
            let figures = drive(users, 32, move |i| {
                let s = s.clone();
                let ids = ids.clone();
                async move {
                    let id = ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
                    s.send(s.get(&format!("/Users/{id}"))).await == Some(200)
                }
            })
            .await;
            (format!("GET user by id{label}"), figures)
        }
    };
    let (name, figures) = by_name("").await;
    push(name, figures, String::new());
    let (name, figures) = by_id("").await;
    push(name, figures, String::new());

    let members = options.members.min(ids.len());
    let (adds, note) = grow_group(&scim, &ids[..members]).await?;
    push(format!("group PATCH add to {members} members"), adds, note);
    let (name, figures) = by_name(" (large group present)").await;
    push(name, figures, String::new());
    let (name, figures) = by_id(" (large group present)").await;
    push(name, figures, String::new());

    let per_tenant = (users / MIXED_TENANTS).max(1);
    let mixed = mixed::entra_cycles(client, &daemon, MIXED_TENANTS, per_tenant).await?;
    push(
        format!("Entra cycle on {MIXED_TENANTS} tenants at once"),
        mixed,
        format!("{per_tenant} users each: lookup, create, PATCH, then a group grown by PATCH adds"),
    );

    Ok(table(options, rss_before, &rows))
}

fn table(options: &Options, rss_before: f64, rows: &[Row]) -> String {
    let database = if options.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let ceiling = rows.first().map_or(1.0, |r| r.figures.per_second());
    let mut out = format!(
        "dirsync bench on {database}, {} users; daemon RSS at start {rss_before:.1} MiB\n\n\
         | scenario | requests | concurrency | req/s | of hello | p50 ms | p99 ms | errors | daemon CPU µs/req | bench CPU µs/req | RSS after MiB | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        options.users
    );
    for row in rows {
        let f = &row.figures;
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0}% | {:.2} | {:.2} | {} | {} | {:.0} | {} | {} |\n",
            row.scenario,
            f.requests,
            f.concurrency,
            f.per_second(),
            100.0 * f.per_second() / ceiling,
            ms(f.percentile(0.5)),
            ms(f.percentile(0.99)),
            f.errors,
            row.daemon_cpu.map_or_else(
                || "–".to_owned(),
                |cpu| format!("{:.0}", per_request(cpu, f.requests))
            ),
            per_request(row.bench_cpu, f.requests),
            row.rss_after
                .map_or_else(|| "–".to_owned(), |rss| format!("{rss:.1}")),
            row.note
        ));
    }
    out
}

/// `cpu` seconds spread over `requests`, in microseconds.
fn per_request(cpu: f64, requests: usize) -> f64 {
    cpu * 1e6 / requests.max(1) as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn user_name(i: usize) -> String {
    format!("bench{i}@example.com")
}

fn user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name(i),
        "name": {"givenName": "Bench", "familyName": format!("User {i}")},
        "emails": [{"value": user_name(i), "type": "work", "primary": true}],
        "active": true
    })
}

/// A tenant and its token made through the admin API, as an operator would: the tenant's name
/// and the token's secret.
async fn new_tenant(client: &Client, daemon: &Daemon) -> Result<(String, String), String> {
    let name = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let admin = |path: &str| daemon.admin(client, reqwest::Method::POST, path);
    fetch_json(
        admin("/v1/tenants").json(&json!({"name": name, "idp": "entra"})),
        "cannot create the bench tenant",
    )
    .await?;
    let issued = fetch_json(
        admin(&format!("/v1/tenants/{name}/tokens")).json(&json!({"name": "bench"})),
        "cannot issue the bench token",
    )
    .await?;
    let secret = issued["secret"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no secret in {issued}"))?;
    Ok((name, secret))
}

struct Scim {
    client: Client,
    base: String,
    token: String,
}

impl Scim {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    fn patch(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
    }

    /// The status and the body as JSON (`Null` when it is not).
    async fn send_json(&self, request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let body = response.bytes().await.ok()?;
        Some((status, serde_json::from_slice(&body).unwrap_or_default()))
    }

    /// The status, having read the body (so the connection goes back to the pool).
    async fn send(&self, request: reqwest::RequestBuilder) -> Option<u16> {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        response.bytes().await.ok()?;
        Some(status)
    }
}

/// Sends `request` and reads its JSON body; a failure or an error status is `what` and why.
async fn fetch_json(request: reqwest::RequestBuilder, what: &str) -> Result<Value, String> {
    let response = request
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("{what}: {e}"))?;
    response.json().await.map_err(|e| format!("{what}: {e}"))
}

/// Pages through every user 100 at a time, as Entra and Okta do on import; returns the ids.
async fn page_all(scim: &Scim) -> Result<(Figures, Vec<String>, Duration, Duration), String> {
    let mut ids = Vec::new();
    let mut latencies = Vec::new();
    let started = Instant::now();
    loop {
        let begun = Instant::now();
        let page = fetch_json(
            scim.get("/Users")
                .query(&[("startIndex", ids.len() + 1), ("count", 100)]),
            "paging failed",
        )
        .await?;
        latencies.push(begun.elapsed());
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        if resources.is_empty() {
            break;
        }
        ids.extend(
            resources
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned)),
        );
    }
    let first = latencies.first().copied().unwrap_or_default();
    // The last page that had users; the final request only finds the end.
    let last = latencies.iter().rev().nth(1).copied().unwrap_or(first);
    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    let figures = Figures {
        requests: latencies.len(),
        concurrency: 1,
        elapsed: started.elapsed(),
        latencies: sorted,
        errors: 0,
    };
    Ok((figures, ids, first, last))
}

/// One group grown one PATCH add at a time (Entra's way); the note gives the p50 of the 50
/// adds that brought it to each size.
async fn grow_group(scim: &Scim, ids: &[String]) -> Result<(Figures, String), String> {
    let created = fetch_json(
        scim.post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "bench large group"}),
        ),
        "cannot create the group",
    )
    .await?;
    let group = created["id"].as_str().unwrap_or_default().to_owned();
    let mut latencies = Vec::with_capacity(ids.len());
    let mut errors = 0;
    let started = Instant::now();
    for id in ids {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]
        });
        let begun = Instant::now();
        let request = scim
            .client
            .patch(format!("{}/Groups/{group}", scim.base))
            .bearer_auth(&scim.token)
            .json(&body);
        if !matches!(scim.send(request).await, Some(200 | 204)) {
            errors += 1;
        }
        latencies.push(begun.elapsed());
    }
    let elapsed = started.elapsed();
    let mut note = Vec::new();
    for size in [100_usize, 1_000, 10_000, 50_000] {
        // The 50 adds that brought the group to `size` members.
        if let Some(window) = latencies.get(size.saturating_sub(50)..size) {
            let mut window = window.to_vec();
            window.sort_unstable();
            note.push(format!(
                "p50 at {size}: {:.2} ms",
                ms(window[window.len() / 2])
            ));
        }
    }
    latencies.sort_unstable();
    let figures = Figures {
        requests: ids.len(),
        concurrency: 1,
        elapsed,
        latencies,
        errors,
    };
    Ok((figures, note.join(", ")))
}

/// How many requests measure a ceiling.
const CEILING_REQUESTS: usize = 20_000;

/// Whether a GET of `url` succeeds, having read its body.
async fn get_ok(client: &Client, url: &str) -> bool {
    match client.get(url).send().await {
        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// The loopback ceiling: the hello route, with the same client and concurrency as the reads.
async fn hello(client: &Client) -> Result<Row, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/hello",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(crate::api::serve_hello(listener, shutdown.clone()));
    let cpu_before = daemon::cpu_seconds("self");
    let figures = drive(CEILING_REQUESTS, 32, |_| get_ok(client, &url)).await;
    shutdown.cancel();
    let _ = server.await;
    Ok(Row {
        scenario: "hello route (loopback ceiling)".into(),
        figures,
        daemon_cpu: None,
        bench_cpu: daemon::cpu_seconds("self") - cpu_before,
        rss_after: None,
        note: "served in the bench process".into(),
    })
}
