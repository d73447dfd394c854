//! SCIM Groups and their members.

use serde_json::Value;

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
            Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
            _ => return Err(DomainError::Invalid("displayName is required".into())),
        };
        Ok(Self {
            display_name,
            external_id: document.get_str("externalId").map(str::to_owned),
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

    #[test]
    fn a_group_needs_a_display_name() {
        let doc = |v: Value| Document::new(v.as_object().cloned().unwrap_or_default());
        assert!(GroupData::from_document(doc(json!({"displayName": "Sales"}))).is_ok());
        assert!(GroupData::from_document(doc(json!({"displayName": ""}))).is_err());
        assert!(GroupData::from_document(doc(json!({"externalId": "x"}))).is_err());
    }
}
