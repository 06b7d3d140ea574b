//! Each webhook's recent rates for the console: events delivered and failed attempts in each
//! of the last [`BUCKETS`] periods of [`STEP`], sampled from its counters.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::deliver::WebhookStatus;
use crate::gateway::Gateway;
use crate::queue::WebhookKey;

/// One bucket's length.
pub const STEP: Duration = Duration::from_secs(5);
/// Buckets kept: five minutes.
pub const BUCKETS: usize = 60;

/// One webhook's buckets, oldest first, and its counters at the last sample.
#[derive(Debug, Default)]
struct Series {
    delivered: VecDeque<u64>,
    failed: VecDeque<u64>,
    last: Option<(u64, u64)>,
}

/// Every webhook's series.
#[derive(Debug, Default)]
pub struct Rates(Mutex<HashMap<WebhookKey, Series>>);

impl Rates {
    /// Closes a bucket for every webhook running now.
    fn sample(&self, webhooks: &[WebhookStatus]) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|key, _| webhooks.iter().any(|w| &w.webhook == key));
        for webhook in webhooks {
            let now = (
                webhook.stats.events_delivered(),
                webhook.stats.attempts_failed(),
            );
            let series = all.entry(webhook.webhook.clone()).or_default();
            let (delivered, failed) = series.last.map_or((0, 0), |(d, f)| {
                (now.0.saturating_sub(d), now.1.saturating_sub(f))
            });
            series.last = Some(now);
            for (buckets, value) in [
                (&mut series.delivered, delivered),
                (&mut series.failed, failed),
            ] {
                if buckets.len() == BUCKETS {
                    buckets.pop_front();
                }
                buckets.push_back(value);
            }
        }
    }

    /// `webhook`'s buckets (delivered, failed), oldest first, padded with zeros to [`BUCKETS`].
    pub fn series(&self, webhook: &WebhookKey) -> (Vec<u64>, Vec<u64>) {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let padded = |buckets: Option<&VecDeque<u64>>| {
            let kept = buckets.map_or(0, VecDeque::len);
            let mut out = vec![0; BUCKETS - kept];
            out.extend(buckets.into_iter().flatten());
            out
        };
        let series = all.get(webhook);
        (
            padded(series.map(|s| &s.delivered)),
            padded(series.map(|s| &s.failed)),
        )
    }
}

/// Samples every [`STEP`] for as long as the gateway lives.
pub async fn sample_every_step(rates: std::sync::Arc<Rates>, gateway: Weak<Gateway>) {
    let mut ticks = tokio::time::interval(STEP);
    loop {
        ticks.tick().await;
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        rates.sample(&gateway.workers().status());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::WebhookStats;

    fn status(webhook: &WebhookKey, stats: &Arc<WebhookStats>) -> WebhookStatus {
        WebhookStatus {
            webhook: webhook.clone(),
            stats: stats.clone(),
            depth: 0,
            oldest: None,
            circuit_open: false,
            dead_lettered: 0,
            paused: None,
            history: Arc::default(),
        }
    }

    #[test]
    fn each_bucket_holds_what_happened_since_the_sample_before() {
        let rates = Rates::default();
        let key = WebhookKey::new("app-1", "hooks");
        let stats = Arc::new(WebhookStats::default());
        stats.delivered(5, Duration::ZERO);
        rates.sample(&[status(&key, &stats)]);
        stats.delivered(3, Duration::ZERO);
        stats.failed();
        rates.sample(&[status(&key, &stats)]);
        let (delivered, failed) = rates.series(&key);
        assert_eq!(delivered.len(), BUCKETS);
        // The first sample only sets where counting starts.
        assert_eq!(delivered[BUCKETS - 2..], [0, 3]);
        assert_eq!(failed[BUCKETS - 2..], [0, 1]);
        for _ in 0..BUCKETS {
            rates.sample(&[status(&key, &stats)]);
        }
        assert_eq!(
            rates.series(&key).0,
            vec![0; BUCKETS],
            "old buckets fall off"
        );
        rates.sample(&[]);
        let unknown = rates.series(&key);
        assert_eq!(unknown.0.len(), BUCKETS, "a webhook gone reads as zeros");
    }
}
