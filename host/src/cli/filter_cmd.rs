//! `switchyard filter test` and `switchyard filter new`: try a filter on recorded events, and
//! start a new filter crate.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::event::Event;
use crate::filter::{FilterContext, FilterRuntime, FilterSettings, FilterSpec, OnError, Verdict};
use crate::json::{self, JsValue};

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
    /// Create a filter crate that builds as it is.
    ///
    /// Writes DIR/NAME with a Cargo.toml, a commented example filter with a unit test, and a
    /// .gitignore. Build the component with `cargo build --target wasm32-wasip2 --release`
    /// (it lands in target/wasm32-wasip2/release/NAME.wasm, `-` written `_`) and test it
    /// with `cargo test`.
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
}

/// `switchyard filter new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Crate name: letters, digits, `-` and `_`, starting with a letter.
    name: String,
    /// Where to create the crate's directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The switchyard-filter SDK to depend on (a checkout's `guest-filters/sdk`)
    /// [default: the one this binary was built from, when it is still there].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

fn parse_params(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Runs one `filter` subcommand.
pub fn run(command: FilterCommand) -> anyhow::Result<ExitCode> {
    match command {
        FilterCommand::Test(args) => test(args),
        FilterCommand::New(args) => new(&args),
    }
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let defaults = FilterSettings::default();
    let settings = FilterSettings {
        call_timeout: args
            .timeout_ms
            .map_or(defaults.call_timeout, Duration::from_millis),
        memory_limit_bytes: args
            .memory_mib
            .map_or(defaults.memory_limit_bytes, |mib| mib << 20),
        instances_per_filter: 1,
        cache_dir: None,
    };
    let name = args
        .module
        .file_stem()
        .map_or("filter".into(), |s| s.to_string_lossy().into_owned());
    let spec = FilterSpec {
        name,
        module: args.module,
        params: args.params,
        on_error: OnError::default(),
    };
    let filter = FilterRuntime::new(settings)?.load(&spec)?;
    let ctx = FilterContext {
        app_id: args.app,
        webhook_id: args.webhook,
        webhook_target: args.target,
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "reading events from stdin, one JSON event or webhook body per line (end with Ctrl-D)"
        );
    }
    let mut tally = Tally::default();
    for (number, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        match events_of(&line) {
            Ok(events) => events
                .into_iter()
                .for_each(|e| decide_one(&filter, &ctx, e, &mut tally)),
            Err(reason) => {
                println!("line {}: {reason}", number + 1);
                tally.failed += 1;
            }
        }
    }
    println!("{tally}");
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The events of one input line: an event, or a webhook body's `events`.
fn events_of(line: &str) -> Result<Vec<Event>, String> {
    let value = json::parse(line.as_bytes()).map_err(|e| format!("not JSON: {e}"))?;
    let batch = match value.as_object().and_then(|o| o.get("events")) {
        Some(JsValue::Array(events)) => events.clone(),
        _ => vec![value],
    };
    batch
        .into_iter()
        .map(|event| Event::from_value(event).map_err(|e| format!("not an event: {e}")))
        .collect()
}

fn decide_one(
    filter: &crate::filter::LoadedFilter,
    ctx: &FilterContext,
    event: Event,
    tally: &mut Tally,
) {
    let label = format!("{} {}", event.name(), event.channel());
    let started = Instant::now();
    let (_, result) = filter.decide(ctx, vec![event]);
    let took = started.elapsed();
    tally.total += took;
    match result.as_deref() {
        Ok([Verdict::Keep]) => {
            tally.kept += 1;
            println!("keep     {:>10}  {label}", micros(took));
        }
        Ok([Verdict::Drop]) => {
            tally.dropped += 1;
            println!("drop     {:>10}  {label}", micros(took));
        }
        Ok([Verdict::Replace(replacement)]) => {
            tally.replaced += 1;
            let mut json = Vec::new();
            replacement.write_json(&mut json);
            println!("replace  {:>10}  {label}", micros(took));
            println!("         => {}", String::from_utf8_lossy(&json));
        }
        Ok(other) => unreachable!("the runtime checks there is one verdict per event: {other:?}"),
        Err(error) => {
            tally.failed += 1;
            println!("error    {:>10}  {label}: {error}", micros(took));
        }
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

/// What `filter test` saw.
#[derive(Debug, Default)]
struct Tally {
    kept: usize,
    dropped: usize,
    replaced: usize,
    failed: usize,
    total: Duration,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decided = self.kept + self.dropped + self.replaced;
        write!(
            f,
            "{decided} decided: {} kept, {} dropped, {} replaced; {} failed",
            self.kept, self.dropped, self.replaced, self.failed
        )?;
        if decided > 0 {
            let mean = self.total / u32::try_from(decided).unwrap_or(u32::MAX);
            write!(f, "; {} per event on average", micros(mean))?;
        }
        Ok(())
    }
}

fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a crate name: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    let root = args.dir.join(name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    let sdk = match &args.sdk {
        Some(sdk) => Some(
            sdk.canonicalize()
                .with_context(|| format!("no SDK at {}", sdk.display()))?,
        ),
        None => bundled_sdk(),
    };
    std::fs::create_dir_all(root.join("src"))
        .with_context(|| format!("cannot create {}", root.display()))?;
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk.as_deref())),
        ("src/lib.rs", LIB_RS.replace("{name}", name)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (file, text) in files {
        let path = root.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created {}", root.display());
    if sdk.is_none() {
        println!(
            "note: set the path of `switchyard-filter` in Cargo.toml to your Switchyard checkout's guest-filters/sdk"
        );
    }
    let wasm = name.replace('-', "_");
    println!(
        "build:  cd {} && cargo build --target wasm32-wasip2 --release",
        root.display()
    );
    println!(
        "try:    switchyard filter test --module target/wasm32-wasip2/release/{wasm}.wasm < events.jsonl"
    );
    Ok(ExitCode::SUCCESS)
}

/// The SDK next to the sources this binary was built from, if they are still there.
fn bundled_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-filters/sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

fn cargo_toml(name: &str, sdk: Option<&Path>) -> String {
    let sdk = sdk.map_or_else(
        || "../switchyard/guest-filters/sdk".to_owned(),
        |path| path.to_string_lossy().into_owned(),
    );
    let mut toml = CARGO_TOML.replace("{name}", name);
    // A TOML basic string: quotes and backslashes escaped.
    let quoted = toml::Value::String(sdk).to_string();
    toml.push_str(&format!("switchyard-filter = {{ path = {quoted} }}\n"));
    toml
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A filter is a library the gateway loads: build it with
#   cargo build --target wasm32-wasip2 --release
[lib]
crate-type = ["cdylib"]

# Its own workspace, even when created inside another project's directory.
[workspace]

[profile.release]
# Smaller, faster components.
lto = true
strip = true

[dependencies]
serde = { version = "1", features = ["derive"] }
"#;

const LIB_RS: &str = r##"//! `{name}`: a Switchyard filter.
//!
//! The gateway calls `decide` for every event bound for a webhook whose `filters` list this
//! module; the verdict keeps the event, drops it, or replaces it (`event.edit()`).
//!
//! Build:  cargo build --target wasm32-wasip2 --release
//! Try:    switchyard filter test --module target/wasm32-wasip2/release/<this crate>.wasm \
//!             --params '{"channel_prefix": "private-"}' < events.jsonl
//! Test:   cargo test

use serde::Deserialize;
use switchyard_filter::{Context, Event, Verdict, filter, log};

filter!(init = init, decide = decide);

/// The filter's `params` from the gateway's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Keep events on channels starting with this; drop the rest.
    #[serde(default = "default_prefix")]
    channel_prefix: String,
}

fn default_prefix() -> String {
    "private-".into()
}

/// Runs once per instance; an error refuses the filter with this message.
fn init(params: Params) -> Result<Params, String> {
    log::info(&format!("keeping channels starting with {:?}", params.channel_prefix));
    Ok(params)
}

/// Runs for every event; `params` is what `init` returned (it may keep state, too).
fn decide(params: &mut Params, _ctx: &Context, event: &Event) -> Verdict {
    Verdict::keep_if(event.channel().starts_with(&params.channel_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_filter::Runner;

    #[test]
    fn keeps_channels_with_the_prefix() {
        let mut filter = Runner::start(r#"{"channel_prefix":"private-"}"#, init, decide).unwrap();
        let ctx = Context::new("app", "webhook", "http://127.0.0.1:9000/hooks");
        assert_eq!(filter.decide(&ctx, &Event::new("client_event", "private-a")), Verdict::Keep);
        assert_eq!(filter.decide(&ctx, &Event::new("client_event", "public-a")), Verdict::Drop);
    }
}
"##;
