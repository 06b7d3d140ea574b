//! The event a filter decides on.
//!
//! In a component, the small fields are slices of the text the gateway passed with the call,
//! and `data` and the event's JSON are fetched from the gateway the first time they are read
//! (see the `.wit` file for why); in a native test an event is built locally. Both look the
//! same to a filter.

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::{Map, Value};

use crate::edit::EditedEvent;

/// One Pusher webhook event, read-only. Build a modified copy with [`Event::edit`].
///
/// In a filter's signature it is just `&Event`: the lifetime is that of the call's text.
#[derive(Debug)]
pub struct Event<'a> {
    name: Cow<'a, str>,
    channel: Cow<'a, str>,
    event: Option<Cow<'a, str>>,
    socket_id: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    subscription_count: Option<u64>,
    source: Source,
    data: OnceCell<Option<String>>,
    json: OnceCell<String>,
}

/// Where `data`, the JSON text and the other fields come from.
#[derive(Debug)]
enum Source {
    /// Event number `index` of the batch the gateway is deciding right now; its fields are
    /// parsed from its JSON when first asked for.
    #[cfg(target_arch = "wasm32")]
    Host {
        index: u32,
        fields: OnceCell<Map<String, Value>>,
    },
    /// All fields, held here (events built in tests).
    Local(Map<String, Value>),
}

/// Why [`Event::from_json`] refused its input.
#[derive(Debug)]
pub struct InvalidEvent(String);

impl std::fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidEvent {}

impl Event<'static> {
    /// An event with only `name` and `channel`; add fields with the `with_*` methods.
    pub fn new(name: impl Into<String>, channel: impl Into<String>) -> Self {
        let mut fields = Map::new();
        fields.insert("name".into(), Value::String(name.into()));
        fields.insert("channel".into(), Value::String(channel.into()));
        Self::local(fields)
    }

    /// Parses an event object, e.g. one event of a recorded webhook payload.
    pub fn from_json(json: &str) -> Result<Self, InvalidEvent> {
        match serde_json::from_str(json) {
            Ok(Value::Object(fields)) => Self::from_fields(fields),
            Ok(_) => Err(InvalidEvent("an event must be a JSON object".into())),
            Err(e) => Err(InvalidEvent(format!("invalid JSON: {e}"))),
        }
    }

    /// Takes an event's fields; `name` and `channel` must be strings.
    pub fn from_fields(fields: Map<String, Value>) -> Result<Self, InvalidEvent> {
        for key in ["name", "channel"] {
            if !fields.get(key).is_some_and(Value::is_string) {
                return Err(InvalidEvent(format!("an event needs a string `{key}`")));
            }
        }
        Ok(Self::local(fields))
    }

    fn local(fields: Map<String, Value>) -> Self {
        let text = |key: &str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .map(|s| Cow::Owned(s.to_owned()))
        };
        Self {
            name: text("name").unwrap_or_default(),
            channel: text("channel").unwrap_or_default(),
            event: text("event"),
            socket_id: text("socket_id"),
            user_id: text("user_id"),
            subscription_count: fields.get("subscription_count").and_then(Value::as_u64),
            data: OnceCell::from(
                fields
                    .get("data")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
            json: OnceCell::new(),
            source: Source::Local(fields),
        }
    }
}

impl<'a> Event<'a> {
    /// Event number `index` of the batch being decided, its strings slices of `text`.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn from_host(
        text: &'a str,
        event: crate::guest::bindings::Event,
        index: u32,
    ) -> Self {
        let span = crate::guest::span(text);
        Self {
            name: span(event.name),
            channel: span(event.channel),
            event: event.event.map(span),
            socket_id: event.socket_id.map(span),
            user_id: event.user_id.map(span),
            subscription_count: event.subscription_count,
            source: Source::Host {
                index,
                fields: OnceCell::new(),
            },
            data: OnceCell::new(),
            json: OnceCell::new(),
        }
    }

    /// Sets a field (a test helper; filters change events with [`Event::edit`]).
    pub fn with(self, key: &str, value: impl Into<Value>) -> Event<'static> {
        let mut fields = self.fields().clone();
        fields.insert(key.to_owned(), value.into());
        Event::local(fields)
    }

    /// Sets `data` to a string, as Pusher sends it.
    pub fn with_data(self, data: impl Into<String>) -> Event<'static> {
        self.with("data", data.into())
    }

    /// Sets `data` to the JSON text of `value`.
    pub fn with_data_json(self, value: &Value) -> Event<'static> {
        self.with("data", value.to_string())
    }

    /// Sets `user_id`.
    pub fn with_user_id(self, user_id: impl Into<String>) -> Event<'static> {
        self.with("user_id", user_id.into())
    }

    /// Sets `event`, the name of a client event.
    pub fn with_event(self, event: impl Into<String>) -> Event<'static> {
        self.with("event", event.into())
    }

    /// The event type: `channel_occupied`, `member_added`, `client_event`, ...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The channel the event happened on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// For `client_event`: the client event's own name.
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// For `client_event`: the sending connection's socket id.
    pub fn socket_id(&self) -> Option<&str> {
        self.socket_id.as_deref()
    }

    /// For presence channel events: the member's user id (when the source sent a string).
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// For `subscription_count` events: the number of subscriptions.
    pub fn subscription_count(&self) -> Option<u64> {
        self.subscription_count
    }

    /// The `data` field when it is a string, as Pusher sends it (usually JSON text).
    pub fn data(&self) -> Option<&str> {
        self.data
            .get_or_init(|| match &self.source {
                #[cfg(target_arch = "wasm32")]
                Source::Host { index, .. } => crate::guest::event_data(*index),
                Source::Local(fields) => fields.get("data").and_then(Value::as_str).map(Into::into),
            })
            .as_deref()
    }

    /// `data` as a JSON value: the decoded JSON text when `data` is a string holding JSON,
    /// the plain string when it holds anything else, or the value itself when the source
    /// sent `data` as something other than a string. `None` when there is no `data`.
    pub fn data_json(&self) -> Option<Value> {
        match self.data() {
            Some(text) => Some(decode_data(text)),
            None => self.get("data").cloned(),
        }
    }

    /// Any field of the event by name, as the source sent it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields().get(key)
    }

    /// The whole event as JSON text.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host { index, .. } => crate::guest::event_json(*index),
            Source::Local(fields) => Value::Object(fields.clone()).to_string(),
        })
    }

    /// A copy of this event to modify and return as [`crate::Verdict::Replace`].
    pub fn edit(&self) -> EditedEvent {
        EditedEvent::from_fields(self.fields().clone())
    }

    /// All fields, in the order the source sent them.
    fn fields(&self) -> &Map<String, Value> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host { fields, .. } => {
                fields.get_or_init(|| match serde_json::from_str(self.json()) {
                    Ok(Value::Object(fields)) => fields,
                    // Only text serde_json cannot hold (a lone UTF-16 surrogate) gets here.
                    _ => self.small_fields(),
                })
            }
            Source::Local(fields) => fields,
        }
    }

    /// The fields passed with the call, for an event whose JSON could not be read.
    #[cfg(target_arch = "wasm32")]
    fn small_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), self.name.clone().into());
        fields.insert("channel".into(), self.channel.clone().into());
        let optional = [
            ("event", self.event()),
            ("data", self.data()),
            ("socket_id", self.socket_id()),
            ("user_id", self.user_id()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                fields.insert(key.into(), value.into());
            }
        }
        if let Some(count) = self.subscription_count {
            fields.insert("subscription_count".into(), count.into());
        }
        fields
    }
}

/// Pusher `data` is a string that usually holds JSON: decode it when it does.
pub(crate) fn decode_data(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_and_reads_fields() {
        let event = Event::new("client_event", "private-chat")
            .with_event("client-typing")
            .with_user_id("7")
            .with_data(r#"{"text":"hi"}"#)
            .with("socket_id", "1.2");
        assert_eq!(event.name(), "client_event");
        assert_eq!(event.channel(), "private-chat");
        assert_eq!(event.event(), Some("client-typing"));
        assert_eq!(event.user_id(), Some("7"));
        assert_eq!(event.socket_id(), Some("1.2"));
        assert_eq!(event.data_json(), Some(json!({"text": "hi"})));
        assert_eq!(
            event.json(),
            r#"{"name":"client_event","channel":"private-chat","event":"client-typing","user_id":"7","data":"{\"text\":\"hi\"}","socket_id":"1.2"}"#
        );
    }

    #[test]
    fn data_json_covers_plain_strings_and_non_string_data() {
        assert_eq!(
            Event::new("e", "c").with_data("plain").data_json(),
            Some(json!("plain"))
        );
        let object = Event::new("e", "c").with("data", json!({"a": 1}));
        assert_eq!(object.data(), None);
        assert_eq!(object.data_json(), Some(json!({"a": 1})));
        assert_eq!(Event::new("e", "c").data_json(), None);
    }

    #[test]
    fn typed_fields_ignore_values_of_another_type() {
        let event =
            Event::from_json(r#"{"name":"member_added","channel":"presence-a","user_id":7}"#)
                .unwrap();
        assert_eq!(event.user_id(), None);
        assert_eq!(event.get("user_id"), Some(&json!(7)));
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        assert!(Event::from_json("[1]").is_err());
        assert!(Event::from_json(r#"{"name":"x"}"#).is_err());
        assert!(
            Event::from_json("{")
                .unwrap_err()
                .to_string()
                .contains("invalid JSON")
        );
    }
}
