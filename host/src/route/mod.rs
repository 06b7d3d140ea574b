//! # Route: which events each webhook gets
//!
//! In: one batch of an app's events. Out: for each webhook of the app, in config order, the
//! events it should receive: those whose name is in its `event_types` and whose channel passes
//! its channel filter (prefix AND suffix), then through the app's and the webhook's WASM filter
//! chain (keep / drop / replace). A webhook left with no event gets nothing.

use std::sync::Arc;

use crate::config::{App, Webhook};
use crate::event::Event;
use crate::filter::{ChainOutcome, FilterChain, FilterContext};
use crate::metrics::{IngestStats, RouteStats, add};
use crate::queue::WebhookKey;

/// Everything needed to route an app's events: the app and one route per webhook.
#[derive(Debug)]
pub struct AppPlan {
    pub app: App,
    pub webhooks: Vec<WebhookRoute>,
    /// The app's ingest counters, found once here rather than by name per request.
    pub ingest: Arc<IngestStats>,
}

/// One webhook with its compiled filter chain.
#[derive(Debug)]
pub struct WebhookRoute {
    pub webhook: Webhook,
    pub chain: FilterChain,
    pub context: FilterContext,
    pub stats: Arc<RouteStats>,
}

/// The events routed to one webhook, as its filter chain left them.
#[derive(Debug)]
pub struct Routed {
    /// Where the webhook is in [`AppPlan::webhooks`].
    pub webhook_index: usize,
    pub outcome: ChainOutcome,
}

impl WebhookRoute {
    /// The route of `webhook` of app `app_id`, through `chain`, counting into `stats`.
    pub fn new(
        app_id: &str,
        webhook: &Webhook,
        chain: FilterChain,
        stats: Arc<RouteStats>,
    ) -> Self {
        Self {
            context: FilterContext {
                app_id: app_id.to_owned(),
                webhook_id: webhook.id.clone(),
                webhook_target: webhook.target.describe(),
            },
            webhook: webhook.clone(),
            chain,
            stats,
        }
    }

    /// The webhook's name across reloads.
    pub fn key(&self) -> WebhookKey {
        WebhookKey::new(&self.context.app_id, &self.webhook.id)
    }

    /// The events of `events` this webhook subscribes to, before filters.
    pub fn select(&self, events: &[Event]) -> Vec<Event> {
        let (mut other_types, mut other_channels) = (0, 0);
        let selected = events
            .iter()
            .filter(|e| {
                if !self.webhook.event_types.contains_name(e.name()) {
                    other_types += 1;
                    false
                } else if !self.webhook.channel_filter.matches(e.channel()) {
                    other_channels += 1;
                    false
                } else {
                    true
                }
            })
            .cloned()
            .collect();
        add(&self.stats.dropped_event_type, other_types);
        add(&self.stats.dropped_channel, other_channels);
        selected
    }
}

impl AppPlan {
    /// Routes a batch to every webhook, through each one's filter chain in turn.
    pub async fn route(&self, events: &[Event]) -> Vec<Routed> {
        let mut routed = Vec::new();
        for (index, route) in self.webhooks.iter().enumerate() {
            let selected = route.select(events);
            if selected.is_empty() {
                continue;
            }
            routed.push(Routed {
                webhook_index: index,
                outcome: route.chain.apply(&route.context, selected).await,
            });
        }
        routed
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::json;

    /// A plan for one app whose webhooks are given as soketi-style JSON, without filters.
    fn plan(webhooks: serde_json::Value) -> AppPlan {
        let tree =
            json!({ "apps": [{ "id": "a", "key": "k", "secret": "s", "webhooks": webhooks }] });
        let (config, _) = crate::config::validate(&tree, Path::new(".")).unwrap();
        let app = config.apps[0].clone();
        let webhooks = app
            .webhooks
            .iter()
            .map(|webhook| {
                WebhookRoute::new(&app.id, webhook, FilterChain::default(), Arc::default())
            })
            .collect();
        AppPlan {
            app,
            webhooks,
            ingest: Arc::default(),
        }
    }

    fn event(name: &str, channel: &str) -> Event {
        let text = format!(r#"{{"name":"{name}","channel":"{channel}"}}"#);
        Event::from_value(json::parse(text.as_bytes()).unwrap()).unwrap()
    }

    async fn routed_channels(plan: &AppPlan, events: &[Event]) -> Vec<(usize, Vec<String>)> {
        plan.route(events)
            .await
            .into_iter()
            .map(|r| {
                (
                    r.webhook_index,
                    r.outcome
                        .delivered
                        .iter()
                        .map(|e| format!("{}@{}", e.name(), e.channel()))
                        .collect(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn each_webhook_gets_its_event_types_on_channels_passing_its_filter() {
        let plan = plan(json!([
            { "url": "http://h/occupancy", "event_types": ["channel_occupied", "channel_vacated"] },
            { "url": "http://h/rooms", "event_types": ["member_added"],
              "filter": { "channel_name_starts_with": "presence-", "channel_name_ends_with": "-room" } },
            { "url": "http://h/prefix", "event_types": ["member_added"],
              "filter": { "channel_name_starts_with": "presence-" } },
            { "url": "http://h/never", "event_types": ["cache_miss"] }
        ]));
        let events = [
            event("channel_occupied", "presence-a-room"),
            event("member_added", "presence-a-room"),
            event("member_added", "presence-a"),
            event("member_added", "private-a-room"),
            event("unknown_type", "presence-a-room"),
            event("channel_vacated", "presence-a-room"),
        ];
        assert_eq!(
            routed_channels(&plan, &events).await,
            [
                (
                    0,
                    vec![
                        "channel_occupied@presence-a-room".into(),
                        "channel_vacated@presence-a-room".into()
                    ]
                ),
                (1, vec!["member_added@presence-a-room".to_string()]),
                (
                    2,
                    vec![
                        "member_added@presence-a-room".into(),
                        "member_added@presence-a".into()
                    ]
                ),
            ],
            "config order kept; a webhook with nothing left is not routed at all"
        );
    }
}
