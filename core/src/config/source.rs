//! `source`: the address (and port, or port range, and interface) the
//! connections to a server are bound to before they connect, as HAProxy's
//! `conn_src`.

use std::net::SocketAddr;
use std::sync::Arc;

/// Where a backend's connections to a server come from: HAProxy's
/// `source <addr>[:<port>[-<port>]] [interface <name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSource {
    /// The address bound before `connect`; port 0: the kernel picks the
    /// port when connecting (`IP_BIND_ADDRESS_NO_PORT`).
    pub addr: SocketAddr,
    /// A port range `(low, high)`, server `source` only: each connection
    /// takes a free port of it, in HAProxy's order, and gives it back
    /// when it closes; with none free the connection fails.
    pub ports: Option<(u16, u16)>,
    /// `interface <name>`: the socket is bound to that device
    /// (`SO_BINDTODEVICE`).
    pub interface: Option<Arc<str>>,
}
