//! Instances of one filter (module + params), reused across calls.
//!
//! Creating an instance costs tens of µs (plus whatever `init` does), a call under a µs, so
//! instances are kept: at most `instances_per_filter` of them, handed out one call at a time.
//! A call that finds them all busy waits for one (bounded memory, like a permit); the most
//! recently used idle one is handed out first, so under light load one instance, and its
//! state, serves every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::bindings::{self, FilterPre};
use super::sandbox::{Sandbox, State};
use super::{FilterContext, FilterError, ModuleHash, Shared};
use crate::event::Event;

/// A compiled module, ready to instantiate.
pub(crate) struct Module {
    pub(crate) hash: ModuleHash,
    pub(crate) pre: FilterPre<State>,
}

/// The instances of one filter.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    module: Arc<Module>,
    filter: Arc<str>,
    params: String,
    slots: Mutex<Slots>,
    freed: Condvar,
    failures: AtomicU64,
}

struct Slots {
    idle: Vec<Sandbox>,
    /// Instances in existence: idle, lent out, or being created.
    live: usize,
    /// Calls waiting for an instance: only then is a returned one announced, since
    /// notifying a condition variable is a system call.
    waiting: usize,
}

impl Pool {
    /// Starts one instance right away, so a bad module or a refused `init` fails the load.
    pub(crate) fn start(
        shared: Arc<Shared>,
        module: Arc<Module>,
        filter: &str,
        params: String,
    ) -> Result<Self, FilterError> {
        let filter: Arc<str> = filter.into();
        let first = Sandbox::start(&shared, &module, &filter, &params)?;
        Ok(Self {
            shared,
            module,
            filter,
            params,
            slots: Mutex::new(Slots {
                idle: vec![first],
                live: 1,
                waiting: 0,
            }),
            freed: Condvar::new(),
            failures: AtomicU64::new(0),
        })
    }

    pub(crate) fn module_hash(&self) -> ModuleHash {
        self.module.hash
    }

    /// Instances in existence now: idle, lent out, or being created.
    pub(crate) fn instances(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .live
    }

    /// Calls that failed (trap, timeout, memory, bad output) since the pool was created.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Runs `decide` on an instance; the batch always comes back. An instance that failed
    /// is dropped and a fresh one is created when next needed.
    pub(crate) fn decide(
        &self,
        ctx: &FilterContext,
        events: Vec<Event>,
    ) -> (Vec<Event>, Result<Vec<bindings::Verdict>, FilterError>) {
        let mut lease = match self.lease() {
            Ok(lease) => lease,
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return (events, Err(error));
            }
        };
        let (events, result) = lease.sandbox().decide(&self.shared, ctx, events);
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
            lease.discard();
        }
        (events, result)
    }

    /// Counts a failure found after the call (a malformed answer); the instance is fine.
    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    fn lease(&self) -> Result<Lease<'_>, FilterError> {
        let mut slots = self.lock();
        loop {
            if let Some(sandbox) = slots.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    sandbox: Some(sandbox),
                });
            }
            if slots.live < self.shared.settings.instances_per_filter.max(1) {
                slots.live += 1;
                break;
            }
            // Counted while waiting, so a returned instance is announced (see `Drop`).
            slots.waiting += 1;
            slots = self
                .freed
                .wait(slots)
                .unwrap_or_else(PoisonError::into_inner);
            slots.waiting -= 1;
        }
        drop(slots);
        // Instantiating takes a while: not under the lock. The slot is taken already, so a
        // failure must give it back.
        let mut lease = Lease {
            pool: self,
            sandbox: None,
        };
        lease.sandbox = Some(Sandbox::start(
            &self.shared,
            &self.module,
            &self.filter,
            &self.params,
        )?);
        Ok(lease)
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An instance lent out for one call; dropping it returns the instance to the pool (or,
/// once discarded or after a panic, frees its slot).
struct Lease<'a> {
    pool: &'a Pool,
    sandbox: Option<Sandbox>,
}

impl Lease<'_> {
    fn sandbox(&mut self) -> &mut Sandbox {
        self.sandbox
            .as_mut()
            .expect("a lease holds its sandbox until dropped")
    }

    fn discard(mut self) {
        self.sandbox = None;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut slots = self.pool.lock();
        match self.sandbox.take() {
            Some(sandbox) if !std::thread::panicking() => slots.idle.push(sandbox),
            _ => slots.live -= 1,
        }
        let waiting = slots.waiting > 0;
        drop(slots);
        if waiting {
            self.pool.freed.notify_one();
        }
    }
}
