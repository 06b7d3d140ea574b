//! A filter ready to run: its instance pool, its `on_error`, and what `/status` shows.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::bindings;
use super::pool::Pool;
use super::runtime::{ModuleHash, ModuleOrigin};
use super::{FilterContext, FilterError, FilterSpec, OnError};
use crate::event::Event;
use crate::json;

/// A filter's decision for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Drop,
    /// Deliver this event instead.
    Replace(Event),
}

/// How long loading a filter took.
#[derive(Debug, Clone, Copy)]
pub struct LoadTimes {
    /// Reading and compiling its module (or taking it from memory or the disk cache).
    pub module: Duration,
    /// All of it: the module, then its first instance and `init`.
    pub total: Duration,
}

/// One loaded filter of a chain.
pub struct LoadedFilter {
    name: String,
    /// The module file it was loaded from.
    module: PathBuf,
    on_error: OnError,
    pool: Arc<Pool>,
    origin: ModuleOrigin,
    loaded_at: SystemTime,
    load_times: LoadTimes,
}

impl LoadedFilter {
    pub(crate) fn new(
        spec: &FilterSpec,
        pool: Arc<Pool>,
        origin: ModuleOrigin,
        loaded_at: SystemTime,
        load_times: LoadTimes,
    ) -> Self {
        Self {
            name: spec.name.clone(),
            module: spec.module.clone(),
            on_error: spec.on_error,
            pool,
            origin,
            loaded_at,
            load_times,
        }
    }

    /// The filter's name from the config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happens to a batch this filter fails on.
    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    /// The module file it was loaded from.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The SHA-256 of the module file, as it was read when loading.
    pub fn module_hash(&self) -> ModuleHash {
        self.pool.module_hash()
    }

    /// Whether loading compiled the module, read it from the disk cache, or found it compiled.
    pub fn origin(&self) -> ModuleOrigin {
        self.origin
    }

    /// When the filter was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// How long loading took: the module (read, compile or cache), and all of it (with the
    /// first instance and its `init`).
    pub fn load_times(&self) -> LoadTimes {
        self.load_times
    }

    /// Instances of it now (at most `instances_per_filter`).
    pub fn instances(&self) -> usize {
        self.pool.instances()
    }

    /// The most linear memory one of its instances has had, in bytes: what its
    /// `memory_limit_mib` must leave room for.
    pub fn memory_peak(&self) -> usize {
        self.pool.memory_peak()
    }

    /// The memory cap of each of its instances, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.pool.memory_limit()
    }

    /// Calls that failed (trap, timeout, memory, bad output), over every load of this filter
    /// with the same module and params.
    pub fn failures(&self) -> u64 {
        self.pool.failures()
    }

    /// Decides a batch: one verdict per event, or why the filter failed. The batch is handed
    /// back either way.
    ///
    /// Runs on the caller's task: a call that runs long yields to the executor at every epoch
    /// tick until it completes or its deadline is spent.
    pub async fn decide(
        &self,
        ctx: &FilterContext,
        events: Vec<Event>,
    ) -> (Vec<Event>, Result<Vec<Verdict>, FilterError>) {
        let (events, answer) = self.pool.decide(ctx, events).await;
        let verdicts = answer.and_then(|verdicts| {
            // The pool counted failed calls; a malformed answer is counted here.
            self.read_verdicts(events.len(), verdicts)
                .inspect_err(|_| self.pool.count_failure())
        });
        (events, verdicts)
    }

    /// Checks the guest's answer: one verdict per event, replacements that are events.
    fn read_verdicts(
        &self,
        events: usize,
        verdicts: Vec<bindings::Verdict>,
    ) -> Result<Vec<Verdict>, FilterError> {
        if verdicts.len() != events {
            return Err(FilterError::VerdictCount {
                filter: self.name.clone(),
                events,
                verdicts: verdicts.len(),
            });
        }
        let read =
            |(index, verdict)| match verdict {
                bindings::Verdict::Keep => Ok(Verdict::Keep),
                bindings::Verdict::Drop => Ok(Verdict::Drop),
                bindings::Verdict::Replace(text) => parse_event(&text)
                    .map(Verdict::Replace)
                    .map_err(|reason| FilterError::BadReplacement {
                        filter: self.name.clone(),
                        index,
                        reason,
                    }),
            };
        verdicts.into_iter().enumerate().map(read).collect()
    }
}

fn parse_event(text: &str) -> Result<Event, String> {
    let value = json::parse(text.as_bytes()).map_err(|e| e.to_string())?;
    Event::from_value(value).map_err(|e| e.to_string())
}

impl fmt::Debug for LoadedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedFilter")
            .field("name", &self.name)
            .field("module", &self.module_hash())
            .field("on_error", &self.on_error)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}
