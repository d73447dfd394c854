//! An apply whose plan holds its creates as stubs (`sync::narrow`): each is mapped again from
//! the store when it is made, so a first run of 100,000 users never holds 100,000 entries.
//!
//! The store is read again a page at a time through the target's mapper, and a mapped entry
//! whose create is deferred is created then, in the order the plan's rules need: users are
//! created (as their pages are mapped), moved and updated before anything happens to groups,
//! and groups are created before members are added or anything is deleted. A mapper that
//! hands out users only at the end (the default one) holds them until then, as it would for a
//! plan.
//!
//! The plan was made from an earlier read. A resource renamed since then is not created where
//! the plan did not look for conflicts, and one deleted since then is not created at all; the
//! change log has both, so the next run (which they trigger) creates what is left where it
//! now belongs. A resource that changed otherwise is created as it is now.

use std::collections::HashMap;
use std::ops::ControlFlow;

use uuid::Uuid;

use super::{Reconciler, Report, SyncError, apply, apply_all, cannot_read_store, stop};
use crate::domain::{Group, Tenant, User};
use crate::sync::model::{DesiredEntry, Kind, Operation};
use crate::sync::narrow::Deferred;
use crate::sync::plan::{create, key};
use crate::sync::target::Target;

/// The plan's operations sorted into the steps they run in.
#[derive(Default)]
struct Steps {
    /// Deferred creates: where the plan would create each (lower-cased).
    pending: HashMap<(Kind, Uuid), String>,
    /// User creates the plan holds whole.
    user_creates: Vec<Operation>,
    /// The user moves and updates that follow them.
    user_changes: Vec<Operation>,
    /// Group creates the plan holds whole.
    group_creates: Vec<Operation>,
    /// Everything after them, in plan order.
    rest: Vec<Operation>,
    /// Deferred creates whose resources were renamed since the plan.
    renamed: usize,
}

impl Steps {
    /// Sorts `operations` (in plan order: user creates, moves and updates, then group creates
    /// and everything else) into steps, keeping only who and where of the deferred creates.
    fn of(operations: Vec<Operation>, deferred: &Deferred) -> Self {
        let mut steps = Steps::default();
        let mut past_users = false;
        for operation in operations {
            past_users |= on_a_group(&operation);
            if let Operation::Create {
                kind, id, location, ..
            } = &operation
                && deferred.contains(&(*kind, *id))
            {
                steps.pending.insert((*kind, *id), key(location));
                continue;
            }
            let creates = matches!(operation, Operation::Create { .. });
            match (past_users, creates) {
                (false, true) => steps.user_creates.push(operation),
                (false, false) => steps.user_changes.push(operation),
                (true, true) if steps.rest.is_empty() => steps.group_creates.push(operation),
                (true, _) => steps.rest.push(operation),
            }
        }
        steps
    }

    /// The create of `entry`, if it is deferred and still belongs where the plan would create
    /// it.
    fn create_of(&mut self, entry: DesiredEntry) -> Option<Operation> {
        let planned = self.pending.remove(&(entry.kind, entry.id))?;
        let still = key(&entry.location) == planned;
        self.renamed += usize::from(!still);
        still.then(|| create(entry))
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
        let mut steps = Steps::of(operations, &deferred);
        drop(deferred);
        let user_creates = std::mem::take(&mut steps.user_creates);
        if apply_all(tenant, target, report, user_creates)
            .await
            .is_break()
        {
            return Ok(ControlFlow::Break(()));
        }
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
        if let Err(e) = mapper.finish(&mut |entry| later.extend(steps.create_of(entry))) {
            return Ok(stop(report, cannot_read_store(e)));
        }
        // Users the mapper held to the end first, then their moves and updates; then groups.
        let (group_creates, user_creates): (Vec<_>, Vec<_>) =
            later.into_iter().partition(on_a_group);
        let in_order = user_creates
            .into_iter()
            .chain(std::mem::take(&mut steps.user_changes))
            .chain(std::mem::take(&mut steps.group_creates))
            .chain(group_creates)
            .chain(std::mem::take(&mut steps.rest));
        if apply_all(tenant, target, report, in_order).await.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        // Left in `pending`: deleted, or never mapped again.
        let skipped = steps.pending.len() + steps.renamed;
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
