//! A Prometheus histogram over fixed buckets; lock-free.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::exposition::Exposition;
use super::{add, inc};

/// Buckets for latencies in seconds: 0.1 ms to 10 s.
pub const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// Buckets for how long events wait for delivery: 1 ms to a day (retries take hours).
pub const WAIT_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0,
    86400.0,
];

/// Buckets for counts of events (per delivery).
pub const EVENTS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, ascending.
    bounds: &'static [f64],
    /// One count per bound (observations at or under it, not cumulative), then the rest.
    counts: Vec<AtomicU64>,
    /// The sum of observations, in millionths (microseconds for seconds).
    sum_millionths: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_millionths: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|b| *b < value);
        inc(&self.counts[bucket]);
        add(&self.sum_millionths, (value * 1e6) as u64);
    }

    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The mean observation, if any.
    pub fn mean(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6 / count as f64)
    }

    /// The bucket bound under which a `q` share of observations fall (`None` when there are
    /// none, or when they fall past the last bound).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let count = self.count();
        let wanted = (count as f64 * q).ceil() as u64;
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.counts) {
            cumulative += bucket.load(Ordering::Relaxed);
            if count > 0 && cumulative >= wanted {
                return Some(*bound);
            }
        }
        None
    }

    pub(super) fn write(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_owned(), |b| b.to_string());
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            out.sample(&format!("{name}_bucket"), &with_le, cumulative);
        }
        let sum = self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6;
        out.sample(&format!("{name}_sum"), labels, sum);
        out.sample(&format!("{name}_count"), labels, cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_and_a_quantiles_bucket_bound() {
        let histogram = Histogram::new(SECONDS);
        assert_eq!(histogram.mean(), None);
        for _ in 0..98 {
            histogram.observe(0.0002);
        }
        histogram.observe(0.02);
        histogram.observe(0.02);
        assert!((histogram.mean().unwrap() - 0.000596).abs() < 1e-9);
        assert_eq!(histogram.quantile_bound(0.5), Some(0.00025));
        assert_eq!(histogram.quantile_bound(0.99), Some(0.025));
    }

    #[test]
    fn buckets_are_cumulative_and_the_sum_is_in_base_units() {
        let h = Histogram::new(&[1.0, 5.0]);
        for v in [0.5, 1.0, 3.0, 7.0] {
            h.observe(v);
        }
        let mut out = Exposition::default();
        h.write(&mut out, "x", &[("a", "b")]);
        assert_eq!(
            out.into_text(),
            "x_bucket{a=\"b\",le=\"1\"} 2\nx_bucket{a=\"b\",le=\"5\"} 3\nx_bucket{a=\"b\",le=\"+Inf\"} 4\nx_sum{a=\"b\"} 11.5\nx_count{a=\"b\"} 4\n"
        );
        assert_eq!(h.count(), 4);
    }
}
