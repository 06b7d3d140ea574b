//! The HTTP receivers and what they received: the Node.js sink (tests/support/sink.js) and the
//! Python receiver checking with the Standard Webhooks library
//! (tests/support/standard_webhooks_receiver.py). Both print the same records.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use super::{ChildGuard, PATIENCE, repo_root};

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
    /// The Standard Webhooks library's `verify`: `valid`, or why it refused the request.
    pub standard_webhooks: Option<String>,
    /// The status the sink answered.
    pub status: u16,
    /// When the sink received it (its clock, milliseconds since the Unix epoch).
    pub received_ms: u64,
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

    /// `X-Switchyard-Delivery`: the same on every attempt of one delivery.
    pub fn delivery_id(&self) -> &str {
        self.header("x-switchyard-delivery")
    }

    /// `X-Switchyard-Attempt`, 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.header("x-switchyard-attempt").parse().unwrap()
    }

    /// `data` of each delivered event.
    pub fn event_data(&self) -> Vec<String> {
        let body = self.json();
        let events = body["events"].as_array().unwrap();
        events
            .iter()
            .map(|e| e["data"].as_str().unwrap_or_default().to_owned())
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
        let mut node = Command::new("node");
        node.arg(repo_root().join("tests/support/sink.js"))
            .env("SINK_SECRET", secret)
            .env("SINK_KEY", key);
        Self::spawn(node, "node must be installed (tests/run.sh installs it)")
    }

    /// A Python receiver that verifies every request with the official Standard Webhooks
    /// library and the `whsec_` `secret`: it answers 401 to what the library refuses, and 503
    /// once per webhook-id under `/fail-once/`.
    pub fn start_standard_webhooks(secret: &str) -> Sink {
        let mut python = Command::new("python3");
        python
            .arg(repo_root().join("tests/support/standard_webhooks_receiver.py"))
            .env("WEBHOOK_SECRET", secret);
        Self::spawn(
            python,
            "python3 must be installed (tests/run.sh installs it)",
        )
    }

    /// Starts a receiver that prints `listening <port>`, then one JSON record per request.
    fn spawn(mut command: Command, missing: &str) -> Sink {
        let mut child = command.stdout(Stdio::piped()).spawn().expect(missing);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .expect("the receiver did not start (tests/setup.sh installs what it needs)");
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
                    standard_webhooks: v["standard_webhooks"].as_str().map(str::to_owned),
                    status: v["status"].as_u64().unwrap() as u16,
                    received_ms: v["received_ms"].as_u64().unwrap(),
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

    /// Sets how the sink answers requests to `path`: `{"status", "times"?, "retry_after"?,
    /// "match"?}` (see tests/support/sink.js).
    pub fn behave(&self, path: &str, behaviour: Value) {
        let response = super::client()
            .put(self.url("/__behaviour"))
            .query(&[("path", path)])
            .body(behaviour.to_string())
            .send()
            .unwrap();
        assert!(response.status().is_success());
    }

    /// POSTs `body` with `headers` to the receiver itself (a captured delivery, replayed or
    /// altered) and returns its record of it. Only while nothing else is being delivered to it.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Received {
        let mut request = super::client().post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().unwrap();
        self.expect(1).remove(0)
    }

    /// Requests to `path` are answered 200 again.
    pub fn recover(&self, path: &str) {
        let url = self.url("/__behaviour");
        let response = super::client()
            .delete(url)
            .query(&[("path", path)])
            .send()
            .unwrap();
        assert!(response.status().is_success());
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

    /// Collects requests until `done` holds for all collected so far (fails after
    /// [`PATIENCE`]).
    pub fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(received) => got.push(received),
                Err(_) => panic!("waiting for {what}, the sink got: {got:#?}"),
            }
        }
        got
    }

    /// The next request, if one arrives within `within` (for tests that collect until done).
    pub fn next_within(&self, within: Duration) -> Option<Received> {
        match self.rx.recv_timeout(within) {
            Ok(received) => Some(received),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("sink process died"),
        }
    }

    /// Asserts nothing more arrives: once `gateway` has nothing left to deliver (a receiver
    /// is answered only after its record is written, so one more moment covers the pipe).
    pub fn assert_nothing_more(&self, gateway: &super::Gateway) {
        gateway.wait_until_delivered();
        match self.rx.recv_timeout(Duration::from_millis(100)) {
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
