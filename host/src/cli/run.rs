//! `switchyard run`: load, bind, serve until SIGINT/SIGTERM, drain.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::config;
use crate::filter::FilterRuntime;
use crate::gateway::{self, Gateway};

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let loaded = config::load(path)?;
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "config");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = loaded.config.server.listen;
        let filters = FilterRuntime::new(loaded.config.filters.clone())?;
        let gateway = Gateway::start(loaded, filters)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            ready_ms = started.elapsed().as_millis() as u64,
            "listening; send webhooks to http://{addr}/ingest/pusher"
        );
        gateway::serve(gateway, listener, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler only fails outside a runtime");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}
