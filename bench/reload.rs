//! Hot-reload benchmark and soak, against the real `switchyard` binary and a Node.js sink.
//!
//! Run: `cargo bench -p switchyard --bench reload`. Prints:
//! - swap latency: from the rename of a new filter module to `/status` showing it live
//!   (p50/p99 over the soak's reloads), as a ratio to a baseline measured in the same run:
//!   how long a bare `notify` watcher in this process takes to see the same kind of rename;
//! - the soak under steady load: events sent, delivered, duplicated, decided by a stale
//!   version (must all be 0 but `sent` = `delivered`);
//! - the gateway's resident memory across many reloads (old modules and instances must be
//!   freed: the growth should level off, not climb with every reload).

// Each benchmark uses part of the end-to-end support.
#[allow(dead_code, unused_imports)]
#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{
    Gateway, KEY, SECRET, Sink, file_hash, module_hash, one_app_config, reload_soak, replace_file,
    stamp_module, with_free_admin_port,
};

const SOAK_RELOADS: usize = 100;
const MEMORY_RELOADS: usize = 1000;

fn main() {
    let versions = [stamp_module("v1"), stamp_module("v2")];
    let baseline = bare_watch_latency(&versions[0], SOAK_RELOADS);

    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("stamp.wasm");
    std::fs::copy(&versions[0], &module).unwrap();
    let webhook = format!(
        "[[apps.webhooks]]\nurl = \"{}\"\nevent_types = [\"channel_occupied\"]\nfilters = [{{ module = \"stamp.wasm\" }}]",
        sink.url("/hook")
    );
    // A generous call deadline: module compiles take both cores for a moment, and a filter
    // timing out would dead-letter events this soak counts.
    let server = "\n[filters]\ncache_dir = \"cache\"\ncall_timeout_ms = 2000";
    let config = with_free_admin_port(&one_app_config(server, &webhook), "switchyard.toml");
    std::fs::write(dir.path().join("switchyard.toml"), config).unwrap();
    let gateway = Arc::new(Gateway::start_at(
        &dir.path().join("switchyard.toml"),
        dir,
        &[],
    ));

    let report = reload_soak(
        &gateway,
        &sink,
        &module,
        &versions,
        SOAK_RELOADS,
        support::PATIENCE,
    );
    let (p50, p99) = percentiles(report.swap_latencies.clone());
    let (base50, base99) = percentiles(baseline);
    println!("reload soak: {SOAK_RELOADS} module swaps under steady load");
    println!(
        "  events sent {}, delivered {}, duplicated {}, decided by a stale version {} (of {} checked)",
        report.sent,
        report.delivered,
        report.duplicates,
        report.stale.len(),
        report.checked
    );
    println!(
        "  swap latency (write → live): p50 {:.1} ms, p99 {:.1} ms (target p99 < 250 ms)",
        ms(p50),
        ms(p99)
    );
    println!(
        "  baseline, bare notify watcher seeing a rename: p50 {:.2} ms, p99 {:.2} ms → gateway/baseline p99 = {:.0}×",
        ms(base50),
        ms(base99),
        ms(p99) / ms(base99).max(0.001)
    );

    memory_across_reloads(&gateway, &module, &versions);
}

/// Swaps modules `MEMORY_RELOADS` times (no load) and prints the gateway's RSS as it goes.
fn memory_across_reloads(gateway: &Gateway, module: &Path, versions: &[std::path::PathBuf; 2]) {
    println!("memory across {MEMORY_RELOADS} reloads (gateway VmRSS):");
    let start = rss_kib(gateway.pid());
    println!("  after    0 reloads: {:>7} KiB", start);
    let mut at_100 = start;
    for i in 1..=MEMORY_RELOADS {
        let version = &versions[i % 2];
        let want = file_hash(version);
        replace_file(version, module);
        gateway.wait_for_status("the swap", |s| module_hash(s) == want);
        if [100, 250, 500, 750, 1000].contains(&i) {
            let rss = rss_kib(gateway.pid());
            if i == 100 {
                at_100 = rss;
            }
            println!("  after {i:>4} reloads: {rss:>7} KiB");
        }
    }
    let end = rss_kib(gateway.pid());
    println!(
        "  growth from reload 100 to {MEMORY_RELOADS}: {:+} KiB ({:.2}× of the RSS after 100 reloads)",
        end as i64 - at_100 as i64,
        end as f64 / at_100 as f64
    );
}

/// How long a plain `notify` watcher takes to report a rename-over in a watched directory.
fn bare_watch_latency(sample: &Path, rounds: usize) -> Vec<Duration> {
    use notify::Watcher;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("module.wasm");
    std::fs::copy(sample, &target).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if e.is_ok() {
            let _ = tx.send(Instant::now());
        }
    })
    .unwrap();
    watcher
        .watch(dir.path(), notify::RecursiveMode::NonRecursive)
        .unwrap();
    (0..rounds)
        .map(|_| {
            while rx.try_recv().is_ok() {}
            let written = Instant::now();
            replace_file(sample, &target);
            let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            seen - written
        })
        .collect()
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
