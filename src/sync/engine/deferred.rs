//! An apply whose plan left its creates out (`sync::narrow`, which keeps who and where of each
//! in a scratch file): each is mapped again from the store when it is made, so a first run of
//! 100,000 users never holds 100,000 entries, nor 100,000 operations.
//!
//! The store is read again a page at a time through the target's mapper, and a mapped entry
//! whose create is deferred is created then, in the order the plan's rules need: users are
//! created (as their pages are mapped), moved and updated before anything happens to groups,
//! and groups are created (each as the mapper hands it over at the end) before members are
//! added or anything is deleted. A mapper that hands out users only at the end (the default
//! one) holds them until then, as it would for a plan.
//!
//! The plan was made from an earlier read. A resource renamed since then is not created where
//! the plan did not look for conflicts, and one deleted since then is not created at all; the
//! change log has both, so the next run (which they trigger) creates what is left where it
//! now belongs. A resource that changed otherwise is created as it is now.

use std::ops::ControlFlow;

use super::{Reconciler, Report, SyncError, apply, apply_all, cannot_read_store, stop};
use crate::domain::{DomainError, Group, Tenant, User};
use crate::sync::model::{DesiredEntry, Kind, Operation};
use crate::sync::narrow::Deferred;
use crate::sync::plan::{create, key};
use crate::sync::target::Target;

/// The plan's operations sorted into the steps they run in, and the creates deferred. A plan
/// that defers its creates holds none (`sync::narrow`), so what it holds is the users' moves
/// and updates, then everything on groups.
struct Steps {
    /// Deferred creates: where the plan would create each (lower-cased).
    deferred: Deferred,
    /// The user moves and updates, run once every user is created.
    user_changes: Vec<Operation>,
    /// Everything on groups, in plan order, run once every group is created.
    rest: Vec<Operation>,
    /// Deferred creates whose resources were renamed since the plan.
    renamed: usize,
    /// Why a deferred create could not be taken out (its scratch file), the first time.
    failure: Option<DomainError>,
}

impl Steps {
    /// Splits `operations` (in plan order: users before groups) into steps.
    fn of(operations: Vec<Operation>, deferred: Deferred) -> Self {
        let first_on_a_group = operations
            .iter()
            .position(on_a_group)
            .unwrap_or(operations.len());
        let mut user_changes = operations;
        let rest = user_changes.split_off(first_on_a_group);
        Steps {
            deferred,
            user_changes,
            rest,
            renamed: 0,
            failure: None,
        }
    }

    /// The create of `entry`, if it is deferred and still belongs where the plan would create
    /// it. After a failure to look it up, none (see `failure`).
    fn create_of(&mut self, entry: DesiredEntry) -> Option<Operation> {
        if self.failure.is_some() {
            return None;
        }
        let planned = match self.deferred.take(entry.kind, entry.id) {
            Ok(planned) => planned?,
            Err(e) => {
                self.failure = Some(e);
                return None;
            }
        };
        let still = key(&entry.location) == planned;
        self.renamed += usize::from(!still);
        still.then(|| create(entry))
    }

    /// What runs before the groups the mapper hands over at the end: the users held in
    /// `later` created, every user's moves and updates, then the group creates in `later`.
    fn before_groups(&mut self, later: &mut Vec<Operation>) -> Vec<Operation> {
        let (group_creates, mut ordered): (Vec<_>, Vec<_>) =
            std::mem::take(later).into_iter().partition(on_a_group);
        ordered.append(&mut self.user_changes);
        ordered.extend(group_creates);
        ordered
    }

    /// Why the run must stop, once a deferred create could not be looked up.
    fn failed(&mut self) -> Option<String> {
        let e = self.failure.take()?;
        Some(format!("cannot read the creates this run deferred: {e}"))
    }
}

/// Whether an operation is on a group (plan order puts every one after the users' creates,
/// moves and updates).
fn on_a_group(operation: &Operation) -> bool {
    match operation {
        Operation::Create { kind, .. }
        | Operation::Move { kind, .. }
        | Operation::Update { kind, .. }
        | Operation::Delete { kind, .. } => *kind == Kind::Group,
        Operation::AddMembers { .. } | Operation::RemoveMembers { .. } => true,
    }
}

impl Reconciler {
    /// Applies `operations`, creating the deferred ones from the store mapped again (see the
    /// module's documentation). `Break` when the target went away.
    pub(super) async fn apply_deferring(
        &self,
        tenant: &Tenant,
        target: &dyn Target,
        report: &mut Report,
        operations: Vec<Operation>,
        deferred: Deferred,
    ) -> Result<ControlFlow<()>, SyncError> {
        let mut steps = Steps::of(operations, deferred);
        let mut later = Vec::new();
        let mut mapper = target.mapper(tenant);
        let mut users = self.store.pages::<User>(tenant.id);
        loop {
            let page = match users.next().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => return Ok(stop(report, cannot_read_store(e))),
            };
            mapper.users(page);
            for entry in mapper.drain() {
                let Some(operation) = steps.create_of(entry) else {
                    if let Some(why) = steps.failed() {
                        return Ok(stop(report, why));
                    }
                    continue;
                };
                match on_a_group(&operation) {
                    true => later.push(operation),
                    false => {
                        if apply(tenant, target, report, operation).await.is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
            }
        }
        let mut groups = self.store.pages::<Group>(tenant.id);
        loop {
            let page = match groups.next().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => return Ok(stop(report, cannot_read_store(e))),
            };
            mapper.groups(page);
            later.extend(
                mapper
                    .drain()
                    .into_iter()
                    .filter_map(|e| steps.create_of(e)),
            );
        }
        if let Some(why) = steps.failed() {
            return Ok(stop(report, why));
        }
        // What the mapper hands over at the end, a batch at a time: users it held (created at
        // once), then groups, each created as it comes. Before the first group, every user
        // is created, and then moved and updated.
        let mut users_done = false;
        loop {
            let batch = match mapper.finish_next() {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => batch,
                Err(e) => return Ok(stop(report, cannot_read_store(e))),
            };
            for entry in batch {
                let Some(operation) = steps.create_of(entry) else {
                    if let Some(why) = steps.failed() {
                        return Ok(stop(report, why));
                    }
                    continue;
                };
                if on_a_group(&operation) && !users_done {
                    users_done = true;
                    let before = steps.before_groups(&mut later);
                    if apply_all(tenant, target, report, before).await.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                if apply(tenant, target, report, operation).await.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        let mut rest = match users_done {
            true => Vec::new(),
            false => steps.before_groups(&mut later),
        };
        rest.append(&mut steps.rest);
        if apply_all(tenant, target, report, rest).await.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        // Left deferred: deleted, or never mapped again.
        let skipped = steps.deferred.len() + steps.renamed;
        if skipped > 0 {
            tracing::info!(
                tenant = %tenant.name,
                target = target.name(),
                skipped,
                "creates left to the next run: their resources were renamed or deleted during this one"
            );
        }
        Ok(ControlFlow::Continue(()))
    }
}
