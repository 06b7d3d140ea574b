//! `POST /ingest/pusher`: check, authenticate, parse, accept.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;

use super::IngestError;
use super::batch::parse_batch;
use crate::gateway::Gateway;
use crate::metrics::{add, inc};
use crate::signature;

/// The answer to an accepted batch.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub accepted: usize,
}

/// Accepts a signed batch whole, or refuses it whole with the reason.
pub async fn ingest_pusher(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Accepted>, IngestError> {
    let metrics = gateway.metrics();
    let result = accept(&gateway, &headers, body).await;
    match &result {
        Ok(accepted) => {
            inc(&metrics.ingest_accepted);
            add(&metrics.events_received, accepted.accepted as u64);
        }
        Err(e) => {
            let counter = match e {
                IngestError::WrongContentType => &metrics.ingest_wrong_content_type,
                IngestError::TooLarge { .. } => &metrics.ingest_too_large,
                IngestError::MissingKey | IngestError::UnknownKey | IngestError::BadSignature => {
                    &metrics.ingest_unauthorized
                }
                _ => &metrics.ingest_malformed,
            };
            inc(counter);
            tracing::info!(status = e.status().as_u16(), reason = %e, "ingest refused");
        }
    }
    result.map(Json)
}

async fn accept(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, IngestError> {
    if !is_json(headers) {
        return Err(IngestError::WrongContentType);
    }
    let limit = gateway.max_body_bytes();
    let body = read_limited(headers, body, limit).await?;
    let key = header_str(headers, "x-pusher-key").ok_or(IngestError::MissingKey)?;
    // One snapshot for the whole request: the app found is the app whose routes are used.
    let snapshot = gateway.snapshot();
    let app = snapshot.app_by_key(key).ok_or(IngestError::UnknownKey)?;
    let given = header_str(headers, "x-pusher-signature").ok_or(IngestError::BadSignature)?;
    if !signature::verify(app.plan.app.secret.expose(), &body, given) {
        return Err(IngestError::BadSignature);
    }
    let events = parse_batch(&body)?;
    let accepted = events.len();
    app.submit(events)
        .await
        .map_err(|_| IngestError::ShuttingDown)?;
    Ok(Accepted { accepted })
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, CONTENT_TYPE.as_str())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, IngestError> {
    // Refuse early when the sender declares a size over the limit.
    let declared =
        header_str(headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(IngestError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngestError::TooLarge { limit })
        }
        Err(e) => Err(IngestError::Body(e.to_string())),
    }
}
