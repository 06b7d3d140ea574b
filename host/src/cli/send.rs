//! `switchyard send`: try the gateway without soketi. Builds one webhook event for an app,
//! signs the batch with the app's secret exactly as Pusher does, and POSTs it.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use super::ConfigArg;
use crate::clock::now_ms;
use crate::config;
use crate::signature;

/// Arguments of `switchyard send`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  switchyard send --app app-1 --event client_event --channel private-chat \\\n    --client-event client-typing --data '{\"user\":\"7\"}'"
)]
pub struct SendArgs {
    /// The config holding the app: its key and secret sign the webhook.
    #[command(flatten)]
    pub config: ConfigArg,
    /// App id from the config.
    #[arg(long)]
    pub app: String,
    /// Event type: channel_occupied, channel_vacated, member_added, member_removed,
    /// client_event, cache_miss or subscription_count.
    #[arg(long)]
    pub event: String,
    /// Channel name.
    #[arg(long)]
    pub channel: String,
    /// `data` of the event (sent as a string, as Pusher sends client event data).
    #[arg(long)]
    pub data: Option<String>,
    /// Client event name (`event` field, e.g. client-typing), for client_event.
    #[arg(long)]
    pub client_event: Option<String>,
    /// `user_id` field, for member_added / member_removed / client_event.
    #[arg(long)]
    pub user_id: Option<String>,
    /// `socket_id` field, for client_event.
    #[arg(long)]
    pub socket_id: Option<String>,
    /// Where to POST; default: the configured gateway's /ingest/pusher.
    #[arg(long)]
    pub to: Option<String>,
}

pub fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let loaded = config::load(&args.config.config)?;
    let Some(app) = loaded.config.apps.iter().find(|a| a.id == args.app) else {
        let ids: Vec<_> = loaded.config.apps.iter().map(|a| a.id.as_str()).collect();
        bail!(
            "no app `{}` in {} (apps: {})",
            args.app,
            args.config.config.display(),
            ids.join(", ")
        );
    };
    if config::EventType::from_name(&args.event).is_none() {
        bail!("unknown event type `{}`", args.event);
    }
    let mut event = Map::new();
    event.insert("name".into(), json!(args.event));
    event.insert("channel".into(), json!(args.channel));
    let optional = [
        ("event", args.client_event),
        ("data", args.data),
        ("user_id", args.user_id),
        ("socket_id", args.socket_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            event.insert(key.into(), Value::String(value));
        }
    }
    let body = serde_json::to_vec(&json!({ "time_ms": now_ms(), "events": [event] }))?;
    let signature = signature::sign(app.secret.expose(), &body);
    let url = args
        .to
        .unwrap_or_else(|| format!("http://{}/ingest/pusher", loaded.config.server.listen));
    let (status, answer) = super::small_runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Pusher-Key", &app.key)
            .header("X-Pusher-Signature", &signature)
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot POST to {url}"))?;
        anyhow::Ok((response.status(), response.text().await.unwrap_or_default()))
    })?;
    println!("{url} answered {status}: {}", answer.trim());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
