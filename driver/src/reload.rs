//! What a reload does before core applies it: read and validate the
//! configuration files as `weir -c` does, size `maxconn` as at start-up,
//! and bind the addresses that are new, so that any error leaves the
//! running configuration untouched.

use std::net::SocketAddr;
use std::time::SystemTime;

use weir_core::config::{Config, StatsAddr, printable};
use weir_core::{Balancer, ListenAddr};

use crate::engine::{open_listener, unix_seconds};
use crate::sockets::ListenSocket;
use crate::{cli, limits, syslog};

/// A new configuration ready for `Balancer::reload`, with sockets bound
/// for its new addresses.
pub(crate) struct Ready {
    pub config: Config,
    pub sockets: Vec<(SocketKey, ListenSocket)>,
}

/// The address a bound socket serves, to hand it to its listener id.
pub(crate) enum SocketKey {
    Tcp(SocketAddr),
    Unix(String),
}

impl SocketKey {
    fn of(addr: &ListenAddr<'_>) -> SocketKey {
        match addr {
            ListenAddr::Tcp(addr) => SocketKey::Tcp(*addr),
            ListenAddr::Unix(socket) => match &socket.addr {
                StatsAddr::Unix(path) => SocketKey::Unix(path.clone()),
                StatsAddr::Tcp(addr) => SocketKey::Tcp(*addr),
            },
        }
    }

    /// Whether this socket is the one for `addr`.
    pub fn names(&self, addr: &ListenAddr<'_>) -> bool {
        match (self, SocketKey::of(addr)) {
            (SocketKey::Tcp(a), SocketKey::Tcp(b)) => *a == b,
            (SocketKey::Unix(a), SocketKey::Unix(b)) => *a == b,
            _ => false,
        }
    }
}

/// Reads `files` again and binds what is new for `lb`: the warnings, and
/// the configuration or the errors (the lines `weir -c` prints, without
/// their `[ALERT]`).
pub(crate) fn prepare(
    files: &[String],
    lb: &Balancer,
) -> (Vec<String>, Result<Ready, Vec<String>>) {
    let (loaded, mut warnings) = cli::read_config(files);
    let mut config = match loaded {
        Ok(config) => config,
        Err(errors) => return (warnings, Err(errors)),
    };
    if let Some(warning) = limits::apply(&mut config)
        .as_ref()
        .and_then(|p| p.warning())
    {
        warnings.push(warning);
    }
    config.global.hostname = syslog::hostname();
    config.global.utc_offset = syslog::utc_offset(unix_seconds(SystemTime::now()));
    let mut sockets = Vec::new();
    for addr in lb.listeners_to_bind(&config) {
        let options = match addr {
            ListenAddr::Tcp(addr) => (config.frontends.iter())
                .flat_map(|f| &f.binds)
                .find(|b| b.addr == addr)
                .map(|b| &b.options),
            ListenAddr::Unix(_) => None,
        };
        match open_listener(addr, options) {
            Ok(socket) => sockets.push((SocketKey::of(&addr), socket)),
            Err(e) => return (warnings, Err(vec![bind_error(&config, &addr, &e)])),
        }
    }
    (warnings, Ok(Ready { config, sockets }))
}

/// The start-up message for an address of `config` that cannot be bound.
fn bind_error(config: &Config, addr: &ListenAddr<'_>, e: &std::io::Error) -> String {
    let message = match addr {
        ListenAddr::Tcp(addr) => {
            let bind = (config.frontends.iter())
                .find_map(|f| Some((f, f.binds.iter().find(|b| b.addr == *addr)?)));
            match bind {
                Some((frontend, bind)) => format!(
                    "{}: frontend '{}': cannot bind {addr}: {e}",
                    bind.origin, frontend.name
                ),
                None => {
                    let socket = (config.global.runtime_api.sockets.iter())
                        .find(|s| s.addr == StatsAddr::Tcp(*addr));
                    let origin = socket
                        .map(|s| format!("{}: ", s.origin))
                        .unwrap_or_default();
                    format!("{origin}stats socket {addr}: cannot bind: {e}")
                }
            }
        }
        ListenAddr::Unix(socket) => match &socket.addr {
            StatsAddr::Unix(path) => format!("{}: stats socket {path}: {e}", socket.origin),
            StatsAddr::Tcp(addr) => {
                format!("{}: stats socket {addr}: cannot bind: {e}", socket.origin)
            }
        },
    };
    printable(&message).into_owned()
}
