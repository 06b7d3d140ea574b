//! # The `switchyard` command line
//!
//! `run` serves, `check` validates a config, `send` posts a signed test webhook, `dlq` manages
//! dead letters, `filter` tests and scaffolds WASM filters, `import` moves a soketi setup over. The binary only parses
//! arguments and calls in here.

mod check;
mod dlq;
mod filter;
mod import;
mod run;
mod send;
mod systemd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

/// Webhook gateway for Pusher-protocol servers (soketi, Pusher Channels, sockudo).
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, long_about = None)]
pub struct Cli {
    /// Log format: `human` for people, `json` for log pipelines (default: the config's
    /// `[log] format` for `run`, else human).
    #[arg(long, global = true, value_enum, env = "SWITCHYARD_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: receive webhooks at /ingest/pusher and deliver them.
    Run(ConfigArg),
    /// Validate a config (and load its filters); print every problem and exit non-zero if any.
    Check(ConfigArg),
    /// Build a correctly signed Pusher webhook for an app and POST it (default: to the gateway).
    Send(send::SendArgs),
    /// Dead letters: list, show, replay, purge (through a running gateway, or its data directory).
    Dlq(dlq::DlqArgs),
    /// Test and scaffold WebAssembly filters (`filter test`, `filter new`).
    #[command(subcommand)]
    Filter(filter::FilterCommand),
    /// Move an existing setup onto Switchyard (`import soketi FILE`).
    #[command(subcommand)]
    Import(import::ImportCommand),
}

/// `--config FILE`.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Config file: .toml or .json.
    #[arg(
        long,
        short,
        default_value = "config/switchyard.toml",
        env = "SWITCHYARD_CONFIG"
    )]
    pub config: PathBuf,
}

/// Sets up logging (`RUST_LOG` filters, default `info`). Colour only on a terminal, and never
/// with `NO_COLOR` set (<https://no-color.org>).
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    // The queue's store logs its own housekeeping at info; keep it to warnings by default.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The runtime of the commands that do a little async work (filters, an HTTP call) and exit.
fn small_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs one parsed command line.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    let format = cli.log_format.unwrap_or_else(|| match &cli.command {
        // A config that does not load gets human logs; `run` then reports its problems.
        Command::Run(args) => crate::config::load(&args.config)
            .ok()
            .and_then(|loaded| loaded.config.log_format)
            .unwrap_or(LogFormat::Human),
        _ => LogFormat::Human,
    });
    init_logging(format);
    match cli.command {
        Command::Run(args) => run::run(&args.config),
        Command::Check(args) => check::check(&args.config),
        Command::Send(args) => send::send(args),
        Command::Dlq(args) => dlq::run(args),
        Command::Filter(command) => filter::run(command),
        Command::Import(command) => import::run(command),
    }
}
