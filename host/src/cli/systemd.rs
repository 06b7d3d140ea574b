//! Telling systemd how the service is doing, for `Type=notify` units (deploy/systemd):
//! `READY=1` once the listeners are bound, `STOPPING=1` when shutdown begins. So `systemctl
//! start` returns when the gateway accepts webhooks (and fails when it cannot start), and
//! units ordered after it start only then.
//!
//! The protocol is one datagram per message to the Unix socket named by `$NOTIFY_SOCKET`
//! (sd_notify(3)); a name starting with `@` is in the abstract namespace. Without the
//! variable nothing is sent: outside systemd this does nothing.

use std::os::unix::net::UnixDatagram;

/// The service manager's notification socket, when there is one.
pub struct Notifier {
    socket: UnixDatagram,
    to: std::os::unix::net::SocketAddr,
}

impl Notifier {
    /// The socket `$NOTIFY_SOCKET` names; `None` when unset (not started by systemd) or
    /// unusable (then a warning says why).
    pub fn from_env() -> Option<Self> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        match Self::connect(&name) {
            Ok(notifier) => Some(notifier),
            Err(e) => {
                tracing::warn!(socket = ?name, error = %e, "cannot use NOTIFY_SOCKET; systemd will not hear that the gateway is ready");
                None
            }
        }
    }

    fn connect(name: &std::ffi::OsStr) -> std::io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let to = match name.as_bytes() {
            [b'@', abstract_name @ ..] => abstract_address(abstract_name)?,
            _ => std::os::unix::net::SocketAddr::from_pathname(name)?,
        };
        Ok(Self {
            socket: UnixDatagram::unbound()?,
            to,
        })
    }

    /// The gateway accepts connections; `status` is what `systemctl status` shows.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// Shutdown has begun (systemd then waits up to `TimeoutStopSec` for the exit).
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining");
    }

    /// A lost notification only costs systemd's view of the state, never the gateway's work.
    fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.to) {
            tracing::warn!(error = %e, message, "cannot notify systemd");
        }
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &[u8]) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_: &[u8]) -> std::io::Result<std::os::unix::net::SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn an_at_sign_names_an_abstract_socket() {
        let name = format!("switchyard-test-{}", std::process::id());
        let listener =
            UnixDatagram::bind_addr(&abstract_address(name.as_bytes()).unwrap()).unwrap();
        let notifier = Notifier::connect(format!("@{name}").as_ref()).unwrap();
        notifier.stopping();
        let mut buf = [0; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\nSTATUS=draining".as_slice());
    }
}
