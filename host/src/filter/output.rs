//! A guest's stdout and stderr: each complete line goes to the log, tagged with the filter.
//!
//! Not `MemoryOutputPipe`: that closes once full (a write past capacity traps), and an
//! instance lives for many calls. Stderr also keeps what was written during the current
//! call, so a trap can say what the guest printed before it (a Rust panic's message).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept whole; a longer one is logged in pieces of this size.
const MAX_LINE: usize = 4096;
/// How much of a call's stderr a trap message quotes.
const MAX_RECENT: usize = 1024;
/// The log target of everything a guest writes or logs, for `RUST_LOG` filtering.
pub(crate) const GUEST_LOG: &str = "switchyard::filter::guest";

/// Which of the two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// One stream of one instance; clones share the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct GuestOutput {
    lines: Arc<Mutex<Lines>>,
    /// Whether `recent` holds anything: most calls print nothing, and checking this is
    /// cheaper than taking the lock.
    has_recent: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Lines {
    filter: Arc<str>,
    stream: Stream,
    partial: Vec<u8>,
    recent: String,
}

impl GuestOutput {
    pub(crate) fn new(filter: Arc<str>, stream: Stream) -> Self {
        let lines = Lines {
            filter,
            stream,
            partial: Vec::new(),
            recent: String::new(),
        };
        Self {
            lines: Arc::new(Mutex::new(lines)),
            has_recent: Arc::default(),
        }
    }

    /// What was written since the last call of this, lines joined by ` | `.
    pub(crate) fn take_recent(&self) -> String {
        if !self.has_recent.swap(false, Ordering::Relaxed) {
            return String::new();
        }
        std::mem::take(&mut self.lock().recent)
    }

    fn write(&self, bytes: &[u8]) {
        if self.lock().write(bytes) {
            self.has_recent.store(true, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        // A panic while logging leaves the buffer usable.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lines {
    /// Takes a write; true if a line was kept for a trap message.
    fn write(&mut self, mut bytes: &[u8]) -> bool {
        let mut kept = false;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&bytes[..end]);
            kept |= self.emit();
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() >= MAX_LINE {
            let rest = self.partial.split_off(MAX_LINE);
            kept |= self.emit();
            self.partial = rest;
        }
        kept
    }

    /// Logs the line in `partial`; true if it was kept for a trap message.
    fn emit(&mut self) -> bool {
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        if line.trim().is_empty() {
            return false;
        }
        let filter = &*self.filter;
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: GUEST_LOG, filter, stream = "stdout", "{line}");
                false
            }
            Stream::Stderr => {
                tracing::warn!(target: GUEST_LOG, filter, stream = "stderr", "{line}");
                self.remember(&line)
            }
        }
    }

    /// Keeps stderr lines for a trap message, minus the panic hook's backtrace hint.
    fn remember(&mut self, line: &str) -> bool {
        let line = line.trim();
        if line.starts_with("note: run with `RUST_BACKTRACE") {
            return false;
        }
        if !self.recent.is_empty() {
            self.recent.push_str(" | ");
        }
        self.recent.push_str(line);
        if self.recent.len() > MAX_RECENT {
            let cut = self
                .recent
                .floor_char_boundary(self.recent.len() - MAX_RECENT);
            self.recent.drain(..cut);
        }
        true
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        GuestOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_calls_stderr_lines_for_trap_messages() {
        let stderr = GuestOutput::new("f".into(), Stream::Stderr);
        stderr.write(b"\nthread '<unnamed>' panicked at src/lib.rs:9:5:\nbo");
        stderr.write(b"om\nnote: run with `RUST_BACKTRACE=1` to display a backtrace\n");
        assert_eq!(
            stderr.take_recent(),
            "thread '<unnamed>' panicked at src/lib.rs:9:5: | boom"
        );
        assert_eq!(stderr.take_recent(), "");
    }

    #[test]
    fn bounds_lines_and_memory() {
        let stderr = GuestOutput::new("f".into(), Stream::Stderr);
        stderr.write(&[b'x'; 3 * MAX_LINE + 10]);
        assert_eq!(stderr.lock().partial.len(), 10);
        assert!(stderr.take_recent().len() <= MAX_RECENT);
    }
}
