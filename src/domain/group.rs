//! SCIM Groups and their members.

use serde_json::Value;

use super::document::indexed;
use super::{Document, DomainError, GroupId, ResourceMeta, TenantId, UserId};

/// A member of a group: a user or, for nested groups, another group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberRef {
    /// A user of the same tenant.
    User(UserId),
    /// A group of the same tenant.
    Group(GroupId),
}

impl MemberRef {
    /// The member's id as text, whatever its kind.
    pub fn id_string(&self) -> String {
        match self {
            MemberRef::User(id) => id.to_string(),
            MemberRef::Group(id) => id.to_string(),
        }
    }
}

/// The kind of a member, when the client said (`members[].type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// "User"
    User,
    /// "Group"
    Group,
}

/// A member as a client names it: an id, perhaps with its kind. The store resolves it within the
/// tenant; an id that is not a user or group of the tenant is skipped and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberValue {
    /// The member's `id`, as sent.
    pub value: String,
    /// `type`, when sent.
    pub kind: Option<MemberKind>,
}

/// A member as read back, with the member's current display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who the member is.
    pub member: MemberRef,
    /// The member's displayName (or userName when a user has none).
    pub display: Option<String>,
}

/// How a write changes a group's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembersChange {
    /// Leave them as they are.
    Keep,
    /// Make them exactly these (PUT, or PATCH replace of `members`).
    Replace(Vec<MemberValue>),
    /// Add these and remove those; members named in neither stay.
    Delta {
        /// Members to add; present ones are left alone.
        add: Vec<MemberValue>,
        /// Members to remove; absent ones are ignored.
        remove: Vec<MemberValue>,
    },
    /// Remove every member.
    Clear,
}

impl MembersChange {
    /// This change followed by adding `values`.
    pub fn then_add(self, values: Vec<MemberValue>) -> Self {
        match self {
            MembersChange::Keep => MembersChange::Delta {
                add: dedup(values),
                remove: Vec::new(),
            },
            MembersChange::Delta { add, remove } => MembersChange::Delta {
                remove: without(remove, &values),
                add: union(add, values),
            },
            MembersChange::Replace(list) => MembersChange::Replace(union(list, values)),
            MembersChange::Clear => MembersChange::Replace(dedup(values)),
        }
    }

    /// This change followed by removing `values`.
    pub fn then_remove(self, values: Vec<MemberValue>) -> Self {
        match self {
            MembersChange::Keep => MembersChange::Delta {
                add: Vec::new(),
                remove: dedup(values),
            },
            MembersChange::Delta { add, remove } => MembersChange::Delta {
                add: without(add, &values),
                remove: union(remove, values),
            },
            MembersChange::Replace(list) => MembersChange::Replace(without(list, &values)),
            MembersChange::Clear => MembersChange::Clear,
        }
    }

    /// This change followed by making the members exactly `values`: the earlier change no
    /// longer matters.
    pub fn then_replace(self, values: Vec<MemberValue>) -> Self {
        match values.is_empty() {
            true => MembersChange::Clear,
            false => MembersChange::Replace(dedup(values)),
        }
    }
}

impl MemberValue {
    /// Member ids are UUIDs: compare them without regard to case or surrounding space.
    fn same_member(&self, other: &MemberValue) -> bool {
        self.value.trim().eq_ignore_ascii_case(other.value.trim())
    }
}

fn dedup(values: Vec<MemberValue>) -> Vec<MemberValue> {
    union(Vec::new(), values)
}

fn union(mut list: Vec<MemberValue>, more: Vec<MemberValue>) -> Vec<MemberValue> {
    for value in more {
        if !list.iter().any(|v| v.same_member(&value)) {
            list.push(value);
        }
    }
    list
}

fn without(list: Vec<MemberValue>, gone: &[MemberValue]) -> Vec<MemberValue> {
    list.into_iter()
        .filter(|v| !gone.iter().any(|g| g.same_member(v)))
        .collect()
}

/// What a client writes of a group, minus its members (those are rows of their own).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupData {
    display_name: String,
    external_id: Option<String>,
    document: Document,
}

impl GroupData {
    /// Extracts the indexed attributes from a validated document; `displayName` is required
    /// (RFC 7643 §4.2).
    pub fn from_document(document: Document) -> Result<Self, DomainError> {
        let display_name = match document.get("displayName") {
            Some(Value::String(name)) if !name.trim().is_empty() => {
                indexed("displayName", name)?.to_owned()
            }
            _ => return Err(DomainError::Invalid("displayName is required".into())),
        };
        let external_id = document
            .get_str("externalId")
            .map(|id| indexed("externalId", id).map(str::to_owned))
            .transpose()?;
        Ok(Self {
            display_name,
            external_id,
            document,
        })
    }

    /// The group's displayName.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
    /// The IdP's own identifier for the group.
    pub fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    /// Every attribute the client wrote, members excluded.
    pub fn document(&self) -> &Document {
        &self.document
    }
}

/// A stored group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Server-assigned, stable id.
    pub id: GroupId,
    /// The tenant that owns the group.
    pub tenant_id: TenantId,
    /// Created, modified, version.
    pub meta: ResourceMeta,
    /// What the client wrote.
    pub data: GroupData,
    /// The members, when the read asked for them.
    pub members: Option<Vec<Member>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn members(ids: &[&str]) -> Vec<MemberValue> {
        ids.iter()
            .map(|id| MemberValue {
                value: id.to_string(),
                kind: None,
            })
            .collect()
    }

    #[test]
    fn member_changes_compose_in_request_order() {
        let change = MembersChange::Keep
            .then_add(members(&["a", "b"]))
            .then_remove(members(&["b", "c"]))
            .then_add(members(&["c"]));
        assert_eq!(
            change,
            MembersChange::Delta {
                add: members(&["a", "c"]),
                remove: members(&["b"]),
            }
        );
    }

    #[test]
    fn a_replace_wipes_earlier_changes_and_later_ones_edit_the_list() {
        let change = MembersChange::Keep
            .then_remove(members(&["x"]))
            .then_replace(members(&["a", "A", "b"]))
            .then_remove(members(&["b"]))
            .then_add(members(&["c"]));
        assert_eq!(change, MembersChange::Replace(members(&["a", "c"])));
        assert_eq!(
            MembersChange::Keep
                .then_add(members(&["a"]))
                .then_replace(vec![]),
            MembersChange::Clear
        );
        assert_eq!(
            MembersChange::Clear.then_add(members(&["a"])),
            MembersChange::Replace(members(&["a"]))
        );
    }

    #[test]
    fn a_group_needs_a_display_name() {
        let doc = |v: Value| Document::new(v.as_object().cloned().unwrap_or_default());
        assert!(GroupData::from_document(doc(json!({"displayName": "Sales"}))).is_ok());
        assert!(GroupData::from_document(doc(json!({"displayName": ""}))).is_err());
        assert!(GroupData::from_document(doc(json!({"externalId": "x"}))).is_err());
        let long = "g".repeat(crate::domain::document::MAX_INDEXED_BYTES + 1);
        assert!(GroupData::from_document(doc(json!({"displayName": long}))).is_err());
        let external = json!({"displayName": "Sales", "externalId": long});
        assert!(GroupData::from_document(doc(external)).is_err());
    }
}
