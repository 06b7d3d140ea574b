//! # Switchyard
//!
//! A webhook gateway for Pusher-protocol servers. One event's path:
//!
//! - [`ingest`]: `POST /ingest/pusher`, verify the app's signature, parse the batch whole.
//! - [`gateway`]: the running service; its immutable [`gateway::Snapshot`] (apps, routes,
//!   compiled filters) is swapped whole on reload; [`gateway::Dispatcher`] runs the work.
//! - [`route`]: per webhook, event types, channel prefix/suffix, then the WASM filter chain.
//! - [`filter`]: the sandboxed WebAssembly filter runtime.
//! - [`deliver`]: one JS-compatible, signed payload per webhook, sent over HTTP or to Lambda.
//!
//! Around them: [`config`] (load and validate), [`import`] (from soketi), [`json`] (the
//! `JSON.parse`/`JSON.stringify` compatible value type), [`event`], [`signature`], [`metrics`],
//! and [`cli`].

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
