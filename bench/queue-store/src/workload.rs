//! The queue's access pattern: 32 producers, one group-committing writer, 32 lane workers.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use hdrhistogram::Histogram;
use rand::Rng;

use crate::store::{Group, Key, LANES, SharedStore, Store, make_key};

pub const PRODUCERS: usize = 32;
pub const READ_BATCH: usize = 100;
pub const RETRY_PROBABILITY: f64 = 0.05;
/// Bytes of the job header: enqueue time (u64 µs), attempts (u32), next-due time (u64 µs).
pub const HEADER: usize = 20;

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

const EVENT_TYPES: [&str; 5] = [
    "order.created",
    "order.paid",
    "invoice.finalized",
    "customer.updated",
    "charge.refunded",
];

/// A job value of 300..=600 bytes: a small binary header plus a JSON array of a few events.
pub fn make_job(rng: &mut impl Rng) -> Vec<u8> {
    let target = rng.random_range(300..=600usize);
    let mut v = Vec::with_capacity(target + 160);
    v.extend_from_slice(&now_us().to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&0u64.to_be_bytes());
    v.push(b'[');
    let mut first = true;
    while v.len() < target - 20 {
        if !first {
            v.push(b',');
        }
        first = false;
        let ev = format!(
            r#"{{"id":"evt_{:016x}","type":"{}","ts":{},"data":{{"amount":{},"customer":"cus_{:08x}"}}}}"#,
            rng.random::<u64>(),
            EVENT_TYPES[rng.random_range(0..EVENT_TYPES.len())],
            now_us() / 1000,
            rng.random_range(100..100_000u32),
            rng.random::<u32>(),
        );
        v.extend_from_slice(ev.as_bytes());
    }
    v.push(b']');
    v.truncate(target.max(HEADER + 2));
    v
}

/// The same job with attempts + 1 and a later next-due time (a failed delivery recorded).
pub fn bump_attempts(v: &[u8]) -> Vec<u8> {
    let mut out = v.to_vec();
    if out.len() >= HEADER {
        let mut a = [0u8; 4];
        a.copy_from_slice(&out[8..12]);
        let attempts = u32::from_be_bytes(a) + 1;
        out[8..12].copy_from_slice(&attempts.to_be_bytes());
        let due = now_us() + 1_000_000u64 * (1u64 << attempts.min(10));
        out[12..20].copy_from_slice(&due.to_be_bytes());
    }
    out
}

pub enum Req {
    /// Jobs to append, each with its lane. Acknowledged once durable.
    Append {
        jobs: Vec<(usize, Vec<u8>)>,
        ack: Sender<()>,
    },
    /// Keys to delete (delivered jobs). Acknowledged once applied (durable with the next group).
    Delete { keys: Vec<Key>, ack: Sender<()> },
    /// Rewrite one job in place (same key). Acknowledged once applied.
    Update {
        key: Key,
        value: Vec<u8>,
        ack: Sender<()>,
    },
}

#[derive(Default)]
pub struct Counters {
    pub groups: AtomicU64,
    pub durable_commits: AtomicU64,
    pub nondurable_commits: AtomicU64,
    pub append_reqs: AtomicU64,
    pub appended: AtomicU64,
    pub deleted: AtomicU64,
    pub updated: AtomicU64,
    pub group_reqs_max: AtomicU64,
    /// Highest sequence whose append has been made durable (and acked).
    pub durable_seq: AtomicU64,
    pub write_ns: AtomicU64,
    pub empty_reads: AtomicU64,
    pub reads: AtomicU64,
}

#[derive(Clone, Copy, Default, Debug)]
pub struct Snapshot {
    pub at: Option<Instant>,
    pub groups: u64,
    pub durable_commits: u64,
    pub nondurable_commits: u64,
    pub append_reqs: u64,
    pub appended: u64,
    pub deleted: u64,
    pub updated: u64,
    pub write_ns: u64,
    pub reads: u64,
    pub empty_reads: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Some(Instant::now()),
            groups: self.groups.load(Relaxed),
            durable_commits: self.durable_commits.load(Relaxed),
            nondurable_commits: self.nondurable_commits.load(Relaxed),
            append_reqs: self.append_reqs.load(Relaxed),
            appended: self.appended.load(Relaxed),
            deleted: self.deleted.load(Relaxed),
            updated: self.updated.load(Relaxed),
            write_ns: self.write_ns.load(Relaxed),
            reads: self.reads.load(Relaxed),
            empty_reads: self.empty_reads.load(Relaxed),
        }
    }
}

pub struct Shared {
    pub store: SharedStore,
    pub counters: Counters,
    /// Pending jobs per lane as the writer applied them.
    pub lane_pending: Vec<AtomicI64>,
    pub stop_producers: AtomicBool,
    pub stop_workers: AtomicBool,
    pub use_cursor: bool,
    /// Workers leave a lane alone while it holds no more than this many jobs (0: always consume).
    pub lane_floor: i64,
    pub error: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(store: SharedStore, use_cursor: bool, lane_floor: i64) -> Arc<Shared> {
        Arc::new(Shared {
            store,
            counters: Counters::default(),
            lane_pending: (0..LANES).map(|_| AtomicI64::new(0)).collect(),
            stop_producers: AtomicBool::new(false),
            stop_workers: AtomicBool::new(false),
            use_cursor,
            lane_floor,
            error: Mutex::new(None),
        })
    }

    fn fail(&self, e: anyhow::Error) {
        let mut g = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(format!("{e:#}"));
        }
        self.stop_producers.store(true, Relaxed);
        self.stop_workers.store(true, Relaxed);
    }
}

/// The single writer: takes every waiting request, writes them as one group, makes the group
/// durable once if it holds any append, then acknowledges all of them.
pub fn spawn_writer(sh: Arc<Shared>, rx: Receiver<Req>, mut next_seq: u64) -> JoinHandle<u64> {
    thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let mut group = Group::default();
            let mut acks: Vec<Sender<()>> = Vec::new();
            let mut lane_delta = [0i64; LANES];
            while let Ok(first) = rx.recv() {
                let mut reqs = vec![first];
                while let Ok(r) = rx.try_recv() {
                    reqs.push(r);
                }
                group.clear();
                acks.clear();
                lane_delta.fill(0);
                let (mut appends, mut appended, mut deleted, mut updated) = (0u64, 0u64, 0, 0);
                for r in reqs {
                    match r {
                        Req::Append { jobs, ack } => {
                            appends += 1;
                            for (lane, v) in jobs {
                                // The writer assigns the sequence: keys become visible in key
                                // order, which a reader's cursor relies on.
                                group.puts.push((make_key(lane, next_seq), v));
                                next_seq += 1;
                                appended += 1;
                                lane_delta[lane] += 1;
                            }
                            acks.push(ack);
                        }
                        Req::Delete { keys, ack } => {
                            for k in keys {
                                let lane = lane_of_key(&k);
                                lane_delta[lane] -= 1;
                                group.dels.push(k);
                                deleted += 1;
                            }
                            acks.push(ack);
                        }
                        Req::Update { key, value, ack } => {
                            group.puts.push((key, value));
                            updated += 1;
                            acks.push(ack);
                        }
                    }
                }
                let durable = appends > 0;
                let t0 = Instant::now();
                if let Err(e) = sh.store.write_group(&group, durable) {
                    sh.fail(e);
                    break;
                }
                let c = &sh.counters;
                c.write_ns
                    .fetch_add(t0.elapsed().as_nanos() as u64, Relaxed);
                for (lane, d) in lane_delta.iter().enumerate() {
                    if *d != 0 {
                        sh.lane_pending[lane].fetch_add(*d, Relaxed);
                    }
                }
                c.groups.fetch_add(1, Relaxed);
                if durable {
                    c.durable_commits.fetch_add(1, Relaxed);
                    c.durable_seq.store(next_seq.saturating_sub(1), Relaxed);
                } else {
                    c.nondurable_commits.fetch_add(1, Relaxed);
                }
                c.append_reqs.fetch_add(appends, Relaxed);
                c.appended.fetch_add(appended, Relaxed);
                c.deleted.fetch_add(deleted, Relaxed);
                c.updated.fetch_add(updated, Relaxed);
                c.group_reqs_max.fetch_max(acks.len() as u64, Relaxed);
                for a in acks.drain(..) {
                    let _ = a.send(());
                }
            }
            next_seq
        })
        .expect("spawn writer")
}

pub fn lane_of_key(k: &Key) -> usize {
    let q = u32::from_be_bytes([k[0], k[1], k[2], k[3]]) as usize;
    let l = u16::from_be_bytes([k[4], k[5]]) as usize;
    (q - 1) * crate::store::LANES_PER_QUEUE as usize + l
}

/// One producer: requests of 1..=3 jobs to random lanes, each waiting for its ack. Returns the
/// ack latency histogram (µs).
pub fn spawn_producer(sh: Arc<Shared>, tx: Sender<Req>, seed: u64) -> JoinHandle<Histogram<u64>> {
    thread::Builder::new()
        .name(format!("producer-{seed}"))
        .spawn(move || {
            use rand::SeedableRng;
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (ack_tx, ack_rx) = channel::<()>();
            while !sh.stop_producers.load(Relaxed) {
                let n = rng.random_range(1..=3usize);
                let jobs = (0..n)
                    .map(|_| (rng.random_range(0..LANES), make_job(&mut rng)))
                    .collect();
                let t0 = Instant::now();
                if tx
                    .send(Req::Append {
                        jobs,
                        ack: ack_tx.clone(),
                    })
                    .is_err()
                {
                    break;
                }
                if ack_rx.recv().is_err() {
                    break;
                }
                let _ = hist.record((t0.elapsed().as_micros() as u64).max(1));
            }
            hist
        })
        .expect("spawn producer")
}

/// One lane worker: reads the oldest up to 100 jobs of its lane and asks the writer to delete
/// them, or (5% of the rounds) rewrites the head job with attempts + 1 instead.
pub fn spawn_worker(sh: Arc<Shared>, tx: Sender<Req>, lane: usize, seed: u64) -> JoinHandle<()> {
    thread::Builder::new()
        .name(format!("worker-{lane}"))
        .spawn(move || {
            use rand::SeedableRng;
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ 0x5eed);
            let (ack_tx, ack_rx) = channel::<()>();
            let mut cursor: Option<Key> = None;
            let mut buf: Vec<(Key, Vec<u8>)> = Vec::with_capacity(READ_BATCH);
            while !sh.stop_workers.load(Relaxed) {
                if sh.lane_floor > 0 && sh.lane_pending[lane].load(Relaxed) <= sh.lane_floor {
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                buf.clear();
                let after = if sh.use_cursor { cursor.as_ref() } else { None };
                if let Err(e) = sh.store.read_lane(lane, after, READ_BATCH, &mut buf) {
                    sh.fail(e);
                    break;
                }
                sh.counters.reads.fetch_add(1, Relaxed);
                if buf.is_empty() {
                    sh.counters.empty_reads.fetch_add(1, Relaxed);
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                let req = if rng.random_bool(RETRY_PROBABILITY) {
                    let (key, v) = &buf[0];
                    Req::Update {
                        key: *key,
                        value: bump_attempts(v),
                        ack: ack_tx.clone(),
                    }
                } else {
                    cursor = buf.last().map(|(k, _)| *k);
                    Req::Delete {
                        keys: buf.iter().map(|(k, _)| *k).collect(),
                        ack: ack_tx.clone(),
                    }
                };
                if tx.send(req).is_err() || ack_rx.recv().is_err() {
                    break;
                }
            }
        })
        .expect("spawn worker")
}

/// A running workload; `stop` ends it and returns the merged ack histogram.
pub struct Running {
    pub sh: Arc<Shared>,
    tx: Option<Sender<Req>>,
    writer: Option<JoinHandle<u64>>,
    producers: Vec<JoinHandle<Histogram<u64>>>,
    workers: Vec<JoinHandle<()>>,
}

pub fn start(sh: Arc<Shared>, next_seq: u64, producers: bool, workers: bool) -> Running {
    let (tx, rx) = channel::<Req>();
    let writer = spawn_writer(sh.clone(), rx, next_seq);
    let producers = if producers {
        (0..PRODUCERS)
            .map(|i| spawn_producer(sh.clone(), tx.clone(), i as u64 + 1))
            .collect()
    } else {
        Vec::new()
    };
    let workers = if workers {
        (0..LANES)
            .map(|l| spawn_worker(sh.clone(), tx.clone(), l, l as u64 + 1000))
            .collect()
    } else {
        Vec::new()
    };
    Running {
        sh,
        tx: Some(tx),
        writer: Some(writer),
        producers,
        workers,
    }
}

impl Running {
    pub fn stop(mut self) -> Result<(Histogram<u64>, u64)> {
        self.sh.stop_producers.store(true, Relaxed);
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for p in self.producers.drain(..) {
            if let Ok(h) = p.join() {
                hist.add(h)?;
            }
        }
        self.sh.stop_workers.store(true, Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        drop(self.tx.take());
        let next_seq = self.writer.take().and_then(|w| w.join().ok()).unwrap_or(0);
        if let Some(e) = self
            .sh
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            anyhow::bail!("workload failed: {e}");
        }
        Ok((hist, next_seq))
    }
}

/// Bulk-loads `jobs` jobs spread over all lanes, in durable groups of `per_group`.
/// Returns the next free sequence.
pub fn bulk_load(
    store: &dyn Store,
    lane_pending: Option<&[AtomicI64]>,
    start_seq: u64,
    jobs: u64,
    per_group: usize,
) -> Result<u64> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
    let mut seq = start_seq;
    let mut left = jobs;
    let mut g = Group::default();
    while left > 0 {
        g.clear();
        let n = left.min(per_group as u64);
        for _ in 0..n {
            let lane = rng.random_range(0..LANES);
            g.puts.push((make_key(lane, seq), make_job(&mut rng)));
            if let Some(lp) = lane_pending {
                lp[lane].fetch_add(1, Relaxed);
            }
            seq += 1;
        }
        store.write_group(&g, true)?;
        left -= n;
    }
    Ok(seq)
}
