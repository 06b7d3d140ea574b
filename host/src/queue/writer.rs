//! The one writer: a thread that takes every write waiting, applies them as one atomic batch
//! and makes the batch durable with one fsync (group commit), then answers each. Concurrent
//! ingest requests thus share an fsync instead of paying one each.
//!
//! It also keeps what must be decided in order: sequence numbers (ingest order), the size
//! bound, the ingest-dedupe check, and which webhooks were removed (a job routed to one by a
//! request still on the old config is dead-lettered, not left behind).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use fjall::{OwnedWriteBatch, PersistMode};
use tokio::sync::oneshot;

use super::embedded::Shared;
use super::record::{DeadLetter, Job, Reason};
use super::store::{Recovered, Store, StoreError, StoredJob};
use super::{
    AppendError, Appended, DedupeKey, JOB_KEY_LEN, JobKey, LaneId, NewJob, QueueId, REMOVED,
    WebhookKey, now_ms,
};

/// How long the writer waits for work before it persists what rides along and purges expired
/// dedupe entries.
const IDLE: Duration = Duration::from_millis(500);

/// The most commands applied as one batch.
const MAX_GROUP: usize = 4096;

/// Jobs moved to the dead letters per batch when a webhook is retired.
const RETIRE_CHUNK: usize = 2000;

/// A job being acknowledged or moved, with what it takes in the store.
#[derive(Debug, Clone, Copy)]
pub struct Taken {
    pub key: JobKey,
    pub size: u64,
    pub events: u32,
}

impl From<&StoredJob> for Taken {
    fn from(job: &StoredJob) -> Self {
        Self {
            key: job.key,
            size: job.size,
            events: job.job.events.count,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, Arc<StoreError>>>;

/// One write, and where its answer goes.
pub enum Command {
    Append {
        jobs: Vec<NewJob>,
        dead_letters: Vec<DeadLetter>,
        dedupe: Option<DedupeKey>,
        reply: oneshot::Sender<Result<Appended, AppendError>>,
    },
    Register {
        webhook: WebhookKey,
        reply: Reply<QueueId>,
    },
    /// Delivered: removed. Rides along with the next durable batch (losing it to a crash
    /// means a redelivery, which at-least-once allows).
    Delivered { jobs: Vec<Taken> },
    /// A failed delivery: its jobs become one job at `key`, with the delivery's state.
    Reschedule {
        jobs: Vec<Taken>,
        key: JobKey,
        job: Job,
        reply: Reply<()>,
    },
    /// Given up: the jobs become one dead letter.
    DeadLetter {
        jobs: Vec<Taken>,
        letter: DeadLetter,
        reply: Reply<u64>,
    },
    /// The webhook was removed: its jobs, and any routed to it later, become dead letters.
    Retire { queue: QueueId, reply: Reply<u64> },
    /// The webhook is configured again: jobs routed to it are kept.
    Reactivate { queue: QueueId },
    /// Dead letters sent again: each id's jobs are written and the dead letter removed, if it
    /// is still there. Answers the ids replayed.
    Replay {
        letters: Vec<(u64, Vec<NewJob>)>,
        reply: Reply<Vec<u64>>,
    },
    /// Dead letters removed; answers how many were there.
    Purge { ids: Vec<u64>, reply: Reply<u64> },
    /// Persist everything and stop.
    Close { reply: oneshot::Sender<()> },
}

/// The writer's own state.
pub struct Writer {
    store: Store,
    shared: Arc<Shared>,
    fsync: bool,
    max_bytes: u64,
    bytes: u64,
    last_seq: u64,
    names: HashMap<WebhookKey, QueueId>,
    retired: HashSet<QueueId>,
    /// Writes applied but not yet persisted (they ride along with the next durable batch).
    unpersisted: bool,
    /// Retirements with jobs left, continued batch after batch.
    retiring: VecDeque<Retirement>,
}

/// A removed webhook whose jobs are being moved to the dead letters.
struct Retirement {
    queue: QueueId,
    reply: Reply<u64>,
    moved: u64,
}

/// What one batch changes, applied to the writer's counters only once the batch committed.
#[derive(Default)]
struct Effects {
    bytes_added: u64,
    bytes_removed: u64,
    events: HashMap<QueueId, i64>,
    dead_lettered: HashMap<QueueId, u64>,
    lanes_written: HashSet<LaneId>,
    /// Jobs written, for their lanes' hand-off once committed.
    written: Vec<StoredJob>,
    /// Webhooks whose jobs this batch moves away (retired): their lanes read the store again.
    retired_queues: Vec<QueueId>,
    durable: bool,
    dedupe_seen: HashSet<[u8; 16]>,
    /// Dead letters this batch removes (so a replay and a purge of one id count once).
    dead_removed: HashSet<u64>,
}

/// An answer to send once the batch is durable (or failed).
enum Pending {
    Append(oneshot::Sender<Result<Appended, AppendError>>, Appended),
    Register(Reply<QueueId>, QueueId),
    Unit(Reply<()>),
    Count(Reply<u64>, u64),
    Ids(Reply<Vec<u64>>, Vec<u64>),
}

impl Writer {
    pub fn new(
        store: Store,
        shared: Arc<Shared>,
        recovered: &Recovered,
        max_bytes: u64,
        fsync: bool,
    ) -> Self {
        Self {
            store,
            shared,
            fsync,
            max_bytes,
            bytes: recovered.bytes,
            last_seq: recovered.last_seq,
            names: recovered
                .names
                .iter()
                .map(|(id, name)| (name.clone(), *id))
                .collect(),
            retired: HashSet::new(),
            unpersisted: false,
            retiring: VecDeque::new(),
        }
    }

    /// Runs until [`Command::Close`] or until every sender is gone.
    pub fn run(mut self, commands: Receiver<Command>) {
        loop {
            let first = if self.retiring.is_empty() {
                match commands.recv_timeout(IDLE) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => {
                        self.idle();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                commands.try_recv().ok()
            };
            let mut group: Vec<Command> = first.into_iter().collect();
            while group.len() < MAX_GROUP {
                match commands.try_recv() {
                    Ok(command) => group.push(command),
                    Err(_) => break,
                }
            }
            let close = group
                .iter()
                .position(|c| matches!(c, Command::Close { .. }))
                .map(|at| group.split_off(at));
            self.apply_group(group);
            if let Some(mut rest) = close {
                let Command::Close { reply } = rest.remove(0) else {
                    unreachable!("split at the Close command")
                };
                self.finish(reply);
                return;
            }
        }
        self.persist(true);
    }

    fn idle(&mut self) {
        if self.unpersisted {
            self.persist(true);
        }
        if let Err(e) = self.purge_expired_dedupe() {
            tracing::warn!(error = %e, "could not purge expired ingest-dedupe entries");
        }
    }

    fn finish(&mut self, reply: oneshot::Sender<()>) {
        self.persist(true);
        let _ = reply.send(());
    }

    fn persist(&mut self, durable: bool) {
        let mode = if durable && self.fsync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        };
        match self.store.db.persist(mode) {
            Ok(()) => self.unpersisted = false,
            Err(e) => tracing::error!(error = %e, "queue store: persisting failed"),
        }
    }

    fn apply_group(&mut self, group: Vec<Command>) {
        let mut batch = self.store.db.batch();
        let mut effects = Effects::default();
        let mut pending = Vec::with_capacity(group.len());
        for command in group {
            match command {
                Command::Append {
                    jobs,
                    dead_letters,
                    dedupe,
                    reply,
                } => match self.append(&mut batch, &mut effects, jobs, dead_letters, dedupe) {
                    Ok(outcome) => pending.push(Pending::Append(reply, outcome)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                Command::Register { webhook, reply } => {
                    let id = self.register(&mut batch, &mut effects, webhook);
                    pending.push(Pending::Register(reply, id));
                }
                Command::Delivered { jobs } => {
                    self.remove(&mut batch, &mut effects, &jobs);
                }
                Command::Reschedule {
                    jobs,
                    key,
                    job,
                    reply,
                } => {
                    self.remove(&mut batch, &mut effects, &jobs);
                    let value = job.encode();
                    effects.bytes_added += (JOB_KEY_LEN + value.len()) as u64;
                    *effects.events.entry(key.lane.queue).or_default() +=
                        i64::from(job.events.count);
                    batch.insert(&self.store.jobs, key.encode(), value);
                    pending.push(Pending::Unit(reply));
                }
                Command::DeadLetter {
                    jobs,
                    letter,
                    reply,
                } => {
                    self.remove(&mut batch, &mut effects, &jobs);
                    let queue = jobs.first().map(|t| t.key.lane.queue);
                    let id = self.put_dead_letter(&mut batch, &mut effects, queue, &letter);
                    pending.push(Pending::Count(reply, id));
                }
                Command::Retire { queue, reply } => {
                    self.retired.insert(queue);
                    self.retiring.push_back(Retirement {
                        queue,
                        reply,
                        moved: 0,
                    });
                }
                Command::Reactivate { queue } => {
                    self.retired.remove(&queue);
                }
                Command::Replay { letters, reply } => {
                    match self.replay(&mut batch, &mut effects, letters) {
                        Ok(ids) => pending.push(Pending::Ids(reply, ids)),
                        Err(e) => {
                            let _ = reply.send(Err(Arc::new(e)));
                        }
                    }
                }
                Command::Purge { ids, reply } => match self.purge(&mut batch, &mut effects, &ids) {
                    Ok(n) => pending.push(Pending::Count(reply, n)),
                    Err(e) => {
                        let _ = reply.send(Err(Arc::new(e)));
                    }
                },
                Command::Close { .. } => unreachable!("Close is split off before the group"),
            }
        }
        match self.continue_retiring(&mut batch, &mut effects) {
            Ok(done) => pending.extend(done),
            Err(e) => {
                if let Some(r) = self.retiring.pop_front() {
                    let _ = r.reply.send(Err(Arc::new(e)));
                }
            }
        }
        let result = self.commit(batch, &effects);
        self.answer(pending, effects, result);
    }

    fn commit(&mut self, batch: OwnedWriteBatch, effects: &Effects) -> Result<(), Arc<StoreError>> {
        let wrote = !batch.is_empty();
        batch.commit().map_err(|e| Arc::new(StoreError::Io(e)))?;
        if effects.durable {
            let mode = if self.fsync {
                PersistMode::SyncData
            } else {
                PersistMode::Buffer
            };
            self.store
                .db
                .persist(mode)
                .map_err(|e| Arc::new(StoreError::Io(e)))?;
            self.shared.syncs.fetch_add(1, Ordering::Relaxed);
            self.unpersisted = false;
        } else if wrote {
            self.unpersisted = true;
        }
        Ok(())
    }

    fn answer(
        &mut self,
        pending: Vec<Pending>,
        effects: Effects,
        result: Result<(), Arc<StoreError>>,
    ) {
        if let Err(error) = &result {
            tracing::error!(%error, "queue store: a batch of writes failed");
            for p in pending {
                match p {
                    Pending::Append(reply, _) => {
                        let _ = reply.send(Err(AppendError::Store(error.clone())));
                    }
                    Pending::Register(reply, _) => drop(reply.send(Err(error.clone()))),
                    Pending::Unit(reply) => drop(reply.send(Err(error.clone()))),
                    Pending::Count(reply, _) => drop(reply.send(Err(error.clone()))),
                    Pending::Ids(reply, _) => drop(reply.send(Err(error.clone()))),
                }
            }
            return;
        }
        self.bytes = (self.bytes + effects.bytes_added).saturating_sub(effects.bytes_removed);
        self.shared.bytes.store(self.bytes, Ordering::Relaxed);
        for (queue, delta) in &effects.events {
            let depth = self.shared.depth(*queue);
            if *delta >= 0 {
                depth.fetch_add(*delta as u64, Ordering::Relaxed);
            } else {
                depth.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
            }
        }
        for (queue, n) in &effects.dead_lettered {
            self.shared
                .dead_lettered(*queue)
                .fetch_add(*n, Ordering::Relaxed);
        }
        for queue in &effects.retired_queues {
            self.shared.lanes_of(*queue).iter().for_each(|l| l.reset());
        }
        for job in effects.written {
            self.shared.lane(job.key.lane).written(job);
        }
        for lane in &effects.lanes_written {
            self.shared.lane(*lane).notify.notify_one();
        }
        for p in pending {
            match p {
                Pending::Append(reply, outcome) => {
                    self.shared.appends.fetch_add(1, Ordering::Relaxed);
                    drop(reply.send(Ok(outcome)));
                }
                Pending::Register(reply, id) => drop(reply.send(Ok(id))),
                Pending::Unit(reply) => drop(reply.send(Ok(()))),
                Pending::Count(reply, n) => drop(reply.send(Ok(n))),
                Pending::Ids(reply, ids) => drop(reply.send(Ok(ids))),
            }
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    fn append(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
        jobs: Vec<NewJob>,
        dead_letters: Vec<DeadLetter>,
        dedupe: Option<DedupeKey>,
    ) -> Result<Appended, AppendError> {
        if let Some(key) = &dedupe {
            let seen_now = effects.dedupe_seen.contains(&key.hash);
            let seen_before = match self.store.dedupe.get(key.hash) {
                Ok(Some(expiry)) => decode_u64(&expiry) > now_ms(),
                Ok(None) => false,
                Err(e) => return Err(AppendError::Store(Arc::new(e.into()))),
            };
            if seen_now || seen_before {
                return Ok(Appended::Duplicate);
            }
        }
        let size: u64 = jobs
            .iter()
            .map(|j| (JOB_KEY_LEN + j.value.len()) as u64)
            .chain(dead_letters.iter().map(|l| (8 + l.encoded_len()) as u64))
            .sum();
        let in_store = (self.bytes + effects.bytes_added).saturating_sub(effects.bytes_removed);
        if in_store + size > self.max_bytes {
            return Err(AppendError::Full {
                max_bytes: self.max_bytes,
            });
        }
        for new in jobs {
            if !self.retired.contains(&new.lane.queue) {
                self.put_job(batch, effects, new);
                continue;
            }
            // Routed on a config that still had the webhook; it is gone now.
            let job = new.job;
            let letter = DeadLetter {
                webhook: self.name_of(new.lane.queue),
                events: job.events,
                reason: Reason::WebhookRemoved,
                detail: REMOVED.into(),
                enqueued_ms: job.enqueued_ms,
                dead_lettered_ms: now_ms(),
                delivery: None,
            };
            self.put_dead_letter(batch, effects, Some(new.lane.queue), &letter);
        }
        for letter in &dead_letters {
            let queue = self.names.get(&letter.webhook).copied();
            self.put_dead_letter(batch, effects, queue, letter);
        }
        if let Some(key) = dedupe {
            effects.dedupe_seen.insert(key.hash);
            batch.insert(&self.store.dedupe, key.hash, key.expires_ms.to_be_bytes());
            batch.insert(
                &self.store.dedupe_expiry,
                expiry_key(key.expires_ms, &key.hash),
                [],
            );
        }
        effects.durable = true;
        Ok(Appended::Stored)
    }

    fn name_of(&self, queue: QueueId) -> WebhookKey {
        self.names
            .iter()
            .find(|(_, id)| **id == queue)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| WebhookKey::new("?", "?"))
    }

    fn register(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
        webhook: WebhookKey,
    ) -> QueueId {
        if let Some(id) = self.names.get(&webhook) {
            self.retired.remove(id);
            return *id;
        }
        let id = QueueId(self.names.values().map(|q| q.0 + 1).max().unwrap_or(1));
        let name = postcard::to_stdvec(&webhook).expect("encoding to a Vec cannot fail");
        batch.insert(&self.store.webhooks, id.0.to_be_bytes(), name);
        self.shared
            .names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, webhook.clone());
        self.names.insert(webhook, id);
        effects.durable = true;
        id
    }

    fn remove(&mut self, batch: &mut OwnedWriteBatch, effects: &mut Effects, jobs: &[Taken]) {
        for taken in jobs {
            // A real tombstone: fjall's single-delete would let an older version of a job
            // rewritten by a retry show through again.
            batch.remove(&self.store.jobs, taken.key.encode());
            effects.bytes_removed += taken.size;
            *effects.events.entry(taken.key.lane.queue).or_default() -= i64::from(taken.events);
        }
    }

    fn put_dead_letter(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
        queue: Option<QueueId>,
        letter: &DeadLetter,
    ) -> u64 {
        let id = self.next_seq();
        let value = letter.encode();
        effects.bytes_added += (8 + value.len()) as u64;
        if let Some(queue) = queue {
            *effects.dead_lettered.entry(queue).or_default() += 1;
        }
        batch.insert(&self.store.dead_letters, id.to_be_bytes(), value);
        id
    }

    /// Moves the next chunk of the first retiring webhook's jobs to the dead letters; when
    /// that was its last, the answer to send once the batch commits.
    fn continue_retiring(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
    ) -> Result<Option<Pending>, StoreError> {
        let Some(queue) = self.retiring.front().map(|r| r.queue) else {
            return Ok(None);
        };
        let chunk = self.store.jobs_of(queue, RETIRE_CHUNK)?;
        let webhook = self.name_of(queue);
        let now = now_ms();
        for stored in &chunk {
            let letter = DeadLetter {
                webhook: webhook.clone(),
                events: stored.job.events.clone(),
                reason: Reason::WebhookRemoved,
                detail: REMOVED.into(),
                enqueued_ms: stored.job.enqueued_ms,
                dead_lettered_ms: now,
                delivery: stored.job.delivery.clone(),
            };
            self.put_dead_letter(batch, effects, Some(queue), &letter);
        }
        let taken: Vec<Taken> = chunk.iter().map(Taken::from).collect();
        self.remove(batch, effects, &taken);
        effects.durable = true;
        effects.retired_queues.push(queue);
        let Some(front) = self.retiring.front_mut() else {
            return Ok(None);
        };
        front.moved += chunk.len() as u64;
        if chunk.len() == RETIRE_CHUNK {
            return Ok(None);
        }
        Ok(self
            .retiring
            .pop_front()
            .map(|r| Pending::Count(r.reply, r.moved)))
    }

    fn take_dead_letter(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
        id: u64,
    ) -> Result<bool, StoreError> {
        if effects.dead_removed.contains(&id) {
            return Ok(false);
        }
        let Some((_, size)) = self.store.dead_letter(id)? else {
            return Ok(false);
        };
        batch.remove(&self.store.dead_letters, id.to_be_bytes());
        effects.bytes_removed += size;
        effects.dead_removed.insert(id);
        effects.durable = true;
        Ok(true)
    }

    fn replay(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
        letters: Vec<(u64, Vec<NewJob>)>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut replayed = Vec::new();
        for (id, jobs) in letters {
            if !self.take_dead_letter(batch, effects, id)? {
                continue;
            }
            for new in jobs {
                self.put_job(batch, effects, new);
            }
            replayed.push(id);
        }
        Ok(replayed)
    }

    fn purge(
        &mut self,
        batch: &mut OwnedWriteBatch,
        effects: &mut Effects,
        ids: &[u64],
    ) -> Result<u64, StoreError> {
        let mut purged = 0;
        for id in ids {
            purged += u64::from(self.take_dead_letter(batch, effects, *id)?);
        }
        Ok(purged)
    }

    /// Writes `new` at the end of its lane.
    fn put_job(&mut self, batch: &mut OwnedWriteBatch, effects: &mut Effects, new: NewJob) {
        let key = new.lane.job(self.next_seq());
        let size = (JOB_KEY_LEN + new.value.len()) as u64;
        effects.bytes_added += size;
        *effects.events.entry(new.lane.queue).or_default() += i64::from(new.job.events.count);
        effects.lanes_written.insert(new.lane);
        batch.insert(&self.store.jobs, key.encode(), new.value);
        effects.written.push(StoredJob {
            key,
            size,
            job: new.job,
        });
    }

    /// Removes dedupe entries whose window has passed (a bounded number per call).
    fn purge_expired_dedupe(&mut self) -> Result<(), StoreError> {
        let now = now_ms();
        let mut batch = self.store.db.batch();
        for entry in self
            .store
            .dedupe_expiry
            .range(..expiry_key(now, &[0; 16]))
            .take(10_000)
        {
            let key = entry.key()?;
            batch.remove(&self.store.dedupe, &key[8..]);
            batch.remove(&self.store.dedupe_expiry, key);
        }
        if !batch.is_empty() {
            batch.commit()?;
            self.unpersisted = true;
        }
        Ok(())
    }
}

fn decode_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or_default()
}

fn expiry_key(expires_ms: u64, hash: &[u8; 16]) -> [u8; 24] {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&expires_ms.to_be_bytes());
    key[8..].copy_from_slice(hash);
    key
}
