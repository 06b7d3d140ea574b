//! The example filters as components, found by name: the Rust ones built for wasm32-wasip2
//! once per test process (a no-op when the test script or an earlier test built them), the
//! JavaScript ones with componentize-js once per change of their sources.
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

/// The JavaScript and TypeScript example filters (npm workspaces in `guest-filters/examples-js`).
pub const JS_EXAMPLES: [&str; 4] = ["channel-router-js", "redact-ts", "hostile-js", "stamp-js"];

/// Where JS components and their compiled forms are kept across test processes and runs.
fn js_dir() -> PathBuf {
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("js-filters")
}

/// The filter `cache_dir` every test shares: a JS component takes seconds to compile, so
/// each one is compiled once per machine, whichever test or benchmark loads it first.
pub fn shared_cache_dir() -> PathBuf {
    js_dir().join("cache")
}

/// The component built from JS example `name` (e.g. `channel-router-js`) with `npm run
/// build` and the environment `env` (`STAMP=v2` for `stamp-js`).
///
/// Built only when its sources changed: the file is named by a hash of the example, the SDK,
/// the WIT, the lock file and `env`. A file lock keeps parallel tests from building at once.
pub fn js_wasm(name: &str, env: &[(&str, &str)]) -> PathBuf {
    assert!(JS_EXAMPLES.contains(&name), "no JS example {name}");
    let guests = workspace_root().join("guest-filters");
    let example = guests.join("examples-js").join(name);
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for source in [
        example.clone(),
        guests.join("sdk-js"),
        guests.join("wit"),
        guests.join("package-lock.json"),
    ] {
        hash_tree(&source, &mut hasher);
    }
    for (key, value) in env {
        hasher.update(format!("{key}={value}\n"));
    }
    let dir = js_dir();
    let module = dir.join(format!(
        "{name}-{}.wasm",
        &hex::encode(hasher.finalize())[..16]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    if module.is_file() {
        return module;
    }
    assert!(
        guests.join("node_modules/.bin/switchyard-filter").exists(),
        "the JavaScript SDK's tools are not installed: run tests/setup.sh (npm ci in guest-filters/)"
    );
    let output = Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(&example)
        .envs(env.iter().copied())
        .output()
        .expect("npm must be installed (tests/setup.sh)");
    assert!(
        output.status.success(),
        "npm run build in {} failed:\n{}{}",
        example.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let built = example.join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::rename(built, &module).unwrap();
    module
}

/// Hashes every file under `path` (or the file itself) with its path, in a stable order;
/// what builds produce (node_modules, dist, .wasm) is left out.
fn hash_tree(path: &Path, hasher: &mut sha2::Sha256) {
    use sha2::Digest;
    if path.is_file() {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(path).unwrap());
        return;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name != "node_modules" && name != "dist" && !name.ends_with(".wasm")
        })
        .collect();
    entries.sort();
    entries.iter().for_each(|entry| hash_tree(entry, hasher));
}
