//! # Admin: the operator's endpoints, on their own listener
//!
//! `GET /status` (what is running: config hash, filters and their module hashes, the last
//! reload's outcome, each webhook's queue), `POST /admin/reload`, and the dead letters under
//! `/dlq` ([`dlq`]). They are served on `[admin] listen` (default
//! 127.0.0.1:7701), never on the public ingest address; with `[admin] token` set, every request
//! needs `Authorization: Bearer <token>`.

pub mod dlq;
mod status;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::gateway::{Gateway, ReloadTrigger};

/// The admin routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/status", get(status::status))
        .route("/admin/reload", post(reload))
        .route("/dlq", get(dlq::list))
        .route("/dlq/{id}", get(dlq::show))
        .route("/dlq/replay", post(dlq::replay))
        .route("/dlq/purge", post(dlq::purge))
        .route_layer(middleware::from_fn_with_state(
            gateway.clone(),
            require_token,
        ))
        .with_state(gateway)
}

async fn reload(State(gateway): State<Arc<Gateway>>) -> Response {
    let outcome = gateway.reload(ReloadTrigger::Admin).await;
    let status = if outcome.ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(outcome)).into_response()
}

async fn require_token(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &gateway.started_with().admin.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.expose().as_bytes())) {
        next.run(request).await
    } else {
        let body =
            serde_json::json!({ "error": "admin endpoints need Authorization: Bearer <token>" });
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
