//! The reconciliation step, `Reconciler::reconcile_once`: everything one run does, and nothing
//! a loop needs. The change-log follower, the cron schedule, the CLI and the admin API all call
//! it, so there is one behaviour to test.
//!
//! One run, in order, and why:
//! 1. Take the (tenant, target) lease. Another process (a second replica, the CLI beside the
//!    daemon) running the same pair answers `busy`; two writers would fight over the same
//!    entries.
//! 2. Note the change-log position *before* reading the store. A SCIM write that lands during
//!    the run is then newer than the run's position and triggers the next run; it can never
//!    fall between two runs unseen.
//! 3. Read the desired state (the store) and the observed state (the target). Either read
//!    failing fails the run before anything is planned: a failed or partial read must never
//!    look like "nothing there", which would plan the deletion of everything. A target that
//!    allows it is read narrowed (`sync::narrow`): summarised as it streams, then compared
//!    with the store page by page, so the run holds only what differs, and reads that again.
//! 4. Record the anchors of the managed entries just observed, then `plan`.
//! 5. In plan mode stop there. In apply mode the guard refuses a plan that deletes or
//!    deactivates more than the configured share unless forced (a misconfigured IdP scope or a
//!    wrong base DN looks exactly like "everyone left").
//! 6. Apply the operations in plan order. An operation the target refuses is reported and the
//!    rest continue; an unavailable target stops the run (the rest would fail the same way).
//!    The next run reads both sides afresh and converges, so nothing is lost either way. A
//!    narrowed apply leaves its creates out of the plan (who and where of each go to a scratch
//!    file), and maps each again from the store as it makes it (`deferred`), so a first run
//!    never holds the whole directory.
//! 7. Record the run and give the lease back.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::model::{Desired, DesiredEntry, Observed, Operation, Plan};
use super::narrow::Deferred;
use super::plan::{Context, plan_within};
use super::target::{Target, TargetError};
use crate::domain::sync::LinkRef;
use crate::domain::{DomainError, Group, Tenant, User};
use crate::store::Store;

mod deferred;
mod narrowed;

/// Plan only, or apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Compute and report, change nothing.
    Plan,
    /// Change the target.
    Apply,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// SCIM writes (the change-log follower).
    Change,
    /// The cron schedule's full drift check.
    Schedule,
    /// An operator (CLI or admin API).
    Manual,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Change => "change",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Plan mode: computed, nothing changed.
    Planned,
    /// Every operation applied (possibly none).
    Applied,
    /// Some operations failed; the others applied.
    Partial,
    /// Nothing could be done (a read failed, or the target went away).
    Failed,
    /// The guard refused the plan.
    Refused,
    /// Another run of the same tenant and target holds the lease.
    Busy,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Planned => "planned",
            Outcome::Applied => "applied",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::Busy => "busy",
        }
    }
}

/// An operation that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The operation.
    pub operation: Operation,
    /// What the target said.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's record (none for a busy answer).
    pub run_id: Option<Uuid>,
    /// The target.
    pub target: String,
    /// Plan or apply.
    pub mode: Mode,
    /// What started it.
    pub trigger: Trigger,
    /// How it ended.
    pub outcome: Outcome,
    /// What the diff found. An apply spends the operations as it carries them out (at a
    /// first run of 100,000 users, holding them all and then returning them as JSON was most
    /// of the run's memory): afterwards `operations` is empty, `planned` and `applied` count
    /// them, and `failures` hold those that failed. A plan-mode run keeps every operation.
    pub plan: Plan,
    /// Operations per kind the plan held.
    pub planned: BTreeMap<&'static str, usize>,
    /// Deletes and deactivations the plan held (what the guard limits).
    pub destructive: usize,
    /// Applied operations per kind.
    pub applied: BTreeMap<&'static str, usize>,
    /// Operations that failed.
    pub failures: Vec<Failure>,
    /// Why the run failed or was refused.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u128,
    /// The change-log position the desired state was read at.
    pub change_seq: Option<i64>,
    /// Milliseconds spent in each step that was reached ("read_store", "read_target",
    /// "plan", "apply"), for an operator asking where a slow run spent its time.
    pub phases_ms: BTreeMap<&'static str, u64>,
}

impl Report {
    /// Writes to the target this run made.
    pub fn writes(&self) -> usize {
        self.applied.values().sum()
    }
}

/// The guard's limits on destructive changes (deletes and deactivations) per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// At most this many.
    pub max_destructive: usize,
    /// And at most this percentage of the entries dirsync manages in the target.
    pub max_destructive_percent: u8,
}

impl Guard {
    /// Why the plan is refused, if it is.
    fn refuses(&self, plan: &Plan) -> Option<String> {
        let destructive = plan.destructive();
        let percent_exceeded = destructive > 1
            && destructive * 100 > plan.managed.max(1) * usize::from(self.max_destructive_percent);
        (destructive > self.max_destructive || percent_exceeded).then(|| {
            format!(
                "the plan deletes or deactivates {destructive} of {} managed entries, more than the \
                 guard allows ({} or {}%); check the IdP's scope and the target's base DN, then \
                 run with --force to apply it",
                plan.managed, self.max_destructive, self.max_destructive_percent
            )
        })
    }
}

/// Why a run could not be started at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No target of that name is configured for the tenant.
    #[error("no target {target:?} is configured for tenant {tenant}")]
    UnknownTarget {
        /// The tenant.
        tenant: String,
        /// The target asked for.
        target: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] DomainError),
}

/// Runs reconciliation steps for the configured targets.
#[derive(Debug, Clone)]
pub struct Reconciler {
    store: Store,
    /// Shared by every clone (the loops, the admin API), so a reload reaches them all.
    targets: Arc<std::sync::RwLock<Vec<Arc<dyn Target>>>>,
    guard: Guard,
    lease: chrono::Duration,
    holder: String,
    metrics: Option<(Arc<crate::metrics::Metrics>, crate::clock::SharedClock)>,
}

impl Reconciler {
    /// A reconciler over these targets. `holder` names this process in leases.
    pub fn new(
        store: Store,
        targets: Vec<Arc<dyn Target>>,
        guard: Guard,
        lease: chrono::Duration,
    ) -> Self {
        Self {
            store,
            targets: Arc::new(std::sync::RwLock::new(targets)),
            guard,
            lease,
            holder: format!("dirsync-{}", Uuid::new_v4().simple()),
            metrics: None,
        }
    }

    /// Records every run into `metrics`; `clock` measures the provisioning lag.
    pub fn with_metrics(
        mut self,
        metrics: Arc<crate::metrics::Metrics>,
        clock: crate::clock::SharedClock,
    ) -> Self {
        self.metrics = Some((metrics, clock));
        self
    }

    fn current_targets(&self) -> Vec<Arc<dyn Target>> {
        self.targets.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Replaces the targets (a configuration reload: new mapping rules); runs in progress
    /// finish with the targets they started with.
    pub fn replace_targets(&self, targets: Vec<Arc<dyn Target>>) {
        if let Ok(mut current) = self.targets.write() {
            *current = targets;
        }
    }

    /// Whether any target is configured.
    pub fn has_targets(&self) -> bool {
        !self.current_targets().is_empty()
    }

    /// The targets that keep this tenant.
    pub fn targets_of(&self, tenant: &Tenant) -> Vec<&'static str> {
        self.current_targets()
            .iter()
            .filter(|t| t.serves(tenant))
            .map(|t| t.name())
            .collect()
    }

    /// One run of one tenant into one target (see the module comment for the steps).
    pub async fn reconcile_once(
        &self,
        tenant: &Tenant,
        target: &str,
        mode: Mode,
        trigger: Trigger,
        force: bool,
    ) -> Result<Report, SyncError> {
        let target = self
            .current_targets()
            .into_iter()
            .find(|t| t.name() == target && t.serves(tenant))
            .ok_or_else(|| SyncError::UnknownTarget {
                tenant: tenant.name.to_string(),
                target: target.to_owned(),
            })?;
        let started = Instant::now();
        let name = target.name();
        let mut report = Report {
            run_id: None,
            target: name.to_owned(),
            mode,
            trigger,
            outcome: Outcome::Busy,
            plan: Plan::default(),
            planned: BTreeMap::new(),
            destructive: 0,
            applied: BTreeMap::new(),
            failures: Vec::new(),
            error: None,
            duration_ms: 0,
            change_seq: None,
            phases_ms: BTreeMap::new(),
        };
        let Some(lock) = self
            .store
            .lock_run(tenant.id, name, &self.holder, self.lease)
            .await?
        else {
            report.error = Some("another run of this tenant and target is in progress".into());
            return Ok(report);
        };
        let result = self.run(tenant, target.as_ref(), &mut report, force).await;
        let released = lock.release().await;
        report.duration_ms = started.elapsed().as_millis();
        if let Some(run_id) = report.run_id {
            let counts = json!({
                "planned": report.planned,
                "applied": report.applied,
                "failures": report.failures,
                "unmanaged": report.plan.unmanaged.len(),
                "conflicts": report.plan.conflicts,
                "waiting": report.plan.waiting.len(),
                "destructive": report.destructive,
                "duration_ms": report.duration_ms as u64,
                "phases_ms": report.phases_ms,
            });
            self.store
                .finish_run(
                    run_id,
                    report.outcome.as_str(),
                    counts,
                    report.error.clone(),
                )
                .await?;
        }
        result?;
        released?;
        if let (Some((metrics, clock)), Some(_)) = (&self.metrics, report.run_id) {
            // The lag of an applied run: from the newest change it carried to now.
            let lag = match (report.outcome, report.change_seq) {
                (Outcome::Applied, Some(seq)) if seq > 0 => self
                    .store
                    .change_time(tenant.id, seq)
                    .await?
                    .map(|at| (clock.now() - at).num_milliseconds().max(0) as f64 / 1000.0),
                _ => None,
            };
            metrics.run(
                &tenant.id.to_string(),
                name,
                report.outcome.as_str(),
                &report.applied,
                report.failures.len(),
                lag,
            );
        }
        tracing::info!(
            tenant = %tenant.name,
            target = name,
            trigger = trigger.as_str(),
            outcome = report.outcome.as_str(),
            planned = report.planned.values().sum::<usize>(),
            writes = report.writes(),
            failures = report.failures.len(),
            duration_ms = report.duration_ms as u64,
            "reconciliation run"
        );
        Ok(report)
    }

    /// Maps the store's resources to `target`'s desired entries a page at a time, handing
    /// each entry to `each` as soon as the mapper lets it go.
    async fn map_store(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        each: &mut (dyn FnMut(DesiredEntry) + Send),
    ) -> Result<(), DomainError> {
        let mut mapper = target.mapper(tenant);
        let mut users = self.store.pages::<User>(tenant.id);
        while let Some(page) = users.next().await? {
            mapper.users(page);
            mapper.drain().into_iter().for_each(&mut *each);
        }
        let mut groups = self.store.pages::<Group>(tenant.id);
        while let Some(page) = groups.next().await? {
            mapper.groups(page);
            mapper.drain().into_iter().for_each(&mut *each);
        }
        mapper.finish(each)
    }

    async fn run(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        report: &mut Report,
        force: bool,
    ) -> Result<(), SyncError> {
        let name = target.name();
        let position = self.store.change_position(tenant.id).await?;
        report.change_seq = Some(position.seq);
        let mode = match report.mode {
            Mode::Plan => "plan",
            Mode::Apply => "apply",
        };
        let run_id = self
            .store
            .start_run(tenant.id, name, report.trigger.as_str(), mode, position)
            .await?;
        report.run_id = Some(run_id);
        report.outcome = Outcome::Failed;
        let mut phase = Phases::start();
        let planned = match target.narrows() {
            true => {
                self.plan_narrowed(tenant, target, report, &mut phase)
                    .await?
            }
            false => self.plan_whole(tenant, target, report, &mut phase).await?,
        };
        match planned {
            Ok((plan, deferred)) => {
                report.planned = plan.counts();
                for (name, count) in deferred.counts() {
                    *report.planned.entry(name).or_insert(0) += count;
                }
                report.destructive = plan.destructive();
                report.plan = plan;
                phase.end("plan", report);
                self.carry_out(tenant, target, report, force, deferred, phase)
                    .await
            }
            Err(why) => {
                report.error = Some(why);
                Ok(())
            }
        }
    }

    /// Plans from both sides read whole: the store a page at a time into the target's mapper
    /// (the resources themselves, most of a large tenant's memory, are never all held at
    /// once), then everything the target holds. `Err` is why the run could not plan.
    async fn plan_whole(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        report: &mut Report,
        phase: &mut Phases,
    ) -> Result<Planned, SyncError> {
        let name = target.name();
        let mut entries = Vec::new();
        if let Err(e) = self
            .map_store(tenant, target, &mut |entry| entries.push(entry))
            .await
        {
            return Ok(Err(cannot_read_store(e)));
        }
        entries.shrink_to_fit();
        let desired = Desired { entries };
        phase.end("read_store", report);
        let observed = match target.observe(tenant).await {
            Ok(observed) => observed,
            Err(e) => return Ok(Err(cannot_read(name, e))),
        };
        // The links recorded are the ones just observed, so the plan matches by them as read
        // rather than reading them back.
        self.store
            .replace_links(tenant.id, name, managed_links(&observed))
            .await?;
        phase.end("read_target", report);
        let context = Context::of(&desired, &observed);
        let mut plan = plan_within(desired, &observed, &observed.links(), &context);
        target.adjust(tenant, &mut plan, &observed);
        Ok(Ok((plan, Deferred::new())))
    }

    /// The rest of a run once it has a plan: stop in plan mode, ask the guard, apply.
    async fn carry_out(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        report: &mut Report,
        force: bool,
        deferred: Deferred,
        mut phase: Phases,
    ) -> Result<(), SyncError> {
        let name = target.name();
        if report.mode == Mode::Plan {
            report.outcome = Outcome::Planned;
            return Ok(());
        }
        if let Some(why) = self.guard.refuses(&report.plan).filter(|_| !force) {
            tracing::warn!(tenant = %tenant.name, target = name, reason = %why, "reconciliation refused by the guard");
            report.outcome = Outcome::Refused;
            report.error = Some(why);
            return Ok(());
        }
        // Each operation is dropped once carried out (see `Report::plan`).
        let operations = std::mem::take(&mut report.plan.operations);
        let carried = match deferred.is_empty() {
            true => apply_all(tenant, target, report, operations).await,
            false => {
                self.apply_deferring(tenant, target, report, operations, deferred)
                    .await?
            }
        };
        if carried.is_break() {
            return Ok(());
        }
        phase.end("apply", report);
        report.outcome = if report.failures.is_empty() {
            Outcome::Applied
        } else {
            Outcome::Partial
        };
        Ok(())
    }
}

/// A plan and the creates it left for the apply to make, or why the run could not make one (a failed
/// read: the run's outcome, not an error of the step).
type Planned = Result<(Plan, Deferred), String>;

/// Applies one operation and records how it went. `Break` when the target went away: the
/// run stops there (the rest would fail the same way), and the report says so.
async fn apply(
    tenant: &Tenant,
    target: &dyn Target,
    report: &mut Report,
    operation: Operation,
) -> ControlFlow<()> {
    match target.apply(tenant, &operation).await {
        Ok(()) => *report.applied.entry(operation.name()).or_insert(0) += 1,
        Err(TargetError::Refused(reason)) => report.failures.push(Failure { operation, reason }),
        Err(e @ TargetError::Unavailable(_)) => {
            report.failures.push(Failure {
                operation,
                reason: e.to_string(),
            });
            return stop(
                report,
                format!("{} went away during the run: {e}", target.name()),
            );
        }
    }
    ControlFlow::Continue(())
}

/// Applies `operations` in order, each with [`apply`], until the target goes away.
async fn apply_all(
    tenant: &Tenant,
    target: &dyn Target,
    report: &mut Report,
    operations: impl IntoIterator<Item = Operation>,
) -> ControlFlow<()> {
    for operation in operations {
        apply(tenant, target, report, operation).await?;
    }
    ControlFlow::Continue(())
}

/// Stops an apply part way for `why`: what was applied stays, and the next run converges.
fn stop(report: &mut Report, why: String) -> ControlFlow<()> {
    report.error = Some(why);
    report.outcome = match report.applied.is_empty() {
        true => Outcome::Failed,
        false => Outcome::Partial,
    };
    ControlFlow::Break(())
}

/// Times the steps of a run into `Report::phases_ms`.
struct Phases(Instant);

impl Phases {
    fn start() -> Self {
        Self(Instant::now())
    }

    /// Adds the time since the previous step ended to `name`'s (a narrowed run reads the
    /// target twice).
    fn end(&mut self, name: &'static str, report: &mut Report) {
        let now = Instant::now();
        *report.phases_ms.entry(name).or_insert(0) += (now - self.0).as_millis() as u64;
        self.0 = now;
    }
}

/// Why a run stopped when its read of the store failed.
fn cannot_read_store(e: DomainError) -> String {
    format!("cannot read the store: {e}")
}

/// Why a run stopped when what it remembers of each entry could not be kept (its scratch file,
/// `store::scratch`): before anything was applied.
fn cannot_keep(e: DomainError) -> String {
    format!("cannot keep the run's working set: {e}; nothing was changed")
}

/// Why a run stopped when its read of `target` failed: before anything was applied.
fn cannot_read(target: &str, e: TargetError) -> String {
    format!("cannot read {target}: {e}; nothing was changed")
}

/// The links a read shows: every managed entry's anchor and location.
fn managed_links(observed: &Observed) -> impl Iterator<Item = LinkRef<'_>> {
    observed.entries.iter().filter_map(|entry| {
        entry.managed_id.map(|id| LinkRef {
            resource_type: entry.kind.as_str(),
            resource_id: id,
            anchor: &entry.anchor,
            location: &entry.location,
        })
    })
}
