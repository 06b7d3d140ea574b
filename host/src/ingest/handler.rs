//! `POST /ingest/pusher`: check, authenticate, parse, route, enqueue durably, answer.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Serialize;

use super::IngestError;
use super::batch::parse_batch;
use super::enqueue::jobs_of;
use crate::gateway::Gateway;
use crate::metrics::IngestOutcome;
use crate::queue::{AppendError, Appended, DedupeKey};
use crate::route::AppPlan;
use crate::signature;

/// The answer to an accepted batch.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub accepted: usize,
    /// The same body was accepted before, within the app's `dedupe_window_ms`: it was not
    /// queued again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// Accepts a signed batch whole, or refuses it whole with the reason.
pub async fn ingest_pusher(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, IngestError> {
    let metrics = gateway.metrics();
    let started = std::time::Instant::now();
    let mut seen = Seen::default();
    let result = accept(&gateway, &headers, body, &mut seen).await;
    metrics.ingest_seconds.0.observe_duration(started.elapsed());
    let outcome = match &result {
        Ok(accepted) if accepted.duplicate => IngestOutcome::Duplicate,
        Ok(_) => IngestOutcome::Accepted,
        Err(e) => {
            match e {
                IngestError::Store(source) | IngestError::Unavailable(source) => {
                    tracing::error!(app = seen.app_id(), status = e.status().as_u16(), error = %source, "ingest failed to store a batch");
                }
                _ => {
                    tracing::info!(app = seen.app_id(), status = e.status().as_u16(), reason = %e, "ingest refused")
                }
            }
            e.outcome()
        }
    };
    let stats = match &seen.app {
        Some(plan) => plan.ingest.clone(),
        None => metrics.ingest.get(&String::new()),
    };
    stats.record(outcome, seen.events);
    result.map(Json)
}

/// What an ingest request made known before it ended: for its metrics and log line.
#[derive(Debug, Default)]
struct Seen {
    /// The app its key named.
    app: Option<Arc<AppPlan>>,
    /// Events in its batch, once parsed.
    events: usize,
}

impl Seen {
    fn app_id(&self) -> Option<&str> {
        self.app.as_ref().map(|plan| plan.app.id.as_str())
    }
}

async fn accept(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
    seen: &mut Seen,
) -> Result<Accepted, IngestError> {
    if gateway.is_draining() {
        return Err(IngestError::ShuttingDown);
    }
    if !is_json(headers) {
        return Err(IngestError::WrongContentType);
    }
    let server = &gateway.started_with().server;
    let body = read_body(
        headers,
        body,
        server.max_body_bytes,
        server.body_read_timeout,
    )
    .await?;
    // Past its capacity, the gateway says so at once rather than making every sender wait.
    let _permit = gateway.ingest_permit().await.ok_or(IngestError::Busy)?;
    let key = header_str(headers, "x-pusher-key").ok_or(IngestError::MissingKey)?;
    // One snapshot for the whole request: the app found is the app whose routes are used.
    let snapshot = gateway.snapshot();
    let entry = snapshot.app_by_key(key).ok_or(IngestError::UnknownKey)?;
    let app = entry.app();
    seen.app = Some(entry.plan.clone());
    let given = header_str(headers, "x-pusher-signature").ok_or(IngestError::BadSignature)?;
    if !signature::verify(app.secret.expose(), &body, given) {
        return Err(IngestError::BadSignature);
    }
    let events = parse_batch(&body)?;
    let accepted = events.len();
    seen.events = accepted;
    let routed = entry.plan.route(&events).await;
    let (jobs, dead_letters) = jobs_of(entry, routed);
    let dedupe = (app.dedupe_window).map(|w| DedupeKey::new(&app.id, &body, w));
    if jobs.is_empty() && dead_letters.is_empty() && dedupe.is_none() {
        // No webhook wants any of it: nothing to keep.
        return Ok(Accepted {
            accepted,
            duplicate: false,
        });
    }
    let outcome = gateway.queue().append(jobs, dead_letters, dedupe).await;
    match outcome {
        Ok(appended) => Ok(Accepted {
            accepted,
            duplicate: appended == Appended::Duplicate,
        }),
        Err(AppendError::Full { .. }) => Err(IngestError::QueueFull),
        Err(AppendError::Closed) => Err(IngestError::ShuttingDown),
        Err(AppendError::Unavailable(e)) => Err(IngestError::Unavailable(e)),
        Err(AppendError::Store(e)) => Err(IngestError::Store(e)),
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, CONTENT_TYPE.as_str())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The most of an oversized body read and thrown away before answering 413.
const DRAIN_BYTES: usize = 8 << 20;

/// The body, whole, within `limit` bytes and `timeout`.
///
/// A body over the limit is read on and thrown away (up to [`DRAIN_BYTES`] more, within the
/// timeout) before the 413 goes out: a client still sending when the connection closed would
/// see it reset instead of reading the answer. One declaring more than that is refused at
/// once.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, IngestError> {
    let declared =
        header_str(headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN_BYTES)) {
        return Err(IngestError::TooLarge { limit });
    }
    let read = async {
        let mut body = body;
        let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(limit));
        let mut thrown = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| IngestError::Body(e.to_string()))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            if thrown == 0 && kept.len() + data.len() <= limit {
                kept.extend_from_slice(data);
                continue;
            }
            thrown += data.len();
            if thrown > DRAIN_BYTES {
                break;
            }
        }
        if thrown > 0 {
            Err(IngestError::TooLarge { limit })
        } else {
            Ok(Bytes::from(kept))
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(IngestError::BodyTimeout { timeout }))
}
