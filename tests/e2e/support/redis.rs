//! A real `redis-server` on a free loopback port, with its data in a temporary directory; over
//! TLS with a certificate of a test CA made by `openssl`, if asked.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
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
    tls: bool,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(false)
    }

    /// A server that speaks TLS only, its certificate (for 127.0.0.1) signed by [`Redis::ca_file`].
    pub fn start_tls() -> Redis {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        if tls {
            make_certificates(dir.path());
        }
        let (child, port) = start_on_a_free_port("redis-server", || {
            let port = free_port();
            spawn(dir.path(), port, tls).map(|child| (child, port))
        });
        Redis {
            child: Some(child),
            port,
            dir,
            tls,
        }
    }

    /// `redis://` (`rediss://` over TLS) with the password, for the gateway's `[queue] url`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// The test CA's certificate, which signed a TLS server's.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Kills the server (SIGKILL: no shutdown save; only the append-only file remains).
    pub fn kill(&mut self) {
        self.child.take();
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match spawn(self.dir.path(), self.port, self.tls) {
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

/// A CA, and a certificate for 127.0.0.1 it signed, in `dir`.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let subject = |cn: &str| format!("/CN={cn}");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        &subject("switchyard test CA"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        &subject("127.0.0.1"),
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}

fn spawn(dir: &Path, port: u16, tls: bool) -> Result<ChildGuard, Vec<String>> {
    let port = port.to_string();
    let listen: &[&str] = if tls {
        &[
            "--port",
            "0",
            "--tls-port",
            &port,
            "--tls-auth-clients",
            "no",
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.pem",
        ]
    } else {
        &["--port", &port]
    };
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1"])
        .args(listen)
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
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-server is installed (tests/setup.sh)");
    let output = collect_output(&mut child);
    let child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let port: u16 = port.parse().unwrap();
    while Instant::now() < deadline {
        // Over TLS, a connection accepted is enough: the gateway's own handshake tests the rest.
        let up = if tls {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        } else {
            ping(port)
        };
        if up {
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
