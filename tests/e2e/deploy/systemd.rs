//! deploy/systemd: the unit passes `systemd-analyze verify` and `security`, agrees with its
//! config and its sysusers.d file, the gateway speaks sd_notify as `Type=notify` expects, the
//! unit's system call filter and address families allow everything the gateway does (traced
//! with strace through a start, deliveries, a failure, a reload and a drain, so a missing call
//! is named), and a real systemd, booted in a systemd-nspawn container, installs, starts,
//! reloads and stops it.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use serde_json::json;

use super::container::Container;
use super::{
    LANE_GRACE_SECS, Root, config, deploy, example_module, is_under, modules, read, resolve,
    setting, tool,
};
use crate::guests;
use crate::support::{
    Gateway, KEY, PATIENCE, SECRET, Sink, batch, binary, client, one_app_config, post_signed,
    repo_root,
};

/// Where the unit expects the binary (docs/deploy.md installs it there).
const INSTALLED_BINARY: &str = "/usr/local/bin/switchyard";

/// The unit's settings: section → key → every value given, in order.
struct Unit(BTreeMap<String, BTreeMap<String, Vec<String>>>);

impl Unit {
    fn load() -> Self {
        let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut section = String::new();
        for line in read(&deploy("systemd/switchyard.service"))
            .lines()
            .map(str::trim)
        {
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            let (key, value) = line.split_once('=').unwrap();
            sections
                .entry(section.clone())
                .or_default()
                .entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
        Self(sections)
    }

    fn all(&self, key: &str) -> &[String] {
        self.0["Service"].get(key).map_or(&[], Vec::as_slice)
    }

    fn one(&self, key: &str) -> &str {
        match self.all(key) {
            [value] => value,
            other => panic!("[Service] {key}: expected one value, found {other:?}"),
        }
    }

    /// The config file `ExecStart` runs.
    fn config_path(&self) -> String {
        let words: Vec<&str> = self.one("ExecStart").split_whitespace().collect();
        assert_eq!(words[..2], [INSTALLED_BINARY, "run"]);
        let at = words.iter().position(|w| *w == "--config").unwrap();
        words[at + 1].to_owned()
    }
}

/// The unit as installed, but running the binary built here: `systemd-analyze verify`
/// refuses a unit whose commands do not exist, and this machine has no
/// /usr/local/bin/switchyard. Nothing else changes.
fn rendered_unit() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("switchyard.service");
    let text = read(&deploy("systemd/switchyard.service")).replace(INSTALLED_BINARY, binary());
    std::fs::write(&unit, text).unwrap();
    let unit = unit.to_str().unwrap().to_owned();
    (dir, unit)
}

/// Runs `systemd-analyze ARGS`; its output (both streams) if it succeeded.
fn systemd_analyze(args: &[&str]) -> String {
    let out = std::process::Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (Debian's systemd package; tests/setup.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze {args:?}:\n{text}");
    text
}

#[test]
fn the_unit_passes_systemd_analyze_verify_without_a_warning() {
    let (_dir, unit) = rendered_unit();
    // A misspelt key is only a warning (exit 0): the output must be empty too.
    let out = systemd_analyze(&["verify", &unit]);
    assert_eq!(out.trim(), "", "systemd-analyze verify:\n{out}");
}

#[test]
fn the_unit_is_hardened_but_lets_wasmtime_compile() {
    let (_dir, unit) = rendered_unit();
    // Exposure 0.0 (locked down) to 10.0 (not at all); the threshold is in tenths. What is
    // left open is what a gateway needs: the network, and writable+executable memory.
    let report = systemd_analyze(&["security", "--offline=true", "--threshold=20", &unit]);
    assert!(report.contains("Overall exposure level"), "{report}");
    assert!(
        Unit::load().all("MemoryDenyWriteExecute").is_empty(),
        "MemoryDenyWriteExecute= makes every filter fail to load (wasmtime compiles them to \
         machine code at run time)"
    );
}

#[test]
fn the_unit_agrees_with_its_config_and_its_user() {
    let unit = Unit::load();
    assert_eq!(unit.one("Type"), "notify", "the gateway speaks sd_notify");
    assert!(
        unit.all("ExecReload")
            .iter()
            .any(|c| c == "/bin/kill -HUP $MAINPID"),
        "reload is SIGHUP"
    );
    let stop = unit.one("TimeoutStopSec");
    let stop: u64 = stop.strip_suffix('s').unwrap_or(stop).parse().unwrap();
    assert!(
        stop > LANE_GRACE_SECS,
        "TimeoutStopSec {stop} cuts the drain short"
    );

    // The queue is in the StateDirectory and the filter cache in the CacheDirectory: with
    // ProtectSystem=strict, nothing else is writable.
    let config_path = unit.config_path();
    let config = config(&deploy("systemd/switchyard.toml"));
    let state = format!("/var/lib/{}", unit.one("StateDirectory"));
    let cache = format!("/var/cache/{}", unit.one("CacheDirectory"));
    for (table, key, dir) in [("queue", "dir", &state), ("filters", "cache_dir", &cache)] {
        let path = resolve(&config_path, setting(&config, table, key));
        assert!(
            is_under(&path, dir),
            "{table}.{key} {path} is not under {dir}"
        );
    }

    // systemd-sysusers creates the user the unit runs as.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let sysusers = deploy("systemd/switchyard.sysusers.conf");
    tool(
        "systemd-sysusers",
        &[
            &format!("--root={}", root.path().display()),
            sysusers.to_str().unwrap(),
        ],
    );
    let passwd = read(&root.path().join("etc/passwd"));
    let user = unit.one("User");
    assert!(
        passwd.lines().any(|l| l.starts_with(&format!("{user}:"))),
        "{passwd}"
    );
    let group = read(&root.path().join("etc/group"));
    assert!(
        group
            .lines()
            .any(|l| l.starts_with(&format!("{}:", unit.one("Group"))))
    );
}

#[test]
fn the_config_passes_check_where_the_unit_has_it() {
    let config = config(&deploy("systemd/switchyard.toml"));
    Root::new().check_installed(&Unit::load().config_path(), &config);
}

#[test]
fn the_gateway_tells_systemd_when_it_is_ready_and_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let receive = || {
        let mut buf = [0; 512];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    let gateway = Gateway::start_with(
        &one_app_config("", ""),
        "switchyard.toml",
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    assert_eq!(
        receive(),
        format!("READY=1\nSTATUS=listening on {}", gateway.addr)
    );
    // Ready means accepting.
    let health = client().get(gateway.url("/healthz")).send().unwrap();
    assert_eq!(health.status(), 200);
    let stopped = gateway.stop_keeping_data();
    assert_eq!(receive(), "STOPPING=1\nSTATUS=draining");
    assert!(stopped.status.success(), "{:?}", stopped.logs);
}

/// Every system call of `sets` (`@system-service`, `read`), the named sets expanded as
/// `systemd-analyze syscall-filter` lists them.
fn syscalls(sets: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in sets.split_whitespace() {
        if !name.starts_with('@') {
            out.insert(name.to_owned());
            continue;
        }
        let listing = systemd_analyze(&["syscall-filter", "--no-pager", name]);
        let members = listing
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        for member in members {
            out.extend(syscalls(member));
        }
    }
    out
}

/// What the unit's `SystemCallFilter=` lines allow: the first is an allow list, each later
/// `~` line takes calls away (systemd.exec(5)).
fn allowed_syscalls(unit: &Unit) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    for (i, filter) in unit.all("SystemCallFilter").iter().enumerate() {
        match filter.strip_prefix('~') {
            Some(denied) => syscalls(denied).iter().for_each(|s| {
                allowed.remove(s);
            }),
            None if i == 0 => allowed = syscalls(filter),
            None => allowed.extend(syscalls(filter)),
        }
    }
    assert!(!allowed.is_empty(), "the unit has no allow list");
    allowed
}

/// The system calls in an `strace -f` log, and the address families of the sockets made.
fn traced(log: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut calls = BTreeSet::new();
    let mut families = BTreeSet::new();
    for line in log.lines() {
        // "PID name(args) = result"; "PID <... name resumed>", "+++ exited", "--- SIGTERM"
        // repeat or are not calls.
        let Some((_, call)) = line.split_once(' ') else {
            continue;
        };
        let Some((name, args)) = call.trim_start().split_once('(') else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        if name == "socket" || name == "socketpair" {
            families.insert(args.split(',').next().unwrap().to_owned());
        }
        calls.insert(name.to_owned());
    }
    (calls, families)
}

/// The gateway strace started: the first process its log names. A test that fails kills
/// strace, which leaves its tracee running, so dropping this kills the gateway too.
struct Tracee {
    log: std::path::PathBuf,
}

impl Tracee {
    fn pid(&self) -> Option<u32> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        log.split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Tracee {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        // Only while that process is still the gateway (a process id can be reused).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).starts_with(binary()) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A too narrow filter kills the service with SIGSYS in production, at the first call it
/// forgot. So the gateway runs under strace through what a service does, and every call it
/// makes must be one the unit allows, every socket of a family it allows.
#[test]
fn the_units_sandbox_allows_every_call_the_gateway_makes() {
    let unit = Unit::load();
    let allowed = allowed_syscalls(&unit);
    let families: BTreeSet<&str> = unit
        .one("RestrictAddressFamilies")
        .split_whitespace()
        .collect();

    let sink = Sink::start(SECRET, KEY);
    let dir = tempfile::tempdir().unwrap();
    let module = guests::wasm("filter-presence-allowlist");
    // `localhost` has two addresses, so resolving it takes glibc's sorting path too.
    let target = sink.url("/hooks").replace("127.0.0.1", "localhost");
    let config = one_app_config(
        &format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[queue]\ndir = \"{state}\"\n[filters]\ncache_dir = \"{cache}\"\n[delivery]\nretry = {{ initial_interval_ms = 50 }}",
            state = dir.path().join("state").display(),
            cache = dir.path().join("cache").display(),
        ),
        &format!(
            "[[apps.webhooks]]\nid = \"hooks\"\nurl = \"{target}\"\nevent_types = [\"member_added\"]\nfilters = [{{ module = \"{module}\", params = {{ users = [\"7\"] }} }}]\n\n[[apps.webhooks]]\nid = \"refused\"\nurl = \"http://127.0.0.1:1/\"\nevent_types = [\"member_added\"]",
            module = module.display(),
        ),
    );
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    // Not beside the config: the gateway watches that directory, and every line strace
    // wrote there would wake it to write more.
    let trace_dir = tempfile::tempdir().unwrap();
    let tracee = Tracee {
        log: trace_dir.path().join("strace.log"),
    };
    let gateway = Gateway::start_under(
        &["strace", "-f", "-qq", "-o", tracee.log.to_str().unwrap()],
        &path,
        dir,
        &[],
    );
    let pid = tracee.pid().unwrap();

    let event = json!({"name": "member_added", "channel": "presence-a", "user_id": "7"});
    assert_eq!(post_signed(&gateway, KEY, SECRET, &batch(&[event])).0, 200);
    assert_eq!(sink.expect(1)[0].path, "/hooks");
    gateway.wait_for_log(&["delivery failed", "refused"]);
    assert_eq!(
        client()
            .get(gateway.url("/metrics"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(gateway.status()["apps"][0]["id"], "app-1");
    kill("HUP", pid);
    gateway.wait_for_log(&["reloaded"]);
    kill("TERM", pid);
    let stopped = gateway.wait_keeping_data();
    assert!(stopped.status.success(), "{:?}", stopped.logs);

    let (calls, used_families) = traced(&read(&tracee.log));
    assert!(
        calls.contains("epoll_wait") && calls.contains("mprotect"),
        "{calls:?}"
    );
    let denied: Vec<&String> = calls.difference(&allowed).collect();
    assert!(
        denied.is_empty(),
        "the gateway made calls SystemCallFilter= does not allow: {denied:?}"
    );
    let refused: Vec<&String> = used_families
        .iter()
        .filter(|f| !families.contains(f.as_str()))
        .collect();
    assert!(
        refused.is_empty(),
        "sockets of families RestrictAddressFamilies= refuses: {refused:?}"
    );
}

/// docs/deploy.md's commands installing the systemd example, as the exercise runs them:
/// the binary and filter from /built and the example from /deploy (mounted) rather than a
/// checkout, as root already, nothing to build.
fn documented_install() -> String {
    let docs = read(&repo_root().join("docs/deploy.md"));
    let section = docs.split("## A systemd service").nth(1).unwrap();
    let block = section.split("```sh\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    let install: Vec<String> = block
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .map(|l| {
            l.strip_prefix("sudo ")
                .unwrap_or(l)
                .replace("target/wasm32-wasip2/release/", "/built/")
                .replace("target/release/", "/built/")
                .replace(" deploy/systemd/", " /deploy/")
        })
        .collect();
    let install = install.join("\n");
    assert!(
        !install.contains("target/") && !install.contains(" deploy/"),
        "{install}"
    );
    assert!(
        install.contains("systemctl enable --now switchyard"),
        "{install}"
    );
    install
}

/// The unit as a real systemd runs it: a container (see [`Container`]) boots systemd as PID 1,
/// and tests/support/systemd_exercise.sh installs and starts the example with docs/deploy.md's
/// own commands (every hardening option of the unit applied), sends it an event that its
/// filter passes to a receiver, reloads it, has a broken config refused and stops it.
#[test]
fn the_unit_installs_starts_delivers_reloads_and_stops_under_systemd() {
    let mut host = Container::new(false);
    let built = host.built();
    for module in modules(&config(&deploy("systemd/switchyard.toml"))) {
        let file_name = Path::new(&module).file_name().unwrap().to_str().unwrap();
        std::fs::copy(example_module(file_name), built.join(file_name)).unwrap();
    }
    let script = repo_root().join("tests/support/systemd_exercise.sh");
    std::fs::copy(script, built.join("exercise.sh")).unwrap();
    std::fs::write(built.join("install.sh"), documented_install()).unwrap();
    let exercise = built.join("switchyard-exercise.service");
    std::fs::write(
        &exercise,
        "[Service]\nType=oneshot\nExecStart=/bin/sh /built/exercise.sh\nExecStopPost=/bin/systemctl poweroff --no-block\n",
    )
    .unwrap();
    host.bind(&deploy("systemd"), "/deploy", true);
    host.bind(
        &exercise,
        "/run/systemd/system/switchyard-exercise.service",
        true,
    );
    // Boot into the exercise alone. An empty /etc looks like a first boot: no wizard, and no
    // waiting for a network the container does not have (network-online.target is then
    // reached at once, as on a host whose network is up).
    let boot = [
        "systemd.unit=switchyard-exercise.service",
        "systemd.firstboot=off",
        "systemd.mask=systemd-networkd-wait-online.service",
    ]
    .map(String::from);
    let results = host.start(true, &boot).finish();
    let journal = results.logs();

    results.ok("install");
    // Type=notify: `enable --now` returned after READY=1, with the status the gateway sent.
    let state = results.ok("state");
    assert!(
        state.contains("ActiveState=active") && state.contains("SubState=running"),
        "{state}"
    );
    assert!(
        state.contains("StatusText=listening on 127.0.0.1:7700"),
        "{state}"
    );
    assert_eq!(results.ok("healthz").trim(), "ok");
    assert!(results.ok("status").contains("\"id\":\"app-1\""));
    results.ok("send");
    let received = results.file("received");
    assert!(
        received.starts_with("/hooks ") && received.contains("\"user_id\":\"7\""),
        "the receiver got {received:?}; journal:\n{journal}"
    );
    results.ok("reload");
    assert!(journal.contains("reloaded trigger=Signal"), "{journal}");
    // `systemctl reload` of a broken config fails, names the problem, and the gateway
    // keeps serving.
    let (rc, _) = results.step("reload_broken");
    assert_ne!(rc, "0", "a broken config reloaded; journal:\n{journal}");
    assert!(
        journal.contains("unknown_setting: unknown field"),
        "{journal}"
    );
    assert_eq!(results.ok("still_active").trim(), "active");
    results.ok("stop");
    assert!(journal.contains("drained"), "{journal}");
    let stopped = results.ok("stopped");
    assert!(
        stopped.contains("Result=success") && stopped.contains("ExecMainStatus=0"),
        "{stopped}"
    );
}
