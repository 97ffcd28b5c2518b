//! systemd's socket activation (`LISTEN_FDS`, `sd_listen_fds`): listening
//! sockets systemd bound and passed from descriptor 3 on. weir takes those
//! whose address is one it would bind (a frontend's `bind`, a TCP or UNIX
//! `stats socket`) in place of binding it; a passed socket that matches
//! nothing is closed with a warning.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: i32 = 3;
/// The most descriptors weir takes from `LISTEN_FDS`.
const MAX_FDS: i32 = 4096;

/// A listening socket weir inherited.
#[derive(Debug)]
pub struct Inherited {
    /// The socket, close-on-exec.
    pub fd: OwnedFd,
    /// What it is bound to.
    pub addr: Bound,
    /// Its name in `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`).
    pub name: Option<String>,
    /// Who passed it: `systemd`, or `the old process` (`-x`).
    pub from: &'static str,
}

/// The address an inherited socket is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Takes the sockets passed to this process (`LISTEN_PID` is its pid) and
/// clears the variables so that they are not taken twice. Call it while
/// the process has a single thread (it changes the environment).
pub(crate) fn take() -> Vec<Inherited> {
    let var = |name| std::env::var(name).ok();
    let (pid, count, names) = (var("LISTEN_PID"), var("LISTEN_FDS"), var("LISTEN_FDNAMES"));
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: called before weir starts any thread.
        unsafe { std::env::remove_var(name) };
    }
    if pid.and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id()) {
        return Vec::new();
    }
    let Some(count) = count.and_then(|n| n.parse::<i32>().ok()) else {
        return Vec::new();
    };
    let names: Vec<String> =
        names.map_or_else(Vec::new, |n| n.split(':').map(String::from).collect());
    let mut sockets = Vec::new();
    for (i, fd) in (FIRST_FD..FIRST_FD + count.clamp(0, MAX_FDS)).enumerate() {
        // SAFETY: systemd passed descriptors FIRST_FD.. to this process
        // for it to own; nothing else in weir has taken them.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fcntl(2) on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        let name = names.get(i).cloned();
        match bound(&fd) {
            Some(addr) => sockets.push(Inherited {
                fd,
                addr,
                name,
                from: "systemd",
            }),
            None => log::warn!(
                "descriptor {} passed by systemd is not a listening TCP or UNIX stream socket: \
                 closed",
                fd.as_raw_fd()
            ),
        }
    }
    sockets
}

/// The address a listening stream socket is bound to.
pub(crate) fn bound(fd: &OwnedFd) -> Option<Bound> {
    let socket = socket2::SockRef::from(fd);
    let listening = {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt(2) writes an int into the value we own.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        rc == 0 && value != 0
    };
    if !listening || socket.r#type().ok()? != socket2::Type::STREAM {
        return None;
    }
    let addr = socket.local_addr().ok()?;
    match addr.as_socket() {
        Some(addr) => Some(Bound::Tcp(addr)),
        None => addr.as_pathname().map(|p| Bound::Unix(p.to_owned())),
    }
}

/// Takes the inherited socket bound to `addr`, if there is one.
pub(crate) fn claim(inherited: &mut Vec<Inherited>, addr: &Bound) -> Option<OwnedFd> {
    let i = inherited.iter().position(|s| &s.addr == addr)?;
    Some(inherited.swap_remove(i).fd)
}

/// Closes the inherited sockets nothing claimed, saying which.
pub(crate) fn close_unclaimed(inherited: Vec<Inherited>) {
    for socket in inherited {
        let what = match &socket.addr {
            Bound::Tcp(addr) => addr.to_string(),
            Bound::Unix(path) => path.display().to_string(),
        };
        let name = socket.name.map(|n| format!(" ({n})")).unwrap_or_default();
        log::warn!(
            "socket {what}{name} passed by {} matches no 'bind' or 'stats socket': closed",
            socket.from
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_is_known_by_its_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fd = OwnedFd::from(listener);
        assert_eq!(bound(&fd), Some(Bound::Tcp(addr)));
        let mut inherited = vec![Inherited {
            fd,
            addr: Bound::Tcp(addr),
            name: None,
            from: "systemd",
        }];
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(claim(&mut inherited, &Bound::Tcp(other)).is_none());
        assert!(claim(&mut inherited, &Bound::Tcp(addr)).is_some());
        assert!(inherited.is_empty());
        let connected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(bound(&OwnedFd::from(connected)), None);
    }
}
