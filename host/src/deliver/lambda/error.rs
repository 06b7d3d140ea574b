//! Why an invocation failed, classified for the retry policy: throttling, 5xx, timeouts,
//! connection failures and a handler that threw may succeed later (a function error is the
//! Lambda form of a receiver's HTTP 500); a missing function or a refused request will not.

use std::error::Error;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;

/// A failed Lambda invocation. Never carries credentials: only the function, the region and
/// what the service or the function answered.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("Lambda function `{function}` not found in region {region}: {message}")]
    FunctionNotFound {
        function: String,
        region: String,
        message: String,
    },
    /// The function ran and failed (`X-Amz-Function-Error`); `payload` is its error.
    #[error("Lambda function `{function}` failed ({kind}): {payload}")]
    FunctionError {
        function: String,
        kind: String,
        payload: String,
    },
    #[error("Lambda throttled the invocation of `{function}` (HTTP {status}): {message}")]
    Throttled {
        function: String,
        status: u16,
        message: String,
    },
    #[error("Lambda answered HTTP {status} ({code}) to the invocation of `{function}`: {message}")]
    Service {
        function: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("invocation of `{function}` timed out after {timeout_ms} ms")]
    Timeout { function: String, timeout_ms: u64 },
    /// No usable AWS credentials: none configured and none found by the default chain, or
    /// the chain's source (STS, ECS, EC2 metadata) failed.
    #[error("no AWS credentials to invoke `{function}`: {reason}")]
    Credentials {
        function: String,
        reason: String,
        retryable: bool,
    },
    /// No answer: connection refused or reset, DNS, TLS.
    #[error("could not reach Lambda for `{function}`: {reason}")]
    Unreachable {
        function: String,
        reason: String,
        retryable: bool,
    },
    /// The request could not be built or signed (no credentials found, bad parameter).
    #[error("cannot invoke `{function}`: {reason}")]
    Request { function: String, reason: String },
}

impl LambdaError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Timeout { .. } | Self::FunctionError { .. } => true,
            Self::Service { status, .. } => *status >= 500,
            Self::Unreachable { retryable, .. } | Self::Credentials { retryable, .. } => *retryable,
            Self::FunctionNotFound { .. } | Self::Request { .. } => false,
        }
    }

    /// The HTTP status Lambda answered, when the failure is its answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Throttled { status, .. } | Self::Service { status, .. } => Some(*status),
            Self::FunctionNotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// Classifies an SDK error for `function`.
    pub(super) fn from_sdk(
        e: SdkError<InvokeError>,
        function: &str,
        region: &str,
        timeout_ms: u64,
    ) -> Self {
        let function = function.to_owned();
        // The whole chain of causes, for errors that have no better description.
        let context = causes(&e);
        if let Some(credentials) = find_cause::<CredentialsError>(&e) {
            // Not found anywhere will stay so; a failing source (STS, metadata) may recover.
            let retryable = !matches!(credentials, CredentialsError::CredentialsNotLoaded(_));
            return Self::Credentials {
                function,
                reason: causes(credentials),
                retryable,
            };
        }
        match e {
            SdkError::TimeoutError(_) => Self::Timeout {
                function,
                timeout_ms,
            },
            SdkError::DispatchFailure(failure) => {
                let retryable = failure.is_io() || failure.is_timeout() || failure.is_other();
                Self::Unreachable {
                    function,
                    reason: context,
                    retryable,
                }
            }
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let err = service.into_err();
                let message = err.message().unwrap_or("no message").to_owned();
                let code = err.code().unwrap_or("unknown error").to_owned();
                match err {
                    InvokeError::ResourceNotFoundException(_) => Self::FunctionNotFound {
                        function,
                        region: region.to_owned(),
                        message,
                    },
                    InvokeError::TooManyRequestsException(_)
                    | InvokeError::Ec2ThrottledException(_) => Self::Throttled {
                        function,
                        status,
                        message,
                    },
                    _ if status == 429 => Self::Throttled {
                        function,
                        status,
                        message,
                    },
                    _ => Self::Service {
                        function,
                        status,
                        code,
                        message,
                    },
                }
            }
            // An answer the SDK could not parse: classify by the HTTP status alone.
            SdkError::ResponseError(response) => {
                let status = response.raw().status().as_u16();
                Self::Service {
                    function,
                    status,
                    code: "unparseable response".into(),
                    message: context,
                }
            }
            _ => Self::Request {
                function,
                reason: context,
            },
        }
    }
}

/// `error: cause: cause ...`, each distinct message once (wrappers often repeat their source).
fn causes(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|last| last.ends_with(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The first error of type `T` among `error` and its causes.
fn find_cause<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_joined_once_each() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: inner")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        #[derive(Debug, thiserror::Error)]
        #[error("top")]
        struct Top(#[source] Outer);
        assert_eq!(causes(&Top(Outer(Inner))), "top: outer: inner");
        assert!(find_cause::<Inner>(&Top(Outer(Inner))).is_some());
    }
}
