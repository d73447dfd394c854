//! What `/metrics` reports, in the Prometheus/OpenMetrics text format: SCIM requests by tenant,
//! resource, method and status with latency histograms, 429s, IdP normalisations fired, and
//! reconciliation runs, operations, failures and provisioning lag by target. A leaf: the API
//! and the reconciler record into it, the admin listener renders it.
//!
//! Tenants are labelled by id (stable, and not guessable from a tenant's name in a URL).

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    resource: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    resource: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NormalisationLabels {
    tenant: String,
    normalisation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    tenant: String,
    target: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    tenant: String,
    target: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    tenant: String,
    target: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_buckets() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn lag_buckets() -> Histogram {
    // 100 ms to about 1.8 h.
    Histogram::new(exponential_buckets(0.1, 2.0, 17))
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<LatencyLabels>,
    rate_limited: Family<TenantLabels, Counter>,
    normalisations: Family<NormalisationLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    operations: Family<OperationLabels, Counter>,
    failures: Family<TargetLabels, Counter>,
    lag: Histograms<TargetLabels>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dirsync");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histograms::<LatencyLabels>::new_with_constructor(request_buckets);
        let rate_limited = Family::<TenantLabels, Counter>::default();
        let normalisations = Family::<NormalisationLabels, Counter>::default();
        let runs = Family::<RunLabels, Counter>::default();
        let operations = Family::<OperationLabels, Counter>::default();
        let failures = Family::<TargetLabels, Counter>::default();
        let lag = Histograms::<TargetLabels>::new_with_constructor(lag_buckets);
        registry.register(
            "scim_requests",
            "SCIM requests by tenant, resource, method and status",
            requests.clone(),
        );
        registry.register(
            "scim_request_duration_seconds",
            "SCIM request latency",
            latency.clone(),
        );
        registry.register(
            "scim_rate_limited",
            "SCIM requests refused with 429",
            rate_limited.clone(),
        );
        registry.register(
            "normalisations",
            "IdP dialect normalisations applied",
            normalisations.clone(),
        );
        registry.register(
            "reconcile_runs",
            "reconciliation runs by outcome",
            runs.clone(),
        );
        registry.register(
            "reconcile_operations",
            "operations applied to targets",
            operations.clone(),
        );
        registry.register(
            "reconcile_failures",
            "operations that failed",
            failures.clone(),
        );
        registry.register(
            "provisioning_lag_seconds",
            "time from a SCIM change to the run that applied it",
            lag.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            rate_limited,
            normalisations,
            runs,
            operations,
            failures,
            lag,
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// One SCIM request. `tenant` is empty before authentication.
    pub fn request(&self, tenant: &str, resource: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                tenant: tenant.to_owned(),
                resource: resource.to_owned(),
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                resource: resource.to_owned(),
                method: method.to_owned(),
            })
            .observe(seconds);
        if status == 429 {
            self.rate_limited
                .get_or_create(&TenantLabels {
                    tenant: tenant.to_owned(),
                })
                .inc();
        }
    }

    /// A normalisation a tenant's request needed.
    pub fn normalised(&self, tenant: &str, normalisation: &str) {
        self.normalisations
            .get_or_create(&NormalisationLabels {
                tenant: tenant.to_owned(),
                normalisation: normalisation.to_owned(),
            })
            .inc();
    }

    /// A finished run: its outcome, applied operations, failures and, for an applied run, the
    /// provisioning lag of the newest change it carried.
    pub fn run(
        &self,
        tenant: &str,
        target: &str,
        outcome: &str,
        applied: &BTreeMap<&'static str, usize>,
        failures: usize,
        lag_seconds: Option<f64>,
    ) {
        self.runs
            .get_or_create(&RunLabels {
                tenant: tenant.to_owned(),
                target: target.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        for (operation, count) in applied {
            self.operations
                .get_or_create(&OperationLabels {
                    tenant: tenant.to_owned(),
                    target: target.to_owned(),
                    operation: (*operation).to_owned(),
                })
                .inc_by(*count as u64);
        }
        let labels = TargetLabels {
            tenant: tenant.to_owned(),
            target: target.to_owned(),
        };
        if failures > 0 {
            self.failures.get_or_create(&labels).inc_by(failures as u64);
        }
        if let Some(lag) = lag_seconds {
            self.lag.get_or_create(&labels).observe(lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.request("t1", "users", "POST", 201, 0.004);
        metrics.request("t1", "users", "POST", 429, 0.001);
        metrics.normalised("t1", "string_booleans");
        metrics.run(
            "t1",
            "ldap",
            "applied",
            &BTreeMap::from([("create_user", 3)]),
            0,
            Some(1.5),
        );
        let text = metrics.render();
        for line in [
            r#"dirsync_scim_requests_total{tenant="t1",resource="users",method="POST",status="201"} 1"#,
            r#"dirsync_scim_rate_limited_total{tenant="t1"} 1"#,
            r#"dirsync_normalisations_total{tenant="t1",normalisation="string_booleans"} 1"#,
            r#"dirsync_reconcile_operations_total{tenant="t1",target="ldap",operation="create_user"} 3"#,
            r#"dirsync_provisioning_lag_seconds_count{tenant="t1",target="ldap"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
