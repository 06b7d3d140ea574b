//! A real soketi 1.6.1 (from tests/node) and a driver of real pusher-js clients
//! (tests/soketi/driver.js). Both are killed when their handles drop.

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::support::{
    ChildGuard, PATIENCE, collect_output, free_port, repo_root, start_on_a_free_port,
};

/// A soketi process on loopback.
pub struct Soketi {
    _child: ChildGuard,
    pub port: u16,
    _dir: tempfile::TempDir,
    output: Arc<Mutex<Vec<String>>>,
}

impl Soketi {
    /// Starts soketi with `options` (a JSON object of soketi options, dotted keys welcome)
    /// after settings that keep it on loopback with free ports. Options come after, so a test
    /// may override anything.
    pub fn start(options: &Value) -> Soketi {
        start_on_a_free_port("soketi", || Self::try_start(options))
    }

    fn try_start(options: &Value) -> Result<Soketi, Vec<String>> {
        let port = free_port();
        let mut config = loopback(port);
        config.extend(
            options
                .as_object()
                .expect("soketi options are an object")
                .clone(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("soketi.json");
        std::fs::write(&path, Value::Object(config).to_string()).unwrap();
        let server = repo_root().join("tests/node/node_modules/@soketi/soketi/bin/server.js");
        let mut command = Command::new("node");
        command
            .arg(server)
            .arg("start")
            .arg(format!("--config={}", path.display()))
            // soketi reads `.env` from its working directory: an empty one.
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SOKETI_* variables override the file: none from the machine may leak in.
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("SOKETI_")) {
            command.env_remove(name);
        }
        let mut child = command
            .spawn()
            .expect("node must be installed (tests/setup.sh)");
        let output = collect_output(&mut child);
        let child = ChildGuard(child);
        // soketi logs "up and running" even when its port was taken meanwhile: ask it.
        let deadline = Instant::now() + PATIENCE;
        let mut up_since = None;
        while Instant::now() < deadline {
            let answer =
                reqwest::blocking::get(format!("http://127.0.0.1:{port}/")).and_then(|r| r.text());
            if answer.is_ok_and(|body| body == "OK") {
                return Ok(Soketi {
                    _child: child,
                    port,
                    _dir: dir,
                    output,
                });
            }
            if output
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("up and running"))
            {
                let since = *up_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(output.lock().unwrap().clone())
    }

    /// What soketi printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

/// soketi binds 0.0.0.0 and broadcasts cluster discovery over UDP by default: everything on
/// loopback instead, each instance on its own ports. Dotted keys, because an object would
/// replace all of soketi's defaults under it.
fn loopback(port: u16) -> Map<String, Value> {
    let config = json!({
        "host": "127.0.0.1",
        "port": port,
        "metrics.host": "127.0.0.1",
        "metrics.port": free_port(),
        "cluster.address": "127.0.0.1",
        "cluster.unicast": "127.0.0.1",
        "cluster.port": free_udp_port(),
        "shutdownGracePeriod": 100,
    });
    config.as_object().unwrap().clone()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An app as soketi and the driver know it.
#[derive(Debug, Clone, Copy)]
pub struct AppCreds {
    pub id: &'static str,
    pub key: &'static str,
    pub secret: &'static str,
}

/// pusher-js clients driven through tests/soketi/driver.js, one command at a time.
pub struct Driver {
    _child: ChildGuard,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    next_id: u64,
    /// Lines that were not the reply being waited for (events clients received).
    seen: Vec<Value>,
}

impl Driver {
    pub fn start(soketi: &Soketi, app: AppCreds) -> Driver {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/soketi/driver.js"))
            .env("DRIVER_PORT", soketi.port.to_string())
            .env("DRIVER_APP_ID", app.id)
            .env("DRIVER_KEY", app.key)
            .env("DRIVER_SECRET", app.secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node must be installed (tests/setup.sh)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).unwrap_or(json!({ "raw": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut driver = Driver {
            _child: ChildGuard(child),
            stdin,
            lines,
            next_id: 0,
            seen: Vec::new(),
        };
        driver.wait_line("the driver to start", |l| l["ready"] == true);
        driver
    }

    /// Sends one command and waits for its reply; a reply with `error` fails the test.
    pub fn call(&mut self, mut command: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        command["id"] = json!(id);
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let reply = self.wait_line(&format!("a reply to {command}"), |l| l["id"] == id);
        assert!(
            reply.get("error").is_none(),
            "driver: {command} failed: {reply}"
        );
        reply
    }

    /// Connects client `client` (as `user_id` on presence channels).
    pub fn connect(&mut self, client: &str, user_id: &str) {
        self.call(json!({ "op": "connect", "client": client, "user_id": user_id }));
    }

    /// Subscribes and waits for soketi's subscription_succeeded.
    pub fn subscribe(&mut self, client: &str, channel: &str) {
        self.call(json!({ "op": "subscribe", "client": client, "channel": channel }));
    }

    pub fn unsubscribe(&mut self, client: &str, channel: &str) {
        self.call(json!({ "op": "unsubscribe", "client": client, "channel": channel }));
    }

    /// Sends a client event and waits until `receiver` got it through soketi.
    pub fn client_event(
        &mut self,
        from: &str,
        receiver: &str,
        channel: &str,
        event: &str,
        data: Value,
    ) {
        let reply = self.call(json!({
            "op": "trigger", "client": from, "channel": channel, "event": event, "data": data
        }));
        assert_eq!(
            reply["sent"], true,
            "pusher-js refused to send {event}: {reply}"
        );
        self.wait_line(&format!("{receiver} to get {event} on {channel}"), |l| {
            l["client"] == receiver
                && l["received"]["event"] == event
                && l["received"]["channel"] == channel
        });
    }

    /// Disconnects and waits until the connection is closed.
    pub fn disconnect(&mut self, client: &str) {
        self.call(json!({ "op": "disconnect", "client": client }));
    }

    /// The first line (already seen or arriving within [`PATIENCE`]) that satisfies `which`.
    fn wait_line(&mut self, what: &str, which: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&which) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; lines: {:?}", self.seen));
            if which(&line) {
                return line;
            }
            self.seen.push(line);
        }
    }
}
