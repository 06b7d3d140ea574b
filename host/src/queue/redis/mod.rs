//! The Redis backend: the queue in Redis Streams, shared by every node pointed at one server.
//!
//! Design: each (webhook, lane) is one stream, `<prefix>lane:<queue>:<lane>`, whose entries are
//! `0-<seq>`, `seq` coming from one counter, so a stream holds its lane's jobs in ingest order
//! and job keys mean the same as in the embedded store. A batch (its jobs, the dead letters its
//! filters made, its ingest-dedupe key) is written by one Lua script: one round trip, all or
//! none, answered once Redis has applied it — what survives a Redis crash is then up to its
//! persistence (`appendfsync always`: every acknowledged batch). A failed delivery's state
//! lives beside the stream (`<prefix>head:<queue>:<lane>`: the head job's sequence number and
//! the job with its attempts and due time), so retries survive the node. Dead letters are a
//! hash by id, paused webhooks another ([`pauses`]). Delivered jobs are deleted (`XDEL`).
//!
//! A lane learns of new jobs from this node's appends at once, and of other nodes' appends
//! from a poll ([`POLL`]) that also keeps the figures (`depth`, `bytes`) and tells whether
//! Redis answers, and renews the node's lane leases ([`leases`]): a lane delivers only while
//! its node holds the lease, so many gateways share one prefix. Tools (the `dlq` CLI) open the
//! queue without being a node.

mod dead_letters;
mod leases;
mod pauses;
mod scripts;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};
use tokio_util::sync::CancellationToken;

use super::store::{StoreError, StoredJob};
use super::{
    AppendError, Appended, Caps, DeadLetter, DedupeKey, DeliveryState, JOB_KEY_LEN, Job, JobKey,
    LaneId, LaneState, NewJob, QueueError, QueueId, Taken, WebhookKey,
};
use crate::clock::now_ms;
use dead_letters::removed_letter;

/// How often the figures are read and every lane looks for jobs other nodes wrote.
const POLL: Duration = Duration::from_millis(250);

/// How long a command may take before Redis counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The most jobs one read of a lane fetches.
const READ_COUNT: usize = 512;

/// Where the queue lives in Redis.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; may hold a password,
    /// so never logged.
    pub url: String,
    /// Put before every key, so several gateways (or other programs) can share one server.
    pub prefix: String,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"(redacted)")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// The queue in Redis; cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    /// This gateway's id in its leases; `None` for a tool.
    node: Option<String>,
    leases: leases::Leases,
    store_id: u64,
    max_bytes: u64,
    lanes: Mutex<HashMap<LaneId, Arc<LaneState>>>,
    /// Events waiting per webhook and bytes in the queue, as of the last poll.
    depth: Mutex<HashMap<QueueId, u64>>,
    bytes: AtomicU64,
    dead_lettered: Mutex<HashMap<QueueId, u64>>,
    ids: Mutex<HashMap<WebhookKey, QueueId>>,
    /// Webhooks with their lanes holding jobs when the queue was opened.
    at_open: Vec<(QueueId, WebhookKey, Vec<u16>)>,
    retired: Mutex<HashSet<QueueId>>,
    reachable: AtomicBool,
    /// Stops the poll; cancelled at close (and when the last clone goes).
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the error says Redis could not be reached (rather than refusing the command).
fn unreachable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

fn lane_key(prefix: &str, lane: LaneId) -> String {
    format!("{prefix}lane:{}:{}", lane.queue.0, lane.lane)
}

fn head_key(prefix: &str, lane: LaneId) -> String {
    format!("{prefix}head:{}:{}", lane.queue.0, lane.lane)
}

/// A lane's entries, its head job's state and its latest delivery's jobs, as read together.
type LaneRead = (Vec<StreamEntry>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The first and last job of the lane's latest delivery, written as its first attempt starts.
fn sending_key(prefix: &str, lane: LaneId) -> String {
    format!("{prefix}sending:{}:{}", lane.queue.0, lane.lane)
}

/// A webhook's name as the `webhooks` hashes keep it.
fn name_field(webhook: &WebhookKey) -> String {
    serde_json::to_string(webhook).expect("a pair of strings serializes")
}

/// A stream entry as `XRANGE` answers it: its id and its field-value pairs.
type StreamEntry = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// Every key matching `pattern` (`SCAN`, so Redis is not blocked meanwhile).
async fn scan(conn: &mut ConnectionManager, pattern: &str) -> Result<Vec<String>, RedisError> {
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(found);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// The sequence number of a stream entry `0-<seq>`.
fn seq_of(id: &[u8]) -> Option<u64> {
    std::str::from_utf8(id)
        .ok()?
        .strip_prefix("0-")?
        .parse()
        .ok()
}

fn corrupt(what: &'static str) -> impl Fn(postcard::Error) -> StoreError {
    move |source| StoreError::Corrupt { what, source }
}

impl RedisQueue {
    /// Connects (failing if Redis does not answer), reads the store's id (making it on first
    /// use) and the webhooks with waiting jobs, and starts the poll; a gateway (`node`) takes
    /// lane leases there.
    pub async fn open(
        settings: &RedisSettings,
        max_bytes: u64,
        node: bool,
    ) -> Result<Self, StoreError> {
        // For `rediss://`: the Redis client builds its TLS config on the process's default
        // provider. Installing fails harmlessly when one is set already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let mut conn = ConnectionManager::new_with_config(client, config).await?;
        let prefix = settings.prefix.clone();
        let node = node.then(|| format!("{:016x}", rand::random::<u64>()));
        let id_key = format!("{prefix}id");
        // Made by the first gateway on this prefix, read by every later one.
        let (store_id,): (u64,) = redis::pipe()
            .cmd("SET")
            .arg(&id_key)
            .arg(rand::random::<u64>())
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&id_key)
            .query_async(&mut conn)
            .await?;
        let names: HashMap<u32, String> = redis::cmd("HGETALL")
            .arg(format!("{prefix}webhook-names"))
            .query_async(&mut conn)
            .await?;
        let mut ids = HashMap::new();
        let mut lanes: HashMap<QueueId, Vec<u16>> = HashMap::new();
        for key in scan(&mut conn, &format!("{prefix}lane:*")).await? {
            let len: u64 = redis::cmd("XLEN").arg(&key).query_async(&mut conn).await?;
            let mut parts = key[prefix.len()..].split(':').skip(1);
            let (Some(Ok(queue)), Some(Ok(lane))) = (
                parts.next().map(str::parse::<u32>),
                parts.next().map(str::parse::<u16>),
            ) else {
                continue;
            };
            if len > 0 {
                lanes.entry(QueueId(queue)).or_default().push(lane);
            }
        }
        let mut at_open = Vec::new();
        for (id, name) in names {
            let Ok(webhook) = serde_json::from_str::<WebhookKey>(&name) else {
                continue;
            };
            ids.insert(webhook.clone(), QueueId(id));
            let mut held = lanes.remove(&QueueId(id)).unwrap_or_default();
            held.sort_unstable();
            at_open.push((QueueId(id), webhook, held));
        }
        let queue = Self {
            inner: Arc::new(Inner {
                conn,
                prefix,
                node,
                leases: leases::Leases::default(),
                store_id,
                max_bytes,
                lanes: Mutex::default(),
                depth: Mutex::default(),
                bytes: AtomicU64::new(0),
                dead_lettered: Mutex::default(),
                ids: Mutex::new(ids),
                at_open,
                retired: Mutex::default(),
                reachable: AtomicBool::new(true),
                stop: CancellationToken::new(),
            }),
        };
        queue.poll_once().await;
        tokio::spawn(Self::poll(Arc::downgrade(&queue.inner)));
        Ok(queue)
    }

    /// Every [`POLL`] until stopped: the figures, whether Redis answers, and a wake-up for
    /// every lane. Holds the queue weakly, so dropping the last clone ends it.
    async fn poll(inner: std::sync::Weak<Inner>) {
        loop {
            let stop = match inner.upgrade() {
                Some(inner) => inner.stop.clone(),
                None => return,
            };
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = stop.cancelled() => return,
            }
            let Some(inner) = inner.upgrade() else { return };
            let queue = Self { inner };
            queue.renew_leases().await;
            queue.poll_once().await;
            for lane in lock(&queue.inner.lanes).values() {
                lane.notify.notify_one();
            }
        }
    }

    /// Renews this node's leases and takes its share of free lanes; wakes the lanes gained.
    async fn renew_leases(&self) {
        let Some(node) = &self.inner.node else { return };
        let lanes: Vec<LaneId> = lock(&self.inner.lanes).keys().copied().collect();
        let mut conn = self.conn();
        let renewed = (self.inner.leases)
            .renew(&mut conn, &self.inner.prefix, node, &lanes)
            .await;
        match renewed {
            Ok(gained) => {
                for lane in gained {
                    self.lane(lane).notify.notify_one();
                }
            }
            Err(error) => self.failed(&error),
        }
    }

    /// Marks a delivery begun on `lane` if this node may deliver it now (a tool always may).
    pub fn begin(&self, lane: LaneId) -> bool {
        self.inner.node.is_none() || self.inner.leases.begin(lane)
    }

    /// The delivery begun on `lane` ended.
    pub fn end(&self, lane: LaneId) {
        self.inner.leases.end(lane);
    }

    /// Whether this node still holds `lane`.
    pub fn holds(&self, lane: LaneId) -> bool {
        self.inner.node.is_none() || self.inner.leases.holds(lane)
    }

    async fn poll_once(&self) {
        let prefix = &self.inner.prefix;
        let mut conn = self.conn();
        let read: Result<(Option<u64>, HashMap<u32, i64>), RedisError> = redis::pipe()
            .get(format!("{prefix}bytes"))
            .hgetall(format!("{prefix}depth"))
            .query_async(&mut conn)
            .await;
        match read {
            Ok((bytes, depth)) => {
                self.inner
                    .bytes
                    .store(bytes.unwrap_or(0), Ordering::Relaxed);
                *lock(&self.inner.depth) = depth
                    .into_iter()
                    .map(|(q, d)| (QueueId(q), d.max(0) as u64))
                    .collect();
                self.set_reachable(true);
            }
            Err(error) => self.failed(&error),
        }
    }

    fn set_reachable(&self, reachable: bool) {
        let was = self.inner.reachable.swap(reachable, Ordering::Relaxed);
        if was != reachable {
            if reachable {
                tracing::info!("Redis answers again");
            } else {
                tracing::error!("Redis is unreachable: ingest answers 503 until it is back");
            }
        }
    }

    /// Notes a failed command: Redis counts as unreachable until the next poll succeeds.
    fn failed(&self, error: &RedisError) {
        if unreachable(error) {
            self.set_reachable(false);
        }
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisError> {
        let result = invocation.invoke_async(&mut self.conn()).await;
        match &result {
            Ok(_) => self.set_reachable(true),
            Err(error) => self.failed(error),
        }
        result
    }

    pub fn store_id(&self) -> u64 {
        self.inner.store_id
    }

    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    pub fn stored_webhooks(&self) -> Vec<(QueueId, WebhookKey, Vec<u16>)> {
        self.inner.at_open.clone()
    }

    pub async fn register(&self, webhook: &WebhookKey) -> Result<QueueId, QueueError> {
        let mut invocation = scripts::REGISTER.prepare_invoke();
        invocation.arg(&self.inner.prefix).arg(name_field(webhook));
        let id: u32 = self.run(&invocation).await.map_err(StoreError::from)?;
        lock(&self.inner.ids).insert(webhook.clone(), QueueId(id));
        Ok(QueueId(id))
    }

    pub fn reactivate(&self, queue: QueueId) {
        lock(&self.inner.retired).remove(&queue);
    }

    fn name_of(&self, queue: QueueId) -> Option<WebhookKey> {
        let ids = lock(&self.inner.ids);
        ids.iter()
            .find(|(_, id)| **id == queue)
            .map(|(k, _)| k.clone())
    }

    fn count_dead_letter(&self, webhook: &WebhookKey) {
        let queue = lock(&self.inner.ids).get(webhook).copied();
        if let Some(queue) = queue {
            *lock(&self.inner.dead_lettered).entry(queue).or_default() += 1;
        }
    }

    pub async fn append(
        &self,
        jobs: Vec<NewJob>,
        mut dead_letters: Vec<DeadLetter>,
        dedupe: Option<DedupeKey>,
    ) -> Result<Appended, AppendError> {
        if self.inner.stop.is_cancelled() {
            return Err(AppendError::Closed);
        }
        // Jobs routed to a removed webhook by a request still on the old config.
        let retired = lock(&self.inner.retired).clone();
        let (jobs, removed): (Vec<NewJob>, Vec<NewJob>) = jobs
            .into_iter()
            .partition(|job| !retired.contains(&job.lane.queue));
        for job in removed {
            if let Some(webhook) = self.name_of(job.lane.queue) {
                dead_letters.push(removed_letter(webhook, &job.job));
            }
        }
        let mut invocation = scripts::APPEND.prepare_invoke();
        let (dedupe_key, window) = match &dedupe {
            Some(key) => (
                hex::encode(key.hash),
                key.expires_ms.saturating_sub(now_ms()).max(1),
            ),
            None => (String::new(), 0),
        };
        invocation
            .arg(&self.inner.prefix)
            .arg(self.inner.max_bytes)
            .arg(dedupe_key)
            .arg(window)
            .arg(jobs.len())
            .arg(dead_letters.len())
            .arg("");
        job_args(&mut invocation, &jobs);
        for letter in &dead_letters {
            invocation.arg(letter.encode());
        }
        let answer: Vec<Value> = self.run(&invocation).await.map_err(|e| {
            let error = Arc::new(StoreError::from(e));
            AppendError::Unavailable(error)
        })?;
        match answer.first() {
            Some(Value::BulkString(s)) if s == b"dup" => return Ok(Appended::Duplicate),
            Some(Value::BulkString(s)) if s == b"full" => {
                return Err(AppendError::Full {
                    max_bytes: self.inner.max_bytes,
                });
            }
            _ => {}
        }
        for letter in &dead_letters {
            self.count_dead_letter(&letter.webhook);
        }
        for job in &jobs {
            self.lane(job.lane).notify.notify_one();
        }
        Ok(Appended::Stored)
    }

    pub fn lane(&self, lane: LaneId) -> Arc<LaneState> {
        lock(&self.inner.lanes).entry(lane).or_default().clone()
    }

    pub fn depth(&self, queue: QueueId) -> u64 {
        lock(&self.inner.depth).get(&queue).copied().unwrap_or(0)
    }

    pub fn dead_lettered(&self, queue: QueueId) -> u64 {
        lock(&self.inner.dead_lettered)
            .get(&queue)
            .copied()
            .unwrap_or(0)
    }

    /// The lane's next jobs after `after`: one round trip reads the stream and the head's
    /// delivery state, which stands in for the head job when it was attempted before.
    pub async fn read_lane(
        &self,
        lane: LaneId,
        after: Option<u64>,
        caps: Caps,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let prefix = &self.inner.prefix;
        let start = after.map_or_else(|| "-".to_owned(), |seq| format!("(0-{seq}"));
        let count = caps.max_events.clamp(1, READ_COUNT);
        let read: Result<LaneRead, _> = redis::pipe()
            .cmd("XRANGE")
            .arg(lane_key(prefix, lane))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .get(head_key(prefix, lane))
            .get(sending_key(prefix, lane))
            .query_async(&mut self.conn())
            .await;
        let (entries, head, sending) = read.inspect_err(|e| self.failed(e))?;
        // A delivery some gateway started and did not finish: the same jobs go again, as one
        // delivery under the same id, whatever the caps.
        let resend = sending
            .filter(|bytes| bytes.len() == 16)
            .map(|b| {
                let seq =
                    |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
                (seq(0), seq(8))
            })
            .filter(|(first, _)| entries.first().and_then(|(id, _)| seq_of(id)) == Some(*first));
        let head = match head {
            Some(bytes) if bytes.len() > 8 => {
                let seq = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
                Some((seq, bytes[8..].to_vec()))
            }
            _ => None,
        };
        let (mut events, mut bytes) = (0usize, 0usize);
        let mut out = Vec::new();
        for (id, fields) in entries {
            let Some(seq) = seq_of(&id) else { continue };
            let Some((_, mut value)) = fields.into_iter().find(|(f, _)| f == b"j") else {
                continue;
            };
            if let Some((head_seq, state)) = &head
                && *head_seq == seq
            {
                value = state.clone();
            }
            let mut job = Job::decode(&value).map_err(corrupt("job"))?;
            let count = job.events.count as usize;
            let size = JOB_KEY_LEN + value.len();
            let attempted = job.delivery.is_some();
            if let Some((first, last)) = resend {
                // A delivery some gateway started: exactly its jobs, whatever the caps.
                if seq > last {
                    break;
                }
                if seq == first && !attempted {
                    job.delivery = Some(DeliveryState::fresh(self.inner.store_id, first, last));
                }
            } else if (attempted && !out.is_empty())
                || !caps.fits(out.len(), events + count, bytes + size)
            {
                // Within the caps; an attempted delivery goes alone, as it was first sent.
                break;
            }
            events += count;
            bytes += size;
            out.push(StoredJob {
                key: lane.job(seq),
                size: size as u64,
                job,
            });
            if resend.is_none() && (attempted || events >= caps.max_events) {
                break;
            }
        }
        Ok(out)
    }

    /// Runs [`scripts::REMOVE`]: deletes `jobs` of `lane`, keeps `head` as the state of the
    /// lane's head job (or drops it) and makes `letter` a dead letter; answers its id.
    async fn remove(
        &self,
        lane: LaneId,
        jobs: &[Taken],
        events: u64,
        bytes_delta: i64,
        head: Option<Vec<u8>>,
        letter: Option<Vec<u8>>,
    ) -> Result<u64, StoreError> {
        let mut invocation = scripts::REMOVE.prepare_invoke();
        invocation
            .arg(&self.inner.prefix)
            .arg(lane.queue.0)
            .arg(lane.lane)
            .arg(events)
            .arg(bytes_delta)
            .arg(head.unwrap_or_default())
            .arg(letter.unwrap_or_default());
        for job in jobs {
            invocation.arg(job.key.seq);
        }
        Ok(self.run(&invocation).await?)
    }

    /// Writes down that a delivery of `lane`'s jobs `first` to `last` is being sent, for
    /// [`Self::read_lane`] on a gateway that takes the lane over.
    pub async fn begin_delivery(
        &self,
        lane: LaneId,
        first: u64,
        last: u64,
    ) -> Result<(), StoreError> {
        let value = [first.to_be_bytes(), last.to_be_bytes()].concat();
        let _: () = redis::cmd("SET")
            .arg(sending_key(&self.inner.prefix, lane))
            .arg(value)
            .query_async(&mut self.conn())
            .await
            .inspect_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Deletes delivered jobs (all of one lane, as a delivery's are).
    pub async fn delivered(&self, jobs: Vec<Taken>) {
        let Some(lane) = jobs.first().map(|j| j.key.lane) else {
            return;
        };
        let events = jobs.iter().map(|j| u64::from(j.events)).sum();
        let bytes: u64 = jobs.iter().map(|j| j.size).sum();
        let removed = self.remove(lane, &jobs, events, -(bytes as i64), None, None);
        if let Err(error) = removed.await {
            tracing::warn!(%error, "cannot remove delivered jobs from Redis; they are delivered again after a restart");
        }
    }

    /// Keeps the job at `key` in the stream with `job` (the delivery, its attempts and due
    /// time) as its state, and deletes the delivery's other jobs: their events ride in it.
    pub async fn reschedule(
        &self,
        jobs: Vec<Taken>,
        key: JobKey,
        job: Job,
    ) -> Result<(), QueueError> {
        let value = job.encode();
        let before: u64 = jobs.iter().map(|j| j.size).sum();
        let delta = (JOB_KEY_LEN + value.len()) as i64 - before as i64;
        let mut head = key.seq.to_be_bytes().to_vec();
        head.extend_from_slice(&value);
        let others: Vec<Taken> = jobs.into_iter().filter(|j| j.key != key).collect();
        self.remove(key.lane, &others, 0, delta, Some(head), None)
            .await?;
        Ok(())
    }

    pub fn not_ready(&self) -> Option<&'static str> {
        if self.inner.stop.is_cancelled() {
            Some("the queue is closed")
        } else if !self.inner.reachable.load(Ordering::Relaxed) {
            Some("Redis is unreachable")
        } else {
            None
        }
    }

    /// Stops the poll, refuses later appends and frees this node's leases, so other nodes take
    /// its lanes at once (its lanes have stopped); everything acknowledged is in Redis already.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        if let Some(node) = &self.inner.node {
            let released = (self.inner.leases)
                .release_all(&mut self.conn(), &self.inner.prefix, node)
                .await;
            if let Err(error) = released {
                tracing::warn!(%error, "cannot free this node's lane leases; they lapse in 3 s");
            }
        }
    }
}

/// The jobs of a batch as [`scripts::APPEND`] takes them: queue, lane, events, value.
fn job_args(invocation: &mut redis::ScriptInvocation<'_>, jobs: &[NewJob]) {
    for job in jobs {
        invocation
            .arg(job.lane.queue.0)
            .arg(job.lane.lane)
            .arg(job.job.events.count)
            .arg(&job.value);
    }
}
