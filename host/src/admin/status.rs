//! `GET /status`: what is running, and how the last reload went.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{Admin, views};

pub async fn status(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let gateway = &admin.gateway;
    let snapshot = gateway.snapshot();
    let queues = views::statuses(gateway);
    let apps = views::apps(&snapshot, |route| {
        let filters: Vec<Value> = (route.chain.filters())
            .map(|f| {
                let mut view = views::module(f);
                view["failures"] = json!(f.failures());
                view["instances"] = json!(f.instances());
                view["memory_bytes"] = json!(f.memory_peak());
                view["memory_limit_bytes"] = json!(f.memory_limit());
                view
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
    });
    let metrics = gateway.metrics();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "config": views::config(&snapshot),
        "apps": apps,
        "reload": {
            "last": gateway.recent_reloads().into_iter().next(),
            "succeeded": metrics.reloads_succeeded.load(Ordering::Relaxed),
            "failed": metrics.reloads_failed.load(Ordering::Relaxed),
        },
    }))
}
