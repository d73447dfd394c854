//! Per-tenant request quotas (governor, GCRA). Every tenant has two budgets: reads (GET, which
//! is what discovery and IdP test-connection probes are) and writes, so a tenant's write flood
//! can never starve its own reads, and no tenant's traffic touches another's budgets.
//!
//! Limits hold per process: with N replicas behind a load balancer a tenant can reach N times
//! its quota in total (README.md, "Rate limits").

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota as GovernorQuota, RateLimiter};

use crate::domain::{Quota, TenantId};

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// GET and HEAD.
    Read,
    /// Everything else.
    Write,
}

struct Bucket {
    limiter: DefaultDirectRateLimiter,
    quota: Quota,
    last_used: Instant,
}

/// The limiters of every tenant seen recently.
pub struct RateLimits {
    default: Mutex<Quota>,
    overrides: Mutex<HashMap<TenantId, Quota>>,
    paused: Mutex<std::collections::HashSet<TenantId>>,
    buckets: Mutex<HashMap<(TenantId, Class), Bucket>>,
}

/// Why a request is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over quota; it would pass after this long.
    OverQuota(Duration),
    /// An operator paused the tenant.
    Paused,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

fn limiter(quota: Quota) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(quota.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(quota.burst).unwrap_or(per_second);
    RateLimiter::direct(GovernorQuota::per_second(per_second).allow_burst(burst))
}

impl RateLimits {
    /// Limits with this quota for tenants without one of their own.
    pub fn new(default: Quota) -> Self {
        Self {
            default: Mutex::new(default),
            overrides: Mutex::new(HashMap::new()),
            paused: Mutex::new(std::collections::HashSet::new()),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The quota of a tenant.
    pub fn quota_of(&self, tenant: TenantId) -> Quota {
        self.overrides
            .lock()
            .ok()
            .and_then(|o| o.get(&tenant).copied())
            .unwrap_or_else(|| match self.default.lock() {
                Ok(default) => *default,
                Err(poisoned) => *poisoned.into_inner(),
            })
    }

    /// Changes the quota of tenants without their own (a configuration reload).
    pub fn set_default(&self, quota: Quota) {
        if let Ok(mut default) = self.default.lock() {
            *default = quota;
        }
    }

    /// Sets the tenant quotas that differ from the default (all of them, replacing the old).
    pub fn set_overrides(&self, overrides: HashMap<TenantId, Quota>) {
        if let Ok(mut current) = self.overrides.lock() {
            *current = overrides;
        }
    }

    /// Sets which tenants are paused (all of them, replacing the old).
    pub fn set_paused(&self, paused: std::collections::HashSet<TenantId>) {
        if let Ok(mut current) = self.paused.lock() {
            *current = paused;
        }
    }

    /// Admits a request of a tenant, or says why not: paused, or over its quota.
    pub fn admit(&self, tenant: TenantId, class: Class) -> Result<(), Refusal> {
        if self.paused.lock().is_ok_and(|p| p.contains(&tenant)) {
            return Err(Refusal::Paused);
        }
        self.check(tenant, class).map_err(Refusal::OverQuota)
    }

    /// Takes one request from the tenant's budget; `Err` says how long until it would pass.
    pub fn check(&self, tenant: TenantId, class: Class) -> Result<(), Duration> {
        let quota = self.quota_of(tenant);
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let bucket = buckets.entry((tenant, class)).or_insert_with(|| Bucket {
            limiter: limiter(quota),
            quota,
            last_used: Instant::now(),
        });
        // A changed quota takes effect with a fresh bucket.
        if bucket.quota != quota {
            bucket.limiter = limiter(quota);
            bucket.quota = quota;
        }
        bucket.last_used = Instant::now();
        bucket
            .limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets the budgets of tenants idle for `idle`; returns how many were dropped.
    pub fn prune(&self, idle: Duration) -> usize {
        let Ok(mut buckets) = self.buckets.lock() else {
            return 0;
        };
        let before = buckets.len();
        buckets.retain(|_, bucket| bucket.last_used.elapsed() < idle);
        before - buckets.len()
    }

    /// How many budgets are held.
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota { per_second, burst }
    }

    #[test]
    fn a_tenant_over_its_burst_waits_and_others_do_not() {
        let limits = RateLimits::new(quota(1, 3));
        let (a, b) = (TenantId::new(), TenantId::new());
        for _ in 0..3 {
            assert!(limits.check(a, Class::Write).is_ok());
        }
        let wait = limits.check(a, Class::Write).err();
        assert!(wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_secs(1)));
        assert!(
            limits.check(a, Class::Read).is_ok(),
            "reads have their own budget"
        );
        assert!(
            limits.check(b, Class::Write).is_ok(),
            "another tenant is untouched"
        );
    }

    #[test]
    fn overrides_apply_and_idle_budgets_are_pruned() {
        let limits = RateLimits::new(quota(100, 100));
        let tenant = TenantId::new();
        limits.set_overrides(HashMap::from([(tenant, quota(1, 1))]));
        assert!(limits.check(tenant, Class::Write).is_ok());
        assert!(limits.check(tenant, Class::Write).is_err());
        assert_eq!(limits.len(), 1);
        assert_eq!(limits.prune(Duration::ZERO), 1);
        assert!(limits.is_empty());
    }
}
