//! Listening sockets handed from a running process to the one taking over
//! (`-x <socket>`), over a UNIX stats socket with `expose-fd listeners`,
//! in HAProxy 2.6's `_getsocks` protocol: weir can take the listeners of
//! a running HAProxy or weir, and give its own to either.
//!
//! ```text
//! new process                          old process
//!   "_getsocks\n"          ---->
//!                          <----  the number of sockets (a native int)
//!                          <----  up to 253 descriptors (SCM_RIGHTS), and
//!                                 per socket: namespace length and name,
//!                                 interface length and name, 4 zero bytes
//!   an int (ack)           ---->  (after each message; the sender waits
//!                                  for it after each full message)
//! ```
//!
//! The new process binds nothing a handed socket already listens on: it
//! takes the socket bound to the same address, so connections waiting in
//! its queue are accepted by whichever process is still running, and not
//! one is refused. Sockets nobody takes are closed.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::activation::{self, Bound, Inherited};

/// Most descriptors in one message (HAProxy's `MAX_SEND_FD`).
const MAX_SEND_FD: usize = 253;

/// How long either side waits for the other (HAProxy's one second).
const PEER_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes describing one socket: no namespace, no interface, 4 zero bytes.
const SOCKET_INFO: [u8; 6] = [0; 6];

/// Room for one received message's description (HAProxy's bound per
/// socket: lengths, a path-sized namespace, an interface name, an int).
const INFO_ROOM: usize = MAX_SEND_FD * (1 + 4096 + 1 + 16 + 4);

/// Takes the TCP listening sockets of the process whose stats socket is
/// at `path` (`-x`); the UNIX ones HAProxy hands over too are closed (the
/// new process makes its stats sockets anew over their paths).
pub(crate) fn fetch(path: &str) -> io::Result<Vec<Inherited>> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))?;
    Ok(receive(&stream)?
        .into_iter()
        .filter_map(|fd| match activation::bound(&fd)? {
            addr @ Bound::Tcp(_) => Some(Inherited {
                fd,
                addr,
                name: None,
                from: "the old process",
            }),
            Bound::Unix(_) => None,
        })
        .collect())
}

/// Sends `fds` to the peer of `stream` (the answer to `_getsocks`),
/// blocking for at most [`PEER_TIMEOUT`] per step, then gives `stream` its
/// non-blocking mode back.
pub(crate) fn send(stream: RawFd, fds: &[RawFd]) -> io::Result<()> {
    let flags = fcntl(stream, libc::F_GETFL, 0)?;
    fcntl(stream, libc::F_SETFL, flags & !libc::O_NONBLOCK)?;
    let result = send_blocking(stream, fds);
    fcntl(stream, libc::F_SETFL, flags)?;
    result
}

fn send_blocking(stream: RawFd, fds: &[RawFd]) -> io::Result<()> {
    // SAFETY: borrowing the descriptor for option calls only; `ManuallyDrop`
    // keeps it open.
    let socket = std::mem::ManuallyDrop::new(unsafe { socket2::Socket::from_raw_fd(stream) });
    socket.set_read_timeout(Some(PEER_TIMEOUT))?;
    socket.set_write_timeout(Some(PEER_TIMEOUT))?;
    let count = i32::try_from(fds.len()).unwrap_or(i32::MAX);
    if count == 0 {
        return Ok(());
    }
    send_message(stream, &count.to_ne_bytes(), &[])?;
    let info = SOCKET_INFO.repeat(MAX_SEND_FD);
    for chunk in fds.chunks(MAX_SEND_FD) {
        send_message(stream, &info[..chunk.len() * SOCKET_INFO.len()], chunk)?;
        if chunk.len() == MAX_SEND_FD {
            let mut ack = [0u8; 4];
            io::Read::read_exact(&mut &*socket, &mut ack)?;
        }
    }
    Ok(())
}

/// One `sendmsg` of `data` with `fds` attached; all of `data` or an error.
fn send_message(stream: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut control = vec![0u8; cmsg_space(fds.len())];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives
    // the call, and the control buffer has room for `fds`.
    let sent = unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control.len() as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of_val(fds) as u32) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
        libc::sendmsg(stream, &msg, libc::MSG_NOSIGNAL)
    };
    match sent {
        -1 => Err(io::Error::last_os_error()),
        n if n as usize == data.len() => Ok(()),
        _ => Err(io::Error::new(io::ErrorKind::WriteZero, "short write")),
    }
}

/// Asks for the sockets on `stream` and receives them.
fn receive(stream: &UnixStream) -> io::Result<Vec<OwnedFd>> {
    io::Write::write_all(&mut &*stream, b"_getsocks\n")?;
    let mut count = [0u8; 4];
    io::Read::read_exact(&mut &*stream, &mut count).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("no answer to _getsocks (is 'expose-fd listeners' set?): {e}"),
        )
    })?;
    let count = usize::try_from(i32::from_ne_bytes(count))
        .map_err(|_| invalid("a negative number of sockets"))?;
    let mut fds = Vec::with_capacity(count.min(MAX_SEND_FD));
    let mut info = vec![0u8; INFO_ROOM];
    // Every message brings at least one socket, so this loop is bounded.
    while fds.len() < count {
        let before = fds.len();
        if receive_message(stream.as_raw_fd(), &mut info, &mut fds)? == 0 {
            break;
        }
        if fds.len() == before {
            return Err(invalid("a message without sockets"));
        }
        // The ack lets the sender go on after a full message; after the
        // last one it may be gone already, as HAProxy's sender is.
        let ack = 0i32.to_ne_bytes();
        // SAFETY: sending from a live buffer on a descriptor we hold.
        unsafe {
            libc::send(
                stream.as_raw_fd(),
                ack.as_ptr().cast(),
                4,
                libc::MSG_NOSIGNAL,
            )
        };
    }
    if fds.len() != count {
        return Err(invalid(&format!(
            "expected {count} sockets, got {}",
            fds.len()
        )));
    }
    Ok(fds)
}

/// One `recvmsg`: the descriptors attached go to `fds` (owned from now
/// on, so they are closed on any error); returns the data bytes read.
fn receive_message(stream: RawFd, info: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut control = vec![0u8; cmsg_space(MAX_SEND_FD)];
    let mut iov = libc::iovec {
        iov_base: info.as_mut_ptr().cast(),
        iov_len: info.len(),
    };
    // SAFETY: as in `send_message`; the kernel writes at most the lengths
    // given, and each descriptor it passes is owned exactly once below.
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(stream, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for k in 0..bytes / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(k).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(invalid("too many sockets in one message"));
        }
        Ok(n as usize)
    }
}

fn cmsg_space(fds: usize) -> usize {
    // SAFETY: a pure size computation.
    unsafe { libc::CMSG_SPACE((fds * size_of::<RawFd>()) as u32) as usize }
}

fn fcntl(fd: RawFd, command: libc::c_int, arg: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we hold.
    match unsafe { libc::fcntl(fd, command, arg) } {
        -1 => Err(io::Error::last_os_error()),
        flags => Ok(flags),
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("_getsocks: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A process's side of `_getsocks` in a thread: reads the request,
    /// answers with `fds`.
    fn serve(peer: UnixStream, fds: Vec<RawFd>) -> std::thread::JoinHandle<io::Result<()>> {
        std::thread::spawn(move || {
            let mut request = [0u8; 10];
            io::Read::read_exact(&mut &peer, &mut request)?;
            assert_eq!(&request, b"_getsocks\n");
            peer.set_nonblocking(true)?;
            send(peer.as_raw_fd(), &fds)?;
            assert!(peer.set_nonblocking(true).is_ok(), "mode given back");
            Ok(())
        })
    }

    #[test]
    fn listeners_pass_and_are_found_by_address() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("[::1]:0").or_else(|_| TcpListener::bind("127.0.0.2:0"));
        let b = b.unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let fds = vec![a.as_raw_fd(), b.as_raw_fd(), udp.as_raw_fd()];
        let server = serve(theirs, fds);
        let received = receive(&ours).unwrap();
        server.join().unwrap().unwrap();
        assert_eq!(received.len(), 3);
        let bound: Vec<_> = received.iter().map(activation::bound).collect();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(
            bound,
            [Some(Bound::Tcp(a_addr)), Some(Bound::Tcp(b_addr)), None],
            "the UDP socket is not a listener"
        );
        // The same socket: a connection to it is accepted through either.
        let taken = TcpListener::from(received.into_iter().next().unwrap());
        let client = std::net::TcpStream::connect(a_addr).unwrap();
        let (accepted, _) = taken.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
    }

    #[test]
    fn more_than_one_message_of_sockets_waits_for_acks() {
        let listeners: Vec<TcpListener> = (0..MAX_SEND_FD + 5)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let fds = listeners.iter().map(AsRawFd::as_raw_fd).collect();
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let server = serve(theirs, fds);
        let received = receive(&ours).unwrap();
        server.join().unwrap().unwrap();
        assert_eq!(received.len(), MAX_SEND_FD + 5);
    }

    #[test]
    fn a_process_without_expose_fd_closes_and_the_error_says_why() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        std::thread::spawn(move || {
            let mut request = [0u8; 10];
            io::Read::read_exact(&mut &theirs, &mut request)
        });
        let e = receive(&ours).unwrap_err();
        assert!(e.to_string().contains("expose-fd listeners"), "{e}");
    }
}
