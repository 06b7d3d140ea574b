//! A real `redis-server` on a free loopback port, with its data in a temporary directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{ChildGuard, PATIENCE, collect_output, free_port, start_on_a_free_port};

/// The password every test server asks for: the gateway's URL carries it (AUTH).
pub const REDIS_PASSWORD: &str = "test-secret";

/// A `redis-server` with the append-only file on and fsynced on every write
/// (`appendfsync always`), so a restart loses nothing it acknowledged.
pub struct Redis {
    child: Option<ChildGuard>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let (child, port) = start_on_a_free_port("redis-server", || {
            let port = free_port();
            spawn(dir.path(), port).map(|child| (child, port))
        });
        Redis {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `redis://` with the password, for the gateway's `[queue] url`.
    pub fn url(&self) -> String {
        format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no shutdown save; only the append-only file remains).
    pub fn kill(&mut self) {
        self.child.take();
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match spawn(self.dir.path(), self.port) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(output) => assert!(
                    Instant::now() < deadline,
                    "redis-server did not start again: {}",
                    output.join("\n")
                ),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn spawn(dir: &std::path::Path, port: u16) -> Result<ChildGuard, Vec<String>> {
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--requirepass", REDIS_PASSWORD])
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-server is installed (tests/setup.sh)");
    let output = collect_output(&mut child);
    let child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ping(port) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(output.lock().unwrap().clone())
}

/// Whether a server answers an authenticated PING on `port`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let command = format!("AUTH {REDIS_PASSWORD}\r\nPING\r\n");
    if stream.write_all(command.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0; 64];
    while !answer.ends_with(b"+PONG\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    true
}
