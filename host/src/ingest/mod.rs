//! # Ingest: the public HTTP face of the gateway
//!
//! In: `POST /ingest/pusher` with a Pusher webhook batch, `X-Pusher-Key` naming the app and
//! `X-Pusher-Signature` (hex HMAC-SHA256 of the raw body with the app's secret, compared in
//! constant time). Out: the batch routed (event types, channel filters, filter chains) and its
//! jobs written to the durable queue, acknowledged with 200 only once they are on disk; or a
//! refusal: 415 wrong content type, 413 too large, 401 unknown key or bad signature, 400
//! malformed (with the reason), 503 with `Retry-After` when the queue is full or the gateway
//! is shutting down. A batch is accepted whole or refused whole. Also `GET /healthz` and
//! `GET /metrics`.

mod batch;
mod enqueue;
mod error;
mod handler;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};

pub use batch::{BatchError, parse_batch};
pub use error::IngestError;

use crate::gateway::Gateway;

/// The public routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ingest/pusher", post(handler::ingest_pusher))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> String {
    gateway.render_metrics()
}
