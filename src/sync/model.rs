//! What the reconciler compares: the desired state (the store, as a target would hold it) and
//! the observed state (what the target holds), in a target-neutral shape. A target maps SCIM
//! users and groups to entries: a `location` (an LDAP DN), attributes, and for groups the
//! locations of their members.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use uuid::Uuid;

pub use super::values::{Attributes, Values};

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A SCIM User.
    User,
    /// A SCIM Group.
    Group,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 2] = [Kind::User, Kind::Group];

    /// As stored in `target_links`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

/// One entry the target should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredEntry {
    /// Users or groups.
    pub kind: Kind,
    /// The SCIM resource's id.
    pub id: Uuid,
    /// Where the entry belongs (its DN).
    pub location: String,
    /// Every attribute dirsync manages on it; an empty set means "must not be there".
    pub attributes: Attributes,
    /// Groups: the locations of their members.
    pub members: BTreeSet<String>,
    /// Users: false when the IdP deactivated them.
    pub active: bool,
}

/// The desired state of one tenant in one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Users and groups.
    pub entries: Vec<DesiredEntry>,
}

/// One entry the target holds, within the scope dirsync looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEntry {
    /// Users or groups.
    pub kind: Kind,
    /// The target's stable id for it (entryUUID).
    pub anchor: String,
    /// Where it is.
    pub location: String,
    /// The SCIM id its management marker names; `None` for an entry dirsync does not manage.
    pub managed_id: Option<Uuid>,
    /// The values of the attributes dirsync manages.
    pub attributes: Attributes,
    /// Groups: the locations of their members (placeholders already left out).
    pub members: BTreeSet<String>,
    /// An unmanaged entry a desired resource at the same location may take over (a Qualytics
    /// user, which exists before dirsync knows it); otherwise such an entry is a conflict.
    pub adoptable: bool,
}

impl DesiredEntry {
    /// A user the IdP deactivated: it leaves its groups, and the guard counts the change.
    pub fn is_deactivated_user(&self) -> bool {
        self.kind == Kind::User && !self.active
    }
}

/// What a target holds, read completely: a partial read is an error, never a smaller state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Every entry in scope.
    pub entries: Vec<ObservedEntry>,
}

impl Observed {
    /// The anchors a read shows: every managed entry's, in the order read.
    pub fn links(&self) -> Vec<Link> {
        self.entries
            .iter()
            .filter_map(|entry| {
                entry.managed_id.map(|id| Link {
                    kind: entry.kind,
                    id,
                    anchor: entry.anchor.clone(),
                    location: entry.location.clone(),
                })
            })
            .collect()
    }
}

impl ObservedEntry {
    /// What a target holds once `entry` was created in it under `anchor`: its attributes that
    /// have values, its members, its marker.
    #[cfg(test)]
    pub fn applied(entry: &DesiredEntry, anchor: &str) -> Self {
        Self {
            kind: entry.kind,
            anchor: anchor.into(),
            location: entry.location.clone(),
            managed_id: Some(entry.id),
            attributes: entry
                .attributes
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            members: entry.members.clone(),
            adoptable: false,
        }
    }
}

/// One change of an attribute: its complete new set of values (empty: remove it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeChange {
    /// The attribute.
    pub name: String,
    /// Its values after the change.
    pub values: Values,
}

/// One operation on a target. A plan lists them in the order they must run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Make a new entry (a group with its first members).
    Create {
        /// Users or groups.
        kind: Kind,
        /// SCIM id.
        id: Uuid,
        /// Where.
        location: String,
        /// Its attributes (empty sets left out).
        attributes: Attributes,
        /// Groups: member locations.
        members: BTreeSet<String>,
    },
    /// Rename or move an entry, keeping its anchor.
    Move {
        /// Users or groups.
        kind: Kind,
        /// SCIM id.
        id: Uuid,
        /// Where it is.
        from: String,
        /// Where it belongs.
        to: String,
    },
    /// Replace attributes of an entry.
    Update {
        /// Users or groups.
        kind: Kind,
        /// SCIM id.
        id: Uuid,
        /// Where it is (after any move).
        location: String,
        /// The attributes that differ.
        changes: Vec<AttributeChange>,
    },
    /// Add member values to a group.
    AddMembers {
        /// SCIM id of the group.
        id: Uuid,
        /// The group's location.
        location: String,
        /// Member locations to add.
        members: BTreeSet<String>,
        /// The group has no member before this (an LDAP target then drops its placeholder).
        was_empty: bool,
    },
    /// Remove member values from a group.
    RemoveMembers {
        /// SCIM id of the group.
        id: Uuid,
        /// The group's location.
        location: String,
        /// Member locations to remove.
        members: BTreeSet<String>,
        /// The group has no member after this (an LDAP target first adds its placeholder).
        leaves_empty: bool,
    },
    /// Delete an entry dirsync manages whose resource is gone.
    Delete {
        /// Users or groups.
        kind: Kind,
        /// The SCIM id its marker names.
        id: Uuid,
        /// Where it is.
        location: String,
    },
}

impl Operation {
    /// The operation's name in reports and counts.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Create {
                kind: Kind::User, ..
            } => "create_user",
            Operation::Create {
                kind: Kind::Group, ..
            } => "create_group",
            Operation::Move {
                kind: Kind::User, ..
            } => "move_user",
            Operation::Move {
                kind: Kind::Group, ..
            } => "move_group",
            Operation::Update {
                kind: Kind::User, ..
            } => "update_user",
            Operation::Update {
                kind: Kind::Group, ..
            } => "update_group",
            Operation::AddMembers { .. } => "add_members",
            Operation::RemoveMembers { .. } => "remove_members",
            Operation::Delete {
                kind: Kind::User, ..
            } => "delete_user",
            Operation::Delete {
                kind: Kind::Group, ..
            } => "delete_group",
        }
    }
}

/// A plan: the operations, and what the diff found that it leaves alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// In the order they must run.
    pub operations: Vec<Operation>,
    /// Entries in scope that dirsync does not manage (made by hand): never changed.
    pub unmanaged: Vec<String>,
    /// Desired entries whose location an unmanaged entry already takes: not created.
    pub conflicts: Vec<String>,
    /// Desired entries the target cannot create and waits for (Qualytics users who have not
    /// signed in yet).
    pub waiting: Vec<String>,
    /// Users the IdP deactivated that this plan changes (for the guard).
    pub deactivations: usize,
    /// How many entries dirsync manages in the target now (for the guard's percentage).
    pub managed: usize,
}

impl Plan {
    /// Deletes and deactivations: what the guard limits.
    pub fn destructive(&self) -> usize {
        self.deactivations
            + self
                .operations
                .iter()
                .filter(|op| matches!(op, Operation::Delete { .. }))
                .count()
    }

    /// Operations per kind.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for op in &self.operations {
            *counts.entry(op.name()).or_insert(0) += 1;
        }
        counts
    }
}

/// A managed entry's anchor as dirsync last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Users or groups.
    pub kind: Kind,
    /// SCIM id.
    pub id: Uuid,
    /// The target's stable id.
    pub anchor: String,
    /// Where the entry was.
    pub location: String,
}

/// The management marker of a resource's entry: `dirsync:<SCIM id>`.
pub fn marker(id: Uuid) -> String {
    format!("dirsync:{id}")
}

/// The SCIM id a marker names.
pub fn parse_marker(value: &str) -> Option<Uuid> {
    value
        .strip_prefix("dirsync:")
        .and_then(|id| id.parse().ok())
}
