//! `switchyard filter test` ([`test`]) and `switchyard filter new` ([`new`]): try a filter on
//! recorded events, and start a new filter.

mod new;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Work with WebAssembly filters.
#[derive(Debug, Subcommand)]
pub enum FilterCommand {
    /// Run a filter on events read from stdin and print each verdict.
    ///
    /// Each input line is one event (`{"name":..,"channel":..}`) or one whole webhook body
    /// (`{"time_ms":..,"events":[..]}`). Each event is decided alone, as a batch of one, and
    /// printed with its verdict and the time the call took; a replacement is printed below
    /// its event. The filter's log lines go to stderr.
    ///
    /// Exit status: 0 when every event was decided, 1 when a call failed (trap, timeout,
    /// memory limit, invalid answer) or an input line was not an event, 2 when the filter
    /// could not be loaded.
    Test(TestArgs),
    /// Create a filter project that builds as it is: Rust, JavaScript or TypeScript.
    ///
    /// Rust (the default) writes DIR/NAME with a Cargo.toml, a commented example filter with
    /// a unit test, and a .gitignore. Build the component with `cargo build --target
    /// wasm32-wasip2 --release` (it lands in target/wasm32-wasip2/release/NAME.wasm, `-`
    /// written `_`) and test it with `cargo test`.
    ///
    /// `--lang js` or `--lang ts` writes a package.json (pinning componentize-js), the filter
    /// in src/, a test of its logic for Node's test runner in test/, and a .gitignore. Run
    /// `npm install`, then `npm test`, and `npm run build` to get NAME.wasm.
    New(NewArgs),
}

/// `switchyard filter test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The filter component (.wasm).
    #[arg(long, short)]
    module: PathBuf,
    /// The filter's params as JSON, as `params` in the config would hold them.
    #[arg(long, default_value = "{}", value_parser = parse_params)]
    params: serde_json::Value,
    /// The app id the filter is told.
    #[arg(long, default_value = "app")]
    app: String,
    /// The webhook id the filter is told it decides for.
    #[arg(long, default_value = "webhook")]
    webhook: String,
    /// The webhook target (URL) the filter is told.
    #[arg(long, default_value = "http://127.0.0.1:9000/hooks")]
    target: String,
    /// Deadline per call in milliseconds [default: the gateway's, 10].
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory cap per instance in MiB [default: the gateway's, 32].
    #[arg(long)]
    memory_mib: Option<usize>,
    /// Where compiled modules are kept between runs (a JavaScript filter takes seconds to
    /// compile) [default: $XDG_CACHE_HOME/switchyard/filters, or ~/.cache/switchyard/filters].
    #[arg(long, conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,
    /// Compile the module without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
}

/// `switchyard filter new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Project name: letters, digits, `-` and `_`, starting with a letter.
    name: String,
    /// Where to create the project's directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The language of the filter.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The SDK to depend on: a checkout's `guest-filters/sdk` (Rust) or
    /// `guest-filters/sdk-js` (JavaScript, TypeScript) [default: the one this binary was built
    /// from, when it is still there].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// The languages `filter new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Ts,
}

fn parse_params(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Runs one `filter` subcommand.
pub fn run(command: FilterCommand) -> anyhow::Result<ExitCode> {
    match command {
        FilterCommand::Test(args) => test::test(args),
        FilterCommand::New(args) => new::new(&args),
    }
}
