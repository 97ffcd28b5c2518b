//! Server selection: HAProxy 2.6's balancing algorithms as pure data.
//!
//! [`Lb`] holds the selection state of one backend. Lifecycle:
//!
//! 1. [`Lb::new`] (or [`Lb::for_backend`]): every server starts with weight
//!    0, i.e. ineligible.
//! 2. The owner calls [`Lb::set_weight`] whenever a server's effective
//!    weight changes (0 while down, in maintenance or draining; slowstart's
//!    ramp) and [`Lb::set_load`] whenever its load changes (sessions
//!    connecting to or established on it).
//! 3. [`Lb::pick`] chooses a server for a new connection among the active
//!    (non-backup) servers, or when none can take it, among the backup
//!    servers: all of them with `option allbackups`, else the first one.
//!    The caller's `allowed` filter removes servers for this one pick
//!    (already tried by the session, suspect, full at `maxconn`).
//!
//! Every algorithm picks in O(log n) while `allowed` refuses few servers
//! (`first` walks past the servers refused, as HAProxy does). Randomness
//! only comes from the [`Rng`] passed to `pick`.

mod fwrr;
mod hash;
mod leastconn;
mod map;
mod rr;

pub(crate) use rr::SharedRr;

#[cfg(test)]
mod haproxy_order;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use crate::config::{Backend, Balance, HashType};
use crate::rng::Rng;

/// Largest weight HAProxy accepts; larger ones are taken as this.
const MAX_WEIGHT: u32 = 256;

/// What [`Lb`] needs from the backend's configuration besides servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// The algorithm (`balance`).
    pub(crate) balance: Balance,
    /// `hash-type` (for `balance source`).
    pub(crate) hash_type: HashType,
    /// `hash-balance-factor` in percent (consistent hashing and `random`).
    pub(crate) balance_factor: Option<u32>,
    /// `option allbackups`.
    pub(crate) allbackups: bool,
}

/// One server as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    /// Configured weight: the weight static algorithms use.
    pub(crate) weight: u32,
    /// `backup`: in the backup group.
    pub(crate) backup: bool,
}

/// The selection state of one backend.
#[derive(Debug)]
pub(crate) struct Lb {
    policy: Policy,
    servers: Vec<Slot>,
    /// Active, then backup.
    groups: [Group; 2],
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    configured: u32,
    /// The weight the algorithm uses; 0 = ineligible.
    weight: u32,
    load: u32,
    group: usize,
}

#[derive(Debug)]
struct Group {
    /// Eligible servers (weight > 0).
    eligible: BTreeSet<usize>,
    /// Sum of the eligible servers' weights.
    total_weight: u64,
    /// Sum of every member's load (the bounded-load average).
    total_load: u64,
    algo: Algo,
}

#[derive(Debug)]
enum Algo {
    Rr(rr::Rr),
    Static(map::StaticMap),
    LeastConn(leastconn::LeastConn),
    First,
    Map(hash::Map),
    Ring(hash::Ring),
}

impl Lb {
    /// Selection state for `servers`, all ineligible until
    /// [`set_weight`](Self::set_weight). As in HAProxy, the servers made
    /// eligible before the first pick start the cycle together: the first
    /// pick goes to the first server (the heaviest for `roundrobin`).
    pub(crate) fn new(policy: Policy, servers: &[Member]) -> Lb {
        let slots: Vec<Slot> = servers
            .iter()
            .map(|m| Slot {
                configured: m.weight.min(MAX_WEIGHT),
                weight: 0,
                load: 0,
                group: usize::from(m.backup),
            })
            .collect();
        let n = slots.len();
        let divisor = slots.iter().map(|s| s.configured).fold(0, gcd);
        let group = |g: usize| {
            let configured = slots.iter().filter(|s| s.group == g).map(|s| s.configured);
            let algo = match policy.balance {
                Balance::RoundRobin => Algo::Rr(rr::Rr::new(n)),
                Balance::StaticRr => Algo::Static(map::StaticMap::new(n, divisor)),
                Balance::LeastConn => Algo::LeastConn(leastconn::LeastConn::new(n)),
                Balance::First => Algo::First,
                Balance::Source if policy.hash_type == HashType::MapBased => {
                    Algo::Map(hash::Map::default())
                }
                Balance::Source | Balance::Random { .. } => Algo::Ring(hash::Ring::new(configured)),
            };
            Group {
                eligible: BTreeSet::new(),
                total_weight: 0,
                total_load: 0,
                algo,
            }
        };
        Lb {
            policy,
            groups: [group(0), group(1)],
            servers: slots,
        }
    }

    /// Selection state for `backend`'s servers (see [`Lb::new`]).
    pub(crate) fn for_backend(backend: &Backend) -> Lb {
        let policy = Policy {
            balance: backend.balance,
            hash_type: backend.hash_type,
            balance_factor: backend.hash_balance_factor,
            allbackups: backend.allbackups,
        };
        let members: Vec<Member> = backend
            .servers
            .iter()
            .map(|s| Member {
                weight: s.weight,
                backup: s.backup,
            })
            .collect();
        Lb::new(policy, &members)
    }

    /// Whether the algorithm keeps configured weights: `static-rr` and
    /// map-based `source` only see a server go to or from 0.
    fn static_weights(&self) -> bool {
        match self.policy.balance {
            Balance::StaticRr => true,
            Balance::Source => self.policy.hash_type == HashType::MapBased,
            _ => false,
        }
    }

    /// Server `i`'s effective weight is now `weight` (0: not eligible:
    /// down, maintenance, drain, weight 0). Static algorithms use the
    /// configured weight for any non-zero value. Unknown `i` is ignored.
    pub(crate) fn set_weight(&mut self, i: usize, weight: u32) {
        let static_weights = self.static_weights();
        let Some(slot) = self.servers.get_mut(i) else {
            return;
        };
        let weight = match weight.min(MAX_WEIGHT) {
            0 => 0,
            _ if static_weights => slot.configured,
            w => w,
        };
        let old = slot.weight;
        if weight == old {
            return;
        }
        slot.weight = weight;
        let group = &mut self.groups[slot.group];
        group.total_weight = group.total_weight - u64::from(old) + u64::from(weight);
        if weight == 0 {
            group.eligible.remove(&i);
        } else {
            group.eligible.insert(i);
        }
        match &mut group.algo {
            Algo::Rr(rr) => rr.set_weight(i, weight),
            Algo::Static(map) => map.set_weight(i, weight),
            Algo::LeastConn(lc) => lc.set_weight(i, weight),
            Algo::First => {}
            Algo::Map(map) => map.invalidate(),
            Algo::Ring(ring) => ring.set_weight(i, old, weight),
        }
    }

    /// The `static-rr` walk of group `g` (0: active servers, 1: backups)
    /// stands at `position`, shared by the loops; other algorithms keep
    /// their own state.
    pub(crate) fn share_position(&mut self, g: usize, position: crate::limits::Position) {
        if let Some(Algo::Static(map)) = self.groups.get_mut(g).map(|group| &mut group.algo) {
            map.share(position);
        }
    }

    /// Whether a `static-rr` walk still keeps its own position.
    pub(crate) fn needs_positions(&self) -> bool {
        (self.groups.iter()).any(|g| matches!(&g.algo, Algo::Static(map) if !map.shared()))
    }

    /// The `roundrobin` turns of group `g` are `shared`'s, the process's
    /// (see `rr`'s module docs); `listed` holds the slot index of each
    /// server the configuration lists, in its order; `leads`: this loop
    /// (loop 0) writes the weights there. Other algorithms are left as
    /// they are.
    pub(crate) fn share_rr(
        &mut self,
        g: usize,
        shared: std::sync::Arc<SharedRr>,
        listed: &[usize],
        leads: bool,
    ) {
        if let Some(Algo::Rr(rr)) = self.groups.get_mut(g).map(|group| &mut group.algo) {
            rr.share(shared, listed, leads);
        }
    }

    /// Whether a `roundrobin` group still takes turns of its own only.
    pub(crate) fn needs_shared_rr(&self) -> bool {
        (self.groups.iter()).any(|g| matches!(&g.algo, Algo::Rr(rr) if !rr.shared()))
    }

    /// Server `i`'s load (sessions connecting to or established on it) is
    /// now `load`. Unknown `i` is ignored.
    pub(crate) fn set_load(&mut self, i: usize, load: u32) {
        let Some(slot) = self.servers.get_mut(i) else {
            return;
        };
        let group = &mut self.groups[slot.group];
        group.total_load = group.total_load - u64::from(slot.load) + u64::from(load);
        slot.load = load;
        if let Algo::LeastConn(lc) = &mut group.algo {
            lc.set_load(i, load);
        }
    }

    /// Picks a server for a new connection from `client`: an eligible
    /// active server that `allowed` accepts; when there is none, a backup
    /// server (any with `option allbackups`, else the first eligible one
    /// `allowed` accepts). `rng` serves `random`; `client` serves `source`.
    pub(crate) fn pick(
        &mut self,
        client: IpAddr,
        rng: &mut Rng,
        mut allowed: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        if let Some(i) = self.pick_in(0, client, rng, &mut allowed) {
            return Some(i);
        }
        if self.policy.allbackups {
            self.pick_in(1, client, rng, &mut allowed)
        } else {
            self.groups[1]
                .eligible
                .iter()
                .copied()
                .find(|&i| allowed(i))
        }
    }

    /// Picks in group `g` by the backend's algorithm.
    fn pick_in(
        &mut self,
        g: usize,
        client: IpAddr,
        rng: &mut Rng,
        allowed: &mut impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let servers = &self.servers;
        let group = &mut self.groups[g];
        let bound = Bound::new(self.policy.balance_factor, group);
        let members = || group.eligible.iter().map(|&i| (i, servers[i].weight));
        match &mut group.algo {
            Algo::Rr(rr) => rr.pick(allowed),
            Algo::Static(map) => map.pick(allowed),
            Algo::LeastConn(lc) => lc.pick(allowed),
            Algo::First => group.eligible.iter().copied().find(|&i| allowed(i)),
            Algo::Map(map) => {
                map.refresh(members());
                map.pick(hash::client_key(client), allowed)
            }
            Algo::Ring(ring) => {
                // Within the load bound if possible, else wherever allowed.
                let mut on_ring = |key: u32| match bound.scaled_load {
                    None => ring.pick(key, allowed),
                    Some(_) => ring
                        .pick(key, &mut |i| bound.admits(&servers[i]) && allowed(i))
                        .or_else(|| ring.pick(key, allowed)),
                };
                match self.policy.balance {
                    Balance::Random { draws } => {
                        let draws = (draws as usize).clamp(1, group.eligible.len().max(1));
                        let mut best: Option<usize> = None;
                        for _ in 0..draws {
                            let Some(c) = on_ring(rng.next_u64() as u32) else {
                                break;
                            };
                            // Keep the earlier draw only if strictly less
                            // loaded per weight (HAProxy).
                            if best.is_none_or(|b| !less_loaded(&servers[b], &servers[c])) {
                                best = Some(c);
                            }
                        }
                        best
                    }
                    _ => on_ring(hash::client_key(client)),
                }
            }
        }
    }
}

/// Greatest common divisor (`gcd(0, w) = w`), as HAProxy's `init_server_map`
/// divides static weights (servers of weight 0 left out).
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Whether `a` has strictly less load per weight than `b`.
fn less_loaded(a: &Slot, b: &Slot) -> bool {
    u64::from(a.load) * u64::from(b.weight) < u64::from(b.load) * u64::from(a.weight)
}

/// `hash-balance-factor`'s limit: a server may hold
/// `ceil((total_load + 1) * factor% * weight / total_weight)` sessions, at
/// least 1, counting the one being placed.
struct Bound {
    /// `(total_load + 1) * factor`, or `None` when there is no limit.
    scaled_load: Option<u128>,
    /// `100 * total_weight`.
    scaled_weight: u128,
}

impl Bound {
    fn new(factor: Option<u32>, group: &Group) -> Bound {
        Bound {
            scaled_load: factor.map(|f| u128::from(group.total_load + 1) * u128::from(f)),
            scaled_weight: 100 * u128::from(group.total_weight.max(1)),
        }
    }

    fn admits(&self, s: &Slot) -> bool {
        let Some(scaled_load) = self.scaled_load else {
            return true;
        };
        let slots = (scaled_load * u128::from(s.weight))
            .div_ceil(self.scaled_weight)
            .max(1);
        u128::from(s.load) < slots
    }
}

/// Drives one backend's [`Lb`] with sessions that open and close (a
/// `static-rr` walk's position in a pool of its own), for the
/// `lb-bench` micro-benchmark (no clock here: the bench times it). Not
/// part of weir's API.
#[doc(hidden)]
#[derive(Debug)]
pub struct PickBench {
    lb: Lb,
    rng: Rng,
    /// Open sessions' servers, oldest first.
    open: VecDeque<usize>,
    /// How many sessions stay open.
    concurrency: usize,
    clients: u32,
}

impl PickBench {
    /// Every server of `backend` up at its configured weight, with about
    /// two open sessions per server.
    pub fn new(backend: &Backend, seed: u64) -> PickBench {
        let mut lb = Lb::for_backend(backend);
        for (i, s) in backend.servers.iter().enumerate() {
            lb.set_weight(i, s.weight);
        }
        // As the balancer: `static-rr` walks a position in a limit pool.
        let limits = std::sync::Arc::new(crate::limits::Limits::local());
        for g in 0..2u8 {
            let key = crate::limits::LimitKey::Position(crate::limits::GroupKey {
                backend: backend.name.clone(),
                epoch: 0,
                group: g,
            });
            let position = crate::limits::Position::new(limits.clone(), limits.slot(&key));
            lb.share_position(usize::from(g), position);
        }
        PickBench {
            lb,
            rng: Rng::new(seed),
            open: VecDeque::new(),
            concurrency: 2 * backend.servers.len(),
            clients: 0,
        }
    }

    /// `roundrobin` takes turns through a limit pool's shared state, as
    /// loop 0 of several does (it leads them).
    pub fn share_turns(&mut self, backend: &Backend) {
        let pool = crate::limits::LimitPool::new();
        let listed: Vec<usize> = (0..backend.servers.len()).collect();
        for g in 0..2u8 {
            let key = crate::limits::GroupKey {
                backend: backend.name.clone(),
                epoch: 0,
                group: g,
            };
            self.lb
                .share_rr(usize::from(g), pool.turns(&key), &listed, true);
        }
    }

    /// Opens `sessions` sessions, each from a new client address, closing
    /// the oldest past the concurrency; returns a checksum of the picks.
    pub fn run(&mut self, sessions: u32) -> u64 {
        let mut sum = 0u64;
        for _ in 0..sessions {
            self.clients = self.clients.wrapping_add(1);
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (self.clients & 0xff_ffff)));
            let Some(i) = self.lb.pick(client, &mut self.rng, |_| true) else {
                continue;
            };
            sum += i as u64;
            let load = self.lb.servers[i].load.saturating_add(1);
            self.lb.set_load(i, load);
            self.open.push_back(i);
            if self.open.len() > self.concurrency {
                if let Some(j) = self.open.pop_front() {
                    let load = self.lb.servers[j].load.saturating_sub(1);
                    self.lb.set_load(j, load);
                }
            }
        }
        sum
    }
}
