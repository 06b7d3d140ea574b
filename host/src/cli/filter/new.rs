//! `switchyard filter new`: a filter crate that builds as it is, from the templates in
//! `templates/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::NewArgs;

pub(super) fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a crate name: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    let root = args.dir.join(name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    let sdk = match &args.sdk {
        Some(sdk) => Some(
            sdk.canonicalize()
                .with_context(|| format!("no SDK at {}", sdk.display()))?,
        ),
        None => bundled_sdk(),
    };
    std::fs::create_dir_all(root.join("src"))
        .with_context(|| format!("cannot create {}", root.display()))?;
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk.as_deref())),
        ("src/lib.rs", LIB_RS.replace("{name}", name)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (file, text) in files {
        let path = root.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created {}", root.display());
    if sdk.is_none() {
        println!(
            "note: set the path of `switchyard-filter` in Cargo.toml to your Switchyard checkout's guest-filters/sdk"
        );
    }
    let wasm = name.replace('-', "_");
    println!(
        "build:  cd {} && cargo build --target wasm32-wasip2 --release",
        root.display()
    );
    println!(
        "try:    switchyard filter test --module target/wasm32-wasip2/release/{wasm}.wasm < events.jsonl"
    );
    Ok(ExitCode::SUCCESS)
}

/// The SDK next to the sources this binary was built from, if they are still there.
fn bundled_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-filters/sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

fn cargo_toml(name: &str, sdk: Option<&Path>) -> String {
    let sdk = sdk.map_or_else(
        || "../switchyard/guest-filters/sdk".to_owned(),
        |path| path.to_string_lossy().into_owned(),
    );
    let mut toml = CARGO_TOML.replace("{name}", name);
    // A TOML basic string: quotes and backslashes escaped.
    let quoted = toml::Value::String(sdk).to_string();
    toml.push_str(&format!("switchyard-filter = {{ path = {quoted} }}\n"));
    toml
}

const CARGO_TOML: &str = include_str!("templates/rust/Cargo.toml");

const LIB_RS: &str = include_str!("templates/rust/lib.rs");
