//! The two stores behind one small trait, used with the same code shape by the workload.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Queue id (4 bytes) + lane (2 bytes) + global sequence (8 bytes), all big-endian.
pub type Key = [u8; 14];

pub const QUEUES: u32 = 2;
pub const LANES_PER_QUEUE: u16 = 16;
pub const LANES: usize = QUEUES as usize * LANES_PER_QUEUE as usize;

/// Lane index 0..LANES -> (queue id, lane number).
pub fn lane_parts(lane: usize) -> (u32, u16) {
    (
        (lane / LANES_PER_QUEUE as usize) as u32 + 1,
        (lane % LANES_PER_QUEUE as usize) as u16,
    )
}

pub fn make_key(lane: usize, seq: u64) -> Key {
    let (q, l) = lane_parts(lane);
    let mut k = [0u8; 14];
    k[..4].copy_from_slice(&q.to_be_bytes());
    k[4..6].copy_from_slice(&l.to_be_bytes());
    k[6..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn key_seq(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[6..14]);
    u64::from_be_bytes(b)
}

fn lane_bounds(lane: usize) -> (Key, Key) {
    (make_key(lane, 0), make_key(lane, u64::MAX))
}

/// Everything the single writer applies in one group.
#[derive(Default)]
pub struct Group {
    pub puts: Vec<(Key, Vec<u8>)>,
    pub dels: Vec<Key>,
}

impl Group {
    pub fn clear(&mut self) {
        self.puts.clear();
        self.dels.clear();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// fjall 3: one WriteBatch per group, then `persist(SyncData)`; consumers scan from a cursor.
    Fjall,
    /// The same with the journal capped at 64 MiB (the gateway's setting), for disk use.
    FjallSmallJournal,
    /// fjall as above, but consumers scan from the start of the lane like redb's do (to show
    /// what the cursor buys; not in the default run).
    FjallNoCursor,
    /// redb 4: one write transaction per group (Durability::Immediate); consumers scan from the
    /// lane prefix.
    Redb,
    /// redb 4 with `set_quick_repair(true)` on every commit (2-phase commit + allocator state
    /// saved per commit), which makes the open after a crash skip the full repair.
    RedbQuickRepair,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fjall => "fjall",
            Kind::FjallSmallJournal => "fjall-j64",
            Kind::FjallNoCursor => "fjall-nocursor",
            Kind::Redb => "redb",
            Kind::RedbQuickRepair => "redb-qr",
        }
    }

    pub fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "fjall" => Kind::Fjall,
            "fjall-j64" => Kind::FjallSmallJournal,
            "fjall-nocursor" => Kind::FjallNoCursor,
            "redb" => Kind::Redb,
            "redb-qr" => Kind::RedbQuickRepair,
            _ => bail!("unknown store {s:?} (fjall, fjall-j64, fjall-nocursor, redb, redb-qr)"),
        })
    }

    /// Whether lane workers read from an in-memory cursor (the last key they consumed) rather
    /// than from the start of the lane.
    pub fn uses_cursor(self) -> bool {
        matches!(self, Kind::Fjall | Kind::FjallSmallJournal)
    }
}

/// Block/page cache given to either store (same for both).
pub const CACHE_BYTES: usize = 256 * 1024 * 1024;

pub trait Store: Send + Sync {
    /// Applies one group atomically; `durable` makes it durable (one fsync-class call) before
    /// returning.
    fn write_group(&self, g: &Group, durable: bool) -> Result<()>;
    /// Reads up to `limit` jobs of `lane` in key order, starting after `after` (exclusive) or
    /// at the start of the lane.
    fn read_lane(
        &self,
        lane: usize,
        after: Option<&Key>,
        limit: usize,
        out: &mut Vec<(Key, Vec<u8>)>,
    ) -> Result<()>;
    /// First key of the lane (what the gateway looks up per lane at start).
    fn lane_head(&self, lane: usize) -> Result<Option<Key>>;
    /// Full scan: (jobs, key+value bytes, max sequence seen).
    fn scan_pending(&self) -> Result<(u64, u64, u64)>;
    /// Clean close (flush everything, release the lock).
    fn close(self: Box<Self>) -> Result<()>;
}

/// A store shared by the workload's threads; `Arc::try_unwrap` gives it back for a clean close.
pub type SharedStore = std::sync::Arc<Box<dyn Store>>;

pub fn store_path(kind: Kind, dir: &Path) -> PathBuf {
    match kind {
        Kind::Fjall | Kind::FjallSmallJournal | Kind::FjallNoCursor => dir.join("fjall"),
        Kind::Redb | Kind::RedbQuickRepair => dir.join("queue.redb"),
    }
}

pub fn open(kind: Kind, dir: &Path) -> Result<Box<dyn Store>> {
    let path = store_path(kind, dir);
    Ok(match kind {
        Kind::Fjall | Kind::FjallNoCursor => Box::new(FjallStore::open(&path, None)?),
        Kind::FjallSmallJournal => Box::new(FjallStore::open(&path, Some(64 << 20))?),
        Kind::Redb => Box::new(RedbStore::open(&path, false)?),
        Kind::RedbQuickRepair => Box::new(RedbStore::open(&path, true)?),
    })
}

/// How a second process may try to open a store.
pub fn probe_open(kind: Kind, dir: &Path, read_only: bool) -> Result<String> {
    let path = store_path(kind, dir);
    match (kind, read_only) {
        (Kind::Fjall | Kind::FjallSmallJournal | Kind::FjallNoCursor, _) => {
            // fjall 3 has no read-only open: a CLI must open it read-write.
            let s = FjallStore::open(&path, None)?;
            let head = s.lane_head(0)?;
            Box::new(s).close()?;
            Ok(format!("opened; lane 0 head present: {}", head.is_some()))
        }
        (_, false) => {
            let s = RedbStore::open(&path, false)?;
            let head = s.lane_head(0)?;
            Box::new(s).close()?;
            Ok(format!("opened; lane 0 head present: {}", head.is_some()))
        }
        (_, true) => {
            use redb::{ReadableDatabase, ReadableTableMetadata};
            let db = redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .open_read_only(&path)?;
            let rtx = db.begin_read()?;
            let t = rtx.open_table(JOBS)?;
            let n = t.len()?;
            drop(t);
            drop(rtx);
            db.close()?;
            Ok(format!("opened read-only; {n} jobs"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fjall

pub struct FjallStore {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl FjallStore {
    fn open(path: &Path, max_journal: Option<u64>) -> Result<Self> {
        let mut builder = fjall::Database::builder(path)
            // Durability is ours to decide: one persist(SyncData) per group.
            .manual_journal_persist(true)
            .cache_size(CACHE_BYTES as u64);
        if let Some(bytes) = max_journal {
            builder = builder.max_journaling_size(bytes);
        }
        let db = builder
            .open()
            .with_context(|| format!("fjall open {}", path.display()))?;
        let ks = db.keyspace("jobs", fjall::KeyspaceCreateOptions::default)?;
        Ok(FjallStore { db, ks })
    }
}

impl Store for FjallStore {
    fn write_group(&self, g: &Group, durable: bool) -> Result<()> {
        let mut b = self.db.batch();
        for (k, v) in &g.puts {
            b.insert(&self.ks, &k[..], v.as_slice());
        }
        for k in &g.dels {
            // A real tombstone: `remove_weak` (single delete) would vanish on meeting the newest
            // version and resurrect an older one, and retried jobs are written more than once.
            b.remove(&self.ks, &k[..]);
        }
        b.commit()?;
        if durable {
            self.db.persist(fjall::PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn read_lane(
        &self,
        lane: usize,
        after: Option<&Key>,
        limit: usize,
        out: &mut Vec<(Key, Vec<u8>)>,
    ) -> Result<()> {
        let (lo, hi) = lane_bounds(lane);
        let lower = match after {
            Some(a) => Bound::Excluded(*a),
            None => Bound::Included(lo),
        };
        for guard in self.ks.range((lower, Bound::Included(hi))).take(limit) {
            let (k, v) = guard.into_inner()?;
            let mut key = [0u8; 14];
            key.copy_from_slice(&k);
            out.push((key, v.to_vec()));
        }
        Ok(())
    }

    fn lane_head(&self, lane: usize) -> Result<Option<Key>> {
        let (lo, hi) = lane_bounds(lane);
        match self.ks.range(lo..=hi).next() {
            None => Ok(None),
            Some(g) => {
                let k = g.key()?;
                let mut key = [0u8; 14];
                key.copy_from_slice(&k);
                Ok(Some(key))
            }
        }
    }

    fn scan_pending(&self) -> Result<(u64, u64, u64)> {
        let (mut n, mut bytes, mut max_seq) = (0u64, 0u64, 0u64);
        for guard in self.ks.iter() {
            let (k, v) = guard.into_inner()?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
            max_seq = max_seq.max(key_seq(&k));
        }
        Ok((n, bytes, max_seq))
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        drop(self);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// redb

const JOBS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("jobs");

pub struct RedbStore {
    db: redb::Database,
    quick_repair: bool,
}

impl RedbStore {
    fn open(path: &Path, quick_repair: bool) -> Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .with_context(|| format!("redb open {}", path.display()))?;
        let tx = db.begin_write()?;
        tx.open_table(JOBS)?;
        tx.commit()?;
        Ok(RedbStore { db, quick_repair })
    }
}

impl Store for RedbStore {
    fn write_group(&self, g: &Group, durable: bool) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        if !durable {
            tx.set_durability(redb::Durability::None)?;
        }
        if self.quick_repair {
            tx.set_quick_repair(true);
        }
        {
            let mut t = tx.open_table(JOBS)?;
            for (k, v) in &g.puts {
                t.insert(&k[..], v.as_slice())?;
            }
            for k in &g.dels {
                t.remove(&k[..])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn read_lane(
        &self,
        lane: usize,
        after: Option<&Key>,
        limit: usize,
        out: &mut Vec<(Key, Vec<u8>)>,
    ) -> Result<()> {
        use redb::ReadableDatabase;
        let (lo, hi) = lane_bounds(lane);
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(JOBS)?;
        let lower: Bound<&[u8]> = match after {
            Some(a) => Bound::Excluded(&a[..]),
            None => Bound::Included(&lo[..]),
        };
        for item in t
            .range::<&[u8]>((lower, Bound::Included(&hi[..])))?
            .take(limit)
        {
            let (k, v) = item?;
            let mut key = [0u8; 14];
            key.copy_from_slice(k.value());
            out.push((key, v.value().to_vec()));
        }
        Ok(())
    }

    fn lane_head(&self, lane: usize) -> Result<Option<Key>> {
        use redb::ReadableDatabase;
        let (lo, hi) = lane_bounds(lane);
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(JOBS)?;
        let mut r = t.range::<&[u8]>(&lo[..]..=&hi[..])?;
        match r.next() {
            None => Ok(None),
            Some(item) => {
                let (k, _) = item?;
                let mut key = [0u8; 14];
                key.copy_from_slice(k.value());
                Ok(Some(key))
            }
        }
    }

    fn scan_pending(&self) -> Result<(u64, u64, u64)> {
        use redb::{ReadableDatabase, ReadableTable};
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(JOBS)?;
        let (mut n, mut bytes, mut max_seq) = (0u64, 0u64, 0u64);
        for item in t.iter()? {
            let (k, v) = item?;
            n += 1;
            bytes += (k.value().len() + v.value().len()) as u64;
            max_seq = max_seq.max(key_seq(k.value()));
        }
        Ok((n, bytes, max_seq))
    }

    fn close(self: Box<Self>) -> Result<()> {
        // Non-durable commits (deletes) are only made durable by a durable commit: end with an
        // empty durable one, then close.
        let tx = self.db.begin_write()?;
        tx.commit()?;
        self.db.close()?;
        Ok(())
    }
}
