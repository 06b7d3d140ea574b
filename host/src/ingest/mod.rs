//! # Ingest: the public HTTP face of the gateway
//!
//! In: `POST /ingest/pusher` with a Pusher webhook batch, `X-Pusher-Key` naming the app and
//! `X-Pusher-Signature` (hex HMAC-SHA256 of the raw body with the app's secret, compared in
//! constant time). Out: the batch routed (event types, channel filters, filter chains) and its
//! jobs written to the durable queue, acknowledged with 200 only once they are on disk; or a
//! refusal: 415 wrong content type, 413 too large, 401 unknown key or bad signature, 400
//! malformed (with the reason), 503 with `Retry-After` when the queue is full or the gateway
//! is shutting down. A batch is accepted whole or refused whole. Also `GET /healthz` (alive),
//! `GET /readyz` (takes traffic) and `GET /metrics`.

mod batch;
mod enqueue;
mod error;
mod handler;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use batch::{BatchError, parse_batch};
pub use error::IngestError;

use crate::gateway::Gateway;

/// The public routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ingest/pusher", post(handler::ingest_pusher))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> impl IntoResponse {
    let text = gateway.render_metrics();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
}

/// 200 while the gateway takes traffic (config loaded, store open, not shutting down), else
/// 503 with the reason: what a load balancer's health check asks.
async fn readyz(State(gateway): State<Arc<Gateway>>) -> impl IntoResponse {
    match gateway.not_ready() {
        None => (StatusCode::OK, "ready\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}
