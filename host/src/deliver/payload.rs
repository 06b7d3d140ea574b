//! The payload one webhook receives: `{"time_ms": .., "events": [..]}`, serialized once in
//! JavaScript's `JSON.stringify` form and signed once, whatever the target.

use bytes::Bytes;

use crate::event::Event;
use crate::signature;

/// A webhook body and its signature, ready for any target.
#[derive(Debug, Clone)]
pub struct SignedPayload {
    /// Exactly the bytes that were signed.
    pub body: Bytes,
    /// `X-Pusher-Signature`: hex HMAC-SHA256 of `body` with the app secret.
    pub signature: String,
    pub event_count: usize,
}

/// Builds and signs the payload for `events`. `time_ms` is when the payload is built, as Pusher
/// defines it (receivers' SDKs refuse webhooks more than 5 minutes off their clock).
pub fn build(events: &[Event], time_ms: u64, secret: &str) -> SignedPayload {
    let mut body = Vec::with_capacity(64 + events.len() * 128);
    body.extend_from_slice(b"{\"time_ms\":");
    body.extend_from_slice(time_ms.to_string().as_bytes());
    body.extend_from_slice(b",\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        event.write_json(&mut body);
    }
    body.extend_from_slice(b"]}");
    let signature = signature::sign(secret, &body);
    SignedPayload {
        body: Bytes::from(body),
        signature,
        event_count: events.len(),
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since_epoch.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn payload_holds_exactly_the_given_events_and_its_signature_verifies() {
        let raw = br#"{"name":"client_event","channel":"private-a","event":"client-x","data":"{\"n\":1}","extra":[1,2]}"#;
        let event = Event::from_value(json::parse(raw).unwrap()).unwrap();
        let payload = build(&[event.clone(), event], 1_700_000_000_123, "s3cret");
        let expected = format!(
            "{{\"time_ms\":1700000000123,\"events\":[{},{}]}}",
            std::str::from_utf8(raw).unwrap(),
            std::str::from_utf8(raw).unwrap()
        );
        assert_eq!(payload.body, expected.as_bytes());
        assert_eq!(payload.event_count, 2);
        assert!(signature::verify(
            "s3cret",
            &payload.body,
            &payload.signature
        ));
    }
}
