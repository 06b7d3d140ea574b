//! The immutable picture every request works from: apps by key, their routes, compiled
//! filter chains and queue numbers. Built whole, then swapped in one step; a request keeps the
//! snapshot it started with until it is done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::App;
use crate::config::{Config, ConfigSource, Finding};
use crate::deliver::Destination;
use crate::filter::{FilterChain, FilterRuntime, FilterSpec, LoadedFilter};
use crate::metrics::Metrics;
use crate::queue::{QueueId, WebhookKey};
use crate::route::{AppPlan, WebhookRoute};

/// One app, ready to take events: its routes, and each webhook's number in the queue (in the
/// order of `plan.webhooks`).
#[derive(Debug)]
pub struct AppEntry {
    pub plan: Arc<AppPlan>,
    pub queues: Vec<QueueId>,
}

impl AppEntry {
    /// The app as configured.
    pub fn app(&self) -> &App {
        &self.plan.app
    }
}

/// The gateway's whole routing state at one moment.
#[derive(Debug)]
pub struct Snapshot {
    pub source: Option<ConfigSource>,
    pub loaded_at: SystemTime,
    apps_by_key: HashMap<String, AppEntry>,
}

impl Snapshot {
    /// A snapshot with no app: every key is unknown.
    pub fn empty() -> Self {
        Self {
            source: None,
            loaded_at: SystemTime::now(),
            apps_by_key: HashMap::new(),
        }
    }

    /// Puts compiled plans together with their webhooks' queue numbers (`queues` has one for
    /// every webhook of the plans).
    pub fn new(
        plans: Vec<AppPlan>,
        source: ConfigSource,
        queues: &HashMap<WebhookKey, QueueId>,
    ) -> Self {
        let apps_by_key = plans
            .into_iter()
            .map(|plan| {
                let ids = plan
                    .webhooks
                    .iter()
                    .map(|route| queues[&route.key()])
                    .collect();
                let entry = AppEntry {
                    plan: Arc::new(plan),
                    queues: ids,
                };
                (entry.app().key.clone(), entry)
            })
            .collect();
        Self {
            source: Some(source),
            loaded_at: SystemTime::now(),
            apps_by_key,
        }
    }

    pub fn app_by_key(&self, key: &str) -> Option<&AppEntry> {
        self.apps_by_key.get(key)
    }

    pub fn apps(&self) -> impl Iterator<Item = &AppEntry> {
        self.apps_by_key.values()
    }

    /// Every webhook, with its queue number and what its lanes send with.
    pub fn destinations(&self) -> Vec<(WebhookKey, QueueId, Destination)> {
        self.apps()
            .flat_map(|entry| {
                let app = entry.app();
                entry
                    .plan
                    .webhooks
                    .iter()
                    .zip(&entry.queues)
                    .map(|(route, id)| {
                        let destination = Destination {
                            app_key: app.key.clone(),
                            secret: app.secret.clone(),
                            batching: app.batching,
                            webhook: route.webhook.clone(),
                        };
                        (route.key(), *id, destination)
                    })
            })
            .collect()
    }
}

/// Compiles every app's routes: loads each filter (compile or cache, instantiate, `init`).
/// Problems name the filter's config path and the reason; all are reported at once.
/// Each route and filter counts into `metrics` under its names.
pub async fn compile_plans(
    config: &Config,
    runtime: &FilterRuntime,
    metrics: &Metrics,
) -> Result<Vec<AppPlan>, Vec<Finding>> {
    let mut problems = Vec::new();
    let mut plans = Vec::new();
    for (a, app) in config.apps.iter().enumerate() {
        let at = format!("apps[{a}].filters");
        let app_filters = load_all(runtime, &app.filters, &at, &mut problems).await;
        let mut webhooks = Vec::new();
        for (w, webhook) in app.webhooks.iter().enumerate() {
            let at = format!("apps[{a}].webhooks[{w}].filters");
            let own = load_all(runtime, &webhook.filters, &at, &mut problems).await;
            let names = (app.id.clone(), webhook.id.clone());
            let counted = |filter: Arc<LoadedFilter>| {
                let (app, webhook) = names.clone();
                let stats = metrics
                    .filters
                    .get(&(app, webhook, filter.name().to_owned()));
                (filter, stats)
            };
            let chain = app_filters.iter().cloned().chain(own).map(counted);
            let chain = FilterChain::new(chain.collect());
            let stats = metrics.routes.get(&names);
            webhooks.push(WebhookRoute::new(&app.id, webhook, chain, stats));
        }
        plans.push(AppPlan {
            app: app.clone(),
            webhooks,
            ingest: metrics.ingest.get(&app.id),
        });
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}

/// Loads the filters of one list (config path `at`); each one that fails is a problem.
async fn load_all(
    runtime: &FilterRuntime,
    specs: &[FilterSpec],
    at: &str,
    problems: &mut Vec<Finding>,
) -> Vec<Arc<LoadedFilter>> {
    let mut loaded = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match runtime.load(spec).await {
            Ok(filter) => loaded.push(filter),
            Err(e) => problems.push(Finding {
                path: format!("{at}[{i}]"),
                message: e.to_string(),
            }),
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::config::{ConfigSource, validate};
    use crate::filter::FilterSettings;

    #[tokio::test]
    async fn each_webhook_is_found_by_its_apps_key_with_its_queue_number_and_its_apps_settings() {
        let tree = json!({ "apps": [
            { "id": "one", "key": "k1", "secret": "s1", "batching": { "max_events": 7 },
              "webhooks": [
                  { "id": "a", "url": "http://h/a", "event_types": ["client_event"] },
                  { "id": "b", "url": "http://h/b", "event_types": ["member_added"], "lanes": 3 }
              ] },
            { "id": "two", "key": "k2", "secret": "s2",
              "webhooks": [{ "id": "a", "url": "http://h/c", "event_types": ["client_event"] }] }
        ]});
        let (config, _) = validate(&tree, Path::new(".")).unwrap();
        let runtime = FilterRuntime::new(FilterSettings::default()).unwrap();
        let plans = compile_plans(&config, &runtime, &Metrics::default())
            .await
            .unwrap();
        let queues: HashMap<WebhookKey, QueueId> =
            [("one", "a", 10), ("one", "b", 11), ("two", "a", 20)]
                .into_iter()
                .map(|(app, webhook, id)| (WebhookKey::new(app, webhook), QueueId(id)))
                .collect();
        let source = ConfigSource {
            path: "switchyard.toml".into(),
            content_hash: String::new(),
        };
        let snapshot = Snapshot::new(plans, source, &queues);

        let one = snapshot.app_by_key("k1").unwrap();
        assert_eq!(one.app().id, "one");
        assert_eq!(one.queues, [QueueId(10), QueueId(11)], "in webhook order");
        assert!(snapshot.app_by_key("one").is_none(), "found by key, not id");

        let mut destinations = snapshot.destinations();
        destinations.sort_by(|a, b| a.0.cmp(&b.0));
        let summary: Vec<_> = destinations
            .iter()
            .map(|(key, id, d)| {
                let app = (d.app_key.as_str(), d.secret.expose(), d.batching.max_events);
                (key.to_string(), *id, app, d.webhook.lanes)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("one/a".to_string(), QueueId(10), ("k1", "s1", 7), 16),
                ("one/b".to_string(), QueueId(11), ("k1", "s1", 7), 3),
                ("two/a".to_string(), QueueId(20), ("k2", "s2", 100), 16),
            ]
        );
    }
}
