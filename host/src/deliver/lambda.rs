//! Delivery by AWS Lambda invocation, as soketi's "Lambda trigger" documents it.
//!
//! The function receives `{"payload": <the webhook body>, "headers": {<the headers an HTTP
//! delivery would carry>}}`, so soketi's example handler works unchanged: it recomputes
//! `HMAC(secret, JSON.stringify(payload))` and compares it with
//! `headers['X-Pusher-Signature']`. With Standard Webhooks signing the same holds for the
//! `webhook-*` headers: a handler gives `JSON.stringify(payload)` and `headers` to the library. `async: true` invokes with `Event` (Lambda queues it and
//! answers 202), otherwise `RequestResponse`, where a `FunctionError` (the handler threw) is a
//! failed delivery carrying the function's error.

mod clients;
mod error;

use std::sync::Arc;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

pub use clients::FALLBACK_REGION;
pub use error::LambdaError;

use super::Payload;
use crate::config::LambdaTarget;
use clients::ClientCache;

/// The most of a function's error payload kept in a [`LambdaError::FunctionError`].
const MAX_ERROR_PAYLOAD_CHARS: usize = 1000;

/// Invokes Lambda functions through cached clients; cheap to clone (clones share the cache).
#[derive(Debug, Clone)]
pub struct LambdaSender {
    clients: Arc<ClientCache>,
}

impl LambdaSender {
    /// A sender whose every invocation must finish within `timeout`.
    pub fn new(timeout: std::time::Duration) -> Self {
        Self {
            clients: Arc::new(ClientCache::new(timeout)),
        }
    }

    /// Invokes `target.function` with `payload` and `headers`; returns the status Lambda
    /// answered (200 for RequestResponse, 202 for Event).
    pub async fn send(
        &self,
        target: &LambdaTarget,
        headers: &[(String, String)],
        payload: &Payload,
    ) -> Result<u16, LambdaError> {
        let client = self.clients.client(target).await;
        let invocation_type = if target.asynchronous {
            InvocationType::Event
        } else {
            InvocationType::RequestResponse
        };
        let output = client
            .client
            .invoke()
            .function_name(&target.function)
            .invocation_type(invocation_type.clone())
            .payload(Blob::new(invocation_payload(&payload.body, headers)))
            .send()
            .await
            .map_err(|e| {
                let timeout_ms = self.clients.timeout().as_millis() as u64;
                LambdaError::from_sdk(e, &target.function, &client.region, timeout_ms)
            })?;
        if let Some(kind) = output.function_error() {
            let raw = output.payload().map(Blob::as_ref).unwrap_or_default();
            return Err(LambdaError::FunctionError {
                function: target.function.clone(),
                kind: kind.to_owned(),
                payload: describe_function_error(raw),
            });
        }
        let status = u16::try_from(output.status_code()).unwrap_or_default();
        tracing::debug!(
            function = %target.function,
            invocation_type = invocation_type.as_str(),
            status,
            "lambda invoked"
        );
        Ok(status)
    }
}

/// `{"payload":<body>,"headers":{..}}`, built from bytes so `payload` is exactly the bytes that
/// were signed: re-serializing would risk changing them.
pub fn invocation_payload(body: &[u8], headers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64 + headers.len() * 48);
    out.extend_from_slice(b"{\"payload\":");
    out.extend_from_slice(body);
    out.extend_from_slice(b",\"headers\":{");
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value);
    }
    out.extend_from_slice(b"}}");
    out
}

/// A function's error payload for logs: `errorType: errorMessage` when it has the Lambda
/// runtimes' shape (the stack trace left out), else an excerpt of the raw payload.
fn describe_function_error(raw: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(raw).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
    };
    let text = match (field("errorType"), field("errorMessage")) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => String::from_utf8_lossy(raw).into_owned(),
    };
    text.chars().take(MAX_ERROR_PAYLOAD_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn payload_embeds_the_signed_bytes_unchanged_and_headers_as_an_object() {
        let body = r#"{"time_ms":1,"events":[{"1":"x","name":"client_event","channel":"c","data":"{\"a\":\"é\"}","n":1e+21}]}"#.as_bytes();
        let headers = vec![
            ("X-Pusher-Key".to_owned(), "key".to_owned()),
            ("X-Odd".to_owned(), "quote \" and \\".to_owned()),
        ];
        let invocation = invocation_payload(body, &headers);
        let expected_prefix = [b"{\"payload\":".as_slice(), body, b",\"headers\":"].concat();
        assert!(invocation.starts_with(&expected_prefix));
        let parsed = json::parse(&invocation).expect("valid JSON");
        let mut rewritten = Vec::new();
        parsed
            .as_object()
            .unwrap()
            .get("payload")
            .unwrap()
            .write_json(&mut rewritten);
        assert_eq!(rewritten, body, "payload keeps the signed bytes");
        let v: serde_json::Value = serde_json::from_slice(&invocation).unwrap();
        assert_eq!(v["headers"]["X-Pusher-Key"], "key");
        assert_eq!(v["headers"]["X-Odd"], "quote \" and \\");
    }

    #[test]
    fn function_errors_are_summarized_without_the_stack_trace() {
        let raw = br#"{"errorType":"Error","errorMessage":"boom","trace":["at a","at b"]}"#;
        assert_eq!(describe_function_error(raw), "Error: boom");
        assert_eq!(describe_function_error(b"not json"), "not json");
        assert_eq!(
            describe_function_error(&[b'x'; 5000]).len(),
            MAX_ERROR_PAYLOAD_CHARS
        );
    }
}
