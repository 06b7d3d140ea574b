//! End-to-end tests: the real `switchyard` binary with real peers (HTTP sinks in Node.js,
//! Pusher's SDKs, the Lambda emulator, soketi, chromium for the console) and WASM filters built
//! from the examples (Rust, and JavaScript with componentize-js).

mod cli;
mod console;
mod delivery;
mod deploy;
mod docs;
mod filters;
#[allow(dead_code)]
#[path = "../../host/tests/guests/mod.rs"]
mod guests;
mod import;
mod ingest;
mod js_filters;
mod lambda;
mod operate;
mod queue;
mod redis;
mod reload;
mod signing;
mod soketi;
mod support;
