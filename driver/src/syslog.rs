//! Log lines to syslog: one datagram per line over non-blocking sockets.
//! A line never blocks the loop and is never retried: a full socket, a
//! missing `/dev/log` or an unreachable server drops it and counts it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

/// The syslog sockets and what they dropped.
#[derive(Default)]
pub(crate) struct Syslog {
    /// One socket per UDP target, connected to it; `None` until opened.
    udp: HashMap<SocketAddr, UdpSocket>,
    /// One unbound socket for every UNIX target: each line names its path,
    /// so a syslog daemon that comes back (a new socket file) is reached.
    unix: Option<UnixDatagram>,
    /// The line and its newline, reused.
    buf: Vec<u8>,
    /// Lines not sent, since start.
    dropped: u64,
    /// Targets whose failure was reported, until a line gets through.
    failing: HashSet<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Udp(SocketAddr),
    Unix(Arc<Path>),
}

impl Syslog {
    /// Lines dropped so far (HAProxy's `DroppedLogs`).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends `text` and a newline to the syslog server at `addr`.
    pub(crate) fn send_udp(&mut self, addr: SocketAddr, text: &str) {
        self.fill(text);
        let result = match self.udp.get(&addr) {
            Some(socket) => socket.send(&self.buf),
            None => udp_socket(addr).and_then(|socket| {
                let sent = socket.send(&self.buf);
                self.udp.insert(addr, socket);
                sent
            }),
        };
        self.account(Target::Udp(addr), result);
    }

    /// Sends `text` and a newline to the UNIX datagram socket at `path`.
    pub(crate) fn send_unix(&mut self, path: &Arc<Path>, text: &str) {
        self.fill(text);
        if self.unix.is_none() {
            match UnixDatagram::unbound().and_then(|s| s.set_nonblocking(true).map(|()| s)) {
                Ok(socket) => self.unix = Some(socket),
                Err(e) => return self.account(Target::Unix(path.clone()), Err(e)),
            }
        }
        let result = match &self.unix {
            Some(socket) => socket.send_to(&self.buf, path),
            None => Ok(0),
        };
        self.account(Target::Unix(path.clone()), result);
    }

    fn fill(&mut self, text: &str) {
        self.buf.clear();
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
    }

    /// Counts a line not sent; reports the first failure of a target
    /// (and again after it worked once more), never a full socket.
    fn account(&mut self, target: Target, result: io::Result<usize>) {
        let error = match result {
            Ok(_) => {
                if !self.failing.is_empty() {
                    self.failing.remove(&target);
                }
                return;
            }
            Err(e) => e,
        };
        self.dropped += 1;
        if error.kind() == io::ErrorKind::WouldBlock {
            return;
        }
        if self.failing.insert(target.clone()) {
            let name = match &target {
                Target::Udp(addr) => addr.to_string(),
                Target::Unix(path) => path.display().to_string(),
            };
            log::warn!("cannot send logs to {name}: {error} (dropping them until it works)");
        }
    }
}

/// A non-blocking UDP socket connected to `addr`.
fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = match addr {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.set_nonblocking(true)?;
    socket.connect(addr)?;
    Ok(socket)
}

/// Seconds east of UTC of local time at `unix` seconds, from the C
/// library's time-zone rules (`TZ`, `/etc/localtime`); 0 if unknown.
pub(crate) fn utc_offset(unix: i64) -> i32 {
    let t = unix as libc::time_t;
    // SAFETY: `localtime_r` only writes the `tm` it is given, and `t` is a
    // valid time value; a zeroed `tm` is a valid value of this plain struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::localtime_r(&t, &mut tm) };
    if done.is_null() {
        0
    } else {
        tm.tm_gmtoff as i32
    }
}

/// The machine's host name (HAProxy's `%H`), empty if unknown.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `gethostname` writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_per_line_with_its_newline() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut syslog = Syslog::default();
        syslog.send_udp(server.local_addr().unwrap(), "<134>hello");
        syslog.send_udp(server.local_addr().unwrap(), "again");
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<134>hello\n");
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"again\n");
        assert_eq!(syslog.dropped(), 0);
    }

    #[test]
    fn a_missing_unix_socket_drops_and_counts_until_it_comes_back() {
        let dir = std::env::temp_dir().join(format!("weir-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path: Arc<Path> = Arc::from(dir.join("log.sock").as_path());
        let mut syslog = Syslog::default();
        syslog.send_unix(&path, "lost");
        assert_eq!(syslog.dropped(), 1);
        let server = UnixDatagram::bind(&path).unwrap();
        syslog.send_unix(&path, "found");
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"found\n");
        assert_eq!(syslog.dropped(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_unix_socket_drops_instead_of_blocking() {
        let dir = std::env::temp_dir().join(format!("weir-syslog-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path: Arc<Path> = Arc::from(dir.join("log.sock").as_path());
        let _server = UnixDatagram::bind(&path).unwrap();
        let mut syslog = Syslog::default();
        let line = "x".repeat(1000);
        // Nobody reads: the receive queue fills, and sends fail at once.
        for _ in 0..10_000 {
            syslog.send_unix(&path, &line);
        }
        assert!(syslog.dropped() > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn local_time_offset_follows_tz_rules() {
        // Whatever the machine's zone, an offset is within a day.
        assert!(utc_offset(1_796_406_387).abs() < 86_400);
    }
}
