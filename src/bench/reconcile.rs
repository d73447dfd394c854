//! Scenario 7: reconciliation into a real OpenLDAP slapd (a throwaway one, `bench::slapd`).
//! One tenant of `users` users and `groups` groups of ten members each is loaded over SCIM and
//! reconciled by hand through the admin API, as an operator would: the first full apply, a run
//! with nothing changed, and a run after 1% of the users changed. Then the daemon restarts on
//! the same data with the change-log follower on, and steady SCIM writes measure how long a
//! change takes to reach the directory (from the write's answer to the end of the first run
//! that started after it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Client;
use serde_json::{Value, json};

use super::daemon::Daemon;
use super::load::drive;
use super::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
use super::{Scim, fetch_json, new_tenant, user};
use crate::clock::{Clock, SystemClock};

/// Members per group.
const GROUP_SIZE: usize = 10;

/// The follower's delay while lag is measured: short, so the figure is mostly the run itself.
const CHANGE_DELAY: &str = "500ms";

/// Steady writes while lag is measured: this many per second.
const LAG_WRITES_PER_SECOND: u64 = 20;

/// Runs the scenario, measuring lag for `lag_writing`; the table, or why it could not run.
pub async fn into_slapd(
    client: &Client,
    database_url: Option<&str>,
    users: usize,
    groups: usize,
    lag_writing: Duration,
) -> Result<String, String> {
    let slapd = match Slapd::start() {
        Ok(slapd) => slapd,
        Err(reason) => return Ok(format!("Reconciliation into slapd: not run: {reason}\n")),
    };
    let mut daemon = Daemon::start(database_url, &settings(&slapd, "0s"))?;
    let (tenant, token) = new_tenant(client, &daemon).await?;
    let mut scim = Scim {
        client: client.clone(),
        base: daemon.scim.clone(),
        token,
    };
    let started = Instant::now();
    let ids = load(&scim, users, groups).await?;
    let loaded = started.elapsed();
    let rss_loaded = daemon.rss_mib();

    let mut out = format!(
        "Reconciliation into slapd: {users} users and {groups} groups of {GROUP_SIZE} members \
         loaded over SCIM in {:.1} s; daemon RSS {rss_loaded:.1} MiB\n\n\
         | run | duration s | LDAP writes | read store ms | read LDAP ms | plan ms | apply ms | errors | peak RSS MiB | RSS after MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        loaded.as_secs_f64()
    );
    daemon.reset_peak_rss();
    out.push_str(&run_row(
        "first full apply",
        &reconcile(client, &daemon, &tenant).await?,
        &daemon,
    ));
    // A first apply holds every operation, and the allocator keeps what it freed (it returns
    // memory as later allocations pass by, not while the daemon idles): the runs after it
    // start on a fresh daemon, so their peak is their own.
    daemon.restart(&settings(&slapd, "0s"))?;
    scim.base.clone_from(&daemon.scim);
    daemon.reset_peak_rss();
    out.push_str(&run_row(
        "no-change run (restarted daemon)",
        &reconcile(client, &daemon, &tenant).await?,
        &daemon,
    ));
    let changed = (users / 100).max(1);
    let figures = drive(changed, 16, |i| {
        let request = scim.patch(&format!("/Users/{}", ids[i * 100 % ids.len()]), rename(i));
        let scim = &scim;
        async move { scim.send(request).await == Some(200) }
    })
    .await;
    if figures.errors > 0 {
        return Err(format!("{} of {changed} PATCHes failed", figures.errors));
    }
    daemon.reset_peak_rss();
    out.push_str(&run_row(
        &format!("after {changed} users changed (1%)"),
        &reconcile(client, &daemon, &tenant).await?,
        &daemon,
    ));

    // On PostgreSQL the database may hold the other scenarios' tenants: the follower must
    // reconcile only this one (a list, so it is set in a file).
    let only = std::env::temp_dir().join(format!("{tenant}.toml"));
    std::fs::write(&only, format!("[ldap]\ntenants = [\"{tenant}\"]\n"))
        .map_err(|e| format!("cannot write {}: {e}", only.display()))?;
    let mut follower = settings(&slapd, CHANGE_DELAY);
    follower.push(("DIRSYNC_CONFIG".into(), only.display().to_string()));
    let restarted = daemon.restart(&follower);
    let _ = std::fs::remove_file(&only);
    restarted?;
    scim.base.clone_from(&daemon.scim);
    out.push_str(&lag(client, &daemon, &tenant, &scim, &ids, lag_writing).await?);
    Ok(out)
}

/// The daemon's settings: the LDAP target on this slapd, the follower off or on.
fn settings(slapd: &Slapd, change_delay: &str) -> Vec<(String, String)> {
    let env = |name: &str, value: &str| (name.to_owned(), value.to_owned());
    vec![
        env("DIRSYNC__LDAP__URL", &slapd.url),
        env("DIRSYNC__LDAP__BIND_DN", ROOT_DN),
        env("DIRSYNC__LDAP__BIND_PASSWORD", ROOT_PW),
        env("DIRSYNC__LDAP__BASE_DN", SUFFIX),
        env("DIRSYNC__SYNC__CHANGE_DELAY", change_delay),
        env("DIRSYNC__LOG__LEVEL", "info,dirsync::api::scim=warn"),
    ]
}

/// Creates the users and then the groups; the user ids.
async fn load(scim: &Scim, users: usize, groups: usize) -> Result<Vec<String>, String> {
    let ids = Arc::new(Mutex::new(Vec::with_capacity(users)));
    let creates = drive(users, 16, |i| {
        let request = scim.post("/Users", user(i));
        let ids = ids.clone();
        async move {
            match scim.send_json(request).await {
                Some((201, body)) => {
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    ids.lock().map(|mut ids| ids.push(id)).is_ok()
                }
                _ => false,
            }
        }
    })
    .await;
    let ids = ids.lock().map(|ids| ids.clone()).unwrap_or_default();
    if creates.errors > 0 || ids.is_empty() {
        return Err(format!("{} of {users} user creates failed", creates.errors));
    }
    let created = drive(groups, 16, |g| {
        let members: Vec<Value> = (0..GROUP_SIZE)
            .map(|m| json!({"value": ids[(g * GROUP_SIZE + m) % ids.len()]}))
            .collect();
        let request = scim.post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": format!("bench group {g}"),
                "members": members
            }),
        );
        async move { scim.send(request).await == Some(201) }
    })
    .await;
    if created.errors > 0 {
        return Err(format!(
            "{} of {groups} group creates failed",
            created.errors
        ));
    }
    Ok(ids)
}

fn rename(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": format!("Renamed {i}")}]
    })
}

/// One apply through the admin API; the LDAP target's report.
async fn reconcile(client: &Client, daemon: &Daemon, tenant: &str) -> Result<Value, String> {
    let path = format!("/v1/tenants/{tenant}/reconcile");
    let reports = fetch_json(
        daemon
            .admin(client, reqwest::Method::POST, &path)
            .json(&json!({"target": "ldap"}))
            .timeout(Duration::from_secs(3600)),
        "reconcile failed",
    )
    .await?;
    let report = reports.get(0).cloned().unwrap_or_default();
    match report["outcome"].as_str() {
        Some("applied") => Ok(report),
        _ => Err(format!(
            "the run did not apply: {} {}",
            report["outcome"], report["error"]
        )),
    }
}

fn run_row(label: &str, report: &Value, daemon: &Daemon) -> String {
    let phase = |name: &str| report["phases_ms"][name].as_u64().unwrap_or(0);
    let writes: u64 = report["applied"]
        .as_object()
        .map_or(0, |a| a.values().filter_map(Value::as_u64).sum());
    format!(
        "| {label} | {:.2} | {writes} | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n",
        report["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        phase("read_store"),
        phase("read_target"),
        phase("plan"),
        phase("apply"),
        report["failures"].as_array().map_or(0, Vec::len),
        daemon.peak_rss_mib(),
        daemon.rss_mib()
    )
}

/// Steady PATCHes with the follower on; the lag row.
async fn lag(
    client: &Client,
    daemon: &Daemon,
    tenant: &str,
    scim: &Scim,
    ids: &[String],
    writing: Duration,
) -> Result<String, String> {
    let clock = SystemClock;
    let mut acknowledged: Vec<DateTime<Utc>> = Vec::new();
    let mut runs: BTreeMap<String, Value> = BTreeMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / LAG_WRITES_PER_SECOND));
    let began = Instant::now();
    let mut errors = 0;
    let mut i = 0;
    while began.elapsed() < writing {
        ticker.tick().await;
        let request = scim.patch(
            &format!("/Users/{}", ids[i % ids.len()]),
            rename(i + 1_000_000),
        );
        match scim.send(request).await {
            Some(200) => acknowledged.push(clock.now()),
            _ => errors += 1,
        }
        i += 1;
        if i % LAG_WRITES_PER_SECOND as usize == 0 {
            collect_runs(client, daemon, tenant, &mut runs).await?;
        }
    }
    let last = acknowledged.last().copied().unwrap_or_else(|| clock.now());
    // Wait for a run that started after the last write to finish.
    let waited = Instant::now();
    while !runs
        .values()
        .any(|r| started_after(r, last) && finished(r).is_some())
    {
        if waited.elapsed() > Duration::from_secs(600) {
            return Err("no change-driven run finished within 10 minutes of the last write".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        collect_runs(client, daemon, tenant, &mut runs).await?;
    }
    let mut lags: Vec<Duration> = acknowledged
        .iter()
        .filter_map(|&at| {
            runs.values()
                .filter(|r| started_after(r, at))
                .filter_map(finished)
                .min()
                .map(|done| (done - at).to_std().unwrap_or_default())
        })
        .collect();
    lags.sort_unstable();
    let pick = |f: f64| {
        lags.get(((lags.len().max(1) - 1) as f64 * f) as usize)
            .copied()
    };
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let change_runs = runs.values().filter(|r| r["trigger"] == "change").count();
    Ok(format!(
        "\nChange-to-LDAP lag under {LAG_WRITES_PER_SECOND} SCIM PATCHes/s for {} s \
         (follower delay {CHANGE_DELAY}): p50 {:.0} ms, p99 {:.0} ms over {} writes \
         ({errors} failed), {change_runs} change-driven runs; daemon RSS {:.1} MiB (peak {:.1})\n",
        writing.as_secs(),
        ms(pick(0.5)),
        ms(pick(0.99)),
        acknowledged.len(),
        daemon.rss_mib(),
        daemon.peak_rss_mib()
    ))
}

/// Adds the tenant's latest runs (the admin API lists the last 50) to `runs`, by id.
async fn collect_runs(
    client: &Client,
    daemon: &Daemon,
    tenant: &str,
    runs: &mut BTreeMap<String, Value>,
) -> Result<(), String> {
    let path = format!("/v1/tenants/{tenant}/runs");
    let latest = fetch_json(
        daemon.admin(client, reqwest::Method::GET, &path),
        "cannot list runs",
    )
    .await?;
    for run in latest.as_array().into_iter().flatten() {
        if let Some(id) = run["id"].as_str() {
            runs.insert(id.to_owned(), run.clone());
        }
    }
    Ok(())
}

fn instant(run: &Value, field: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(run[field].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn started_after(run: &Value, at: DateTime<Utc>) -> bool {
    run["status"] == "applied" && instant(run, "started_at").is_some_and(|s| s > at)
}

fn finished(run: &Value) -> Option<DateTime<Utc>> {
    instant(run, "finished_at")
}
