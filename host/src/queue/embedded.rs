//! The embedded backend: the store (fjall) on local disk and its one writer thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::store::{Store, StoreError, StoredJob};
use super::writer::{Command, Taken, Writer};
use super::{
    AppendError, Appended, Caps, DeadLetter, DeadLetterFilter, DedupeKey, Job, JobKey, LaneId,
    LaneState, NewJob, Paused, QueueError, QueueId, QueueSettings, WebhookKey,
};

/// State the writer keeps up to date for everyone else.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) lanes: Mutex<HashMap<LaneId, Arc<LaneState>>>,
    pub(super) depth: Mutex<HashMap<QueueId, Arc<AtomicU64>>>,
    pub(super) dead_lettered: Mutex<HashMap<QueueId, Arc<AtomicU64>>>,
    pub(super) names: RwLock<HashMap<QueueId, WebhookKey>>,
    pub(super) bytes: AtomicU64,
    /// Appends made durable, and the fsyncs (or flushes, without fsync) that did it.
    pub(super) appends: AtomicU64,
    pub(super) syncs: AtomicU64,
}

fn entry<K: std::hash::Hash + Eq, V: Default>(map: &Mutex<HashMap<K, Arc<V>>>, key: K) -> Arc<V> {
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

impl Shared {
    pub(super) fn lane(&self, lane: LaneId) -> Arc<LaneState> {
        entry(&self.lanes, lane)
    }

    /// Every lane of `queue` known so far.
    pub(super) fn lanes_of(&self, queue: QueueId) -> Vec<Arc<LaneState>> {
        let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes
            .iter()
            .filter(|(id, _)| id.queue == queue)
            .map(|(_, state)| state.clone())
            .collect()
    }

    pub(super) fn depth(&self, queue: QueueId) -> Arc<AtomicU64> {
        entry(&self.depth, queue)
    }

    pub(super) fn dead_lettered(&self, queue: QueueId) -> Arc<AtomicU64> {
        entry(&self.dead_lettered, queue)
    }
}

/// The embedded backend; cheap to clone (clones share the store and the writer).
#[derive(Debug, Clone)]
pub struct Embedded {
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

impl Embedded {
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
    #[cfg(test)]
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

    /// The paused webhooks.
    pub fn pauses(&self) -> Result<Vec<(QueueId, Paused)>, StoreError> {
        self.read(Store::pauses)
    }

    /// Pauses (`Some`) or resumes (`None`) a webhook, durably (off the async threads: it
    /// fsyncs).
    pub async fn set_paused(
        &self,
        queue: QueueId,
        paused: Option<Paused>,
    ) -> Result<(), StoreError> {
        let store = self.read(|store| Ok(store.clone()))?;
        let write = move || store.set_paused(queue, paused.as_ref());
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|_| StoreError::Closed)?
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

    /// The next jobs of `lane` after sequence `after`, in order ([`Store::read_lane`]):
    /// handed over in memory when the lane keeps up, read from the store otherwise.
    pub fn read_lane(
        &self,
        lane: LaneId,
        after: Option<u64>,
        caps: Caps,
    ) -> Result<Vec<StoredJob>, StoreError> {
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

    /// One dead letter.
    pub fn dead_letter_by_id(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        Ok(self
            .read(|store| store.dead_letter(id))?
            .map(|(letter, _)| letter))
    }

    /// Writes each letter's jobs and removes the letter, if it is still there; answers the
    /// ids replayed.
    pub async fn replay_letters(
        &self,
        letters: Vec<(u64, Vec<NewJob>)>,
    ) -> Result<Vec<u64>, QueueError> {
        self.ask(|reply| Command::Replay { letters, reply }).await
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
