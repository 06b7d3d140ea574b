//! From an accepted batch to deliveries: route (filters off the reactor), build one signed
//! payload per webhook, and send each under the webhook's concurrency limit.

use std::sync::Arc;

use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::deliver::{self, Deliverer};
use crate::event::Event;
use crate::metrics::{Metrics, add, inc};
use crate::route::{AppPlan, Routed};

/// Runs routing and delivery tasks; every task it starts is tracked so shutdown can wait for
/// work in flight.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    deliverer: Deliverer,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
}

impl Dispatcher {
    pub fn new(deliverer: Deliverer, metrics: Arc<Metrics>) -> Self {
        Self {
            deliverer,
            metrics,
            tasks: TaskTracker::new(),
        }
    }

    /// The tracker of every routing and delivery task.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Routes and delivers `events` of the app in the background, on the plan given (the
    /// snapshot the batch was accepted under).
    pub fn dispatch(&self, plan: Arc<AppPlan>, events: Vec<Event>) {
        let this = self.clone();
        let span = tracing::info_span!("dispatch", app = %plan.app.id, events = events.len());
        self.tasks
            .spawn(async move { this.route_and_deliver(plan, events).await }.instrument(span));
    }

    async fn route_and_deliver(&self, plan: Arc<AppPlan>, events: Vec<Event>) {
        let routed = if plan.has_filters() {
            // Filter calls may run up to their deadline: keep them off the reactor threads.
            let plan = plan.clone();
            match tokio::task::spawn_blocking(move || plan.route(&events)).await {
                Ok(routed) => routed,
                Err(e) => {
                    tracing::error!(error = %e, "routing task failed");
                    return;
                }
            }
        } else {
            plan.route(&events)
        };
        for Routed { webhook, outcome } in routed {
            let route = &plan.webhooks[webhook];
            if !outcome.dead_lettered.is_empty() {
                add(
                    &self.metrics.events_dead_lettered,
                    outcome.dead_lettered.len() as u64,
                );
                for event in &outcome.dead_lettered {
                    let mut json = Vec::new();
                    event.write_json(&mut json);
                    tracing::warn!(
                        webhook = %route.webhook.id,
                        event = %String::from_utf8_lossy(&json),
                        "event dead-lettered by a failing filter"
                    );
                }
            }
            add(&self.metrics.filter_failures, outcome.failures.len() as u64);
            if outcome.delivered.is_empty() {
                continue;
            }
            let payload = deliver::build(
                &outcome.delivered,
                deliver::now_ms(),
                plan.app.secret.expose(),
            );
            self.spawn_delivery(plan.clone(), webhook, payload);
        }
    }

    fn spawn_delivery(&self, plan: Arc<AppPlan>, webhook: usize, payload: deliver::SignedPayload) {
        let this = self.clone();
        let span = tracing::info_span!("deliver", webhook = %plan.webhooks[webhook].webhook.id);
        self.tasks.spawn(
            async move {
                let route = &plan.webhooks[webhook];
                // The semaphore is never closed, so acquiring only waits.
                let _permit = route.in_flight.clone().acquire_owned().await;
                match this
                    .deliverer
                    .deliver(&plan.app, &route.webhook, &payload)
                    .await
                {
                    Ok(()) => {
                        inc(&this.metrics.deliveries_succeeded);
                        add(&this.metrics.events_delivered, payload.event_count as u64);
                        tracing::debug!(events = payload.event_count, "delivered");
                    }
                    Err(e) => {
                        inc(&this.metrics.deliveries_failed);
                        tracing::warn!(
                            app = %plan.app.id,
                            target = %route.webhook.target.describe(),
                            events = payload.event_count,
                            reason = %e,
                            "delivery failed"
                        );
                    }
                }
            }
            .instrument(span),
        );
    }
}
