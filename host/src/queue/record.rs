//! What the store keeps: jobs waiting in a lane and dead letters, each encoded with a version
//! tag so a later format can read an earlier one. Neither ever holds a secret, a target or a
//! credential: those are read from the config running when a delivery is sent.

use serde::{Deserialize, Serialize};

use super::WebhookKey;
use crate::event::Event;
use crate::json::{self, JsValue};

/// Events as the queue keeps them: each in `JSON.stringify` form, joined by commas, so a
/// delivery's body is built by concatenation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    pub count: u32,
    #[serde(with = "serde_bytes")]
    pub json: Vec<u8>,
}

impl Events {
    /// `events`, each written as `JSON.stringify` writes it.
    pub fn join(events: &[Event]) -> Self {
        let mut json = Vec::with_capacity(events.len() * 128);
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            event.write_json(&mut json);
        }
        Self {
            count: events.len() as u32,
            json,
        }
    }

    fn array_text(&self) -> Vec<u8> {
        let mut text = Vec::with_capacity(self.json.len() + 2);
        text.push(b'[');
        text.extend_from_slice(&self.json);
        text.push(b']');
        text
    }

    /// The events as a JSON array, for people (`dlq show`, the admin API).
    pub fn to_array(&self) -> serde_json::Value {
        serde_json::from_slice(&self.array_text()).unwrap_or(serde_json::Value::Null)
    }

    /// The events as a JavaScript-compatible array, to route them again.
    pub fn to_js_array(&self) -> Option<JsValue> {
        json::parse(&self.array_text()).ok()
    }
}

/// One or more events of one webhook and lane, in ingest order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// When the gateway accepted the events (milliseconds since the Unix epoch).
    pub enqueued_ms: u64,
    pub events: Events,
    /// Set once a delivery of this job failed: the job is then that delivery, fixed.
    pub delivery: Option<DeliveryState>,
}

/// A delivery that has been attempted and will be tried again (or, on Redis, whose first
/// attempt another gateway started: [`DeliveryState::fresh`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// Sent as `X-Switchyard-Delivery` on every attempt.
    pub id: String,
    pub attempts: u32,
    pub first_attempt_ms: u64,
    pub last_attempt_ms: u64,
    /// Not before this time (milliseconds since the Unix epoch).
    pub next_due_ms: u64,
    /// The last attempt's HTTP status or error.
    pub last_error: String,
}

impl DeliveryState {
    /// A delivery not yet attempted, of a lane's jobs `first` to `last`: named by them (and the
    /// store), so whoever sends those same jobs sends them under the same id.
    pub fn fresh(store_id: u64, first: u64, last: u64) -> Self {
        Self {
            id: format!("{store_id:016x}-{first:x}-{last:x}"),
            attempts: 0,
            first_attempt_ms: 0,
            last_attempt_ms: 0,
            next_due_ms: 0,
            last_error: String::new(),
        }
    }
}

// Records are written as the newest variant and read as any: add `V2` beside `V1` when the
// format changes. The borrowing twin writes without copying the events.
#[derive(Deserialize)]
enum StoredJob {
    V1(Job),
}

#[derive(Serialize)]
enum StoredJobRef<'a> {
    V1(&'a Job),
}

/// The first fields of a `V1` job, read without copying its events.
#[derive(Deserialize)]
enum StoredJobHead {
    V1 { _enqueued_ms: u64, event_count: u32 },
}

impl Job {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(&StoredJobRef::V1(self)).expect("encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let StoredJob::V1(job) = postcard::from_bytes(bytes)?;
        Ok(job)
    }

    /// The length of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        postcard::experimental::serialized_size(&StoredJobRef::V1(self)).unwrap_or_default()
    }

    /// How many events an encoded job holds.
    pub fn decode_event_count(bytes: &[u8]) -> Result<u32, postcard::Error> {
        let (StoredJobHead::V1 { event_count, .. }, _) = postcard::take_from_bytes(bytes)?;
        Ok(event_count)
    }
}

/// Why events were set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The receiver refused them in a way trying again would not change (HTTP 4xx, unknown
    /// Lambda function, access denied).
    Rejected,
    /// Still failing when the retry policy's `max_age` ran out.
    Expired,
    /// The webhook was removed from the config while they waited.
    WebhookRemoved,
    /// A filter with `on_error = "dead_letter"` failed on them.
    FilterFailed,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::Rejected,
        Reason::Expired,
        Reason::WebhookRemoved,
        Reason::FilterFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::WebhookRemoved => "webhook_removed",
            Reason::FilterFailed => "filter_failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Events the gateway gave up delivering, kept until replayed or purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub webhook: WebhookKey,
    pub events: Events,
    pub reason: Reason,
    /// What happened, in words: the last status or error, the filter's failure, ...
    pub detail: String,
    pub enqueued_ms: u64,
    pub dead_lettered_ms: u64,
    /// The delivery and its attempts, when there were any.
    pub delivery: Option<DeliveryState>,
}

#[derive(Deserialize)]
enum StoredDeadLetter {
    V1(DeadLetter),
}

#[derive(Serialize)]
enum StoredDeadLetterRef<'a> {
    V1(&'a DeadLetter),
}

impl DeadLetter {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(&StoredDeadLetterRef::V1(self)).expect("encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let StoredDeadLetter::V1(letter) = postcard::from_bytes(bytes)?;
        Ok(letter)
    }

    /// The length of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        postcard::experimental::serialized_size(&StoredDeadLetterRef::V1(self)).unwrap_or_default()
    }
}

/// A webhook an operator paused: its deliveries are held until it is resumed. Kept in the
/// store, so it outlasts a restart and (on Redis) holds on every gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub at_ms: u64,
    /// Who asked: "console" or "api".
    pub by: String,
}

#[derive(Serialize, Deserialize)]
enum StoredPaused {
    V1(Paused),
}

impl Paused {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(&StoredPaused::V1(self.clone())).expect("encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let StoredPaused::V1(paused) = postcard::from_bytes(bytes)?;
        Ok(paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Events {
        let json = br#"{"name":"member_added","channel":"presence-a","user_id":"7"},{"name":"client_event","channel":"presence-a","data":"{\"x\":\"\u00e9\"}"}"#;
        Events {
            count: 2,
            json: json.to_vec(),
        }
    }

    #[test]
    fn jobs_round_trip_with_and_without_a_delivery() {
        let fresh = Job {
            enqueued_ms: 1_700_000_000_000,
            events: events(),
            delivery: None,
        };
        assert_eq!(Job::decode(&fresh.encode()).unwrap(), fresh);
        assert_eq!(Job::decode_event_count(&fresh.encode()).unwrap(), 2);
        let retried = Job {
            delivery: Some(DeliveryState {
                id: "d-1".into(),
                attempts: 3,
                first_attempt_ms: 1,
                last_attempt_ms: 2,
                next_due_ms: 3,
                last_error: "HTTP 503".into(),
            }),
            ..fresh
        };
        assert_eq!(Job::decode(&retried.encode()).unwrap(), retried);
        assert!(Job::decode(b"\x07garbage").is_err());
    }

    #[test]
    fn dead_letters_round_trip_and_show_their_events_as_json() {
        let letter = DeadLetter {
            webhook: WebhookKey::new("app-1", "hooks"),
            events: events(),
            reason: Reason::Rejected,
            detail: "receiver answered HTTP 400".into(),
            enqueued_ms: 1,
            dead_lettered_ms: 2,
            delivery: None,
        };
        assert_eq!(DeadLetter::decode(&letter.encode()).unwrap(), letter);
        let array = letter.events.to_array();
        assert_eq!(array[0]["user_id"], "7");
        assert_eq!(array[1]["data"], "{\"x\":\"é\"}");
        assert_eq!(Reason::from_name("expired"), Some(Reason::Expired));
    }
}
