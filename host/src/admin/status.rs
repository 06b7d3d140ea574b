//! `GET /status`: what is running, and how the last reload went.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::Admin;
use crate::clock::epoch_ms as ms;

pub async fn status(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let gateway = &admin.gateway;
    let snapshot = gateway.snapshot();
    let queues: HashMap<_, _> = gateway
        .workers()
        .status()
        .into_iter()
        .map(|w| (w.webhook.clone(), w))
        .collect();
    let mut apps: Vec<Value> = snapshot
        .apps()
        .map(|entry| {
            let plan = &entry.plan;
            let webhooks: Vec<Value> = plan
                .webhooks
                .iter()
                .map(|route| {
                    let filters: Vec<Value> = route
                        .chain
                        .filters()
                        .map(|f| {
                            json!({
                                "name": f.name(),
                                "module_hash": f.module_hash().to_string(),
                                "loaded_at_ms": ms(f.loaded_at()),
                                "load_ms": f.load_times().total.as_secs_f64() * 1000.0,
                                "module_ms": f.load_times().module.as_secs_f64() * 1000.0,
                                "origin": format!("{:?}", f.origin()),
                                "failures": f.failures(),
                                "instances": f.instances(),
                                "memory_bytes": f.memory_peak(),
                                "memory_limit_bytes": f.memory_limit(),
                            })
                        })
                        .collect();
                    let queue = queues.get(&route.key()).map(|w| {
                        json!({
                            "events": w.depth,
                            "oldest_ms": w.oldest.map(|d| d.as_millis() as u64),
                            "circuit": if w.circuit_open { "open" } else { "closed" },
                            "dead_letters": w.dead_lettered,
                            "delivered": w.stats.events_delivered(),
                        })
                    });
                    json!({
                        "id": route.webhook.id,
                        "target": route.webhook.target.describe(),
                        "signing": route.webhook.signing.as_str(),
                        "lanes": route.webhook.lanes,
                        "filters": filters,
                        "queue": queue,
                    })
                })
                .collect();
            json!({ "id": entry.app().id, "webhooks": webhooks })
        })
        .collect();
    apps.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let metrics = gateway.metrics();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "config": snapshot.source.as_ref().map(|s| json!({
            "path": s.path.display().to_string(),
            "hash": s.content_hash,
            "loaded_at_ms": ms(snapshot.loaded_at),
        })),
        "apps": apps,
        "reload": {
            "last": gateway.recent_reloads().into_iter().next(),
            "succeeded": metrics.reloads_succeeded.load(Ordering::Relaxed),
            "failed": metrics.reloads_failed.load(Ordering::Relaxed),
        },
    }))
}
