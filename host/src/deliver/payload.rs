//! The payload one webhook receives: `{"time_ms": .., "events": [..]}`, serialized once in
//! JavaScript's `JSON.stringify` form, whatever the target; the headers sign these bytes.

use bytes::Bytes;

/// A webhook body, ready for any target.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Exactly the bytes that are sent and signed.
    pub body: Bytes,
    /// The body's `time_ms`: when this attempt was built. Standard Webhooks'
    /// `webhook-timestamp` is the same instant, in seconds.
    pub time_ms: u64,
    pub event_count: usize,
}

/// Builds the payload of `event_count` events given as JSON `parts`, each one or more events
/// already in `JSON.stringify` form and joined by commas (how the queue keeps them).
/// `time_ms` is when the payload is built, as Pusher defines it (receivers' SDKs refuse
/// webhooks more than 5 minutes off their clock), so every attempt is built anew.
pub fn build(parts: &[impl AsRef<[u8]>], event_count: usize, time_ms: u64) -> Payload {
    let len: usize = parts.iter().map(|p| p.as_ref().len() + 1).sum();
    let mut body = Vec::with_capacity(40 + len);
    body.extend_from_slice(b"{\"time_ms\":");
    body.extend_from_slice(time_ms.to_string().as_bytes());
    body.extend_from_slice(b",\"events\":[");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(part.as_ref());
    }
    body.extend_from_slice(b"]}");
    Payload {
        body: Bytes::from(body),
        time_ms,
        event_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::json;
    use crate::queue::Events;

    #[test]
    fn payload_joins_the_given_parts_exactly() {
        let raw = br#"{"name":"client_event","channel":"private-a","event":"client-x","data":"{\"n\":1}","extra":[1,2]}"#;
        let event = Event::from_value(json::parse(raw).unwrap()).unwrap();
        let one = Events::join(std::slice::from_ref(&event)).json;
        let payload = build(&[one.clone(), one], 2, 1_700_000_000_123);
        let expected = format!(
            "{{\"time_ms\":1700000000123,\"events\":[{},{}]}}",
            std::str::from_utf8(raw).unwrap(),
            std::str::from_utf8(raw).unwrap()
        );
        assert_eq!(payload.body, expected.as_bytes());
        assert_eq!(payload.event_count, 2);
        assert_eq!(payload.time_ms, 1_700_000_000_123);
    }
}
