//! # Filters: user WebAssembly deciding which events reach which webhook
//!
//! In: a webhook's batch of events, its [`FilterContext`], and its [`FilterChain`]. Out: a
//! [`ChainOutcome`]: the events to deliver (kept, or replaced by a filter), or the batch a
//! failing filter dropped or dead-lettered, with the failures.
//!
//! A filter is a WebAssembly component implementing the world in `guest-filters/wit`. The
//! runtime guarantees:
//!
//! - **One engine, compile once.** A [`FilterRuntime`] owns one `wasmtime::Engine` (pooling
//!   allocator, epoch interruption) and compiles each distinct module file once (by content
//!   hash), optionally through a disk cache that survives restarts (`cache.rs`).
//! - **Instances are reused.** Each filter (module + params) has a small pool of instances
//!   (`pool.rs`); `init` runs once per instance, never per event, and a whole batch is one call.
//! - **A sandbox that cannot hurt the process** (`sandbox.rs`): WASI with nothing granted but
//!   clocks, random and stdout/stderr (into the log, tagged with the filter's name); a
//!   deadline per call (epochs, `engine.rs`) and a memory cap per instance. A trap, timeout or
//!   memory excess discards that instance, fails that batch (the filter's [`OnError`] then
//!   decides), is logged and counted; everything else carries on.
//!
//! Calls run on the caller's async task. A call's deadline counts the time it spends running
//! (epoch ticks); at each tick it yields, so a slow filter holds no executor thread for long.

mod bindings;
mod cache;
mod chain;
mod engine;
mod error;
mod loaded;
mod output;
mod pool;
mod runtime;
mod sandbox;
mod spec;

pub use chain::{ChainOutcome, FilterChain, apply_verdicts};
pub use error::FilterError;
pub use loaded::{LoadTimes, LoadedFilter, Verdict};
pub use runtime::{FilterRuntime, ModuleHash, ModuleOrigin};
pub use spec::{FilterContext, FilterSettings, FilterSpec, MAX_MEMORY_LIMIT_BYTES, OnError};

use runtime::Shared;
