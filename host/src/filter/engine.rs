//! The process's wasmtime engine and the clock that interrupts overlong calls.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::FilterError;
use super::spec::MAX_MEMORY_LIMIT_BYTES;

/// Component instances the pool holds at once, over all filters of a runtime. One Rust
/// filter instance takes one linear memory and a few core instances; each memory slot
/// reserves 4 GiB of address space (not memory), which keeps bounds checks out of the code.
const MAX_INSTANCES: u32 = 256;

/// Builds the engine: components, epoch interruption, and the pooling allocator.
///
/// The pool lets a memory grow to the largest cap a filter may have; each instance's own cap
/// (the runtime's, or its filter's `memory_limit_mib`) is enforced by its store's limiter.
pub(crate) fn build_engine() -> Result<Engine, FilterError> {
    let mut pool = PoolingAllocationConfig::new();
    // A call runs on a stack of its own (calls are async): at most one per instance.
    pool.total_component_instances(MAX_INSTANCES)
        .total_stacks(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 4)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES * 4)
        .max_memory_size(MAX_MEMORY_LIMIT_BYTES);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| FilterError::Engine(super::error::describe(&e)))
}

/// Advances the engine's epoch every `tick` on its own thread, until dropped.
///
/// A call's deadline is a number of ticks, so a call is interrupted between `deadline` and
/// `deadline + tick` after it started.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    tick: Duration,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// A tick of a tenth of the call timeout (between 100 µs and 10 ms): fine enough that
    /// deadlines hold within 10%, coarse enough to cost nothing measurable.
    pub(crate) fn start(engine: &Engine, call_timeout: Duration) -> Result<Self, FilterError> {
        let tick = (call_timeout / 10).clamp(Duration::from_micros(100), Duration::from_millis(10));
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        let thread = std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                // Dropping the sender ends the loop; nothing is ever sent.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| FilterError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Self {
            tick,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The epoch deadline, in ticks, that lets a call run at least `timeout`.
    pub(crate) fn ticks_for(&self, timeout: Duration) -> u64 {
        let whole = timeout.as_nanos().div_ceil(self.tick.as_nanos());
        u64::try_from(whole).unwrap_or(u64::MAX - 1) + 1
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_may_run_its_whole_timeout_and_at_most_two_ticks_more() {
        let engine = build_engine().unwrap();
        for call_timeout in [
            Duration::from_micros(300),
            Duration::from_millis(10),
            Duration::from_micros(10_500),
            Duration::from_secs(60),
        ] {
            let ticker = EpochTicker::start(&engine, call_timeout).unwrap();
            // The epoch may advance right after a call starts: the call is sure of
            // (ticks - 1) whole ticks, and is cut by the end of the last one.
            let ticks = u32::try_from(ticker.ticks_for(call_timeout)).unwrap();
            let sure = ticker.tick * (ticks - 1);
            let cut_by = ticker.tick * ticks;
            assert!(sure >= call_timeout, "{call_timeout:?}: {sure:?} assured");
            assert!(
                cut_by <= call_timeout + 2 * ticker.tick,
                "{call_timeout:?}: cut at {cut_by:?}"
            );
            assert!(ticker.tick <= call_timeout / 10 + Duration::from_micros(100));
        }
    }
}
