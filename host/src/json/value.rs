//! The value tree: what `JSON.parse` produces in JavaScript, and the JS rules for the order of
//! an object's properties.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// A JavaScript string. Almost every string is valid Unicode and kept as UTF-8; a string with a
/// lone surrogate (legal in JS, `"\ud800"`) cannot be, and is kept as UTF-16 code units.
///
/// The form is canonical: `Utf16` only ever holds a string with a lone surrogate (build one with
/// [`JsString::from_utf16`]), so two equal JS strings are equal `JsString`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JsString {
    Utf8(String),
    Utf16(Vec<u16>),
}

/// An object's own properties in JavaScript's enumeration order.
///
/// Keys that are canonical array indexes (`"0"`, `"42"`, up to `"4294967294"`) come first in
/// ascending numeric order, then the other keys in the order they were first inserted. Lookups
/// scan linearly: events have a handful of fields, and the parser deduplicates large objects
/// with a hash map before it builds one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsObject {
    entries: Vec<(JsString, JsValue)>,
}

/// A value as `JSON.parse` returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum JsValue {
    Null,
    Bool(bool),
    Number(f64),
    String(JsString),
    Array(Vec<JsValue>),
    Object(JsObject),
}

impl JsString {
    /// Builds a string from UTF-16 code units, as UTF-8 when they are valid Unicode.
    pub fn from_utf16(units: Vec<u16>) -> Self {
        match String::from_utf16(&units) {
            Ok(s) => JsString::Utf8(s),
            Err(_) => JsString::Utf16(units),
        }
    }

    /// The string, if it is valid Unicode.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsString::Utf8(s) => Some(s),
            JsString::Utf16(_) => None,
        }
    }

    /// The string with each lone surrogate replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        match self {
            JsString::Utf8(s) => s.clone(),
            JsString::Utf16(units) => String::from_utf16_lossy(units),
        }
    }

    /// The array index this key names, if it is one: the canonical decimal form of an integer
    /// in `0..=2^32 - 2` (JS orders such keys first; `"01"` and `"4294967295"` are plain keys).
    pub(crate) fn array_index(&self) -> Option<u32> {
        self.as_str().and_then(array_index)
    }
}

/// See [`JsString::array_index`].
pub(crate) fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    let canonical = match bytes {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.len() < 10 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    // At most 10 digits, so this cannot overflow a u64.
    let n = bytes
        .iter()
        .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
    u32::try_from(n).ok().filter(|&n| n != u32::MAX)
}

impl From<&str> for JsString {
    fn from(s: &str) -> Self {
        JsString::Utf8(s.to_owned())
    }
}

impl From<String> for JsString {
    fn from(s: String) -> Self {
        JsString::Utf8(s)
    }
}

impl JsObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&JsValue> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Sets a key as JS assignment does: an existing key keeps its place and takes the new value
    /// (the old one is returned); a new array-index key goes among the index keys in numeric
    /// order; any other new key goes last.
    pub fn insert(&mut self, key: JsString, value: JsValue) -> Option<JsValue> {
        if let Some(i) = self.entries.iter().position(|(k, _)| *k == key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let at = match key.array_index() {
            Some(index) => self
                .entries
                .partition_point(|(k, _)| k.array_index().is_some_and(|other| other < index)),
            None => self.entries.len(),
        };
        self.entries.insert(at, (key, value));
        None
    }

    /// Removes a key, keeping the order of the others, as JS `delete` does.
    pub fn remove(&mut self, key: &str) -> Option<JsValue> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// The properties in JS enumeration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&JsString, &JsValue)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the object has no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))
    }
}

/// Objects up to this size find a repeated key by scanning; larger ones use a hash map, so an
/// adversarial object with 100k keys parses in linear time.
const SCAN_LIMIT: usize = 16;

/// Builds an object as `JSON.parse` does: each key is set in source order, a repeated key keeps
/// its first position and takes the last value, and array-index keys end up first, ascending.
pub(crate) enum ObjectBuilder {
    Small(Vec<(JsString, JsValue)>),
    /// Keys live in the map (with their position) so large objects never clone a key.
    Large {
        positions: HashMap<JsString, usize>,
        values: Vec<JsValue>,
    },
}

impl ObjectBuilder {
    pub(crate) fn new() -> Self {
        ObjectBuilder::Small(Vec::new())
    }

    pub(crate) fn insert(&mut self, key: JsString, value: JsValue) {
        if let ObjectBuilder::Small(entries) = self {
            if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
                return;
            }
            if entries.len() < SCAN_LIMIT {
                entries.push((key, value));
                return;
            }
            let mut positions = HashMap::with_capacity(entries.len() * 2);
            let mut values = Vec::with_capacity(entries.len() * 2);
            for (i, (k, v)) in std::mem::take(entries).into_iter().enumerate() {
                positions.insert(k, i);
                values.push(v);
            }
            *self = ObjectBuilder::Large { positions, values };
        }
        if let ObjectBuilder::Large { positions, values } = self {
            match positions.entry(key) {
                Entry::Occupied(slot) => values[*slot.get()] = value,
                Entry::Vacant(slot) => {
                    slot.insert(values.len());
                    values.push(value);
                }
            }
        }
    }

    pub(crate) fn finish(self) -> JsObject {
        let entries = match self {
            ObjectBuilder::Small(entries) => entries,
            ObjectBuilder::Large { positions, values } => {
                let mut keys: Vec<Option<JsString>> = values.iter().map(|_| None).collect();
                for (key, i) in positions {
                    keys[i] = Some(key);
                }
                keys.into_iter()
                    .zip(values)
                    .map(|(k, v)| (k.expect("every position has its key"), v))
                    .collect()
            }
        };
        JsObject {
            entries: index_keys_first(entries),
        }
    }
}

/// Moves array-index keys to the front in ascending order; the rest keep their order.
fn index_keys_first(entries: Vec<(JsString, JsValue)>) -> Vec<(JsString, JsValue)> {
    if !entries.iter().any(|(k, _)| k.array_index().is_some()) {
        return entries;
    }
    let mut indexed = Vec::new();
    let mut others = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match k.array_index() {
            Some(i) => indexed.push((i, k, v)),
            None => others.push((k, v)),
        }
    }
    // Keys are unique by now, so their indexes are too and an unstable sort is exact.
    indexed.sort_unstable_by_key(|(i, _, _)| *i);
    indexed
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .chain(others)
        .collect()
}

impl JsValue {
    /// The string, if this is a string that is valid Unicode.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsValue::String(s) => s.as_str(),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            JsValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            JsValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[JsValue]> {
        match self {
            JsValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The object, if this is an object.
    pub fn as_object(&self) -> Option<&JsObject> {
        match self {
            JsValue::Object(object) => Some(object),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, JsValue::Null)
    }
}

impl From<&str> for JsValue {
    fn from(s: &str) -> Self {
        JsValue::String(s.into())
    }
}

impl From<String> for JsValue {
    fn from(s: String) -> Self {
        JsValue::String(s.into())
    }
}

impl From<JsString> for JsValue {
    fn from(s: JsString) -> Self {
        JsValue::String(s)
    }
}

impl From<f64> for JsValue {
    fn from(n: f64) -> Self {
        JsValue::Number(n)
    }
}

impl From<bool> for JsValue {
    fn from(b: bool) -> Self {
        JsValue::Bool(b)
    }
}

impl From<JsObject> for JsValue {
    fn from(object: JsObject) -> Self {
        JsValue::Object(object)
    }
}

impl From<Vec<JsValue>> for JsValue {
    fn from(items: Vec<JsValue>) -> Self {
        JsValue::Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(object: &JsObject) -> Vec<String> {
        object.iter().map(|(k, _)| k.to_string_lossy()).collect()
    }

    #[test]
    fn array_index_keys() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("42"), Some(42));
        assert_eq!(array_index("4294967294"), Some(u32::MAX - 1));
        for plain in [
            "",
            "01",
            "00",
            "-1",
            "1.5",
            "+1",
            "1e3",
            "4294967295",
            "99999999999",
            " 1",
        ] {
            assert_eq!(array_index(plain), None, "{plain:?}");
        }
    }

    #[test]
    fn insert_orders_index_keys_first() {
        let mut object = JsObject::new();
        for key in ["b", "10", "a", "2", "01", "4294967295", "0", "4294967294"] {
            object.insert(key.into(), JsValue::Null);
        }
        assert_eq!(
            keys(&object),
            ["0", "2", "10", "4294967294", "b", "a", "01", "4294967295"]
        );
    }

    #[test]
    fn insert_existing_key_keeps_position() {
        let mut object = JsObject::new();
        object.insert("a".into(), 1.0.into());
        object.insert("b".into(), 2.0.into());
        assert_eq!(
            object.insert("a".into(), 3.0.into()),
            Some(JsValue::Number(1.0))
        );
        assert_eq!(keys(&object), ["a", "b"]);
        assert_eq!(object.get("a"), Some(&JsValue::Number(3.0)));
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn remove_keeps_order() {
        let mut object = JsObject::new();
        for key in ["x", "y", "z"] {
            object.insert(key.into(), key.into());
        }
        assert_eq!(object.remove("y"), Some("y".into()));
        assert_eq!(object.remove("y"), None);
        assert_eq!(keys(&object), ["x", "z"]);
    }

    #[test]
    fn lone_surrogates_stay_utf16() {
        let lone = JsString::from_utf16(vec![0x61, 0xd800]);
        assert_eq!(lone, JsString::Utf16(vec![0x61, 0xd800]));
        assert_eq!(lone.as_str(), None);
        assert_eq!(lone.to_string_lossy(), "a\u{fffd}");
        let pair = JsString::from_utf16(vec![0xd83d, 0xde00]);
        assert_eq!(pair.as_str(), Some("😀"));
    }

    #[test]
    fn accessors() {
        assert_eq!(JsValue::from("s").as_str(), Some("s"));
        assert_eq!(JsValue::from(1.5).as_f64(), Some(1.5));
        assert_eq!(JsValue::from(true).as_bool(), Some(true));
        assert_eq!(JsValue::Null.as_str(), None);
        assert!(JsValue::Null.is_null());
        assert_eq!(
            JsValue::from(vec![JsValue::Null])
                .as_array()
                .map(<[_]>::len),
            Some(1)
        );
        assert!(
            JsValue::from(JsObject::new())
                .as_object()
                .is_some_and(JsObject::is_empty)
        );
    }

    fn build(entries: &[(&str, f64)]) -> Vec<(String, f64)> {
        let mut builder = ObjectBuilder::new();
        for &(k, v) in entries {
            builder.insert(k.into(), v.into());
        }
        let object = builder.finish();
        object
            .iter()
            .map(|(k, v)| (k.to_string_lossy(), v.as_f64().unwrap()))
            .collect()
    }

    #[test]
    fn repeated_keys_and_index_order_small_and_large() {
        for filler in [0, 40] {
            let mut entries = vec![("z", 1.0), ("5", 2.0), ("z", 3.0), ("1", 4.0), ("5", 5.0)];
            let names: Vec<String> = (0..filler).map(|i| format!("f{i}")).collect();
            entries.extend(names.iter().map(|n| (n.as_str(), 0.0)));
            entries.push(("z", 6.0));
            let built = build(&entries);
            assert_eq!(built.len(), 3 + filler);
            assert_eq!(
                built[..3],
                [("1".into(), 4.0), ("5".into(), 5.0), ("z".into(), 6.0)]
            );
        }
    }
}
