//! Records of reconciliation: runs, and the links between resources and target entries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::TenantId;

/// One reconciliation run as recorded in `sync_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SyncRun {
    /// The run's id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The target ("ldap", ...).
    pub target: String,
    /// What started it: "change", "schedule" or "manual".
    pub trigger: String,
    /// "plan" or "apply".
    pub mode: String,
    /// "running", "planned", "applied", "partial", "failed", "refused" or "busy".
    pub status: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Counts per operation kind, failures and what was left alone.
    pub counts: Option<serde_json::Value>,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// The change-log position the desired state was read at.
    pub change_seq: Option<i64>,
}

/// Where a run read the tenant's change log: its newest entry, and how many entries it saw in
/// the window just below (see `Store::committed_late`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangePosition {
    /// The newest entry's sequence number (0 for an empty log).
    pub seq: i64,
    /// Entries numbered in the window below `seq`, `seq` included.
    pub window: i64,
}

/// A resource's entry in a target: the target's stable id for it and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLink {
    /// "user" or "group".
    pub resource_type: String,
    /// The SCIM id.
    pub resource_id: Uuid,
    /// The target's stable id (entryUUID).
    pub anchor: String,
    /// Where the entry was (DN).
    pub location: String,
}

/// A [`TargetLink`] borrowed from what a run read, so recording the links of a whole
/// directory copies none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRef<'a> {
    /// "user" or "group".
    pub resource_type: &'a str,
    /// The SCIM id.
    pub resource_id: Uuid,
    /// The target's stable id (entryUUID).
    pub anchor: &'a str,
    /// Where the entry was (DN).
    pub location: &'a str,
}

impl TargetLink {
    /// The link, borrowed.
    pub fn borrowed(&self) -> LinkRef<'_> {
        LinkRef {
            resource_type: &self.resource_type,
            resource_id: self.resource_id,
            anchor: &self.anchor,
            location: &self.location,
        }
    }
}

impl From<LinkRef<'_>> for TargetLink {
    fn from(link: LinkRef<'_>) -> Self {
        Self {
            resource_type: link.resource_type.to_owned(),
            resource_id: link.resource_id,
            anchor: link.anchor.to_owned(),
            location: link.location.to_owned(),
        }
    }
}
