//! The two background triggers of reconciliation. Both only decide *when* to call
//! `Reconciler::reconcile_once`; the step itself is the same one the CLI and admin API call.
//!
//! Shutdown: each loop waits on the shutdown token at every point where it would otherwise
//! sleep, but never cancels a step in progress: an apply that was started finishes (the app's
//! grace period bounds it), so a run is never cut between two operations by our own hand.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::engine::{Mode, Outcome, Reconciler, Trigger};
use crate::clock::SharedClock;
use crate::domain::TenantId;
use crate::store::Store;

/// The longest wait after repeated failures of one tenant and target.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A change is reconciled at most this many change delays after the follower first saw it,
/// however steadily writes keep coming (2 s delay: within about 6 s, plus the run). A burst
/// still becomes one run; a steady stream becomes one run every few delays.
const MAX_WAIT_DELAYS: u32 = 3;

/// Runs every tenant's full drift check at each time the cron schedule names.
pub async fn run_on_schedule(
    reconciler: Reconciler,
    store: Store,
    schedule: cron::Schedule,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    // Fire times are taken after the later of "now" and the last fire time, so the schedule
    // moves forward even when the clock does not (a test's clock, or a clock stepped back),
    // and a run that outlasts its interval is followed by the next fire time, not a burst of
    // missed ones.
    let mut after = clock.now();
    loop {
        let Some(next) = schedule.after(&after).next() else {
            tracing::warn!("the sync schedule has no further fire time; scheduled runs stop");
            return;
        };
        let wait = (next - clock.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        reconcile_every_tenant(&reconciler, &store, Trigger::Schedule).await;
        after = next.max(clock.now());
    }
}

async fn reconcile_every_tenant(reconciler: &Reconciler, store: &Store, trigger: Trigger) {
    let tenants = match store.list_tenants().await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::error!(error = %e, "cannot list tenants for reconciliation");
            return;
        }
    };
    for tenant in tenants {
        for target in reconciler.targets_of(&tenant) {
            if let Err(e) = reconciler
                .reconcile_once(&tenant, target, Mode::Apply, trigger, false)
                .await
            {
                tracing::error!(tenant = %tenant.name, target, error = %e, "reconciliation failed to run");
            }
        }
    }
}

/// Follows the change log: a tenant whose log moved past its last applied run (or, on
/// PostgreSQL, gained an entry numbered below that run's position that committed after it:
/// `Store::committed_late`), and then stayed still for `delay` (a burst of SCIM writes is one
/// run, not one per write), is reconciled.
/// Writes that never pause (an IdP's steady cycle on a large tenant) would keep the log from
/// ever staying still, so a change waits at most `MAX_WAIT_DELAYS` delays. A run that fails is retried after a doubling wait, up to five minutes; the next successful
/// run converges whatever was missed, because it reads the whole state afresh.
pub async fn follow_changes(
    reconciler: Reconciler,
    store: Store,
    delay: Duration,
    shutdown: CancellationToken,
) {
    let mut last_seen: HashMap<(TenantId, &'static str), i64> = HashMap::new();
    let mut backoff: HashMap<(TenantId, &'static str), (u32, tokio::time::Instant)> =
        HashMap::new();
    // When each key was first seen behind the log, for the longest wait.
    let mut behind_since: HashMap<(TenantId, &'static str), tokio::time::Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let Ok(tenants) = store.list_tenants().await else {
            continue;
        };
        for tenant in tenants {
            for target in reconciler.targets_of(&tenant) {
                let key = (tenant.id, target);
                if backoff
                    .get(&key)
                    .is_some_and(|(_, until)| tokio::time::Instant::now() < *until)
                {
                    continue;
                }
                let (Ok(latest), Ok(applied)) = (
                    store.latest_change_seq(tenant.id).await,
                    store.last_applied_position(tenant.id, target).await,
                ) else {
                    continue;
                };
                let settled = last_seen.insert(key, latest) == Some(latest);
                let behind = match applied {
                    None => latest > 0,
                    Some(applied) if latest > applied.seq => true,
                    // On PostgreSQL a change numbered below the last run's position may have
                    // committed after that run read the store.
                    Some(applied) => store
                        .committed_late(tenant.id, applied)
                        .await
                        .unwrap_or(false),
                };
                if !behind {
                    behind_since.remove(&key);
                    continue;
                }
                let now = tokio::time::Instant::now();
                let waited = now - *behind_since.entry(key).or_insert(now);
                if !settled && waited < delay * MAX_WAIT_DELAYS {
                    continue;
                }
                let outcome = reconciler
                    .reconcile_once(&tenant, target, Mode::Apply, Trigger::Change, false)
                    .await
                    .map(|r| r.outcome);
                match outcome {
                    Ok(Outcome::Applied | Outcome::Busy) => {
                        backoff.remove(&key);
                        behind_since.remove(&key);
                    }
                    _ => {
                        let failures = backoff.get(&key).map(|(n, _)| n + 1).unwrap_or(1);
                        let wait = (delay * 2u32.saturating_pow(failures.min(16))).min(MAX_BACKOFF);
                        backoff.insert(key, (failures, tokio::time::Instant::now() + wait));
                    }
                }
            }
        }
    }
}
