//! `switchyard dlq`: list, show, replay and purge dead letters. Against a running gateway it
//! goes through the admin listener (with the config's token); when nothing answers there, it
//! opens the stopped gateway's data directory itself.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::ConfigArg;
use crate::admin::dlq::{Which, view};
use crate::config::{self, Config};
use crate::queue::{Backend, Queue, ReplayReport, StoreError, WebhookKey};

/// `switchyard dlq ...`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  switchyard dlq list --webhook hooks\n  switchyard dlq show 42\n  switchyard dlq replay 42 43\n  switchyard dlq replay --webhook hooks\n  switchyard dlq purge --all"
)]
pub struct DlqArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The running gateway's admin URL; default: the config's `[admin] listen`.
    #[arg(long, global = true, env = "SWITCHYARD_ADMIN")]
    pub admin: Option<String>,
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        #[command(flatten)]
        filter: Filter,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its events, attempts and last error.
    Show { id: u64 },
    /// Queue dead letters' events again, to their webhook as configured now.
    Replay(Targets),
    /// Delete dead letters.
    Purge(Targets),
}

/// `--app`, `--webhook`, `--reason`.
#[derive(Debug, Default, clap::Args)]
pub struct Filter {
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long)]
    pub webhook: Option<String>,
    /// rejected, expired, webhook_removed or filter_failed.
    #[arg(long)]
    pub reason: Option<String>,
}

/// Which dead letters: ids, `--all`, or a filter.
#[derive(Debug, clap::Args)]
pub struct Targets {
    pub ids: Vec<u64>,
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    #[command(flatten)]
    pub filter: Filter,
}

pub fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let loaded = config::load(&args.config.config)?;
    let config = loaded.config;
    let admin = args
        .admin
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.admin.listen));
    super::small_runtime()?.block_on(async move {
        let gateway = Running::new(&admin, &config)?;
        let answer = match gateway.ask(&args.command).await {
            Ok(answer) => answer?,
            Err(Unreachable) => {
                match &config.queue.backend {
                    Backend::Embedded => eprintln!(
                        "(no gateway answers at {admin}: reading its data directory {})",
                        config.queue.dir.display()
                    ),
                    Backend::Redis(_) => {
                        eprintln!("(no gateway answers at {admin}: reading the queue in Redis)")
                    }
                }
                offline(&config, &args.command, &admin).await?
            }
        };
        print(&args.command, &answer)
    })
}

/// Nothing answered at the admin address.
struct Unreachable;

/// A running gateway's admin listener.
struct Running {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Running {
    fn new(admin: &str, config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
            base: admin.trim_end_matches('/').to_owned(),
            token: config.admin.token.as_ref().map(|t| t.expose().to_owned()),
        })
    }

    /// The command's answer from the gateway, or `Unreachable` when it is not running there.
    async fn ask(&self, command: &DlqCommand) -> Result<anyhow::Result<Value>, Unreachable> {
        let request = match command {
            DlqCommand::List { filter, .. } => {
                let query: Vec<(&str, &str)> = [
                    ("app", &filter.app),
                    ("webhook", &filter.webhook),
                    ("reason", &filter.reason),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
                .chain([("limit", "1000")])
                .collect();
                self.client.get(format!("{}/dlq", self.base)).query(&query)
            }
            DlqCommand::Show { id } => self.client.get(format!("{}/dlq/{id}", self.base)),
            DlqCommand::Replay(targets) | DlqCommand::Purge(targets) => {
                let verb = if matches!(command, DlqCommand::Replay(_)) {
                    "replay"
                } else {
                    "purge"
                };
                let which = targets.to_which();
                self.client
                    .post(format!("{}/dlq/{verb}", self.base))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(which.to_json().to_string())
            }
        };
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Err(Unreachable),
            Err(e) => return Ok(Err(e.into())),
        };
        let status = response.status();
        Ok(async {
            let bytes = response.bytes().await?;
            let body: Value =
                serde_json::from_slice(&bytes).context("the gateway's answer is not JSON")?;
            if !status.is_success() {
                bail!(
                    "the gateway answered {status}: {}",
                    body["error"].as_str().unwrap_or_default()
                );
            }
            Ok(body)
        }
        .await)
    }
}

impl Targets {
    fn to_which(&self) -> Which {
        Which {
            app: self.filter.app.clone(),
            webhook: self.filter.webhook.clone(),
            reason: self.filter.reason.clone(),
            all: self.all,
            ids: (!self.ids.is_empty()).then(|| self.ids.clone()),
        }
    }
}

impl Which {
    fn to_json(&self) -> Value {
        let mut body = json!({});
        if let Some(ids) = &self.ids {
            body["ids"] = json!(ids);
        }
        if self.all {
            body["all"] = json!(true);
        }
        for (key, value) in [
            ("app", &self.app),
            ("webhook", &self.webhook),
            ("reason", &self.reason),
        ] {
            if let Some(value) = value {
                body[key] = json!(value);
            }
        }
        body
    }
}

/// The command run on the stopped gateway's store, answering as the admin API would.
async fn offline(config: &Config, command: &DlqCommand, admin: &str) -> anyhow::Result<Value> {
    let queue = match Queue::open_for_tool(&config.queue).await {
        Ok(queue) => queue,
        Err(e @ StoreError::Locked { .. }) => {
            bail!(
                "{e}; its admin listener did not answer at {admin} (give the right one with --admin)"
            )
        }
        Err(e) => return Err(e.into()),
    };
    let answer = offline_answer(config, &queue, command).await;
    queue.close().await;
    answer
}

async fn offline_answer(
    config: &Config,
    queue: &Queue,
    command: &DlqCommand,
) -> anyhow::Result<Value> {
    match command {
        DlqCommand::List { filter, .. } => {
            let which = Which {
                app: filter.app.clone(),
                webhook: filter.webhook.clone(),
                reason: filter.reason.clone(),
                ..Which::default()
            };
            let filter = which.filter().map_err(anyhow::Error::msg)?;
            let letters = queue.dead_letters(&filter, 0, usize::MAX).await?;
            let items: Vec<Value> = letters.iter().map(|(id, l)| view(*id, l, false)).collect();
            Ok(json!({ "dead_letters": items, "next": null }))
        }
        DlqCommand::Show { id } => match queue.dead_letter_by_id(*id).await? {
            Some(letter) => Ok(view(*id, &letter, true)),
            None => bail!("no dead letter {id}"),
        },
        DlqCommand::Replay(targets) => {
            let selection = targets.to_which().selection().map_err(anyhow::Error::msg)?;
            let ids = queue.select(&selection).await?;
            let report = queue
                .replay(&ids, |webhook| lanes_in(config, webhook))
                .await?;
            Ok(json!(report))
        }
        DlqCommand::Purge(targets) => {
            let selection = targets.to_which().selection().map_err(anyhow::Error::msg)?;
            let ids = queue.select(&selection).await?;
            Ok(json!({ "purged": queue.purge(ids).await? }))
        }
    }
}

/// The lanes of `webhook` in the config, if it has that webhook.
fn lanes_in(config: &Config, webhook: &WebhookKey) -> Option<u16> {
    let app = config.apps.iter().find(|a| *a.id == *webhook.app_id)?;
    let found = app.webhooks.iter().find(|w| *w.id == *webhook.webhook_id)?;
    Some(found.lanes)
}

/// Prints an answer for people (or as JSON lines with `list --json`).
fn print(command: &DlqCommand, answer: &Value) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::List { json, .. } => {
            let letters = answer["dead_letters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if *json {
                letters.iter().for_each(|l| println!("{l}"));
                return Ok(ExitCode::SUCCESS);
            }
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in &letters {
                println!(
                    "{:>6}  {}/{}  {}  {} event(s)  {} attempt(s)  {}",
                    l["id"],
                    text(&l["app"]),
                    text(&l["webhook"]),
                    text(&l["reason"]),
                    l["events"],
                    l["attempts"],
                    text(&l["detail"])
                );
            }
        }
        DlqCommand::Show { .. } => println!("{}", serde_json::to_string_pretty(answer)?),
        DlqCommand::Replay(_) => {
            let report: ReplayReport = serde_json::from_value(answer.clone())?;
            println!("replayed {} dead letter(s)", report.replayed.len());
            for skipped in &report.skipped {
                println!("  skipped {}: {}", skipped.id, skipped.reason);
            }
            if !report.skipped.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        DlqCommand::Purge(_) => println!("purged {} dead letter(s)", answer["purged"]),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}
