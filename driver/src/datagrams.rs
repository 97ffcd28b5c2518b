//! The UDP sockets core's datagrams leave from (DNS queries,
//! [`weir_core::Action::SendDatagram`]) and whose incoming datagrams go
//! back to core ([`weir_core::Balancer::handle_datagram`]): one per
//! address family, opened at the first datagram, bound to an ephemeral
//! port, watched by the reactor as a listener.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::engine::{Reactor, Token};
use crate::sockets::ListenSocket;

/// Tokens of the IPv4 and IPv6 sockets, below every listener's.
pub(crate) const TOKENS: [Token; 2] = [usize::MAX - 3 - (1 << 24), usize::MAX - 4 - (1 << 24)];

/// Largest datagram read (the largest `accepted_payload_size`).
const MAX_DATAGRAM: usize = 65535;
/// Datagrams read per socket per turn, for fairness.
const BUDGET: usize = 64;

/// The two sockets and whether they may have datagrams waiting.
pub(crate) struct Datagrams<L> {
    sockets: [Option<L>; 2],
    ready: [bool; 2],
    buf: Vec<u8>,
}

impl<L> Default for Datagrams<L> {
    fn default() -> Self {
        Datagrams {
            sockets: [None, None],
            ready: [false; 2],
            buf: Vec::new(),
        }
    }
}

impl<L> Datagrams<L> {
    /// Whether `token` is one of these sockets'; it is then marked ready.
    pub(crate) fn ready(&mut self, token: Token) -> bool {
        match TOKENS.iter().position(|t| *t == token) {
            Some(i) => {
                self.ready[i] = true;
                true
            }
            None => false,
        }
    }

    /// Sends `data` to `to`, opening the family's socket first if needed.
    /// A datagram the socket cannot take now is dropped (core retries).
    pub(crate) fn send<R: Reactor<Listener = L>>(
        &mut self,
        reactor: &mut R,
        to: SocketAddr,
        data: &[u8],
    ) {
        let i = usize::from(to.is_ipv6());
        if self.sockets[i].is_none() {
            match open(to).and_then(|s| reactor.listener(ListenSocket::Udp(s), TOKENS[i])) {
                Ok(socket) => {
                    // Watched from now on, for the answers.
                    reactor.arm_listener(&socket, TOKENS[i]);
                    self.sockets[i] = Some(socket);
                }
                Err(e) => return log::warn!("cannot open a UDP socket for {to}: {e}"),
            }
        }
        if let Some(socket) = &self.sockets[i] {
            if let ListenSocket::Udp(udp) = R::listen_socket(socket) {
                if let Err(e) = udp.send_to(data, to) {
                    log::debug!("datagram to {to} dropped: {e}");
                }
            }
        }
    }

    /// Reads the datagrams waiting on the ready sockets and hands each to
    /// `deliver`; a socket with nothing left is armed again.
    pub(crate) fn receive<R: Reactor<Listener = L>>(
        &mut self,
        reactor: &mut R,
        mut deliver: impl FnMut(SocketAddr, &[u8]),
    ) {
        for (i, token) in TOKENS.into_iter().enumerate() {
            if !std::mem::take(&mut self.ready[i]) {
                continue;
            }
            let Some(socket) = &self.sockets[i] else {
                continue;
            };
            let ListenSocket::Udp(udp) = R::listen_socket(socket) else {
                continue;
            };
            if self.buf.len() < MAX_DATAGRAM {
                self.buf.resize(MAX_DATAGRAM, 0);
            }
            let mut drained = false;
            for _ in 0..BUDGET {
                match udp.recv_from(&mut self.buf) {
                    Ok((n, from)) => deliver(from, &self.buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        if e.kind() != io::ErrorKind::WouldBlock {
                            // ICMP errors of earlier sends: core retries.
                            log::debug!("UDP receive: {e}");
                            continue;
                        }
                        drained = true;
                        break;
                    }
                }
            }
            if drained {
                reactor.arm_listener(socket, token);
            } else {
                self.ready[i] = true;
            }
        }
    }

    /// Whether a socket may have datagrams waiting.
    pub(crate) fn pending(&self) -> bool {
        self.ready.iter().any(|r| *r)
    }
}

/// A non-blocking UDP socket of `to`'s family on an ephemeral port.
fn open(to: SocketAddr) -> io::Result<UdpSocket> {
    let local = if to.is_ipv6() {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    };
    let socket = UdpSocket::bind(local)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
