//! The dead letters over HTTP: list, show, replay, purge. `switchyard dlq` uses these when the
//! gateway runs, and the same views ([`view`]) when it reads a stopped gateway's store.
//!
//! - `GET /dlq?app=&webhook=&reason=&from=&limit=`: summaries, oldest first, and `next` (the
//!   `from` of the next page) when there are more.
//! - `GET /dlq/{id}`: one dead letter with its events.
//! - `POST /dlq/replay`, `POST /dlq/purge` with `{"ids": [..]}`, `{"all": true}`, or any of
//!   `{"app", "webhook", "reason"}`: replay queues the events again to their webhook as it is
//!   configured now; purge deletes.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Admin;
use super::auth::Caller;
use crate::gateway::Gateway;
use crate::queue::{DeadLetter, DeadLetterFilter, Reason, Selection};

/// The most summaries one `GET /dlq` answers with.
const MAX_PAGE: usize = 1000;

/// A dead letter for people; with its events or without (a summary).
pub fn view(id: u64, letter: &DeadLetter, with_events: bool) -> Value {
    let delivery = letter.delivery.as_ref();
    let mut out = json!({
        "id": id,
        "app": &*letter.webhook.app_id,
        "webhook": &*letter.webhook.webhook_id,
        "reason": letter.reason.as_str(),
        "detail": letter.detail,
        "events": letter.events.count,
        "enqueued_ms": letter.enqueued_ms,
        "dead_lettered_ms": letter.dead_lettered_ms,
        "delivery_id": delivery.map(|d| d.id.as_str()),
        "attempts": delivery.map_or(0, |d| d.attempts),
        "first_attempt_ms": delivery.map(|d| d.first_attempt_ms),
        "last_attempt_ms": delivery.map(|d| d.last_attempt_ms),
        "last_error": delivery.map(|d| d.last_error.as_str()),
    });
    if with_events {
        out["events"] = letter.events.to_array();
    }
    out
}

/// The filter fields of a query or a body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Which {
    pub app: Option<String>,
    pub webhook: Option<String>,
    pub reason: Option<String>,
    #[serde(default)]
    pub all: bool,
    pub ids: Option<Vec<u64>>,
}

/// A refused admin request: its status and message.
pub struct Refusal(StatusCode, String);

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message.into())
}

fn failed(e: impl std::fmt::Display) -> Refusal {
    Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

impl Which {
    /// The filter these fields make; an unknown reason is refused.
    pub fn filter(&self) -> Result<DeadLetterFilter, String> {
        let reason = match &self.reason {
            None => None,
            Some(name) => Some(Reason::from_name(name).ok_or_else(|| {
                let valid: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown reason `{name}` (valid: {})", valid.join(", "))
            })?),
        };
        Ok(DeadLetterFilter {
            app: self.app.clone(),
            webhook: self.webhook.clone(),
            reason,
        })
    }

    /// The dead letters named, for the admin actions' record.
    pub fn describe(&self) -> String {
        if let Some(ids) = &self.ids {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            return format!("dead letters {}", ids.join(", "));
        }
        if self.all {
            return "every dead letter".into();
        }
        let named = [
            ("app", &self.app),
            ("webhook", &self.webhook),
            ("reason", &self.reason),
        ];
        let parts: Vec<String> = (named.iter())
            .filter_map(|(field, value)| value.as_ref().map(|v| format!("{field}={v}")))
            .collect();
        format!("dead letters with {}", parts.join(" "))
    }

    /// The dead letters a replay or purge names: ids, everything, or a filter. Naming none is
    /// refused, so an empty request never touches every dead letter.
    pub fn selection(&self) -> Result<Selection, String> {
        let filtered = self.app.is_some() || self.webhook.is_some() || self.reason.is_some();
        match (&self.ids, self.all, filtered) {
            (Some(ids), false, false) => Ok(Selection::Ids(ids.clone())),
            (None, true, false) => Ok(Selection::Matching(DeadLetterFilter::default())),
            (None, false, true) => Ok(Selection::Matching(self.filter()?)),
            (None, false, false) => {
                Err("name the dead letters: `ids`, `all`, or `app`/`webhook`/`reason`".into())
            }
            _ => Err("give `ids`, `all`, or filters: one of them".into()),
        }
    }
}

/// `GET /dlq`'s query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    app: Option<String>,
    webhook: Option<String>,
    reason: Option<String>,
    from: Option<u64>,
    limit: Option<usize>,
}

pub async fn list(
    State(admin): State<Arc<Admin>>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, Refusal> {
    let which = Which {
        app: page.app,
        webhook: page.webhook,
        reason: page.reason,
        ..Which::default()
    };
    let filter = which.filter().map_err(bad_request)?;
    let gateway = &admin.gateway;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let mut letters = gateway
        .queue()
        .dead_letters(&filter, page.from.unwrap_or(0), limit + 1)
        .await
        .map_err(failed)?;
    let next = (letters.len() > limit).then(|| letters[limit].0);
    letters.truncate(limit);
    let items: Vec<Value> = letters.iter().map(|(id, l)| view(*id, l, false)).collect();
    Ok(Json(json!({ "dead_letters": items, "next": next })))
}

pub async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, Refusal> {
    match admin
        .gateway
        .queue()
        .dead_letter_by_id(id)
        .await
        .map_err(failed)?
    {
        Some(letter) => Ok(Json(view(id, &letter, true))),
        None => Err(Refusal(
            StatusCode::NOT_FOUND,
            format!("no dead letter {id}"),
        )),
    }
}

/// The ids of the dead letters a replay or purge names.
async fn selected(gateway: &Gateway, which: &Which) -> Result<Vec<u64>, Refusal> {
    let selection = which.selection().map_err(bad_request)?;
    gateway.queue().select(&selection).await.map_err(failed)
}

pub async fn replay(
    State(admin): State<Arc<Admin>>,
    Extension(caller): Extension<Caller>,
    Json(which): Json<Which>,
) -> Result<Json<Value>, Refusal> {
    let gateway = &admin.gateway;
    let ids = selected(gateway, &which).await?;
    let workers = gateway.workers();
    let report = gateway
        .queue()
        .replay(&ids, |webhook| workers.lanes_of(webhook))
        .await
        .map_err(failed)?;
    let detail = format!(
        "{} replayed, {} skipped",
        report.replayed.len(),
        report.skipped.len()
    );
    admin
        .audit
        .record(caller, "replay", &which.describe(), &detail);
    Ok(Json(json!(report)))
}

pub async fn purge(
    State(admin): State<Arc<Admin>>,
    Extension(caller): Extension<Caller>,
    Json(which): Json<Which>,
) -> Result<Json<Value>, Refusal> {
    let ids = selected(&admin.gateway, &which).await?;
    let purged = admin.gateway.queue().purge(ids).await.map_err(failed)?;
    let detail = format!("{purged} purged");
    admin
        .audit
        .record(caller, "purge", &which.describe(), &detail);
    Ok(Json(json!({ "purged": purged })))
}
