//! How a check connection is opened for a `connect` rule
//! (`tcpcheck_eval_connect`): the address and port, TLS with its SNI and
//! ALPN, the PROXY header and the way it closes.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;

use super::{ServerState, TlsTarget};
use crate::config::Connect;
use crate::proxy_protocol::{self, Version};
use crate::session::HeaderOut;

/// What a check connection is opened with.
pub(super) struct Opening {
    /// Where to connect.
    pub addr: SocketAddr,
    /// TLS, or why its settings failed; `None` for plain TCP.
    pub tls: Option<Result<TlsTarget, String>>,
    /// The PROXY protocol header to write first.
    pub header: Option<HeaderOut>,
    /// The connection ends with a FIN, not a reset (`linger`).
    pub linger: bool,
    /// TLS offers ALPN: HAProxy then reports a failed connect as an
    /// `SSL handshake failure (<error>)` (checked against haproxy 2.6.12).
    pub alpn: bool,
}

/// The opening of `server`'s check connection for `connect` (`None`:
/// HAProxy's implicit first connect, which is a `default` one).
pub(super) fn opening(server: &ServerState, connect: Option<&Connect>) -> Opening {
    let config = &server.config;
    let implicit = Connect::implicit();
    let c = connect.unwrap_or(&implicit);
    let ip = c
        .addr
        .map_or(config.check_ip.unwrap_or(config.addr.ip()), |(ip, _)| ip);
    let port = c
        .port
        .or(c.addr.and_then(|(_, port)| port))
        .or(config.check_port)
        .unwrap_or(config.addr.port());
    let base = if c.ssl {
        server.rule_tls.clone().or_else(|| server.check_tls.clone())
    } else if c.default {
        server.check_tls.clone()
    } else {
        None
    };
    let alpn = c
        .alpn
        .clone()
        .or_else(|| c.default.then(|| config.check_alpn.clone()).flatten());
    let tls = base.map(|target| {
        target.map(|(client, name)| {
            let name = match &c.sni {
                Some(sni) => ServerName::try_from(sni.clone()).unwrap_or(name),
                None if c.default => name,
                None => ServerName::IpAddress(ip.into()),
            };
            let client = match alpn {
                Some(protocols) => {
                    let mut with = (*client).clone();
                    with.alpn_protocols = protocols;
                    Arc::new(with)
                }
                None => client,
            };
            (client, name)
        })
    });
    let version = match (c.send_proxy, c.default) {
        (true, _) => Some(
            config
                .check_send_proxy
                .or(config.send_proxy)
                .unwrap_or(Version::V1),
        ),
        (false, true) => config.check_send_proxy,
        (false, false) => None,
    };
    // A header without addresses (LOCAL, UNKNOWN), as HAProxy's checks.
    let header = version.map(|v| HeaderOut::new(proxy_protocol::encode(v, None, None)));
    let alpn = matches!(&tls, Some(Ok((client, _))) if !client.alpn_protocols.is_empty());
    Opening {
        addr: SocketAddr::new(ip, port),
        alpn,
        tls,
        header,
        linger: c.linger,
    }
}
