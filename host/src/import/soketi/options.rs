//! soketi's options, built the way soketi 1.6.1 builds them: its defaults, then each key of
//! the config file set as a dot path (`"metrics.host": v` sets one leaf; `"metrics": {...}`
//! replaces every default under `metrics`), then the `SOKETI_*` variables on top.
//!
//! `defaults.json` is soketi's default options object plus the cluster options its discovery
//! library (node-discover) reads; `env.json` is its table of environment variables.

use serde_json::{Map, Value};

use super::super::note::Report;
use crate::config::nearest;

const DEFAULTS: &str = include_str!("defaults.json");
const ENV_TABLE: &str = include_str!("env.json");

/// Where the apps list lives in soketi's options.
pub(super) const APPS_PATH: &str = "appManager.array.apps";

/// soketi's options after the file and, when asked, the environment were applied.
#[derive(Debug)]
pub(super) struct Options {
    pub tree: Value,
    defaults: Value,
    /// Whether a file key set `appManager.array.apps` or something inside it.
    pub apps_from_file: bool,
    /// Whether a `SOKETI_DEFAULT_APP_*` variable set something inside the first app.
    pub apps_from_env: bool,
    /// The option paths `SOKETI_*` variables set, with the variable's name.
    pub from_env: Vec<(String, String)>,
}

impl Options {
    /// soketi's defaults, untouched.
    pub fn defaults() -> Options {
        let defaults: Value = serde_json::from_str(DEFAULTS).expect("defaults.json is JSON");
        Options {
            tree: defaults.clone(),
            defaults,
            apps_from_file: false,
            apps_from_env: false,
            from_env: Vec::new(),
        }
    }

    /// The value at a dot path, if set.
    pub fn get(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(&self.tree, |value, token| match value {
                Value::Object(map) => map.get(token),
                Value::Array(items) => items.get(token.parse::<usize>().ok()?),
                _ => None,
            })
    }

    /// Applies the config file's keys in order, as soketi's `overwriteOptionsFromConfig`.
    pub fn apply_file(&mut self, file: &Map<String, Value>, report: &mut Report) {
        for (key, value) in file {
            self.check_known(key, value, report);
            self.apps_from_file |= touches_apps(key);
            if let Err(why) = set_path(&mut self.tree, key, value.clone()) {
                report.warn(key, format!("{why}; soketi cannot use it either"));
            }
        }
    }

    /// Applies `SOKETI_*` variables as soketi's `overwriteOptionsFromEnv`: a value that parses
    /// as JSON is used as that JSON, anything else as a string, an empty one not at all.
    pub fn apply_env(&mut self, env: &[(String, String)], report: &mut Report) {
        let table: Map<String, Value> = serde_json::from_str(ENV_TABLE).expect("env.json is JSON");
        for (name, raw) in env {
            let Some(suffix) = name.strip_prefix("SOKETI_") else {
                continue;
            };
            let Some(path) = table.get(suffix).and_then(Value::as_str) else {
                let hint = nearest(suffix, table.keys().map(String::as_str))
                    .map(|near| format!(" (did you mean `SOKETI_{near}`?)"))
                    .unwrap_or_default();
                report.warn(
                    name,
                    format!("not a soketi variable{hint}; soketi ignores it"),
                );
                continue;
            };
            if raw.is_empty() {
                continue;
            }
            let value = match serde_json::from_str::<Value>(raw) {
                Ok(Value::Null) | Err(_) => Value::String(raw.clone()),
                Ok(json) => json,
            };
            self.apps_from_env |= touches_apps(path);
            match set_path(&mut self.tree, path, value) {
                Ok(()) => self.from_env.push((path.to_owned(), name.clone())),
                Err(why) => report.warn(name, format!("{why}; soketi cannot use it either")),
            }
        }
    }

    /// Reports option names soketi does not know (typos), with the nearest known one.
    /// The apps list is read, and reported on, by its own reader.
    fn check_known(&self, key: &str, value: &Value, report: &mut Report) {
        let mut default = &self.defaults;
        let mut path = String::new();
        for token in key.split('.') {
            let Some(known) = default.as_object().filter(|m| !m.is_empty()) else {
                return;
            };
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(token);
            match known.get(token) {
                Some(next) => default = next,
                None => return unknown(&path, token, known, report),
            }
        }
        check_nested(&path, value, default, report);
    }
}

/// Recurses into an object given for an object of soketi's defaults.
fn check_nested(path: &str, value: &Value, default: &Value, report: &mut Report) {
    let (Some(given), Some(known)) = (value.as_object(), default.as_object()) else {
        return;
    };
    if known.is_empty() || path == APPS_PATH {
        return;
    }
    for (token, value) in given {
        let child = format!("{path}.{token}");
        match known.get(token) {
            Some(default) => check_nested(&child, value, default, report),
            None => unknown(&child, token, known, report),
        }
    }
}

fn unknown(path: &str, token: &str, known: &Map<String, Value>, report: &mut Report) {
    let hint = nearest(token, known.keys().map(String::as_str))
        .map(|near| format!(" (did you mean `{near}`?)"))
        .unwrap_or_default();
    report.warn(
        path,
        format!("not a soketi option{hint}; nothing in soketi reads it"),
    );
}

/// Whether setting the dot path `key` can change the apps list.
fn touches_apps(key: &str) -> bool {
    let is_parent = APPS_PATH.starts_with(key)
        && APPS_PATH[key.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == '.');
    is_parent || key.starts_with(&format!("{APPS_PATH}."))
}

/// dot-wild's `set`, as soketi uses it: missing or scalar steps become containers (an array
/// when the next step is an index), the last step takes the value.
fn set_path(tree: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let tokens: Vec<&str> = key.split('.').collect();
    let mut current = tree;
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        let next_is_index = tokens.get(i + 1).is_some_and(|t| is_index(t));
        let slot = step(current, token)?;
        if last {
            *slot = value;
            return Ok(());
        }
        if !slot.is_object() && !slot.is_array() {
            *slot = if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
        }
        current = slot;
    }
    Ok(())
}

/// The child slot `token` of a container, created (as null) when missing.
fn step<'v>(container: &'v mut Value, token: &str) -> Result<&'v mut Value, String> {
    match container {
        Value::Object(map) => Ok(map.entry(token).or_insert(Value::Null)),
        Value::Array(items) if is_index(token) => {
            let index: usize = token
                .parse()
                .map_err(|_| format!("index `{token}` is too large"))?;
            if index > items.len() + 1000 {
                return Err(format!("index `{token}` is too large"));
            }
            if items.len() <= index {
                items.resize(index + 1, Value::Null);
            }
            Ok(&mut items[index])
        }
        _ => Err(format!("`{token}` cannot be set inside a list")),
    }
}

fn is_index(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn options(file: Value) -> (Options, Report) {
        let mut options = Options::defaults();
        let mut report = Report::default();
        options.apply_file(file.as_object().unwrap(), &mut report);
        (options, report)
    }

    #[test]
    fn dotted_keys_set_one_leaf_and_objects_replace_all_defaults() {
        let (o, report) = options(json!({
            "metrics.host": "127.0.0.1",
            "cluster": { "port": 1 },
            "appManager.array.apps.1.id": 7
        }));
        assert!(report.0.is_empty(), "{:?}", report.0);
        assert_eq!(o.get("metrics.host"), Some(&json!("127.0.0.1")));
        assert_eq!(
            o.get("metrics.port"),
            Some(&json!(9601)),
            "a dotted key keeps siblings"
        );
        assert_eq!(o.get("cluster.port"), Some(&json!(1)));
        assert_eq!(
            o.get("cluster.hostname"),
            None,
            "an object replaces every default"
        );
        assert_eq!(o.get("appManager.array.apps.0.id"), Some(&json!("app-id")));
        assert_eq!(o.get("appManager.array.apps.1.id"), Some(&json!(7)));
        assert!(o.apps_from_file);
    }

    #[test]
    fn unknown_options_are_reported_with_the_nearest_known_name() {
        let (o, report) = options(json!({
            "metrics.hots": "x",
            "webhooks": { "batching": { "enabeld": true } },
            "cluster.address": "127.0.0.1",
            "queue.sqs.clientOptions.anything": 1
        }));
        let lines: Vec<String> = report.0.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("metrics.hots: not a soketi option (did you mean `host`?)"));
        assert!(
            lines[1].contains(
                "webhooks.batching.enabeld: not a soketi option (did you mean `enabled`?)"
            )
        );
        assert!(!o.apps_from_file);
    }

    #[test]
    fn env_values_are_json_when_they_parse_and_strings_otherwise() {
        let mut o = Options::defaults();
        let mut report = Report::default();
        let env = [
            ("SOKETI_DEFAULT_APP_KEY", "123"),
            ("SOKETI_DEFAULT_APP_SECRET", "s3cr3t"),
            ("SOKETI_WEBHOOKS_BATCHING", "true"),
            ("SOKETI_DEFAULT_APP_ID", ""),
            ("SOKETI_DEFUALT_APP_KEY", "x"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        o.apply_env(&env, &mut report);
        assert_eq!(o.get("appManager.array.apps.0.key"), Some(&json!(123)));
        assert_eq!(
            o.get("appManager.array.apps.0.secret"),
            Some(&json!("s3cr3t"))
        );
        assert_eq!(o.get("appManager.array.apps.0.id"), Some(&json!("app-id")));
        assert_eq!(o.get("webhooks.batching.enabled"), Some(&json!(true)));
        assert!(o.apps_from_env);
        assert_eq!(report.0.len(), 1);
        assert!(
            report.0[0]
                .to_string()
                .contains("did you mean `SOKETI_DEFAULT_APP_KEY`?")
        );
    }

    #[test]
    fn which_keys_touch_the_apps() {
        for key in [
            "appManager",
            "appManager.array",
            "appManager.array.apps",
            "appManager.array.apps.0.webhooks",
        ] {
            assert!(touches_apps(key), "{key}");
        }
        for key in [
            "appManager.driver",
            "appManager.arrays",
            "app",
            "appManager.array.appsx",
        ] {
            assert!(!touches_apps(key), "{key}");
        }
    }
}
