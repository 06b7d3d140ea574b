//! # Queue: accepted events wait here, on disk, until delivered or dead-lettered
//!
//! In: the jobs of one ingest request (its routed events, one job per webhook and lane), and
//! what lane workers report (delivered, failed and when to try again, given up). Out: each
//! lane's jobs in order, and the dead letters.
//!
//! Guarantees:
//! - **Acknowledged means on disk.** [`Queue::append`] answers once the request's jobs are
//!   written and fsynced, all or none; concurrent requests share one fsync ([`writer`]).
//! - **Order per lane.** Jobs get a sequence number in the order they are written; a lane
//!   reads its jobs in that order. A webhook's channels are spread over its lanes by hash
//!   ([`lane_of`]), so one channel's events stay in one lane.
//! - **Bounded.** The store holds at most `max_bytes` of jobs and dead letters; past that an
//!   append is refused whole ([`AppendError::Full`]). Waiting jobs are on disk, not in memory.
//! - **Nothing secret.** Jobs hold app and webhook names and events, never a secret, a target
//!   or credentials: those come from the config running when a delivery is sent.
//!
//! The store is fjall (an LSM tree, pure Rust), chosen over redb by measurement: see
//! `bench/queue-store/`.

mod keys;
mod lanes;
mod record;
mod retry;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub use keys::{JOB_KEY_LEN, JobKey, LaneId, QueueId, WebhookKey, by_lane, lane_of};
pub use lanes::LaneState;
pub use record::{DeadLetter, DeliveryState, Events, Job, Reason};
pub use retry::{FunctionErrors, MAX_RETRY_AFTER, RetryPolicy, jitter};
pub use store::{StoreError, StoredJob};
pub use writer::Taken;

use store::Store;
use writer::{Command, Writer};

use crate::clock::now_ms;
use crate::event::Event;

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
}

impl QueueSettings {
    /// The defaults, with the data in `dir`.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self {
            dir,
            max_bytes: 1 << 30,
            fsync: true,
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

/// State the writer keeps up to date for everyone else.
#[derive(Debug, Default)]
struct Shared {
    lanes: Mutex<HashMap<LaneId, Arc<LaneState>>>,
    depth: Mutex<HashMap<QueueId, Arc<AtomicU64>>>,
    dead_lettered: Mutex<HashMap<QueueId, Arc<AtomicU64>>>,
    names: RwLock<HashMap<QueueId, WebhookKey>>,
    bytes: AtomicU64,
    /// Appends made durable, and the fsyncs (or flushes, without fsync) that did it.
    appends: AtomicU64,
    syncs: AtomicU64,
}

fn entry<K: std::hash::Hash + Eq, V: Default>(map: &Mutex<HashMap<K, Arc<V>>>, key: K) -> Arc<V> {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

impl Shared {
    fn lane(&self, lane: LaneId) -> Arc<LaneState> {
        entry(&self.lanes, lane)
    }

    /// Every lane of `queue` known so far.
    fn lanes_of(&self, queue: QueueId) -> Vec<Arc<LaneState>> {
        let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes
            .iter()
            .filter(|(id, _)| id.queue == queue)
            .map(|(_, state)| state.clone())
            .collect()
    }

    fn depth(&self, queue: QueueId) -> Arc<AtomicU64> {
        entry(&self.depth, queue)
    }

    fn dead_lettered(&self, queue: QueueId) -> Arc<AtomicU64> {
        entry(&self.dead_lettered, queue)
    }
}

/// The durable queue; cheap to clone (clones share the store and the writer).
#[derive(Debug, Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Taken at close, so the store's lock is released while clones of the queue live on.
    store: RwLock<Option<Store>>,
    shared: Arc<Shared>,
    commands: Mutex<Option<std::sync::mpsc::Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    store_id: u64,
    /// Lanes that held jobs when the store was opened, by webhook.
    lanes_at_open: HashMap<QueueId, Vec<u16>>,
    max_bytes: u64,
}

impl Queue {
    /// Opens the store in `settings.dir` (creating it), reads what waits there and starts the
    /// writer. Blocking: the scan reads the whole store.
    pub fn open(settings: &QueueSettings) -> Result<Self, StoreError> {
        let store = Store::open(&settings.dir)?;
        let recovered = store.recover()?;
        let shared = Arc::new(Shared::default());
        shared.bytes.store(recovered.bytes, Ordering::Relaxed);
        for (queue, events) in &recovered.events {
            shared.depth(*queue).store(*events, Ordering::Relaxed);
        }
        *shared.names.write().unwrap_or_else(|p| p.into_inner()) = recovered.names.clone();
        let (commands, receiver) = std::sync::mpsc::channel();
        let writer = Writer::new(
            store.clone(),
            shared.clone(),
            &recovered,
            settings.max_bytes,
            settings.fsync,
        );
        let thread = std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StoreError::Io(fjall::Error::Io(e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: RwLock::new(Some(store)),
                shared,
                commands: Mutex::new(Some(commands)),
                writer: Mutex::new(Some(thread)),
                store_id: recovered.store_id,
                lanes_at_open: recovered.lanes,
                max_bytes: settings.max_bytes,
            }),
        })
    }

    /// Runs `read` on the store, unless the queue is closed.
    fn read<T>(&self, read: impl FnOnce(&Store) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let store = self.inner.store.read().unwrap_or_else(|p| p.into_inner());
        store.as_ref().map_or(Err(StoreError::Closed), read)
    }

    fn send(&self, command: Command) -> bool {
        let commands = self
            .inner
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        commands.as_ref().is_some_and(|c| c.send(command).is_ok())
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, Arc<StoreError>>>) -> Command,
    ) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        if !self.send(command(reply)) {
            return Err(QueueError::Closed);
        }
        answer
            .await
            .map_err(|_| QueueError::Closed)?
            .map_err(Into::into)
    }

    /// A random id made when the store was created: delivery ids include it, so two stores
    /// never give the same id.
    pub fn store_id(&self) -> u64 {
        self.inner.store_id
    }

    /// The most bytes the store holds.
    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    /// Appends made durable so far, and the syncs that made them so: with group commit, many
    /// appends share one sync.
    pub fn appends_and_syncs(&self) -> (u64, u64) {
        let shared = &self.inner.shared;
        (
            shared.appends.load(Ordering::Relaxed),
            shared.syncs.load(Ordering::Relaxed),
        )
    }

    /// Bytes of jobs and dead letters in the store now.
    pub fn bytes(&self) -> u64 {
        self.inner.shared.bytes.load(Ordering::Relaxed)
    }

    /// Webhooks the store knows, with the lanes that held jobs when it was opened.
    pub fn stored_webhooks(&self) -> Vec<(QueueId, WebhookKey, Vec<u16>)> {
        let names = self
            .inner
            .shared
            .names
            .read()
            .unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .map(|(id, name)| {
                let lanes = self
                    .inner
                    .lanes_at_open
                    .get(id)
                    .cloned()
                    .unwrap_or_default();
                (*id, name.clone(), lanes)
            })
            .collect()
    }

    /// The webhook's number in the store, assigned (durably) on first use.
    pub async fn register(&self, webhook: &WebhookKey) -> Result<QueueId, QueueError> {
        let webhook = webhook.clone();
        self.ask(|reply| Command::Register { webhook, reply }).await
    }

    /// Keeps jobs routed to a webhook configured again after [`Self::retire`].
    pub fn reactivate(&self, queue: QueueId) {
        self.send(Command::Reactivate { queue });
    }

    /// Writes one ingest request's jobs, and the events its filters dead-lettered, durably and
    /// all or none. With `dedupe`, a body already seen is acknowledged without writing.
    pub async fn append(
        &self,
        jobs: Vec<NewJob>,
        dead_letters: Vec<DeadLetter>,
        dedupe: Option<DedupeKey>,
    ) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Append {
            jobs,
            dead_letters,
            dedupe,
            reply,
        };
        if !self.send(command) {
            return Err(AppendError::Closed);
        }
        answer.await.map_err(|_| AppendError::Closed)?
    }

    /// The lane's wake-up (`notify`: jobs were written to it).
    pub fn lane(&self, lane: LaneId) -> Arc<LaneState> {
        self.inner.shared.lane(lane)
    }

    /// Events waiting for the webhook.
    pub fn depth(&self, queue: QueueId) -> u64 {
        self.inner.shared.depth(queue).load(Ordering::Relaxed)
    }

    /// Dead letters made for the webhook since the gateway started.
    pub fn dead_lettered(&self, queue: QueueId) -> u64 {
        self.inner
            .shared
            .dead_lettered(queue)
            .load(Ordering::Relaxed)
    }

    /// The next jobs of `lane` after sequence `after` (the last one its worker took), up to
    /// `max_events` and `max_bytes` (`first_always`: the first job even if it alone is
    /// larger), in order ([`Store::read_lane`]): handed over in memory when the lane keeps up,
    /// read from the store otherwise.
    pub fn read_lane(
        &self,
        lane: LaneId,
        after: Option<u64>,
        max_events: usize,
        max_bytes: usize,
        first_always: bool,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let caps = Caps {
            max_events,
            max_bytes,
            first_always,
        };
        let state = self.inner.shared.lane(lane);
        if let Some(jobs) = state.take(caps) {
            return Ok(jobs);
        }
        let (jobs, at_end) = self.read(|store| store.read_lane(lane, after, caps))?;
        if at_end {
            let last_seen = jobs.last().map(|j| j.key.seq).or(after).unwrap_or(0);
            state.read_to_end(last_seen);
        }
        Ok(jobs)
    }

    /// Removes delivered jobs. Not waited for: a lane reads on past them.
    pub fn delivered(&self, jobs: Vec<Taken>) {
        self.send(Command::Delivered { jobs });
    }

    /// Replaces a failed delivery's jobs by one job at `key` holding the delivery's state.
    pub async fn reschedule(
        &self,
        jobs: Vec<Taken>,
        key: JobKey,
        job: Job,
    ) -> Result<(), QueueError> {
        self.ask(|reply| Command::Reschedule {
            jobs,
            key,
            job,
            reply,
        })
        .await
    }

    /// Moves jobs to the dead letters as `letter`; returns its id.
    pub async fn dead_letter(
        &self,
        jobs: Vec<Taken>,
        letter: DeadLetter,
    ) -> Result<u64, QueueError> {
        self.ask(|reply| Command::DeadLetter {
            jobs,
            letter,
            reply,
        })
        .await
    }

    /// Dead-letters every job of a removed webhook, and any routed to it from now on until it
    /// is registered again; returns how many jobs were moved.
    pub async fn retire(&self, queue: QueueId) -> Result<u64, QueueError> {
        self.ask(|reply| Command::Retire { queue, reply }).await
    }

    /// Dead letters matching `filter`, in id order from `from`, at most `limit`.
    pub fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, DeadLetter)>, StoreError> {
        self.read(|store| store.dead_letters(from, limit, |l| filter.matches(l)))
    }

    /// The ids of the dead letters `selection` names (ids that do not exist are kept: the
    /// caller reports them).
    pub fn select(&self, selection: &Selection) -> Result<Vec<u64>, StoreError> {
        let filter = match selection {
            Selection::Ids(ids) => return Ok(ids.clone()),
            Selection::Matching(filter) => filter,
        };
        let mut ids = Vec::new();
        let mut from = 0;
        loop {
            let page = self.dead_letters(filter, from, 1000)?;
            let Some((last, _)) = page.last() else {
                return Ok(ids);
            };
            from = last + 1;
            ids.extend(page.iter().map(|(id, _)| *id));
        }
    }

    /// One dead letter.
    pub fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        Ok(self
            .read(|store| store.dead_letter(id))?
            .map(|(letter, _)| letter))
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
            let Some(letter) = self.dead_letter_by_id(*id)? else {
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
        let replayed = self.ask(|reply| Command::Replay { letters, reply }).await?;
        for id in asked.iter().filter(|id| !replayed.contains(id)) {
            report.skip(*id, "replayed or purged meanwhile");
        }
        report.replayed = replayed;
        Ok(report)
    }

    /// Removes dead letters; returns how many there were.
    pub async fn purge(&self, ids: Vec<u64>) -> Result<u64, QueueError> {
        self.ask(|reply| Command::Purge { ids, reply }).await
    }

    /// Whether the store is open and its writer takes writes (false once closed).
    pub fn is_open(&self) -> bool {
        let commands = self.inner.commands.lock();
        commands.unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Persists everything, stops the writer and closes the store. Later writes fail with
    /// [`QueueError::Closed`].
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Command::Close { reply }) {
            let _ = done.await;
        }
        self.inner
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let thread = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.inner
            .store
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
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
