//! `plan(desired, observed, links)`: the pure diff at the heart of reconciliation. It decides
//! what to change in a target so that it holds what the store holds, and nothing it must not
//! touch. It performs no I/O, so it is tested exhaustively without a database or a directory.
//!
//! How entries are matched, in order of trust:
//! 1. the anchor dirsync recorded for the resource (`target_links`): an entry keeps its anchor
//!    (entryUUID) across renames, including renames done by hand;
//! 2. the management marker on the entry, naming the SCIM id;
//! 3. the location (DN) the resource should have. An entry there that dirsync does not manage
//!    was made by hand: it is a conflict, left alone and reported, never adopted or overwritten.
//!
//! What follows from a match:
//! - a different location is a `Move` (modrdn), never delete-and-recreate, so the anchor and
//!   whatever refers to it survive;
//! - attributes dirsync manages that differ are one `Update` with their new values;
//! - group members are compared as locations, so a renamed member is removed under its old
//!   location and added under its new one (a directory that rewrote it already answers "no such
//!   value" / "value exists", which the target counts as converged).
//!
//! Entries dirsync manages that match no desired resource are deleted; the engine's guard
//! decides whether a plan deletes too much. Entries it does not manage are listed, never
//! touched.
//!
//! Order matters and is fixed: users are created, moved and updated before groups so that
//! member values point at entries that exist; members are added before others are removed so a
//! group whose members are all replaced never passes through empty; deletes come last, groups
//! before users.

use std::collections::{BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use super::model::{
    AttributeChange, Desired, DesiredEntry, Kind, Link, Observed, ObservedEntry, Operation, Plan,
};

/// Locations compare without regard to case (DNs are case-insensitive in the common schema).
pub(crate) fn key(location: &str) -> String {
    location.to_lowercase()
}

/// What a plan needs to know about the whole of both sides, beyond the entries it compares.
/// `plan` works it out from them; a narrowed run (`sync::narrow`) compares only the entries
/// that differ and brings it from the whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// How many entries dirsync manages in the target (the guard's percentage).
    pub managed: usize,
    /// The locations (lower-cased) of the users the IdP deactivated: removing one from a group
    /// is a deactivation the guard counts.
    pub inactive: HashSet<String>,
}

impl Context {
    /// The context of complete desired and observed states.
    pub fn of(desired: &Desired, observed: &Observed) -> Self {
        Self {
            managed: observed
                .entries
                .iter()
                .filter(|o| o.managed_id.is_some())
                .count(),
            inactive: desired
                .entries
                .iter()
                .filter(|e| e.is_deactivated_user())
                .map(|e| key(&e.location))
                .collect(),
        }
    }
}

/// Computes what to change in the target.
pub fn plan(desired: &Desired, observed: &Observed, links: &[Link]) -> Plan {
    let context = Context::of(desired, observed);
    plan_within(desired.clone(), observed, links, &context)
}

/// Computes what to change in the target for these entries, `context` saying what the whole
/// holds. The desired entries to create are moved into the plan: on a first run they are the
/// whole directory, and a copy would double the run's memory.
pub fn plan_within(
    desired: Desired,
    observed: &Observed,
    links: &[Link],
    context: &Context,
) -> Plan {
    let by_anchor: HashMap<&str, &ObservedEntry> = observed
        .entries
        .iter()
        .map(|o| (o.anchor.as_str(), o))
        .collect();
    let by_marker: HashMap<(Kind, Uuid), &ObservedEntry> = observed
        .entries
        .iter()
        .filter_map(|o| o.managed_id.map(|id| ((o.kind, id), o)))
        .collect();
    let by_location: HashMap<String, &ObservedEntry> = observed
        .entries
        .iter()
        .map(|o| (key(&o.location), o))
        .collect();
    let linked: HashMap<(Kind, Uuid), &str> = links
        .iter()
        .map(|l| ((l.kind, l.id), l.anchor.as_str()))
        .collect();

    let mut plan = Plan {
        managed: context.managed,
        ..Plan::default()
    };
    let mut matched: HashSet<&str> = HashSet::new();
    let mut pairs: Vec<(&DesiredEntry, &ObservedEntry)> = Vec::new();
    // Places in `desired.entries`.
    let mut creates: Vec<usize> = Vec::new();

    for (place, entry) in desired.entries.iter().enumerate() {
        let found = linked
            .get(&(entry.kind, entry.id))
            .and_then(|anchor| by_anchor.get(anchor))
            .filter(|o| o.kind == entry.kind)
            .or_else(|| by_marker.get(&(entry.kind, entry.id)))
            .copied();
        match found {
            Some(observed) => {
                matched.insert(observed.anchor.as_str());
                pairs.push((entry, observed));
            }
            None => match by_location.get(&key(&entry.location)) {
                // An entry the target lets a resource take over by location (it cannot carry
                // a marker, or the operator allowed adoption).
                Some(other) if other.adoptable && other.managed_id.is_none() => {
                    matched.insert(other.anchor.as_str());
                    pairs.push((entry, other));
                }
                // The place is taken by an entry that is not this resource's.
                Some(other) => {
                    matched.insert(other.anchor.as_str());
                    plan.conflicts.push(entry.location.clone());
                }
                None => creates.push(place),
            },
        }
    }

    let mut moves = Vec::new();
    let mut updates = Vec::new();
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    let mut deactivated: BTreeSet<String> = BTreeSet::new();
    let inactive = &context.inactive;

    for (entry, observed) in &pairs {
        if key(&entry.location) != key(&observed.location) {
            moves.push(Operation::Move {
                kind: entry.kind,
                id: entry.id,
                from: observed.location.clone(),
                to: entry.location.clone(),
            });
        }
        let changes: Vec<AttributeChange> = entry
            .attributes
            .iter()
            .filter(|(name, want)| match observed.attributes.get(name) {
                Some(have) => have != *want,
                None => !want.is_empty(),
            })
            .map(|(name, want)| AttributeChange {
                name: name.clone(),
                values: want.clone(),
            })
            .collect();
        let touched = !changes.is_empty() || key(&entry.location) != key(&observed.location);
        if touched && entry.is_deactivated_user() {
            deactivated.insert(key(&entry.location));
        }
        if !changes.is_empty() {
            updates.push(Operation::Update {
                kind: entry.kind,
                id: entry.id,
                location: entry.location.clone(),
                changes,
            });
        }
        if entry.kind == Kind::Group {
            let have: HashSet<String> = observed.members.iter().map(|m| key(m)).collect();
            let want: HashSet<String> = entry.members.iter().map(|m| key(m)).collect();
            let add: BTreeSet<String> = entry
                .members
                .iter()
                .filter(|m| !have.contains(&key(m)))
                .cloned()
                .collect();
            let remove: BTreeSet<String> = observed
                .members
                .iter()
                .filter(|m| !want.contains(&key(m)))
                .cloned()
                .collect();
            for member in &remove {
                if inactive.contains(&key(member)) {
                    deactivated.insert(key(member));
                }
            }
            if !add.is_empty() {
                adds.push(Operation::AddMembers {
                    id: entry.id,
                    location: entry.location.clone(),
                    members: add,
                    was_empty: observed.members.is_empty(),
                });
            }
            if !remove.is_empty() {
                removes.push(Operation::RemoveMembers {
                    id: entry.id,
                    location: entry.location.clone(),
                    leaves_empty: entry.members.is_empty(),
                    members: remove,
                });
            }
        }
    }
    plan.deactivations = deactivated.len();

    let mut deletes: Vec<Operation> = Vec::new();
    for observed in &observed.entries {
        if matched.contains(observed.anchor.as_str()) {
            continue;
        }
        match observed.managed_id {
            Some(id) => deletes.push(Operation::Delete {
                kind: observed.kind,
                id,
                location: observed.location.clone(),
            }),
            None => plan.unmanaged.push(observed.location.clone()),
        }
    }

    // Taken from the last place back, so each removal leaves the places still to take alone.
    let mut entries = desired.entries;
    let mut creates: Vec<Operation> = creates
        .into_iter()
        .rev()
        .map(|place| create(entries.swap_remove(place)))
        .collect();
    creates.reverse();
    // Each list is split by kind and moved into the plan, never copied: on a first run the
    // creates are the whole directory.
    let mut operations = Vec::new();
    for kind in [Kind::User, Kind::Group] {
        operations.extend(take_kind(&mut creates, kind));
        operations.extend(take_kind(&mut moves, kind));
        operations.extend(take_kind(&mut updates, kind));
    }
    operations.extend(take_kind(&mut adds, Kind::Group));
    operations.extend(take_kind(&mut removes, Kind::Group));
    operations.extend(take_kind(&mut deletes, Kind::Group));
    operations.extend(take_kind(&mut deletes, Kind::User));
    plan.operations = operations;
    plan.unmanaged.sort();
    plan.conflicts.sort();
    plan
}

/// The operation that creates `entry`: its attributes that have values, its members.
pub(crate) fn create(entry: DesiredEntry) -> Operation {
    Operation::Create {
        kind: entry.kind,
        id: entry.id,
        location: entry.location,
        attributes: entry
            .attributes
            .into_iter()
            .filter(|(_, values)| !values.is_empty())
            .collect(),
        members: entry.members,
    }
}

/// Takes the operations on entries of `kind` (member changes are on groups) out of `ops`, in
/// location order.
fn take_kind(ops: &mut Vec<Operation>, kind: Kind) -> Vec<Operation> {
    let (mut selected, rest): (Vec<Operation>, Vec<Operation>) =
        std::mem::take(ops).into_iter().partition(|op| match op {
            Operation::Create { kind: k, .. }
            | Operation::Move { kind: k, .. }
            | Operation::Update { kind: k, .. }
            | Operation::Delete { kind: k, .. } => *k == kind,
            Operation::AddMembers { .. } | Operation::RemoveMembers { .. } => kind == Kind::Group,
        });
    *ops = rest;
    selected.sort_by(|a, b| location_of(a).cmp(location_of(b)));
    selected
}

fn location_of(op: &Operation) -> &str {
    match op {
        Operation::Create { location, .. }
        | Operation::Update { location, .. }
        | Operation::AddMembers { location, .. }
        | Operation::RemoveMembers { location, .. }
        | Operation::Delete { location, .. } => location,
        Operation::Move { from, .. } => from,
    }
}

#[cfg(test)]
mod tests;
