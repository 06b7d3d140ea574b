//! What a JavaScript filter costs, against the same logic as a Rust filter in the same run.
//!
//! `cargo bench -p switchyard --bench js_filters` builds the channel router twice (the Rust
//! example for wasm32-wasip2, the JS port with componentize-js) and prints, each as a ratio to
//! the Rust component measured in the same run:
//! - the cost of a call with 1 event and per event with batches of 20 (medians of rounds);
//! - instantiation: a new instance and its `init`, as a pool starts one;
//! - memory per instance: its linear memory, and what it adds to the process's resident set;
//! - compiling the module, without the disk cache and from it.

#[path = "filter_calls.rs"]
mod filter_calls;
// Shared with the tests; each user takes part of it.
#[allow(dead_code)]
#[path = "../host/tests/guests/mod.rs"]
mod guests;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use filter_calls::{measure, sample_events};
use serde_json::{Value, json};
use switchyard::filter::{
    FilterContext, FilterRuntime, FilterSettings, FilterSpec, LoadedFilter, ModuleOrigin, OnError,
};

/// Instances started (and kept) to measure instantiation and memory.
const INSTANCES: usize = 32;

fn main() {
    let rust = guests::wasm("filter-channel-router");
    let js = guests::js_wasm("channel-router-js", &[]);
    let params = json!({"routes": [
        {"webhook": "billing", "channels": ["private-billing-*", "presence-billing-*"]},
        {"webhook": "chat", "channels": ["private-chat-*", "presence-room-?", "presence-room-??"]},
        {"webhook": "https://audit.example.com/*", "channels": ["*"]},
    ], "otherwise": "drop"});
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Compiling: a fresh cache directory, then a second runtime reading it.
    let cache = tempfile::tempdir().unwrap();
    let compile = |module: &Path| {
        let cold = load_times(&executor, cache.path(), module, &params);
        let warm = load_times(&executor, cache.path(), module, &params);
        (cold, warm)
    };
    let (rust_cold, rust_warm) = compile(&rust);
    let (js_cold, js_warm) = compile(&js);

    let runtime = runtime(Some(cache.path()));
    let load = |module: &Path, params: Value| {
        executor
            .block_on(runtime.load(&spec("router", module, params)))
            .unwrap()
    };
    let ctx = FilterContext {
        app_id: "app-1".into(),
        webhook_id: "chat".into(),
        webhook_target: "https://chat.example.com/hooks".into(),
    };
    let calls = |filter: &Arc<LoadedFilter>, batch: usize, events: usize| {
        let mut batch_events = sample_events(batch);
        measure(batch, events, || {
            let call = filter.decide(&ctx, std::mem::take(&mut batch_events));
            let (events, verdicts) = executor.block_on(call);
            batch_events = events;
            black_box(verdicts.unwrap());
        })
    };
    let rust_router = load(&rust, params.clone());
    let js_router = load(&js, params.clone());
    let rust_1 = calls(&rust_router, 1, 100_000);
    let js_1 = calls(&js_router, 1, 10_000);
    let rust_20 = calls(&rust_router, 20, 200_000);
    let js_20 = calls(&js_router, 20, 40_000);

    // Instances: each load with new params starts a pool with one instance (and `init`);
    // all are kept, so the resident set grows by what each instance takes.
    let instances = |module: &Path, tag: &str| {
        let rss_before = resident_bytes();
        let mut kept = Vec::new();
        let mut starts = Vec::new();
        for i in 0..INSTANCES {
            let mut params = params.clone();
            // A route no webhook has: same behaviour, another pool.
            params["routes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"webhook": format!("{tag}-{i}"), "channels": ["x"]}));
            let filter = load(module, params);
            let times = filter.load_times();
            starts.push(times.total - times.module);
            kept.push(filter);
        }
        let rss = resident_bytes().saturating_sub(rss_before) / INSTANCES;
        (median(starts), kept[0].memory_peak(), rss, kept)
    };
    let (rust_start, rust_linear, rust_rss, rust_kept) = instances(&rust, "rust");
    let (js_start, js_linear, js_rss, js_kept) = instances(&js, "js");
    drop((rust_kept, js_kept));

    println!("JavaScript filter vs the same channel router in Rust, both components, same run");
    println!(
        "{:<48} {:>14} {:>14} {:>9}",
        "", "Rust", "JavaScript", "JS/Rust"
    );
    let row = |label: &str, rust: String, js: String, ratio: f64| {
        println!("{label:<48} {rust:>14} {js:>14} {ratio:>9.1}");
    };
    let us = |d: f64| format!("{:.2} µs", d / 1e3);
    row(
        "call with 1 event",
        us(rust_1.per_call),
        us(js_1.per_call),
        js_1.per_call / rust_1.per_call,
    );
    row(
        "per event, batches of 20",
        us(rust_20.per_event),
        us(js_20.per_event),
        js_20.per_event / rust_20.per_event,
    );
    row(
        "call with 20 events",
        us(rust_20.per_call),
        us(js_20.per_call),
        js_20.per_call / rust_20.per_call,
    );
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    row(
        "new instance + init (median)",
        ms(rust_start),
        ms(js_start),
        ratio(js_start, rust_start),
    );
    let mib = |b: usize| format!("{:.1} MiB", b as f64 / f64::from(1 << 20));
    let bytes_ratio = |js: usize, rust: usize| js as f64 / rust.max(1) as f64;
    row(
        "linear memory of an instance after init",
        mib(rust_linear),
        mib(js_linear),
        bytes_ratio(js_linear, rust_linear),
    );
    let rust_used = rust_router.memory_peak();
    let js_used = js_router.memory_peak();
    row(
        "linear memory after the calls above",
        mib(rust_used),
        mib(js_used),
        bytes_ratio(js_used, rust_used),
    );
    row(
        &format!("resident memory per instance ({INSTANCES} kept)"),
        mib(rust_rss),
        mib(js_rss),
        bytes_ratio(js_rss, rust_rss),
    );
    let s = |d: Duration| format!("{:.3} s", d.as_secs_f64());
    row(
        "compile the module (no cache)",
        s(rust_cold.module),
        s(js_cold.module),
        ratio(js_cold.module, rust_cold.module),
    );
    row(
        "module from the disk cache",
        s(rust_warm.module),
        s(js_warm.module),
        ratio(js_warm.module, rust_warm.module),
    );
    println!(
        "JS compile: the cache makes it {:.0}× faster",
        ratio(js_cold.module, js_warm.module)
    );
    println!(
        "module sizes: Rust {}, JS {}",
        mib(file_len(&rust)),
        mib(file_len(&js))
    );
}

fn runtime(cache: Option<&Path>) -> FilterRuntime {
    FilterRuntime::new(FilterSettings {
        // A busy machine must not fail a call; the deadline does not change what a call costs.
        call_timeout: Duration::from_secs(1),
        cache_dir: cache.map(Path::to_owned),
        ..FilterSettings::default()
    })
    .unwrap()
}

fn spec(name: &str, module: &Path, params: Value) -> FilterSpec {
    FilterSpec {
        name: name.into(),
        module: module.to_owned(),
        params,
        on_error: OnError::Drop,
        memory_limit_bytes: None,
    }
}

/// Loads `module` in a runtime of its own over `cache`: compiled, or read from the cache.
fn load_times(
    executor: &tokio::runtime::Runtime,
    cache: &Path,
    module: &Path,
    params: &Value,
) -> switchyard::filter::LoadTimes {
    let runtime = runtime(Some(cache));
    let filter = executor
        .block_on(runtime.load(&spec("compile", module, params.clone())))
        .unwrap();
    assert_ne!(filter.origin(), ModuleOrigin::Memory);
    filter.load_times()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn median(mut durations: Vec<Duration>) -> Duration {
    durations.sort();
    durations[durations.len() / 2]
}

fn file_len(path: &Path) -> usize {
    std::fs::metadata(path).unwrap().len() as usize
}

/// The process's resident set, from `/proc/self/statm` (pages).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}
