//! The change log: one record per change, written with the change. It is the reconciler's outbox
//! and the audit trail.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{TenantId, TokenId};

/// What kind of resource a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResourceKind {
    /// A SCIM User.
    User,
    /// A SCIM Group (including its memberships).
    Group,
}

impl ResourceKind {
    /// The name stored in the log, which is also the SCIM resource type.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// The resource was created.
    Create,
    /// The resource was replaced or modified.
    Update,
    /// The resource was deleted.
    Delete,
    /// Members were added to or removed from a group.
    Membership,
    /// Member references that are not users or groups of the tenant were ignored.
    MembersSkipped,
}

impl ChangeOp {
    /// The name stored in the log.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
            ChangeOp::Membership => "membership",
            ChangeOp::MembersSkipped => "members_skipped",
        }
    }
}

/// A change log entry as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    /// Position in the log; increases with every change.
    pub seq: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The token of the SCIM request that made it.
    pub token_id: Option<TokenId>,
    /// That request's id.
    pub request_id: Option<String>,
    /// "User" or "Group".
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: Option<Uuid>,
    /// What happened ("create", "update", ...).
    pub operation: String,
    /// Details (e.g. which members were skipped).
    pub detail: Option<serde_json::Value>,
}
