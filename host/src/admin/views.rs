//! Pieces `/status` and the console's endpoints both show: the apps in order, the running
//! config, a filter's module, each webhook's figures.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::clock::epoch_ms;
use crate::deliver::WebhookStatus;
use crate::filter::LoadedFilter;
use crate::gateway::{Gateway, Snapshot};
use crate::queue::WebhookKey;
use crate::route::WebhookRoute;

/// Each running webhook's figures, by key.
pub fn statuses(gateway: &Gateway) -> HashMap<WebhookKey, WebhookStatus> {
    (gateway.workers().status().into_iter())
        .map(|s| (s.webhook.clone(), s))
        .collect()
}

/// Every app, sorted by id, with its webhooks as `webhook` shows them.
pub fn apps(snapshot: &Snapshot, webhook: impl Fn(&WebhookRoute) -> Value) -> Vec<Value> {
    let mut apps: Vec<Value> = snapshot
        .apps()
        .map(|entry| {
            let webhooks: Vec<Value> = entry.plan.webhooks.iter().map(&webhook).collect();
            json!({ "id": entry.app().id, "webhooks": webhooks })
        })
        .collect();
    apps.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    apps
}

/// The config running: its file, content hash and when it was loaded.
pub fn config(snapshot: &Snapshot) -> Value {
    json!(snapshot.source.as_ref().map(|s| json!({
        "path": s.path.display().to_string(),
        "hash": s.content_hash,
        "loaded_at_ms": epoch_ms(snapshot.loaded_at),
    })))
}

/// A filter's module: name, content hash, origin, and when and how fast it was loaded.
pub fn module(filter: &LoadedFilter) -> Value {
    json!({
        "name": filter.name(),
        "module_hash": filter.module_hash().to_string(),
        "origin": format!("{:?}", filter.origin()),
        "loaded_at_ms": epoch_ms(filter.loaded_at()),
        "load_ms": filter.load_times().total.as_secs_f64() * 1000.0,
        "module_ms": filter.load_times().module.as_secs_f64() * 1000.0,
    })
}
