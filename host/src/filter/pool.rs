//! Instances of one filter (module + params), reused across calls.
//!
//! Creating an instance costs tens of µs (plus whatever `init` does), a call under a µs, so
//! instances are kept: at most `instances_per_filter` of them, handed out one call at a time.
//! A call that finds them all busy waits for one (bounded memory, like a permit); the most
//! recently used idle one is handed out first, so under light load one instance, and its
//! state, serves every call.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, SemaphorePermit};

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
    /// Each instance's memory cap, in bytes.
    memory_limit: usize,
    /// The most linear memory an instance of this pool has had.
    memory_peak: AtomicUsize,
    /// One permit per instance that may exist: a call holds one for its whole lease, so a
    /// call holding a permit and finding no idle instance may always create one.
    permits: Semaphore,
    idle: Mutex<Vec<Sandbox>>,
    /// Instances in existence: idle, lent out, or being created.
    live: AtomicUsize,
    failures: AtomicU64,
}

impl Pool {
    /// Starts one instance right away, so a bad module or a refused `init` fails the load.
    pub(crate) async fn start(
        shared: Arc<Shared>,
        module: Arc<Module>,
        filter: &str,
        params: String,
        memory_limit: usize,
    ) -> Result<Self, FilterError> {
        let filter: Arc<str> = filter.into();
        let first = Sandbox::start(&shared, &module, &filter, &params, memory_limit).await?;
        Ok(Self {
            memory_peak: AtomicUsize::new(first.memory_bytes()),
            memory_limit,
            permits: Semaphore::new(shared.settings.instances_per_filter.max(1)),
            shared,
            module,
            filter,
            params,
            idle: Mutex::new(vec![first]),
            live: AtomicUsize::new(1),
            failures: AtomicU64::new(0),
        })
    }

    pub(crate) fn module_hash(&self) -> ModuleHash {
        self.module.hash
    }

    /// Instances in existence now: idle, lent out, or being created.
    pub(crate) fn instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The most linear memory one instance has had (as of its last completed call).
    pub(crate) fn memory_peak(&self) -> usize {
        self.memory_peak.load(Ordering::Relaxed)
    }

    /// Each instance's memory cap.
    pub(crate) fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// Calls that failed (trap, timeout, memory, bad output) since the pool was created.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Runs `decide` on an instance; the batch always comes back. An instance that failed
    /// is dropped and a fresh one is created when next needed.
    pub(crate) async fn decide(
        &self,
        ctx: &FilterContext,
        events: Vec<Event>,
    ) -> (Vec<Event>, Result<Vec<bindings::Verdict>, FilterError>) {
        let mut lease = match self.lease().await {
            Ok(lease) => lease,
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return (events, Err(error));
            }
        };
        let (events, result) = lease.sandbox().decide(&self.shared, ctx, events).await;
        match result {
            Ok(_) => lease.give_back(),
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        (events, result)
    }

    /// Counts a failure found after the call (a malformed answer); the instance is fine.
    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    async fn lease(&self) -> Result<Lease<'_>, FilterError> {
        let permit = (self.permits.acquire().await).expect("the pool never closes its semaphore");
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let sandbox = match idle {
            Some(sandbox) => sandbox,
            None => {
                // Counted before it exists, so `instances` never undercounts; a failure
                // takes it back.
                self.live.fetch_add(1, Ordering::Relaxed);
                let started = Sandbox::start(
                    &self.shared,
                    &self.module,
                    &self.filter,
                    &self.params,
                    self.memory_limit,
                )
                .await;
                started.inspect_err(|_| {
                    self.live.fetch_sub(1, Ordering::Relaxed);
                })?
            }
        };
        Ok(Lease {
            pool: self,
            sandbox: Some(sandbox),
            _permit: permit,
            reusable: false,
        })
    }
}

/// An instance lent out for one call. Only a lease whose call completed cleanly returns its
/// instance to the pool; one dropped otherwise (a failed call, or a caller that gave up
/// mid-call, which leaves the instance suspended inside the guest) frees its slot.
struct Lease<'a> {
    pool: &'a Pool,
    sandbox: Option<Sandbox>,
    _permit: SemaphorePermit<'a>,
    reusable: bool,
}

impl Lease<'_> {
    fn sandbox(&mut self) -> &mut Sandbox {
        self.sandbox
            .as_mut()
            .expect("a lease holds its sandbox until dropped")
    }

    fn give_back(mut self) {
        self.reusable = true;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let sandbox = self.sandbox.take();
        match sandbox {
            Some(sandbox) if self.reusable => {
                (self.pool.memory_peak).fetch_max(sandbox.memory_bytes(), Ordering::Relaxed);
                let mut idle = self
                    .pool
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                idle.push(sandbox);
            }
            _ => {
                self.pool.live.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
