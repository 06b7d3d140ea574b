//! Why a filter could not be loaded or could not decide a batch.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A filter problem; every variant names the filter (its `name` in the config).
///
/// Load errors (`ReadModule` to `Init`) refuse a config. Call errors (`Timeout` and below)
/// fail one batch, which the filter's `on_error` then decides about.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("filter `{filter}`: cannot read module {}: {error}", path.display())]
    ReadModule {
        filter: String,
        path: PathBuf,
        error: io::Error,
    },
    #[error("filter `{filter}`: {} is not a WebAssembly component: {reason}", path.display())]
    NotAComponent {
        filter: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "filter `{filter}`: {} does not implement the switchyard:filter/filter world: {reason}",
        path.display()
    )]
    WrongWorld {
        filter: String,
        path: PathBuf,
        reason: String,
    },
    #[error("filter `{filter}`: init refused its params: {message}")]
    Init { filter: String, message: String },
    #[error("filter `{filter}`: cannot start an instance: {reason}")]
    Instantiate { filter: String, reason: String },
    #[error("filter `{filter}` timed out (deadline {deadline:?} per call)")]
    Timeout { filter: String, deadline: Duration },
    #[error("filter `{filter}` exceeded its memory limit of {limit_bytes} bytes")]
    MemoryLimit { filter: String, limit_bytes: usize },
    #[error("filter `{filter}` trapped: {message}")]
    Trap { filter: String, message: String },
    #[error("filter `{filter}` returned {verdicts} verdicts for {events} events")]
    VerdictCount {
        filter: String,
        events: usize,
        verdicts: usize,
    },
    #[error("filter `{filter}` replaced event {index} with an invalid event: {reason}")]
    BadReplacement {
        filter: String,
        index: usize,
        reason: String,
    },
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error("cannot use filter cache directory {}: {error}", path.display())]
    CacheDir { path: PathBuf, error: io::Error },
}

/// A wasmtime error with its causes, on one line.
pub(crate) fn describe(error: &wasmtime::Error) -> String {
    error
        .chain()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
