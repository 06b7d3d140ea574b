//! Filter modules for tests: the stamp filter built on demand, and deploy-style replacement.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::repo_root;

/// The `filter-stamp` example built with `STAMP=<stamp>`: a filter that stamps each event
/// with the build that decided it. Built into the shared target dir (cargo rebuilds it when
/// `STAMP` or any source changed) and copied to `target/stamps/<stamp>.wasm`; a file lock
/// keeps parallel test processes from interleaving one build with another's copy.
pub fn stamp_module(stamp: &str) -> PathBuf {
    let root = repo_root();
    let dir = root.join("target/stamps");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "filter-stamp",
        ])
        .env("STAMP", stamp)
        .status()
        .unwrap();
    assert!(built.success(), "building filter-stamp failed");
    let module = dir.join(format!("{stamp}.wasm"));
    // Where cargo put it: CARGO_TARGET_DIR when set (a worktree building into its own).
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let output = target.join("wasm32-wasip2/release/filter_stamp.wasm");
    std::fs::copy(output, dir.join(".partial.wasm")).unwrap();
    std::fs::rename(dir.join(".partial.wasm"), &module).unwrap();
    module
}

/// The module hash `/status` shows for the first filter of the first webhook of the first app.
pub fn module_hash(status: &Value) -> String {
    let filter = &status["apps"][0]["webhooks"][0]["filters"][0];
    filter["module_hash"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// SHA-256 of a file, hex.
pub fn file_hash(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Writes `text` to `to` the way deploys do: beside it, then renamed over it, so a watcher
/// never sees it half-written.
pub fn write_atomically(to: &Path, text: &str) {
    let staged = to.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

/// Copies `from` over `to` the way deploys do: write beside it, then rename.
pub fn replace_file(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}
