//! `switchyard filter test`: run a filter on events read from stdin and print each verdict.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::TestArgs;
use crate::event::Event;
use crate::filter::{
    FilterContext, FilterError, FilterRuntime, FilterSettings, FilterSpec, ModuleOrigin, OnError,
    Verdict,
};
use crate::json::{self, JsValue};

pub(super) fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let defaults = FilterSettings::default();
    let settings = FilterSettings {
        call_timeout: args
            .timeout_ms
            .map_or(defaults.call_timeout, Duration::from_millis),
        memory_limit_bytes: args
            .memory_mib
            .map_or(defaults.memory_limit_bytes, |mib| mib << 20),
        instances_per_filter: 1,
        cache_dir: match (args.no_cache, args.cache_dir) {
            (true, _) => None,
            (false, Some(dir)) => Some(dir),
            (false, None) => user_cache_dir(),
        },
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
        memory_limit_bytes: None,
    };
    let runtime = match FilterRuntime::new(settings.clone()) {
        Err(error @ FilterError::CacheDir { .. }) => {
            eprintln!("warning: {error}; compiling without it");
            FilterRuntime::new(FilterSettings {
                cache_dir: None,
                ..settings
            })?
        }
        runtime => runtime?,
    };
    let executor = crate::cli::small_runtime()?;
    let filter = executor.block_on(runtime.load(&spec))?;
    let took = filter.load_times().module.as_secs_f64();
    match (filter.origin(), &runtime.settings().cache_dir) {
        (ModuleOrigin::Compiled, Some(dir)) => eprintln!(
            "compiled the module in {took:.1} s (kept in {} for the next run)",
            dir.display()
        ),
        (ModuleOrigin::Compiled, None) => eprintln!("compiled the module in {took:.1} s"),
        (_, _) => eprintln!("read the compiled module from the cache in {took:.3} s"),
    }
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
                .for_each(|e| executor.block_on(decide_one(&filter, &ctx, e, &mut tally))),
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

/// The per-user cache: `$XDG_CACHE_HOME/switchyard/filters`, or under `~/.cache`.
fn user_cache_dir() -> Option<PathBuf> {
    let absolute = |var| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base =
        absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")))?;
    Some(base.join("switchyard/filters"))
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

async fn decide_one(
    filter: &crate::filter::LoadedFilter,
    ctx: &FilterContext,
    event: Event,
    tally: &mut Tally,
) {
    let label = format!("{} {}", event.name(), event.channel());
    let started = Instant::now();
    let (_, result) = filter.decide(ctx, vec![event]).await;
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
