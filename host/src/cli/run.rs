//! `switchyard run`: load, bind, serve until SIGINT/SIGTERM, drain.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::config;
use crate::filter::FilterRuntime;
use crate::gateway::{self, Gateway, Listeners, StopSignal};
use crate::queue::{Backend, Queue};

use super::systemd::Notifier;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let loaded = config::load(path)?;
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "config");
    }
    let systemd = Notifier::from_env();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let settings = &loaded.config.queue;
        let queue = Queue::open(settings).await?;
        match &settings.backend {
            Backend::Embedded => tracing::info!(
                dir = %settings.dir.display(),
                bytes = queue.bytes(),
                fsync = settings.fsync,
                "queue open"
            ),
            Backend::Redis(redis) => tracing::info!(
                backend = "redis",
                prefix = %redis.prefix,
                bytes = queue.bytes(),
                "queue open"
            ),
        }
        let (listen, admin_listen) = (loaded.config.server.listen, loaded.config.admin.listen);
        let filters = FilterRuntime::new(loaded.config.filters.clone())?;
        let gateway = Gateway::start(loaded, filters, queue).await?;
        let listeners = Listeners {
            public: bind(listen).await?,
            admin: bind(admin_listen).await?,
        };
        let shutdown = shutdown_signal()?;
        // Bound sockets queue connections until they are served: ready from here.
        if let Some(systemd) = &systemd {
            systemd.ready(&format!("listening on {}", listeners.public.local_addr()?));
        }
        let shutdown = async move {
            let signal = shutdown.await;
            if let Some(systemd) = &systemd {
                systemd.stopping();
            }
            signal
        };
        gateway::serve(gateway, listeners, started, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM, saying which. Both are taken over right away,
/// before the gateway says it is ready, so a signal sent right after always drains.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = StopSignal>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => StopSignal::Interrupt,
            _ = terminate.recv() => StopSignal::Terminate,
        }
    })
}
