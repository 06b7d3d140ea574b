//! # Switchyard
//!
//! A webhook gateway for Pusher-protocol servers. One event's path:
//!
//! - [`ingest`]: `POST /ingest/pusher`, verify the app's signature, parse the batch whole,
//!   route it, write its jobs to the queue, answer 200 once they are on disk.
//! - [`route`]: per webhook, event types, channel prefix/suffix, then the WASM filter chain.
//! - [`filter`]: the sandboxed WebAssembly filter runtime.
//! - [`queue`]: the durable queue: one job per (webhook, lane), group-committed; retry
//!   schedule; dead letters.
//! - [`deliver`]: one worker per (webhook, lane) takes its jobs in order, coalesces them,
//!   sends one JS-compatible signed payload over HTTP or to Lambda, and retries, opens the
//!   webhook's circuit, or dead-letters.
//! - [`gateway`]: the running service; its immutable [`gateway::Snapshot`] (apps, routes,
//!   compiled filters) is swapped whole on reload, and the lanes follow it.
//!
//! Around them: [`config`] (load and validate), [`admin`] (status, reload, dead letters),
//! [`import`] (from soketi), [`json`] (the `JSON.parse`/`JSON.stringify` compatible value
//! type), [`event`], [`signature`], [`clock`], [`metrics`], and [`cli`].

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod event;
pub mod filter;
pub mod gateway;
pub mod import;
pub mod ingest;
pub mod json;
pub mod metrics;
pub mod queue;
pub mod route;
pub mod signature;
