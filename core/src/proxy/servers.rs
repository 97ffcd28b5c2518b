//! What the balancing algorithm sees of a backend's servers: usability,
//! effective weight (with `slowstart`), load and limits; and where a new
//! connection goes: a server, a server's queue or the backend's queue.

use std::net::IpAddr;
use std::time::Duration;

use super::{BackendState, ServerState, Waiters};
use crate::arena::Key;
use crate::config::Balance;
use crate::id::ServerId;
use crate::limits::Limits;
use crate::rng::Rng;
use crate::stats::OpState;
use crate::time::Instant;

/// HAProxy's weight resolution during a `slowstart` ramp (`BE_WEIGHT_SCALE`).
const WEIGHT_SCALE: u128 = 16;

/// Where a new connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// Connect to this server now.
    Server(ServerId),
    /// Wait for this very server: `balance source` chose it and it is full.
    ServerQueue(ServerId),
    /// Wait for any usable server.
    BackendQueue,
    /// The chosen server's queue is at `maxqueue` and redispatch is off.
    Refuse,
}

impl ServerState {
    pub(super) fn is_usable(&self) -> bool {
        !self.retired
            && !self.admin.maint()
            && !self.admin.drain()
            && matches!(self.op, OpState::Starting | OpState::Running)
    }

    /// The interval before this server's next check.
    pub(super) fn check_interval(&self) -> Duration {
        let c = &self.config;
        self.health.interval(c.inter, c.fastinter, c.downinter)
    }

    /// While a `slowstart` ramp lasts: time spent on it and its length.
    fn ramp(&self, now: Instant) -> Option<(u128, u128)> {
        let since = self.warm_since?;
        let length = self.config.slowstart?.as_millis();
        let elapsed = now.saturating_duration_since(since).as_millis();
        (elapsed < length).then_some((elapsed, length.max(1)))
    }

    /// Whether the `slowstart` ramp is over; the next step otherwise:
    /// 5% of the ramp, at least one second, as HAProxy's warm-up task.
    pub(super) fn next_warm_step(&self, now: Instant) -> Option<Instant> {
        let since = self.warm_since?;
        let length = self.config.slowstart?;
        let end = since + length;
        (now < end).then(|| end.min(now + (length / 20).max(Duration::from_secs(1))))
    }

    /// The server's connection limit now: its `maxconn`, made dynamic by
    /// `minconn` and the backend's `load` against `fullconn`, as HAProxy's
    /// `srv_dynamic_maxconn` does, and ramped by `slowstart`; `None`
    /// without `maxconn`.
    pub(super) fn limit(&self, load: u32, fullconn: u32, now: Instant) -> Option<u32> {
        let (max, min) = (self.config.maxconn, self.config.minconn);
        if max == 0 {
            return None;
        }
        let mut limit = if min >= max || load >= fullconn {
            max
        } else {
            let share = u64::from(load) * u64::from(max) / u64::from(fullconn.max(1));
            (share as u32).max(min).max(1)
        };
        if let Some((elapsed, length)) = self.ramp(now) {
            limit = ((u128::from(limit) * elapsed / length) as u32).max(1);
        }
        Some(limit)
    }

    /// Whether the server takes no new connection now: the loops hold
    /// as many of its tokens as its limit ([`ServerState::limit`]); this
    /// loop then waits for one.
    pub(super) fn is_full(&self, load: u32, fullconn: u32, now: Instant, limits: &Limits) -> bool {
        let Some(limit) = self.limit(load, fullconn, now) else {
            return false;
        };
        match self.slots {
            Some(slots) => limits.full(slots.conn, limit),
            None => self.active >= limit,
        }
    }

    /// Takes one of the server's tokens if it has room: what a session
    /// holds while it connects to or is established on it
    /// ([`BackendState::add_load`]). Servers without `maxconn` are counted
    /// too.
    fn claim(&self, load: u32, fullconn: u32, now: Instant, limits: &Limits) -> bool {
        let limit = self.limit(load, fullconn, now).unwrap_or(u32::MAX);
        match self.slots {
            Some(slots) => limits.take(slots.conn, limit),
            None => self.active < limit,
        }
    }

    /// Takes a place in the server's own queue if it has one under
    /// `maxqueue` (counted without it too).
    fn claim_queue(&self, limits: &Limits) -> bool {
        let limit = match self.config.maxqueue {
            0 => u32::MAX,
            n => n,
        };
        match self.slots {
            Some(slots) => limits.try_take(slots.queue, limit),
            None => self.waiters.waiting < limit,
        }
    }

    /// A session left the server's own queue (`served`: for the server):
    /// its place goes back.
    pub(super) fn unqueue(&mut self, served: bool, limits: &Limits) {
        if served {
            self.waiters.serve();
        } else {
            self.waiters.left();
        }
        if let Some(slots) = self.slots {
            limits.give(slots.queue);
        }
    }

    /// The weight offered to the balancing algorithm: 0 when not usable;
    /// during `slowstart`, HAProxy's ramp from 1/16 of the weight up.
    pub(super) fn lb_weight(&self, now: Instant) -> u32 {
        if !self.is_usable() {
            return 0;
        }
        let weight = u128::from(self.weight);
        match self.ramp(now) {
            Some((elapsed, length)) => {
                let scaled = (WEIGHT_SCALE * elapsed + length) / length;
                (weight * scaled).div_ceil(WEIGHT_SCALE) as u32
            }
            None => weight as u32,
        }
    }
}

impl BackendState {
    /// Gives every server's effective weight to the algorithm, in the
    /// configuration's order (HAProxy's order among equal weights).
    pub(super) fn sync_weights(&mut self, now: Instant) {
        let mut servers: Vec<_> = self.servers.iter().collect();
        servers.sort_by(|(_, a), (_, b)| {
            let (a, b) = (&a.config.origin, &b.config.origin);
            (&a.file, a.line).cmp(&(&b.file, b.line))
        });
        for (id, server) in servers {
            self.lb.set_weight(id.index(), server.lb_weight(now));
        }
    }

    /// Gives server `t`'s effective weight to the algorithm.
    pub(super) fn sync_weight(&mut self, t: ServerId, now: Instant) {
        if let Some(server) = self.servers.get(t) {
            self.lb.set_weight(t.index(), server.lb_weight(now));
        }
    }

    /// One more session connecting to or established on server `t`,
    /// counted as assigned to it. Its token was claimed ([`BackendState::pick`],
    /// [`BackendState::route`], [`BackendState::claim`]).
    pub(super) fn add_load(&mut self, t: ServerId, now: Instant) {
        if let Some(server) = self.servers.get_mut(t) {
            server.active += 1;
            server.counters.selected();
            server.counters.session_assigned(now);
            server.counters.session_started();
            self.lb.set_load(t.index(), server.active);
        }
    }

    /// One session fewer on server `t`: its token goes back.
    pub(super) fn drop_load(&mut self, t: ServerId) {
        if let Some(server) = self.servers.get_mut(t) {
            server.active = server.active.saturating_sub(1);
            server.counters.session_ended();
            self.lb.set_load(t.index(), server.active);
            if let Some(slots) = server.slots {
                self.limits.give(slots.conn);
            }
        }
    }

    /// The backend's sessions in every loop: the load `minconn` scales
    /// with against `fullconn` (HAProxy's `beconn`).
    pub(super) fn load(&self) -> u32 {
        match self.load_slot {
            Some(slot) => self.limits.held(slot),
            None => self.active,
        }
    }

    /// Takes a token of server `t` if it has room now (see
    /// [`ServerState::claim`]).
    pub(super) fn claim(&self, t: ServerId, now: Instant) -> bool {
        self.servers.get(t).is_some_and(|server| {
            server.claim(self.load(), self.config.fullconn, now, &self.limits)
        })
    }

    /// Picks a server by the backend's algorithm for a connection from
    /// `client`: usable, not in `exclude`, not full; servers that just
    /// failed a connect only when no other one can take it. The server's
    /// token is taken: the caller adds the load ([`BackendState::add_load`]).
    /// A server another loop filled since it looked open is skipped.
    pub(super) fn pick(
        &mut self,
        exclude: &[ServerId],
        now: Instant,
        client: IpAddr,
        rng: &mut Rng,
    ) -> Option<ServerId> {
        let mut lost = Vec::new();
        loop {
            let t = self.pick_open(exclude, &lost, now, client, rng)?;
            if self.claim(t, now) {
                return Some(t);
            }
            if lost.len() >= self.servers.values().count() {
                return None;
            }
            lost.push(t);
        }
    }

    /// [`BackendState::pick`]'s choice, before its token is taken.
    fn pick_open(
        &mut self,
        exclude: &[ServerId],
        lost: &[ServerId],
        now: Instant,
        client: IpAddr,
        rng: &mut Rng,
    ) -> Option<ServerId> {
        let (load, fullconn, limits) = (self.load(), self.config.fullconn, &*self.limits);
        let servers = &self.servers;
        let open = |i: usize| {
            servers.id_at(i).is_some_and(|id| {
                !exclude.contains(&id)
                    && !lost.contains(&id)
                    && !servers[id].is_full(load, fullconn, now, limits)
            })
        };
        let trusted = |i: usize| {
            servers
                .id_at(i)
                .is_some_and(|id| servers[id].suspect_until.is_none_or(|t| t <= now))
        };
        let slot = self
            .lb
            .pick(client, rng, |i| open(i) && trusted(i))
            .or_else(|| self.lb.pick(client, rng, open))?;
        self.servers.id_at(slot)
    }

    /// Where a new connection from `client` goes. Arrivals never overtake
    /// sessions waiting in the backend queue. `balance source` keeps a
    /// client on its server: when that one is full the connection waits
    /// for it, up to `maxqueue` waiters; beyond, it goes elsewhere (or is
    /// refused when redispatch is off), as HAProxy does.
    pub(super) fn route(&mut self, now: Instant, client: IpAddr, rng: &mut Rng) -> Route {
        if self.config.balance != Balance::Source {
            return match self.waiters.waiting {
                0 => self
                    .pick(&[], now, client, rng)
                    .map_or(Route::BackendQueue, Route::Server),
                _ => Route::BackendQueue,
            };
        }
        let servers = &self.servers;
        let trusted = |i: usize| {
            servers
                .id_at(i)
                .is_some_and(|id| servers[id].suspect_until.is_none_or(|t| t <= now))
        };
        let chosen = self
            .lb
            .pick(client, rng, trusted)
            .or_else(|| self.lb.pick(client, rng, |_| true))
            .and_then(|slot| self.servers.id_at(slot));
        let Some(t) = chosen else {
            return Route::BackendQueue;
        };
        let server = &self.servers[t];
        if server.waiters.waiting == 0 && self.claim(t, now) {
            Route::Server(t)
        } else if server.claim_queue(&self.limits) {
            Route::ServerQueue(t)
        } else if self.config.redispatch {
            self.pick(&[t], now, client, rng)
                .map_or(Route::BackendQueue, Route::Server)
        } else {
            Route::Refuse
        }
    }

    /// Active and backup servers taking traffic now (HAProxy's
    /// `srv_act`, `srv_bck`).
    pub(super) fn usable_by_kind(&self, now: Instant) -> (u32, u32) {
        let usable = self.servers.values().filter(|s| s.lb_weight(now) > 0);
        usable.fold((0, 0), |(active, backup), s| match s.config.backup {
            true => (active, backup + 1),
            false => (active + 1, backup),
        })
    }

    /// Servers taking traffic now (weight above 0).
    pub(super) fn usable_count(&self, now: Instant) -> usize {
        self.servers
            .values()
            .filter(|s| s.lb_weight(now) > 0)
            .count()
    }

    /// Whether server `t` can take the first session of its queue now;
    /// if so, its token is taken.
    pub(super) fn claim_queued(&self, t: ServerId, now: Instant) -> bool {
        self.servers[t].is_usable() && self.claim(t, now)
    }
}

impl Waiters {
    /// Adds a session; returns its mark for [`Waiters::position`].
    pub(super) fn push(&mut self, s: usize, generation: u32) -> u32 {
        self.queue.push_back((s, generation));
        self.waiting += 1;
        self.served.wrapping_sub(1)
    }

    /// A waiting session left the queue (served, timed out or gone).
    pub(super) fn left(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// The front session leaves the queue for a server.
    pub(super) fn serve(&mut self) {
        self.left();
        self.served = self.served.wrapping_add(1);
    }

    /// What a session that joined with `mark` and leaves now adds to its
    /// `%sq`/`%bq`: 1 plus the sessions served before it meanwhile
    /// (HAProxy's `pendconn_unlink`, taken before it is served).
    pub(super) fn position(&self, mark: u32) -> u32 {
        self.served.wrapping_sub(mark)
    }
}
