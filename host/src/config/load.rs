//! Reads a config file and validates it into a [`Config`], reporting every problem at once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::delivery::{
    DeliveryDefaults, WebhookDefaults, default_lanes, read_batching, read_dedupe_window,
    read_delivery, read_queue, read_retry,
};
use super::reader::{Fields, Finding, Findings};
use super::webhook::{read_filter_refs, read_webhook};
use super::{AdminSettings, App, Config, ConfigSource, LogFormat, Secret, ServerSettings, Webhook};
use crate::filter::{FilterSettings, MAX_MEMORY_LIMIT_BYTES};

/// soketi's own app settings, in every spelling its `App` class reads (its JSON file's
/// camelCase, its environment's PascalCase, snake_case elsewhere). They concern its websocket
/// server, not webhooks: the gateway accepts them, so a soketi app object pastes in whole, and
/// `import soketi` leaves them in soketi's config.
pub(crate) const SOKETI_APP_SETTINGS: [[&str; 3]; 14] = [
    ["maxConnections", "MaxConnections", "max_connections"],
    [
        "enableClientMessages",
        "EnableClientMessages",
        "enable_client_messages",
    ],
    ["enabled", "Enabled", "enabled"],
    [
        "maxBackendEventsPerSecond",
        "MaxBackendEventsPerSecond",
        "max_backend_events_per_sec",
    ],
    [
        "maxClientEventsPerSecond",
        "MaxClientEventsPerSecond",
        "max_client_events_per_sec",
    ],
    [
        "maxReadRequestsPerSecond",
        "MaxReadRequestsPerSecond",
        "max_read_req_per_sec",
    ],
    [
        "maxPresenceMembersPerChannel",
        "MaxPresenceMembersPerChannel",
        "max_presence_members_per_channel",
    ],
    [
        "maxPresenceMemberSizeInKb",
        "MaxPresenceMemberSizeInKb",
        "max_presence_member_size_in_kb",
    ],
    [
        "maxChannelNameLength",
        "MaxChannelNameLength",
        "max_channel_name_length",
    ],
    [
        "maxEventChannelsAtOnce",
        "MaxEventChannelsAtOnce",
        "max_event_channels_at_once",
    ],
    [
        "maxEventNameLength",
        "MaxEventNameLength",
        "max_event_name_length",
    ],
    [
        "maxEventPayloadInKb",
        "MaxEventPayloadInKb",
        "max_event_payload_in_kb",
    ],
    [
        "maxEventBatchSize",
        "MaxEventBatchSize",
        "max_event_batch_size",
    ],
    [
        "enableUserAuthentication",
        "EnableUserAuthentication",
        "enable_user_authentication",
    ],
];

/// A config that failed validation: every problem found, each with its field path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path} is not valid {format}: {message}")]
    Syntax {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("config {path} has {} problem(s):\n{}", .problems.len(), Finding::bullets(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Finding>,
    },
}

/// A valid config, what it was read from, and what was accepted but ignored.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: ConfigSource,
    pub warnings: Vec<Finding>,
}

/// Reads and validates the config at `path` (TOML or JSON by extension).
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let tree = parse_tree(path, &bytes)?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let (config, warnings) =
        validate(&tree, base_dir).map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })?;
    let source = ConfigSource {
        path: path.to_owned(),
        content_hash: hex::encode(Sha256::digest(&bytes)),
    };
    Ok(LoadedConfig {
        config,
        source,
        warnings,
    })
}

fn parse_tree(path: &Path, bytes: &[u8]) -> Result<Value, ConfigError> {
    let syntax = |format, message: String| ConfigError::Syntax {
        path: path.to_owned(),
        format,
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| syntax("UTF-8", e.to_string()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(text).map_err(|e| syntax("JSON", e.to_string())),
        Some("toml") => toml::from_str(text).map_err(|e| syntax("TOML", toml_message(text, &e))),
        _ => Err(syntax(
            "config",
            "the file name must end in .toml or .json".into(),
        )),
    }
}

/// A TOML error as its message and place, without the excerpt of the line that toml's own
/// `Display` adds: that line may hold a secret (`secret = "whsec_...` unterminated), and this
/// message goes to `check`'s output and the reload log.
fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(before) = error.span().and_then(|span| text.get(..span.start)) else {
        return message.to_owned();
    };
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    format!("{message} (line {line}, column {column})")
}

/// Validates a raw config tree; relative filter paths are resolved against `base_dir`.
pub fn validate(tree: &Value, base_dir: &Path) -> Result<(Config, Vec<Finding>), Vec<Finding>> {
    let findings = Findings::default();
    let config = read_config(&findings, tree, base_dir);
    let (problems, warnings) = findings.into_parts();
    match config {
        Some(config) if problems.is_empty() => Ok((config, warnings)),
        _ => Err(problems),
    }
}

fn read_config(findings: &Findings, tree: &Value, base_dir: &Path) -> Option<Config> {
    let mut root = Fields::of(findings, String::new(), tree)?;
    let server = read_server(root.opt_object("server"));
    let admin = read_admin(root.opt_object("admin"));
    let delivery = read_delivery(root.opt_object("delivery"));
    let filters = read_filter_settings(root.opt_object("filters"), base_dir);
    let queue = read_queue(root.opt_object("queue"), base_dir);
    // Compiled modules are kept by default: a JS filter takes seconds to compile.
    let filters = filters.map(|mut filters| {
        if let (None, Some(queue)) = (&filters.cache_dir, &queue) {
            filters.cache_dir = Some(queue.dir.join(FILTER_CACHE_DIR));
        }
        filters
    });
    let log_format = read_log(root.opt_object("log"));
    // With broken defaults, still read the apps (against the built-in defaults) so their
    // problems are reported too.
    let defaults = delivery.as_ref().map(|d| d.1).unwrap_or_default();
    let apps = read_apps(&mut root, base_dir, &defaults);
    root.finish();
    Some(Config {
        server: server?,
        admin: admin?,
        delivery: delivery?.0,
        filters: filters?,
        queue: queue?,
        log_format: log_format?,
        apps: apps?,
    })
}

fn read_log(fields: Option<Fields>) -> Option<Option<LogFormat>> {
    let Some(mut f) = fields else {
        return Some(None);
    };
    let format = match f.opt_string("format") {
        None => Some(None),
        Some("human") => Some(Some(LogFormat::Human)),
        Some("json") => Some(Some(LogFormat::Json)),
        Some(other) => {
            let msg = format!("unknown log format `{other}` (valid: human, json)");
            f.findings().problem(&f.field_path("format"), msg);
            None
        }
    };
    f.finish();
    format
}

fn read_server(fields: Option<Fields>) -> Option<ServerSettings> {
    let mut settings = ServerSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
        max_body_bytes: 1024 * 1024,
        header_read_timeout: Duration::from_secs(30),
        body_read_timeout: Duration::from_secs(30),
        max_connections: 512,
        max_ingest_in_flight: 256,
        shutdown_delay: Duration::from_secs(5),
    };
    let Some(mut f) = fields else {
        return Some(settings);
    };
    let listen = read_listen(&mut f, settings.listen);
    if let Some(n) = f.opt_int("max_body_bytes", 1..=(256 << 20)) {
        settings.max_body_bytes = n as usize;
    }
    if let Some(ms) = f.opt_int("header_read_timeout_ms", 100..=600_000) {
        settings.header_read_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = f.opt_int("body_read_timeout_ms", 100..=600_000) {
        settings.body_read_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = f.opt_int("max_connections", 1..=1_000_000) {
        settings.max_connections = n as usize;
    }
    if let Some(n) = f.opt_int("max_ingest_in_flight", 1..=100_000) {
        settings.max_ingest_in_flight = n as usize;
    }
    if let Some(ms) = f.opt_int("shutdown_delay_ms", 0..=600_000) {
        settings.shutdown_delay = Duration::from_millis(ms);
    }
    f.finish();
    settings.listen = listen?;
    Some(settings)
}

fn read_admin(fields: Option<Fields>) -> Option<AdminSettings> {
    let mut settings = AdminSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 7701)),
        token: None,
    };
    let Some(mut f) = fields else {
        return Some(settings);
    };
    let listen = read_listen(&mut f, settings.listen);
    settings.token = non_empty_opt(&mut f, "token").map(Secret::new);
    f.finish();
    settings.listen = listen?;
    Some(settings)
}

/// The `listen` address of a server table, or `default`.
fn read_listen(f: &mut Fields, default: SocketAddr) -> Option<SocketAddr> {
    let Some(listen) = f.opt_string("listen") else {
        return Some(default);
    };
    let parsed = listen.parse().ok();
    if parsed.is_none() {
        let msg = format!("`{listen}` is not an address like 127.0.0.1:7700");
        f.findings().problem(&f.field_path("listen"), msg);
    }
    parsed
}

fn non_empty_opt<'v>(f: &mut Fields<'_, 'v>, key: &'static str) -> Option<&'v str> {
    let value = f.opt_string(key)?;
    if value.is_empty() {
        f.findings()
            .problem(&f.field_path(key), "must not be empty");
        return None;
    }
    Some(value)
}

/// Where compiled filter modules are kept when `[filters] cache_dir` is not set: in the
/// queue's data directory (the store ignores what it does not know there).
const FILTER_CACHE_DIR: &str = "filter-cache";

/// The largest `memory_limit_mib`, for a filter or all of them.
pub(super) const MAX_MEMORY_LIMIT_MIB: u64 = (MAX_MEMORY_LIMIT_BYTES >> 20) as u64;

fn read_filter_settings(fields: Option<Fields>, base_dir: &Path) -> Option<FilterSettings> {
    let mut settings = FilterSettings::default();
    let Some(mut f) = fields else {
        return Some(settings);
    };
    if let Some(ms) = f.opt_int("call_timeout_ms", 1..=60_000) {
        settings.call_timeout = Duration::from_millis(ms);
    }
    if let Some(mib) = f.opt_int("memory_limit_mib", 1..=MAX_MEMORY_LIMIT_MIB) {
        settings.memory_limit_bytes = (mib as usize) << 20;
    }
    if let Some(n) = f.opt_int("instances_per_filter", 1..=256) {
        settings.instances_per_filter = n as usize;
    }
    if let Some(dir) = f.opt_string("cache_dir") {
        settings.cache_dir = Some(base_dir.join(dir));
    }
    f.finish();
    Some(settings)
}

fn read_apps(root: &mut Fields, base_dir: &Path, defaults: &DeliveryDefaults) -> Option<Vec<App>> {
    let findings = root.findings();
    let Some(items) = root.opt_array("apps") else {
        findings.problem("apps", "at least one app is required");
        return None;
    };
    let apps: Vec<Option<App>> = items
        .iter()
        .map(|(path, value)| {
            read_app(
                Fields::of(findings, path.clone(), value)?,
                base_dir,
                defaults,
            )
        })
        .collect();
    // Checked on the raw values so duplicates are reported even when an app has other problems.
    for field in ["id", "key"] {
        let mut seen = HashSet::new();
        for (path, value) in &items {
            if let Some(v) = value.get(field).and_then(Value::as_str)
                && !seen.insert(v)
            {
                findings.problem(
                    &format!("{path}.{field}"),
                    format!("duplicate app {field} `{v}`"),
                );
            }
        }
    }
    if items.is_empty() {
        findings.problem("apps", "at least one app is required");
    }
    apps.into_iter().collect()
}

fn read_app(mut f: Fields, base_dir: &Path, defaults: &DeliveryDefaults) -> Option<App> {
    let id = non_empty(&mut f, "id");
    let key = non_empty(&mut f, "key");
    let secret = non_empty(&mut f, "secret");
    let batching = read_batching(f.opt_object("batching"));
    let dedupe_window = read_dedupe_window(&mut f);
    let retry = read_retry(f.opt_object("retry"), defaults.retry);
    let app_defaults = WebhookDefaults {
        lanes: default_lanes(defaults.lanes, batching.as_ref()),
        retry: retry.unwrap_or(defaults.retry),
    };
    let filters = read_filter_refs(&mut f, base_dir);
    let webhooks = f.opt_array("webhooks").unwrap_or_default();
    let findings = f.findings();
    let webhooks: Vec<Option<Webhook>> = webhooks
        .iter()
        .map(|(path, value)| {
            let fields = Fields::of(findings, path.clone(), value)?;
            read_webhook(fields, base_dir, &app_defaults)
        })
        .collect();
    f.ignore(
        SOKETI_APP_SETTINGS.as_flattened(),
        "a soketi setting that does not concern webhooks",
    );
    f.finish();
    let mut webhooks: Vec<Webhook> = webhooks.into_iter().collect::<Option<_>>()?;
    disambiguate_ids(&mut webhooks);
    Some(App {
        id: id?.to_owned(),
        key: key?.to_owned(),
        secret: Secret::new(secret?),
        batching: batching?,
        dedupe_window,
        filters: filters?,
        webhooks,
    })
}

/// Webhooks without an explicit id are named by their target; two with the same target get
/// `#2`, `#3`, ... so every id in an app is distinct.
fn disambiguate_ids(webhooks: &mut [Webhook]) {
    let mut seen = HashSet::new();
    for webhook in webhooks {
        let base = webhook.id.clone();
        let mut n = 1;
        while !seen.insert(webhook.id.clone()) {
            n += 1;
            webhook.id = format!("{base}#{n}");
        }
    }
}

/// A required string field that must not be empty.
pub(super) fn non_empty<'v>(f: &mut Fields<'_, 'v>, key: &'static str) -> Option<&'v str> {
    let value = f.string(key)?;
    if value.is_empty() {
        f.findings()
            .problem(&f.field_path(key), "must not be empty");
        return None;
    }
    Some(value)
}
