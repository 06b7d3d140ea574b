//! What the config says about filters: runtime limits, and each filter of a chain.

use std::path::PathBuf;
use std::time::Duration;

/// The largest memory cap an instance may be given (`memory_limit_mib` up to 4096).
pub const MAX_MEMORY_LIMIT_BYTES: usize = 4 << 30;

/// Limits and places shared by every filter of a [`super::FilterRuntime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSettings {
    /// How long one `decide` (or `init`) call may run before it is interrupted.
    pub call_timeout: Duration,
    /// The most linear memory one instance may grow to, unless its filter says otherwise.
    pub memory_limit_bytes: usize,
    /// Instances kept per filter; concurrent calls beyond this wait for one to be free.
    pub instances_per_filter: usize,
    /// Where compiled modules are cached across restarts; `None` compiles at every start.
    pub cache_dir: Option<PathBuf>,
}

impl Default for FilterSettings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_millis(10),
            memory_limit_bytes: 32 << 20,
            instances_per_filter: 2,
            cache_dir: None,
        }
    }
}

/// What happens to a batch when a filter fails on it (trap, timeout, memory, bad output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    /// The batch is not delivered to this webhook.
    Drop,
    /// The batch goes on to the next filter as if this one had kept every event.
    Pass,
    /// The batch is kept in the dead-letter store, with the filter's error, for replay.
    #[default]
    DeadLetter,
}

/// One filter of a chain, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterSpec {
    /// Names the filter in logs, errors and metrics.
    pub name: String,
    /// The component file (`.wasm`).
    pub module: PathBuf,
    /// Passed to the filter's `init` as JSON text.
    pub params: serde_json::Value,
    pub on_error: OnError,
    /// This filter's memory cap per instance; `None` takes the runtime's.
    pub memory_limit_bytes: Option<usize>,
}

/// The app and webhook a batch is filtered for; filters see it with every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterContext {
    pub app_id: String,
    pub webhook_id: String,
    /// Where the webhook delivers (its URL, or its Lambda function).
    pub webhook_target: String,
}
