//! Reads a config file and validates it into a [`Config`], reporting every problem at once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::reader::{Fields, Finding, Findings, nearest};
use super::{
    AdminSettings, App, Batching, ChannelFilter, Config, ConfigSource, DeliverySettings, EventType,
    EventTypeSet, LambdaTarget, Secret, ServerSettings, StaticCredentials, Target, Webhook,
};
use crate::filter::{FilterSettings, FilterSpec, OnError};

/// Headers the gateway sets itself on every delivery; a webhook may not set them.
const SIGNING_HEADERS: [&str; 2] = ["x-pusher-key", "x-pusher-signature"];

/// soketi's own app settings: accepted so a soketi app object pastes in whole, but they
/// concern the websocket server, not webhooks.
const SOKETI_APP_SETTINGS: &[&str] = &[
    "enabled",
    "maxConnections",
    "max_connections",
    "enableClientMessages",
    "enable_client_messages",
    "enableUserAuthentication",
    "enable_user_authentication",
    "maxBackendEventsPerSecond",
    "max_backend_events_per_sec",
    "maxClientEventsPerSecond",
    "max_client_events_per_sec",
    "maxReadRequestsPerSecond",
    "max_read_req_per_sec",
    "maxPresenceMembersPerChannel",
    "max_presence_members_per_channel",
    "maxPresenceMemberSizeInKb",
    "max_presence_member_size_in_kb",
    "maxChannelNameLength",
    "max_channel_name_length",
    "maxEventChannelsAtOnce",
    "max_event_channels_at_once",
    "maxEventNameLength",
    "max_event_name_length",
    "maxEventPayloadInKb",
    "max_event_payload_in_kb",
    "maxEventBatchSize",
    "max_event_batch_size",
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
    #[error("config {path} has {} problem(s):\n{}", .problems.len(), list(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Finding>,
    },
}

fn list(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  - {f}"))
        .collect::<Vec<_>>()
        .join("\n")
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
        Some("toml") => toml::from_str(text).map_err(|e| syntax("TOML", e.to_string())),
        _ => Err(syntax(
            "config",
            "the file name must end in .toml or .json".into(),
        )),
    }
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
    let apps = read_apps(&mut root, base_dir);
    root.finish();
    Some(Config {
        server: server?,
        admin: admin?,
        delivery: delivery?,
        filters: filters?,
        apps: apps?,
    })
}

fn read_server(fields: Option<Fields>) -> Option<ServerSettings> {
    let mut settings = ServerSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
        max_body_bytes: 1024 * 1024,
    };
    let Some(mut f) = fields else {
        return Some(settings);
    };
    let listen = read_listen(&mut f, settings.listen);
    if let Some(n) = f.opt_positive_any(&["max_body_bytes"]) {
        settings.max_body_bytes = n as usize;
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

fn read_delivery(fields: Option<Fields>) -> Option<DeliverySettings> {
    let mut settings = DeliverySettings {
        timeout: Duration::from_secs(10),
        max_in_flight_per_webhook: 16,
    };
    let Some(mut f) = fields else {
        return Some(settings);
    };
    if let Some(ms) = f.opt_positive_any(&["timeout_ms"]) {
        settings.timeout = Duration::from_millis(ms);
    }
    if let Some(n) = f.opt_positive_any(&["max_in_flight_per_webhook"]) {
        settings.max_in_flight_per_webhook = n as usize;
    }
    f.finish();
    Some(settings)
}

fn read_filter_settings(fields: Option<Fields>, base_dir: &Path) -> Option<FilterSettings> {
    let mut settings = FilterSettings::default();
    let Some(mut f) = fields else {
        return Some(settings);
    };
    if let Some(ms) = f.opt_positive_any(&["call_timeout_ms"]) {
        settings.call_timeout = Duration::from_millis(ms);
    }
    if let Some(mib) = f.opt_positive_any(&["memory_limit_mib"]) {
        settings.memory_limit_bytes = (mib as usize) * 1024 * 1024;
    }
    if let Some(n) = f.opt_positive_any(&["instances_per_filter"]) {
        settings.instances_per_filter = n as usize;
    }
    if let Some(dir) = f.opt_string("cache_dir") {
        settings.cache_dir = Some(base_dir.join(dir));
    }
    f.finish();
    Some(settings)
}

fn read_apps(root: &mut Fields, base_dir: &Path) -> Option<Vec<App>> {
    let findings = root.findings();
    let Some(items) = root.opt_array("apps") else {
        findings.problem("apps", "at least one app is required");
        return None;
    };
    let apps: Vec<Option<App>> = items
        .iter()
        .map(|(path, value)| read_app(Fields::of(findings, path.clone(), value)?, base_dir))
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

fn read_app(mut f: Fields, base_dir: &Path) -> Option<App> {
    let id = non_empty(&mut f, "id");
    let key = non_empty(&mut f, "key");
    let secret = non_empty(&mut f, "secret");
    let batching = read_batching(f.opt_object("batching"));
    let filters = read_filter_refs(&mut f, base_dir);
    let webhooks = f.opt_array("webhooks").unwrap_or_default();
    let findings = f.findings();
    let webhooks: Vec<Option<Webhook>> = webhooks
        .iter()
        .map(|(path, value)| read_webhook(Fields::of(findings, path.clone(), value)?, base_dir))
        .collect();
    f.ignore(
        SOKETI_APP_SETTINGS,
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

fn non_empty<'v>(f: &mut Fields<'_, 'v>, key: &'static str) -> Option<&'v str> {
    let value = f.string(key)?;
    if value.is_empty() {
        f.findings()
            .problem(&f.field_path(key), "must not be empty");
        return None;
    }
    Some(value)
}

fn read_batching(fields: Option<Fields>) -> Option<Option<Batching>> {
    let Some(mut f) = fields else {
        return Some(None);
    };
    let window = f.opt_positive_any(&["window_ms"]).unwrap_or(50);
    let max_events = f.opt_positive_any(&["max_events"]).unwrap_or(100);
    f.finish();
    Some(Some(Batching {
        window: Duration::from_millis(window),
        max_events: max_events as usize,
    }))
}

fn read_webhook(mut f: Fields, base_dir: &Path) -> Option<Webhook> {
    let explicit_id = f.opt_string("id");
    let target = read_target(&mut f);
    let event_types = read_event_types(&mut f);
    let channel_filter = read_channel_filter(f.opt_object("filter"));
    let headers = read_headers(&mut f);
    let filters = read_filter_refs(&mut f, base_dir);
    f.finish();
    let target = target?;
    Some(Webhook {
        id: explicit_id.map_or_else(|| target.describe(), str::to_owned),
        target,
        event_types: event_types?,
        channel_filter: channel_filter?,
        headers: headers?,
        filters: filters?,
    })
}

fn read_target(f: &mut Fields) -> Option<Target> {
    let url = f.opt_string("url");
    let function = f.opt_string("lambda_function");
    let lambda = f.opt_object("lambda");
    match (url, function) {
        (Some(_), Some(_)) => {
            let msg = "set either `url` or `lambda_function`, not both";
            f.findings().problem(f.path(), msg);
            None
        }
        (None, None) => {
            let msg = "a webhook needs a `url` or a `lambda_function`";
            f.findings().problem(f.path(), msg);
            None
        }
        (Some(url), None) => {
            if let Some(lambda) = lambda {
                let msg = "`lambda` options only apply to a `lambda_function` webhook";
                lambda.findings().problem(lambda.path(), msg);
            }
            let path = f.field_path("url");
            http_url(f.findings(), &path, url).map(Target::Http)
        }
        (None, Some(function)) => {
            if function.is_empty() {
                f.findings()
                    .problem(&f.field_path("lambda_function"), "must not be empty");
                return None;
            }
            read_lambda(function, lambda).map(Target::Lambda)
        }
    }
}

fn http_url(findings: &Findings, path: &str, text: &str) -> Option<Url> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
        Ok(url) => {
            let msg = format!(
                "`{text}` must be an http:// or https:// URL (scheme is `{}`)",
                url.scheme()
            );
            findings.problem(path, msg);
            None
        }
        Err(e) => {
            findings.problem(path, format!("`{text}` is not a URL: {e}"));
            None
        }
    }
}

/// soketi's `lambda` object: `async`, `region`, and the AWS SDK's `client_options`
/// (`region`, `endpoint`, `credentials`). Region precedence: client_options, then lambda.
fn read_lambda(function: &str, fields: Option<Fields>) -> Option<LambdaTarget> {
    let mut target = LambdaTarget {
        function: function.to_owned(),
        asynchronous: false,
        region: None,
        endpoint: None,
        credentials: None,
    };
    let Some(mut f) = fields else {
        return Some(target);
    };
    target.asynchronous = f.opt_bool("async").unwrap_or(false);
    let region = f.opt_string("region");
    let mut ok = true;
    if let Some(mut options) = f.opt_object("client_options") {
        target.region = options.opt_string("region").map(str::to_owned);
        if let Some(endpoint) = options.opt_string("endpoint") {
            let path = options.field_path("endpoint");
            target.endpoint = http_url(options.findings(), &path, endpoint);
            ok &= target.endpoint.is_some();
        }
        if let Some(creds) = options.opt_object("credentials") {
            target.credentials = read_credentials(creds);
            ok &= target.credentials.is_some();
        }
        options.finish();
    }
    target.region = target.region.or(region.map(str::to_owned));
    f.finish();
    ok.then_some(target)
}

fn read_credentials(mut f: Fields) -> Option<StaticCredentials> {
    let access_key_id = non_empty(&mut f, "accessKeyId");
    let secret_access_key = non_empty(&mut f, "secretAccessKey");
    let session_token = f.opt_string("sessionToken");
    f.finish();
    Some(StaticCredentials {
        access_key_id: access_key_id?.to_owned(),
        secret_access_key: Secret::new(secret_access_key?),
        session_token: session_token.map(Secret::new),
    })
}

fn read_event_types(f: &mut Fields) -> Option<EventTypeSet> {
    let findings = f.findings();
    if f.raw("event_types").is_none() {
        let msg = "is required (a list of event types)";
        findings.problem(&f.field_path("event_types"), msg);
        return None;
    }
    // Present but not an array: `opt_array` has reported it.
    let items = f.opt_array("event_types")?;
    let mut set = EventTypeSet::default();
    let mut ok = true;
    for (path, value) in &items {
        let Some(name) = value.as_str() else {
            findings.problem(path, "expected an event type name (a string)");
            ok = false;
            continue;
        };
        match EventType::from_name(name) {
            Some(t) => set.insert(t),
            None => {
                let hint = match nearest(name, EventType::ALL.map(EventType::as_str)) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "valid: {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                };
                findings.problem(path, format!("unknown event type `{name}` ({hint})"));
                ok = false;
            }
        }
    }
    if ok && set.is_empty() {
        findings.problem(
            &f.field_path("event_types"),
            "lists no event type: the webhook would never fire",
        );
        ok = false;
    }
    ok.then_some(set)
}

fn read_channel_filter(fields: Option<Fields>) -> Option<ChannelFilter> {
    let Some(mut f) = fields else {
        return Some(ChannelFilter::default());
    };
    let filter = ChannelFilter {
        starts_with: f.opt_string("channel_name_starts_with").map(str::to_owned),
        ends_with: f.opt_string("channel_name_ends_with").map(str::to_owned),
    };
    f.finish();
    Some(filter)
}

fn read_headers(f: &mut Fields) -> Option<Vec<(String, String)>> {
    let path = f.field_path("headers");
    let findings = f.findings();
    let Some(raw) = f.raw("headers") else {
        return Some(Vec::new());
    };
    let Some(map) = raw.as_object() else {
        findings.problem(&path, "expected a table/object of header names to values");
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (name, value) in map {
        let path = format!("{path}.{name}");
        let valid = value.as_str().filter(|v| {
            HeaderName::try_from(name.as_str()).is_ok() && HeaderValue::from_str(v).is_ok()
        });
        let Some(value) = valid else {
            findings.problem(&path, "not a valid HTTP header name with a string value");
            ok = false;
            continue;
        };
        if SIGNING_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            findings.problem(
                &path,
                "is set by the gateway when it signs the delivery and cannot be overridden",
            );
            ok = false;
            continue;
        }
        out.push((name.clone(), value.to_owned()));
    }
    ok.then_some(out)
}

fn read_filter_refs(f: &mut Fields, base_dir: &Path) -> Option<Vec<FilterSpec>> {
    let items = f.opt_array("filters").unwrap_or_default();
    let findings = f.findings();
    let specs: Vec<Option<FilterSpec>> = items
        .iter()
        .map(|(path, value)| read_filter_ref(Fields::of(findings, path.clone(), value)?, base_dir))
        .collect();
    specs.into_iter().collect()
}

fn read_filter_ref(mut f: Fields, base_dir: &Path) -> Option<FilterSpec> {
    let module = f.string("module");
    let name = f.opt_string("name");
    let params = f
        .raw("params")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let on_error = match f.opt_string("on_error") {
        None => Some(OnError::default()),
        Some("drop") => Some(OnError::Drop),
        Some("pass") => Some(OnError::Pass),
        Some("dead_letter") => Some(OnError::DeadLetter),
        Some(other) => {
            let msg = format!("unknown on_error `{other}` (valid: drop, pass, dead_letter)");
            f.findings().problem(&f.field_path("on_error"), msg);
            None
        }
    };
    f.finish();
    let module = base_dir.join(module?);
    let name = name.map_or_else(
        || {
            module.file_stem().map_or_else(
                || module.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        },
        str::to_owned,
    );
    Some(FilterSpec {
        name,
        module,
        params,
        on_error: on_error?,
    })
}
