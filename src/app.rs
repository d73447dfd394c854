//! The composition root: opens the store, binds both listeners, starts the background tasks on
//! one cancellation token, tells systemd when it is ready, and shuts everything down in order.
//!
//! Shutdown, step by step, and why:
//! 1. The token is cancelled (by SIGTERM/SIGINT through `signals`, or by a test). Each HTTP
//!    server stops accepting new connections at once, so a load balancer or systemd sees the
//!    port close while requests already in flight keep running.
//! 2. Each task is awaited, by name, until the grace period runs out. hyper finishes the
//!    requests in flight and closes idle keep-alive connections; a SCIM write in flight commits
//!    or rolls back as a whole, because each is one transaction.
//! 3. A task still running when the grace period ends is aborted and named in the log, so an
//!    operator can tell what held the shutdown up. Aborting drops its transaction, which rolls
//!    back: nothing half-written survives.
//! 4. The store is closed last, after nothing can use it any more.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AdminState, ScimState};
use crate::clock::SharedClock;
use crate::configuration::Settings;
use crate::domain::Tenant;
use crate::ratelimit::RateLimits;
use crate::scim::resource::Urls;
use crate::secret::{self, SecretString};
use crate::store::{ConnectError, Store};
use crate::sync::ldap::LdapTarget;
use crate::sync::qualytics::QualyticsTarget;
use crate::sync::{Guard, Mode, Reconciler, Target, Trigger, schedule};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] ConnectError),
    /// A listener could not be bound.
    #[error("cannot listen for the {what} on {address}: {source}")]
    Bind {
        /// "SCIM API" or "admin API".
        what: &'static str,
        /// The configured address.
        address: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("{0}")]
    Tls(String),
    /// A reconciliation target could not be set up.
    #[error("{0}")]
    Target(String),
    /// The generated admin credential could not be read or written.
    #[error("cannot use the admin credential file {path}: {source}")]
    AdminCredential {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The running daemon.
#[derive(Debug)]
pub struct Running {
    /// Where the SCIM API listens (the real port when configured with port 0).
    pub scim_address: SocketAddr,
    /// Where the admin API listens.
    pub admin_address: SocketAddr,
    /// The store the daemon uses.
    pub store: Store,
    /// Reconciliation into the configured targets.
    pub reconciler: Reconciler,
    quotas: Arc<RateLimits>,
    certificate: Option<Arc<api::tls::Certificate>>,
    /// What the admin API's permission preview uses; replaced on reload with the targets.
    qualytics_rules: SharedQualyticsSettings,
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    grace: Duration,
}

/// Opens the store, binds the listeners and starts serving. Returns once everything is up.
pub async fn start(settings: &Settings, clock: SharedClock) -> Result<Running, StartError> {
    let store = Store::open(&settings.database, clock.clone()).await?;
    let admin_credential = match &settings.admin.token {
        Some(token) => token.clone(),
        None => generated_admin_credential(&settings.server.data_dir)?,
    };
    let scim_listener = bind("SCIM API", settings.scim.listen).await?;
    let admin_listener = bind("admin API", settings.admin.listen).await?;
    let scim_address = local_address("SCIM API", &scim_listener, settings.scim.listen)?;
    let admin_address = local_address("admin API", &admin_listener, settings.admin.listen)?;

    let reconciler = reconciler(settings, &store)?;
    let normalisations = Arc::new(api::NormalisationCounts::default());
    let limits = Arc::new(RateLimits::new(settings.scim.quota));
    let limits_handle = limits.clone();
    let qualytics_rules = Arc::new(std::sync::RwLock::new(settings.qualytics.clone()));
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let activity = Arc::new(api::activity::Activity::default());
    let reconciler = reconciler.with_metrics(metrics.clone(), clock.clone());
    refresh_admission(&store, &limits).await;
    let scim_state = Arc::new(ScimState {
        store: store.clone(),
        urls: Urls {
            base: public_url(
                &settings.scim.public_url,
                settings.scim.listen,
                scim_address,
            ),
        },
        base_segments: settings
            .scim
            .base_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        max_body_bytes: settings.scim.max_body_bytes,
        limits: crate::scim::discovery::Limits {
            bulk_max_operations: settings.scim.bulk_max_operations as usize,
            bulk_max_payload_bytes: settings.scim.max_body_bytes,
        },
        normalisations: normalisations.clone(),
        quotas: limits.clone(),
        metrics: metrics.clone(),
        activity: activity.clone(),
        clock: clock.clone(),
    });
    let admin_state = Arc::new(AdminState {
        store: store.clone(),
        credential_digest: secret::token_digest(admin_credential.expose()),
        max_body_bytes: settings.scim.max_body_bytes,
        normalisations,
        quotas: limits.clone(),
        metrics,
        activity,
        clock: clock.clone(),
        reconciliation: Arc::new(ReconcilerHandle(
            reconciler.clone(),
            store.clone(),
            qualytics_rules.clone(),
        )),
    });

    let shutdown = CancellationToken::new();
    let mut certificate = None;
    let tls = match &settings.scim.tls {
        Some(files) => {
            let loaded = Arc::new(
                api::tls::Certificate::load(&files.certificate, &files.private_key)
                    .map_err(StartError::Tls)?,
            );
            certificate = Some(loaded.clone());
            Some(loaded.server_config().map_err(StartError::Tls)?)
        }
        None => None,
    };
    let scim_server = api::serve_scim(
        scim_listener,
        tls,
        scim_state,
        settings.scim.max_connections,
        shutdown.clone(),
    );
    let admin_server = api::serve_admin(admin_listener, admin_state, shutdown.clone());
    let mut tasks = vec![
        spawn("scim-http", scim_server),
        spawn("admin-http", admin_server),
        spawn(
            "ratelimit-maintenance",
            maintain_limits(store.clone(), limits, shutdown.clone()),
        ),
    ];
    if let Some(retention) = settings.audit_retention {
        tasks.push(spawn(
            "audit-retention",
            prune_audit_trail(store.clone(), clock.clone(), retention, shutdown.clone()),
        ));
    }
    let mut watchdog_usec = 0;
    if sd_notify::watchdog_enabled(false, &mut watchdog_usec) && watchdog_usec > 0 {
        tasks.push(spawn(
            "systemd-watchdog",
            keep_watchdog_fed(Duration::from_micros(watchdog_usec / 2), shutdown.clone()),
        ));
    }
    if reconciler.has_targets() {
        if let Some(schedule) = settings.sync.schedule.clone() {
            tasks.push(spawn(
                "sync-schedule",
                schedule::run_on_schedule(
                    reconciler.clone(),
                    store.clone(),
                    schedule,
                    clock.clone(),
                    shutdown.clone(),
                ),
            ));
        }
        if !settings.sync.change_delay.is_zero() {
            tasks.push(spawn(
                "sync-follower",
                schedule::follow_changes(
                    reconciler.clone(),
                    store.clone(),
                    settings.sync.change_delay,
                    shutdown.clone(),
                ),
            ));
        }
    }

    Ok(Running {
        scim_address,
        admin_address,
        store,
        reconciler,
        quotas: limits_handle,
        certificate,
        qualytics_rules,
        shutdown,
        tasks,
        grace: settings.server.shutdown_grace,
    })
}

impl Running {
    /// Applies what a configuration reload (SIGHUP) may change while serving: the default
    /// quota, the targets' mapping rules, and the TLS certificate. Listen addresses, the
    /// database and the rest need a restart; connections stay open throughout. On an error
    /// nothing is changed.
    pub fn reload(&self, settings: &Settings) -> Result<(), String> {
        let targets = targets(settings).map_err(|e| e.to_string())?;
        match (&self.certificate, &settings.scim.tls) {
            (Some(certificate), Some(files)) => {
                certificate.reload(&files.certificate, &files.private_key)?;
            }
            (None, None) => {}
            _ => return Err("turning TLS on or off needs a restart".into()),
        }
        self.quotas.set_default(settings.scim.quota);
        self.reconciler.replace_targets(targets);
        if let Ok(mut rules) = self.qualytics_rules.write() {
            rules.clone_from(&settings.qualytics);
        }
        Ok(())
    }

    /// Cancelling this token starts the shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the shutdown token is cancelled, then shuts down.
    pub async fn serve_until_shutdown(self) {
        self.shutdown.cancelled().await;
        self.shutdown().await;
    }

    /// Stops accepting, lets work in flight finish within the grace period, closes the store.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + self.grace;
        for (name, mut handle) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => tracing::debug!(task = name, "task finished"),
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "task failed"),
                Err(_) => {
                    tracing::warn!(task = name, grace = ?self.grace, "task did not finish within the grace period; aborting it");
                    handle.abort();
                }
            }
        }
        self.store.close().await;
    }
}

/// Deletes change-log entries past the retention, hourly.
async fn prune_audit_trail(
    store: Store,
    clock: SharedClock,
    retention: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Ok(retention) = chrono::Duration::from_std(retention) {
            match store.prune_changes(clock.now() - retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(
                    deleted,
                    "removed change-log entries past the audit retention"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot prune the change log"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// Tells systemd the process is alive at `every` (half of WatchdogSec): a runtime wedged badly
/// enough to stop this task gets the service restarted.
async fn keep_watchdog_fed(every: Duration, shutdown: CancellationToken) {
    loop {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// How often idle tenants' limiters are dropped and quotas re-read (another process, the CLI,
/// may have changed one).
const LIMITS_MAINTENANCE: Duration = Duration::from_secs(30);
/// A tenant's limiter is dropped after this long without requests.
const LIMITER_IDLE: Duration = Duration::from_secs(600);

/// Re-reads the tenants' quotas and pauses into the in-memory admission state (the CLI, or
/// another replica's admin API, may have changed them).
pub(crate) async fn refresh_admission(store: &Store, limits: &RateLimits) {
    match store.list_tenants().await {
        Ok(tenants) => {
            limits.set_paused(
                tenants
                    .iter()
                    .filter(|t| t.settings.paused)
                    .map(|t| t.id)
                    .collect(),
            );
            limits.set_overrides(
                tenants
                    .into_iter()
                    .filter_map(|t| t.settings.quota.map(|q| (t.id, q)))
                    .collect(),
            );
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the tenants' quotas and pauses"),
    }
}

async fn maintain_limits(store: Store, limits: Arc<RateLimits>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LIMITS_MAINTENANCE) => {}
        }
        let pruned = limits.prune(LIMITER_IDLE);
        if pruned > 0 {
            tracing::debug!(pruned, "dropped the limiters of idle tenants");
        }
        refresh_admission(&store, &limits).await;
    }
}

/// The reconciler over the targets the configuration enables.
pub fn reconciler(settings: &Settings, store: &Store) -> Result<Reconciler, StartError> {
    Ok(Reconciler::new(
        store.clone(),
        targets(settings)?,
        Guard {
            max_destructive: settings.sync.guard_max_destructive,
            max_destructive_percent: settings.sync.guard_max_destructive_percent,
        },
        chrono::Duration::from_std(settings.sync.lease).unwrap_or(chrono::Duration::minutes(15)),
    ))
}

/// The targets the configuration enables, with its mapping rules.
fn targets(settings: &Settings) -> Result<Vec<Arc<dyn Target>>, StartError> {
    let mut targets: Vec<Arc<dyn Target>> = Vec::new();
    if let Some(ldap) = &settings.ldap {
        targets.push(Arc::new(LdapTarget::new(ldap.clone())));
    }
    if let Some(qualytics) = &settings.qualytics {
        targets.push(Arc::new(
            QualyticsTarget::new(qualytics.clone()).map_err(StartError::Target)?,
        ));
    }
    Ok(targets)
}

/// The admin API's way to run reconciliation and read the permission model.
#[derive(Debug)]
struct ReconcilerHandle(Reconciler, Store, SharedQualyticsSettings);

type SharedQualyticsSettings =
    Arc<std::sync::RwLock<Option<crate::configuration::QualyticsSettings>>>;

#[async_trait::async_trait]
impl api::Reconciliation for ReconcilerHandle {
    async fn run(
        &self,
        tenant: &Tenant,
        target: Option<&str>,
        plan: bool,
        force: bool,
    ) -> Result<serde_json::Value, String> {
        let mode = if plan { Mode::Plan } else { Mode::Apply };
        let targets: Vec<&str> = match target {
            Some(target) => vec![target],
            None => self.0.targets_of(tenant),
        };
        if targets.is_empty() {
            return Err(format!(
                "no target is configured for tenant {}",
                tenant.name
            ));
        }
        let mut reports = Vec::new();
        for target in targets {
            let report = self
                .0
                .reconcile_once(tenant, target, mode, Trigger::Manual, force)
                .await
                .map_err(|e| e.to_string())?;
            reports.push(report);
        }
        serde_json::to_value(reports).map_err(|e| e.to_string())
    }

    async fn status(&self, tenant: &Tenant) -> Result<serde_json::Value, String> {
        let status = crate::status::tenant_status(&self.1, &self.0, tenant)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::to_value(status).map_err(|e| e.to_string())
    }

    async fn permissions(&self, tenant: &Tenant) -> Result<serde_json::Value, String> {
        let settings = self
            .2
            .read()
            .ok()
            .and_then(|rules| rules.clone())
            .ok_or("no Qualytics rules are configured")?;
        let users = self
            .1
            .all_users(tenant.id)
            .await
            .map_err(|e| e.to_string())?;
        let groups = self
            .1
            .all_groups(tenant.id)
            .await
            .map_err(|e| e.to_string())?;
        let model = crate::sync::qualytics::permissions::model(&settings, tenant, &users, &groups);
        serde_json::to_value(model).map_err(|e| e.to_string())
    }
}

/// Spawns a task that logs, under its name, when it starts and stops.
fn spawn(
    name: &'static str,
    task: impl Future<Output = ()> + Send + 'static,
) -> (&'static str, JoinHandle<()>) {
    let handle = tokio::spawn(async move {
        tracing::debug!(task = name, "task started");
        task.await;
        tracing::debug!(task = name, "task stopped");
    });
    (name, handle)
}

async fn bind(what: &'static str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            what,
            address,
            source,
        })
}

fn local_address(
    what: &'static str,
    listener: &TcpListener,
    address: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        what,
        address,
        source,
    })
}

/// The configured public URL; when it was derived from a listen address with port 0, the
/// port actually bound.
fn public_url(configured: &str, listen: SocketAddr, bound: SocketAddr) -> String {
    if listen.port() == 0 {
        configured.replacen(&listen.to_string(), &bound.to_string(), 1)
    } else {
        configured.to_owned()
    }
}

/// Without a configured admin credential, dirsync keeps a generated one in the data directory,
/// readable only by its owner, so the admin API works from a fresh start.
fn generated_admin_credential(data_dir: &Path) -> Result<SecretString, StartError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let path = data_dir.join("admin.token");
    let failed = |source| StartError::AdminCredential {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(contents) if contents.trim().len() >= 32 => {
            return Ok(SecretString::new(contents.trim().to_owned()));
        }
        Ok(_) => {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the file holds fewer than 32 characters; delete it to have a new credential generated",
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(failed)?;
    let credential = secret::generate_token();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    writeln!(file, "{}", credential.expose()).map_err(failed)?;
    tracing::info!(path = %path.display(), "generated the admin API credential");
    Ok(credential)
}
