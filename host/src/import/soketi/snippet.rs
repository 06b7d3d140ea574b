//! What to put back into soketi: every app keeps its settings, and its webhooks become one
//! webhook with every event type, pointing at the gateway's `/ingest/pusher`.

use reqwest::Url;
use serde_json::{Map, Value, json};

use super::apps::ImportedApp;
use super::options::APPS_PATH;
use crate::config::EventType;

/// The change to make in soketi, in the form its apps came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Snippet {
    /// Keys for soketi's config file, when its apps came from the file. Dotted keys, so they
    /// replace the apps list and leave soketi's other `appManager` defaults as they are.
    pub file: Option<Value>,
    /// `SOKETI_*` variables to set, when the apps or batching came from the environment.
    pub env: Vec<(String, String)>,
}

impl Snippet {
    /// The file keys as pretty JSON, if any.
    pub fn file_text(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(serde_json::to_string_pretty(file).expect("JSON values serialize") + "\n")
    }

    /// The variables as `NAME='value'` lines a shell or an env file takes.
    pub fn env_text(&self) -> Option<String> {
        if self.env.is_empty() {
            return None;
        }
        let lines = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}='{}'\n", value.replace('\'', r"'\''")));
        Some(lines.collect())
    }
}

/// What the snippet must say, from where soketi's apps and batching came.
pub(super) struct Sources<'a> {
    /// soketi's effective apps list (after the file and the environment).
    pub apps: &'a [Value],
    pub imported: &'a [ImportedApp],
    pub apps_from_file: bool,
    pub apps_from_env: bool,
    /// Whether soketi batched webhooks, and whether a variable turned that on.
    pub batching: Option<BatchingSource>,
}

/// Where soketi's `webhooks.batching.enabled` was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchingSource {
    File,
    Env,
}

/// The single webhook soketi keeps per app.
pub(super) fn gateway_webhook(ingest: &Url) -> Value {
    json!({
        "url": ingest.as_str(),
        "event_types": EventType::ALL.map(EventType::as_str),
    })
}

pub(super) fn build(sources: &Sources, ingest: &Url) -> Snippet {
    let webhook = gateway_webhook(ingest);
    let mut file = Map::new();
    if sources.apps_from_file {
        let apps: Vec<Value> = sources
            .apps
            .iter()
            .enumerate()
            .map(|(i, app)| match app.as_object() {
                Some(app) if sources.imported.iter().any(|a| a.index == i) => {
                    Value::Object(with_webhooks(app, &webhook))
                }
                // An app the import left out stays as it was (the report says why).
                _ => app.clone(),
            })
            .collect();
        file.insert(APPS_PATH.into(), Value::Array(apps));
    }
    let mut env = Vec::new();
    if sources.apps_from_env {
        env.push((
            "SOKETI_DEFAULT_APP_WEBHOOKS".to_owned(),
            Value::Array(vec![webhook.clone()]).to_string(),
        ));
    }
    // The gateway batches now, per app: soketi's batch would only add its delay.
    match sources.batching {
        Some(BatchingSource::File) => {
            file.insert("webhooks.batching.enabled".into(), Value::Bool(false));
        }
        Some(BatchingSource::Env) => env.push(("SOKETI_WEBHOOKS_BATCHING".into(), "false".into())),
        None => {}
    }
    Snippet {
        file: (!file.is_empty()).then_some(Value::Object(file)),
        env,
    }
}

/// The app with its webhooks (either spelling) replaced by `webhook`, in the same place.
fn with_webhooks(app: &Map<String, Value>, webhook: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in app {
        match key.as_str() {
            "webhooks" | "Webhooks" => {
                out.entry("webhooks").or_insert_with(|| json!([webhook]));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out.entry("webhooks").or_insert_with(|| json!([webhook]));
    out
}
