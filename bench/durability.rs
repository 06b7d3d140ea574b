//! What durability costs: the real `switchyard` binary (release build) between a load
//! generator and a sink, with `[queue] fsync = true` and `fsync = false`, in the same run.
//!
//! Run: `cargo bench -p switchyard --bench durability`. For each setting, alternately, twice:
//! 32 connections in a closed loop each POST signed webhooks of one `client_event` (channels
//! spread over 1,000 names) for 10 s after 2 s of warm-up; a sink in this process answers 200
//! and counts the events it receives. Prints acknowledged requests/s and delivered events/s
//! (medians) and the ratio fsync-on / fsync-off. Target: durability costs at most 20 % of
//! delivered events/s (ratio ≥ 0.8).

// Each benchmark uses part of the end-to-end support.
#[allow(dead_code, unused_imports)]
#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use support::{Gateway, one_app_config, signed_headers};

const CONNECTIONS: usize = 32;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
const ROUNDS: usize = 2;

/// What one measured window saw.
#[derive(Debug, Clone, Copy)]
struct Rates {
    acked_per_sec: f64,
    delivered_per_sec: f64,
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let delivered = Arc::new(AtomicU64::new(0));
    let sink_port = runtime.block_on(start_sink(delivered.clone()));
    let mut on = Vec::new();
    let mut off = Vec::new();
    for round in 0..ROUNDS {
        for fsync in [true, false] {
            let rates = measure(&runtime, sink_port, fsync, &delivered);
            println!(
                "round {}: fsync {:<5} acked {:>8.0} requests/s, delivered {:>8.0} events/s",
                round + 1,
                fsync,
                rates.acked_per_sec,
                rates.delivered_per_sec
            );
            if fsync {
                on.push(rates)
            } else {
                off.push(rates)
            }
        }
    }
    let median = |rates: &[Rates], f: fn(&Rates) -> f64| {
        let mut v: Vec<f64> = rates.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let acked = |r: &Rates| r.acked_per_sec;
    let delivered_rate = |r: &Rates| r.delivered_per_sec;
    println!(
        "\n| one event per request, {CONNECTIONS} connections | fsync on | fsync off | on/off |"
    );
    println!("|---|---:|---:|---:|");
    for (name, f) in [
        ("acknowledged requests/s", acked as fn(&Rates) -> f64),
        ("delivered events/s", delivered_rate),
    ] {
        let (a, b) = (median(&on, f), median(&off, f));
        println!("| {name} | {a:.0} | {b:.0} | {:.2} |", a / b);
    }
    let cost = 1.0 - median(&on, delivered_rate) / median(&off, delivered_rate);
    println!(
        "\ndurability costs {:.0} % of delivered events/s (target: at most 20 %)",
        cost * 100.0
    );
}

/// A sink that answers 200 and counts the events of every delivery.
async fn start_sink(delivered: Arc<AtomicU64>) -> u16 {
    let app = Router::new().route(
        "/hooks",
        post(move |body: Bytes| {
            let delivered = delivered.clone();
            async move {
                let events = memchr_count(&body, br#""name":"#);
                delivered.fetch_add(events, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// How many times `needle` occurs in `haystack` (each event has one `"name":` key).
fn memchr_count(haystack: &[u8], needle: &[u8]) -> u64 {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count() as u64
}

/// Runs the gateway with `fsync`, loads it, and measures one window.
fn measure(
    runtime: &tokio::runtime::Runtime,
    sink_port: u16,
    fsync: bool,
    delivered: &AtomicU64,
) -> Rates {
    let webhook = format!(
        "[[apps.webhooks]]\nid = \"hooks\"\nurl = \"http://127.0.0.1:{sink_port}/hooks\"\nevent_types = [\"client_event\"]"
    );
    let settings = format!("\n[queue]\nfsync = {fsync}\n");
    let gateway = Gateway::start_with(
        &one_app_config(&settings, &webhook),
        "switchyard.toml",
        &[("RUST_LOG", "warn")],
    );
    let url = gateway.url("/ingest/pusher");
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let loaders: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (url, acked, stop, client) = (url.clone(), acked.clone(), stop.clone(), client.clone());
            runtime.spawn(async move {
                let mut n = c as u64;
                while !stop.load(Ordering::Relaxed) {
                    n += CONNECTIONS as u64;
                    let body = format!(
                        r#"{{"time_ms":{},"events":[{{"name":"client_event","channel":"private-{}","event":"client-x","data":"{{\"n\":{n}}}"}}]}}"#,
                        switchyard::clock::now_ms(),
                        n % 1000
                    );
                    let mut request = client.post(&url);
                    for (name, value) in signed_headers(&body) {
                        request = request.header(name, value);
                    }
                    let sent = request.body(body).send().await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(WARM_UP);
    let (acked_at, delivered_at, started) = (
        acked.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(MEASURE);
    let seconds = started.elapsed().as_secs_f64();
    let rates = Rates {
        acked_per_sec: (acked.load(Ordering::Relaxed) - acked_at) as f64 / seconds,
        delivered_per_sec: (delivered.load(Ordering::Relaxed) - delivered_at) as f64 / seconds,
    };
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for loader in loaders {
            let _ = loader.await;
        }
    });
    drop(gateway);
    rates
}
