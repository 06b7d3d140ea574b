//! # Admin: the operator's endpoints and console, on their own listener
//!
//! `GET /status` (what is running: config hash, filters and their module hashes, the last
//! reload's outcome, each webhook's queue), `POST /admin/reload`, the dead letters under
//! `/dlq` ([`dlq`]), what the console shows ([`overview`], [`audit`]) and the console itself
//! at `/` ([`console`]). They are served on `[admin] listen` (default 127.0.0.1:7701), never on
//! the public ingest address; with `[admin] token` set, every request needs
//! `Authorization: Bearer <token>` or the console's sign-in ([`auth`]).

mod audit;
mod auth;
mod console;
pub mod dlq;
mod overview;
mod rates;
mod status;
mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use crate::gateway::{Gateway, ReloadTrigger};
use audit::Audit;
use auth::{Caller, Keys};
use rates::Rates;

/// What the admin handlers share.
#[derive(Debug)]
pub struct Admin {
    gateway: Arc<Gateway>,
    keys: Keys,
    audit: Audit,
    rates: Arc<Rates>,
}

/// The admin routes; starts sampling the webhooks' rates for the console.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let token = gateway.started_with().admin.token.as_ref();
    let admin = Arc::new(Admin {
        keys: Keys::new(token.map(|t| t.expose())),
        audit: Audit::default(),
        rates: Arc::default(),
        gateway: gateway.clone(),
    });
    tokio::spawn(rates::sample_every_step(
        admin.rates.clone(),
        Arc::downgrade(&gateway),
    ));
    let api = Router::new()
        .route("/status", get(status::status))
        .route("/admin/reload", post(reload))
        .route("/dlq", get(dlq::list))
        .route("/dlq/{id}", get(dlq::show))
        .route("/dlq/replay", post(dlq::replay))
        .route("/dlq/purge", post(dlq::purge))
        .route("/overview", get(overview::overview))
        .route("/filters", get(overview::filters))
        .route("/audit", get(audit::list))
        .route("/webhooks/{app}/{webhook}", get(overview::webhook))
        .route(
            "/webhooks/{app}/{webhook}/deliveries/{id}",
            get(overview::delivery),
        )
        .route("/webhooks/{app}/{webhook}/pause", post(overview::pause))
        .route("/webhooks/{app}/{webhook}/resume", post(overview::resume))
        .route_layer(middleware::from_fn_with_state(
            admin.clone(),
            auth::require_caller,
        ));
    Router::new()
        .route("/", get(console::page))
        .route("/console/login", post(console::login))
        .route("/console/logout", post(console::logout))
        .route("/console/assets/{file}", get(console::asset))
        .merge(api)
        .with_state(admin)
}

async fn reload(State(admin): State<Arc<Admin>>, Extension(caller): Extension<Caller>) -> Response {
    let outcome = admin.gateway.reload(ReloadTrigger::Admin).await;
    let detail = outcome.error.as_deref().unwrap_or("");
    admin.audit.record(caller, "reload", "", detail);
    let status = if outcome.ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(outcome)).into_response()
}
