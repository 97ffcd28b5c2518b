//! `source`: what the connections to a server (traffic, checks, agent)
//! are bound to before they connect, as HAProxy's `tcp_connect_server`:
//! the server's `source`, else its backend's. A server's port range hands
//! out its ports as HAProxy's `port_range` ring does: in order, each port
//! back at the end of the line when its connection closes; a connection
//! that finds none free fails (`Source port range exhausted`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use super::{Balancer, LogTargets, Role};
use crate::action::{Action, ConnError, Event, SourceBind};
use crate::config::Severity;
use crate::id::{BackendId, ConnId, ServerId};
use crate::limits::{PortSet, PortsKey};
use crate::time::Instant;

/// The free ports of a server's `source` port range, in this loop's
/// order; the loops share which ports are held ([`PortSet`]).
#[derive(Debug, Default)]
pub(super) struct PortPool {
    /// The range the pool was built for; rebuilt when the server's
    /// range changes (a reload).
    range: Option<(u16, u16)>,
    /// Free ports, next first (HAProxy's ring).
    free: VecDeque<u16>,
    /// Counts rebuilds: a port of an older range is not given back.
    epoch: u32,
    /// The ports of the range the loops hold.
    held: Option<Arc<PortSet>>,
}

impl PortPool {
    /// A free port of `range`, the pool's epoch and the set it is held
    /// in, or `None` when every port is taken (here or by another loop:
    /// `shared` gives the loops' set of a new range). A port 0 (`:0-N`)
    /// is taken and never given back, failing that one connection, as
    /// HAProxy's ring does.
    fn take(
        &mut self,
        range: (u16, u16),
        shared: impl FnOnce() -> Arc<PortSet>,
    ) -> Option<(u16, u32, Arc<PortSet>)> {
        if self.range != Some(range) {
            self.range = Some(range);
            self.epoch = self.epoch.wrapping_add(1);
            self.free = (range.0..=range.1).collect();
            self.held = Some(shared());
        }
        let held = self.held.clone()?;
        // Ports another loop holds go to the end of the line.
        for _ in 0..self.free.len() {
            let port = self.free.pop_front()?;
            if port == 0 {
                return None;
            }
            if held.claim(port) {
                return Some((port, self.epoch, held));
            }
            self.free.push_back(port);
        }
        None
    }

    /// Gives `port`, taken at `epoch`, back at the end of the line.
    fn give_back(&mut self, port: u16, epoch: u32) {
        if epoch == self.epoch {
            self.free.push_back(port);
        }
    }
}

/// A port a connection holds.
#[derive(Debug, Clone)]
struct Hold {
    backend: BackendId,
    server: ServerId,
    port: u16,
    epoch: u32,
    /// Where the loops see it held.
    set: Arc<PortSet>,
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
        let backend = self.backends.get_mut(b);
        let server = backend.and_then(|x| Some((x.servers.get_mut(s)?, &x.config.name, &x.limits)));
        let Some((server, backend_name, limits)) = server else {
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
                    let (name, slots) = (&server.config.name, server.slots);
                    let shared = || {
                        limits.pool().ports(&PortsKey {
                            backend: backend_name.clone(),
                            server: name.clone(),
                            epoch: slots.map_or(0, |x| x.epoch),
                            range,
                        })
                    };
                    let Some((port, epoch, set)) = server.ports.take(range, shared) else {
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
                        set,
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
        hold.set.release(hold.port);
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

    /// A pool and the loops' set of its ports, as one loop uses them.
    struct Loop {
        pool: PortPool,
        set: Option<Arc<PortSet>>,
        taken: Vec<(u16, u32, Arc<PortSet>)>,
    }

    impl Loop {
        fn new() -> Self {
            Loop {
                pool: PortPool::default(),
                set: None,
                taken: Vec::new(),
            }
        }

        fn take(&mut self, range: (u16, u16)) -> Option<u16> {
            let set = self.set.clone();
            let shared = || set.unwrap_or_else(|| Arc::new(PortSet::for_tests(range)));
            let (port, epoch, set) = self.pool.take(range, shared)?;
            self.set = Some(set.clone());
            self.taken.push((port, epoch, set));
            Some(port)
        }

        fn give_back(&mut self, port: u16) {
            let i = self.taken.iter().position(|t| t.0 == port).unwrap();
            let (port, epoch, set) = self.taken.swap_remove(i);
            set.release(port);
            self.pool.give_back(port, epoch);
        }
    }

    #[test]
    fn ports_go_in_order_and_come_back_at_the_end() {
        let mut l = Loop::new();
        let (a, b) = (l.take((1000, 1002)).unwrap(), l.take((1000, 1002)).unwrap());
        assert_eq!((a, b), (1000, 1001));
        l.give_back(a);
        assert_eq!(l.take((1000, 1002)), Some(1002));
        assert_eq!(l.take((1000, 1002)), Some(1000));
        assert_eq!(l.take((1000, 1002)), None);
        l.give_back(b);
        assert_eq!(l.take((1000, 1002)), Some(1001));
    }

    #[test]
    fn a_new_range_starts_over_and_old_ports_stay_out() {
        let mut l = Loop::new();
        let old = l.take((1000, 1001)).unwrap();
        l.set = None;
        assert_eq!(l.take((2000, 2001)), Some(2000));
        l.give_back(old);
        assert_eq!(l.take((2000, 2001)), Some(2001));
        assert_eq!(l.take((2000, 2001)), None);
    }

    #[test]
    fn port_zero_of_a_range_fails_once() {
        let mut l = Loop::new();
        assert_eq!(l.take((0, 1)), None);
        assert_eq!(l.take((0, 1)), Some(1));
    }

    #[test]
    fn two_loops_never_hand_out_the_same_port() {
        let set = Arc::new(PortSet::for_tests((1000, 1003)));
        let (mut a, mut b) = (Loop::new(), Loop::new());
        a.set = Some(set.clone());
        b.set = Some(set);
        assert_eq!(a.take((1000, 1003)), Some(1000));
        assert_eq!(b.take((1000, 1003)), Some(1001), "1000 is loop 0's");
        assert_eq!(a.take((1000, 1003)), Some(1002));
        assert_eq!(b.take((1000, 1003)), Some(1003));
        assert_eq!(a.take((1000, 1003)), None, "every port is held");
        b.give_back(1001);
        assert_eq!(a.take((1000, 1003)), Some(1001));
    }
}
