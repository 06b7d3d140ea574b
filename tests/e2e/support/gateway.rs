//! The real `switchyard` binary, serving a config in a temporary directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ChildGuard, PATIENCE};

/// How long a start may take: the gateway compiles its filters before it listens, and a
/// JavaScript filter's first compile takes seconds (more on a machine busy with other tests).
const START_PATIENCE: Duration = Duration::from_secs(120);

/// The real `switchyard` binary, serving a config written to a temp dir.
pub struct Gateway {
    child: ChildGuard,
    pub addr: SocketAddr,
    /// The admin listener (`/status`, `/admin/reload`).
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The config file it serves.
    pub config: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    /// Reads the process's log lines until it exits.
    reader: Option<std::thread::JoinHandle<()>>,
}

/// A gateway that stopped, its directory (config, data) kept for a restart.
pub struct Stopped {
    pub status: std::process::ExitStatus,
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
    /// Every log line it wrote, to its exit.
    pub logs: Vec<String>,
}

impl Stopped {
    /// Starts the gateway again on the same config and data.
    pub fn restart(self) -> Gateway {
        Gateway::start_at(&self.config.clone(), self.dir, &[])
    }
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
        Self::start_under(&[], path, dir, env)
    }

    /// Starts `switchyard run` as [`Gateway::start_at`] does, under `wrapper` (a program and
    /// its arguments, the binary's command line appended: `strace -f -o FILE`); then
    /// [`Gateway::pid`] is the wrapper's.
    pub fn start_under(
        wrapper: &[&str],
        path: &Path,
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Gateway {
        let mut command = match wrapper {
            [] => Command::new(binary()),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(binary());
                command
            }
        };
        let mut child = command
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
        let reader = std::thread::spawn(move || {
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
        let (addr, admin) = match addr_rx.recv_timeout(START_PATIENCE) {
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
            config: path.to_owned(),
            logs,
            reader: Some(reader),
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
        self.admin_get("/status")
    }

    /// `POST <path>` to the admin listener, with no token: its status and JSON answer.
    pub fn admin_post(&self, path: &str) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .post(self.admin_url(path))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().unwrap()).unwrap(),
        )
    }

    /// `GET <path>` from the admin listener, with no token, as JSON.
    pub fn admin_get(&self, path: &str) -> Value {
        let text = reqwest::blocking::get(self.admin_url(path))
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Waits until `/status` satisfies `done`; returns that status.
    pub fn wait_for_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_status_within(what, PATIENCE, done)
    }

    /// Waits up to `patience` until `/status` satisfies `done`; returns that status.
    pub fn wait_for_status_within(
        &self,
        what: &str,
        patience: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
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

    /// Sends SIGTERM, waits for the exit, and keeps the directory for [`Stopped::restart`].
    pub fn stop_keeping_data(self) -> Stopped {
        self.end_with(Some("TERM"))
    }

    /// Kills the process with SIGKILL (no shutdown at all) and keeps the directory.
    pub fn kill_keeping_data(self) -> Stopped {
        self.end_with(Some("KILL"))
    }

    /// Waits for the process to exit by itself (a signal sent some other way), keeping the
    /// directory.
    pub fn wait_keeping_data(self) -> Stopped {
        self.end_with(None)
    }

    fn end_with(mut self, signal: Option<&str>) -> Stopped {
        if let Some(signal) = signal {
            self.signal(signal);
        }
        let status = self.child.0.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        Stopped {
            status,
            logs: self.logs(),
            config: self.config,
            dir: self.dir,
        }
    }

    /// `switchyard dlq ARGS` against this gateway's config and admin listener.
    pub fn dlq(&self, args: &[&str]) -> (i32, String) {
        let admin = self.admin_url("");
        let config = self.config.to_str().unwrap();
        let mut all = vec!["dlq", "--config", config, "--admin", &admin];
        all.extend_from_slice(args);
        super::run_cli(&all)
    }

    /// Waits until a metric sample has `value`.
    pub fn wait_for_metric(&self, sample: &str, value: f64) {
        let deadline = Instant::now() + PATIENCE;
        while self.metric(sample) != Some(value) {
            assert!(
                Instant::now() < deadline,
                "{sample} stayed at {:?}, not {value}",
                self.metric(sample)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no event waits for delivery to any webhook (each was delivered or
    /// dead-lettered): after it, what a receiver has not got, it will not get.
    pub fn wait_until_delivered(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = reqwest::blocking::get(self.url("/metrics"))
                .unwrap()
                .text()
                .unwrap();
            let waiting: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("switchyard_queue_events{") && !l.ends_with(" 0"))
                .collect();
            if waiting.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "still waiting: {waiting:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The sum of every sample of family `name` whose labels include all of `labels`.
    pub fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = reqwest::blocking::get(self.url("/metrics"))
            .unwrap()
            .text()
            .unwrap();
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        text.lines()
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let rest = series.strip_prefix(name)?;
                let inside = match rest {
                    "" => "",
                    _ => rest.strip_prefix('{')?.strip_suffix('}')?,
                };
                let have: Vec<&str> = inside.split(',').collect();
                wanted
                    .iter()
                    .all(|w| have.contains(&w.as_str()))
                    .then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }

    /// The value of a metric sample in `/metrics` (`name{labels}` exactly as written there).
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let text = reqwest::blocking::get(self.url("/metrics"))
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
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
