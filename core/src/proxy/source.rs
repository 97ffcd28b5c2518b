//! `source`: what the connections to a server (traffic, checks, agent)
//! are bound to before they connect, as HAProxy's `tcp_connect_server`:
//! the server's `source`, else its backend's. A server's port range hands
//! out its ports as HAProxy's `port_range` ring does: in order, each port
//! back at the end of the line when its connection closes; a connection
//! that finds none free fails (`Source port range exhausted`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::{Balancer, LogTargets, Role};
use crate::action::{Action, ConnError, Event, SourceBind};
use crate::config::Severity;
use crate::id::{BackendId, ConnId, ServerId};
use crate::time::Instant;

/// The free ports of a server's `source` port range.
#[derive(Debug, Default)]
pub(super) struct PortPool {
    /// The range the pool was built for; rebuilt when the server's
    /// range changes (a reload).
    range: Option<(u16, u16)>,
    /// Free ports, next first (HAProxy's ring).
    free: VecDeque<u16>,
    /// Counts rebuilds: a port of an older range is not given back.
    epoch: u32,
}

impl PortPool {
    /// A free port of `range` and the pool's epoch, or `None` when every
    /// port is taken. A port 0 (`:0-N`) is taken and never given back,
    /// failing that one connection, as HAProxy's ring does.
    fn take(&mut self, range: (u16, u16)) -> Option<(u16, u32)> {
        if self.range != Some(range) {
            self.range = Some(range);
            self.epoch = self.epoch.wrapping_add(1);
            self.free = (range.0..=range.1).collect();
        }
        let port = self.free.pop_front()?;
        (port != 0).then_some((port, self.epoch))
    }

    /// Gives `port`, taken at `epoch`, back at the end of the line.
    fn give_back(&mut self, port: u16, epoch: u32) {
        if epoch == self.epoch {
            self.free.push_back(port);
        }
    }
}

/// A port a connection holds.
#[derive(Debug, Clone, Copy)]
struct Hold {
    backend: BackendId,
    server: ServerId,
    port: u16,
    epoch: u32,
}

/// The balancer's part: ports held, and connects that found no port.
#[derive(Debug, Default)]
pub(super) struct Sources {
    /// Ports of port ranges held by open connections.
    held: HashMap<ConnId, Hold>,
    /// Connections whose range had no free port: they fail at the next
    /// [`Balancer::poll_action`], as a connect the driver reported.
    exhausted: Vec<ConnId>,
    /// Those of them the driver never heard of, until their `Close`:
    /// no action about them goes out.
    unannounced: Vec<ConnId>,
}

impl Balancer {
    /// Asks the driver to connect `conn` (for server `s` of backend `b`)
    /// to `addr`, bound to the server's `source`, taking a port of its
    /// range if it has one; `delay_ack` as [`Action::Connect`] says.
    pub(super) fn push_connect(
        &mut self,
        conn: ConnId,
        b: BackendId,
        s: ServerId,
        addr: SocketAddr,
        delay_ack: bool,
    ) {
        let server = self.backends.get_mut(b).and_then(|x| x.servers.get_mut(s));
        let Some(server) = server else {
            let source = None;
            return self.actions.push_back(Action::Connect {
                conn,
                addr,
                source,
                delay_ack,
            });
        };
        let source = match &server.config.source {
            None => None,
            Some(src) => {
                let mut bind = SourceBind {
                    addr: src.addr,
                    interface: src.interface.clone(),
                };
                if let Some(range) = src.ports {
                    let Some((port, epoch)) = server.ports.take(range) else {
                        self.sources.exhausted.push(conn);
                        self.sources.unannounced.push(conn);
                        return;
                    };
                    bind.addr.set_port(port);
                    let hold = Hold {
                        backend: b,
                        server: s,
                        port,
                        epoch,
                    };
                    self.sources.held.insert(conn, hold);
                }
                Some(bind)
            }
        };
        self.actions.push_back(Action::Connect {
            conn,
            addr,
            source,
            delay_ack,
        });
    }

    /// `conn` is being forgotten: the port of a range it held goes back.
    pub(super) fn release_source_port(&mut self, conn: ConnId) {
        if self.sources.held.is_empty() {
            return;
        }
        let Some(hold) = self.sources.held.remove(&conn) else {
            return;
        };
        let server =
            (self.backends.get_mut(hold.backend)).and_then(|x| x.servers.get_mut(hold.server));
        if let Some(server) = server {
            server.ports.give_back(hold.port, hold.epoch);
        }
    }

    /// The connects that found no free port fail now, as if the driver
    /// had reported them.
    pub(super) fn fail_exhausted_sources(&mut self) {
        while let Some(conn) = self.sources.exhausted.pop() {
            let result = Err(ConnError::PortRange);
            self.handle_event(self.last_now, Event::Connected { conn, result });
        }
    }

    /// Whether `action` is about a connection the driver never heard of
    /// (its range had no port): dropped; its `Close` ends that.
    pub(super) fn unannounced(&mut self, action: &Action) -> bool {
        if self.sources.unannounced.is_empty() {
            return false;
        }
        let conn = match action {
            Action::Close { conn, .. } => {
                let found = self.sources.unannounced.iter().position(|c| c == conn);
                return found
                    .map(|i| self.sources.unannounced.swap_remove(i))
                    .is_some();
            }
            Action::Interest { conn, .. }
            | Action::KeepAlive { conn }
            | Action::ShutdownWrite { conn } => conn,
            _ => return false,
        };
        self.sources.unannounced.contains(conn)
    }

    /// HAProxy's alert when a connection could not be bound to its
    /// source: on the backend's log targets (emerg) and the diagnostic
    /// log.
    pub(super) fn report_source_failure(&mut self, now: Instant, conn: ConnId, error: ConnError) {
        if !error.is_source() {
            return;
        }
        let b = match self.role(conn) {
            Some(Role::Check(b, _) | Role::Agent(b, _)) => b,
            Some(Role::Server(s) | Role::Hedge(s)) => match self.sessions.get(s) {
                Some(session) => session.backend,
                None => return,
            },
            _ => return,
        };
        let name = &self.backends[b].config.name;
        let message = format!("Cannot bind to source address before connect() for backend {name}.");
        let level = Some(log::Level::Error);
        self.log(
            now,
            LogTargets::Backend(b),
            Severity::Emerg,
            &message,
            level,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_go_in_order_and_come_back_at_the_end() {
        let mut pool = PortPool::default();
        let (a, epoch) = pool.take((1000, 1002)).unwrap();
        let (b, _) = pool.take((1000, 1002)).unwrap();
        assert_eq!((a, b), (1000, 1001));
        pool.give_back(a, epoch);
        assert_eq!(pool.take((1000, 1002)).unwrap().0, 1002);
        assert_eq!(pool.take((1000, 1002)).unwrap().0, 1000);
        assert_eq!(pool.take((1000, 1002)), None);
        pool.give_back(b, epoch);
        assert_eq!(pool.take((1000, 1002)).unwrap().0, 1001);
    }

    #[test]
    fn a_new_range_starts_over_and_old_ports_stay_out() {
        let mut pool = PortPool::default();
        let (old, epoch) = pool.take((1000, 1001)).unwrap();
        assert_eq!(pool.take((2000, 2001)).unwrap().0, 2000);
        pool.give_back(old, epoch);
        assert_eq!(pool.take((2000, 2001)).unwrap().0, 2001);
        assert_eq!(pool.take((2000, 2001)), None);
    }

    #[test]
    fn port_zero_of_a_range_fails_once() {
        let mut pool = PortPool::default();
        assert_eq!(pool.take((0, 1)), None);
        assert_eq!(pool.take((0, 1)).unwrap().0, 1);
    }
}
