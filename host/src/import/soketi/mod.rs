//! # `switchyard import soketi`
//!
//! In: a soketi 1.6.1 config file (its JSON, with dotted keys such as
//! `"appManager.array.apps"` or nested objects) and, with `--env` or when the file has no
//! apps, the `SOKETI_*` variables (`SOKETI_DEFAULT_APP_*`, `SOKETI_WEBHOOKS_BATCHING*`).
//! soketi's options are rebuilt the way soketi builds them (`options.rs`), then:
//!
//! - every app moves to the gateway with its id, key and secret, and each webhook as it is
//!   (url or lambda_function, event_types, headers, filter, lambda options);
//! - soketi's webhook batching becomes each app's `batching = { window_ms }`;
//! - soketi gets back one webhook per app, every event type, to the gateway ([`Snippet`]).
//!
//! What soketi never used (an unknown event type, a webhook without a target, an unknown
//! option) is left out and reported; the result always passes [`config::validate`].

mod apps;
mod lambda;
mod options;
mod snippet;
mod webhook;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};

use super::note::{Note, Report};
use crate::config::{self, Config, Finding};
use apps::read_apps;
use options::{APPS_PATH, Options};
pub use snippet::Snippet;
use snippet::{BatchingSource, Sources};
use webhook::truthy;

/// soketi's batching window when `webhooks.batching.duration` is not usable.
const SOKETI_DEFAULT_BATCH_MS: u64 = 50;

/// What to import.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// soketi's config file, parsed; `None` to read the environment only.
    pub file: Option<&'a Value>,
    /// The environment soketi runs with (only `SOKETI_*` variables are read).
    pub env: &'a [(String, String)],
    /// Read `env` even when the file has apps (soketi applies it over the file).
    pub use_env: bool,
    /// Where soketi will reach the gateway (`http://host:port`, or a full `/ingest/pusher` URL).
    pub gateway_url: &'a Url,
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The Switchyard config, as a tree to write as TOML or JSON.
    pub tree: Value,
    /// The same config, validated: what `switchyard run` will serve.
    pub config: Config,
    /// What to put back into soketi.
    pub snippet: Snippet,
    /// Everything changed, left out or worth knowing, in source order.
    pub notes: Vec<Note>,
}

/// An import that cannot produce a config.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("a soketi config file holds a JSON object of options")]
    NotAnObject,
    #[error("the gateway URL `{0}` must be http:// or https://")]
    GatewayUrl(Url),
    #[error("no apps to import: {0}")]
    NoApps(String),
    #[error("the imported config does not validate:\n{}", Finding::bullets(.0))]
    Invalid(Vec<Finding>),
}

/// Imports soketi's apps and webhooks; see the module docs.
pub fn import(input: Input) -> Result<Imported, ImportError> {
    let url = input.gateway_url;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(ImportError::GatewayUrl(url.clone()));
    }
    let mut report = Report::default();
    let mut options = Options::defaults();
    if let Some(file) = input.file {
        options.apply_file(
            file.as_object().ok_or(ImportError::NotAnObject)?,
            &mut report,
        );
    }
    if input.use_env || !options.apps_from_file {
        options.apply_env(input.env, &mut report);
    } else {
        let unread = input
            .env
            .iter()
            .filter(|(name, _)| name.starts_with("SOKETI_"))
            .count();
        if unread > 0 {
            let msg = format!(
                "{unread} SOKETI_* variable(s) set here were not read; soketi applies them over \
                 its file: pass --env to import them too"
            );
            report.note("", msg);
        }
    }
    if !options.apps_from_file && !options.apps_from_env {
        return Err(ImportError::NoApps(
            "the file sets no `appManager.array.apps` and no SOKETI_DEFAULT_APP_* variable is set"
                .into(),
        ));
    }
    check_driver(&options, &mut report);
    let batching = read_batching(&options, &mut report);
    let source_apps = options.get(APPS_PATH).cloned().unwrap_or(Value::Null);
    let imported = read_apps(
        APPS_PATH,
        &source_apps,
        batching.map(|(w, _)| w),
        &mut report,
    );
    if imported.is_empty() {
        return Err(ImportError::NoApps(format!(
            "no usable app in `{APPS_PATH}` (see the warnings above)"
        )));
    }
    if batching.is_some() && imported.len() > 1 {
        let msg = "soketi keeps one batch for all apps, so a batch could carry one app's events \
                   under another's key; the gateway batches each app on its own";
        report.note("webhooks.batching.enabled", msg);
    }
    let ingest = ingest_url(url);
    let sources = Sources {
        apps: source_apps
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default(),
        imported: &imported,
        apps_from_file: options.apps_from_file,
        apps_from_env: options.apps_from_env,
        batching: batching.map(|(_, from)| from),
    };
    let snippet = snippet::build(&sources, &ingest);
    let tree = json!({
        "server": { "listen": listen_addr(url, &mut report).to_string() },
        "apps": imported.into_iter().map(|a| a.app).collect::<Vec<_>>(),
    });
    let (config, _ignored) =
        config::validate(&tree, Path::new(".")).map_err(ImportError::Invalid)?;
    Ok(Imported {
        tree,
        config,
        snippet,
        notes: report.0,
    })
}

/// Only soketi's `array` app manager keeps its apps in the config.
fn check_driver(options: &Options, report: &mut Report) {
    match options.get("appManager.driver").and_then(Value::as_str) {
        Some("array") => {}
        Some(driver) => {
            let msg = format!(
                "soketi serves its apps from `{driver}`, not from `{APPS_PATH}`; \
                 the import reads that list anyway"
            );
            report.warn("appManager.driver", msg);
        }
        None => {
            let msg = "unset, so soketi would load no apps: an `appManager` object replaces all \
                       of soketi's defaults for it; use dotted keys (`appManager.array.apps`) \
                       or set `driver` to `array`. The import reads the apps anyway";
            report.warn("appManager.driver", msg);
        }
    }
}

/// soketi's batching window when batching is on, and where it was turned on.
fn read_batching(options: &Options, report: &mut Report) -> Option<(Duration, BatchingSource)> {
    const ENABLED: &str = "webhooks.batching.enabled";
    const DURATION: &str = "webhooks.batching.duration";
    if !options.get(ENABLED).is_some_and(truthy) {
        return None;
    }
    let from = if options.from_env.iter().any(|(path, _)| path == ENABLED) {
        BatchingSource::Env
    } else {
        BatchingSource::File
    };
    let ms = match options.get(DURATION).and_then(Value::as_f64) {
        Some(ms) if ms >= 1.0 => ms.round() as u64,
        _ => {
            let msg = format!(
                "not a positive number of milliseconds: using soketi's default, {SOKETI_DEFAULT_BATCH_MS}"
            );
            report.warn(DURATION, msg);
            SOKETI_DEFAULT_BATCH_MS
        }
    };
    let msg =
        format!("batching moves to the gateway: each app gets `batching = {{ window_ms = {ms} }}`");
    report.note(ENABLED, msg);
    Some((Duration::from_millis(ms), from))
}

/// The gateway's ingest URL: `url` itself when it already ends in `/ingest/pusher`, else
/// `/ingest/pusher` under its path (a reverse proxy may mount the gateway under a prefix).
pub fn ingest_url(url: &Url) -> Url {
    let mut ingest = url.clone();
    if !url.path().ends_with("/ingest/pusher") {
        let base = url.path().trim_end_matches('/');
        ingest.set_path(&format!("{base}/ingest/pusher"));
    }
    ingest
}

/// Where the gateway should listen so soketi reaches it at `url`.
fn listen_addr(url: &Url, report: &mut Report) -> SocketAddr {
    const DEFAULT_PORT: u16 = 7700;
    if url.scheme() == "https" {
        let msg = "the gateway serves plain HTTP: put your TLS proxy in front of it, forwarding to port 7700";
        report.note("--gateway-url", msg);
        return SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT);
    }
    let port = url.port_or_known_default().unwrap_or(DEFAULT_PORT);
    let host = url.host_str().unwrap_or("localhost");
    let ip = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => ip,
        Err(_) if host == "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Err(_) => {
            let msg =
                format!("soketi reaches the gateway as `{host}`, so it listens on every interface");
            report.note("--gateway-url", msg);
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests;
