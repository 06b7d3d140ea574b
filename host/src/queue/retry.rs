//! The retry schedule: exponential backoff with jitter, bounded by a maximum interval and a
//! maximum age, and `Retry-After` honoured within those bounds.

use std::time::Duration;

/// The longest `Retry-After` honoured; a receiver asking for more is tried again after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// When a webhook's failed deliveries are tried again, and when they are given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; it doubles with each further failure.
    pub initial_interval: Duration,
    /// The longest wait between two attempts.
    pub max_interval: Duration,
    /// How long after its events were accepted a delivery is given up and dead-lettered.
    pub max_age: Duration,
    /// Consecutive failures of a webhook (across its lanes) that open its circuit.
    pub open_circuit_after: u32,
    /// What a Lambda handler that threw means.
    pub function_errors: FunctionErrors,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(600),
            max_age: Duration::from_secs(24 * 3600),
            open_circuit_after: 5,
            function_errors: FunctionErrors::Retry,
        }
    }
}

/// What a Lambda `FunctionError` (the handler threw) means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionErrors {
    /// Like a receiver's HTTP 500: tried again.
    Retry,
    /// The handler refused the events: dead-lettered at once.
    DeadLetter,
}

impl RetryPolicy {
    /// The backoff after `failures` failed attempts (1 for the first), before jitter:
    /// `initial_interval × 2^(failures-1)`, at most `max_interval`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial_interval
            .saturating_mul(1 << doublings)
            .min(self.max_interval)
    }

    /// The wait before the next attempt: the backoff scaled by `jitter` (a number in [0, 1)
    /// spreading it over its upper half, so lanes that failed together do not retry together),
    /// and never sooner than the receiver's `Retry-After`, honoured up to [`MAX_RETRY_AFTER`].
    pub fn delay(&self, failures: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(failures);
        let jittered = backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        let asked = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
        jittered.max(asked)
    }
}

/// A number in [0, 1) for [`RetryPolicy::delay`].
pub fn jitter() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_from_the_initial_interval_up_to_the_maximum() {
        let waits: Vec<u64> = (1..=9).map(|n| policy().backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(policy().backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_spreads_the_wait_over_the_upper_half_of_the_backoff() {
        let p = policy();
        assert_eq!(p.delay(3, 0.0, None), Duration::from_secs(2));
        assert_eq!(p.delay(3, 0.5, None), Duration::from_secs(3));
        assert!(p.delay(3, 0.999, None) < Duration::from_secs(4));
        assert_eq!(p.delay(3, 7.0, None), Duration::from_secs(4), "clamped");
    }

    #[test]
    fn retry_after_is_a_floor_up_to_an_hour_whatever_the_maximum_interval() {
        let p = policy();
        let two = Some(Duration::from_secs(2));
        assert_eq!(p.delay(1, 0.0, two), Duration::from_secs(2), "never sooner");
        assert_eq!(
            p.delay(6, 0.0, two),
            Duration::from_secs(16),
            "backoff longer"
        );
        let ten_minutes = Some(Duration::from_secs(600));
        assert_eq!(
            p.delay(1, 0.0, ten_minutes),
            Duration::from_secs(600),
            "beyond max_interval"
        );
        let a_day = Some(Duration::from_secs(86_400));
        assert_eq!(p.delay(1, 0.0, a_day), MAX_RETRY_AFTER, "clamped");
    }
}
