//! End-to-end tests: the real `switchyard` binary with real peers (HTTP sinks in Node.js,
//! Pusher's SDKs, and, in later modules, the Lambda emulator, Redis and soketi).

mod cli;
mod delivery;
mod import;
mod ingest;
mod lambda;
mod reload;
mod soketi;
mod support;
