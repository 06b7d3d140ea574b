//! Every way an ingest request is refused, and the HTTP answer for each.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::batch::BatchError;

/// A refused ingest request. Nothing of a refused batch is kept.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("Content-Type must be application/json")]
    WrongContentType,
    #[error("body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("could not read the body: {0}")]
    Body(String),
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
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::WrongContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::MissingKey | Self::UnknownKey | Self::BadSignature => StatusCode::UNAUTHORIZED,
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
