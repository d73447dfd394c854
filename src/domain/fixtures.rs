//! Domain values for unit tests elsewhere in the crate (the mappers and permission models test
//! without a database).

use serde_json::Value;

use super::{
    Document, Group, GroupData, GroupId, IdpKind, Member, ResourceMeta, Tenant, TenantId,
    TenantName, TenantSettings, User, UserData, UserId,
};

/// A tenant named acme.
pub fn tenant() -> Tenant {
    Tenant {
        id: TenantId::new(),
        name: TenantName::parse("acme").unwrap_or_else(|_| unreachable!()),
        idp_kind: IdpKind::Generic,
        created_at: chrono::DateTime::UNIX_EPOCH,
        settings: TenantSettings::default(),
    }
}

/// Metadata of a resource created at the epoch.
pub fn meta() -> ResourceMeta {
    ResourceMeta {
        created: chrono::DateTime::UNIX_EPOCH,
        last_modified: chrono::DateTime::UNIX_EPOCH,
        version: 1,
    }
}

/// A document of these attributes (a JSON object).
pub fn document(value: Value) -> Document {
    Document::new(value.as_object().cloned().unwrap_or_default())
}

/// A user of this id and document.
pub fn user(id: UserId, attributes: Value) -> User {
    User {
        id,
        tenant_id: TenantId::new(),
        meta: meta(),
        data: UserData::from_document(document(attributes)).unwrap_or_else(|e| panic!("{e}")),
        groups: Vec::new(),
    }
}

/// A group of this id, displayName and members.
pub fn group(id: GroupId, name: &str, members: Vec<super::MemberRef>) -> Group {
    let data = GroupData::from_document(document(serde_json::json!({ "displayName": name })));
    Group {
        id,
        tenant_id: TenantId::new(),
        meta: meta(),
        data: data.unwrap_or_else(|e| panic!("{e}")),
        members: Some(
            members
                .into_iter()
                .map(|member| Member {
                    member,
                    display: None,
                })
                .collect(),
        ),
    }
}
