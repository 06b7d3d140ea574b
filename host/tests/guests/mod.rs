//! The example filters as components: built for wasm32-wasip2 once per test process (a
//! no-op when the test script or an earlier test built them), then found by crate name.
//!
//! Shared by the filter tests and `bench/filters.rs` (`#[path]`-included).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every crate under `guest-filters/examples`.
pub const EXAMPLES: [&str; 7] = [
    "filter-noop",
    "filter-channel-router",
    "filter-presence-allowlist",
    "filter-redact",
    "filter-dedupe",
    "filter-hostile-misbehave",
    "filter-hostile-wrong-world",
];

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The component built from example crate `name` (e.g. `filter-noop`).
pub fn wasm(name: &str) -> PathBuf {
    assert!(EXAMPLES.contains(&name), "no example crate {name}");
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(build_examples)
        .join(format!("{}.wasm", name.replace('-', "_")))
}

/// Runs `cargo build --target wasm32-wasip2 --release` for every example; returns the
/// directory the components land in.
fn build_examples() -> PathBuf {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--quiet", "--target", "wasm32-wasip2", "--release"]);
    for name in EXAMPLES {
        command.args(["-p", name]);
    }
    let output = command.output().expect("run cargo");
    assert!(
        output.status.success(),
        "building the example filters failed (is the target installed? `rustup target add \
         wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("wasm32-wasip2").join("release")
}
