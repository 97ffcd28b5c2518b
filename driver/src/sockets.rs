//! The sockets the engine owns, TCP or UNIX, and their set-up: listeners,
//! outgoing connects and their outcome. UNIX sockets carry stats-socket
//! bytes only, so TCP's options are skipped for them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Type};
use weir_core::config::BindOptions;
use weir_core::{ConnError, SourceBind};

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

    /// Accepts one connection, non-blocking. `local` is the address every
    /// connection of this listener has, when known (a listener bound to
    /// one address), else it is asked of the new socket.
    pub(crate) fn accept(&self, local: Option<SocketAddr>) -> io::Result<Accepted> {
        match self {
            ListenSocket::Tcp(listener) => {
                let (tcp, peer) = accept_tcp(listener)?;
                let local = match local {
                    Some(local) => local,
                    None => tcp.local_addr()?,
                };
                Ok(Accepted {
                    socket: Socket::Tcp(tcp),
                    addrs: Some((peer, local)),
                })
            }
            ListenSocket::Unix(listener) => {
                let unix = listener.accept()?.0;
                unix.set_nonblocking(true)?;
                Ok(Accepted {
                    socket: Socket::Unix(unix),
                    addrs: None,
                })
            }
            ListenSocket::Udp(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// The address every connection accepted here has: the one bound,
    /// unless it is a wildcard or `transparent` (which takes connections
    /// to other addresses).
    pub(crate) fn fixed_local(&self, transparent: bool) -> Option<SocketAddr> {
        self.local_addr()
            .filter(|addr| !transparent && !addr.ip().is_unspecified())
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

/// The listen queue of a `bind` without `backlog`.
const BACKLOG: u32 = 1024;

/// A non-blocking listening socket with `SO_REUSEADDR` and the `bind`
/// line's `options`.
pub(crate) fn listen(addr: SocketAddr, options: &BindOptions) -> io::Result<TcpListener> {
    let socket =
        socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    before_bind(&socket, addr, options)?;
    socket.bind(&addr.into())?;
    let backlog = options.backlog.unwrap_or(BACKLOG);
    if options.defer_accept {
        set_int(&socket, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1)
            .map_err(context("defer-accept"))?;
    }
    if options.fast_open {
        let queue = i32::try_from(backlog).unwrap_or(i32::MAX);
        set_int(&socket, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, queue).map_err(context("tfo"))?;
    }
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// An error of option `what`, named.
fn context(what: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The options set before `bind`.
fn before_bind(
    socket: &socket2::Socket,
    addr: SocketAddr,
    options: &BindOptions,
) -> io::Result<()> {
    if let (Some(only), true) = (options.v6only, addr.is_ipv6()) {
        socket.set_only_v6(only).map_err(context("v6only/v4v6"))?;
    }
    if options.transparent {
        let (level, name) = match addr {
            SocketAddr::V4(_) => (libc::SOL_IP, libc::IP_TRANSPARENT),
            SocketAddr::V6(_) => (libc::SOL_IPV6, libc::IPV6_TRANSPARENT),
        };
        set_int(socket, level, name, 1).map_err(context("transparent"))?;
    }
    if let Some(name) = &options.interface {
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(context("interface"))?;
    }
    if let Some(mss) = options.mss {
        // HAProxy: a negative MSS is the MTU's MSS minus that much; the
        // kernel takes only a positive one.
        set_int(socket, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss.abs()).map_err(context("mss"))?;
    }
    if let Some(t) = options.user_timeout {
        socket
            .set_tcp_user_timeout(Some(t))
            .map_err(context("tcp-ut"))?;
    }
    Ok(())
}

/// `setsockopt` with an `int` value.
fn set_int(socket: &socket2::Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: an int option of a socket we own, with its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A TCP connection accepted on `listener`, non-blocking from the start
/// (one system call: `accept4`).
#[cfg(target_os = "linux")]
fn accept_tcp(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let (socket, peer) = SockRef::from(listener).accept4(flags)?;
    let peer = peer
        .as_socket()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
    Ok((socket.into(), peer))
}

#[cfg(not(target_os = "linux"))]
fn accept_tcp(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (tcp, peer) = listener.accept()?;
    tcp.set_nonblocking(true)?;
    Ok((tcp, peer))
}

/// A TCP socket type that is non-blocking from its creation, where the
/// system allows it (one system call less per connect).
#[cfg(target_os = "linux")]
const NONBLOCKING_STREAM: Type = Type::STREAM.nonblocking();
#[cfg(not(target_os = "linux"))]
const NONBLOCKING_STREAM: Type = Type::STREAM;

/// Starts a non-blocking connect to `addr`, bound first to `source` if
/// given, with the handshake's last ACK delayed if `delay_ack` (see
/// [`weir_core::Action::Connect`]). A failure to bind is
/// [`ConnError::CantBind`].
pub(crate) fn connect(
    addr: SocketAddr,
    source: Option<&SourceBind>,
    delay_ack: bool,
) -> Result<TcpStream, ConnError> {
    let io = |e: io::Error| ConnError::from_io(&e);
    let socket = socket2::Socket::new(
        Domain::for_address(addr),
        NONBLOCKING_STREAM,
        Some(Protocol::TCP),
    )
    .map_err(io)?;
    if !cfg!(target_os = "linux") {
        socket.set_nonblocking(true).map_err(io)?;
    }
    if let Some(source) = source {
        bind_source(&socket, source)
            .map_err(|e| ConnError::CantBind(e.raw_os_error().unwrap_or(0)))?;
    }
    if delay_ack {
        // Best effort, as HAProxy: without it the check still works.
        let _ = set_int(&socket, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 0);
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(io(e)),
    }
    Ok(socket.into())
}

/// Binds an outgoing socket to its `source`, as HAProxy's
/// `tcp_connect_server`: the interface first (a failure is ignored, as
/// HAProxy does: it may lack the privilege), no port reserved at bind
/// time when the port is 0 (`IP_BIND_ADDRESS_NO_PORT`, so that many
/// connections share one address), `SO_REUSEADDR`, then `bind`.
fn bind_source(socket: &socket2::Socket, source: &SourceBind) -> io::Result<()> {
    if let Some(name) = &source.interface {
        let _ = socket.bind_device(Some(name.as_bytes()));
    }
    if source.addr.port() == 0 {
        let _ = set_int(socket, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1);
    }
    socket.set_reuse_address(true)?;
    socket.bind(&source.addr.into())
}

/// A socket with a peer is connected (one system call when it is); one
/// without is still connecting unless it has an error.
fn connect_result(stream: &TcpStream) -> Result<(), Option<ConnError>> {
    match stream.peer_addr() {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
        Err(e) => return Err(Some(ConnError::from_io(&e))),
    }
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => Err(Some(ConnError::from_io(&e))),
        Ok(None) => Err(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `getsockopt` of an `int` option.
    fn get_int(socket: &impl AsRawFd, level: i32, name: i32) -> i32 {
        let mut value = 0i32;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: an int option of a live socket, with its size.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        value
    }

    #[test]
    fn bind_options_reach_the_listening_socket() {
        let options = BindOptions {
            backlog: Some(16),
            mss: Some(1200),
            defer_accept: true,
            fast_open: true,
            user_timeout: Some(Duration::from_secs(5)),
            ..BindOptions::default()
        };
        let listener = listen("127.0.0.1:0".parse().unwrap(), &options).unwrap();
        let tcp = libc::IPPROTO_TCP;
        assert_eq!(get_int(&listener, tcp, libc::TCP_MAXSEG), 1200);
        assert!(get_int(&listener, tcp, libc::TCP_DEFER_ACCEPT) > 0);
        assert_eq!(get_int(&listener, tcp, libc::TCP_FASTOPEN), 16);
        assert_eq!(get_int(&listener, tcp, libc::TCP_USER_TIMEOUT), 5000);
        let plain = listen("127.0.0.1:0".parse().unwrap(), &BindOptions::default()).unwrap();
        assert_eq!(get_int(&plain, tcp, libc::TCP_DEFER_ACCEPT), 0);
        assert_eq!(get_int(&plain, tcp, libc::TCP_USER_TIMEOUT), 0);
    }

    #[test]
    fn v6only_and_v4v6_set_ipv6_v6only() {
        for (only, expected) in [(true, 1), (false, 0)] {
            let options = BindOptions {
                v6only: Some(only),
                ..BindOptions::default()
            };
            // No IPv6 on the machine: nothing to check. (Unbound: Linux makes
            // a socket bound to one address, such as ::1, IPv6-only.)
            let Ok(socket) = socket2::Socket::new(Domain::IPV6, Type::STREAM, None) else {
                return;
            };
            before_bind(&socket, "[::]:0".parse().unwrap(), &options).unwrap();
            let v6 = get_int(&socket, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY);
            assert_eq!(v6, expected);
        }
    }

    /// A listener on 127.0.0.1 and the peer address of what it accepts.
    fn accepted_from(source: Option<&SourceBind>) -> Result<SocketAddr, ConnError> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _stream = connect(addr, source, false)?;
        Ok(listener.accept().unwrap().1)
    }

    #[test]
    fn a_source_is_bound_before_connecting() {
        let any_port = SourceBind {
            addr: "127.0.0.2:0".parse().unwrap(),
            interface: None,
        };
        let peer = accepted_from(Some(&any_port)).unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
        assert_ne!(peer.port(), 0);
        // A fixed port.
        let probe = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let fixed = SourceBind {
            addr: SocketAddr::new("127.0.0.3".parse().unwrap(), port),
            interface: Some("lo".into()),
        };
        let peer = accepted_from(Some(&fixed)).unwrap();
        assert_eq!(peer, fixed.addr);
        assert_ne!(accepted_from(None).unwrap().ip().to_string(), "127.0.0.2");
    }

    /// Waits (bounded) until `stream` is connected.
    fn wait_connected(stream: &TcpStream) {
        let mut fd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one live descriptor, for at most 10 s.
        assert_eq!(unsafe { libc::poll(&raw mut fd, 1, 10_000) }, 1);
        assert!(connect_result(stream).is_ok());
    }

    #[test]
    fn a_connect_with_its_ack_delayed_and_reset_once_connected_is_never_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let check = connect(addr, None, true).unwrap();
        wait_connected(&check);
        socket2::SockRef::from(&check)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        let check_port = check.local_addr().unwrap().port();
        drop(check);
        // The next connection is the first the listener accepts.
        let traffic = connect(addr, None, false).unwrap();
        wait_connected(&traffic);
        let (_, peer) = listener.accept().unwrap();
        assert_ne!(peer.port(), check_port);
        assert_eq!(peer, traffic.local_addr().unwrap());
    }

    #[test]
    fn a_foreign_source_fails_to_bind() {
        let foreign = SourceBind {
            addr: "192.0.2.1:0".parse().unwrap(),
            interface: None,
        };
        let e = accepted_from(Some(&foreign)).unwrap_err();
        assert_eq!(e, ConnError::CantBind(libc::EADDRNOTAVAIL));
        assert_eq!(
            e.describe(),
            "Can't bind to source address (Cannot assign requested address)"
        );
    }

    #[test]
    fn an_interface_is_set_on_the_socket() {
        let socket = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let source = SourceBind {
            addr: "127.0.0.1:0".parse().unwrap(),
            interface: Some("lo".into()),
        };
        bind_source(&socket, &source).unwrap();
        assert_eq!(socket.device().unwrap().as_deref(), Some(&b"lo"[..]));
    }

    #[test]
    fn an_unknown_interface_is_named_in_the_error() {
        let options = BindOptions {
            interface: Some("nosuchif0".into()),
            ..BindOptions::default()
        };
        let e = listen("127.0.0.1:0".parse().unwrap(), &options).unwrap_err();
        assert!(e.to_string().starts_with("interface: "), "{e}");
    }
}
