//! The CLI, and Pusher's Python SDK as a second opinion on signatures.

use std::io::Write;
use std::process::{Command, Stdio};

use super::{Received, binary, repo_root};

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
