//! `switchyard filter new`: a filter project that builds as it is (Rust, JavaScript or
//! TypeScript), from the templates in `templates/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{Lang, NewArgs};

pub(super) fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a filter name: use letters, digits, `-` and `_`, starting with a letter"
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
        None => bundled_sdk(args.lang),
    };
    let files = match args.lang {
        Lang::Rust => rust_files(name, sdk.as_deref()),
        Lang::Js | Lang::Ts => js_files(name, args.lang, sdk.as_deref())?,
    };
    for (file, text) in files {
        let path = root.join(file);
        let dir = path.parent().unwrap_or(&root);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created {}", root.display());
    let (sdk_name, sdk_dir, build, module) = match args.lang {
        Lang::Rust => (
            "switchyard-filter` in Cargo.toml",
            "guest-filters/sdk",
            "cargo build --target wasm32-wasip2 --release",
            format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
        ),
        Lang::Js | Lang::Ts => (
            "switchyard-filter` in package.json",
            "guest-filters/sdk-js",
            "npm install && npm test && npm run build",
            format!("{name}.wasm"),
        ),
    };
    if sdk.is_none() {
        println!("note: set the path of `{sdk_name} to your Switchyard checkout's {sdk_dir}");
    }
    println!("build:  cd {} && {build}", root.display());
    println!("try:    switchyard filter test --module {module} < events.jsonl");
    Ok(ExitCode::SUCCESS)
}

/// The SDK next to the sources this binary was built from, if they are still there.
fn bundled_sdk(lang: Lang) -> Option<PathBuf> {
    let (dir, manifest) = match lang {
        Lang::Rust => ("sdk", "Cargo.toml"),
        Lang::Js | Lang::Ts => ("sdk-js", "package.json"),
    };
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../guest-filters")
        .join(dir);
    sdk.join(manifest)
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

fn rust_files(name: &str, sdk: Option<&Path>) -> Vec<(&'static str, String)> {
    vec![
        ("Cargo.toml", cargo_toml(name, sdk)),
        ("src/lib.rs", LIB_RS.replace("{name}", name)),
        (".gitignore", "/target\n".to_owned()),
    ]
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

fn js_files(
    name: &str,
    lang: Lang,
    sdk: Option<&Path>,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let ts = lang == Lang::Ts;
    let (filter, test) = if ts {
        (
            ("src/filter.ts", FILTER_TS),
            ("test/filter.test.ts", TEST_TS),
        )
    } else {
        (
            ("src/filter.js", FILTER_JS),
            ("test/filter.test.js", TEST_JS),
        )
    };
    let mut files = vec![
        ("package.json", package_json(name, ts, sdk)?),
        (filter.0, filter.1.replace("{name}", name)),
        (test.0, test.1.to_owned()),
    ];
    if ts {
        files.push(("tsconfig.json", TSCONFIG.to_owned()));
        files.push((".gitignore", "node_modules/\ndist/\n*.wasm\n".to_owned()));
    } else {
        files.push((".gitignore", "node_modules/\n*.wasm\n".to_owned()));
    }
    Ok(files)
}

/// The project's package.json: the tools at the versions the SDK is tested with (its
/// `peerDependencies`, and for TypeScript the compiler of its `devDependencies`).
fn package_json(name: &str, ts: bool, sdk: Option<&Path>) -> anyhow::Result<String> {
    let manifest: Value =
        serde_json::from_str(SDK_PACKAGE_JSON).context("the SDK's package.json is not JSON")?;
    let mut dependencies = manifest["peerDependencies"].clone();
    if ts {
        for tool in ["typescript", "@types/node"] {
            dependencies[tool] = manifest["devDependencies"][tool].clone();
        }
    }
    let sdk = sdk.map_or_else(
        || "../switchyard/guest-filters/sdk-js".to_owned(),
        |path| path.to_string_lossy().into_owned(),
    );
    dependencies["switchyard-filter"] = format!("file:{sdk}").into();
    let (test, build) = if ts {
        (
            "tsc && node --test dist/test/".to_owned(),
            format!("tsc --noEmit && switchyard-filter build src/filter.ts {name}.wasm"),
        )
    } else {
        (
            "node --test test/".to_owned(),
            format!("switchyard-filter build src/filter.js {name}.wasm"),
        )
    };
    let package = json!({
        // npm package names are lower case.
        "name": name.to_ascii_lowercase(),
        "private": true,
        "description": "A Switchyard filter",
        "type": "module",
        "scripts": { "test": test, "build": build },
        "devDependencies": dependencies,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&package)?))
}

const CARGO_TOML: &str = include_str!("templates/rust/Cargo.toml");
const LIB_RS: &str = include_str!("templates/rust/lib.rs");
const FILTER_JS: &str = include_str!("templates/js/filter.js");
const TEST_JS: &str = include_str!("templates/js/filter.test.js");
const FILTER_TS: &str = include_str!("templates/ts/filter.ts");
const TEST_TS: &str = include_str!("templates/ts/filter.test.ts");
const TSCONFIG: &str = include_str!("templates/ts/tsconfig.json");
/// The JavaScript SDK's manifest, for the versions of the tools it is tested with.
const SDK_PACKAGE_JSON: &str = include_str!("../../../../guest-filters/sdk-js/package.json");
