//! The load driver: runs one request per item with a fixed number in flight, and sums up
//! throughput and latency the way the README's table shows them.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub requests: usize,
    pub concurrency: usize,
    pub elapsed: Duration,
    /// Sorted, one per request.
    pub latencies: Vec<Duration>,
    pub errors: usize,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which this fraction of requests finished.
    pub fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

/// Sends `count` requests, `concurrency` at a time; `request(i)` says whether request i succeeded.
pub async fn drive<F, Fut>(count: usize, concurrency: usize, request: F) -> Figures
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = futures_util::stream::iter(0..count)
        .map(|i| {
            let sent = request(i);
            async move {
                let begun = Instant::now();
                let ok = sent.await;
                (begun.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let errors = results.iter().filter(|(_, ok)| !ok).count();
    let mut latencies: Vec<Duration> = results.into_iter().map(|(d, _)| d).collect();
    latencies.sort_unstable();
    Figures {
        requests: count,
        concurrency,
        elapsed,
        latencies,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_driver_counts_failures_and_orders_latencies() {
        let figures = drive(10, 3, |i| async move {
            tokio::time::sleep(Duration::from_millis(i as u64)).await;
            i % 4 != 0
        })
        .await;
        assert_eq!((figures.requests, figures.errors), (10, 3));
        assert!(figures.percentile(0.0) <= figures.percentile(0.5));
        assert!(figures.percentile(0.5) <= figures.percentile(1.0));
        assert!(figures.percentile(1.0) >= Duration::from_millis(9));
    }
}
