//! One soketi webhook carried over as it is, except for what soketi itself never used: every
//! change is reported with the path of the option it concerns.

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::super::note::Report;
use super::lambda::read_lambda;
use crate::config::{EventType, nearest};

/// The fields of a soketi webhook.
const FIELDS: [&str; 6] = [
    "url",
    "lambda_function",
    "lambda",
    "event_types",
    "headers",
    "filter",
];

/// Headers soketi sets after the webhook's own, so a configured one never reached the receiver.
const SIGNING_HEADERS: [&str; 2] = ["x-pusher-key", "x-pusher-signature"];

/// The Switchyard webhook for the soketi webhook `raw` at `path`, or `None` (reported) when
/// soketi could never have sent anything with it.
pub(super) fn read_webhook(path: &str, raw: &Value, report: &mut Report) -> Option<Value> {
    let Some(source) = raw.as_object() else {
        report.warn(path, "not an object: soketi cannot use it; left out");
        return None;
    };
    for key in source.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        let hint = nearest(key, FIELDS)
            .map(|near| format!(" (did you mean `{near}`?)"))
            .unwrap_or_default();
        let msg = format!("not a soketi webhook field{hint}: soketi ignores it; left out");
        report.warn(&format!("{path}.{key}"), msg);
    }
    let event_types = read_event_types(path, source.get("event_types"), report)?;
    let target = read_target(path, source, report)?;
    let mut out = Map::new();
    // Source order, so the imported webhook reads like the one it came from.
    for key in source.keys() {
        let value = match key.as_str() {
            "event_types" => Some(event_types.clone()),
            "headers" => read_headers(&format!("{path}.headers"), &source[key], report),
            "filter" => read_filter(&format!("{path}.filter"), &source[key], report),
            "url" | "lambda_function" | "lambda" => target.get(key).cloned(),
            _ => None,
        };
        if let Some(value) = value {
            out.insert(key.clone(), value);
        }
    }
    // A lambda webhook without a `lambda` object still gets the region soketi would use.
    if !out.contains_key("lambda")
        && let Some(lambda) = target.get("lambda")
    {
        out.insert("lambda".into(), lambda.clone());
    }
    Some(Value::Object(out))
}

/// The webhook's target fields as Switchyard will have them: `url`, or `lambda_function` and
/// `lambda`.
fn read_target(
    path: &str,
    source: &Map<String, Value>,
    report: &mut Report,
) -> Option<Map<String, Value>> {
    // soketi: `if (webhook.url) ... else if (webhook.lambda_function)`: only non-empty counts.
    let given = |key: &str| source.get(key).filter(|v| truthy(v));
    let mut target = Map::new();
    match (given("url"), given("lambda_function")) {
        (Some(url), function) => {
            if function.is_some() {
                let msg = "soketi uses `url` when both are set, so `lambda_function` is left out";
                report.warn(&format!("{path}.lambda_function"), msg);
            }
            if source.contains_key("lambda") {
                let msg = "`lambda` options only apply to a lambda_function webhook: soketi ignores them; left out";
                report.warn(&format!("{path}.lambda"), msg);
            }
            target.insert("url".into(), url.clone());
        }
        (None, Some(function)) => {
            target.insert("lambda_function".into(), function.clone());
            let lambda = read_lambda(&format!("{path}.lambda"), source.get("lambda"), report);
            target.insert("lambda".into(), lambda);
        }
        (None, None) => {
            let msg = "has neither `url` nor `lambda_function`: soketi never sent it; left out";
            report.warn(path, msg);
            return None;
        }
    }
    Some(target)
}

/// JavaScript truthiness, as soketi tests its webhook fields.
pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn read_event_types(path: &str, raw: Option<&Value>, report: &mut Report) -> Option<Value> {
    let path = format!("{path}.event_types");
    let Some(items) = raw.and_then(Value::as_array) else {
        let msg = "is not a list: soketi fails on this webhook and never sent it; left out";
        report.warn(&path, msg);
        return None;
    };
    let names = EventType::ALL.map(EventType::as_str);
    let mut kept = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(name) if names.contains(&name) => kept.push(item.clone()),
            other => {
                let hint = other
                    .and_then(|name| nearest(name, names))
                    .map(|near| format!(" (did you mean `{near}`?)"))
                    .unwrap_or_default();
                let msg =
                    format!("unknown event type {item}{hint}: soketi never sent it; left out");
                report.warn(&format!("{path}[{i}]"), msg);
            }
        }
    }
    if kept.is_empty() {
        report.warn(
            &path,
            "lists no event type soketi sends: the webhook never fired; left out",
        );
        return None;
    }
    Some(Value::Array(kept))
}

fn read_headers(path: &str, raw: &Value, report: &mut Report) -> Option<Value> {
    let Some(headers) = raw.as_object() else {
        report.warn(path, "not an object of header names to values; left out");
        return None;
    };
    let mut out = Map::new();
    for (name, value) in headers {
        let header_path = format!("{path}.{name}");
        if SIGNING_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            let msg = "soketi replaces it with its own value, and so does the gateway; left out";
            report.note(&header_path, msg);
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            // axios sends numbers and booleans as their text.
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => {
                report.warn(
                    &header_path,
                    "not a text value: no request could carry it; left out",
                );
                continue;
            }
        };
        if HeaderName::try_from(name.as_str()).is_err() || HeaderValue::from_str(&text).is_err() {
            report.warn(
                &header_path,
                "not a valid HTTP header: soketi's requests would fail on it; left out",
            );
            continue;
        }
        out.insert(name.clone(), Value::String(text));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn read_filter(path: &str, raw: &Value, report: &mut Report) -> Option<Value> {
    const KEYS: [&str; 2] = ["channel_name_starts_with", "channel_name_ends_with"];
    let Some(filter) = raw.as_object() else {
        if truthy(raw) {
            report.warn(
                path,
                "not an object: soketi applies no channel condition; left out",
            );
        }
        return None;
    };
    let mut out = Map::new();
    for (key, value) in filter {
        let key_path = format!("{path}.{key}");
        if !KEYS.contains(&key.as_str()) {
            let hint = nearest(key, KEYS)
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default();
            let msg = format!("not a soketi filter{hint}: soketi ignores it; left out");
            report.warn(&key_path, msg);
            continue;
        }
        match value {
            // soketi tests the condition for truthiness: an empty one is no condition.
            v if !truthy(v) => {}
            Value::String(_) => {
                out.insert(key.clone(), value.clone());
            }
            // JavaScript's startsWith/endsWith compare with the value's text.
            Value::Number(_) | Value::Bool(_) => {
                report.note(
                    &key_path,
                    "not a string: carried over as its text, as soketi compares it",
                );
                out.insert(key.clone(), Value::String(value.to_string()));
            }
            _ => report.warn(
                &key_path,
                "not a string: carried over as no condition; check it",
            ),
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}
