//! The `redis` group's Redis: Debian's `redis-server`, one per scenario, on a free port of
//! 127.0.0.1, its append-only file (on) and log in a directory of the scenario's own.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

use crate::runner::{Proc, free_port, spawn};

/// Starts a server in `dir` that fsyncs its append-only file on every write (`fsync_always`)
/// or once a second, and waits until it answers `PING`. Returns it and its `redis://` URL.
pub async fn start(dir: &Path, fsync_always: bool) -> anyhow::Result<(Proc, String)> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--appendonly", "yes", "--appendfsync"])
        .arg(if fsync_always { "always" } else { "everysec" })
        // No RDB snapshots: the append-only file is the durability measured.
        .args(["--save", "", "--daemonize", "no", "--logfile"])
        .arg(dir.join("redis.log"))
        .stdout(Stdio::null());
    let server = spawn(&mut cmd, &dir.join("redis.stderr"))?;
    let address = format!("127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if ping(&address).await.is_ok() {
            return Ok((server, format!("redis://{address}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    bail!(
        "redis-server on {address} did not answer PING within 10 s: {}",
        log.lines().last().unwrap_or("no log")
    )
}

async fn ping(address: &str) -> anyhow::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).await.context("PING")?;
    anyhow::ensure!(&answer == b"+PONG\r\n", "unexpected answer to PING");
    Ok(())
}
