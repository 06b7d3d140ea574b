//! What a WebAssembly filter costs per event, against the same logic in native Rust.
//!
//! `cargo bench -p switchyard --bench filters` builds the example filters, then measures
//! the channel router natively (the very `routes.rs` the component is built from), the
//! router component in batches of 1 and of 20 events, and the no-op component (the cost of
//! the call machinery alone). Each figure is the median of several rounds; ratios are to the
//! native baseline of the same run, so they mean the same on any machine.

#[path = "filter_calls.rs"]
mod filter_calls;
// Shared with the tests; each user takes part of it.
#[allow(dead_code)]
#[path = "../host/tests/guests/mod.rs"]
mod guests;
#[path = "../guest-filters/examples/channel-router/src/routes.rs"]
mod routes;

use std::hint::black_box;
use std::time::Duration;

use filter_calls::{ROUNDS, measure, sample_events};
use serde_json::json;
use switchyard::filter::{
    FilterContext, FilterRuntime, FilterSettings, FilterSpec, OnError, Verdict,
};

/// Events per round, whatever the batch size.
const EVENTS_PER_ROUND: usize = 200_000;

fn main() {
    let params = json!({"routes": [
        {"webhook": "billing", "channels": ["private-billing-*", "presence-billing-*"]},
        {"webhook": "chat", "channels": ["private-chat-*", "presence-room-?", "presence-room-??"]},
        {"webhook": "https://audit.example.com/*", "channels": ["*"]},
    ], "otherwise": "drop"});
    let ctx = FilterContext {
        app_id: "app-1".into(),
        webhook_id: "chat".into(),
        webhook_target: "https://chat.example.com/hooks".into(),
    };
    let events = sample_events(20);

    // The component's `init` is `Routes::check`: the native side starts the same way.
    let table: routes::Routes = serde_json::from_value(params.clone()).unwrap();
    let mut native_routes = table.check().unwrap();
    let native = measure(20, EVENTS_PER_ROUND, || {
        let verdicts: Vec<Verdict> = events
            .iter()
            .map(|e| {
                let allowed =
                    native_routes.allows(&ctx.webhook_id, &ctx.webhook_target, e.channel());
                if allowed {
                    Verdict::Keep
                } else {
                    Verdict::Drop
                }
            })
            .collect();
        black_box(verdicts);
    });

    // A deadline far off: a busy machine must not fail a call, and the deadline's value does
    // not change what a call costs (the epoch check is the same).
    let settings = FilterSettings {
        call_timeout: Duration::from_secs(1),
        ..FilterSettings::default()
    };
    let runtime = FilterRuntime::new(settings).unwrap();
    // Calls are async; the gateway makes them on its request tasks. One current-thread
    // executor here, so a call's figure includes what polling it to completion costs.
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = |example: &str, params: serde_json::Value| {
        let spec = FilterSpec {
            name: example.into(),
            module: guests::wasm(example),
            params,
            on_error: OnError::Drop,
            memory_limit_bytes: None,
        };
        executor.block_on(runtime.load(&spec)).unwrap()
    };
    let router = load("filter-channel-router", params);
    let noop = load("filter-noop", json!({}));
    let wasm = |filter: &switchyard::filter::LoadedFilter, batch: usize| {
        let mut batch_events = sample_events(batch);
        measure(batch, EVENTS_PER_ROUND, || {
            let call = filter.decide(&ctx, std::mem::take(&mut batch_events));
            let (events, verdicts) = executor.block_on(call);
            batch_events = events;
            black_box(verdicts.unwrap());
        })
    };
    let rows = [
        ("native channel-router, batch 20", native),
        ("wasm channel-router, batch 1", wasm(&router, 1)),
        ("wasm channel-router, batch 20", wasm(&router, 20)),
        ("wasm noop, batch 1", wasm(&noop, 1)),
        ("wasm noop, batch 20", wasm(&noop, 20)),
    ];

    println!(
        "filters: median of {ROUNDS} rounds of {EVENTS_PER_ROUND} events; events carry 300 bytes of data"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>10}",
        "", "ns/event", "ns/call", "× native"
    );
    for (label, cost) in &rows {
        let ratio = cost.per_event / native.per_event;
        println!(
            "{label:<34} {:>12.1} {:>12.1} {ratio:>10.2}",
            cost.per_event, cost.per_call
        );
    }
    // What the router's own work costs inside the sandbox, without the call machinery.
    let logic = rows[2].1.per_event - rows[4].1.per_event;
    println!(
        "router logic alone in wasm (router − noop, batch 20): {logic:.1} ns/event, {:.2}× native",
        logic / native.per_event
    );
    let batch1 = Duration::from_secs_f64(rows[1].1.per_call * 1e-9);
    println!(
        "target: router at batch 1 under 2 µs per call: {batch1:.2?} ({})",
        verdict(batch1 < Duration::from_micros(2))
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
