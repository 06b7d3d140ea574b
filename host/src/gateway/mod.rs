//! # Gateway: the running service
//!
//! Owns the current [`Snapshot`] (in an `ArcSwap`, read lock-free by every request), the
//! [`Dispatcher`] that runs routing and delivery tasks, the filter runtime and the metrics.
//! [`serve`] runs the public server until shutdown, then drains: it stops accepting, lets the
//! batchers flush and waits (bounded) for deliveries in flight.

mod batcher;
mod dispatch;
mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use tokio::net::TcpListener;

pub use batcher::BatcherClosed;
pub use dispatch::Dispatcher;
pub use snapshot::{AppEntry, Snapshot, compile_plans};

use crate::config::{Finding, LoadedConfig};
use crate::deliver::{Deliverer, HttpSender};
use crate::filter::FilterRuntime;
use crate::metrics::Metrics;

/// How long shutdown waits for deliveries in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("{} problem(s) in the config:\n{}", .0.len(), .0.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<Finding>),
}

/// The running gateway's shared state.
#[derive(Debug)]
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    dispatcher: Dispatcher,
    runtime: FilterRuntime,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
}

impl Gateway {
    /// Builds the first snapshot from a validated config.
    pub fn start(loaded: LoadedConfig, runtime: FilterRuntime) -> Result<Arc<Self>, StartError> {
        let metrics = Arc::new(Metrics::default());
        let http = HttpSender::new(loaded.config.delivery.timeout)?;
        let dispatcher = Dispatcher::new(Deliverer::new(http), metrics.clone());
        let plans = compile_plans(&loaded.config, &runtime).map_err(StartError::Config)?;
        let snapshot = Snapshot::activate(plans, loaded.source, &dispatcher);
        Ok(Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            dispatcher,
            runtime,
            metrics,
            max_body_bytes: loaded.config.server.max_body_bytes,
        }))
    }

    /// The current snapshot; hold it for the whole of one request.
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    pub fn filter_runtime(&self) -> &FilterRuntime {
        &self.runtime
    }

    /// Waits for every routing and delivery task, at most `grace`; true if all finished.
    async fn drain(&self, grace: Duration) -> bool {
        // Dropping the live snapshot closes the batchers' channels: they flush and end.
        self.snapshot.store(Arc::new(Snapshot::empty()));
        let tasks = self.dispatcher.tasks();
        tasks.close();
        tokio::time::timeout(grace, tasks.wait()).await.is_ok()
    }
}

/// Serves the public routes on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::ingest::router(gateway.clone());
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    tracing::info!("stopped accepting; draining deliveries in flight");
    if gateway.drain(DRAIN_GRACE).await {
        tracing::info!("drained");
    } else {
        tracing::warn!(grace_secs = DRAIN_GRACE.as_secs(), "deliveries still in flight after the grace period were abandoned");
    }
    Ok(())
}
