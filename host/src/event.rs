//! The unit of work: one Pusher webhook event, and the batch a source sends.
//!
//! Pusher and soketi POST `{"time_ms": <int>, "events": [{"name": .., "channel": .., ...}]}`.
//! An event keeps every field it came with, in order (Pusher adds fields over time and they
//! must reach the receiver unchanged); `name` and `channel` are also held as plain strings
//! because every routing decision reads them.

use std::sync::Arc;

use crate::json::{JsObject, JsValue};

/// One webhook event as received. Cloning is cheap (shared, immutable): a batch is selected
/// for several webhooks without copying its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    name: Arc<str>,
    channel: Arc<str>,
    fields: Arc<JsObject>,
}

/// Why an event object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event is not a JSON object")]
    NotAnObject,
    #[error("event has no string field `{0}`")]
    MissingField(&'static str),
}

impl Event {
    /// Takes a parsed event object; `name` and `channel` must be strings.
    pub fn from_object(fields: JsObject) -> Result<Self, EventError> {
        let name = string_field(&fields, "name")?;
        let channel = string_field(&fields, "channel")?;
        Ok(Self {
            name,
            channel,
            fields: Arc::new(fields),
        })
    }

    /// Takes any parsed value, refusing what is not an event object.
    pub fn from_value(value: JsValue) -> Result<Self, EventError> {
        match value {
            JsValue::Object(fields) => Self::from_object(fields),
            _ => Err(EventError::NotAnObject),
        }
    }

    /// The event type (`channel_occupied`, `client_event`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The channel the event happened on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// A field by name, as received.
    pub fn get(&self, key: &str) -> Option<&JsValue> {
        self.fields.get(key)
    }

    /// A field that is a valid Unicode string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(JsValue::as_str)
    }

    /// All fields, in the order they will be sent.
    pub fn fields(&self) -> &JsObject {
        &self.fields
    }

    /// Appends the event's JSON, as `JSON.stringify` writes it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.fields.write_json(out);
    }
}

fn string_field(fields: &JsObject, key: &'static str) -> Result<Arc<str>, EventError> {
    fields
        .get(key)
        .and_then(JsValue::as_str)
        .map(Arc::from)
        .ok_or(EventError::MissingField(key))
}
