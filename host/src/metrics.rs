//! Process counters, exposed as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters every stage increments. Shared by `Arc`; relaxed atomics are enough for counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub ingest_accepted: AtomicU64,
    pub ingest_unauthorized: AtomicU64,
    pub ingest_malformed: AtomicU64,
    pub ingest_too_large: AtomicU64,
    pub ingest_wrong_content_type: AtomicU64,
    pub events_received: AtomicU64,
    pub deliveries_succeeded: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub events_delivered: AtomicU64,
    pub events_dead_lettered: AtomicU64,
    pub filter_failures: AtomicU64,
    pub reloads_succeeded: AtomicU64,
    pub reloads_failed: AtomicU64,
}

/// Adds one to a counter.
pub fn inc(counter: &AtomicU64) {
    add(counter, 1);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut family = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            "switchyard_ingest_requests_total",
            "Webhook batches received, by outcome.",
            &[
                ("{outcome=\"accepted\"}", get(&self.ingest_accepted)),
                ("{outcome=\"unauthorized\"}", get(&self.ingest_unauthorized)),
                ("{outcome=\"malformed\"}", get(&self.ingest_malformed)),
                ("{outcome=\"too_large\"}", get(&self.ingest_too_large)),
                (
                    "{outcome=\"wrong_content_type\"}",
                    get(&self.ingest_wrong_content_type),
                ),
            ],
        );
        family(
            "switchyard_events_received_total",
            "Events in accepted batches.",
            &[("", get(&self.events_received))],
        );
        family(
            "switchyard_deliveries_total",
            "Payloads sent to webhooks, by outcome.",
            &[
                ("{outcome=\"succeeded\"}", get(&self.deliveries_succeeded)),
                ("{outcome=\"failed\"}", get(&self.deliveries_failed)),
            ],
        );
        family(
            "switchyard_events_delivered_total",
            "Events in successful deliveries.",
            &[("", get(&self.events_delivered))],
        );
        family(
            "switchyard_events_dead_lettered_total",
            "Events set aside by a failing filter with on_error = dead_letter.",
            &[("", get(&self.events_dead_lettered))],
        );
        family(
            "switchyard_filter_failures_total",
            "Filter calls that trapped, timed out or ran out of memory.",
            &[("", get(&self.filter_failures))],
        );
        family(
            "switchyard_reloads_total",
            "Config reloads, by outcome.",
            &[
                ("{outcome=\"succeeded\"}", get(&self.reloads_succeeded)),
                ("{outcome=\"failed\"}", get(&self.reloads_failed)),
            ],
        );
        out
    }
}
