//! A real Lambda emulator: serverless-offline serving the Lambda Invoke API on a free loopback
//! port, running the Node.js handlers of tests/lambda/serverless.yml. Handlers append one JSON
//! line per invocation to a record file the test reads.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard::json::{self, JsValue};

use crate::support::{
    ChildGuard, PATIENCE, collect_output, free_port, repo_root, start_on_a_free_port,
};

/// The serverless service's function names (`<service>-<stage>-<key>`).
pub const WEBHOOKS_FN: &str = "switchyard-test-webhooks";
pub const THROWS_FN: &str = "switchyard-test-throws";
pub const GATED_FN: &str = "switchyard-test-gated";

/// A running serverless-offline process; killed on drop.
pub struct Emulator {
    _child: ChildGuard,
    pub port: u16,
    dir: tempfile::TempDir,
    output: Arc<Mutex<Vec<String>>>,
}

impl Emulator {
    /// Starts the emulator with `secret` as the handlers' SOKETI_SECRET.
    pub fn start(secret: &str) -> Emulator {
        start_on_a_free_port("serverless-offline", || Self::try_start(secret))
    }

    fn try_start(secret: &str) -> Result<Emulator, Vec<String>> {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let serverless = repo_root().join("tests/node/node_modules/serverless/bin/serverless.js");
        let mut child = Command::new("node")
            .arg(serverless)
            .args([
                "offline",
                "start",
                "--host",
                "127.0.0.1",
                "--lambdaPort",
                &port.to_string(),
            ])
            .current_dir(repo_root().join("tests/lambda"))
            .env("SOKETI_SECRET", secret)
            .env("SWITCHYARD_LAMBDA_RECORD", dir.path().join("records.jsonl"))
            .env("SWITCHYARD_LAMBDA_GATE", dir.path().join("gate"))
            // No telemetry, update checks or notifications: the tests have no network.
            .env("SLS_TELEMETRY_DISABLED", "1")
            .env("SLS_NOTIFICATIONS_MODE", "off")
            .env("SLS_DEPRECATION_DISABLE", "*")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node must be installed (tests/setup.sh installs it)");
        let output = collect_output(&mut child);
        let child = ChildGuard(child);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let lines = output.lock().unwrap();
            if lines.iter().any(|l| l.contains("listening on")) {
                drop(lines);
                return Ok(Emulator {
                    _child: child,
                    port,
                    dir,
                    output,
                });
            }
            drop(lines);
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(output.lock().unwrap().clone())
    }

    /// The `endpoint` to give the Lambda client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the emulator printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Lets the `gated` handler go on.
    pub fn open_gate(&self) {
        std::fs::write(self.dir.path().join("gate"), b"open").unwrap();
    }

    /// The records so far.
    pub fn records(&self) -> Vec<Record> {
        self.record_file().records()
    }

    /// Waits until at least `n` records satisfy `which`; returns those.
    pub fn wait_records(&self, n: usize, which: impl Fn(&Record) -> bool) -> Vec<Record> {
        self.record_file()
            .wait(n, which, || self.output().join("\n"))
    }

    fn record_file(&self) -> RecordFile {
        RecordFile(self.dir.path().join("records.jsonl"))
    }
}

/// The JSONL file handlers append their records to.
pub struct RecordFile(pub PathBuf);

impl RecordFile {
    /// The records so far.
    pub fn records(&self) -> Vec<Record> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        text.lines().map(Record::parse).collect()
    }

    /// Waits until at least `n` records satisfy `which`; returns those. `output` tells what
    /// the emulator printed, for the failure message.
    pub fn wait(
        &self,
        n: usize,
        which: impl Fn(&Record) -> bool,
        output: impl Fn() -> String,
    ) -> Vec<Record> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found: Vec<Record> = self.records().into_iter().filter(&which).collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} expected handler records; emulator output:\n{}",
                found.len(),
                output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One handler invocation as the handler recorded it. Parsed with Switchyard's JS-compatible
/// JSON, because what the handler saw may hold lone surrogates (which serde_json refuses) and
/// numbers whose exact JS form matters.
#[derive(Debug, Clone)]
pub struct Record {
    pub value: JsValue,
}

impl Record {
    fn parse(line: &str) -> Record {
        let value =
            json::parse(line.as_bytes()).unwrap_or_else(|e| panic!("bad record {line}: {e}"));
        Record { value }
    }

    fn field(&self, name: &str) -> Option<&JsValue> {
        self.value.as_object().unwrap().get(name)
    }

    pub fn function(&self) -> &str {
        self.field("function")
            .and_then(JsValue::as_str)
            .unwrap_or_default()
    }

    pub fn signature_ok(&self) -> Option<bool> {
        self.field("signature_ok").and_then(JsValue::as_bool)
    }

    pub fn is_start(&self) -> bool {
        self.field("started").and_then(JsValue::as_bool) == Some(true)
    }

    /// A header as the handler's `headers` object has it (names keep their case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.field("headers")?.as_object()?.get(name)?.as_str()
    }

    /// Every header name the handler got, in order.
    pub fn header_names(&self) -> Vec<String> {
        let headers = self.field("headers").and_then(JsValue::as_object);
        headers
            .map(|h| h.iter().map(|(k, _)| k.to_string_lossy()).collect())
            .unwrap_or_default()
    }

    /// `JSON.stringify(payload)` as the handler computed it: the bytes it signed.
    pub fn payload_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.field("payload")
            .expect("record has a payload")
            .write_json(&mut out);
        out
    }

    /// `JSON.stringify(payload.events)`.
    pub fn events_json(&self) -> String {
        let payload = self
            .field("payload")
            .and_then(JsValue::as_object)
            .expect("payload object");
        let mut out = Vec::new();
        payload
            .get("events")
            .expect("payload.events")
            .write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// What the example handler did with each event.
    pub fn handled(&self) -> Vec<String> {
        let handled = self
            .field("handled")
            .and_then(JsValue::as_array)
            .unwrap_or_default();
        handled
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

/// `JSON.stringify(JSON.parse(text))`, for expected values.
pub fn js_stringify(text: &str) -> String {
    let mut out = Vec::new();
    json::parse(text.as_bytes()).unwrap().write_json(&mut out);
    String::from_utf8(out).unwrap()
}
