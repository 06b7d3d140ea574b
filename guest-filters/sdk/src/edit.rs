//! A modified copy of an event, returned as [`crate::Verdict::Replace`].

use serde_json::{Map, Value};

use crate::event::decode_data;

/// An event being changed: every field of the original, in order, plus the changes.
///
/// ```
/// use switchyard_filter::{Event, Verdict};
/// use serde_json::json;
///
/// let event = Event::new("client_event", "private-pay").with_data(r#"{"card":"4111","sum":3}"#);
/// let verdict = Verdict::Replace(event.edit().with_data_field("card", "[redacted]"));
/// # let Verdict::Replace(edited) = verdict else { panic!() };
/// # assert_eq!(edited.data_json(), Some(json!({"card": "[redacted]", "sum": 3})));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EditedEvent {
    fields: Map<String, Value>,
}

impl EditedEvent {
    pub(crate) fn from_fields(fields: Map<String, Value>) -> Self {
        Self { fields }
    }

    /// Sets a field, keeping its position if it exists, else adding it at the end.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// Removes a field (removing `name` or `channel` makes the replacement invalid).
    pub fn without(mut self, key: &str) -> Self {
        self.fields.shift_remove(key);
        self
    }

    /// Renames the event.
    pub fn with_name(self, name: impl Into<String>) -> Self {
        self.with("name", name.into())
    }

    /// Moves the event to another channel.
    pub fn with_channel(self, channel: impl Into<String>) -> Self {
        self.with("channel", channel.into())
    }

    /// Sets `data` to a string.
    pub fn with_data(self, data: impl Into<String>) -> Self {
        self.with("data", data.into())
    }

    /// Sets `data` to the JSON text of `value`, as Pusher encodes it.
    pub fn with_data_json(self, value: &Value) -> Self {
        self.with("data", value.to_string())
    }

    /// Sets one field inside `data`, which must hold a JSON object (or be absent, then it
    /// becomes one). Other `data` is left as it was.
    pub fn with_data_field(self, key: &str, value: impl Into<Value>) -> Self {
        let mut data = self
            .data_json()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let Some(object) = data.as_object_mut() else {
            return self;
        };
        object.insert(key.to_owned(), value.into());
        self.with_data_json(&data)
    }

    /// A field by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// `data` decoded as [`crate::Event::data_json`] decodes it.
    pub fn data_json(&self) -> Option<Value> {
        match self.fields.get("data")? {
            Value::String(text) => Some(decode_data(text)),
            other => Some(other.clone()),
        }
    }

    /// The event as JSON text: what the gateway delivers in place of the original.
    pub fn to_json(&self) -> String {
        // Serializing a map of JSON values cannot fail.
        serde_json::to_string(&self.fields).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::Event;
    use serde_json::json;

    #[test]
    fn keeps_field_order_and_adds_at_the_end() {
        let edited = Event::new("client_event", "private-a")
            .with_data("{}")
            .edit()
            .with_channel("private-b")
            .with("extra", 1);
        assert_eq!(
            edited.to_json(),
            r#"{"name":"client_event","channel":"private-b","data":"{}","extra":1}"#
        );
        assert_eq!(edited.without("extra").get("extra"), None);
    }

    #[test]
    fn data_field_edits_keep_data_a_string() {
        let edited = Event::new("e", "c")
            .edit()
            .with_data_field("a", 1)
            .with_data_field("b", "x");
        assert_eq!(edited.get("data"), Some(&json!(r#"{"a":1,"b":"x"}"#)));
        assert_eq!(edited.data_json(), Some(json!({"a": 1, "b": "x"})));
    }

    #[test]
    fn data_field_edit_leaves_non_object_data_alone() {
        let edited = Event::new("e", "c")
            .with_data("[1]")
            .edit()
            .with_data_field("a", 1);
        assert_eq!(edited.data_json(), Some(json!([1])));
    }
}
