//! The lane workers of every webhook, kept in step with the running config. Keyed by webhook
//! (app id, webhook id), they outlive snapshots: a reload changes what a webhook's lanes send
//! and where, never resets their order, circuit or counters. A webhook added gets its lanes; one
//! removed has its lanes stopped (each finishing its attempt in flight), then its waiting jobs
//! dead-lettered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::circuit::Circuit;
use super::history::History;
use super::lane::Lane;
use super::pause::Pause;
use super::{Deliverer, Destination};
use crate::clock::now_ms;
use crate::metrics::WebhookStats;
use crate::queue::{LaneId, Paused, Queue, QueueId, StoreError, WebhookKey};

/// A webhook's lanes and what they share.
struct Running {
    queue_id: QueueId,
    destination: Arc<ArcSwap<Destination>>,
    circuit: Arc<Circuit>,
    stats: Arc<WebhookStats>,
    history: Arc<History>,
    pause: Arc<Pause>,
    /// When each running lane's head job was accepted (0: empty).
    heads: Vec<Arc<AtomicU64>>,
    stop: CancellationToken,
    lanes: TaskTracker,
}

/// What `/metrics` and `/status` show of one webhook.
#[derive(Debug, Clone)]
pub struct WebhookStatus {
    pub webhook: WebhookKey,
    pub stats: Arc<WebhookStats>,
    /// Events waiting.
    pub depth: u64,
    /// How long the oldest waiting job has waited.
    pub oldest: Option<Duration>,
    pub circuit_open: bool,
    pub dead_lettered: u64,
    pub paused: Option<Paused>,
    pub history: Arc<History>,
}

/// Every webhook's lane workers.
pub struct Workers {
    queue: Queue,
    deliverer: Deliverer,
    running: Mutex<HashMap<WebhookKey, Running>>,
    /// Every lane task and every retirement: shutdown waits for them.
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").finish_non_exhaustive()
    }
}

impl Workers {
    pub fn new(queue: Queue, deliverer: Deliverer) -> Self {
        Self {
            queue,
            deliverer,
            running: Mutex::default(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<WebhookKey, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the running lanes match the config's webhooks (each with its number in the
    /// store), paused as `pauses` says. Lanes a webhook no longer has keep running until the
    /// next restart, so what waits in them is still delivered.
    pub fn reconcile(
        &self,
        webhooks: Vec<(WebhookKey, QueueId, Destination)>,
        pauses: &HashMap<QueueId, Paused>,
    ) {
        let stored: HashMap<QueueId, Vec<u16>> = self
            .queue
            .stored_webhooks()
            .into_iter()
            .map(|(id, _, lanes)| (id, lanes))
            .collect();
        let mut running = self.running();
        let mut keep = Vec::with_capacity(webhooks.len());
        for (key, queue_id, destination) in webhooks {
            let lanes = destination.webhook.lanes;
            let entry = running.entry(key.clone()).or_insert_with(|| {
                self.queue.reactivate(queue_id);
                Running {
                    queue_id,
                    destination: Arc::new(ArcSwap::from_pointee(destination.clone())),
                    circuit: Arc::default(),
                    stats: Arc::default(),
                    history: Arc::default(),
                    pause: Arc::default(),
                    heads: Vec::new(),
                    stop: self.shutdown.child_token(),
                    lanes: TaskTracker::new(),
                }
            });
            entry.destination.store(Arc::new(destination));
            // Before its lanes start: a paused webhook never sends in between.
            switch_pause(&key, &entry.pause, pauses.get(&queue_id));
            // Lanes beyond the configured count that held jobs at start are drained too.
            let highest_stored = stored
                .get(&queue_id)
                .and_then(|l| l.iter().max())
                .map_or(0, |l| l + 1);
            let wanted = lanes.max(highest_stored);
            while entry.heads.len() < usize::from(wanted) {
                let lane = entry.heads.len() as u16;
                self.spawn_lane(&key, entry, lane);
            }
            keep.push(key);
        }
        let removed: Vec<WebhookKey> = running
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for key in removed {
            if let Some(gone) = running.remove(&key) {
                self.retire(key, gone);
            }
        }
    }

    fn spawn_lane(&self, key: &WebhookKey, running: &mut Running, lane: u16) {
        let head = Arc::new(AtomicU64::new(0));
        running.heads.push(head.clone());
        let worker = Lane {
            id: LaneId {
                queue: running.queue_id,
                lane,
            },
            webhook: key.clone(),
            queue: self.queue.clone(),
            deliverer: self.deliverer.clone(),
            destination: running.destination.clone(),
            circuit: running.circuit.clone(),
            stats: running.stats.clone(),
            head_enqueued_ms: head,
            history: running.history.clone(),
            pause: running.pause.clone(),
            stop: running.stop.clone(),
        };
        let span = tracing::debug_span!("lane", app = %key.app_id, webhook = %key.webhook_id, lane);
        self.tasks
            .spawn(running.lanes.track_future(worker.run().instrument(span)));
    }

    /// Stops a removed webhook's lanes, then dead-letters what waits for it.
    fn retire(&self, key: WebhookKey, gone: Running) {
        gone.stop.cancel();
        gone.lanes.close();
        let queue = self.queue.clone();
        self.tasks.spawn(async move {
            gone.lanes.wait().await;
            match queue.retire(gone.queue_id).await {
                Ok(0) => tracing::info!(webhook = %key, "webhook removed"),
                Ok(moved) => tracing::warn!(
                    webhook = %key,
                    jobs = moved,
                    "webhook removed: its waiting events were dead-lettered (reason webhook_removed)"
                ),
                Err(error) => tracing::error!(webhook = %key, %error, "cannot dead-letter the removed webhook's events"),
            }
        });
    }

    /// Dead-letters the jobs of webhooks in the store that the config at start does not have.
    pub fn retire_unconfigured(&self) {
        let running = self.running();
        for (queue_id, key, _) in self.queue.stored_webhooks() {
            if running.contains_key(&key) {
                continue;
            }
            let queue = self.queue.clone();
            self.tasks.spawn(async move {
                match queue.retire(queue_id).await {
                    Ok(0) => {}
                    Ok(moved) => tracing::warn!(
                        webhook = %key,
                        jobs = moved,
                        "webhook no longer in the config: its waiting events were dead-lettered"
                    ),
                    Err(error) => tracing::error!(webhook = %key, %error, "cannot dead-letter the events of a webhook no longer in the config"),
                }
            });
        }
    }

    /// Each webhook's figures, sorted by webhook.
    pub fn status(&self) -> Vec<WebhookStatus> {
        let now = now_ms();
        let mut out: Vec<WebhookStatus> = (self.running().iter())
            .map(|(key, running)| self.figures(key, running, now))
            .collect();
        out.sort_by(|a, b| a.webhook.cmp(&b.webhook));
        out
    }

    /// One webhook's figures, if it runs.
    pub fn status_of(&self, webhook: &WebhookKey) -> Option<WebhookStatus> {
        let running = self.running();
        let found = running.get(webhook)?;
        Some(self.figures(webhook, found, now_ms()))
    }

    fn figures(&self, key: &WebhookKey, running: &Running, now: u64) -> WebhookStatus {
        let oldest = (running.heads.iter())
            .map(|h| h.load(Ordering::Relaxed))
            .filter(|ms| *ms > 0)
            .min();
        WebhookStatus {
            webhook: key.clone(),
            stats: running.stats.clone(),
            depth: self.queue.depth(running.queue_id),
            oldest: oldest.map(|ms| Duration::from_millis(now.saturating_sub(ms))),
            circuit_open: running.circuit.is_open(),
            dead_lettered: self.queue.dead_lettered(running.queue_id),
            paused: running.pause.current(),
            history: running.history.clone(),
        }
    }

    /// Pauses (`Some`) or resumes (`None`) `webhook`'s deliveries, in the store (for every
    /// gateway on it) and here: whether that changed anything here, or `None` when no such
    /// webhook runs.
    pub async fn set_paused(
        &self,
        webhook: &WebhookKey,
        paused: Option<Paused>,
    ) -> Result<Option<bool>, StoreError> {
        let Some((queue_id, pause)) =
            (self.running().get(webhook)).map(|running| (running.queue_id, running.pause.clone()))
        else {
            return Ok(None);
        };
        self.queue.set_paused(queue_id, paused.clone()).await?;
        Ok(Some(switch_pause(webhook, &pause, paused.as_ref())))
    }

    /// Pauses and resumes the running webhooks as the store says (another gateway on Redis
    /// paused or resumed one).
    pub fn follow_pauses(&self, pauses: &HashMap<QueueId, Paused>) {
        for (key, running) in self.running().iter() {
            switch_pause(key, &running.pause, pauses.get(&running.queue_id));
        }
    }

    /// The lanes of `webhook` as configured now, if it is configured.
    pub fn lanes_of(&self, webhook: &WebhookKey) -> Option<u16> {
        self.running()
            .get(webhook)
            .map(|r| r.destination.load().webhook.lanes)
    }

    /// Stops every lane (each finishes its attempt in flight) and waits for them, at most
    /// `grace`; true if all finished.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}

/// Sets `pause` as `paused` says, logging a change; whether it changed.
fn switch_pause(webhook: &WebhookKey, pause: &Pause, paused: Option<&Paused>) -> bool {
    let changed = pause.set(paused.cloned());
    match paused {
        Some(p) if changed => {
            tracing::warn!(%webhook, by = %p.by, "webhook paused: its deliveries are held");
        }
        None if changed => tracing::info!(%webhook, "webhook resumed"),
        _ => {}
    }
    changed
}
