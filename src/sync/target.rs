//! The seam between the engine and a downstream system. A target maps SCIM users and groups to
//! its own entries (`desired`), reads what it holds (`observe`), and applies one operation at a
//! time (`apply`). The LDAP target lives in `sync::ldap`; `sync::memory` is the in-memory one the
//! engine's tests use.

use std::collections::HashSet;

use super::model::{Desired, DesiredEntry, Kind, Observed, ObservedEntry, Operation, Plan};
use super::plan::key;
use crate::domain::{DomainError, Group, Tenant, User};

/// Why a target could not read or write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// It cannot be reached, timed out, or refused the credentials: nothing more can be done
    /// in this run.
    #[error("the target is unavailable: {0}")]
    Unavailable(String),
    /// It refused this operation (a schema violation, say); other operations may still work.
    #[error("the target refused the operation: {0}")]
    Refused(String),
}

/// A downstream system that reconciliation keeps equal to the store.
#[async_trait::async_trait]
pub trait Target: std::fmt::Debug + Send + Sync {
    /// Its name in configuration, runs and the CLI ("ldap").
    fn name(&self) -> &'static str;

    /// Whether it keeps this tenant.
    fn serves(&self, tenant: &Tenant) -> bool;

    /// What it should hold for the tenant, given every user and group the store has. `Err`
    /// when what the mapping keeps aside (the run's scratch file) cannot be kept.
    fn desired(
        &self,
        tenant: &Tenant,
        users: &[User],
        groups: &[Group],
    ) -> Result<Desired, DomainError>;

    /// The same mapping, fed a page of resources at a time, so a run need not hold the whole
    /// tenant's resources (at 100,000 users they were most of a run's memory). The default
    /// collects them all and calls `desired`; a target whose users map one by one overrides it.
    fn mapper<'a>(&'a self, tenant: &'a Tenant) -> Box<dyn Mapper + 'a> {
        Box::new(Collecting {
            target: self,
            tenant,
            users: Vec::new(),
            groups: Vec::new(),
            finished: false,
        })
    }

    /// Everything it holds in the tenant's scope, read completely; any failure is an error,
    /// never a smaller state.
    async fn observe(&self, tenant: &Tenant) -> Result<Observed, TargetError>;

    /// Whether a run may narrow (`sync::narrow`): keep a summary of each entry it observes
    /// and read again in full only those that differ from what the store wants. A target
    /// whose `adjust` looks at everything observed must say no (the default).
    fn narrows(&self) -> bool {
        false
    }

    /// Everything `observe` reads, handed to `each` as it is read, so a run need not hold it
    /// all; any failure is an error, even after some entries were handed over. The default
    /// reads everything first.
    async fn observe_each(
        &self,
        tenant: &Tenant,
        each: &mut (dyn FnMut(ObservedEntry) + Send),
    ) -> Result<(), TargetError> {
        self.observe(tenant)
            .await?
            .entries
            .into_iter()
            .for_each(each);
        Ok(())
    }

    /// The entries of these kinds at these locations, read again in full; a location that
    /// holds nothing now is left out. The default reads everything and picks them.
    async fn observe_again(
        &self,
        tenant: &Tenant,
        wanted: &[(Kind, String)],
    ) -> Result<Vec<ObservedEntry>, TargetError> {
        let wanted: HashSet<(Kind, String)> = wanted
            .iter()
            .map(|(kind, location)| (*kind, key(location)))
            .collect();
        let mut entries = self.observe(tenant).await?.entries;
        entries.retain(|e| wanted.contains(&(e.kind, key(&e.location))));
        Ok(entries)
    }

    /// Drops from a plan what this target cannot or must not do (the default: nothing), with
    /// what was observed at hand: a target whose users appear on their own cannot create them,
    /// and one whose roles may only be raised never lowers them.
    fn adjust(&self, _tenant: &Tenant, _plan: &mut Plan, _observed: &Observed) {}

    /// Applies one operation. Answers that mean "already so" (exists, no such value) are
    /// success.
    async fn apply(&self, tenant: &Tenant, operation: &Operation) -> Result<(), TargetError>;
}

/// Maps the store's resources to a target's desired state, page by page: every user first,
/// then every group, then `finish`.
pub trait Mapper: Send {
    /// A page of users.
    fn users(&mut self, page: Vec<User>);
    /// A page of groups (after every user).
    fn groups(&mut self, page: Vec<Group>);
    /// The entries mapped so far, taken out, so a run can compare them as they come; what
    /// remains comes with `finish`. The default keeps everything for `finish`.
    fn drain(&mut self) -> Vec<DesiredEntry> {
        Vec::new()
    }
    /// The rest of the desired state, a batch at a time once every page is mapped (users
    /// before groups), until a batch is empty: a run that compares or creates entries as they
    /// come never holds them all (10,000 groups' member lists at once were a no-change run's
    /// peak). `Err` when what the mapper kept aside could not be kept (its scratch file).
    fn finish_next(&mut self) -> Result<Vec<DesiredEntry>, DomainError>;

    /// Hands `each` the rest of the desired state (`finish_next`), one entry at a time.
    fn finish(mut self: Box<Self>, each: &mut dyn FnMut(DesiredEntry)) -> Result<(), DomainError> {
        loop {
            let batch = self.finish_next()?;
            if batch.is_empty() {
                return Ok(());
            }
            batch.into_iter().for_each(&mut *each);
        }
    }

    /// Everything `finish` hands over, collected.
    fn finish_all(self: Box<Self>) -> Result<Desired, DomainError> {
        let mut entries = Vec::new();
        self.finish(&mut |entry| entries.push(entry))?;
        Ok(Desired { entries })
    }
}

/// The default mapper: keeps every resource and maps them at the end.
struct Collecting<'a, T: ?Sized> {
    target: &'a T,
    tenant: &'a Tenant,
    users: Vec<User>,
    groups: Vec<Group>,
    /// Whether `finish_next` handed everything over.
    finished: bool,
}

impl<T: Target + ?Sized> Mapper for Collecting<'_, T> {
    fn users(&mut self, page: Vec<User>) {
        self.users.extend(page);
    }

    fn groups(&mut self, page: Vec<Group>) {
        self.groups.extend(page);
    }

    fn finish_next(&mut self) -> Result<Vec<DesiredEntry>, DomainError> {
        if self.finished {
            return Ok(Vec::new());
        }
        self.finished = true;
        let users = std::mem::take(&mut self.users);
        let groups = std::mem::take(&mut self.groups);
        Ok(self.target.desired(self.tenant, &users, &groups)?.entries)
    }
}

/// Whether a target configured for `tenants` (empty: every tenant) keeps `tenant`.
pub fn keeps(tenants: &[String], tenant: &Tenant) -> bool {
    tenants.is_empty() || tenants.iter().any(|t| t == tenant.name.as_str())
}
