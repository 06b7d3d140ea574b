//! # Deliver: one signed payload per webhook, to HTTP or Lambda
//!
//! In: the events one delivery carries, as the queue keeps them. Out: one POST (or one Lambda
//! invocation) of `{"time_ms", "events"}`, built anew for every attempt (a fresh `time_ms` and
//! signature, Pusher's or Standard Webhooks' as the webhook says) in JavaScript's
//! `JSON.stringify` form, so receivers that re-serialize before checking the HMAC (soketi's
//! documented Lambda handler) agree with the signature; and, when it fails, whether trying
//! again may help ([`Failure`]).

mod circuit;
mod headers;
mod history;
mod http;
mod lambda;
mod lane;
mod pause;
mod payload;
mod workers;

pub use headers::{
    ATTEMPT_HEADER, DELIVERY_ID_HEADER, RESERVED_HEADERS, USER_AGENT, delivery_headers,
};
pub use history::{DeliveryRecord, History};
pub use http::HttpSender;
pub use lambda::{FALLBACK_REGION, LambdaError, LambdaSender, invocation_payload};
pub use payload::{Payload, build};
pub use workers::{WebhookStatus, Workers};

use std::time::Duration;

use crate::config::{Batching, Secret, Target, Webhook};
use crate::queue::FunctionErrors;

/// What a lane needs of the config to send: taken from the running config at every attempt,
/// so a reload that changes a webhook's target, signing, secret or headers applies to what
/// waits.
#[derive(Debug, Clone)]
pub struct Destination {
    pub app_key: String,
    pub secret: Secret,
    pub batching: Batching,
    pub webhook: Webhook,
}

/// Which delivery an attempt belongs to, sent as headers so receivers can drop repeats.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The same on every attempt of one delivery.
    pub delivery_id: &'a str,
    /// 1 for the first attempt.
    pub number: u32,
}

/// What a failed attempt means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It may succeed later: try again, not sooner than `retry_after` if the receiver said so.
    Transient { retry_after: Option<Duration> },
    /// It will not succeed as it is: dead-letter it.
    Permanent,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("receiver answered HTTP {status}: {body}")]
    Status {
        status: u16,
        body: String,
        /// The receiver's `Retry-After`, if it sent one that could be read.
        retry_after: Option<Duration>,
    },
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
    /// Whether trying again may help. Retried: no answer (connection errors, timeouts), HTTP
    /// 408, 425, 429 and 5xx, Lambda throttling and 5xx, and a handler that threw unless
    /// `function_errors` says otherwise. Anything else the receiver refused is permanent.
    pub fn failure(&self, function_errors: FunctionErrors) -> Failure {
        let transient = Failure::Transient { retry_after: None };
        match self {
            Self::Status {
                status,
                retry_after,
                ..
            } => match status {
                408 | 425 | 429 | 500.. => Failure::Transient {
                    retry_after: *retry_after,
                },
                _ => Failure::Permanent,
            },
            Self::Timeout | Self::Connect(_) | Self::Request(_) => transient,
            Self::Lambda(LambdaError::FunctionError { .. }) => match function_errors {
                FunctionErrors::Retry => transient,
                FunctionErrors::DeadLetter => Failure::Permanent,
            },
            Self::Lambda(e) if e.is_retryable() => transient,
            Self::Lambda(_) => Failure::Permanent,
        }
    }

    /// The HTTP status the receiver (or Lambda) answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Lambda(e) => e.status(),
            _ => None,
        }
    }

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

    /// Makes one attempt to deliver `payload` to `destination`, signed as its webhook says;
    /// the status the receiver (or Lambda) answered.
    pub async fn deliver(
        &self,
        destination: &Destination,
        payload: &Payload,
        attempt: &Attempt<'_>,
    ) -> Result<u16, DeliveryError> {
        let headers = delivery_headers(destination, payload, attempt);
        match &destination.webhook.target {
            Target::Http(url) => self.http.send(url, &headers, payload).await,
            Target::Lambda(target) => Ok(self.lambda.send(target, &headers, payload).await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> DeliveryError {
        DeliveryError::Status {
            status: code,
            body: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn what_may_pass_is_retried_and_what_will_not_is_permanent() {
        let retry = FunctionErrors::Retry;
        for code in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(status(code, None).failure(retry), Failure::Transient { .. }),
                "HTTP {code}"
            );
        }
        for code in [300, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(
                status(code, None).failure(retry),
                Failure::Permanent,
                "HTTP {code}"
            );
        }
        assert_eq!(
            status(429, Some(2)).failure(retry),
            Failure::Transient {
                retry_after: Some(Duration::from_secs(2))
            },
            "the receiver's Retry-After goes with it"
        );
        assert!(matches!(
            DeliveryError::Timeout.failure(retry),
            Failure::Transient { .. }
        ));
    }

    #[test]
    fn a_thrown_lambda_handler_is_retried_unless_configured_final() {
        let thrown = || {
            DeliveryError::Lambda(LambdaError::FunctionError {
                function: "f".into(),
                kind: "Unhandled".into(),
                payload: "Error: boom".into(),
            })
        };
        assert!(matches!(
            thrown().failure(FunctionErrors::Retry),
            Failure::Transient { .. }
        ));
        assert_eq!(
            thrown().failure(FunctionErrors::DeadLetter),
            Failure::Permanent
        );
        let missing = DeliveryError::Lambda(LambdaError::FunctionNotFound {
            function: "nope".into(),
            region: "eu-central-1".into(),
            message: "Function not found".into(),
        });
        assert_eq!(missing.failure(FunctionErrors::Retry), Failure::Permanent);
        let throttled = DeliveryError::Lambda(LambdaError::Throttled {
            function: "f".into(),
            status: 429,
            message: "Rate exceeded".into(),
        });
        assert!(matches!(
            throttled.failure(FunctionErrors::Retry),
            Failure::Transient { .. }
        ));
    }
}
