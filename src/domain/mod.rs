//! Pure types and rules of Directory Sync: tenants, tokens, users, groups, memberships.
//!
//! Nothing here knows about HTTP, SQL or LDAP. Values are parsed into these types at the edge
//! (`scim`, `api`, `cli`) and the store persists them as they are.

pub mod change;
pub mod document;
pub mod error;
pub mod filter;
#[cfg(test)]
pub mod fixtures;
pub mod group;
pub mod ids;
pub mod normalisation;
pub mod page;
pub mod sync;
pub mod tenant;
pub mod token;
pub mod user;

pub use document::Document;
pub use error::DomainError;
pub use group::{Group, GroupData, Member, MemberKind, MemberRef, MemberValue, MembersChange};
pub use ids::{GroupId, TenantId, TokenId, UserId};
pub use normalisation::Normalisation;
pub use page::{ListQuery, Page, PageRequest};
pub use tenant::{
    GroupPatchResponse, IdpKind, Quota, Tenant, TenantName, TenantSettings, UnknownMembers,
};
pub use token::{Actor, ApiToken};
pub use user::{User, UserData, UserGroup, UserName};

/// Server-managed metadata of a stored resource (RFC 7643 §3.1 `meta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMeta {
    /// When the resource was created.
    pub created: chrono::DateTime<chrono::Utc>,
    /// When the resource last changed.
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// Incremented by every change; the ETag is derived from it.
    pub version: i64,
}
