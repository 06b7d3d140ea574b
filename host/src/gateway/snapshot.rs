//! The immutable picture every request works from: apps by key, their routes, compiled
//! filter chains and queue numbers. Built whole, then swapped in one step; a request keeps the
//! snapshot it started with until it is done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::App;
use crate::config::{Config, ConfigSource, Finding};
use crate::deliver::Destination;
use crate::filter::{FilterChain, FilterRuntime, FilterSpec};
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
pub fn compile_plans(
    config: &Config,
    runtime: &FilterRuntime,
) -> Result<Vec<AppPlan>, Vec<Finding>> {
    let mut problems = Vec::new();
    let mut load = |path: String, spec: &FilterSpec| match runtime.load(spec) {
        Ok(filter) => Some(filter),
        Err(e) => {
            problems.push(Finding {
                path,
                message: e.to_string(),
            });
            None
        }
    };
    let mut plans = Vec::new();
    for (a, app) in config.apps.iter().enumerate() {
        let app_filters: Vec<_> = (app.filters.iter().enumerate())
            .filter_map(|(i, spec)| load(format!("apps[{a}].filters[{i}]"), spec))
            .collect();
        let mut webhooks = Vec::new();
        for (w, webhook) in app.webhooks.iter().enumerate() {
            let own: Vec<_> = (webhook.filters.iter().enumerate())
                .filter_map(|(i, spec)| load(format!("apps[{a}].webhooks[{w}].filters[{i}]"), spec))
                .collect();
            let chain = FilterChain::new(app_filters.iter().cloned().chain(own).collect());
            webhooks.push(WebhookRoute::new(&app.id, webhook, chain));
        }
        plans.push(AppPlan {
            app: app.clone(),
            webhooks,
        });
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}
