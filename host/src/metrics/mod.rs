//! What every stage counts, exposed as Prometheus text at `/metrics`.
//!
//! Stages hold `Arc`s to the counters of what they serve (an app, a webhook, a filter) and
//! bump relaxed atomics; nothing on the event path takes a lock. Counters are kept by name
//! across reloads, so a reload that keeps a webhook keeps its counts. Labels are app, webhook
//! and filter ids from the config (bounded), never channel names.

mod exposition;
mod histogram;
mod process;
mod render;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use histogram::Histogram;
pub use render::{FilterVersion, GatewayState};

/// Counters by key, created on first use and kept for the life of the process.
#[derive(Debug)]
pub struct Family<K, V>(Mutex<BTreeMap<K, Arc<V>>>);

impl<K, V> Default for Family<K, V> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: Ord + Clone, V: Default> Family<K, V> {
    /// The counters of `key`.
    pub fn get(&self, key: &K) -> Arc<V> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = map.get(key) {
            return v.clone();
        }
        map.entry(key.clone()).or_default().clone()
    }

    fn entries(&self) -> Vec<(K, Arc<V>)> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// An (app id, webhook id) pair, as labels.
pub type WebhookLabels = (String, String);
/// An (app id, webhook id, filter name) triple, as labels.
pub type FilterLabels = (String, String, String);

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Ingest requests and their events, by app id ("" when the key named no app).
    pub ingest: Family<String, IngestStats>,
    /// What routing did with each webhook's events.
    pub routes: Family<WebhookLabels, RouteStats>,
    /// Each filter's calls, per webhook chain it is in.
    pub filters: Family<FilterLabels, FilterStats>,
    pub reloads_succeeded: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// From an ingest request's handler taking it to its answer, whatever the answer.
    pub ingest_seconds: IngestSeconds,
}

/// The ingest duration histogram (a newtype for its `Default`).
#[derive(Debug)]
pub struct IngestSeconds(pub Histogram);

impl Default for IngestSeconds {
    fn default() -> Self {
        Self(Histogram::new(histogram::SECONDS))
    }
}

/// How an ingest request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Accepted,
    Duplicate,
    Unauthorized,
    Malformed,
    Unreadable,
    TooLarge,
    WrongContentType,
    QueueFull,
    Busy,
    Unavailable,
}

impl IngestOutcome {
    pub const ALL: [Self; 10] = [
        Self::Accepted,
        Self::Duplicate,
        Self::Unauthorized,
        Self::Malformed,
        Self::Unreadable,
        Self::TooLarge,
        Self::WrongContentType,
        Self::QueueFull,
        Self::Busy,
        Self::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Unauthorized => "unauthorized",
            Self::Malformed => "malformed",
            Self::Unreadable => "unreadable",
            Self::TooLarge => "too_large",
            Self::WrongContentType => "wrong_content_type",
            Self::QueueFull => "queue_full",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One app's ingest requests and events, by outcome (events count only once the batch was
/// parsed).
#[derive(Debug, Default)]
pub struct IngestStats {
    requests: [AtomicU64; IngestOutcome::ALL.len()],
    events: [AtomicU64; IngestOutcome::ALL.len()],
}

impl IngestStats {
    pub fn record(&self, outcome: IngestOutcome, events: usize) {
        inc(&self.requests[outcome as usize]);
        add(&self.events[outcome as usize], events as u64);
    }
}

/// One webhook's routing: events queued for it, and those it did not take before filters.
#[derive(Debug, Default)]
pub struct RouteStats {
    pub routed: AtomicU64,
    pub dropped_event_type: AtomicU64,
    pub dropped_channel: AtomicU64,
    /// Events a failing filter with `on_error = "dead_letter"` set aside.
    pub dead_lettered_by_filter: AtomicU64,
}

/// One filter in one webhook's chain.
#[derive(Debug)]
pub struct FilterStats {
    pub calls: AtomicU64,
    /// Calls that trapped, timed out, ran out of memory or answered malformed verdicts.
    pub failures: AtomicU64,
    /// Events the filter answered `drop` for.
    pub dropped: AtomicU64,
    pub call_seconds: Histogram,
}

impl Default for FilterStats {
    fn default() -> Self {
        Self {
            calls: AtomicU64::default(),
            failures: AtomicU64::default(),
            dropped: AtomicU64::default(),
            call_seconds: Histogram::new(histogram::SECONDS),
        }
    }
}

/// One webhook's deliveries, kept across reloads.
#[derive(Debug)]
pub struct WebhookStats {
    deliveries_succeeded: AtomicU64,
    attempts_failed: AtomicU64,
    retries: AtomicU64,
    events_delivered: AtomicU64,
    /// Deliveries given up on (rejected, or out of time): they became dead letters.
    gave_up: AtomicU64,
    /// Set once an attempt went to a Lambda function: its Lambda figures are shown.
    lambda: std::sync::atomic::AtomicBool,
    lambda_invocations: AtomicU64,
    lambda_function_errors: AtomicU64,
    /// Every attempt, from sending to the answer (or the error).
    attempt_seconds: Histogram,
    /// Events in each successful delivery.
    delivery_events: Histogram,
    /// From a delivery's oldest event being accepted to its successful delivery.
    delivery_wait: Histogram,
}

impl Default for WebhookStats {
    fn default() -> Self {
        Self {
            deliveries_succeeded: AtomicU64::default(),
            attempts_failed: AtomicU64::default(),
            retries: AtomicU64::default(),
            events_delivered: AtomicU64::default(),
            gave_up: AtomicU64::default(),
            lambda: std::sync::atomic::AtomicBool::default(),
            lambda_invocations: AtomicU64::default(),
            lambda_function_errors: AtomicU64::default(),
            attempt_seconds: Histogram::new(histogram::SECONDS),
            delivery_events: Histogram::new(histogram::EVENTS),
            delivery_wait: Histogram::new(histogram::WAIT_SECONDS),
        }
    }
}

impl WebhookStats {
    /// An attempt took `elapsed`, whatever its outcome.
    pub fn attempted(&self, elapsed: std::time::Duration) {
        self.attempt_seconds.observe_duration(elapsed);
    }

    /// A delivery of `events` succeeded, `waited` after its oldest event was accepted.
    pub fn delivered(&self, events: u32, waited: std::time::Duration) {
        inc(&self.deliveries_succeeded);
        add(&self.events_delivered, u64::from(events));
        self.delivery_events.observe(f64::from(events));
        self.delivery_wait.observe_duration(waited);
    }

    /// An attempt failed.
    pub fn failed(&self) {
        inc(&self.attempts_failed);
    }

    /// An attempt invoked a Lambda function; `function_error`: it ran and failed
    /// (`X-Amz-Function-Error`).
    pub fn lambda_invoked(&self, function_error: bool) {
        self.lambda.store(true, Ordering::Relaxed);
        inc(&self.lambda_invocations);
        if function_error {
            inc(&self.lambda_function_errors);
        }
    }

    /// A delivery was given up on and dead-lettered.
    pub fn gave_up(&self) {
        inc(&self.gave_up);
    }

    /// An attempt after the first was sent.
    pub fn retried(&self) {
        inc(&self.retries);
    }

    pub fn deliveries_succeeded(&self) -> u64 {
        self.deliveries_succeeded.load(Ordering::Relaxed)
    }

    pub fn events_delivered(&self) -> u64 {
        self.events_delivered.load(Ordering::Relaxed)
    }

    pub fn attempts_failed(&self) -> u64 {
        self.attempts_failed.load(Ordering::Relaxed)
    }
}

/// Adds one to a counter.
pub fn inc(counter: &AtomicU64) {
    add(counter, 1);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}
