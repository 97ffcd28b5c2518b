//! Core checks its own bookkeeping in debug builds, after every input (in
//! [`Balancer::poll_timeout`], which the driving contract calls after
//! each), so every unit test, simulation and fuzz run checks it: counts
//! agree with the sessions, queues with the sessions waiting, connection
//! roles with the sessions that own them.

use std::collections::HashMap;

use super::{Balancer, Role};
use crate::id::{BackendId, FrontendId, ServerId};
use crate::session::Phase;

/// Without sessions the check runs at every call; with some, on one call
/// in [`SAMPLE_EVERY`] (in one in [`SAMPLE_UNDER_LOAD`] past [`LOAD`]),
/// so the simulator and big tests stay fast.
const SAMPLE_EVERY: u32 = 16;
const LOAD: usize = 256;
const SAMPLE_UNDER_LOAD: u32 = 1024;

impl Balancer {
    /// Panics if the bookkeeping disagrees with the sessions (a bug in
    /// core, never an input's fault).
    pub(super) fn check_invariants(&self) {
        let calls = self.invariant_calls.get().wrapping_add(1);
        self.invariant_calls.set(calls);
        let every = match self.sessions.len() {
            0 => 1,
            n if n <= LOAD => SAMPLE_EVERY,
            _ => SAMPLE_UNDER_LOAD,
        };
        if calls % every != 0 {
            return;
        }
        let mut frontends: HashMap<FrontendId, u32> = HashMap::new();
        let mut backends: HashMap<BackendId, u32> = HashMap::new();
        let mut loads: HashMap<(BackendId, ServerId), u32> = HashMap::new();
        let mut backend_waiting: HashMap<BackendId, u32> = HashMap::new();
        let mut server_waiting: HashMap<(BackendId, ServerId), u32> = HashMap::new();
        for (i, session) in &self.sessions {
            *frontends.entry(session.frontend).or_default() += 1;
            *backends.entry(session.backend).or_default() += 1;
            let b = session.backend;
            match (session.phase, session.target) {
                (Phase::Queued, Some(t)) if session.server_queued => {
                    *server_waiting.entry((b, t)).or_default() += 1;
                }
                (Phase::Queued, _) => *backend_waiting.entry(b).or_default() += 1,
                (_, Some(t)) => *loads.entry((b, t)).or_default() += 1,
                (_, None) => panic!("session {i} is past the queue without a server"),
            }
            if let Some((_, t)) = session.hedge {
                *loads.entry((b, t)).or_default() += 1;
            }
            assert_eq!(self.role(session.client), Some(Role::Client(i)));
            if let Some(server) = session.server {
                assert_eq!(self.role(server), Some(Role::Server(i)));
            }
        }
        assert_eq!(self.active as usize, self.sessions.len(), "process count");
        self.check_reload_invariants();
        self.check_limit_invariants();
        for (f, frontend) in self.frontends.iter() {
            let sessions = frontends.get(&f).copied().unwrap_or(0);
            assert_eq!(frontend.active, sessions, "{f:?} count");
        }
        for (b, backend) in self.backends.iter() {
            let sessions = backends.get(&b).copied().unwrap_or(0);
            assert_eq!(backend.active, sessions, "{b:?} count");
            let waiting = backend_waiting.get(&b).copied().unwrap_or(0);
            assert_eq!(backend.waiters.waiting, waiting, "{b:?} queue");
            let mut in_servers = 0;
            for (s, server) in backend.servers.iter() {
                let load = loads.get(&(b, s)).copied().unwrap_or(0);
                assert_eq!(server.active, load, "{b:?} {s:?} load");
                let waiting = server_waiting.get(&(b, s)).copied().unwrap_or(0);
                assert_eq!(server.waiters.waiting, waiting, "{b:?} {s:?} queue");
                in_servers += waiting;
            }
            assert_eq!(backend.server_waiting, in_servers, "{b:?} server queues");
        }
    }

    /// What a reload leaves: retired servers take no traffic, live
    /// frontends route only to live backends, listeners belong to live
    /// frontends, and each listener id names one listener.
    fn check_reload_invariants(&self) {
        for (f, frontend) in self.frontends.iter() {
            if let Some(b) = frontend.backend {
                let backend = self.backends.get(b);
                assert!(backend.is_some_and(|x| !x.retired), "{f:?} routes to {b:?}");
            }
        }
        for (b, backend) in self.backends.iter() {
            for (s, server) in backend.servers.iter().filter(|(_, x)| x.retired) {
                assert!(!server.is_usable(), "retired {b:?} {s:?} is usable");
                assert!(server.check.is_none(), "retired {b:?} {s:?} is checked");
            }
        }
        for (i, l) in self.listeners.iter().enumerate() {
            let frontend = self.frontends.get(l.frontend);
            assert!(
                frontend.is_some_and(|x| !x.retired),
                "listener of {:?}",
                l.frontend
            );
            let slot = self.listener_slot(l.id);
            assert_eq!(slot, Some(super::ListenerSlot::Traffic(i)), "{:?}", l.id);
        }
        for (i, l) in self.cli.listeners.iter().enumerate() {
            assert_eq!(self.listener_slot(l.id), Some(super::ListenerSlot::Cli(i)));
        }
    }
}
