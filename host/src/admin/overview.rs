//! What the console shows, as JSON on the admin API:
//!
//! - `GET /overview`: every app and webhook (target, event types, channels, filters, circuit,
//!   pause, health, queue, dead letters made, recent rates), the running config and the last reloads.
//! - `GET /webhooks/{app}/{webhook}`: one webhook, with its recent deliveries.
//! - `GET /webhooks/{app}/{webhook}/deliveries/{id}`: one delivery with its events.
//! - `POST /webhooks/{app}/{webhook}/pause`, `.../resume`: hold or release its deliveries.
//! - `GET /filters`: every filter module loaded, with its calls, failures and latency.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::Admin;
use super::auth::Caller;
use super::dlq::Refusal;
use super::rates::STEP;
use super::views;
use crate::clock::now_ms;
use crate::deliver::{DeliveryRecord, WebhookStatus};
use crate::gateway::Snapshot;
use crate::queue::{Paused, WebhookKey};
use crate::route::WebhookRoute;

/// `GET /overview`.
pub async fn overview(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let gateway = &admin.gateway;
    let snapshot = gateway.snapshot();
    let statuses = views::statuses(gateway);
    let apps = views::apps(&snapshot, |route| {
        webhook_view(&admin, route, statuses.get(&route.key()))
    });
    let metrics = gateway.metrics();
    Json(json!({
        "now_ms": now_ms(),
        "version": env!("CARGO_PKG_VERSION"),
        "queue_backend": gateway.queue().backend_name(),
        "config": views::config(&snapshot),
        "reloads": gateway.recent_reloads(),
        "reload_counts": {
            "succeeded": metrics.reloads_succeeded.load(Ordering::Relaxed),
            "failed": metrics.reloads_failed.load(Ordering::Relaxed),
        },
        "step_s": STEP.as_secs(),
        "apps": apps,
    }))
}

/// `GET /webhooks/{app}/{webhook}`.
pub async fn webhook(
    State(admin): State<Arc<Admin>>,
    Path((app, webhook)): Path<(String, String)>,
) -> Result<Json<Value>, Refusal> {
    let key = WebhookKey::new(&app, &webhook);
    let snapshot = admin.gateway.snapshot();
    let route = configured(&snapshot, &key)?;
    let status = admin.gateway.workers().status_of(&key);
    let mut view = webhook_view(&admin, route, status.as_ref());
    let deliveries: Vec<Value> = status
        .map(|s| s.history.recent())
        .unwrap_or_default()
        .iter()
        .map(|d| json!(d))
        .collect();
    view["deliveries"] = Value::Array(deliveries);
    Ok(Json(view))
}

/// `GET /webhooks/{app}/{webhook}/deliveries/{id}`: with its events, never its headers.
pub async fn delivery(
    State(admin): State<Arc<Admin>>,
    Path((app, webhook, id)): Path<(String, String, String)>,
) -> Result<Json<Value>, Refusal> {
    let key = WebhookKey::new(&app, &webhook);
    configured(&admin.gateway.snapshot(), &key)?;
    let status = admin.gateway.workers().status_of(&key);
    let record = status.and_then(|s| s.history.get(&id)).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            format!("delivery {id} is not among {key}'s recent deliveries"),
        )
    })?;
    Ok(Json(delivery_view(&record)))
}

fn delivery_view(record: &DeliveryRecord) -> Value {
    let mut view = json!(record);
    let payload = record
        .payload
        .as_deref()
        .and_then(|json| serde_json::from_slice::<Value>(json).ok());
    view["payload_truncated"] = json!(payload.is_none());
    view["payload_bytes"] = json!(record.payload_bytes);
    view["payload"] = payload.unwrap_or(Value::Null);
    view
}

/// `POST /webhooks/{app}/{webhook}/pause`.
pub async fn pause(
    state: State<Arc<Admin>>,
    caller: Extension<Caller>,
    path: Path<(String, String)>,
) -> Result<Json<Value>, Refusal> {
    set_paused(state, caller, path, true).await
}

/// `POST /webhooks/{app}/{webhook}/resume`.
pub async fn resume(
    state: State<Arc<Admin>>,
    caller: Extension<Caller>,
    path: Path<(String, String)>,
) -> Result<Json<Value>, Refusal> {
    set_paused(state, caller, path, false).await
}

async fn set_paused(
    State(admin): State<Arc<Admin>>,
    Extension(caller): Extension<Caller>,
    Path((app, webhook)): Path<(String, String)>,
    paused: bool,
) -> Result<Json<Value>, Refusal> {
    let key = WebhookKey::new(&app, &webhook);
    let by = paused.then(|| Paused {
        at_ms: now_ms(),
        by: caller.name().to_owned(),
    });
    let changed = (admin.gateway.workers().set_paused(&key, by).await)
        .map_err(|e| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .ok_or_else(|| no_such_webhook(&key))?;
    let action = if paused { "pause" } else { "resume" };
    let detail = if changed { "" } else { "no change" };
    admin.audit.record(caller, action, &key.to_string(), detail);
    Ok(Json(json!({ "paused": paused, "changed": changed })))
}

/// `GET /filters`.
pub async fn filters(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let snapshot = admin.gateway.snapshot();
    let metrics = admin.gateway.metrics();
    let mut out = Vec::new();
    for route in snapshot.apps().flat_map(|entry| &entry.plan.webhooks) {
        for filter in route.chain.filters() {
            let labels = (
                route.context.app_id.to_string(),
                route.webhook.id.clone(),
                filter.name().to_owned(),
            );
            let stats = metrics.filters.get(&labels);
            let ms = |seconds: Option<f64>| seconds.map(|s| s * 1000.0);
            let mut view = views::module(filter);
            view["app"] = json!(labels.0);
            view["webhook"] = json!(labels.1);
            view["calls"] = json!(stats.calls.load(Ordering::Relaxed));
            view["failures"] = json!(stats.failures.load(Ordering::Relaxed));
            view["dropped"] = json!(stats.dropped.load(Ordering::Relaxed));
            view["mean_ms"] = json!(ms(stats.call_seconds.mean()));
            view["p99_ms"] = json!(ms(stats.call_seconds.quantile_bound(0.99)));
            out.push(view);
        }
    }
    Json(json!({ "filters": out }))
}

/// Webhook `key` in the running config.
fn configured<'s>(snapshot: &'s Snapshot, key: &WebhookKey) -> Result<&'s WebhookRoute, Refusal> {
    (snapshot.apps())
        .flat_map(|entry| &entry.plan.webhooks)
        .find(|route| &route.key() == key)
        .ok_or_else(|| no_such_webhook(key))
}

fn no_such_webhook(key: &WebhookKey) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        format!("no webhook {key} in the running config"),
    )
}

/// One webhook as the console shows it.
fn webhook_view(admin: &Admin, route: &WebhookRoute, status: Option<&WebhookStatus>) -> Value {
    let webhook = &route.webhook;
    let key = route.key();
    let (delivered, failed) = admin.rates.series(&key);
    let channels = &webhook.channel_filter;
    let paused = status.and_then(|s| s.paused.clone());
    json!({
        "app": &*key.app_id,
        "id": webhook.id,
        "target": webhook.target.describe(),
        "event_types": webhook.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "channels": { "starts_with": channels.starts_with, "ends_with": channels.ends_with },
        "filters": route.chain.filters().map(|f| f.name().to_owned()).collect::<Vec<_>>(),
        "signing": webhook.signing.as_str(),
        "lanes": webhook.lanes,
        "circuit": if status.is_some_and(|s| s.circuit_open) { "open" } else { "closed" },
        "paused": paused.is_some(),
        "paused_at_ms": paused.as_ref().map(|p| p.at_ms),
        "paused_by": paused.as_ref().map(|p| p.by.clone()),
        "health": status.map_or("idle", health),
        "queue": {
            "events": status.map_or(0, |s| s.depth),
            "oldest_ms": status.and_then(|s| s.oldest).map(|d| d.as_millis() as u64),
        },
        // Made since this gateway started (`/dlq` lists those stored now).
        "dead_lettered": status.map_or(0, |s| s.dead_lettered),
        "totals": {
            "delivered": status.map_or(0, |s| s.stats.events_delivered()),
            "failed_attempts": status.map_or(0, |s| s.stats.attempts_failed()),
        },
        "series": { "delivered": delivered, "failed": failed },
    })
}

/// Paused, circuit open, failing (its latest attempt failed), ok, or idle (no delivery kept).
fn health(status: &WebhookStatus) -> &'static str {
    if status.paused.is_some() {
        return "paused";
    }
    if status.circuit_open {
        return "circuit_open";
    }
    match status.history.latest_attempt() {
        None => "idle",
        Some(attempt) if attempt.error.is_some() => "failing",
        Some(_) => "ok",
    }
}
