//! # Deliver: one signed payload per webhook, to HTTP or Lambda
//!
//! In: the events routing kept for one webhook. Out: one POST (or one Lambda invocation) of
//! `{"time_ms", "events"}`, serialized once in JavaScript's `JSON.stringify` form so receivers
//! that re-serialize before checking the HMAC (soketi's documented Lambda handler) agree with
//! the signature. A failure is logged with the webhook, status and reason.

mod headers;
mod http;
mod lambda;
mod payload;

pub use headers::{USER_AGENT, delivery_headers};
pub use http::HttpSender;
pub use lambda::{FALLBACK_REGION, LambdaError, LambdaSender, invocation_payload};
pub use payload::{SignedPayload, build, now_ms};

use crate::config::{App, Target, Webhook};

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("receiver answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("timed out")]
    Timeout,
    #[error("could not connect: {0}")]
    Connect(#[source] reqwest::Error),
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error(transparent)]
    Lambda(#[from] LambdaError),
}

impl DeliveryError {
    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() {
            Self::Connect(e)
        } else {
            Self::Request(e)
        }
    }
}

/// Sends payloads to any target kind; cheap to clone.
#[derive(Debug, Clone)]
pub struct Deliverer {
    http: HttpSender,
    lambda: LambdaSender,
}

impl Deliverer {
    /// Sends over `http`'s connection pool and `lambda`'s client cache; both are shared by
    /// every clone, so a reload or a new task never rebuilds them.
    pub fn new(http: HttpSender, lambda: LambdaSender) -> Self {
        Self { http, lambda }
    }

    /// Delivers one payload to `webhook` of `app`.
    pub async fn deliver(
        &self,
        app: &App,
        webhook: &Webhook,
        payload: &SignedPayload,
    ) -> Result<(), DeliveryError> {
        let headers = delivery_headers(webhook, &app.key, payload);
        match &webhook.target {
            Target::Http(url) => self.http.send(url, &headers, payload).await.map(drop),
            Target::Lambda(target) => self
                .lambda
                .send(target, &headers, payload)
                .await
                .map(drop)
                .map_err(Into::into),
        }
    }
}
