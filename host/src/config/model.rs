//! The validated configuration. Every value here has already passed validation
//! ([`super::load`]): the rest of the gateway never sees an invalid config.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::EventTypeSet;
use crate::filter::{FilterSettings, FilterSpec};
use crate::queue::{QueueSettings, RetryPolicy};
use crate::signature::StandardWebhooksKey;

/// The whole configuration of one gateway process.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub admin: AdminSettings,
    pub delivery: DeliverySettings,
    pub filters: FilterSettings,
    pub queue: QueueSettings,
    /// `[log] format`, when the config sets it (`--log-format` wins over it).
    pub log_format: Option<LogFormat>,
    pub apps: Vec<App>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event, colours on a terminal.
    Human,
    /// For log pipelines: one JSON object per line.
    Json,
}

/// Where and how the gateway listens.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address of the public ingest server (`/ingest/pusher`, `/healthz`, `/metrics`).
    pub listen: SocketAddr,
    /// Largest accepted ingest body; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a client has to send a request's head (and how long an idle connection is
    /// kept between requests); on both listeners.
    pub header_read_timeout: Duration,
    /// How long a client has to send an ingest request's body; slower gets 408.
    pub body_read_timeout: Duration,
    /// Connections open at once per listener; past it, new ones wait to be accepted.
    pub max_connections: usize,
    /// Ingest requests being routed and stored at once; past it, 503 with `Retry-After`, so
    /// an overloaded gateway answers at once instead of making every sender wait.
    pub max_ingest_in_flight: usize,
    /// On SIGTERM, how long `/readyz` answers 503 while ingest goes on, before ingest stops:
    /// time for a load balancer to stop sending here.
    pub shutdown_delay: Duration,
}

/// The operator's endpoints (`/status`, `/admin/reload`), on their own listener so they are
/// never reachable through the public ingest address.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Default 127.0.0.1:7701: loopback only.
    pub listen: SocketAddr,
    /// When set, every admin request needs `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

/// How deliveries are made. Lanes and retries are per webhook (defaults under `[delivery]`).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Time allowed for one HTTP request or Lambda invocation.
    pub timeout: Duration,
}

/// An application of the Pusher-protocol server: its credentials and where its events go.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub key: String,
    pub secret: Secret,
    pub batching: Batching,
    /// When set, a body seen again for this app within the window is acknowledged without
    /// being enqueued twice (a source retrying a batch it thinks failed).
    pub dedupe_window: Option<Duration>,
    /// Filters applied to every webhook of the app, before the webhook's own.
    pub filters: Vec<FilterSpec>,
    pub webhooks: Vec<Webhook>,
}

/// How a lane coalesces waiting events into one delivery. Events of different apps are never
/// mixed: each webhook belongs to one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// How long a delivery may wait for more events; zero sends what is ready at once.
    pub window: Duration,
    /// The most events in one delivery.
    pub max_events: usize,
    /// The most bytes of events in one delivery (a larger single event goes alone).
    pub max_bytes: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            window: Duration::ZERO,
            max_events: 100,
            max_bytes: 256 * 1024,
        }
    }
}

/// One destination for an app's events.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Stable name: the configured `id`, else the target (url or function name).
    pub id: String,
    pub target: Target,
    pub event_types: EventTypeSet,
    pub channel_filter: ChannelFilter,
    /// Extra headers (name as written, value), already checked to be valid HTTP and not to
    /// clash with the signing headers.
    pub headers: Vec<(String, String)>,
    /// How its deliveries are signed: Pusher's scheme unless the config says otherwise.
    pub signing: Signing,
    pub filters: Vec<FilterSpec>,
    /// Lanes of this webhook: channels are spread over them by hash, each lane delivers in
    /// order with one delivery in flight.
    pub lanes: u16,
    /// When and how long failed deliveries are tried again.
    pub retry: RetryPolicy,
}

/// How a webhook's deliveries are signed, whatever the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Signing {
    /// As soketi signs: `X-Pusher-Key`, and `X-Pusher-Signature` keyed by the app's secret.
    #[default]
    Pusher,
    /// As standardwebhooks.com specifies: `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` keyed by the webhook's own `whsec_` secret.
    StandardWebhooks(StandardWebhooksKey),
}

impl Signing {
    /// The name the config uses, for `/status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Signing::Pusher => "pusher",
            Signing::StandardWebhooks(_) => "standard-webhooks",
        }
    }
}

/// Where a webhook's payloads go.
#[derive(Debug, Clone)]
pub enum Target {
    Http(Url),
    Lambda(LambdaTarget),
}

impl Target {
    /// The url or the function name, for logs and filter context.
    pub fn describe(&self) -> String {
        match self {
            Target::Http(url) => url.to_string(),
            Target::Lambda(l) => format!("lambda:{}", l.function),
        }
    }
}

/// An AWS Lambda function to invoke, as soketi's `lambda_function` + `lambda` options say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LambdaTarget {
    /// Name, name:alias/version, or ARN.
    pub function: String,
    /// `async: true` → Event invocation; otherwise RequestResponse.
    pub asynchronous: bool,
    pub region: Option<String>,
    pub endpoint: Option<Url>,
    pub credentials: Option<StaticCredentials>,
}

/// Credentials given explicitly in the config (cross-account use).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Channel name conditions, as soketi's webhook `filter` (both must hold when both are set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFilter {
    pub starts_with: Option<String>,
    pub ends_with: Option<String>,
}

impl ChannelFilter {
    pub fn matches(&self, channel: &str) -> bool {
        self.starts_with
            .as_deref()
            .is_none_or(|p| channel.starts_with(p))
            && self
                .ends_with
                .as_deref()
                .is_none_or(|s| channel.ends_with(s))
    }
}

/// A secret that never shows in logs, errors or `Debug` output.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: only for signing and credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a config came from.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub content_hash: String,
}
