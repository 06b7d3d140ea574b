//! soketi's apps list carried over: each app's id, key, secret and webhooks, as soketi's
//! `App` class reads them (alternative spellings, defaults for empty values, webhooks given
//! as a JSON string).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::super::note::Report;
use super::webhook::read_webhook;
use crate::config;
use crate::config::SOKETI_APP_SETTINGS;

/// The fields that move to the gateway, each with its spellings and soketi's default.
const ID: (&[&str], &str) = (&["id", "AppId"], "app-id");
const KEY: (&[&str], &str) = (&["key", "AppKey"], "app-key");
const SECRET: (&[&str], &str) = (&["secret", "AppSecret"], "app-secret");
const WEBHOOKS: &[&str] = &["webhooks", "Webhooks"];

/// One app, as soketi has it and as the gateway will.
#[derive(Debug)]
pub(super) struct ImportedApp {
    /// Its place in soketi's list.
    pub index: usize,
    /// The Switchyard app: id, key, secret, batching, webhooks.
    pub app: Value,
}

/// The apps of soketi's list at `path`; `batching` is soketi's batching window when it is on.
pub(super) fn read_apps(
    path: &str,
    apps: &Value,
    batching: Option<Duration>,
    report: &mut Report,
) -> Vec<ImportedApp> {
    let Some(items) = apps.as_array() else {
        report.warn(path, "not a list of apps: soketi cannot use it");
        return Vec::new();
    };
    let mut ids = HashSet::new();
    let mut keys = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let app_path = format!("{path}[{i}]");
        let Some(source) = item.as_object() else {
            report.warn(
                &app_path,
                "not an app object: soketi cannot use it; left out",
            );
            continue;
        };
        let Some(app) = read_app(&app_path, source, batching, report) else {
            continue;
        };
        // soketi finds an app by key, first match: a later app with the same key never
        // got a webhook sent.
        let key = app["key"].as_str().unwrap_or_default().to_owned();
        if !keys.insert(key) {
            let msg = "has the key of an earlier app: soketi only ever uses the first; left out";
            report.warn(&app_path, msg);
            continue;
        }
        let mut app = app;
        let id = app["id"].as_str().unwrap_or_default().to_owned();
        let unique = (1..)
            .map(|n| {
                if n == 1 {
                    id.clone()
                } else {
                    format!("{id}-{n}")
                }
            })
            .find(|candidate| !ids.contains(candidate))
            .expect("some id is free");
        if unique != id {
            let msg = format!(
                "has the id of an earlier app; the gateway needs distinct ids, so it is `{unique}` there"
            );
            report.warn(&format!("{app_path}.id"), msg);
            app["id"] = Value::String(unique.clone());
        }
        ids.insert(unique);
        out.push(ImportedApp { index: i, app });
    }
    out
}

fn read_app(
    path: &str,
    source: &Map<String, Value>,
    batching: Option<Duration>,
    report: &mut Report,
) -> Option<Value> {
    let known: HashSet<&str> = SOKETI_APP_SETTINGS
        .iter()
        .flatten()
        .chain(ID.0)
        .chain(KEY.0)
        .chain(SECRET.0)
        .chain(WEBHOOKS)
        .copied()
        .collect();
    // Hints name the main spelling of each field: the others differ only in case.
    let main = SOKETI_APP_SETTINGS.iter().map(|row| row[0]).chain([
        ID.0[0],
        KEY.0[0],
        SECRET.0[0],
        WEBHOOKS[0],
    ]);
    let main: Vec<&str> = main.collect();
    for key in source.keys().filter(|k| !known.contains(k.as_str())) {
        let hint = config::nearest(key, main.iter().copied())
            .map(|near| format!(" (did you mean `{near}`?)"))
            .unwrap_or_default();
        let msg = format!("not a soketi app field{hint}: soketi ignores it");
        report.warn(&format!("{path}.{key}"), msg);
    }
    let id = read_text(path, source, ID, report)?;
    let key = read_text(path, source, KEY, report)?;
    let secret = read_text(path, source, SECRET, report)?;
    let mut app = Map::new();
    app.insert("id".into(), id.into());
    app.insert("key".into(), key.into());
    app.insert("secret".into(), secret.into());
    if let Some(window) = batching {
        app.insert(
            "batching".into(),
            json!({ "window_ms": window.as_millis() as u64 }),
        );
    }
    let webhooks = read_webhooks(path, source, report);
    if webhooks.is_empty() {
        let msg = "has no webhooks: the gateway will take its events and deliver them nowhere until you add some";
        report.note(path, msg);
    } else {
        app.insert("webhooks".into(), Value::Array(webhooks));
    }
    Some(Value::Object(app))
}

/// soketi's `extractFromPassedKeys`: the last spelling present with a value that is neither
/// `""` nor null, else the default.
fn extract<'v>(source: &'v Map<String, Value>, keys: &[&str]) -> Option<(&'v str, &'v Value)> {
    keys.iter()
        .rev()
        .find_map(|k| {
            source
                .get_key_value(*k)
                .filter(|(_, v)| !v.is_null() && *v != "")
        })
        .map(|(k, v)| (k.as_str(), v))
}

fn read_text(
    path: &str,
    source: &Map<String, Value>,
    (keys, default): (&[&str], &str),
    report: &mut Report,
) -> Option<String> {
    match extract(source, keys) {
        None => {
            let msg =
                format!("not set: soketi uses its default `{default}`, and so does the import");
            report.warn(&format!("{path}.{}", keys[0]), msg);
            Some(default.to_owned())
        }
        Some((_, Value::String(s))) => Some(s.clone()),
        // soketi compares with `==`, so a number matches its text.
        Some((_, Value::Number(n))) => Some(n.to_string()),
        Some((key, _)) => {
            let msg = "not a string or a number: the app cannot be carried over; left out";
            report.warn(&format!("{path}.{key}"), msg);
            None
        }
    }
}

fn read_webhooks(path: &str, source: &Map<String, Value>, report: &mut Report) -> Vec<Value> {
    let Some((key, raw)) = extract(source, WEBHOOKS) else {
        return Vec::new();
    };
    let list_path = format!("{path}.{key}");
    // soketi accepts the list as a JSON string too (the environment form gives one).
    let parsed;
    let list = match raw {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Array(_)) => {
                parsed = value;
                &parsed
            }
            _ => {
                report.warn(
                    &list_path,
                    "a string that is not a JSON list: soketi uses no webhooks",
                );
                return Vec::new();
            }
        },
        other => other,
    };
    let Some(items) = list.as_array() else {
        report.warn(&list_path, "not a list: soketi uses no webhooks");
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let webhook_path = format!("{list_path}[{i}]");
            let webhook = read_webhook(&webhook_path, raw, report)?;
            gateway_accepts(&webhook_path, &webhook, report).then_some(webhook)
        })
        .collect()
}

/// The last word: the gateway's own validation of the carried-over webhook. Anything it
/// refuses is reported and the webhook left out, so the imported config always loads.
fn gateway_accepts(path: &str, webhook: &Value, report: &mut Report) -> bool {
    let tree = json!({ "apps": [{ "id": "i", "key": "k", "secret": "s", "webhooks": [webhook] }] });
    match config::validate(&tree, Path::new(".")) {
        Ok(_) => true,
        Err(problems) => {
            for problem in problems {
                let field = problem
                    .path
                    .strip_prefix("apps[0].webhooks[0]")
                    .unwrap_or_default();
                let msg = format!(
                    "{}: the gateway refuses it, so the webhook is left out",
                    problem.message
                );
                report.warn(&format!("{path}{field}"), msg);
            }
            false
        }
    }
}
