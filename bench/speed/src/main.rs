//! `speed`: the end-to-end speed benchmark of issue 10. Each component is a subcommand of this
//! one binary, and the runner starts each as its own process, so CPU time and memory are
//! measured per process. See README.md.

mod durable_ref;
mod forwarder;
mod loadgen;
mod memory;
mod metrics;
mod redis;
mod report;
mod runner;
mod scenarios;
mod sign;
mod sink;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "speed",
    about = "End-to-end speed benchmark of the Switchyard gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Receiver: checks signatures, counts events, measures ingest→sink latency.
    Sink(sink::Args),
    /// Baseline: verify, re-sign, forward (no routing, no storage).
    Forwarder(forwarder::Args),
    /// Reference: the minimal durable design (group-committed file, 8 lanes).
    DurableRef(durable_ref::Args),
    /// Load generator: signed Pusher webhooks, closed or open loop.
    Loadgen(loadgen::Args),
    /// Builds the gateway, runs every scenario, prints the table and writes JSON.
    Run(runner::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.command {
            Command::Sink(args) => sink::main(args).await,
            Command::Forwarder(args) => forwarder::main(args).await,
            Command::DurableRef(args) => durable_ref::main(args).await,
            Command::Loadgen(args) => loadgen::main(args).await,
            Command::Run(args) => runner::main(args).await,
        }
    })
}
