//! The deployment examples in `deploy/` hold together: what each mounts, exposes, probes and
//! runs matches the config it ships, that config passes the real binary's `switchyard check`
//! where the example puts it, and the tools that can judge the files offline accept them
//! (`systemd-analyze`, `kubernetes-validate`, `hadolint`). The systemd unit runs under a real
//! systemd in a systemd-nspawn container, and the image's and the pod's layouts run in
//! stand-in containers ([`container`]). No container engine or cluster runs here: the image
//! is never built nor the manifests applied (docs/deploy.md says so).

mod container;
mod docker;
mod kubernetes;
mod systemd;

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::guests;
use crate::support::{repo_root, run_cli};

/// How long the gateway's lanes may take to finish their attempts in flight after SIGTERM
/// (`DRAIN_GRACE` in host/src/gateway): every stop timeout must leave room for it.
const LANE_GRACE_SECS: u64 = 15;

/// A file under `deploy/`.
fn deploy(path: &str) -> PathBuf {
    repo_root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of a file.
fn yaml(path: &Path) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The string `yaml` holds, or a panic naming `what` was expected.
fn text<'a>(yaml: &'a Yaml, what: &str) -> &'a str {
    yaml.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {yaml:?}"))
}

/// A TOML config from `deploy/`.
fn config(path: &Path) -> toml::Table {
    read(path)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The port of `[table] listen` (`server` or `admin`) and whether it is on loopback only.
fn listen(config: &toml::Table, table: &str) -> (u16, bool) {
    let listen = config[table]["listen"].as_str().unwrap();
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    (addr.port(), addr.ip().is_loopback())
}

/// A string setting of the config (`queue.dir`, `filters.cache_dir`).
fn setting<'a>(config: &'a toml::Table, table: &str, key: &str) -> &'a str {
    config[table][key]
        .as_str()
        .unwrap_or_else(|| panic!("the config has no {table}.{key}"))
}

/// Every filter `module` the config names, as written.
fn modules(config: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for app in config["apps"].as_array().unwrap() {
        let webhooks = app.get("webhooks").and_then(|w| w.as_array());
        let chains = std::iter::once(app).chain(webhooks.into_iter().flatten());
        for chain in chains.filter_map(|t| t.get("filters")?.as_array()) {
            out.extend(
                chain
                    .iter()
                    .map(|f| f["module"].as_str().unwrap().to_owned()),
            );
        }
    }
    out
}

/// Where a path in a config file at `config_path` points (relative ones are relative to the
/// file's directory), with `.` and `..` taken away as the kernel would.
fn resolve(config_path: &str, path: &str) -> String {
    let joined = Path::new(config_path).parent().unwrap().join(path);
    let mut out = PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out.to_str().unwrap().to_owned()
}

/// Whether `path` is `dir` or inside it.
fn is_under(path: &str, dir: &str) -> bool {
    Path::new(path).starts_with(dir)
}

/// The example filter crate a module file comes from: cargo names
/// `filter-presence-allowlist`'s component `filter_presence_allowlist.wasm`.
fn example_module(file_name: &str) -> PathBuf {
    let stem = file_name
        .strip_suffix(".wasm")
        .unwrap_or_else(|| panic!("{file_name} is not a .wasm file"));
    guests::wasm(&stem.replace('_', "-"))
}

/// A directory standing for the file system the example runs in (a container's, a host's):
/// files go where the example's mounts or install steps put them, and the config's absolute
/// paths are moved under it, the one change made to the config, since this machine has no
/// `/etc/switchyard` and a test must not write `/var/lib`.
struct Root(tempfile::TempDir);

impl Root {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    /// This machine's path for `path` of the example's file system.
    fn path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        assert!(path.is_absolute(), "{} is not absolute", path.display());
        self.0.path().join(path.strip_prefix("/").unwrap())
    }

    /// Copies `from` (a file of this machine) to `to` (a path of the example's file system).
    fn put(&self, to: &str, from: &Path) {
        let to = self.path(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", from.display(), to.display()));
    }

    /// Writes `config` at `to` with its absolute paths (`dir`, `cache_dir`, `module`) moved
    /// under the root; relative ones stay, as they resolve against the config's own place.
    fn put_config(&self, to: &str, config: &toml::Table) {
        let mut config = toml::Value::Table(config.clone());
        self.reroot(&mut config);
        let to = self.path(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(&to, toml::to_string(&config).unwrap()).unwrap();
    }

    fn reroot(&self, value: &mut toml::Value) {
        match value {
            toml::Value::Table(table) => {
                for (key, value) in table.iter_mut() {
                    match value {
                        toml::Value::String(path)
                            if ["dir", "cache_dir", "module"].contains(&key.as_str())
                                && path.starts_with('/') =>
                        {
                            *path = self.path(path).to_str().unwrap().to_owned();
                        }
                        _ => self.reroot(value),
                    }
                }
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|v| self.reroot(v)),
            _ => {}
        }
    }

    /// Puts `config` at `config_path` and, where its modules point, the example filters of
    /// those names; then `switchyard check` must accept it there.
    fn check_installed(&self, config_path: &str, config: &toml::Table) {
        self.put_config(config_path, config);
        for module in modules(config) {
            let at = resolve(config_path, &module);
            let file_name = Path::new(&at).file_name().unwrap().to_str().unwrap();
            self.put(&at, &example_module(file_name));
        }
        let file = self.path(config_path);
        let (code, out) = run_cli(&["check", "--config", file.to_str().unwrap()]);
        assert_eq!(code, 0, "switchyard check {config_path}:\n{out}");
    }
}

/// Runs an external tool, panicking with its output unless it succeeds; returns stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (tests/setup.sh installs it)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
