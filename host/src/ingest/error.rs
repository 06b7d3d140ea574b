//! Every way an ingest request is refused, and the HTTP answer for each.

use std::sync::Arc;

use axum::Json;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::{CONNECTION, RETRY_AFTER};
use axum::response::{IntoResponse, Response};

use super::batch::BatchError;
use crate::metrics::IngestOutcome;
use crate::queue::StoreError;

/// What a 503 asks the sender to wait before trying again, in seconds.
const RETRY_AFTER_SECS: &str = "1";

/// A refused ingest request. Nothing of a refused batch is kept.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("Content-Type must be application/json")]
    WrongContentType,
    #[error("body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("could not read the body: {0}")]
    Body(String),
    #[error("the body did not arrive within {} ms", timeout.as_millis())]
    BodyTimeout { timeout: std::time::Duration },
    #[error("missing X-Pusher-Key header")]
    MissingKey,
    #[error("unknown app key")]
    UnknownKey,
    #[error("missing or invalid X-Pusher-Signature")]
    BadSignature,
    #[error(transparent)]
    Malformed(#[from] BatchError),
    #[error("gateway is shutting down")]
    ShuttingDown,
    #[error("the gateway's queue is full; retry later")]
    QueueFull,
    #[error("the gateway is at capacity; retry later")]
    Busy,
    #[error("the gateway's queue store is unreachable; retry later")]
    Unavailable(#[source] Arc<StoreError>),
    #[error("the batch could not be stored; retry later")]
    Store(#[source] Arc<StoreError>),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::WrongContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Body(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::MissingKey | Self::UnknownKey | Self::BadSignature => StatusCode::UNAUTHORIZED,
            Self::ShuttingDown | Self::QueueFull | Self::Busy | Self::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The outcome `switchyard_ingest_requests_total` counts it under.
    pub fn outcome(&self) -> IngestOutcome {
        match self {
            Self::WrongContentType => IngestOutcome::WrongContentType,
            Self::TooLarge { .. } => IngestOutcome::TooLarge,
            Self::Body(_) | Self::BodyTimeout { .. } => IngestOutcome::Unreadable,
            Self::MissingKey | Self::UnknownKey | Self::BadSignature => IngestOutcome::Unauthorized,
            Self::Malformed(_) => IngestOutcome::Malformed,
            Self::QueueFull => IngestOutcome::QueueFull,
            Self::Busy => IngestOutcome::Busy,
            Self::ShuttingDown | Self::Unavailable(_) | Self::Store(_) => {
                IngestOutcome::Unavailable
            }
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
            }
            // The rest of such a body may still be on its way: this connection is done.
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
