//! Instances of one filter (module + params), reused across calls.
//!
//! Creating an instance costs tens of µs for a Rust filter, a few ms for a JavaScript one
//! (plus whatever `init` does), a call about a µs, so instances are kept: at most
//! `instances_per_filter` of them, handed out one call at a time. A call that finds them all
//! busy waits for one (bounded memory, like a permit); the most recently used idle one is
//! handed out first, so under light load one instance, and its state, serves every call.
//!
//! An instance whose linear memory has grown past [`RETIRE_AT`] of its cap is retired after
//! its call (the call's answer stands) and replaced when next needed, before it fails a batch
//! at the cap: a guest that leaks a little per call (JavaScript components built with
//! componentize-js 0.23 keep about 400 bytes per call) then never does.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::bindings::{self, FilterPre};
use super::sandbox::{Sandbox, State};
use super::{FilterContext, FilterError, ModuleHash, Shared};
use crate::event::Event;

/// The share of its memory cap an instance may reach and still be reused: 3/4.
const RETIRE_AT: (usize, usize) = (3, 4);

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
        let used = first.memory_bytes();
        if used.saturating_mul(RETIRE_AT.1) > memory_limit.saturating_mul(RETIRE_AT.0) {
            tracing::warn!(
                %filter, used, limit = memory_limit,
                "a fresh instance of this filter already uses most of its memory cap, so each is retired after one call: raise its memory_limit_mib"
            );
        }
        Ok(Self {
            memory_peak: AtomicUsize::new(used),
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

impl Pool {
    /// Whether an instance has grown too close to its cap to take another call.
    fn worn_out(&self, sandbox: &Sandbox) -> bool {
        let used = sandbox.memory_bytes();
        self.memory_peak.fetch_max(used, Ordering::Relaxed);
        let worn = used.saturating_mul(RETIRE_AT.1) > self.memory_limit.saturating_mul(RETIRE_AT.0);
        if worn {
            tracing::debug!(filter = %self.filter, used, limit = self.memory_limit, "retiring a filter instance near its memory cap");
        }
        worn
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let sandbox = self.sandbox.take();
        match sandbox {
            Some(sandbox) if self.reusable && !self.pool.worn_out(&sandbox) => {
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
