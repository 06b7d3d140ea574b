//! # Route: which events each webhook gets
//!
//! In: one batch of an app's events. Out: for each webhook of the app, in config order, the
//! events it should receive: those whose name is in its `event_types` and whose channel passes
//! its channel filter (prefix AND suffix), then through the app's and the webhook's WASM filter
//! chain (keep / drop / replace). A webhook left with no event gets nothing.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::{App, Webhook};
use crate::event::Event;
use crate::filter::{ChainOutcome, FilterChain, FilterContext};

/// Everything needed to route an app's events: the app and one route per webhook.
#[derive(Debug)]
pub struct AppPlan {
    pub app: App,
    pub webhooks: Vec<WebhookRoute>,
}

/// One webhook with its compiled filter chain and its delivery concurrency limit.
#[derive(Debug)]
pub struct WebhookRoute {
    pub webhook: Webhook,
    pub chain: FilterChain,
    pub context: FilterContext,
    /// Deliveries in flight for this webhook; one slow endpoint cannot starve the others.
    pub in_flight: Arc<Semaphore>,
}

/// The events routed to one webhook, as its filter chain left them.
#[derive(Debug)]
pub struct Routed {
    /// Index of the webhook in [`AppPlan::webhooks`].
    pub webhook: usize,
    pub outcome: ChainOutcome,
}

impl WebhookRoute {
    /// The events of `events` this webhook subscribes to, before filters.
    pub fn select(&self, events: &[Event]) -> Vec<Event> {
        events
            .iter()
            .filter(|e| {
                self.webhook.event_types.contains_name(e.name())
                    && self.webhook.channel_filter.matches(e.channel())
            })
            .cloned()
            .collect()
    }
}

impl AppPlan {
    /// Whether routing must run WASM filters (then it belongs off the async reactor threads).
    pub fn has_filters(&self) -> bool {
        self.webhooks.iter().any(|w| !w.chain.is_empty())
    }

    /// Routes a batch to every webhook. Runs filter chains synchronously: call it from a
    /// blocking thread when [`Self::has_filters`] is true.
    pub fn route(&self, events: &[Event]) -> Vec<Routed> {
        self.webhooks
            .iter()
            .enumerate()
            .filter_map(|(index, route)| {
                let selected = route.select(events);
                if selected.is_empty() {
                    return None;
                }
                let outcome = route.chain.apply(&route.context, selected);
                Some(Routed {
                    webhook: index,
                    outcome,
                })
            })
            .collect()
    }
}
