//! A tenant's status at a glance: paused or not, its last SCIM request, and per target the last
//! run, the last applied run, the drift the last scheduled check found, and how many changes
//! wait for propagation. The admin API adds the daemon's in-memory request counts.

use serde::Serialize;

use crate::domain::sync::SyncRun;
use crate::domain::{DomainError, Tenant};
use crate::store::Store;
use crate::sync::Reconciler;

/// One target's state for a tenant.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TargetStatus {
    /// "ldap", "qualytics".
    pub target: String,
    /// The latest run, whatever its outcome.
    pub last_run: Option<SyncRun>,
    /// The latest run that applied successfully.
    pub last_applied: Option<SyncRun>,
    /// Operations the latest scheduled drift check planned.
    pub drift: Option<u64>,
    /// Change-log entries since the last applied run.
    pub pending_changes: u64,
}

/// A tenant's status.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TenantStatus {
    /// The tenant.
    pub tenant: String,
    /// Whether an operator paused it.
    pub paused: bool,
    /// The last time one of its tokens authenticated (to the minute).
    pub last_scim_request: Option<chrono::DateTime<chrono::Utc>>,
    /// Requests in the last hour, from the daemon (absent when read from the database alone).
    pub requests_last_hour: Option<u64>,
    /// 429s in the last hour, from the daemon.
    pub rate_limited_last_hour: Option<u64>,
    /// Per target.
    pub targets: Vec<TargetStatus>,
}

fn planned(run: &SyncRun) -> Option<u64> {
    run.counts
        .as_ref()
        .and_then(|c| c["planned"].as_object())
        .map(|p| p.values().filter_map(serde_json::Value::as_u64).sum())
}

/// What the database knows of a tenant's status.
pub async fn tenant_status(
    store: &Store,
    reconciler: &Reconciler,
    tenant: &Tenant,
) -> Result<TenantStatus, DomainError> {
    let last_scim_request = store
        .list_tokens(tenant.id)
        .await?
        .into_iter()
        .filter_map(|t| t.last_used_at)
        .max();
    let runs = store.runs(Some(tenant.id), 200).await?;
    let mut targets = Vec::new();
    for target in reconciler.targets_of(tenant) {
        let of_target: Vec<&SyncRun> = runs.iter().filter(|r| r.target == target).collect();
        let last_applied = of_target
            .iter()
            .find(|r| r.status == "applied")
            .copied()
            .cloned();
        targets.push(TargetStatus {
            target: target.to_owned(),
            last_run: of_target.first().copied().cloned(),
            drift: of_target
                .iter()
                .find(|r| r.trigger == "schedule")
                .and_then(|r| planned(r)),
            last_applied,
            pending_changes: store.pending_changes(tenant.id, target).await?,
        });
    }
    Ok(TenantStatus {
        tenant: tenant.name.to_string(),
        paused: tenant.settings.paused,
        last_scim_request,
        requests_last_hour: None,
        rate_limited_last_hour: None,
        targets,
    })
}
