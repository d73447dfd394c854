//! A target that keeps its entries in memory: what the engine's tests reconcile into. It maps
//! users to `user/<userName>` and groups to `group/<displayName>` with their names as the only
//! attribute, counts writes, and can be told to fail reads or writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use uuid::Uuid;

use super::model::{Attributes, Desired, DesiredEntry, Kind, Observed, ObservedEntry, Operation};
use super::target::{Target, TargetError};
use crate::domain::{DomainError, Group, MemberRef, Tenant, User};

/// An in-memory target.
#[derive(Debug, Default)]
pub struct MemoryTarget {
    entries: Mutex<BTreeMap<String, ObservedEntry>>,
    writes: AtomicUsize,
    /// The name of each operation applied, in order.
    applied: Mutex<Vec<&'static str>>,
    /// When set, `observe` fails as an unreachable target would.
    pub fail_reads: AtomicBool,
    /// When set, `apply` fails as an unreachable target would.
    pub fail_writes: AtomicBool,
    reads: AtomicUsize,
    held_read: Mutex<Option<HeldRead>>,
}

/// A read that first says it was reached and then waits (see [`MemoryTarget::hold_read`]).
#[derive(Debug)]
struct HeldRead {
    number: usize,
    reached: tokio::sync::oneshot::Sender<()>,
    resume: tokio::sync::oneshot::Receiver<()>,
}

impl MemoryTarget {
    /// How many operations it applied.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// The operations it applied, by name (`Operation::name`), in the order it applied them.
    pub fn applied(&self) -> Vec<&'static str> {
        self.applied.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// What it holds, by location.
    pub fn entries(&self) -> BTreeMap<String, ObservedEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Makes read number `number` (from 1, counting every `observe`) send on `reached` and
    /// wait for `resume` before it reads: a test changes the store while a run is between its
    /// plan and its apply (a narrowed run reads twice, the second time to plan).
    pub fn hold_read(
        &self,
        number: usize,
        reached: tokio::sync::oneshot::Sender<()>,
        resume: tokio::sync::oneshot::Receiver<()>,
    ) {
        if let Ok(mut held) = self.held_read.lock() {
            *held = Some(HeldRead {
                number,
                reached,
                resume,
            });
        }
    }

    /// Puts an entry there as someone editing the target by hand would.
    pub fn insert_by_hand(&self, entry: ObservedEntry) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(entry.location.clone(), entry);
        }
    }
}

fn location(kind: Kind, name: &str) -> String {
    match kind {
        Kind::User => format!("user/{name}"),
        Kind::Group => format!("group/{name}"),
    }
}

#[async_trait::async_trait]
impl Target for MemoryTarget {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn serves(&self, _tenant: &Tenant) -> bool {
        true
    }

    fn desired(
        &self,
        _tenant: &Tenant,
        users: &[User],
        groups: &[Group],
    ) -> Result<Desired, DomainError> {
        let user_locations: BTreeMap<Uuid, (String, bool)> = users
            .iter()
            .map(|u| {
                (
                    u.id.as_uuid(),
                    (
                        location(Kind::User, u.data.user_name().as_str()),
                        u.data.active(),
                    ),
                )
            })
            .collect();
        let group_locations: BTreeMap<Uuid, String> = groups
            .iter()
            .map(|g| (g.id.as_uuid(), location(Kind::Group, g.data.display_name())))
            .collect();
        let mut entries: Vec<DesiredEntry> = users
            .iter()
            .map(|u| DesiredEntry {
                kind: Kind::User,
                id: u.id.as_uuid(),
                location: location(Kind::User, u.data.user_name().as_str()),
                attributes: Attributes::from([(
                    "name".to_owned(),
                    [u.data.user_name().as_str().to_owned()].into(),
                )]),
                members: Default::default(),
                active: u.data.active(),
            })
            .collect();
        entries.extend(groups.iter().map(|g| {
            DesiredEntry {
                kind: Kind::Group,
                id: g.id.as_uuid(),
                location: location(Kind::Group, g.data.display_name()),
                attributes: Attributes::from([(
                    "name".to_owned(),
                    [g.data.display_name().to_owned()].into(),
                )]),
                // Deactivated users leave their groups.
                members: g
                    .members
                    .iter()
                    .flatten()
                    .filter_map(|m| match m.member {
                        MemberRef::User(id) => user_locations
                            .get(&id.as_uuid())
                            .filter(|(_, active)| *active)
                            .map(|(l, _)| l.clone()),
                        MemberRef::Group(id) => group_locations.get(&id.as_uuid()).cloned(),
                    })
                    .collect(),
                active: true,
            }
        }));
        Ok(Desired { entries })
    }

    // The engine's tests then run the narrowed path on the default streaming reads; the
    // Qualytics target keeps the whole path.
    fn narrows(&self) -> bool {
        true
    }

    async fn observe(&self, _tenant: &Tenant) -> Result<Observed, TargetError> {
        let number = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let held = match self.held_read.lock() {
            Ok(mut held) => held.take_if(|held| held.number == number),
            Err(_) => None,
        };
        if let Some(held) = held {
            let _ = held.reached.send(());
            let _ = held.resume.await;
        }
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(TargetError::Unavailable(
                "the memory target is switched off".into(),
            ));
        }
        Ok(Observed {
            entries: self.entries().into_values().collect(),
        })
    }

    async fn apply(&self, _tenant: &Tenant, operation: &Operation) -> Result<(), TargetError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(TargetError::Unavailable(
                "the memory target is switched off".into(),
            ));
        }
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| TargetError::Unavailable("poisoned".into()))?;
        if let Ok(mut applied) = self.applied.lock() {
            applied.push(operation.name());
        }
        match operation {
            Operation::Create {
                kind,
                id,
                location,
                attributes,
                members,
            } => {
                entries.insert(
                    location.clone(),
                    ObservedEntry {
                        kind: *kind,
                        anchor: Uuid::new_v4().to_string(),
                        location: location.clone(),
                        managed_id: Some(*id),
                        attributes: attributes.clone(),
                        members: members.clone(),
                        adoptable: false,
                    },
                );
            }
            Operation::Move { from, to, .. } => {
                if let Some(mut entry) = entries.remove(from) {
                    entry.location = to.clone();
                    entries.insert(to.clone(), entry);
                }
            }
            Operation::Update {
                location, changes, ..
            } => {
                if let Some(entry) = entries.get_mut(location) {
                    for change in changes {
                        match change.values.is_empty() {
                            true => {
                                entry.attributes.remove(&change.name);
                            }
                            false => entry
                                .attributes
                                .insert(change.name.clone(), change.values.clone()),
                        }
                    }
                }
            }
            Operation::AddMembers {
                location, members, ..
            } => {
                if let Some(entry) = entries.get_mut(location) {
                    entry.members.extend(members.iter().cloned());
                }
            }
            Operation::RemoveMembers {
                location, members, ..
            } => {
                if let Some(entry) = entries.get_mut(location) {
                    entry.members.retain(|m| !members.contains(m));
                }
            }
            Operation::Delete { location, .. } => {
                entries.remove(location);
            }
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
