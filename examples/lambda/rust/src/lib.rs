//! The logic of the example handler, apart from the Lambda runtime so it can be tested natively.
//!
//! The invocation is `{"payload": <webhook body>, "headers": {...}}`, as Switchyard and soketi
//! send it. The signature is the hex HMAC-SHA256, with the app secret, of
//! `JSON.stringify(payload)`. Both senders write the invocation with `JSON.stringify`, so the raw
//! bytes of `payload` as they arrive *are* `JSON.stringify(payload)`: this handler verifies those
//! bytes (kept raw with serde_json's `RawValue`) and never re-serializes, because serde would
//! write numbers (`1e21`), escapes and array-index keys differently from JavaScript.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::Sha256;

/// What the function is invoked with.
#[derive(Debug, Deserialize)]
pub struct Invocation {
    /// The webhook body, byte for byte as sent.
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub headers: HashMap<String, String>,
}

/// The webhook body: `{"time_ms", "events"}`.
#[derive(Debug, Deserialize)]
pub struct Payload {
    pub time_ms: u64,
    pub events: Vec<Event>,
}

/// One Pusher webhook event; fields beyond these are ignored here but were signed all the same.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub name: String,
    pub channel: String,
    #[serde(default)]
    pub user_id: Option<Value>,
    /// The client event's name (`client-...`).
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub socket_id: Option<String>,
    #[serde(default)]
    pub subscription_count: Option<Value>,
}

/// Why an invocation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The signature is missing or does not match: never process such a payload.
    InvalidSignature,
    /// Signed correctly, but not a webhook body.
    BadPayload(String),
}

impl Refused {
    /// A short name for the kind of refusal (Lambda's `errorType`).
    pub fn kind(&self) -> &'static str {
        match self {
            Refused::InvalidSignature => "InvalidSignature",
            Refused::BadPayload(_) => "BadPayload",
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::InvalidSignature => f.write_str("invalid webhook signature"),
            Refused::BadPayload(e) => write!(f, "not a webhook payload: {e}"),
        }
    }
}

impl std::error::Error for Refused {}

/// Whether `signature` (hex) is the HMAC-SHA256 of `payload` with `secret`, compared in
/// constant time.
pub fn signature_is_valid(payload: &[u8], signature: Option<&str>, secret: &str) -> bool {
    let (Some(signature), false) = (signature, secret.is_empty()) else {
        return false;
    };
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload);
    mac.verify_slice(&given).is_ok()
}

/// Verifies the invocation, then handles each event; returns one line per event.
pub fn handle(invocation: &Invocation, secret: &str) -> Result<Vec<String>, Refused> {
    let raw = invocation.payload.get();
    let signature = invocation
        .headers
        .get("X-Pusher-Signature")
        .map(String::as_str);
    if !signature_is_valid(raw.as_bytes(), signature, secret) {
        return Err(Refused::InvalidSignature);
    }
    let payload: Payload =
        serde_json::from_str(raw).map_err(|e| Refused::BadPayload(e.to_string()))?;
    Ok(payload.events.iter().map(handle_event).collect())
}

/// What to do with one event; here, describe it.
pub fn handle_event(event: &Event) -> String {
    let channel = &event.channel;
    let user = || event.user_id.as_ref().map(text).unwrap_or_default();
    match event.name.as_str() {
        "channel_occupied" => format!("{channel} is now occupied"),
        "channel_vacated" => format!("{channel} is now vacated"),
        "member_added" => format!("user {} joined {channel}", user()),
        "member_removed" => format!("user {} left {channel}", user()),
        "client_event" => format!(
            "client event {} on {channel} from socket {}",
            event.event.as_deref().unwrap_or_default(),
            event.socket_id.as_deref().unwrap_or_default()
        ),
        "cache_miss" => format!("cache miss on {channel}"),
        "subscription_count" => format!(
            "{channel} has {} subscriptions",
            event
                .subscription_count
                .as_ref()
                .map(text)
                .unwrap_or_default()
        ),
        // Newer servers may send event types this handler does not know yet: skip them.
        other => format!("ignored {other} on {channel}"),
    }
}

/// A string as itself, anything else as JSON.
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "app-secret";

    fn sign(bytes: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(bytes);
        hex::encode(mac.finalize().into_bytes())
    }

    /// An invocation as Switchyard builds it: the signed body embedded raw.
    fn invocation(body: &str, signature: Option<&str>) -> Invocation {
        let headers = match signature {
            Some(s) => format!(r#"{{"X-Pusher-Key":"app-key","X-Pusher-Signature":"{s}"}}"#),
            None => "{}".into(),
        };
        serde_json::from_str(&format!(r#"{{"payload":{body},"headers":{headers}}}"#)).unwrap()
    }

    // JSON.stringify output that serde would not reproduce: JS number forms, array-index keys
    // first, a lone surrogate escape, U+2028 unescaped.
    const TRICKY: &str = r#"{"time_ms":1700000000000,"events":[{"name":"client_event","channel":"private-chat","event":"client-typing","socket_id":"1.2","data":"{\"t\":\"héllo 𝄞 \u2028\"}","meta":{"2":"b","10":"a","z":[1e+21,1e-7,0.1,12345678901234567000],"s":"\ud800"}}]}"#;

    #[test]
    fn a_correct_signature_over_the_raw_payload_is_accepted() {
        let handled = handle(&invocation(TRICKY, Some(&sign(TRICKY.as_bytes()))), SECRET).unwrap();
        assert_eq!(
            handled,
            ["client event client-typing on private-chat from socket 1.2"]
        );
    }

    #[test]
    fn missing_wrong_or_malformed_signatures_and_a_missing_secret_are_refused() {
        let good = sign(TRICKY.as_bytes());
        assert_eq!(
            handle(&invocation(TRICKY, None), SECRET),
            Err(Refused::InvalidSignature)
        );
        assert_eq!(
            handle(&invocation(TRICKY, Some(&sign(b"other"))), SECRET),
            Err(Refused::InvalidSignature)
        );
        assert_eq!(
            handle(&invocation(TRICKY, Some("zz-not-hex")), SECRET),
            Err(Refused::InvalidSignature)
        );
        assert_eq!(
            handle(&invocation(TRICKY, Some(&good[..10])), SECRET),
            Err(Refused::InvalidSignature)
        );
        assert_eq!(
            handle(&invocation(TRICKY, Some(&good)), ""),
            Err(Refused::InvalidSignature)
        );
        let tampered = TRICKY.replace("client-typing", "client-typinG");
        assert_eq!(
            handle(&invocation(&tampered, Some(&good)), SECRET),
            Err(Refused::InvalidSignature)
        );
    }

    #[test]
    fn every_event_type_is_handled() {
        let body = r#"{"time_ms":1,"events":[{"name":"channel_occupied","channel":"a"},{"name":"channel_vacated","channel":"a"},{"name":"member_added","channel":"presence-a","user_id":"7"},{"name":"member_removed","channel":"presence-a","user_id":7},{"name":"cache_miss","channel":"cache-a"},{"name":"subscription_count","channel":"a","subscription_count":3},{"name":"future_event","channel":"a"}]}"#;
        let handled = handle(&invocation(body, Some(&sign(body.as_bytes()))), SECRET).unwrap();
        assert_eq!(
            handled,
            [
                "a is now occupied",
                "a is now vacated",
                "user 7 joined presence-a",
                "user 7 left presence-a",
                "cache miss on cache-a",
                "a has 3 subscriptions",
                "ignored future_event on a",
            ]
        );
    }

    #[test]
    fn a_signed_body_that_is_not_a_webhook_is_refused() {
        let body = r#"{"hello":"world"}"#;
        let refused = handle(&invocation(body, Some(&sign(body.as_bytes()))), SECRET).unwrap_err();
        assert!(matches!(refused, Refused::BadPayload(_)), "{refused}");
    }
}
