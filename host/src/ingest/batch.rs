//! Parsing a webhook batch body: `{"time_ms": <int>, "events": [<event>, ...]}`.

use crate::event::{Event, EventError};
use crate::json::{self, JsValue, JsonError};

/// Why a batch body was refused; the message is returned to the sender.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("body is not valid JSON: {0}")]
    Json(#[from] JsonError),
    #[error("body must be a JSON object with `time_ms` and `events`")]
    NotAnObject,
    #[error("`time_ms` must be a non-negative integer")]
    TimeMs,
    #[error("`events` must be an array")]
    EventsNotArray,
    #[error("events[{index}]: {source}")]
    Event {
        index: usize,
        #[source]
        source: EventError,
    },
}

/// Parses a whole batch: every event is valid, or the batch is refused.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Event>, BatchError> {
    let JsValue::Object(mut batch) = json::parse(body)? else {
        return Err(BatchError::NotAnObject);
    };
    match batch.get("time_ms").and_then(JsValue::as_f64) {
        Some(t) if t >= 0.0 && t.fract() == 0.0 => {}
        _ => return Err(BatchError::TimeMs),
    }
    let Some(JsValue::Array(events)) = batch.remove("events") else {
        return Err(BatchError::EventsNotArray);
    };
    events
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            Event::from_value(value).map_err(|source| BatchError::Event { index, source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_pusher_batch_and_keeps_unknown_fields() {
        let body = br#"{"time_ms":1,"events":[{"name":"member_added","channel":"presence-a","user_id":"7","new_field":{"x":1}}]}"#;
        let events = parse_batch(body).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name(), "member_added");
        assert_eq!(events[0].get_str("user_id"), Some("7"));
        assert!(events[0].get("new_field").is_some());
    }

    #[test]
    fn refuses_malformed_batches_whole() {
        let cases: &[(&[u8], &str)] = &[
            (b"{", "not valid JSON"),
            (b"[]", "JSON object"),
            (br#"{"events":[]}"#, "time_ms"),
            (br#"{"time_ms":-1,"events":[]}"#, "time_ms"),
            (br#"{"time_ms":1.5,"events":[]}"#, "time_ms"),
            (br#"{"time_ms":1,"events":{}}"#, "array"),
            (br#"{"time_ms":1}"#, "array"),
            (
                br#"{"time_ms":1,"events":[{"name":"a","channel":"c"},3]}"#,
                "events[1]",
            ),
            (br#"{"time_ms":1,"events":[{"channel":"c"}]}"#, "name"),
            (
                br#"{"time_ms":1,"events":[{"name":"a","channel":7}]}"#,
                "channel",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_batch(body).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{} → {err}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
