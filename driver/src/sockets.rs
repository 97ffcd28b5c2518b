//! The sockets the engine owns, TCP or UNIX, and their set-up: listeners,
//! outgoing connects and their outcome. UNIX sockets carry stats-socket
//! bytes only, so TCP's options are skipped for them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Type};
use weir_core::ConnError;

/// A connected socket: TCP (traffic, checks, TCP stats sockets) or UNIX
/// (stats sockets on a path). Reads and writes go through `&Socket`.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A listening socket: a frontend's `bind` or a TCP `stats socket`, or a
/// `stats socket` on a UNIX path; or the UDP socket DNS queries leave
/// from, watched for its answers as a listener is for connections.
#[derive(Debug)]
pub enum ListenSocket {
    Tcp(TcpListener),
    Unix(UnixListener),
    Udp(UdpSocket),
}

/// A connection a [`ListenSocket`] accepted: its socket, and for TCP its
/// peer's and its own address.
pub(crate) struct Accepted {
    pub socket: Socket,
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

impl Socket {
    /// The outcome of a non-blocking connect after a wake-up: `Err(None)`
    /// while it is still in progress. Only TCP sockets connect.
    pub(crate) fn connect_result(&self) -> Result<(), Option<ConnError>> {
        match self {
            Socket::Tcp(tcp) => connect_result(tcp),
            Socket::Unix(_) => Ok(()),
        }
    }

    pub(crate) fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(tcp) => tcp.set_nonblocking(true),
            Socket::Unix(unix) => unix.set_nonblocking(true),
        }
    }

    /// `TCP_NODELAY` on a TCP socket.
    pub(crate) fn set_nodelay(&self) {
        if let Socket::Tcp(tcp) = self {
            let _ = tcp.set_nodelay(true);
        }
    }

    /// `SO_KEEPALIVE` on a TCP socket.
    pub(crate) fn set_keepalive(&self) {
        if let Socket::Tcp(tcp) = self {
            let _ = SockRef::from(tcp).set_keepalive(true);
        }
    }

    /// A TCP socket closed from now on sends a reset.
    pub(crate) fn set_reset_on_close(&self) {
        if let Socket::Tcp(tcp) = self {
            let _ = SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(tcp) => tcp.shutdown(how),
            Socket::Unix(unix) => unix.shutdown(how),
        }
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => (&*tcp).read(buf),
            Socket::Unix(unix) => (&*unix).read(buf),
        }
    }
}

impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => (&*tcp).write(buf),
            Socket::Unix(unix) => (&*unix).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ListenSocket {
    pub(crate) fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(listener) => listener.set_nonblocking(true),
            ListenSocket::Unix(listener) => listener.set_nonblocking(true),
            ListenSocket::Udp(udp) => udp.set_nonblocking(true),
        }
    }

    /// Accepts one connection.
    pub(crate) fn accept(&self) -> io::Result<Accepted> {
        match self {
            ListenSocket::Tcp(listener) => {
                let (tcp, peer) = listener.accept()?;
                let local = tcp.local_addr()?;
                Ok(Accepted {
                    socket: Socket::Tcp(tcp),
                    addrs: Some((peer, local)),
                })
            }
            ListenSocket::Unix(listener) => Ok(Accepted {
                socket: Socket::Unix(listener.accept()?.0),
                addrs: None,
            }),
            ListenSocket::Udp(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// The address bound, for TCP.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            ListenSocket::Tcp(listener) => listener.local_addr().ok(),
            ListenSocket::Unix(_) | ListenSocket::Udp(_) => None,
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(tcp) => tcp.as_fd(),
            Socket::Unix(unix) => unix.as_fd(),
        }
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl AsFd for ListenSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ListenSocket::Tcp(listener) => listener.as_fd(),
            ListenSocket::Unix(listener) => listener.as_fd(),
            ListenSocket::Udp(udp) => udp.as_fd(),
        }
    }
}

impl AsRawFd for ListenSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A non-blocking listening socket with `SO_REUSEADDR`.
pub(crate) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket =
        socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Starts a non-blocking connect to `addr`.
pub(crate) fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket =
        socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

fn connect_result(stream: &TcpStream) -> Result<(), Option<ConnError>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Err(Some(ConnError::from_io(&e))),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(None),
        Err(e) => Err(Some(ConnError::from_io(&e))),
    }
}
