//! systemd's notification protocol (`sd_notify`, `Type=notify`): one
//! datagram of `KEY=value` lines to the socket `NOTIFY_SOCKET` names (a
//! path, or an abstract name written `@name`). Without `NOTIFY_SOCKET`
//! every call does nothing. weir says `READY=1` once its listeners are
//! bound and it runs as its final user, `RELOADING=1` when a reload
//! starts, `STOPPING=1` when it begins to stop, and `STATUS=` lines in
//! between.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (`KEY=value` lines) to systemd, if it listens; an error
/// is returned only when `NOTIFY_SOCKET` is set and the send failed.
pub fn send(state: &str) -> io::Result<()> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(target) => send_to(&target.to_string_lossy(), state),
        None => Ok(()),
    }
}

/// Sends `state` to the socket `target` names (`/path` or `@abstract`).
pub fn send_to(target: &str, state: &str) -> io::Result<()> {
    let addr = match target.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None if target.starts_with('/') => SocketAddr::from_pathname(target)?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{NOTIFY_SOCKET}={target}: neither a path nor an @abstract name"),
            ));
        }
    };
    let socket = UnixDatagram::unbound()?;
    // A full socket drops the notification instead of holding weir up.
    socket.set_nonblocking(true)?;
    let sent = socket.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notification cut short",
        ));
    }
    Ok(())
}

/// `READY=1` with the main pid and a `STATUS=` line.
pub fn ready(status: &str) {
    report(&format!(
        "READY=1\nMAINPID={}\nSTATUS={}",
        std::process::id(),
        one_line(status)
    ));
}

/// `RELOADING=1` with the monotonic time systemd asks for
/// (`Type=notify-reload`); send [`ready`] when the reload is done.
pub fn reloading() {
    report(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

/// `STOPPING=1`: weir has begun to stop.
pub fn stopping(status: &str) {
    report(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
}

/// A `STATUS=` line, shown by `systemctl status`.
pub fn status(status: &str) {
    report(&format!("STATUS={}", one_line(status)));
}

/// Sends, logging a failure (systemd's notifications are best effort).
fn report(state: &str) {
    if let Err(e) = send(state) {
        log::warn!("cannot notify systemd ({NOTIFY_SOCKET}): {e}");
    }
}

/// A status on one line: a newline would start another `KEY=value`.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// `CLOCK_MONOTONIC` in microseconds, as systemd reads it.
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_a_path_and_an_abstract_name() {
        let dir = std::env::temp_dir().join(format!("weir-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), "READY=1\nSTATUS=up").unwrap();
        let mut buf = [0; 128];
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
        let name = format!("weir-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_socket = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(&format!("@{name}"), "STOPPING=1").unwrap();
        let n = abstract_socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        assert!(send_to("relative", "X=1").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_status_stays_on_one_line() {
        assert_eq!(one_line("a\nb\rc"), "a b c");
    }
}
