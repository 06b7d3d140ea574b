//! Walks the raw config tree (TOML and JSON both arrive as a `serde_json::Value`) and collects
//! every problem with the path of the field it concerns, so `switchyard check` can print all of
//! them at once instead of stopping at the first, as serde's `deny_unknown_fields` would.

use std::cell::RefCell;

use serde_json::{Map, Value};

/// One finding about the config: where, and what is wrong (or ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Field path such as `apps[0].webhooks[2].event_types[1]`.
    pub path: String,
    pub message: String,
}

impl Finding {
    /// `findings` as a list, one `  - path: message` line each.
    pub fn bullets(findings: &[Finding]) -> String {
        findings
            .iter()
            .map(|f| format!("  - {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Problems (which refuse the config) and warnings (accepted, but worth telling) found so far.
#[derive(Default)]
pub(crate) struct Findings {
    problems: RefCell<Vec<Finding>>,
    warnings: RefCell<Vec<Finding>>,
}

impl Findings {
    pub(crate) fn problem(&self, path: &str, message: impl Into<String>) {
        self.problems.borrow_mut().push(Finding {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn warning(&self, path: &str, message: impl Into<String>) {
        self.warnings.borrow_mut().push(Finding {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn into_parts(self) -> (Vec<Finding>, Vec<Finding>) {
        (self.problems.into_inner(), self.warnings.into_inner())
    }
}

/// Path of the `index`-th element of the array at `path`.
pub(crate) fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON type name for error messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table/object",
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// One object of the config being read. Every key read is remembered; [`Fields::finish`]
/// reports the keys nobody asked for, with the nearest known name.
pub(crate) struct Fields<'f, 'v> {
    findings: &'f Findings,
    path: String,
    map: &'v Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'f, 'v> Fields<'f, 'v> {
    /// Starts reading `value` at `path`; a problem if it is not an object.
    pub(crate) fn of(findings: &'f Findings, path: String, value: &'v Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self {
                findings,
                path,
                map,
                known: Vec::new(),
            }),
            other => {
                findings.problem(
                    &path,
                    format!("expected a table/object, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn findings(&self) -> &'f Findings {
        self.findings
    }

    /// Path of a field of this object.
    pub(crate) fn field_path(&self, key: &str) -> String {
        child_path(&self.path, key)
    }

    /// The raw value of an optional field (null counts as absent).
    pub(crate) fn raw(&mut self, key: &'static str) -> Option<&'v Value> {
        self.known.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn typed<T>(
        &mut self,
        key: &'static str,
        want: &str,
        get: impl Fn(&'v Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.raw(key)?;
        let got = get(value);
        if got.is_none() {
            let msg = format!("expected {want}, found {}", type_name(value));
            self.findings.problem(&self.field_path(key), msg);
        }
        got
    }

    /// A required string field.
    pub(crate) fn string(&mut self, key: &'static str) -> Option<&'v str> {
        if self.map.get(key).is_none_or(Value::is_null) {
            self.known.push(key);
            self.findings.problem(&self.field_path(key), "is required");
            return None;
        }
        self.opt_string(key)
    }

    pub(crate) fn opt_string(&mut self, key: &'static str) -> Option<&'v str> {
        self.typed(key, "a string", Value::as_str)
    }

    pub(crate) fn opt_bool(&mut self, key: &'static str) -> Option<bool> {
        self.typed(key, "true or false", Value::as_bool)
    }

    /// An integer field within `range`. Every numeric setting is bounded here, so nothing
    /// later can overflow or panic on its value.
    pub(crate) fn opt_int(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        let value = self.raw(key)?;
        match value.as_u64() {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                let msg = format!(
                    "expected an integer from {} to {}",
                    range.start(),
                    range.end()
                );
                self.findings.problem(&self.field_path(key), msg);
                None
            }
        }
    }

    pub(crate) fn opt_object(&mut self, key: &'static str) -> Option<Fields<'f, 'v>> {
        let value = self.raw(key)?;
        Fields::of(self.findings, self.field_path(key), value)
    }

    /// An optional array; each element comes with its path.
    pub(crate) fn opt_array(&mut self, key: &'static str) -> Option<Vec<(String, &'v Value)>> {
        let path = self.field_path(key);
        let items = self.typed(key, "an array", Value::as_array)?;
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (index_path(&path, i), v))
                .collect(),
        )
    }

    /// Accepts keys that mean something to another program (soketi's own app settings) and
    /// reports each present one as ignored.
    pub(crate) fn ignore(&mut self, keys: &[&'static str], why: &str) {
        for key in keys {
            if self.raw(key).is_some() {
                self.findings
                    .warning(&self.field_path(key), format!("ignored: {why}"));
            }
        }
    }

    /// Reports every key that was not read as unknown.
    pub(crate) fn finish(self) {
        for key in self.map.keys() {
            if self.known.contains(&key.as_str()) {
                continue;
            }
            let hint = match nearest(key, self.known.iter().copied()) {
                Some(near) => format!(" (did you mean `{near}`?)"),
                None => format!(" (known fields: {})", self.known.join(", ")),
            };
            self.findings
                .problem(&self.field_path(key), format!("unknown field{hint}"));
        }
    }
}
