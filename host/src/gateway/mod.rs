//! # Gateway: the running service
//!
//! Owns the current [`Snapshot`] (in an `ArcSwap`, read lock-free by every request), the
//! durable [`Queue`] accepted events wait in, the lane [`Workers`] that deliver them, the
//! filter runtime and the metrics. [`serve`] runs the public and admin servers, the file
//! watcher and the SIGHUP handler until shutdown, then drains: it stops accepting, lets each
//! lane finish its attempt in flight (bounded), and closes the queue; everything else waits on
//! disk for the next start. [`reload`] swaps in a new snapshot, whole, or changes nothing.

mod http;
pub mod reload;
mod snapshot;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore, watch};
use tokio_util::sync::CancellationToken;

pub use reload::{ReloadOutcome, ReloadTrigger};
pub use snapshot::{AppEntry, Snapshot, compile_plans};

use crate::config::{Config, Finding, LoadedConfig};
use crate::deliver::{Deliverer, HttpSender, LambdaSender, Workers};
use crate::filter::FilterRuntime;
use crate::metrics::{FilterVersion, GatewayState, Metrics};
use crate::queue::{Queue, QueueError, QueueId, WebhookKey};
use crate::route::AppPlan;

/// The longest an ingest request waits for a place among those being stored before it is
/// answered 503: at capacity, senders hear so at once and retry later.
const INGEST_WAIT: Duration = Duration::from_millis(10);

/// How often a gateway on a shared queue (Redis) reads which webhooks are paused: another
/// gateway may have paused or resumed one.
const PAUSES_POLL: Duration = Duration::from_secs(1);

/// Reload outcomes kept for the console.
const RELOADS_KEPT: usize = 20;

/// How long shutdown waits for deliveries in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("{} problem(s) in the config:\n{}", .0.len(), Finding::bullets(.0))]
    Config(Vec<Finding>),
    #[error("cannot use the queue: {0}")]
    Queue(#[from] QueueError),
}

/// The running gateway's shared state.
#[derive(Debug)]
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    queue: Queue,
    workers: Workers,
    runtime: FilterRuntime,
    metrics: Arc<Metrics>,
    /// Set once a shutdown signal came: `/readyz` answers 503 from then on.
    stopping: AtomicBool,
    /// Set once ingest stops (after the shutdown delay): ingest refuses from then on.
    draining: AtomicBool,
    /// Ingest requests being routed and stored ([`crate::config::ServerSettings`]'s
    /// `max_ingest_in_flight`).
    ingest_permits: Arc<Semaphore>,
    /// The config file reloads read.
    config_path: PathBuf,
    /// The config at start: settings bound then (listen addresses, body limit, admin token).
    started_with: Config,
    reload_state: Mutex<reload::ReloadState>,
    /// The outcomes of the last [`RELOADS_KEPT`] reloads, oldest first: apart from the reload
    /// lock, which a reload holds while it compiles (seconds for a JavaScript filter), so
    /// `/status` never waits for one.
    reloads: std::sync::Mutex<VecDeque<ReloadOutcome>>,
    /// Files the current config depends on; the watcher follows this list.
    watched: watch::Sender<Vec<PathBuf>>,
}

impl Gateway {
    /// Builds the first snapshot from a validated config, over an opened `queue`, and starts
    /// the lanes of every webhook (resuming what waits in the queue).
    pub async fn start(
        loaded: LoadedConfig,
        runtime: FilterRuntime,
        queue: Queue,
    ) -> Result<Arc<Self>, StartError> {
        let metrics = Arc::new(Metrics::default());
        let timeout = loaded.config.delivery.timeout;
        let deliverer = Deliverer::new(HttpSender::new(timeout)?, LambdaSender::new(timeout));
        let plans = (compile_plans(&loaded.config, &runtime, &metrics).await)
            .map_err(StartError::Config)?;
        let queues = register_webhooks(&queue, &plans).await?;
        let pauses = (queue.pauses().await).map_err(|e| StartError::Queue(Arc::new(e).into()))?;
        let gateway = Arc::new(Self {
            snapshot: ArcSwap::from_pointee(Snapshot::empty()),
            workers: Workers::new(queue.clone(), deliverer),
            queue,
            runtime,
            metrics,
            stopping: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            ingest_permits: Arc::new(Semaphore::new(loaded.config.server.max_ingest_in_flight)),
            config_path: loaded.source.path.clone(),
            started_with: loaded.config.clone(),
            reload_state: Mutex::default(),
            reloads: std::sync::Mutex::default(),
            watched: watch::Sender::new(Vec::new()),
        });
        gateway.record_initial_files(&loaded, &plans);
        let snapshot = Snapshot::new(plans, loaded.source, &queues);
        gateway.workers.reconcile(snapshot.destinations(), &pauses);
        gateway.workers.retire_unconfigured();
        gateway.snapshot.store(Arc::new(snapshot));
        Ok(gateway)
    }

    /// The config as it was at start.
    pub fn started_with(&self) -> &Config {
        &self.started_with
    }

    /// The outcomes of the last reloads, newest first.
    pub fn recent_reloads(&self) -> Vec<ReloadOutcome> {
        let recent = self.reloads.lock();
        let recent = recent.unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.iter().rev().cloned().collect()
    }

    /// The current snapshot; hold it for the whole of one request. An owned `Arc` rather
    /// than an `arc_swap` guard: requests hold it across awaits, which guards are not for.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// A place among the ingest requests being routed and stored, if one frees up within
    /// [`INGEST_WAIT`]: a request never waits longer than that for the gateway's attention.
    pub async fn ingest_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permits = self.ingest_permits.clone();
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        tokio::time::timeout(INGEST_WAIT, permits.acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Whether ingest has stopped for shutdown.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Why the gateway should not get traffic now, if it should not: shutting down, or its
    /// store closed or unreachable.
    pub fn not_ready(&self) -> Option<&'static str> {
        if self.stopping.load(Ordering::Relaxed) {
            Some("shutting down")
        } else {
            self.queue.not_ready()
        }
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        let snapshot = self.snapshot();
        let filters = snapshot
            .apps()
            .flat_map(|entry| &entry.plan.webhooks)
            .flat_map(|route| {
                route.chain.filters().map(|filter| FilterVersion {
                    app: route.context.app_id.clone(),
                    webhook: route.webhook.id.clone(),
                    filter: filter.name().to_owned(),
                    module_hash: filter.module_hash().to_string(),
                })
            })
            .collect();
        self.metrics.render(&GatewayState {
            webhooks: &self.workers.status(),
            queue_bytes: self.queue.bytes(),
            queue_max_bytes: self.queue.max_bytes(),
            config: (snapshot.source.as_ref())
                .map(|source| (source.content_hash.as_str(), snapshot.loaded_at)),
            filters,
        })
    }

    /// Stops the lanes (each finishing its attempt in flight, at most `grace`), then closes
    /// the queue; true if every lane finished in time.
    async fn drain(&self, grace: Duration) -> bool {
        let finished = self.workers.shutdown(grace).await;
        self.queue.close().await;
        finished
    }
}

/// Each webhook's number in the queue, registering new ones.
async fn register_webhooks(
    queue: &Queue,
    plans: &[AppPlan],
) -> Result<HashMap<WebhookKey, QueueId>, QueueError> {
    let mut ids = HashMap::new();
    for route in plans.iter().flat_map(|p| &p.webhooks) {
        let key = route.key();
        let id = queue.register(&key).await?;
        ids.insert(key, id);
    }
    Ok(ids)
}

/// Pauses and resumes webhooks as the store says, every [`PAUSES_POLL`].
async fn follow_pauses(gateway: Arc<Gateway>) {
    let mut ticks = tokio::time::interval(PAUSES_POLL);
    loop {
        ticks.tick().await;
        match gateway.queue.pauses().await {
            Ok(pauses) => gateway.workers.follow_pauses(&pauses),
            Err(error) => tracing::debug!(%error, "cannot read the paused webhooks"),
        }
    }
}

/// The sockets the gateway serves on.
pub struct Listeners {
    /// `/ingest/pusher`, `/healthz`, `/metrics`.
    pub public: TcpListener,
    /// `/status`, `/admin/reload`.
    pub admin: TcpListener,
}

/// How the gateway was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C): someone at a terminal; ingest stops at once.
    Interrupt,
    /// SIGTERM (systemd, Kubernetes): `/readyz` fails for `shutdown_delay_ms` first, while
    /// ingest goes on, so load balancers stop sending here before ingest refuses.
    Terminate,
}

/// Serves until `shutdown` completes (and its shutdown delay passed), reloading on file
/// changes and SIGHUP, then drains. Logs `listening` (with `ready_ms` since `started`) once
/// everything is in place.
pub async fn serve(
    gateway: Arc<Gateway>,
    listeners: Listeners,
    started: Instant,
    shutdown: impl Future<Output = StopSignal> + Send + 'static,
) -> std::io::Result<()> {
    let stop = CancellationToken::new();
    let mut background = vec![tokio::spawn({
        let (stop, gateway) = (stop.clone(), gateway.clone());
        async move {
            let signal = shutdown.await;
            gateway.stopping.store(true, Ordering::Relaxed);
            let delay = match signal {
                StopSignal::Interrupt => Duration::ZERO,
                StopSignal::Terminate => gateway.started_with.server.shutdown_delay,
            };
            tracing::info!(
                ?signal,
                delay_ms = delay.as_millis() as u64,
                "shutdown requested: /readyz answers 503; ingest stops after the delay"
            );
            tokio::time::sleep(delay).await;
            gateway.draining.store(true, Ordering::Relaxed);
            stop.cancel();
        }
    })];
    if gateway.queue.is_shared() {
        background.push(tokio::spawn(follow_pauses(gateway.clone())));
    }
    if let Some(hups) = reload::catch_sighup() {
        background.push(tokio::spawn(reload::reload_on_sighup(
            gateway.clone(),
            hups,
        )));
    }
    if let Some((watcher, hints)) = reload::start_watching(&gateway) {
        background.push(tokio::spawn(reload::watch_files(
            gateway.clone(),
            watcher,
            hints,
        )));
    }
    let addr = listeners.public.local_addr()?;
    tracing::info!(
        %addr,
        admin = %listeners.admin.local_addr()?,
        ready_ms = started.elapsed().as_millis() as u64,
        "listening; send webhooks to http://{addr}/ingest/pusher"
    );
    let server = &gateway.started_with.server;
    let limits = http::ConnectionLimits {
        header_read_timeout: server.header_read_timeout,
        max_connections: server.max_connections,
    };
    let public = crate::ingest::router(gateway.clone());
    let admin = crate::admin::router(gateway.clone());
    tokio::join!(
        http::serve(listeners.public, public, limits, stop.clone()),
        http::serve(listeners.admin, admin, limits, stop.clone()),
    );
    background.iter().for_each(tokio::task::JoinHandle::abort);
    tracing::info!("stopped accepting; finishing deliveries in flight");
    if gateway.drain(DRAIN_GRACE).await {
        tracing::info!("drained; what waits in the queue is delivered after the next start");
    } else {
        tracing::warn!(
            grace_secs = DRAIN_GRACE.as_secs(),
            "attempts still in flight after the grace period were abandoned; they are tried again after the next start"
        );
    }
    Ok(())
}
