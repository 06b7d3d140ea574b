//! Real processes for end-to-end tests, one file per job: the `switchyard` binary
//! ([`gateway`]), HTTP receivers ([`sink`]: Node.js, or Python checking Standard Webhooks
//! signatures with the official library), signed requests ([`post`]), the CLI and
//! Pusher's Python SDK ([`cli`]), filter modules ([`filters`]), the reload soak ([`soak`]),
//! Redis servers ([`redis`]) and browser scripts against the console ([`browser`]).
//! Every process is killed when its handle drops.

mod browser;
mod cli;
mod filters;
mod gateway;
mod post;
mod prometheus;
mod redis;
mod sink;
mod soak;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use browser::*;
pub use cli::*;
pub use filters::*;
pub use gateway::*;
pub use post::*;
pub use prometheus::*;
pub use redis::*;
pub use sink::*;
pub use soak::*;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The test app's key and secret (its id is `app-1`).
pub const KEY: &str = "app-key";
pub const SECRET: &str = "app-secret";

/// A gateway config (TOML) listening on a free loopback port, with one app (`app-1`, [`KEY`],
/// [`SECRET`]) and its `webhooks` tables. `server` is put right after the `[server]` listen
/// line: more `[server]` keys, then any other top-level tables.
pub fn one_app_config(server: &str, webhooks: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n\n[[apps]]\nid = \"app-1\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n{webhooks}\n"
    )
}

/// `[delivery.retry]` settings that retry within a test's patience: 100 ms, then 200 ms, 400 ms,
/// 400 ms...
pub const FAST_RETRIES: &str = "
[delivery.retry]
initial_interval_ms = 100
max_interval_ms = 400
";

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Kills the child on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on loopback now (a parallel test may take it before it is bound: see
/// [`start_on_a_free_port`]).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a peer with `try_start`, which picks a free port; a port found free can be taken by
/// a parallel test before the peer binds it, so up to three tries. Panics with the last
/// output of `what` if none started.
pub fn start_on_a_free_port<T>(what: &str, try_start: impl Fn() -> Result<T, Vec<String>>) -> T {
    let mut last = Vec::new();
    for _ in 0..3 {
        match try_start() {
            Ok(started) => return started,
            Err(output) => last = output,
        }
    }
    panic!(
        "{what} did not start (tests/setup.sh installs it); output:\n{}",
        last.join("\n")
    );
}

/// Collects a child's stdout and stderr lines (for error messages) as they come.
pub fn collect_output(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let output = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                output.lock().unwrap().push(line);
            }
        });
    }
    output
}
