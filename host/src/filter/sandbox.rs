//! One filter instance in its own `Store`: the sandbox's limits and the host side of the
//! world's imports. A trap poisons a `Store`, so a failed sandbox is dropped, never reused.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{self, FilterImports, Level, Packed};
use super::error::describe;
use super::output::{GUEST_LOG, GuestOutput, Stream};
use super::pool::Module;
use super::{FilterContext, FilterError, Shared};
use crate::event::Event;

/// Everything a guest can reach: WASI (clocks, random, captured stdio) and the batch.
pub(crate) struct State {
    filter: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    stderr: GuestOutput,
    /// The batch being decided, for `event-data` and `event-json`; empty between calls.
    batch: Vec<Event>,
    /// Epoch ticks the current call may still run for (see [`arm_deadline`]).
    ticks_left: u64,
}

/// One live instance.
pub(crate) struct Sandbox {
    store: Store<State>,
    bindings: bindings::Filter,
    packed: Packed,
}

impl Sandbox {
    /// Instantiates `module` and runs its `init` with `params` (JSON text); its linear
    /// memory may grow to `memory_limit` bytes in all.
    pub(crate) async fn start(
        shared: &Shared,
        module: &Module,
        filter: &Arc<str>,
        params: &str,
        memory_limit: usize,
    ) -> Result<Self, FilterError> {
        let stderr = GuestOutput::new(filter.clone(), Stream::Stderr);
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::new(filter.clone(), Stream::Stdout))
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = State {
            filter: filter.clone(),
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                limit: memory_limit,
                used: 0,
            },
            stderr,
            batch: Vec::new(),
            ticks_left: 0,
        };
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_callback(|mut store| Ok(store.data_mut().tick()));
        arm_deadline(&mut store, shared);
        let bindings =
            module
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| match classify(&e) {
                    Some(kind) => failure(kind, &e, shared, &store),
                    None => FilterError::Instantiate {
                        filter: filter.to_string(),
                        reason: describe(&e),
                    },
                })?;
        let mut sandbox = Self {
            store,
            bindings,
            packed: Packed::new(),
        };
        arm_deadline(&mut sandbox.store, shared);
        match sandbox.bindings.call_init(&mut sandbox.store, params).await {
            Ok(Ok(())) => Ok(sandbox),
            Ok(Err(message)) => Err(FilterError::Init {
                filter: filter.to_string(),
                message,
            }),
            Err(e) => Err(sandbox.failure(&e, shared)),
        }
    }

    /// Runs `decide` on a batch. The batch is lent to the instance for the call and always
    /// handed back; after an `Err`, or if this future is dropped before it completes, the
    /// sandbox must be dropped.
    pub(crate) async fn decide(
        &mut self,
        shared: &Shared,
        ctx: &FilterContext,
        events: Vec<Event>,
    ) -> (Vec<Event>, Result<Vec<bindings::Verdict>, FilterError>) {
        self.packed.fill(ctx, &events);
        self.store.data_mut().batch = events;
        arm_deadline(&mut self.store, shared);
        self.store.data().stderr.take_recent();
        let packed = &self.packed;
        let result = self
            .bindings
            .call_decide(&mut self.store, &packed.text, packed.ctx, &packed.events)
            .await;
        let events = std::mem::take(&mut self.store.data_mut().batch);
        (events, result.map_err(|e| self.failure(&e, shared)))
    }

    /// The linear memory this instance has grown to, over all its memories.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store.data().memory.used
    }

    fn failure(&self, error: &wasmtime::Error, shared: &Shared) -> FilterError {
        failure(
            classify(error).unwrap_or(Kind::Trap),
            error,
            shared,
            &self.store,
        )
    }
}

/// Gives the next call its deadline: `shared.deadline_ticks` epoch ticks *while it runs*.
///
/// At every tick that finds the call running, it yields to the executor (other requests go
/// on; a long call holds no thread) and spends one tick; when none is left it is interrupted.
/// Time spent waiting for a thread after a yield does not count, so a busy machine slows a
/// call down without failing it, while a loop is still cut after about the timeout.
fn arm_deadline(store: &mut Store<State>, shared: &Shared) {
    store.data_mut().ticks_left = shared.deadline_ticks;
    store.set_epoch_deadline(1);
}

impl State {
    fn tick(&mut self) -> UpdateDeadline {
        self.ticks_left = self.ticks_left.saturating_sub(1);
        if self.ticks_left == 0 {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        }
    }
}

/// How a call failed.
enum Kind {
    Timeout,
    Memory,
    Trap,
}

/// Timeouts and memory excess are recognised; `None` is an error that is not a trap.
fn classify(error: &wasmtime::Error) -> Option<Kind> {
    if error.downcast_ref::<MemoryExceeded>().is_some() {
        return Some(Kind::Memory);
    }
    match error.downcast_ref::<Trap>()? {
        Trap::Interrupt => Some(Kind::Timeout),
        _ => Some(Kind::Trap),
    }
}

fn failure(
    kind: Kind,
    error: &wasmtime::Error,
    shared: &Shared,
    store: &Store<State>,
) -> FilterError {
    let filter = store.data().filter.to_string();
    match kind {
        Kind::Timeout => FilterError::Timeout {
            filter,
            deadline: shared.settings.call_timeout,
        },
        Kind::Memory => FilterError::MemoryLimit {
            filter,
            limit_bytes: store.data().memory.limit,
        },
        Kind::Trap => {
            // The trap itself ("wasm `unreachable` instruction executed") says little; what
            // the guest printed before it (a panic message) says why.
            let mut message = match error.downcast_ref::<Trap>() {
                Some(trap) => trap.to_string(),
                None => describe(error),
            };
            let stderr = store.data().stderr.take_recent();
            if !stderr.is_empty() {
                message = format!("{message}; stderr: {stderr}");
            }
            FilterError::Trap { filter, message }
        }
    }
}

/// Refuses memory growth past the cap with an error (a trap), so the failure is reported as
/// what it is rather than as whatever the guest does when an allocation fails. The cap is on
/// the instance's linear memories together (a JS component has the engine's and the WASI
/// adapter's); memories are created through here too, at their initial size.
struct MemoryCap {
    limit: usize,
    /// Bytes of linear memory the instance has (memories never shrink).
    used: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit of {0} bytes exceeded")]
struct MemoryExceeded(usize);

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.used.saturating_add(desired.saturating_sub(current));
        if used > self.limit {
            return Err(MemoryExceeded(self.limit).into());
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pooling allocator's per-table limit.
        Ok(true)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    fn event(&self, index: u32) -> wasmtime::Result<&Event> {
        let found = usize::try_from(index).ok().and_then(|i| self.batch.get(i));
        found.ok_or_else(|| wasmtime::format_err!("no event {index} in the batch being decided"))
    }
}

impl FilterImports for State {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let filter = &*self.filter;
        match level {
            Level::Trace => tracing::trace!(target: GUEST_LOG, filter, "{message}"),
            Level::Debug => tracing::debug!(target: GUEST_LOG, filter, "{message}"),
            Level::Info => tracing::info!(target: GUEST_LOG, filter, "{message}"),
            Level::Warn => tracing::warn!(target: GUEST_LOG, filter, "{message}"),
            Level::Error => tracing::error!(target: GUEST_LOG, filter, "{message}"),
        }
        Ok(())
    }

    fn event_data(&mut self, index: u32) -> wasmtime::Result<Option<String>> {
        Ok(self.event(index)?.get_str("data").map(str::to_owned))
    }

    fn event_json(&mut self, index: u32) -> wasmtime::Result<String> {
        let mut json = Vec::new();
        self.event(index)?.write_json(&mut json);
        // `write_json` escapes what is not valid Unicode, so its output is UTF-8.
        Ok(String::from_utf8(json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cap_counts_every_memory_of_the_instance() {
        let mut cap = MemoryCap {
            limit: 10 << 20,
            used: 0,
        };
        // Two memories created at their initial sizes, then one grows.
        assert!(cap.memory_growing(0, 6 << 20, None).unwrap());
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(cap.memory_growing(6 << 20, 9 << 20, None).unwrap());
        assert_eq!(cap.used, 10 << 20, "exactly at the cap");
        let refused = cap.memory_growing(1 << 20, 2 << 20, None).unwrap_err();
        assert!(refused.downcast_ref::<MemoryExceeded>().is_some());
        assert_eq!(cap.used, 10 << 20, "a refused growth is not counted");
    }
}
