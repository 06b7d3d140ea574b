//! Real processes for end-to-end tests: the `switchyard` binary, a Node.js HTTP sink, and
//! helpers to post signed webhooks. Every process is killed when its handle drops.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

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

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The sink's check: HMAC(secret, JSON.stringify(JSON.parse(body))) == X-Pusher-Signature.
    pub js_signature_ok: Option<bool>,
    /// Pusher's Node SDK `webhook().isValid()`.
    pub pusher_sdk_valid: Option<bool>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("delivered body is JSON")
    }

    /// `(name, channel)` of each delivered event.
    pub fn event_names(&self) -> Vec<(String, String)> {
        self.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["channel"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// A Node.js HTTP receiver process (tests/support/sink.js).
pub struct Sink {
    _child: ChildGuard,
    pub port: u16,
    rx: Receiver<Received>,
}

impl Sink {
    /// A sink that also checks signatures as a JS receiver would, with `secret` and `key`.
    pub fn start(secret: &str, key: &str) -> Sink {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/support/sink.js"))
            .env("SINK_SECRET", secret)
            .env("SINK_KEY", key)
            .stdout(Stdio::piped())
            .spawn()
            .expect("node must be installed (tests/run.sh installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let port = first.strip_prefix("listening ").unwrap().parse().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap();
                let headers = v["headers"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                let body = base64::engine::general_purpose::STANDARD
                    .decode(v["body_base64"].as_str().unwrap())
                    .unwrap();
                let received = Received {
                    path: v["path"].as_str().unwrap().to_owned(),
                    headers,
                    body,
                    js_signature_ok: v["signature_ok"].as_bool(),
                    pusher_sdk_valid: v["pusher_sdk_valid"].as_bool(),
                };
                if tx.send(received).is_err() {
                    break;
                }
            }
        });
        Sink {
            _child: ChildGuard(child),
            port,
            rx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for exactly `n` requests (fails if fewer arrive within [`PATIENCE`]).
    pub fn expect(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        (0..n)
            .map(|i| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.rx
                    .recv_timeout(left)
                    .unwrap_or_else(|_| panic!("sink got only {i} of {n} expected requests"))
            })
            .collect()
    }

    /// The next request, if one arrives within `within` (for tests that collect until done).
    pub fn next_within(&self, within: Duration) -> Option<Received> {
        match self.rx.recv_timeout(within) {
            Ok(received) => Some(received),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("sink process died"),
        }
    }

    /// Asserts nothing (more) arrives within `quiet`.
    pub fn assert_quiet(&self, quiet: Duration) {
        match self.rx.recv_timeout(quiet) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(r) => panic!(
                "unexpected request to {}: {}",
                r.path,
                String::from_utf8_lossy(&r.body)
            ),
            Err(RecvTimeoutError::Disconnected) => panic!("sink process died"),
        }
    }
}

/// The real `switchyard` binary, serving a config written to a temp dir.
pub struct Gateway {
    child: ChildGuard,
    pub addr: SocketAddr,
    /// The admin listener (`/status`, `/admin/reload`).
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    logs: Arc<Mutex<Vec<String>>>,
}

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_switchyard")
}

impl Gateway {
    /// Writes `config` (TOML) and starts `switchyard run`. Unless the config has an `[admin]`
    /// table, the admin listener goes to a free loopback port so tests can run in parallel.
    pub fn start(config: &str) -> Gateway {
        Self::start_with(config, "switchyard.toml", &[])
    }

    /// Starts with a config file of the given name and extra environment variables.
    pub fn start_with(config: &str, file_name: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name);
        std::fs::write(&path, with_free_admin_port(config, file_name)).unwrap();
        Self::start_at(&path, dir, env)
    }

    /// Starts `switchyard run` on an existing config file; `dir` is kept for the gateway's life.
    pub fn start_at(path: &Path, dir: tempfile::TempDir, env: &[(&str, &str)]) -> Gateway {
        let mut child = Command::new(binary())
            .args(["--log-format", "json", "run", "--config"])
            .arg(path)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info,switchyard=debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr_tx, addr_rx) = channel();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(addr) = v["addr"].as_str()
                    && v["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("listening"))
                {
                    let admin = v["admin"].as_str().unwrap().parse::<SocketAddr>().unwrap();
                    let _ = addr_tx.send((addr.parse::<SocketAddr>().unwrap(), admin));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let (addr, admin) = match addr_rx.recv_timeout(PATIENCE) {
            Ok(addrs) => addrs,
            Err(_) => panic!(
                "gateway did not start; logs:\n{}",
                logs.lock().unwrap().join("\n")
            ),
        };
        Gateway {
            child: ChildGuard(child),
            addr,
            admin,
            dir,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// `GET /status` from the admin listener.
    pub fn status(&self) -> Value {
        let text = reqwest::blocking::get(self.admin_url("/status"))
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Waits until `/status` satisfies `done`; returns that status.
    pub fn wait_for_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let status = self.status();
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; status: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.pid().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{name}"), &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Log lines so far (JSON).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until a log line contains every one of `needles`; returns it.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self
                .logs()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}; logs:\n{}",
                self.logs().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.0.wait().unwrap()
    }
}

/// A TOML config with the admin listener on a free port, unless it says where.
pub fn with_free_admin_port(config: &str, file_name: &str) -> String {
    if file_name.ends_with(".toml") && !config.contains("[admin]") {
        format!("[admin]\nlisten = \"127.0.0.1:0\"\n{config}")
    } else {
        config.to_owned()
    }
}

/// A signed ingest request: returns (status, response body).
pub fn post_signed(gateway: &Gateway, key: &str, secret: &str, body: &str) -> (u16, String) {
    let signature = switchyard::signature::sign(secret, body.as_bytes());
    post_raw(
        gateway,
        &[("X-Pusher-Key", key), ("X-Pusher-Signature", &signature)],
        body.as_bytes().to_vec(),
    )
}

/// An ingest request with exactly these headers (plus JSON content type unless given).
pub fn post_raw(gateway: &Gateway, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.post(gateway.url("/ingest/pusher")).body(body);
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("Content-Type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// `{"time_ms": now, "events": events}` as a string.
pub fn batch(events: &[Value]) -> String {
    serde_json::json!({ "time_ms": switchyard::clock::now_ms(), "events": events }).to_string()
}

/// Runs a command to completion, returning (exit code, stdout + stderr).
pub fn run_cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(binary()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Validates deliveries with Pusher's Python SDK; one verdict line per body.
pub fn python_pusher_validate(key: &str, secret: &str, deliveries: &[Received]) -> Vec<String> {
    let mut child = Command::new("python3")
        .arg(repo_root().join("tests/support/pusher_validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for d in deliveries {
        let line = serde_json::json!({
            "key": key, "secret": secret,
            "signature": d.header("x-pusher-signature"),
            "body": String::from_utf8(d.body.clone()).unwrap(),
        });
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python pusher validation failed to run (pip install pusher)"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

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
    let output = root.join("target/wasm32-wasip2/release/filter_stamp.wasm");
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

/// Copies `from` over `to` the way deploys do: write beside it, then rename.
pub fn replace_file(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

/// What [`reload_soak`] saw.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub sent: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Events ingested after a swap was observed (and before the next began) that carry
    /// another version's stamp.
    pub stale: Vec<u64>,
    /// Events checked against the version live when they were ingested.
    pub checked: u64,
    /// From the rename of a new module to `/status` showing it live.
    pub swap_latencies: Vec<Duration>,
}

/// Under a steady load of signed webhooks (one event each, numbered in the order their POST
/// started), replaces the gateway's stamp filter `module` `reloads` times, alternating
/// `versions` (stamped `v1`, `v2`), then checks what the sink received. The gateway's one
/// webhook must run the stamp filter and deliver to `sink`.
pub fn reload_soak(
    gateway: &Arc<Gateway>,
    sink: &Sink,
    module: &Path,
    versions: &[PathBuf; 2],
    reloads: usize,
) -> SoakReport {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let next_seq = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (gateway, next_seq, stop) = (gateway.clone(), next_seq.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let seq = next_seq.fetch_add(1, Ordering::SeqCst);
                let body = batch(&[
                    serde_json::json!({"name": "channel_occupied", "channel": format!("seq-{seq}")}),
                ]);
                assert_eq!(post_signed(&gateway, KEY, SECRET, &body).0, 200);
            }
        })
    };
    let mut report = SoakReport::default();
    let mut windows = Vec::new();
    for i in 1..=reloads {
        let version = &versions[i % 2];
        let want = file_hash(version);
        let written = Instant::now();
        replace_file(version, module);
        gateway.wait_for_status("the swap", |s| module_hash(s) == want);
        report.swap_latencies.push(written.elapsed());
        // POSTs started from here on must meet the new version.
        let first = next_seq.load(Ordering::SeqCst) + 1;
        std::thread::sleep(Duration::from_millis(50));
        let last = next_seq.load(Ordering::SeqCst).saturating_sub(1);
        windows.push((first, last, format!("v{}", i % 2 + 1)));
    }
    stop.store(true, Ordering::SeqCst);
    loader.join().unwrap();
    report.sent = next_seq.load(Ordering::SeqCst);

    let mut stamps = HashMap::new();
    for delivery in sink.expect(report.sent as usize) {
        for event in delivery.json()["events"].as_array().unwrap() {
            let seq: u64 = event["channel"].as_str().unwrap()["seq-".len()..]
                .parse()
                .unwrap();
            let stamp = event["filter_stamp"].as_str().unwrap().to_owned();
            report.delivered += 1;
            if stamps.insert(seq, stamp).is_some() {
                report.duplicates += 1;
            }
        }
    }
    for (first, last, stamp) in windows {
        for seq in first..=last {
            report.checked += 1;
            if stamps.get(&seq) != Some(&stamp) {
                report.stale.push(seq);
            }
        }
    }
    report
}
