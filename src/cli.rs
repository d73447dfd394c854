//! The command line: `serve` runs the daemon; the other commands are one-shot operations on the
//! same configuration and store. Every failure prints one sentence to stderr and exits with 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::configuration::{self, Settings};
use crate::domain::token::{TokenState, parse_lifetime};
use crate::domain::{ApiToken, IdpKind, Normalisation, TenantName, TokenId};
use crate::scim::dialect::Dialect;
use crate::store::Store;
use crate::sync::{Mode, Outcome, Trigger};
use crate::{app, signals, telemetry};

/// dirsync: Directory Sync from identity providers over SCIM 2.0.
#[derive(Debug, Parser)]
#[command(name = "dirsync", version, about)]
pub struct Cli {
    /// Configuration file; settings not in it keep their defaults.
    #[arg(long, global = true, env = "DIRSYNC_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: the SCIM API and the admin API.
    Serve,
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
    /// Bring the database schema up to date (serve does this at start too).
    Migrate,
    /// Manage tenants (one tenant = one IdP connection).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Reconcile a tenant into its targets now (the same step the schedule runs).
    Reconcile {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only this target (e.g. ldap); all of the tenant's otherwise.
        #[arg(long)]
        target: Option<String>,
        /// Show what would change, change nothing.
        #[arg(long)]
        plan: bool,
        /// Apply even when the guard refuses (mass deletes or deactivations).
        #[arg(long)]
        force: bool,
    },
    /// Show the Qualytics permission model of a tenant: each user's role, teams and effective
    /// permission per datastore. With --rules, what a rule change would grant or revoke.
    Permissions {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only this user (userName).
        #[arg(long)]
        user: Option<String>,
        /// A configuration file with proposed [qualytics] rules, compared with the current ones.
        #[arg(long, value_name = "PATH")]
        rules: Option<PathBuf>,
    },
    /// Page through a tenant's audit trail (the change log), oldest first.
    Audit {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only changes since this instant (RFC 3339) or within this long (e.g. 24h).
        #[arg(long)]
        since: Option<String>,
        /// Only changes of this user (userName).
        #[arg(long)]
        user: Option<String>,
        /// Start after this change-log position (the last one a previous page showed).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Show the latest reconciliation runs.
    Status {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Replay an IdP's provisioning cycle against a running deployment and report each step.
    /// Use a token of a tenant created with that --idp; what the replay creates is deleted.
    Selftest {
        /// The SCIM base URL, e.g. https://scim.example.com/api/scim/v2.
        #[arg(long)]
        url: String,
        /// A bearer token of the tenant to test.
        #[arg(long, env = "DIRSYNC_SELFTEST_TOKEN", hide_env_values = true)]
        token: String,
        /// Whose cycle to replay: entra, okta, onelogin or jumpcloud.
        #[arg(long)]
        idp: String,
    },
    /// Start a throwaway daemon on loopback, load it like an IdP does, and print the figures.
    Bench {
        /// How many users to create.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// How many members the large group grows to (at most --users).
        #[arg(long, default_value_t = 50_000)]
        members: usize,
        /// Run on this PostgreSQL database instead of a temporary SQLite file.
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// A setting for the daemon under test, as the environment variable that sets it, e.g.
        /// `--daemon-env DIRSYNC__LOG__LEVEL=warn`; repeatable.
        #[arg(long, value_name = "NAME=VALUE", value_parser = daemon_env)]
        daemon_env: Vec<(String, String)>,
        /// Groups of ten members for the reconciliation scenario (default: a tenth of --users).
        #[arg(long)]
        groups: Option<usize>,
        /// Which scenarios: all, scim (1-6) or reconcile (7, into a throwaway slapd).
        #[arg(long, default_value = "all", value_parser = ["all", "scim", "reconcile"])]
        scenarios: String,
        /// Seconds of steady SCIM writes while the change-to-LDAP lag is measured.
        #[arg(long, default_value_t = 60)]
        lag_seconds: u64,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Lower-case letters, digits and dashes, e.g. "acme-entra".
        name: String,
        /// The identity provider: generic, entra, okta, onelogin or jumpcloud.
        #[arg(long, default_value = "generic")]
        idp: String,
    },
    /// List tenants.
    List,
    /// Pause a tenant: its SCIM requests answer 503 with Retry-After until resumed.
    Pause {
        /// The tenant.
        name: String,
    },
    /// Resume a paused tenant.
    Resume {
        /// The tenant.
        name: String,
    },
    /// Change a tenant's IdP kind or protocol settings.
    Set {
        /// The tenant.
        name: String,
        /// The identity provider: generic, entra, okta, onelogin or jumpcloud.
        #[arg(long)]
        idp: Option<String>,
        /// How a group PATCH answers: "resource" (200 with the group) or "no-content" (204).
        #[arg(long, value_name = "resource|no-content")]
        group_patch_response: Option<String>,
        /// Member ids that are not users or groups of the tenant: "skip" (recorded in the
        /// change log) or "reject" (400).
        #[arg(long, value_name = "skip|reject")]
        unknown_members: Option<String>,
        /// Turn off one of the IdP dialect's normalisations (repeatable), e.g. string_booleans.
        #[arg(long = "disable", value_name = "NORMALISATION")]
        disable: Vec<String>,
        /// Turn a normalisation turned off with --disable back on (repeatable).
        #[arg(long = "enable", value_name = "NORMALISATION")]
        enable: Vec<String>,
        /// The tenant's request quota, "PER_SECOND/BURST" (e.g. 100/200), or "default".
        #[arg(long, value_name = "RATE/BURST")]
        quota: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a bearer token; it is printed once and never again.
    Create {
        /// The tenant the token acts for.
        #[arg(long)]
        tenant: String,
        /// A label to tell tokens apart.
        #[arg(long, default_value = "token")]
        name: String,
        /// Lifetime, e.g. 90d, 12h; without it the token does not expire.
        #[arg(long, value_name = "LIFETIME")]
        expires_in: Option<String>,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Rotate a token: a new secret now, the old one working for --overlap more.
    Rotate {
        /// The token's id, from `token list`.
        id: String,
        /// How long the old token keeps working, e.g. 24h.
        #[arg(long, default_value = "24h")]
        overlap: String,
        /// Lifetime of the new token, e.g. 90d; without it the token does not expire.
        #[arg(long, value_name = "LIFETIME")]
        expires_in: Option<String>,
    },
    /// Revoke a token; it stops working at once.
    Revoke {
        /// The token's id, from `token list`.
        id: String,
    },
}

/// A failure to report: one sentence for stderr.
type Failure = String;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    if let Command::Selftest { url, token, idp } = &cli.command {
        return match selftest(url, token, idp).await {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::Bench {
        users,
        members,
        database_url,
        daemon_env,
        groups,
        scenarios,
        lag_seconds,
    } = &cli.command
    {
        let options = crate::bench::Options {
            users: *users,
            members: *members,
            database_url: database_url.clone(),
            daemon_env: daemon_env.clone(),
            groups: groups.unwrap_or(*users / 10),
            scenarios: match scenarios.as_str() {
                "scim" => crate::bench::Scenarios::Scim,
                "reconcile" => crate::bench::Scenarios::Reconcile,
                _ => crate::bench::Scenarios::All,
            },
            lag_writing: std::time::Duration::from_secs(*lag_seconds),
        };
        // On a runtime worker rather than main's own thread: each answer the load driver
        // awaits then wakes it where it runs, instead of waking another thread.
        let bench = tokio::spawn(async move { crate::bench::run(&options).await });
        let outcome = bench
            .await
            .unwrap_or_else(|e| Err(format!("the bench stopped: {e}")));
        return match outcome {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        };
    }
    let result = match configuration::load(cli.config.as_deref(), None) {
        Ok(settings) => execute(cli.command, settings, cli.config.as_deref()).await,
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn execute(
    command: Command,
    settings: Settings,
    config: Option<&std::path::Path>,
) -> Result<(), Failure> {
    if matches!(command, Command::Serve) {
        telemetry::init(&settings.log, None);
        return serve(settings, config).await;
    }
    telemetry::init(&settings.log, Some("warn"));
    if matches!(command, Command::CheckConfig) {
        println!("# the configuration is valid; effective settings (secrets redacted):\n");
        print!("{}", configuration::render(&settings));
        return Ok(());
    }
    let store = Store::open(&settings.database, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let result = match command {
        Command::Migrate => {
            println!(
                "the database at {} is up to date",
                settings.database.url.redacted()
            );
            Ok(())
        }
        Command::Tenant(command) => tenant(&store, command).await,
        Command::Reconcile {
            tenant,
            target,
            plan,
            force,
        } => reconcile(&store, &settings, &tenant, target.as_deref(), plan, force).await,
        Command::Status { tenant } => status(&store, &settings, tenant.as_deref()).await,
        Command::Audit {
            tenant,
            since,
            user,
            after,
            limit,
        } => {
            audit(
                &store,
                &tenant,
                since.as_deref(),
                user.as_deref(),
                after,
                limit,
            )
            .await
        }
        Command::Permissions {
            tenant,
            user,
            rules,
        } => {
            permissions(
                &store,
                &settings,
                &tenant,
                user.as_deref(),
                rules.as_deref(),
            )
            .await
        }
        Command::Token(command) => token(&store, &settings, command).await,
        Command::Serve
        | Command::CheckConfig
        | Command::Selftest { .. }
        | Command::Bench { .. } => Ok(()),
    };
    store.close().await;
    result
}

async fn reconcile(
    store: &Store,
    settings: &Settings,
    tenant: &str,
    target: Option<&str>,
    plan: bool,
    force: bool,
) -> Result<(), Failure> {
    let tenant = store
        .tenant_by_name(tenant)
        .await
        .map_err(|e| e.to_string())?;
    let reconciler = app::reconciler(settings, store).map_err(|e| e.to_string())?;
    let targets: Vec<&str> = match target {
        Some(target) => vec![target],
        None => reconciler.targets_of(&tenant),
    };
    if targets.is_empty() {
        return Err(format!(
            "no target is configured for tenant {} (set [ldap] or [qualytics] url in the configuration)",
            tenant.name
        ));
    }
    let mode = if plan { Mode::Plan } else { Mode::Apply };
    let mut failed = None;
    for target in targets {
        let report = reconciler
            .reconcile_once(&tenant, target, mode, Trigger::Manual, force)
            .await
            .map_err(|e| e.to_string())?;
        print_report(&tenant.name.to_string(), &report);
        if !matches!(report.outcome, Outcome::Planned | Outcome::Applied) {
            failed = Some(format!(
                "the {target} run of tenant {} ended {:?}: {}",
                tenant.name,
                report.outcome,
                report.error.as_deref().unwrap_or("see the failures above")
            ));
        }
    }
    failed.map_or(Ok(()), Err)
}

fn print_report(tenant: &str, report: &crate::sync::Report) {
    let verb = match report.mode {
        Mode::Plan => "would change",
        Mode::Apply => "changed",
    };
    println!(
        "{tenant} → {}: {:?} in {} ms; {verb} {} entries",
        report.target,
        report.outcome,
        report.duration_ms,
        if report.mode == Mode::Plan {
            report.planned.values().sum()
        } else {
            report.writes()
        }
    );
    if report.mode == Mode::Plan {
        for operation in &report.plan.operations {
            println!("  {}", describe(operation));
        }
    }
    for (kind, count) in &report.planned {
        println!(
            "  {kind}: {count} planned, {} applied",
            report.applied.get(kind).unwrap_or(&0)
        );
    }
    for failure in &report.failures {
        println!(
            "  failed: {}: {}",
            describe(&failure.operation),
            failure.reason
        );
    }
    if !report.plan.unmanaged.is_empty() {
        println!(
            "  left alone (not managed by dirsync): {}",
            report.plan.unmanaged.len()
        );
    }
    for conflict in &report.plan.conflicts {
        println!("  conflict: {conflict} exists and is not dirsync's; not created");
    }
    if let Some(error) = &report.error {
        println!("  {error}");
    }
}

fn describe(operation: &crate::sync::model::Operation) -> String {
    use crate::sync::model::Operation as Op;
    match operation {
        Op::Create { location, .. } => format!("create {location}"),
        Op::Move { from, to, .. } => format!("move {from} → {to}"),
        Op::Update {
            location, changes, ..
        } => format!(
            "update {location}: {}",
            changes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Op::AddMembers {
            location, members, ..
        } => format!("add {} member(s) to {location}", members.len()),
        Op::RemoveMembers {
            location, members, ..
        } => {
            format!("remove {} member(s) from {location}", members.len())
        }
        Op::Delete { location, .. } => format!("delete {location}"),
    }
}

async fn permissions(
    store: &Store,
    settings: &Settings,
    tenant: &str,
    user: Option<&str>,
    rules: Option<&std::path::Path>,
) -> Result<(), Failure> {
    use crate::sync::qualytics::permissions::{diff, model};
    let qualytics = settings.qualytics.as_ref().ok_or(
        "no Qualytics rules are configured (set [qualytics] url, token and rules in the configuration)",
    )?;
    let tenant = store
        .tenant_by_name(tenant)
        .await
        .map_err(|e| e.to_string())?;
    let users = store
        .all_users(tenant.id)
        .await
        .map_err(|e| e.to_string())?;
    let groups = store
        .all_groups(tenant.id)
        .await
        .map_err(|e| e.to_string())?;
    let current = model(qualytics, &tenant, &users, &groups);
    if let Some(path) = rules {
        let proposed = configuration::load(Some(path), None).map_err(|e| e.to_string())?;
        let proposed = proposed
            .qualytics
            .ok_or_else(|| format!("{} has no [qualytics] section", path.display()))?;
        let changes = diff(&current, &model(&proposed, &tenant, &users, &groups));
        if changes.is_empty() {
            println!(
                "the proposed rules change nothing for tenant {}",
                tenant.name
            );
        }
        for change in changes {
            println!("{change}");
        }
        return Ok(());
    }
    let mut shown = 0;
    for access in current
        .users
        .iter()
        .filter(|a| user.is_none_or(|u| a.user_name == u))
    {
        shown += 1;
        let state = if access.active { "" } else { " (deactivated)" };
        println!(
            "{} <{}>{state}: role {}",
            access.user_name,
            access.email.as_deref().unwrap_or("no email"),
            access.role
        );
        println!(
            "  teams: {}",
            if access.teams.is_empty() {
                "none".to_owned()
            } else {
                access.teams.join(", ")
            }
        );
        if access.role == "Admin" {
            println!("  datastores: all (Admins are not bound by teams)");
        }
        for (datastore, permission) in &access.datastores {
            println!("  datastore {datastore}: {permission}");
        }
    }
    if shown == 0 {
        return Err(match user {
            Some(user) => format!("tenant {} has no user {user:?}", tenant.name),
            None => format!("tenant {} has no users", tenant.name),
        });
    }
    Ok(())
}

async fn audit(
    store: &Store,
    tenant: &str,
    since: Option<&str>,
    user: Option<&str>,
    after: i64,
    limit: u64,
) -> Result<(), Failure> {
    let tenant = store
        .tenant_by_name(tenant)
        .await
        .map_err(|e| e.to_string())?;
    let since = since
        .map(|s| audit_since(s, SystemClock.now()))
        .transpose()?;
    let resource = match user {
        Some(user_name) => Some(
            store
                .user_id_by_name(tenant.id, user_name)
                .await
                .map_err(|e| e.to_string())?
                .as_uuid(),
        ),
        None => None,
    };
    let entries = store
        .audit(tenant.id, after, since, resource, limit)
        .await
        .map_err(|e| e.to_string())?;
    if entries.is_empty() {
        println!("no changes match");
    }
    for entry in &entries {
        println!("{}", crate::audit::describe(entry));
    }
    if entries.len() as u64 == limit
        && let Some(last) = entries.last()
    {
        println!("more: --after {}", last.seq);
    }
    Ok(())
}

/// `--since`: an RFC 3339 instant, or a span back from now ("24h").
fn audit_since(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&chrono::Utc));
    }
    parse_lifetime(text)
        .map(|span| now - span)
        .map_err(|_| format!("--since {text:?} is neither an RFC 3339 instant nor a span like 24h"))
}

/// The status the running daemon reports (with its request counts), if it answers.
async fn daemon_status(settings: &Settings, tenant: &str) -> Option<crate::status::TenantStatus> {
    let credential = match &settings.admin.token {
        Some(token) => token.expose().to_owned(),
        None => std::fs::read_to_string(settings.server.data_dir.join("admin.token"))
            .ok()?
            .trim()
            .to_owned(),
    };
    let mut address = settings.admin.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .ok()?;
    let response = client
        .get(format!("http://{address}/v1/tenants/{tenant}/status"))
        .bearer_auth(credential)
        .send()
        .await
        .ok()?;
    let value: serde_json::Value = response.error_for_status().ok()?.json().await.ok()?;
    Some(crate::status::TenantStatus {
        requests_last_hour: value["requests_last_hour"].as_u64(),
        rate_limited_last_hour: value["rate_limited_last_hour"].as_u64(),
        ..serde_json::from_value(value).ok()?
    })
}

fn print_tenant_status(status: &crate::status::TenantStatus) {
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_else(|| "never".into())
    };
    println!(
        "tenant {}{}: last SCIM request {}",
        status.tenant,
        if status.paused { " (PAUSED)" } else { "" },
        when(status.last_scim_request)
    );
    match (status.requests_last_hour, status.rate_limited_last_hour) {
        (Some(requests), Some(limited)) => {
            println!("  last hour: {requests} requests, {limited} refused with 429")
        }
        _ => println!("  last hour: unknown (the daemon's admin API did not answer)"),
    }
    for target in &status.targets {
        let run = |r: &Option<crate::domain::sync::SyncRun>| {
            r.as_ref()
                .map(|r| {
                    format!(
                        "{} {} ({})",
                        r.status,
                        r.started_at.format("%Y-%m-%d %H:%M:%SZ"),
                        r.trigger
                    )
                })
                .unwrap_or_else(|| "none".into())
        };
        println!(
            "  {}: last run {}; last applied {}; drift {}; {} change(s) pending",
            target.target,
            run(&target.last_run),
            run(&target.last_applied),
            target
                .drift
                .map_or("unknown".to_owned(), |d| format!("{d} operation(s)")),
            target.pending_changes
        );
    }
}

async fn status(store: &Store, settings: &Settings, tenant: Option<&str>) -> Result<(), Failure> {
    let tenants = store.list_tenants().await.map_err(|e| e.to_string())?;
    let reconciler = app::reconciler(settings, store).map_err(|e| e.to_string())?;
    for t in tenants
        .iter()
        .filter(|t| tenant.is_none_or(|n| t.name.as_str() == n))
    {
        let status = match daemon_status(settings, t.name.as_str()).await {
            Some(status) => status,
            None => crate::status::tenant_status(store, &reconciler, t)
                .await
                .map_err(|e| e.to_string())?,
        };
        print_tenant_status(&status);
    }
    println!();
    let tenant_id = match tenant {
        Some(name) => Some(
            store
                .tenant_by_name(name)
                .await
                .map_err(|e| e.to_string())?
                .id,
        ),
        None => None,
    };
    let runs = store.runs(tenant_id, 20).await.map_err(|e| e.to_string())?;
    if runs.is_empty() {
        println!("no reconciliation runs yet");
        return Ok(());
    }
    println!(
        "{:<20} {:<16} {:<6} {:<9} {:<6} {:<8} {:>7}  DETAIL",
        "STARTED", "TENANT", "TARGET", "TRIGGER", "MODE", "STATUS", "WRITES"
    );
    for run in runs {
        let name = tenants
            .iter()
            .find(|t| t.id == run.tenant_id)
            .map(|t| t.name.to_string())
            .unwrap_or_else(|| run.tenant_id.to_string());
        let writes: u64 = run
            .counts
            .as_ref()
            .and_then(|c| c["applied"].as_object())
            .map(|a| a.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0);
        println!(
            "{:<20} {:<16} {:<6} {:<9} {:<6} {:<8} {:>7}  {}",
            run.started_at.format("%Y-%m-%d %H:%M:%SZ"),
            name,
            run.target,
            run.trigger,
            run.mode,
            run.status,
            writes,
            run.error.unwrap_or_default()
        );
    }
    Ok(())
}

/// Replays the IdP's corpus and prints a line per step; exits 1 when a step failed.
async fn selftest(url: &str, token: &str, idp: &str) -> Result<ExitCode, Failure> {
    let idp: IdpKind = idp
        .parse()
        .map_err(|e: crate::domain::DomainError| e.to_string())?;
    let corpus = crate::selftest::corpus(idp)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    println!(
        "replaying {} steps of the {idp} cycle against {url}",
        corpus.steps.len()
    );
    let report = crate::selftest::replay(&client, url, token, &corpus).await;
    for step in &report.steps {
        match &step.failure {
            None => println!("PASS  {}", step.name),
            Some(why) => println!("FAIL  {}: {why}", step.name),
        }
    }
    for location in &report.left_behind {
        println!("note: could not delete {location}; delete it by hand");
    }
    let (passed, failed) = report.counts();
    println!("selftest: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn serve(settings: Settings, config: Option<&std::path::Path>) -> Result<(), Failure> {
    let running = app::start(&settings, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    let shutdown = running.shutdown_token();
    signals::cancel_on_signal(shutdown.clone())
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    tracing::info!(
        url = %settings.scim.public_url,
        address = %running.scim_address,
        "SCIM API listening; point your IdP at the url with a tenant's bearer token"
    );
    tracing::info!(address = %running.admin_address, "admin API listening");
    tracing::info!(database = %settings.database.url.redacted(), "store ready");
    tracing::info!(
        "to connect an IdP: `dirsync tenant create NAME` then `dirsync token create --tenant NAME`"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut hangup = signals::hangups().map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(()) = hangup.recv() => reload(&running, config),
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: read the configuration file again and apply what can change while serving. A bad
/// file is logged and the running configuration kept, so a typo never takes the daemon down.
fn reload(running: &app::Running, config: Option<&std::path::Path>) {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
    let outcome = configuration::load(config, None)
        .map_err(|e| e.to_string())
        .and_then(|settings| running.reload(&settings));
    match outcome {
        Ok(()) => tracing::info!(
            "configuration reloaded: quotas, mapping rules and the TLS certificate are in effect"
        ),
        Err(error) => tracing::error!(
            %error,
            "configuration reload failed; still running with the previous configuration"
        ),
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

async fn set_paused(store: &Store, name: &str, pause: bool) -> Result<(), Failure> {
    let mut settings = store
        .tenant_by_name(name)
        .await
        .map_err(|e| e.to_string())?
        .settings;
    settings.paused = pause;
    store
        .update_tenant(name, None, Some(settings))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "tenant {name} {} (a running daemon applies it within 30 seconds)",
        if pause {
            "paused: its SCIM requests answer 503"
        } else {
            "resumed"
        }
    );
    Ok(())
}

async fn tenant(store: &Store, command: TenantCommand) -> Result<(), Failure> {
    match command {
        TenantCommand::Create { name, idp } => {
            let name = TenantName::parse(&name).map_err(|e| e.to_string())?;
            let idp: IdpKind = idp
                .parse()
                .map_err(|e: crate::domain::DomainError| e.to_string())?;
            let tenant = store
                .create_tenant(&name, idp)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "created tenant {} (IdP: {}, id {})",
                tenant.name, tenant.idp_kind, tenant.id
            );
            println!("next: dirsync token create --tenant {}", tenant.name);
        }
        TenantCommand::Set {
            name,
            idp,
            group_patch_response,
            unknown_members,
            disable,
            enable,
            quota,
        } => {
            let failure = |e: crate::domain::DomainError| e.to_string();
            let parse_all = |names: &[String]| -> Result<Vec<Normalisation>, Failure> {
                names.iter().map(|n| n.parse().map_err(failure)).collect()
            };
            let (disable, enable) = (parse_all(&disable)?, parse_all(&enable)?);
            let idp: Option<IdpKind> = idp
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(failure)?;
            let current = store.tenant_by_name(&name).await.map_err(failure)?;
            let mut settings = current.settings;
            if let Some(value) = &group_patch_response {
                settings.group_patch_response = value.parse().map_err(failure)?;
            }
            if let Some(value) = &unknown_members {
                settings.unknown_members = value.parse().map_err(failure)?;
            }
            settings
                .disabled_normalisations
                .retain(|n| !enable.contains(n));
            for normalisation in &disable {
                if !settings.disabled_normalisations.contains(normalisation) {
                    settings.disabled_normalisations.push(*normalisation);
                }
            }
            if let Some(quota) = &quota {
                settings.quota = match quota.as_str() {
                    "default" => None,
                    text => Some(text.parse().map_err(failure)?),
                };
            }
            let nothing = quota.is_none()
                && idp.is_none()
                && group_patch_response.is_none()
                && unknown_members.is_none()
                && disable.is_empty()
                && enable.is_empty();
            if nothing {
                return Err("nothing to change: give --idp, --group-patch-response, \
                            --unknown-members, --disable, --enable or --quota"
                    .into());
            }
            let tenant = store
                .update_tenant(&name, idp, Some(settings))
                .await
                .map_err(failure)?;
            println!(
                "tenant {}: IdP {}, group PATCH answers {}, unknown members are {}",
                tenant.name,
                tenant.idp_kind,
                match tenant.settings.group_patch_response {
                    crate::domain::GroupPatchResponse::Resource => "200 with the group",
                    crate::domain::GroupPatchResponse::NoContent => "204",
                },
                match tenant.settings.unknown_members {
                    crate::domain::UnknownMembers::Skip => "skipped and recorded",
                    crate::domain::UnknownMembers::Reject => "refused with 400",
                }
            );
            let dialect = Dialect::for_kind(tenant.idp_kind)
                .without(&tenant.settings.disabled_normalisations);
            let on: Vec<&str> = Normalisation::ALL
                .iter()
                .filter(|n| dialect.has(**n))
                .map(|n| n.name())
                .collect();
            println!(
                "normalisations on: {}",
                if on.is_empty() {
                    "none (RFC-strict)".to_owned()
                } else {
                    on.join(", ")
                }
            );
        }
        TenantCommand::Pause { name } => set_paused(store, &name, true).await?,
        TenantCommand::Resume { name } => set_paused(store, &name, false).await?,
        TenantCommand::List => {
            let tenants = store.list_tenants().await.map_err(|e| e.to_string())?;
            println!("{:<24} {:<10} {:<21} ID", "NAME", "IDP", "CREATED");
            for t in tenants {
                println!(
                    "{:<24} {:<10} {:<21} {}",
                    t.name,
                    t.idp_kind,
                    t.created_at.format("%Y-%m-%d %H:%M:%SZ"),
                    t.id
                );
            }
        }
    }
    Ok(())
}

async fn token(store: &Store, settings: &Settings, command: TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            tenant,
            name,
            expires_in,
        } => {
            let lifetime = expires_in
                .as_deref()
                .map(parse_lifetime)
                .transpose()
                .map_err(|e| e.to_string())?;
            let tenant = store
                .tenant_by_name(&tenant)
                .await
                .map_err(|e| e.to_string())?;
            let issued = store
                .create_token(tenant.id, &name, lifetime)
                .await
                .map_err(|e| e.to_string())?;
            let expiry = issued
                .token
                .expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".into());
            println!(
                "token {} for tenant {} (expires: {expiry}):\n",
                issued.token.id, tenant.name
            );
            println!("    {}\n", issued.secret.expose());
            println!("Store it now: it is shown only this once.");
            println!(
                "In your IdP, set the SCIM / tenant URL to {}",
                settings.scim.public_url
            );
            println!("and the bearer (secret) token to the value above.");
        }
        TokenCommand::List { tenant } => {
            let tenant = store
                .tenant_by_name(&tenant)
                .await
                .map_err(|e| e.to_string())?;
            let tokens = store
                .list_tokens(tenant.id)
                .await
                .map_err(|e| e.to_string())?;
            let now = SystemClock.now();
            println!(
                "{:<36}  {:<16} {:<14} {:<8} {:<20} {:<20} LAST USED",
                "ID", "NAME", "HINT", "STATE", "CREATED", "EXPIRES"
            );
            for t in tokens {
                print_token(&t, t.state(now));
            }
        }
        TokenCommand::Rotate {
            id,
            overlap,
            expires_in,
        } => {
            let id: TokenId = id.parse().map_err(|_| {
                format!("{id:?} is not a token id; `dirsync token list --tenant NAME` shows them")
            })?;
            let overlap = parse_lifetime(&overlap).map_err(|e| e.to_string())?;
            let lifetime = expires_in
                .as_deref()
                .map(parse_lifetime)
                .transpose()
                .map_err(|e| e.to_string())?;
            let (issued, old) = store
                .rotate_token(id, overlap, lifetime)
                .await
                .map_err(|e| e.to_string())?;
            println!("new token {} ({}):\n", issued.token.id, issued.token.name);
            println!("    {}\n", issued.secret.expose());
            println!("Store it now: it is shown only this once.");
            if let Some(until) = old.expires_at {
                println!(
                    "The old token {} keeps working until {}; switch the IdP before then.",
                    old.id,
                    until.to_rfc3339()
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let id: TokenId = id.parse().map_err(|_| {
                format!("{id:?} is not a token id; `dirsync token list --tenant NAME` shows them")
            })?;
            let token = store.revoke_token(id).await.map_err(|e| e.to_string())?;
            println!("revoked token {} ({})", token.id, token.name);
        }
    }
    Ok(())
}

fn print_token(token: &ApiToken, state: TokenState) {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let state = match state {
        TokenState::Active => "active",
        TokenState::Expired => "expired",
        TokenState::Revoked => "revoked",
    };
    println!(
        "{:<36}  {:<16} {:<14} {:<8} {:<20} {:<20} {}",
        token.id,
        token.name,
        format!("{}…", token.hint),
        state,
        time(Some(token.created_at)),
        time(token.expires_at),
        time(token.last_used_at)
    );
}

/// Parses `--daemon-env`: only `DIRSYNC__` settings, so the bench cannot be pointed at an
/// operator's configuration file by accident.
fn daemon_env(value: &str) -> Result<(String, String), String> {
    let (name, setting) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?} is not NAME=VALUE"))?;
    if !name.starts_with("DIRSYNC__") {
        return Err(format!("{name} is not a DIRSYNC__ setting"));
    }
    Ok((name.to_owned(), setting.to_owned()))
}
