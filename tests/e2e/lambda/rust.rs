//! The Rust example handler (examples/lambda/rust) under cargo-lambda's emulator
//! (`cargo lambda watch`), invoked by the real gateway. cargo-lambda builds and runs the
//! function itself; unlike Lambda it runs Event invocations synchronously and answers a
//! handler error with HTTP 500, so only RequestResponse behaviour is checked here (the Node.js
//! tests cover the rest against serverless-offline).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::emulator::{Record, RecordFile};
use super::{
    KEY, PRESENCE_EVENTS, SECRET, TRICKY_CLIENT_EVENT, config, expected_events, send, start_gateway,
};
use crate::support::free_port;
use crate::support::{collect_output, repo_root};

const FUNCTION: &str = "switchyard-lambda-example";

/// Kills the whole process group on drop: cargo-lambda → `cargo run` → the function.
struct GroupGuard(Child);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// A running `cargo lambda watch` serving the example function.
struct CargoLambda {
    _child: GroupGuard,
    port: u16,
    _dir: tempfile::TempDir,
    records: RecordFile,
    output: Arc<Mutex<Vec<String>>>,
}

impl CargoLambda {
    fn start(secret: &str) -> CargoLambda {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records.jsonl");
        let mut child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .arg("--env-var")
            .arg(format!("SOKETI_SECRET={secret}"))
            .arg("--env-var")
            .arg(format!("SWITCHYARD_LAMBDA_RECORD={}", records.display()))
            .current_dir(repo_root().join("examples/lambda/rust"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("cargo must be on PATH");
        let output = collect_output(&mut child);
        CargoLambda {
            _child: GroupGuard(child),
            port,
            _dir: dir,
            records: RecordFile(records),
            output,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Invokes the function directly, waiting for cargo-lambda to be up and for `cargo run`
    /// to build the function (minutes on a cold target directory).
    fn warm_up(&self) -> (u16, String) {
        let url = format!(
            "{}/2015-03-31/functions/{FUNCTION}/invocations",
            self.endpoint()
        );
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap();
        let unsigned = r#"{"payload":{"time_ms":1,"events":[]},"headers":{}}"#;
        for _ in 0..600 {
            match client.post(&url).body(unsigned).send() {
                Ok(response) => {
                    return (
                        response.status().as_u16(),
                        response.text().unwrap_or_default(),
                    );
                }
                Err(e) if e.is_connect() => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!(
                    "invoking through cargo-lambda failed: {e}; output:\n{}",
                    self.output()
                ),
            }
        }
        panic!(
            "cargo lambda watch did not start (tests/setup.sh installs it); output:\n{}",
            self.output()
        );
    }
}

#[test]
fn the_rust_handler_under_cargo_lambda_verifies_the_gateways_signature() {
    let emulator = CargoLambda::start(SECRET);
    // An unsigned invocation is refused by the handler (cargo-lambda answers handler errors
    // with HTTP 500 and the function's error as the body).
    let (status, body) = emulator.warm_up();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("InvalidSignature"), "{body}");

    let webhook = format!(
        r#"
[[apps.webhooks]]
id = "rust"
lambda_function = "{FUNCTION}"
event_types = ["client_event", "member_added", "member_removed"]
headers = {{ "X-Tenant" = "acme" }}
lambda = {{ client_options = {{ region = "eu-central-1", endpoint = "{}", credentials = {{ accessKeyId = "AKIDEXAMPLE", secretAccessKey = "test-secret-key" }} }} }}
"#,
        emulator.endpoint()
    );
    let gateway = start_gateway(&config(&webhook), &[]);
    send(
        &gateway,
        &[
            TRICKY_CLIENT_EVENT,
            PRESENCE_EVENTS[0],
            PRESENCE_EVENTS[2],
            PRESENCE_EVENTS[1],
        ],
    );

    let verified =
        emulator
            .records
            .wait(1, |r| r.signature_ok() == Some(true), || emulator.output());
    let record: &Record = &verified[0];
    assert_eq!(record.function(), FUNCTION);
    assert_eq!(
        record.events_json(),
        expected_events(&[TRICKY_CLIENT_EVENT, PRESENCE_EVENTS[0], PRESENCE_EVENTS[1]])
    );
    assert_eq!(record.header("X-Pusher-Key"), Some(KEY));
    assert_eq!(record.header("X-Tenant"), Some("acme"));
    assert_eq!(
        record.handled(),
        [
            "client event client-typing on private-chat from socket 123.456",
            "user 42 joined presence-lobby",
            "user 42 left presence-lobby"
        ]
    );
    gateway.wait_for_log(&[
        "lambda invoked",
        "\"invocation_type\":\"RequestResponse\"",
        "\"status\":200",
    ]);
}
