//! How often each tenant's requests needed each normalisation, since the process started: what
//! an operator reads to see what an IdP really sends (admin API
//! `GET /v1/tenants/{name}/normalisations`).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{Normalisation, TenantId};

/// Counters per tenant and normalisation.
#[derive(Debug, Default)]
pub struct NormalisationCounts(Mutex<HashMap<(TenantId, Normalisation), u64>>);

impl NormalisationCounts {
    /// Counts one request that needed these normalisations.
    pub fn record(&self, tenant: TenantId, fired: &[Normalisation]) {
        if fired.is_empty() {
            return;
        }
        if let Ok(mut counts) = self.0.lock() {
            for normalisation in fired {
                *counts.entry((tenant, *normalisation)).or_default() += 1;
            }
        }
    }

    /// How many requests of the tenant needed the normalisation.
    pub fn count(&self, tenant: TenantId, normalisation: Normalisation) -> u64 {
        self.0
            .lock()
            .map(|counts| counts.get(&(tenant, normalisation)).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}
