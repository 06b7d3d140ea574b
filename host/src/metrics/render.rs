//! `/metrics`: every family, in the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::exposition::Exposition;
use super::{IngestOutcome, Metrics, WebhookStats};
use crate::deliver::WebhookStatus;

/// What the gateway is running, besides the counters.
#[derive(Debug)]
pub struct GatewayState<'a> {
    pub webhooks: &'a [WebhookStatus],
    pub queue_bytes: u64,
    pub queue_max_bytes: u64,
    /// The running config's content hash, and when it was loaded.
    pub config: Option<(&'a str, SystemTime)>,
    pub filters: Vec<FilterVersion>,
}

/// A filter of a webhook's chain and the module it runs.
#[derive(Debug)]
pub struct FilterVersion {
    pub app: String,
    pub webhook: String,
    pub filter: String,
    pub module_hash: String,
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Metrics {
    /// Prometheus text exposition format.
    pub fn render(&self, state: &GatewayState) -> String {
        let mut out = Exposition::default();
        self.write_ingest(&mut out);
        self.write_routing(&mut out);
        write_deliveries(&mut out, state.webhooks);
        self.write_state(&mut out, state);
        super::process::write(&mut out);
        out.into_text()
    }

    fn write_ingest(&self, out: &mut Exposition) {
        let apps = self.ingest.entries();
        for (name, help, events) in [
            (
                "switchyard_ingest_requests_total",
                "Webhook batches received, by app (empty: the key named no app) and outcome.",
                false,
            ),
            (
                "switchyard_ingest_events_total",
                "Events in webhook batches that parsed, by app and outcome.",
                true,
            ),
        ] {
            out.family(name, "counter", help);
            for (app, stats) in &apps {
                for outcome in IngestOutcome::ALL {
                    let counter = match events {
                        true => &stats.events[outcome as usize],
                        false => &stats.requests[outcome as usize],
                    };
                    let labels = [("app", app.as_str()), ("outcome", outcome.as_str())];
                    out.sample(name, &labels, get(counter));
                }
            }
        }
        let name = "switchyard_ingest_duration_seconds";
        out.family(
            name,
            "histogram",
            "Time to answer an ingest request (durably stored, or refused).",
        );
        self.ingest_seconds.0.write(out, name, &[]);
    }

    fn write_routing(&self, out: &mut Exposition) {
        let routes = self.routes.entries();
        let name = "switchyard_events_routed_total";
        out.family(
            name,
            "counter",
            "Events queued for a webhook, after its filters.",
        );
        for ((app, webhook), stats) in &routes {
            out.sample(
                name,
                &[("app", app), ("webhook", webhook)],
                get(&stats.routed),
            );
        }
        let name = "switchyard_events_dropped_total";
        out.family(
            name,
            "counter",
            "Events of an app's batches a webhook did not get, by reason: not one of its event_types, its channel filter, or a filter (named) answering drop.",
        );
        for ((app, webhook), stats) in &routes {
            for (reason, counter) in [
                ("event_type", &stats.dropped_event_type),
                ("channel_filter", &stats.dropped_channel),
            ] {
                let labels = [
                    ("app", app.as_str()),
                    ("webhook", webhook),
                    ("reason", reason),
                ];
                out.sample(name, &labels, get(counter));
            }
        }
        let filters = self.filters.entries();
        for ((app, webhook, filter), stats) in &filters {
            let labels = [
                ("app", app.as_str()),
                ("webhook", webhook),
                ("reason", "filter"),
                ("filter", filter),
            ];
            out.sample(name, &labels, get(&stats.dropped));
        }
        let name = "switchyard_filter_dead_letters_total";
        out.family(
            name,
            "counter",
            "Events a failing filter with on_error = dead_letter set aside, per webhook.",
        );
        for ((app, webhook), stats) in &routes {
            let labels = [("app", app.as_str()), ("webhook", webhook)];
            out.sample(name, &labels, get(&stats.dead_lettered_by_filter));
        }
        for (name, help, failures) in [
            (
                "switchyard_filter_calls_total",
                "Filter calls, per filter of each webhook's chain.",
                false,
            ),
            (
                "switchyard_filter_failures_total",
                "Filter calls that trapped, timed out, ran out of memory or answered malformed verdicts.",
                true,
            ),
        ] {
            out.family(name, "counter", help);
            for ((app, webhook, filter), stats) in &filters {
                let labels = [
                    ("app", app.as_str()),
                    ("webhook", webhook),
                    ("filter", filter),
                ];
                let counter = if failures {
                    &stats.failures
                } else {
                    &stats.calls
                };
                out.sample(name, &labels, get(counter));
            }
        }
        let name = "switchyard_filter_call_duration_seconds";
        out.family(name, "histogram", "Time of one filter call, per filter.");
        for ((app, webhook, filter), stats) in &filters {
            let labels = [
                ("app", app.as_str()),
                ("webhook", webhook),
                ("filter", filter),
            ];
            stats.call_seconds.write(out, name, &labels);
        }
    }

    fn write_state(&self, out: &mut Exposition, state: &GatewayState) {
        let name = "switchyard_reloads_total";
        out.family(name, "counter", "Config reloads, by outcome.");
        let succeeded = get(&self.reloads_succeeded);
        out.sample(name, &[("outcome", "succeeded")], succeeded);
        out.sample(name, &[("outcome", "failed")], get(&self.reloads_failed));
        if let Some((hash, loaded_at)) = state.config {
            let name = "switchyard_config_info";
            out.family(
                name,
                "gauge",
                "The running config: its content hash (SHA-256 of the file).",
            );
            out.sample(name, &[("hash", hash)], 1);
            let name = "switchyard_config_loaded_timestamp_seconds";
            out.family(
                name,
                "gauge",
                "When the running config was loaded, since the Unix epoch.",
            );
            let at = loaded_at.duration_since(UNIX_EPOCH).unwrap_or_default();
            out.sample(name, &[], at.as_secs_f64());
        }
        let name = "switchyard_filter_info";
        out.family(
            name,
            "gauge",
            "The module (SHA-256) each filter of each webhook's chain runs.",
        );
        for f in &state.filters {
            let labels = [
                ("app", f.app.as_str()),
                ("webhook", &f.webhook),
                ("filter", &f.filter),
                ("module", &f.module_hash),
            ];
            out.sample(name, &labels, 1);
        }
        let name = "switchyard_build_info";
        out.family(name, "gauge", "The running switchyard's version.");
        out.sample(name, &[("version", env!("CARGO_PKG_VERSION"))], 1);
        let name = "switchyard_queue_bytes";
        out.family(
            name,
            "gauge",
            "Bytes of waiting jobs and dead letters in the store.",
        );
        out.sample(name, &[], state.queue_bytes);
        let name = "switchyard_queue_max_bytes";
        out.family(
            name,
            "gauge",
            "The store's bound ([queue] max_bytes); past it ingest answers 503.",
        );
        out.sample(name, &[], state.queue_max_bytes);
    }
}

fn labels(w: &WebhookStatus) -> [(&'static str, &str); 2] {
    [
        ("app", &*w.webhook.app_id),
        ("webhook", &*w.webhook.webhook_id),
    ]
}

fn write_deliveries(out: &mut Exposition, webhooks: &[WebhookStatus]) {
    let name = "switchyard_deliveries_total";
    out.family(
        name,
        "counter",
        "Deliveries by outcome: delivered, or dead_lettered (rejected, or out of time).",
    );
    for w in webhooks {
        for (outcome, n) in [
            ("delivered", w.stats.deliveries_succeeded()),
            ("dead_lettered", get(&w.stats.gave_up)),
        ] {
            let [app, webhook] = labels(w);
            out.sample(name, &[app, webhook, ("outcome", outcome)], n);
        }
    }
    let name = "switchyard_delivery_attempts_total";
    out.family(name, "counter", "Delivery attempts, by outcome.");
    for w in webhooks {
        let succeeded = w.stats.deliveries_succeeded();
        for (outcome, n) in [
            ("succeeded", succeeded),
            ("failed", get(&w.stats.attempts_failed)),
        ] {
            let [app, webhook] = labels(w);
            out.sample(name, &[app, webhook, ("outcome", outcome)], n);
        }
    }
    type Figure = fn(&WebhookStatus) -> String;
    let families: [(&str, &str, &str, Figure); 6] = [
        (
            "switchyard_delivery_retries_total",
            "counter",
            "Delivery attempts after the first, per webhook.",
            |w| get(&w.stats.retries).to_string(),
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
            "Dead letters made since start, per webhook (any reason).",
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
        (
            "switchyard_circuit_open",
            "gauge",
            "1 while a webhook's circuit breaker is open (lanes paused, one probe per interval).",
            |w| u8::from(w.circuit_open).to_string(),
        ),
    ];
    for (name, kind, help, figure) in families {
        out.family(name, kind, help);
        for w in webhooks {
            out.sample(name, &labels(w), figure(w));
        }
    }
    for (name, help, stats_histogram) in [
        (
            "switchyard_delivery_attempt_duration_seconds",
            "Time of one delivery attempt, from sending to the answer or the error.",
            (|s| &s.attempt_seconds) as fn(&WebhookStats) -> &super::Histogram,
        ),
        (
            "switchyard_delivery_events",
            "Events per successful delivery.",
            |s| &s.delivery_events,
        ),
        (
            "switchyard_delivery_wait_seconds",
            "From a delivery's oldest event being accepted to its successful delivery (retries included).",
            |s| &s.delivery_wait,
        ),
    ] {
        out.family(name, "histogram", help);
        for w in webhooks {
            stats_histogram(&w.stats).write(out, name, &labels(w));
        }
    }
    let lambda: Vec<&WebhookStatus> = webhooks
        .iter()
        .filter(|w| w.stats.lambda.load(Ordering::Relaxed))
        .collect();
    for (name, help, errors) in [
        (
            "switchyard_lambda_invocations_total",
            "Lambda invocations, per webhook with a Lambda target.",
            false,
        ),
        (
            "switchyard_lambda_function_errors_total",
            "Lambda invocations whose function ran and failed (X-Amz-Function-Error).",
            true,
        ),
    ] {
        out.family(name, "counter", help);
        for w in &lambda {
            let counter = match errors {
                true => &w.stats.lambda_function_errors,
                false => &w.stats.lambda_invocations,
            };
            out.sample(name, &labels(w), get(counter));
        }
    }
}
