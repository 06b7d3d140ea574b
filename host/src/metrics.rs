//! Process counters and per-webhook figures, exposed as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::deliver::WebhookStatus;

/// A Prometheus histogram of seconds over fixed buckets; lock-free.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, in seconds, ascending.
    bounds: &'static [f64],
    /// One count per bound (observations at or under it, not cumulative), then the rest.
    counts: Vec<AtomicU64>,
    /// The sum of observations, in microseconds.
    sum_micros: AtomicU64,
}

/// Buckets for request latencies: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = self.bounds.partition_point(|b| *b < seconds);
        inc(&self.counts[bucket]);
        add(&self.sum_micros, elapsed.as_micros() as u64);
    }

    fn write(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
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
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        out.sample(&format!("{name}_sum"), labels, sum);
        out.sample(&format!("{name}_count"), labels, cumulative);
    }
}

/// Counters every stage increments. Shared by `Arc`; relaxed atomics are enough for counters.
#[derive(Debug)]
pub struct Metrics {
    pub ingest_accepted: AtomicU64,
    pub ingest_duplicate: AtomicU64,
    pub ingest_unauthorized: AtomicU64,
    pub ingest_malformed: AtomicU64,
    pub ingest_unreadable: AtomicU64,
    pub ingest_too_large: AtomicU64,
    pub ingest_wrong_content_type: AtomicU64,
    pub ingest_queue_full: AtomicU64,
    pub ingest_busy: AtomicU64,
    pub ingest_unavailable: AtomicU64,
    pub events_received: AtomicU64,
    pub events_dead_lettered_by_filters: AtomicU64,
    pub filter_failures: AtomicU64,
    pub reloads_succeeded: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// From an ingest request's handler taking it to its answer, whatever the answer.
    pub ingest_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ingest_accepted: AtomicU64::default(),
            ingest_duplicate: AtomicU64::default(),
            ingest_unauthorized: AtomicU64::default(),
            ingest_malformed: AtomicU64::default(),
            ingest_unreadable: AtomicU64::default(),
            ingest_too_large: AtomicU64::default(),
            ingest_wrong_content_type: AtomicU64::default(),
            ingest_queue_full: AtomicU64::default(),
            ingest_busy: AtomicU64::default(),
            ingest_unavailable: AtomicU64::default(),
            events_received: AtomicU64::default(),
            events_dead_lettered_by_filters: AtomicU64::default(),
            filter_failures: AtomicU64::default(),
            reloads_succeeded: AtomicU64::default(),
            reloads_failed: AtomicU64::default(),
            ingest_seconds: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

/// One webhook's delivery counters, kept across reloads.
#[derive(Debug, Default)]
pub struct WebhookStats {
    deliveries_succeeded: AtomicU64,
    attempts_failed: AtomicU64,
    retries: AtomicU64,
    events_delivered: AtomicU64,
}

impl WebhookStats {
    /// A delivery of `events` succeeded.
    pub fn delivered(&self, events: u32) {
        inc(&self.deliveries_succeeded);
        add(&self.events_delivered, u64::from(events));
    }

    /// An attempt failed.
    pub fn failed(&self) {
        inc(&self.attempts_failed);
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
}

/// Adds one to a counter.
pub fn inc(counter: &AtomicU64) {
    add(counter, 1);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Writes Prometheus text families.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Prometheus text exposition format, with each webhook's figures and the queue's size.
    pub fn render(
        &self,
        webhooks: &[WebhookStatus],
        queue_bytes: u64,
        queue_max_bytes: u64,
    ) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = Exposition(String::new());
        let name = "switchyard_ingest_requests_total";
        out.family(name, "counter", "Webhook batches received, by outcome.");
        for (outcome, counter) in [
            ("accepted", &self.ingest_accepted),
            ("duplicate", &self.ingest_duplicate),
            ("unauthorized", &self.ingest_unauthorized),
            ("malformed", &self.ingest_malformed),
            ("unreadable", &self.ingest_unreadable),
            ("too_large", &self.ingest_too_large),
            ("wrong_content_type", &self.ingest_wrong_content_type),
            ("queue_full", &self.ingest_queue_full),
            ("busy", &self.ingest_busy),
            ("unavailable", &self.ingest_unavailable),
        ] {
            out.sample(name, &[("outcome", outcome)], get(counter));
        }
        for (name, help, counter) in [
            (
                "switchyard_events_received_total",
                "Events in accepted batches.",
                &self.events_received,
            ),
            (
                "switchyard_filter_dead_letters_total",
                "Events dead-lettered by a failing filter with on_error = dead_letter.",
                &self.events_dead_lettered_by_filters,
            ),
            (
                "switchyard_filter_failures_total",
                "Filter calls that trapped, timed out or ran out of memory.",
                &self.filter_failures,
            ),
        ] {
            out.family(name, "counter", help);
            out.sample(name, &[], get(counter));
        }
        let name = "switchyard_ingest_duration_seconds";
        out.family(
            name,
            "histogram",
            "Time to answer an ingest request (durably stored, or refused).",
        );
        self.ingest_seconds.write(&mut out, name, &[]);
        let name = "switchyard_reloads_total";
        out.family(name, "counter", "Config reloads, by outcome.");
        out.sample(
            name,
            &[("outcome", "succeeded")],
            get(&self.reloads_succeeded),
        );
        out.sample(name, &[("outcome", "failed")], get(&self.reloads_failed));

        let name = "switchyard_queue_bytes";
        out.family(
            name,
            "gauge",
            "Bytes of waiting jobs and dead letters in the store.",
        );
        out.sample(name, &[], queue_bytes);
        let name = "switchyard_queue_max_bytes";
        out.family(
            name,
            "gauge",
            "The store's bound ([queue] max_bytes); past it ingest answers 503.",
        );
        out.sample(name, &[], queue_max_bytes);
        render_webhooks(&mut out, webhooks);
        out.0
    }
}

fn render_webhooks(out: &mut Exposition, webhooks: &[WebhookStatus]) {
    type Figure = fn(&WebhookStatus) -> String;
    let families: [(&str, &str, &str, Figure); 7] = [
        (
            "switchyard_deliveries_total",
            "counter",
            "Deliveries that succeeded, per webhook.",
            |w| w.stats.deliveries_succeeded().to_string(),
        ),
        (
            "switchyard_delivery_failures_total",
            "counter",
            "Delivery attempts that failed, per webhook.",
            |w| w.stats.attempts_failed.load(Ordering::Relaxed).to_string(),
        ),
        (
            "switchyard_delivery_retries_total",
            "counter",
            "Delivery attempts after the first, per webhook.",
            |w| w.stats.retries.load(Ordering::Relaxed).to_string(),
        ),
        (
            "switchyard_events_delivered_total",
            "counter",
            "Events in successful deliveries, per webhook.",
            |w| w.stats.events_delivered().to_string(),
        ),
        (
            "switchyard_dead_letters_total",
            "counter",
            "Dead letters made since start, per webhook.",
            |w| w.dead_lettered.to_string(),
        ),
        (
            "switchyard_queue_events",
            "gauge",
            "Events waiting for delivery, per webhook.",
            |w| w.depth.to_string(),
        ),
        (
            "switchyard_queue_oldest_age_seconds",
            "gauge",
            "How long the oldest waiting event has waited, per webhook (0: none waits).",
            |w| w.oldest.unwrap_or_default().as_secs_f64().to_string(),
        ),
    ];
    for (name, kind, help, figure) in families {
        out.family(name, kind, help);
        for w in webhooks {
            let labels = [
                ("app", &*w.webhook.app_id),
                ("webhook", &*w.webhook.webhook_id),
            ];
            out.sample(name, &labels, figure(w));
        }
    }
    let name = "switchyard_circuit_open";
    out.family(
        name,
        "gauge",
        "1 while a webhook's circuit breaker is open (lanes paused, one probe per interval).",
    );
    for w in webhooks {
        let labels = [
            ("app", &*w.webhook.app_id),
            ("webhook", &*w.webhook.webhook_id),
        ];
        out.sample(name, &labels, u8::from(w.circuit_open));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }
}
