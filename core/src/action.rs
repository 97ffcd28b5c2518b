//! What a driver tells core ([`Event`]) and what core tells a driver ([`Action`]).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::id::{ConnId, ListenerId};

/// Something that happened to a connection, reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An [`Action::Connect`] finished: the socket is established, or failed.
    Connected {
        /// The connection core asked to open.
        conn: ConnId,
        /// `Ok` once the socket is writable with no pending error.
        result: Result<(), ConnError>,
    },
    /// The peer sent FIN: a read returned 0 bytes.
    ReadClosed {
        /// The connection that reached end of stream.
        conn: ConnId,
    },
    /// A read failed (RST, or another socket error).
    Failed {
        /// The broken connection.
        conn: ConnId,
        /// Why.
        error: ConnError,
    },
    /// A write failed: the peer's RST (EPIPE, ECONNRESET) or another
    /// socket error. Bytes the peer sent before may still wait in the
    /// socket: Linux keeps them readable once the connection broke (reads
    /// return them, then the end of stream), so the driver goes on reading
    /// the connection while core wants to.
    WriteFailed {
        /// The connection written to.
        conn: ConnId,
        /// Why.
        error: ConnError,
    },
    /// A spliced direction (see [`Action::Splice`]): the kernel moved
    /// `bytes` from connection `conn` into the direction's pipe.
    SplicedIn {
        /// The source the bytes were read from.
        conn: ConnId,
        /// How many.
        bytes: usize,
    },
    /// A spliced direction: the kernel moved `bytes` from the direction's
    /// pipe to connection `conn`.
    SplicedOut {
        /// The sink the bytes were written to.
        conn: ConnId,
        /// How many.
        bytes: usize,
    },
    /// `accept` on a listener failed with something other than "would block".
    AcceptFailed {
        /// The listener.
        listener: ListenerId,
        /// Why (EMFILE and friends are [`ConnError::NoResources`]).
        error: ConnError,
    },
}

/// Why a socket operation failed, reduced to what core decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnError {
    /// ECONNREFUSED.
    Refused,
    /// ECONNRESET, EPIPE, ECONNABORTED.
    Reset,
    /// ETIMEDOUT from the kernel.
    TimedOut,
    /// EHOSTUNREACH, ENETDOWN.
    Unreachable,
    /// ENETUNREACH: no route to the network, known at `connect`.
    NetUnreachable,
    /// Out of descriptors, buffers, memory or source ports (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM, EADDRNOTAVAIL).
    NoResources,
    /// Binding the connection to its `source` address failed (an address
    /// that is not local: EADDRNOTAVAIL), with the OS error code.
    CantBind(i32),
    /// The `source` port range had no free port (found by core).
    PortRange,
    /// Anything else, with its OS error code when there is one.
    Other(i32),
}

impl ConnError {
    /// Classifies an IO error from a socket call.
    pub fn from_io(err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ECONNREFUSED) => ConnError::Refused,
            Some(libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED) => ConnError::Reset,
            Some(libc::ETIMEDOUT) => ConnError::TimedOut,
            Some(libc::EHOSTUNREACH | libc::ENETDOWN) => ConnError::Unreachable,
            Some(libc::ENETUNREACH) => ConnError::NetUnreachable,
            Some(
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL,
            ) => ConnError::NoResources,
            Some(code) => ConnError::Other(code),
            None => match err.kind() {
                io::ErrorKind::ConnectionRefused => ConnError::Refused,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => ConnError::Reset,
                io::ErrorKind::TimedOut => ConnError::TimedOut,
                _ => ConnError::Other(0),
            },
        }
    }

    /// The short text HAProxy shows for it in check logs (`info: "..."`).
    pub fn describe(self) -> &'static str {
        match self {
            ConnError::Refused => "Connection refused",
            ConnError::Reset => "Connection reset by peer",
            ConnError::TimedOut => "Connection timed out",
            ConnError::Unreachable => "No route to host",
            // HAProxy's text for an error of `connect()` itself
            // (`CO_ER_SOCK_ERR` and `strerror`).
            ConnError::NetUnreachable => "General socket error (Network is unreachable)",
            ConnError::NoResources => "Out of resources",
            // HAProxy's `CO_ER_CANT_BIND` and `strerror`.
            ConnError::CantBind(code) => match code {
                libc::EADDRNOTAVAIL => {
                    "Can't bind to source address (Cannot assign requested address)"
                }
                libc::EADDRINUSE => "Can't bind to source address (Address already in use)",
                libc::EACCES => "Can't bind to source address (Permission denied)",
                libc::EINVAL => "Can't bind to source address (Invalid argument)",
                libc::EAFNOSUPPORT => {
                    "Can't bind to source address (Address family not supported by protocol)"
                }
                _ => "Can't bind to source address",
            },
            // HAProxy's `CO_ER_PORT_RANGE`.
            ConnError::PortRange => "Source port range exhausted",
            ConnError::Other(_) => "Connection error",
        }
    }
}

/// What core asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a non-blocking TCP connection to `addr` for `conn` (a server side
    /// or a health probe), then report [`Event::Connected`].
    Connect {
        /// The id core gave the new connection.
        conn: ConnId,
        /// Where to connect.
        addr: SocketAddr,
        /// The local address to bind first (`source`); `None`: the
        /// kernel's choice.
        source: Option<SourceBind>,
        /// Delay the handshake's last ACK (`TCP_QUICKACK` off before
        /// connecting), as HAProxy's checks do when no expect rule follows
        /// the connect (`CONNECT_DELACK_ALWAYS`): the ACK leaves with the
        /// first bytes, or never for a connect-only check closed with a
        /// reset, so the server's application never accepts that check.
        delay_ack: bool,
    },
    /// Turn on TCP keep-alive (`SO_KEEPALIVE`) on `conn` (`option
    /// tcpka`). Comes right after the [`Action::Connect`] of a server side,
    /// or after [`crate::Balancer::accept`] for a client side.
    KeepAlive {
        /// The connection.
        conn: ConnId,
    },
    /// Whether core wants to read from and/or write to `conn` now.
    Interest {
        /// The connection.
        conn: ConnId,
        /// Read when readable.
        read: bool,
        /// Write when writable.
        write: bool,
    },
    /// Core has no further use for the bytes read from `from`: the driver
    /// may move them to `to` through a kernel pipe (`splice(2)`) rather
    /// than through [`crate::Balancer::recv_buf`], reporting what moved
    /// with [`Event::SplicedIn`] and [`Event::SplicedOut`]. Only ever
    /// asked of a driver that called [`crate::Balancer::enable_splice`].
    /// Bytes keep their order: the driver splices a read only while core's
    /// buffer for the direction is empty (`send_buf(to)` is `None`), and
    /// reads into that buffer only while its pipe is empty (when it has no
    /// pipe to spare). A FIN read from `from` is reported as before; core
    /// forwards it once the pipe is empty ([`Action::ShutdownWrite`]).
    /// Lasts as long as both connections.
    Splice {
        /// The source.
        from: ConnId,
        /// The sink.
        to: ConnId,
    },
    /// Shut down the write side of `conn` (forward a FIN).
    ShutdownWrite {
        /// The connection.
        conn: ConnId,
    },
    /// Close `conn` and forget it; `reset` asks for an RST (SO_LINGER 0),
    /// which is also how `option nolinger` sides are always closed.
    Close {
        /// The connection.
        conn: ConnId,
        /// Abort with RST instead of a clean FIN.
        reset: bool,
        /// The close's FIN also forwards the peer's end of stream: core
        /// folded the session's last [`Action::ShutdownWrite`] on `conn`
        /// into it (one system call less), which it does only when both
        /// directions are over, `conn`'s own end of stream was read (so a
        /// close sends a FIN, not an RST) and `reset` is false. Nothing
        /// for a driver to do; the simulator counts it as forwarded.
        forwards_fin: bool,
    },
    /// Stop accepting on a listener (limits reached, out of descriptors).
    PauseAccept {
        /// The listener.
        listener: ListenerId,
    },
    /// Accept again on a listener, starting at once.
    ResumeAccept {
        /// The listener.
        listener: ListenerId,
    },
    /// Close a listening socket for good (soft stop): new connections are
    /// refused and another process may bind the address.
    Unbind {
        /// The listener.
        listener: ListenerId,
    },
    /// Hand this process's listening sockets to the peer of the UNIX
    /// stats-socket connection `conn`, as HAProxy's `_getsocks` does for a
    /// process taking over with `-x`: the number of sockets, then the
    /// descriptors (`SCM_RIGHTS`). A [`Action::Close`] of `conn` follows.
    SendListeners {
        /// The connection that asked (`_getsocks`).
        conn: ConnId,
    },
    /// Send one UDP datagram to `to` (a DNS query to a `nameserver`),
    /// from a socket of the driver's that is not bound to a listener;
    /// datagrams coming back to it go to
    /// [`crate::Balancer::handle_datagram`]. Never blocks: a datagram the
    /// socket cannot take is dropped (the query is retried).
    SendDatagram {
        /// The destination.
        to: SocketAddr,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Write one log line.
    Log(LogLine),
    /// Read the configuration files again (a `reload` on a stats socket)
    /// and call [`crate::Balancer::reload`], or
    /// [`crate::Balancer::reload_failed`] with the errors.
    Reload,
}

/// The local end of an outgoing connection (`source`), bound before
/// `connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBind {
    /// The address and port to bind; port 0: any port, chosen when
    /// connecting (`IP_BIND_ADDRESS_NO_PORT`, as HAProxy on Linux).
    pub addr: SocketAddr,
    /// `interface`: bind the socket to this device (`SO_BINDTODEVICE`).
    pub interface: Option<Arc<str>>,
}

impl ConnError {
    /// Whether the failure is the local end's (`source`): HAProxy retries
    /// such a connect at once, with no turn-around pause.
    pub fn is_source(self) -> bool {
        matches!(self, ConnError::CantBind(_) | ConnError::PortRange)
    }
}

/// A formatted log line and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The destination.
    pub sink: LogSink,
    /// The line, header included, already cut to the target's `len`,
    /// without the trailing newline the driver adds.
    pub text: String,
}

/// Destination of a [`LogLine`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogSink {
    /// A `log stdout` target: write the line to standard output.
    Stdout,
    /// A `log stderr` target: write the line to standard error.
    Stderr,
    /// A syslog server: send the line and a newline as one UDP datagram,
    /// without ever blocking (a full socket drops the line).
    Udp(SocketAddr),
    /// A UNIX datagram socket such as `/dev/log`: send the line and a
    /// newline as one datagram, without ever blocking.
    Unix(Arc<Path>),
    /// An operator message (health changes, alerts) for the driver's own
    /// diagnostic logger at this level, like HAProxy's `[WARNING]` lines.
    Diagnostic(log::Level),
}
