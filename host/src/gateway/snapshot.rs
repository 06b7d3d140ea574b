//! The immutable picture every request works from: apps by key, their routes and compiled
//! filter chains. Built whole, then swapped in one step; a request keeps the snapshot it
//! started with until it is done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Semaphore;

use super::Dispatcher;
use super::batcher::{Batcher, BatcherClosed};
use crate::config::{Config, ConfigSource, Finding};
use crate::event::Event;
use crate::filter::{FilterChain, FilterContext, FilterRuntime, FilterSpec};
use crate::route::{AppPlan, WebhookRoute};

/// One app, ready to take events.
#[derive(Debug)]
pub struct AppEntry {
    pub plan: Arc<AppPlan>,
    batcher: Option<Batcher>,
    dispatcher: Dispatcher,
}

impl AppEntry {
    /// Hands an accepted batch to routing (through the app's batcher when it batches).
    pub async fn submit(&self, events: Vec<Event>) -> Result<(), BatcherClosed> {
        match &self.batcher {
            Some(batcher) => batcher.submit(events).await,
            None => {
                self.dispatcher.dispatch(self.plan.clone(), events);
                Ok(())
            }
        }
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
    /// A snapshot with no app: every key is unknown. Swapped in at shutdown to release the
    /// last real one (its batchers then flush).
    pub fn empty() -> Self {
        Self {
            source: None,
            loaded_at: SystemTime::now(),
            apps_by_key: HashMap::new(),
        }
    }

    /// Activates compiled plans: starts each batching app's batcher.
    pub fn activate(plans: Vec<AppPlan>, source: ConfigSource, dispatcher: &Dispatcher) -> Self {
        let apps_by_key = plans
            .into_iter()
            .map(|plan| {
                let plan = Arc::new(plan);
                let batcher = plan
                    .app
                    .batching
                    .map(|b| Batcher::spawn(plan.clone(), b, dispatcher.clone()));
                let entry = AppEntry {
                    plan,
                    batcher,
                    dispatcher: dispatcher.clone(),
                };
                (entry.plan.app.key.clone(), entry)
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
            webhooks.push(WebhookRoute {
                context: FilterContext {
                    app_id: app.id.clone(),
                    webhook_id: webhook.id.clone(),
                    webhook_target: webhook.target.describe(),
                },
                webhook: webhook.clone(),
                chain,
                in_flight: Arc::new(Semaphore::new(config.delivery.max_in_flight_per_webhook)),
            });
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
