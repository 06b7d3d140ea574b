//! The embedded store: one fjall database in the data directory, with a keyspace for each
//! kind of record. Reads happen anywhere (fjall reads are snapshot-consistent and run beside
//! the writer); every write goes through the one writer thread ([`super::writer`]).
//!
//! Keyspaces: `jobs` ([`JobKey`] → [`Job`]), `dead_letters` (id → [`DeadLetter`]), `webhooks`
//! ([`QueueId`] → [`WebhookKey`]), `meta` (the store's id), `dedupe` (hash → expiry) and
//! `dedupe_expiry` (expiry ‖ hash, so expired entries are found in order).

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use super::record::{DeadLetter, Job, Paused};
use super::{Caps, JOB_KEY_LEN, JobKey, LaneId, QueueId, WebhookKey};

/// Memory for fjall's block cache: the heads of the lanes, recently written.
const CACHE_BYTES: u64 = 32 << 20;

/// The journal's cap: a smaller journal reopens faster after a crash, at the same throughput
/// (`bench/queue-store`, `fjall-j64`).
const MAX_JOURNAL_BYTES: u64 = 64 << 20;

/// A keyspace's memtable before it is flushed to disk. Jobs live briefly: most are written and
/// deleted within one memtable, whose entries and tombstones a lane's read walks, and which
/// stays in memory. fjall's default (64 MiB) made the gateway's RSS 150–200 MiB under load; and
/// the smaller the memtable, the shorter the stall its flush puts on the writer's fsyncs (4 MiB:
/// p99 ack latency about 5 ms at half the maximum rate, 32 MiB: about 30 ms; bench/speed).
const MAX_MEMTABLE_BYTES: u64 = 4 << 20;

/// A store that cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the queue directory {} is in use by another process (a running gateway?)",
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("cannot open the queue directory {}: {source}", dir.display())]
    Open {
        dir: PathBuf,
        #[source]
        source: fjall::Error,
    },
    #[error("queue store: {0}")]
    Io(#[from] fjall::Error),
    #[error("the queue is closed")]
    Closed,
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("queue store holds an unreadable {what} record: {source}")]
    Corrupt {
        what: &'static str,
        #[source]
        source: postcard::Error,
    },
}

/// A job as read from its lane.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub key: JobKey,
    /// Bytes the job takes in the store (key and value), for the size bound.
    pub size: u64,
    pub job: Job,
}

/// What a scan of the store found at start.
#[derive(Debug, Default)]
pub struct Recovered {
    pub store_id: u64,
    pub names: HashMap<QueueId, WebhookKey>,
    /// Per webhook queue: the lanes holding jobs, and how many events wait.
    pub lanes: HashMap<QueueId, Vec<u16>>,
    pub events: HashMap<QueueId, u64>,
    /// Bytes of jobs and dead letters.
    pub bytes: u64,
    /// The highest sequence number or dead-letter id in use.
    pub last_seq: u64,
}

/// The database and its keyspaces; clones share them.
#[derive(Clone)]
pub struct Store {
    pub(super) db: Database,
    pub(super) jobs: Keyspace,
    pub(super) dead_letters: Keyspace,
    pub(super) webhooks: Keyspace,
    pub(super) meta: Keyspace,
    pub(super) dedupe: Keyspace,
    pub(super) dedupe_expiry: Keyspace,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

const STORE_ID: &[u8] = b"store_id";
/// Before a queue id (big-endian) in `meta`: that webhook is paused.
const PAUSED: &[u8] = b"paused/";

impl Store {
    /// Opens (creating it if needed) the store in `dir`. Only one process may have it open.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let opened = std::fs::create_dir_all(dir)
            .map_err(fjall::Error::Io)
            .and_then(|()| {
                Database::builder(dir)
                    // Durability is the writer's to decide: one persist per group of writes.
                    .manual_journal_persist(true)
                    .cache_size(CACHE_BYTES)
                    .max_journaling_size(MAX_JOURNAL_BYTES)
                    .open()
            });
        let db = match opened {
            Ok(db) => db,
            Err(fjall::Error::Locked) => return Err(StoreError::Locked { dir: dir.into() }),
            Err(source) => {
                return Err(StoreError::Open {
                    dir: dir.into(),
                    source,
                });
            }
        };
        let keyspace = |name| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(MAX_MEMTABLE_BYTES)
            })
        };
        Ok(Self {
            jobs: keyspace("jobs")?,
            dead_letters: keyspace("dead_letters")?,
            webhooks: keyspace("webhooks")?,
            meta: keyspace("meta")?,
            dedupe: keyspace("dedupe")?,
            dedupe_expiry: keyspace("dedupe_expiry")?,
            db,
        })
    }

    /// The paused webhooks (an unreadable entry is left out: that webhook runs).
    pub fn pauses(&self) -> Result<Vec<(QueueId, Paused)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.meta.prefix(PAUSED) {
            let (key, value) = entry.into_inner()?;
            let (Ok(id), Ok(paused)) = (
                <[u8; 4]>::try_from(&key[PAUSED.len()..]),
                Paused::decode(&value),
            ) else {
                continue;
            };
            out.push((QueueId(u32::from_be_bytes(id)), paused));
        }
        Ok(out)
    }

    /// Pauses (`Some`) or resumes (`None`) a webhook, durably.
    pub fn set_paused(&self, queue: QueueId, paused: Option<&Paused>) -> Result<(), StoreError> {
        let key = [PAUSED, &queue.0.to_be_bytes()[..]].concat();
        match paused {
            Some(paused) => self.meta.insert(key, paused.encode())?,
            None => self.meta.remove(key)?,
        }
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Scans everything the gateway needs to resume: names, lanes with jobs, sizes, and the
    /// last sequence number. Creates the store's id on first use.
    pub fn recover(&self) -> Result<Recovered, StoreError> {
        let store_id = match self.meta.get(STORE_ID)? {
            Some(bytes) if bytes.len() == 8 => {
                u64::from_be_bytes(bytes[..].try_into().unwrap_or_default())
            }
            _ => {
                let id = rand::random::<u64>();
                self.meta.insert(STORE_ID, id.to_be_bytes())?;
                self.db.persist(fjall::PersistMode::SyncAll)?;
                id
            }
        };
        let mut found = Recovered {
            store_id,
            ..Recovered::default()
        };
        for entry in self.webhooks.iter() {
            let (key, value) = entry.into_inner()?;
            let (Ok(id), Ok(name)) = (
                <[u8; 4]>::try_from(&key[..]),
                postcard::from_bytes::<WebhookKey>(&value),
            ) else {
                continue;
            };
            found.names.insert(QueueId(u32::from_be_bytes(id)), name);
        }
        for entry in self.jobs.iter() {
            let (key, value) = entry.into_inner()?;
            let Some(key) = JobKey::decode(&key) else {
                continue;
            };
            let lanes = found.lanes.entry(key.lane.queue).or_default();
            if lanes.last() != Some(&key.lane.lane) {
                lanes.push(key.lane.lane);
            }
            *found.events.entry(key.lane.queue).or_default() += u64::from(event_count(&value)?);
            found.bytes += (JOB_KEY_LEN + value.len()) as u64;
            found.last_seq = found.last_seq.max(key.seq);
        }
        for entry in self.dead_letters.iter() {
            let (key, value) = entry.into_inner()?;
            found.bytes += (key.len() + value.len()) as u64;
            if let Ok(id) = <[u8; 8]>::try_from(&key[..]) {
                found.last_seq = found.last_seq.max(u64::from_be_bytes(id));
            }
        }
        Ok(found)
    }

    /// The jobs of `lane` after sequence `after` (from its start when `None`), in order, as
    /// many as `caps` allow. A job that was already attempted is a delivery of its own: it
    /// comes alone, and only as the first. Also says whether the read reached the lane's end
    /// (nothing more waits after these).
    pub fn read_lane(
        &self,
        lane: LaneId,
        after: Option<u64>,
        caps: Caps,
    ) -> Result<(Vec<StoredJob>, bool), StoreError> {
        let start = match after {
            Some(seq) => Bound::Excluded(lane.job(seq).encode()),
            None => Bound::Included(lane.job(0).encode()),
        };
        let end = Bound::Included(lane.job(u64::MAX).encode());
        let (mut events, mut bytes) = (0usize, 0usize);
        let mut out = Vec::new();
        let mut range = self.jobs.range((start, end));
        for entry in range.by_ref() {
            let stored = stored_job(entry)?;
            let count = stored.job.events.count as usize;
            let len = stored.size as usize;
            let attempted = stored.job.delivery.is_some();
            if (attempted && !out.is_empty()) || !caps.fits(out.len(), events + count, bytes + len)
            {
                // More waits: this one, at least.
                return Ok((out, false));
            }
            events += count;
            bytes += len;
            out.push(stored);
            if attempted || events >= caps.max_events {
                let at_end = range.next().is_none();
                return Ok((out, at_end));
            }
        }
        Ok((out, true))
    }

    /// The first `limit` jobs of `queue`, in lane and sequence order.
    pub fn jobs_of(&self, queue: QueueId, limit: usize) -> Result<Vec<StoredJob>, StoreError> {
        let first = LaneId { queue, lane: 0 }.job(0).encode();
        let last = LaneId {
            queue,
            lane: u16::MAX,
        }
        .job(u64::MAX)
        .encode();
        self.jobs
            .range(first..=last)
            .take(limit)
            .map(stored_job)
            .collect()
    }

    /// Dead letters in id order, from `from` on, that `keep` accepts, at most `limit`.
    pub fn dead_letters(
        &self,
        from: u64,
        limit: usize,
        mut keep: impl FnMut(&DeadLetter) -> bool,
    ) -> Result<Vec<(u64, DeadLetter)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.dead_letters.range(from.to_be_bytes()..) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry.into_inner()?;
            let id = u64::from_be_bytes(key[..].try_into().unwrap_or_default());
            let letter = decode_dead_letter(&value)?;
            if keep(&letter) {
                out.push((id, letter));
            }
        }
        Ok(out)
    }

    /// One dead letter, with the bytes it takes in the store.
    pub fn dead_letter(&self, id: u64) -> Result<Option<(DeadLetter, u64)>, StoreError> {
        let Some(value) = self.dead_letters.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        Ok(Some((
            decode_dead_letter(&value)?,
            (8 + value.len()) as u64,
        )))
    }
}

/// A job read from the `jobs` keyspace.
fn stored_job(entry: fjall::Guard) -> Result<StoredJob, StoreError> {
    let (key, value) = entry.into_inner()?;
    let key = JobKey::decode(&key).expect("the jobs keyspace holds only job keys");
    let job = Job::decode(&value).map_err(|source| StoreError::Corrupt {
        what: "job",
        source,
    })?;
    Ok(StoredJob {
        key,
        size: (JOB_KEY_LEN + value.len()) as u64,
        job,
    })
}

fn decode_dead_letter(bytes: &[u8]) -> Result<DeadLetter, StoreError> {
    DeadLetter::decode(bytes).map_err(|source| StoreError::Corrupt {
        what: "dead letter",
        source,
    })
}

/// The number of events in an encoded job, without copying them.
fn event_count(value: &[u8]) -> Result<u32, StoreError> {
    Job::decode_event_count(value).map_err(|source| StoreError::Corrupt {
        what: "job",
        source,
    })
}
