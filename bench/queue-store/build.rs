//! Records the resolved versions of the two stores (from the workspace Cargo.lock) so the
//! results name exactly what was measured.

fn main() {
    let lock = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    for (krate, var) in [
        ("fjall", "QB_FJALL_VERSION"),
        ("lsm-tree", "QB_LSM_TREE_VERSION"),
        ("redb", "QB_REDB_VERSION"),
    ] {
        let mut version = "unknown".to_string();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l == format!("name = \"{krate}\"") {
                if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                    version = v.trim_matches('"').to_string();
                }
                break;
            }
        }
        println!("cargo:rustc-env={var}={version}");
    }
}
