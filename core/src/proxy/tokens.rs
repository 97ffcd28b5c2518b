//! The loop's tokens of the process's limits (see [`crate::loops`]):
//! client connections take the global and frontend ones before they are
//! accepted, and give them back when they end. The global token is
//! also the loop's load for the accept balance ([`Limits::yields`]).

use std::sync::Arc;

use super::{BackendState, Balancer, ListenerSlot};
use crate::arena::Key;
use crate::config::Balance;
use crate::id::{BackendId, FrontendId, ListenerId, ServerId};
use crate::limits::{GroupKey, LimitKey, LimitPool, LimitSlot, Limits, Position};
use crate::loops::EventLoop;
use crate::time::Instant;

/// A server's counts in the limit pool.
#[derive(Debug, Clone, Copy)]
pub(super) struct ServerSlots {
    /// Sessions connecting to or established on it (`maxconn`).
    pub conn: LimitSlot,
    /// Sessions in its own queue (`maxqueue`).
    pub queue: LimitSlot,
    /// The reload that made the server (its names carry it).
    pub epoch: u32,
}

impl Balancer {
    /// Shares `pool` with the other event loops of the process: this
    /// instance's limits become counts there (see [`crate::loops`]).
    /// Call it on every loop, with one pool, right after
    /// [`Balancer::new`] (before the first accept and the first reload:
    /// limits are named by the reloads that made them); without it an
    /// instance keeps a pool of its own.
    pub fn share_limits(&mut self, pool: Arc<LimitPool>) {
        let limits = Arc::new(Limits::new(pool, self.event_loop.index));
        self.global_slot = limits.slot(&LimitKey::Global);
        self.rates.share(&limits);
        for backend in self.backends.values_mut() {
            share_positions(&limits, self.epoch, backend);
            share_turns(&limits, self.epoch, self.event_loop, backend);
            backend.limits = limits.clone();
            backend.load_slot = None;
            for server in backend.servers.values_mut() {
                server.slots = None;
            }
        }
        for frontend in self.frontends.values_mut() {
            frontend.slot = None;
            frontend.rate_slot = None;
        }
        self.limits = limits;
        self.resolve_limits();
    }

    /// The pool this instance's limits count in.
    pub fn limit_pool(&self) -> &Arc<LimitPool> {
        self.limits.pool()
    }

    /// Before accepting a connection on `listener` at `now`: whether to
    /// accept one. For a frontend's listener, the connection's global and
    /// frontend tokens are taken, and an event of each accept rate
    /// reserved, for the next [`Balancer::accept`] on it; when a limit is
    /// full the listener pauses until a token frees, when a rate is, until
    /// its next event may come. An accept that then finds no connection
    /// gives them back ([`Balancer::unadmit`]). Drivers that skip it are
    /// admitted by `accept` itself (one loop: the same).
    pub fn admit(&mut self, now: Instant, listener: ListenerId) -> bool {
        match self.listener_slot(listener) {
            Some(ListenerSlot::Cli(i)) => {
                return self.cli.listeners.get(i).is_some_and(|l| l.accepting);
            }
            Some(ListenerSlot::Traffic(_)) => {}
            None => return false,
        }
        if self.admitted == Some(listener) {
            return true;
        }
        if let Some(other) = self.admitted {
            self.unadmit(other);
        }
        let Some(l) = self.traffic_listener(listener).filter(|l| l.open()) else {
            return false;
        };
        let fe = l.frontend;
        let page = self.frontends[fe].config.service.is_some();
        if !page && !self.take_client(fe) {
            self.refresh_listeners();
            return false;
        }
        if !self.reserve_rates(now, fe) {
            if !page {
                self.give_client(fe);
            }
            self.refresh_listeners();
            return false;
        }
        self.admitted = Some(listener);
        true
    }

    /// The accept after [`Balancer::admit`] found no connection: the
    /// tokens and reserved events go back.
    pub fn unadmit(&mut self, listener: ListenerId) {
        if self.admitted != Some(listener) {
            return;
        }
        self.admitted = None;
        self.unreserve_rates();
        if let Some(fe) = self.traffic_listener(listener).map(|l| l.frontend) {
            if self.frontends[fe].config.service.is_none() {
                self.give_client(fe);
            }
        }
    }

    /// The admission of a connection accepted on `listener` at `now`: the
    /// one [`Balancer::admit`] made, or one made now. Its reserved events
    /// stay for [`Balancer::count_accept_rate`].
    pub(super) fn claim_admission(&mut self, now: Instant, listener: ListenerId) -> bool {
        let admitted = self.admitted == Some(listener) || self.admit(now, listener);
        self.admitted = None;
        admitted
    }

    /// Takes a client connection's global and frontend tokens.
    fn take_client(&self, fe: FrontendId) -> bool {
        let limits = &self.limits;
        if !limits.take(self.global_slot, self.maxconn.unwrap_or(u32::MAX)) {
            return false;
        }
        let frontend = &self.frontends[fe];
        let taken = match frontend.slot {
            Some(slot) => limits.take(slot, frontend.config.maxconn.unwrap_or(u32::MAX)),
            None => true,
        };
        if taken {
            limits.load(true);
        } else {
            limits.give(self.global_slot);
        }
        taken
    }

    /// A client connection of frontend `fe` ends (or was not kept): its
    /// global and frontend tokens go back.
    pub(super) fn give_client(&self, fe: FrontendId) {
        self.limits.give(self.global_slot);
        self.limits.load(false);
        if let Some(slot) = self.frontends.get(fe).and_then(|f| f.slot) {
            self.limits.give(slot);
        }
    }

    /// Another loop gave back tokens (or accept-rate events) this loop
    /// waited for: queued sessions are served and paused listeners resume
    /// where there is room now. The driver calls it when told by the loop
    /// that gave them ([`Balancer::poll_freed`]).
    pub fn limits_freed(&mut self, now: Instant) {
        self.advance(now);
        let waiting: Vec<BackendId> = (self.backends.iter())
            .filter(|(_, b)| b.waiters.waiting > 0 || b.server_waiting > 0)
            .map(|(b, _)| b)
            .collect();
        for b in waiting {
            self.dispatch_queue(now, b);
        }
        self.rates_freed(now);
        self.refresh_listeners();
    }

    /// The other loops (bit `i`: loop `i`) that waited for tokens this
    /// loop gave back since the last call: tell each
    /// ([`Balancer::limits_freed`]). Always 0 with one loop.
    pub fn poll_freed(&mut self) -> u64 {
        self.limits.take_freed()
    }

    /// Gives frontends and servers without one their slot in the pool,
    /// named by what made them (the current reload).
    pub(super) fn resolve_limits(&mut self) {
        let (limits, epoch, event_loop) = (&self.limits, self.epoch, self.event_loop);
        for frontend in self.frontends.values_mut().filter(|f| f.slot.is_none()) {
            let name = frontend.config.name.clone();
            frontend.rate_slot = Some(limits.slot(&LimitKey::SessionRate {
                name: name.clone(),
                epoch,
            }));
            frontend.slot = Some(limits.slot(&LimitKey::Frontend { name, epoch }));
        }
        for backend in self.backends.values_mut() {
            if backend.lb.needs_positions() {
                share_positions(limits, epoch, backend);
            }
            if backend.lb.needs_shared_rr() {
                share_turns(limits, epoch, event_loop, backend);
            }
            let name = &backend.config.name;
            if backend.load_slot.is_none() {
                let key = LimitKey::Backend {
                    name: name.clone(),
                    epoch,
                };
                backend.load_slot = Some(limits.slot(&key));
            }
            for server in backend.servers.values_mut().filter(|s| s.slots.is_none()) {
                let (backend, server_name) = (name.clone(), server.config.name.clone());
                let queue = LimitKey::Queue {
                    backend: backend.clone(),
                    server: server_name.clone(),
                    epoch,
                };
                let conn = LimitKey::Server {
                    backend,
                    server: server_name,
                    epoch,
                };
                server.slots = Some(ServerSlots {
                    conn: limits.slot(&conn),
                    queue: limits.slot(&queue),
                    epoch,
                });
            }
        }
        self.index_reported_servers();
    }

    /// Loop 0 of several: indexes its live servers by the slot the
    /// followers' reports name them by (others keep none).
    fn index_reported_servers(&mut self) {
        self.reported_servers.clear();
        if !self.event_loop.leads() {
            return;
        }
        for (b, backend) in self.backends.iter().filter(|(_, x)| !x.retired) {
            for (s, server) in backend.servers.iter().filter(|(_, x)| !x.retired) {
                if let Some(slots) = server.slots {
                    self.reported_servers.insert(slots.conn, (b, s));
                }
            }
        }
    }

    /// The live server whose sessions `slot` counts, if this loop has it.
    pub(super) fn server_counted_at(&self, slot: LimitSlot) -> Option<(BackendId, ServerId)> {
        self.reported_servers.get(&slot).copied()
    }

    /// The process's sessions connecting to or established on server `s`
    /// (HAProxy's `cur_sess`): every loop's, as the pool counts them.
    pub(super) fn server_sessions(&self, b: BackendId, s: ServerId) -> u32 {
        let server = &self.backends[b].servers[s];
        server
            .slots
            .map_or(server.active, |slots| self.limits.held(slots.conn))
    }

    /// Debug builds, one loop (a pool of its own): the pool counts what
    /// the instance holds.
    #[cfg(debug_assertions)]
    pub(super) fn check_limit_invariants(&self) {
        if Arc::strong_count(self.limits.pool()) != 1 {
            return;
        }
        let limits = &self.limits;
        let admitted = self.admitted.and_then(|l| self.traffic_listener(l));
        let admitted = admitted.filter(|l| self.frontends[l.frontend].config.service.is_none());
        let pending = self.pending_count();
        let global = self.active + pending + u32::from(admitted.is_some());
        assert_eq!(limits.held(self.global_slot), global, "global tokens");
        for (f, frontend) in self.frontends.iter() {
            let Some(slot) = frontend.slot else {
                continue;
            };
            let held = frontend.active
                + self.pending_of(f)
                + u32::from(admitted.is_some_and(|l| l.frontend == f));
            assert_eq!(limits.held(slot), held, "{f:?} tokens");
        }
        for (b, backend) in self.backends.iter() {
            if let Some(slot) = backend.load_slot {
                assert_eq!(limits.held(slot), backend.active, "{b:?} load tokens");
            }
            for (s, server) in backend.servers.iter() {
                let Some(slots) = server.slots else {
                    continue;
                };
                assert_eq!(limits.held(slots.conn), server.active, "{b:?} {s:?} tokens");
                let waiting = server.waiters.waiting;
                assert_eq!(
                    limits.held(slots.queue),
                    waiting,
                    "{b:?} {s:?} queue tokens"
                );
            }
        }
        assert_eq!(limits.pool().underflows(), 0, "tokens given twice");
    }
}

/// `backend`'s `static-rr` walks stand where the process's do, named by
/// the reload `epoch` that built its balancing state (each reload starts
/// them again, as HAProxy's new process does).
fn share_positions(limits: &Arc<Limits>, epoch: u32, backend: &mut BackendState) {
    if backend.config.balance != Balance::StaticRr {
        return;
    }
    for group in 0..2u8 {
        let key = LimitKey::Position(GroupKey {
            backend: backend.config.name.clone(),
            epoch,
            group,
        });
        let position = Position::new(limits.clone(), limits.slot(&key));
        backend.lb.share_position(usize::from(group), position);
    }
}

/// With several loops, `backend`'s `roundrobin` takes the process's
/// turns, named as [`share_positions`] names walks; loop 0 writes the
/// weights there.
fn share_turns(limits: &Limits, epoch: u32, event_loop: EventLoop, backend: &mut BackendState) {
    if backend.config.balance != Balance::RoundRobin || event_loop.count < 2 {
        return;
    }
    let listed: Vec<usize> = (backend.listed().iter()).map(|(s, _)| s.index()).collect();
    for group in 0..2u8 {
        let key = GroupKey {
            backend: backend.config.name.clone(),
            epoch,
            group,
        };
        let turns = limits.pool().turns(&key);
        let leads = event_loop.index == 0;
        backend
            .lb
            .share_rr(usize::from(group), turns, &listed, leads);
    }
}
