//! # Queue: accepted events wait here, on disk, until delivered or dead-lettered
//!
//! In: the jobs of one ingest request (its routed events, one job per webhook and lane), and
//! what lane workers report (delivered, failed and when to try again, given up). Out: each
//! lane's jobs in order, and the dead letters.
//!
//! Guarantees:
//! - **Acknowledged means on disk.** [`Queue::append`] answers once the request's jobs are
//!   written and fsynced, all or none; concurrent requests share one fsync ([`writer`]). With
//!   Redis: once one script wrote them all, durable as far as Redis's persistence makes it.
//! - **Order per lane.** Jobs get a sequence number in the order they are written; a lane
//!   reads its jobs in that order. A webhook's channels are spread over its lanes by hash
//!   ([`lane_of`]), so one channel's events stay in one lane.
//! - **Bounded.** The store holds at most `max_bytes` of jobs and dead letters; past that an
//!   append is refused whole ([`AppendError::Full`]). Waiting jobs are on disk, not in memory.
//! - **Nothing secret.** Jobs hold app and webhook names and events, never a secret, a target
//!   or credentials: those come from the config running when a delivery is sent.
//!
//! Two backends give these guarantees behind [`Queue`]: the embedded store ([`embedded`], the
//! default: fjall, an LSM tree in pure Rust, chosen over redb by measurement, see
//! `bench/queue-store/`), and Redis Streams ([`redis`], `[queue] backend = "redis"`), where
//! "on disk" means what the Redis server's persistence settings make of an acknowledged write.

mod embedded;
mod keys;
mod lanes;
mod record;
mod redis;
mod retry;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use keys::{JOB_KEY_LEN, JobKey, LaneId, QueueId, WebhookKey, by_lane, lane_of};
pub use lanes::LaneState;
pub use record::{DeadLetter, DeliveryState, Events, Job, Paused, Reason};
pub use redis::RedisSettings;
pub use retry::{FunctionErrors, MAX_RETRY_AFTER, RetryPolicy, jitter};
pub use store::{StoreError, StoredJob};
pub use writer::Taken;

use embedded::Embedded;
use redis::RedisQueue;

use crate::clock::now_ms;
use crate::event::Event;

/// The detail of a dead letter whose webhook was removed.
const REMOVED: &str = "the webhook was removed from the config";

/// Where accepted events wait, and how much of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// The data directory; created on first start.
    pub dir: PathBuf,
    /// The most bytes of jobs and dead letters the store holds; past it, ingest answers 503.
    pub max_bytes: u64,
    /// fsync before acknowledging. Off, an acknowledged event survives the process crashing
    /// but not the machine losing power.
    pub fsync: bool,
    /// Where the jobs are kept; `dir` and `fsync` are the embedded store's.
    pub backend: Backend,
}

/// Which store keeps the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store in `dir` (the default).
    Embedded,
    /// Redis Streams on a Redis server, shared by every node pointed at it.
    Redis(RedisSettings),
}

impl QueueSettings {
    /// The defaults, with the data in `dir`.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self {
            dir,
            max_bytes: 1 << 30,
            fsync: true,
            backend: Backend::Embedded,
        }
    }
}

/// A job to write at the end of a lane, already encoded (by the request that makes it, so
/// the one writer only writes).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub lane: LaneId,
    value: Vec<u8>,
    /// Handed to the lane's worker once written, if it keeps up ([`lanes`]).
    job: Job,
}

impl NewJob {
    pub fn new(lane: LaneId, job: Job) -> Self {
        Self {
            lane,
            value: job.encode(),
            job,
        }
    }
}

/// How much one read of a lane may take.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_events: usize,
    pub max_bytes: usize,
    /// Take the first job even if it alone exceeds the caps (a delivery needs at least one).
    pub first_always: bool,
}

impl Caps {
    /// Whether a job of `events` and `bytes` fits after `taken` jobs of these totals.
    pub fn fits(&self, taken: usize, events: usize, bytes: usize) -> bool {
        (taken == 0 && self.first_always) || (events <= self.max_events && bytes <= self.max_bytes)
    }
}

/// An ingest request's body seen before: its hash and until when it counts as seen.
#[derive(Debug, Clone, Copy)]
pub struct DedupeKey {
    hash: [u8; 16],
    expires_ms: u64,
}

impl DedupeKey {
    /// The key of `body` sent for app `app_id`, remembered for `window`.
    pub fn new(app_id: &str, body: &[u8], window: std::time::Duration) -> Self {
        let mut hash = Sha256::new();
        hash.update(app_id.as_bytes());
        hash.update([0]);
        hash.update(body);
        let digest = hash.finalize();
        Self {
            hash: digest[..16]
                .try_into()
                .expect("a SHA-256 digest has 32 bytes"),
            expires_ms: now_ms() + window.as_millis() as u64,
        }
    }
}

/// What became of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Written and durable.
    Stored,
    /// The same body was accepted within the app's dedupe window: nothing written.
    Duplicate,
}

/// Why an append was refused; nothing of it was written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("the queue is full ({max_bytes} bytes of waiting events and dead letters)")]
    Full { max_bytes: u64 },
    #[error("the queue is closed: the gateway is shutting down")]
    Closed,
    /// The store cannot be reached now (Redis down): the sender should try again shortly.
    #[error("the queue's store is unreachable: {0}")]
    Unavailable(#[source] Arc<StoreError>),
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// A write the queue could not make.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is closed: the gateway is shutting down")]
    Closed,
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    pub app: Option<String>,
    pub webhook: Option<String>,
    pub reason: Option<Reason>,
}

impl DeadLetterFilter {
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.app
            .as_deref()
            .is_none_or(|a| *letter.webhook.app_id == *a)
            && self
                .webhook
                .as_deref()
                .is_none_or(|w| *letter.webhook.webhook_id == *w)
            && self.reason.is_none_or(|r| letter.reason == r)
    }
}

/// Which dead letters a replay or purge is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<u64>),
    /// Every dead letter the filter matches (the default filter: all of them).
    Matching(DeadLetterFilter),
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayReport {
    /// Dead letters whose events are queued again.
    pub replayed: Vec<u64>,
    /// Dead letters left as they are.
    pub skipped: Vec<Skipped>,
}

impl ReplayReport {
    fn skip(&mut self, id: u64, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            id,
            reason: reason.into(),
        });
    }
}

/// A dead letter a replay left, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub id: u64,
    pub reason: String,
}

/// The queue; cheap to clone (clones share the backend and its connections).
#[derive(Debug, Clone)]
pub struct Queue {
    backend: Open,
}

#[derive(Debug, Clone)]
enum Open {
    Embedded(Embedded),
    Redis(RedisQueue),
}

impl Queue {
    /// Opens the backend `settings` name for a gateway: the embedded store (reading what
    /// waits there), or Redis (connecting, and taking lane leases as one node of the cluster).
    pub async fn open(settings: &QueueSettings) -> Result<Self, StoreError> {
        Self::open_as(settings, true).await
    }

    /// Opens the queue for a tool (the `dlq` CLI): as [`Self::open`], but on Redis not as a
    /// node (no leases), so it works beside running gateways.
    pub async fn open_for_tool(settings: &QueueSettings) -> Result<Self, StoreError> {
        Self::open_as(settings, false).await
    }

    async fn open_as(settings: &QueueSettings, gateway: bool) -> Result<Self, StoreError> {
        let backend = match &settings.backend {
            Backend::Embedded => {
                let settings = settings.clone();
                let open = tokio::task::spawn_blocking(move || Embedded::open(&settings));
                Open::Embedded(open.await.map_err(|_| StoreError::Closed)??)
            }
            Backend::Redis(redis) => {
                Open::Redis(RedisQueue::open(redis, settings.max_bytes, gateway).await?)
            }
        };
        Ok(Self { backend })
    }

    /// A random id made when the store was created: delivery ids include it, so two stores
    /// never give the same id.
    pub fn store_id(&self) -> u64 {
        match &self.backend {
            Open::Embedded(q) => q.store_id(),
            Open::Redis(q) => q.store_id(),
        }
    }

    /// Whether other gateways may share the queue (Redis), and change what it holds, such as
    /// which webhooks are paused.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Open::Redis(_))
    }

    /// The backend's name in the config.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Open::Embedded(_) => "embedded",
            Open::Redis(_) => "redis",
        }
    }

    /// The most bytes the store holds.
    pub fn max_bytes(&self) -> u64 {
        match &self.backend {
            Open::Embedded(q) => q.max_bytes(),
            Open::Redis(q) => q.max_bytes(),
        }
    }

    /// Bytes of jobs and dead letters in the store (Redis: as of its last poll).
    pub fn bytes(&self) -> u64 {
        match &self.backend {
            Open::Embedded(q) => q.bytes(),
            Open::Redis(q) => q.bytes(),
        }
    }

    /// Webhooks the store knows, with the lanes that held jobs when it was opened.
    pub fn stored_webhooks(&self) -> Vec<(QueueId, WebhookKey, Vec<u16>)> {
        match &self.backend {
            Open::Embedded(q) => q.stored_webhooks(),
            Open::Redis(q) => q.stored_webhooks(),
        }
    }

    /// The webhook's number in the store, assigned (durably) on first use.
    pub async fn register(&self, webhook: &WebhookKey) -> Result<QueueId, QueueError> {
        match &self.backend {
            Open::Embedded(q) => q.register(webhook).await,
            Open::Redis(q) => q.register(webhook).await,
        }
    }

    /// The paused webhooks.
    pub async fn pauses(&self) -> Result<HashMap<QueueId, Paused>, StoreError> {
        let pauses = match &self.backend {
            Open::Embedded(q) => q.pauses()?,
            Open::Redis(q) => q.pauses().await?,
        };
        Ok(pauses.into_iter().collect())
    }

    /// Pauses (`Some`) or resumes (`None`) a webhook's deliveries, durably and for every
    /// gateway on the store.
    pub async fn set_paused(
        &self,
        queue: QueueId,
        paused: Option<Paused>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Open::Embedded(q) => q.set_paused(queue, paused).await,
            Open::Redis(q) => q.set_paused(queue, paused).await,
        }
    }

    /// A delivery of `lane`'s jobs `first` to `last` is about to be sent for the first time.
    /// On Redis this is written down, so a gateway that takes the lane over while it is in
    /// flight sends the same jobs again, under the same delivery id; the embedded store has
    /// one gateway, which reads its lane from the start after a crash.
    pub async fn begin_delivery(
        &self,
        lane: LaneId,
        first: u64,
        last: u64,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Open::Embedded(_) => Ok(()),
            Open::Redis(q) => q.begin_delivery(lane, first, last).await,
        }
    }

    /// Keeps jobs routed to a webhook configured again after [`Self::retire`].
    pub fn reactivate(&self, queue: QueueId) {
        match &self.backend {
            Open::Embedded(q) => q.reactivate(queue),
            Open::Redis(q) => q.reactivate(queue),
        }
    }

    /// Writes one ingest request's jobs, and the events its filters dead-lettered, durably and
    /// all or none. With `dedupe`, a body already seen is acknowledged without writing.
    pub async fn append(
        &self,
        jobs: Vec<NewJob>,
        dead_letters: Vec<DeadLetter>,
        dedupe: Option<DedupeKey>,
    ) -> Result<Appended, AppendError> {
        match &self.backend {
            Open::Embedded(q) => q.append(jobs, dead_letters, dedupe).await,
            Open::Redis(q) => q.append(jobs, dead_letters, dedupe).await,
        }
    }

    /// A turn at delivering on `lane`, if this node may now: always with the embedded store;
    /// with Redis, while this gateway holds the lane's lease. The turn ends when dropped.
    pub fn begin(&self, lane: LaneId) -> Option<Turn> {
        match &self.backend {
            Open::Embedded(_) => Some(Turn(None)),
            Open::Redis(q) => q.begin(lane).then(|| Turn(Some((q.clone(), lane)))),
        }
    }

    /// Whether this node may go on delivering `lane` (with Redis: still holds its lease).
    pub fn holds(&self, lane: LaneId) -> bool {
        match &self.backend {
            Open::Embedded(_) => true,
            Open::Redis(q) => q.holds(lane),
        }
    }

    /// The lane's wake-up (`notify`: jobs were written to it).
    pub fn lane(&self, lane: LaneId) -> Arc<LaneState> {
        match &self.backend {
            Open::Embedded(q) => q.lane(lane),
            Open::Redis(q) => q.lane(lane),
        }
    }

    /// Events waiting for the webhook.
    pub fn depth(&self, queue: QueueId) -> u64 {
        match &self.backend {
            Open::Embedded(q) => q.depth(queue),
            Open::Redis(q) => q.depth(queue),
        }
    }

    /// Dead letters made for the webhook since the gateway started.
    pub fn dead_lettered(&self, queue: QueueId) -> u64 {
        match &self.backend {
            Open::Embedded(q) => q.dead_lettered(queue),
            Open::Redis(q) => q.dead_lettered(queue),
        }
    }

    /// The next jobs of `lane` after sequence `after` (the last one its worker took), as many
    /// as `caps` allow, in order.
    pub async fn read_lane(
        &self,
        lane: LaneId,
        after: Option<u64>,
        caps: Caps,
    ) -> Result<Vec<StoredJob>, StoreError> {
        match &self.backend {
            Open::Embedded(q) => q.read_lane(lane, after, caps),
            Open::Redis(q) => q.read_lane(lane, after, caps).await,
        }
    }

    /// Removes delivered jobs. A lane reads on past them whether or not this succeeded:
    /// failing, they are delivered again after a restart (at least once).
    pub async fn delivered(&self, jobs: Vec<Taken>) {
        match &self.backend {
            Open::Embedded(q) => q.delivered(jobs),
            Open::Redis(q) => q.delivered(jobs).await,
        }
    }

    /// Replaces a failed delivery's jobs by one job at `key` holding the delivery's state.
    pub async fn reschedule(
        &self,
        jobs: Vec<Taken>,
        key: JobKey,
        job: Job,
    ) -> Result<(), QueueError> {
        match &self.backend {
            Open::Embedded(q) => q.reschedule(jobs, key, job).await,
            Open::Redis(q) => q.reschedule(jobs, key, job).await,
        }
    }

    /// Moves jobs to the dead letters as `letter`; returns its id.
    pub async fn dead_letter(
        &self,
        jobs: Vec<Taken>,
        letter: DeadLetter,
    ) -> Result<u64, QueueError> {
        match &self.backend {
            Open::Embedded(q) => q.dead_letter(jobs, letter).await,
            Open::Redis(q) => q.dead_letter(jobs, letter).await,
        }
    }

    /// Dead-letters every job of a removed webhook, and any routed to it from now on until it
    /// is registered again; returns how many jobs were moved.
    pub async fn retire(&self, queue: QueueId) -> Result<u64, QueueError> {
        match &self.backend {
            Open::Embedded(q) => q.retire(queue).await,
            Open::Redis(q) => q.retire(queue).await,
        }
    }

    /// Dead letters matching `filter`, in id order from `from`, at most `limit`.
    pub async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, DeadLetter)>, StoreError> {
        match &self.backend {
            Open::Embedded(q) => q.dead_letters(filter, from, limit),
            Open::Redis(q) => q.dead_letters(filter, from, limit).await,
        }
    }

    /// One dead letter.
    pub async fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        match &self.backend {
            Open::Embedded(q) => q.dead_letter_by_id(id),
            Open::Redis(q) => q.dead_letter_by_id(id).await,
        }
    }

    /// The ids of the dead letters `selection` names (ids that do not exist are kept: the
    /// caller reports them).
    pub async fn select(&self, selection: &Selection) -> Result<Vec<u64>, StoreError> {
        let filter = match selection {
            Selection::Ids(ids) => return Ok(ids.clone()),
            Selection::Matching(filter) => filter,
        };
        let mut ids = Vec::new();
        let mut from = 0;
        loop {
            let page = self.dead_letters(filter, from, 1000).await?;
            let Some((last, _)) = page.last() else {
                return Ok(ids);
            };
            from = last + 1;
            ids.extend(page.iter().map(|(id, _)| *id));
        }
    }

    /// Queues the events of dead letters `ids` again, each to its webhook as configured now:
    /// `lanes_of` gives a configured webhook's lanes, `None` if it is not configured (its dead
    /// letters stay). Events go to their channel's lane, in their order.
    pub async fn replay(
        &self,
        ids: &[u64],
        lanes_of: impl Fn(&WebhookKey) -> Option<u16>,
    ) -> Result<ReplayReport, QueueError> {
        let mut report = ReplayReport::default();
        let mut letters = Vec::new();
        for id in ids {
            let Some(letter) = self.dead_letter_by_id(*id).await? else {
                report.skip(*id, "no such dead letter");
                continue;
            };
            let Some(lanes) = lanes_of(&letter.webhook) else {
                report.skip(
                    *id,
                    format!("webhook {} is not in the config", letter.webhook),
                );
                continue;
            };
            let queue = self.register(&letter.webhook).await?;
            match requeue(&letter, queue, lanes) {
                Some(jobs) => letters.push((*id, jobs)),
                None => report.skip(*id, "its events could not be read"),
            }
        }
        let asked: Vec<u64> = letters.iter().map(|(id, _)| *id).collect();
        let replayed = match &self.backend {
            Open::Embedded(q) => q.replay_letters(letters).await?,
            Open::Redis(q) => q.replay_letters(letters).await?,
        };
        for id in asked.iter().filter(|id| !replayed.contains(id)) {
            report.skip(*id, "replayed or purged meanwhile");
        }
        report.replayed = replayed;
        Ok(report)
    }

    /// Removes dead letters; returns how many there were.
    pub async fn purge(&self, ids: Vec<u64>) -> Result<u64, QueueError> {
        match &self.backend {
            Open::Embedded(q) => q.purge(ids).await,
            Open::Redis(q) => q.purge(ids).await,
        }
    }

    /// Why the queue cannot take writes now, if it cannot: closed, or its Redis unreachable.
    pub fn not_ready(&self) -> Option<&'static str> {
        match &self.backend {
            Open::Embedded(q) => (!q.is_open()).then_some("the queue's store is closed"),
            Open::Redis(q) => q.not_ready(),
        }
    }

    /// Persists everything and closes the store. Later writes fail with
    /// [`QueueError::Closed`].
    pub async fn close(&self) {
        match &self.backend {
            Open::Embedded(q) => q.close().await,
            Open::Redis(q) => q.close().await,
        }
    }
}

/// A lane's turn at delivering ([`Queue::begin`]); a node does not let a lane's lease go while
/// a turn on it lasts.
pub struct Turn(Option<(RedisQueue, LaneId)>);

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some((queue, lane)) = &self.0 {
            queue.end(*lane);
        }
    }
}

/// A dead letter's events as new jobs of `queue`, one per lane they fall in.
fn requeue(letter: &DeadLetter, queue: QueueId, lanes: u16) -> Option<Vec<NewJob>> {
    let crate::json::JsValue::Array(values) = letter.events.to_js_array()? else {
        return None;
    };
    let events: Vec<Event> = values
        .into_iter()
        .map(Event::from_value)
        .collect::<Result<_, _>>()
        .ok()?;
    let enqueued_ms = now_ms();
    Some(
        by_lane(events, lanes)
            .into_iter()
            .map(|(lane, events)| {
                let job = Job {
                    enqueued_ms,
                    events: Events::join(&events),
                    delivery: None,
                };
                NewJob::new(LaneId { queue, lane }, job)
            })
            .collect(),
    )
}
