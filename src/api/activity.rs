//! Each tenant's SCIM requests and 429s per minute over the last hour, in memory: what the
//! status summary reports ("requests and 429s in the last hour").

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::domain::TenantId;

/// Minutes kept.
const WINDOW: i64 = 60;

#[derive(Debug, Clone, Copy)]
struct Minute {
    at: i64,
    requests: u64,
    limited: u64,
}

/// Per-tenant, per-minute request counts.
#[derive(Debug, Default)]
pub struct Activity(Mutex<HashMap<TenantId, VecDeque<Minute>>>);

impl Activity {
    /// Counts one request of the tenant at `now`.
    pub fn record(&self, tenant: TenantId, now: DateTime<Utc>, limited: bool) {
        let minute = now.timestamp() / 60;
        let Ok(mut all) = self.0.lock() else { return };
        let minutes = all.entry(tenant).or_default();
        match minutes.back_mut() {
            Some(last) if last.at == minute => {
                last.requests += 1;
                last.limited += u64::from(limited);
            }
            _ => minutes.push_back(Minute {
                at: minute,
                requests: 1,
                limited: u64::from(limited),
            }),
        }
        while minutes.front().is_some_and(|m| m.at <= minute - WINDOW) {
            minutes.pop_front();
        }
    }

    /// Requests of every tenant per minute over the hour before `now`, oldest minute first.
    pub fn per_minute(&self, now: DateTime<Utc>) -> Vec<u64> {
        let minute = now.timestamp() / 60;
        let mut series = vec![0; WINDOW as usize];
        if let Ok(all) = self.0.lock() {
            for m in all.values().flatten() {
                let age = minute - m.at;
                if (0..WINDOW).contains(&age) {
                    series[(WINDOW - 1 - age) as usize] += m.requests;
                }
            }
        }
        series
    }

    /// Requests and 429s of the tenant in the hour before `now`.
    pub fn last_hour(&self, tenant: TenantId, now: DateTime<Utc>) -> (u64, u64) {
        let minute = now.timestamp() / 60;
        let Ok(all) = self.0.lock() else {
            return (0, 0);
        };
        all.get(&tenant)
            .map(|minutes| {
                minutes
                    .iter()
                    .filter(|m| m.at > minute - WINDOW)
                    .fold((0, 0), |(r, l), m| (r + m.requests, l + m.limited))
            })
            .unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_hour_counts() {
        let activity = Activity::default();
        let tenant = TenantId::new();
        let start = DateTime::UNIX_EPOCH + chrono::Duration::days(1);
        activity.record(tenant, start, false);
        activity.record(tenant, start + chrono::Duration::minutes(30), true);
        assert_eq!(
            activity.last_hour(tenant, start + chrono::Duration::minutes(31)),
            (2, 1)
        );
        assert_eq!(
            activity.last_hour(tenant, start + chrono::Duration::minutes(70)),
            (1, 1)
        );
        assert_eq!(activity.last_hour(TenantId::new(), start), (0, 0));
    }
}
