//! What the runtime API does to servers, through the one transition path
//! ([`Balancer::change_server`]), with HAProxy's semantics.

use super::Balancer;
use super::state::{AdminFlags, Cause};
use std::net::SocketAddr;

use crate::id::{BackendId, FrontendId, ServerId};
use crate::loops::LoopNews;
use crate::runtime_api::SessTarget;
use crate::session::Phase;
use crate::stats::html::human_time;
use crate::stats::{AdminState, ForcedHealth};
use crate::time::Instant;

/// HAProxy's reason for a health forced from its CLI.
const FROM_CLI: &str = "changed from CLI";

impl Balancer {
    /// Sets a server's admin state as HAProxy's `srv_adm_set_ready`,
    /// `_drain` and `_maint`: one flag set, the other cleared, each step
    /// applied (and logged) on its own.
    pub(crate) fn set_admin_state(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        state: AdminState,
    ) {
        let (maint, drain) = match state {
            AdminState::Ready => (false, false),
            AdminState::Drain => (false, true),
            AdminState::Maint => (true, false),
        };
        // Set first, then clear, as HAProxy does.
        for step in [true, false] {
            let Some(server) = self.backends[b].servers.get(s) else {
                return;
            };
            let mut admin = server.admin;
            if maint == step {
                admin.forced_maint = maint;
            }
            if drain == step {
                admin.forced_drain = drain;
            }
            if admin != server.admin {
                self.apply_admin(now, b, s, admin);
            }
        }
    }

    /// Forces a server's health over its checks' (HAProxy's CLI `set
    /// server ... health`); nothing happens in maintenance.
    pub(crate) fn force_health(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        health: ForcedHealth,
    ) {
        self.force_op(now, b, s, health, Cause::Reason(FROM_CLI));
    }

    /// One admin change, with the server's operational state as it is.
    fn apply_admin(&mut self, now: Instant, b: BackendId, s: ServerId, admin: AdminFlags) {
        let op = self.backends[b].servers[s].op;
        self.change_server(now, b, s, op, admin, Cause::Admin);
    }
}

impl Balancer {
    /// `set server B/S weight W`: the weight people give a server (its
    /// effective weight follows, `slowstart` included).
    pub(crate) fn set_server_weight(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        weight: u32,
    ) {
        let Some(server) = self.backends[b].servers.get_mut(s) else {
            return;
        };
        if server.admin.maint() && server.shown_weight.is_none() {
            server.shown_weight = Some(server.weight);
        }
        server.weight = weight;
        let (op, admin) = (server.op, server.admin);
        // Through the one path: to or from 0, the backend may lose or
        // regain its last usable server.
        self.change_server(now, b, s, op, admin, Cause::Admin);
        self.dispatch_queue(now, b);
    }

    /// `set server B/S addr`: new connections and checks go there.
    pub(crate) fn set_server_addr(&mut self, b: BackendId, s: ServerId, addr: SocketAddr) {
        if let Some(server) = self.backends[b].servers.get_mut(s) {
            server.config.addr = addr;
            self.publish_server(b, s);
        }
    }

    /// `shutdown sessions server B/S`: every session on it ends, logged
    /// killed (`K`), as HAProxy's `SF_ERR_KILLED`.
    pub(crate) fn kill_sessions_of(&mut self, now: Instant, b: BackendId, s: ServerId) {
        self.end_sessions_of(now, b, s, 'K');
        self.publish(|lb| {
            let backend = lb.backends.get(b)?;
            Some(LoopNews::ShutdownSessions {
                backend: backend.config.name.clone(),
                server: backend.servers.get(s)?.config.name.clone(),
            })
        });
    }

    /// `set maxconn server B/S N` (0: no limit): queued sessions that fit
    /// now go.
    pub(crate) fn set_server_maxconn(&mut self, now: Instant, b: BackendId, s: ServerId, n: u32) {
        if let Some(server) = self.backends[b].servers.get_mut(s) {
            server.config.maxconn = n;
            self.dispatch_queue(now, b);
            self.publish_server(b, s);
        }
    }

    /// `set maxconn frontend F N` (0: no limit): its listeners pause or
    /// resume to match.
    pub(crate) fn set_frontend_maxconn(&mut self, f: FrontendId, n: u32) {
        if let Some(frontend) = self.frontends.get_mut(f) {
            frontend.config.maxconn = (n > 0).then_some(n);
            self.refresh_listeners();
            self.publish(|lb| {
                Some(LoopNews::FrontendMaxconn {
                    frontend: lb.frontends.get(f)?.config.name.clone(),
                    maxconn: n,
                })
            });
        }
    }

    /// `set maxconn global N` (0: no limit).
    pub(crate) fn set_global_maxconn(&mut self, n: u32) {
        self.maxconn = (n > 0).then_some(n);
        self.refresh_listeners();
        self.publish(|_| Some(LoopNews::GlobalMaxconn(n)));
    }

    /// `clear counters` (the maxima) or `clear counters all`.
    pub(crate) fn clear_counters(&mut self, all: bool) {
        self.publish(|_| Some(LoopNews::ClearCounters { all }));
        self.counters.clear_max();
        for frontend in self.frontends.values_mut() {
            match all {
                true => frontend.counters.clear_all(),
                false => frontend.counters.clear_max(),
            }
        }
        for backend in self.backends.values_mut() {
            let servers = backend.servers.values_mut().map(|s| &mut s.counters);
            for counters in std::iter::once(&mut backend.counters).chain(servers) {
                match all {
                    true => counters.clear_all(),
                    false => counters.clear_max(),
                }
            }
        }
    }
}

impl Balancer {
    /// `shutdown session ID`: the session `show sess` lists with this id
    /// ends, logged killed (`K`); false when there is none.
    pub(crate) fn kill_session(&mut self, now: Instant, id: u64) -> bool {
        let (index, generation) = ((id & 0xffff_ffff) as usize, (id >> 32) as u32);
        let Some(session) = self
            .sessions
            .get(index)
            .filter(|x| x.generation == generation)
        else {
            return false;
        };
        let phase = session.phase_letter();
        self.end(now, index, ['K', phase], false);
        true
    }

    /// `show sess` (one line per session), `show sess all` and `show sess
    /// ID` (each session in detail), with HAProxy 2.6's keys, order and
    /// spelling (`cli_io_handler_dump_sess`, `stats_dump_full_strm_to_buffer`)
    /// for what weir knows of a session; HAProxy's internals (flags,
    /// pointers, file descriptors, task calls) are left out.
    pub(crate) fn show_sess(&self, now: Instant, target: SessTarget) -> String {
        let mut out = String::new();
        let proxies = self.proxy_refs();
        let iid = |f: Option<FrontendId>, b: Option<BackendId>| {
            (proxies.iter())
                .find(|p| (f.is_some() && p.frontend == f) || (b.is_some() && p.backend == b))
                .map_or(0, |p| p.iid)
        };
        for (index, session) in &self.sessions {
            let id = (u64::from(session.generation) << 32) | index as u64;
            if matches!(target, SessTarget::One(one) if one != id) {
                continue;
            }
            let frontend = &self.frontends[session.frontend].config.name;
            let backend = &self.backends[session.backend];
            // HAProxy sets a stream's server once one is assigned, its own
            // queue included; a stream waiting for any server has none.
            let server = session
                .target
                .filter(|_| session.phase != Phase::Queued || session.server_queued)
                .and_then(|t| {
                    let listed = backend.listed();
                    let sid = (listed.iter().zip(super::report::server_ids(&listed)))
                        .find(|((s, _), _)| *s == t)
                        .map_or(0, |(_, sid)| sid);
                    Some((backend.servers.get(t)?, sid))
                });
            let src = haproxy_addr(&session.peer);
            let proto = if session.peer.is_ipv4() {
                "tcpv4"
            } else {
                "tcpv6"
            };
            let age = human_time(now.saturating_duration_since(session.accepted).as_secs());
            let left = |at: Option<Instant>| at.map_or(String::new(), |at| time_left(now, at));
            if target == SessTarget::List {
                out.push_str(&format!(
                    "{id:#x}: proto={proto} src={src} fe={frontend} be={} srv={} ts=00 age={age} \
                     rq[rx={}] rp[rx={}] exp={} rc={} c_exp={}\n",
                    backend.config.name,
                    server.map_or("<none>", |(s, _)| s.config.name.as_str()),
                    left(session.client_deadline),
                    left(session.server_deadline),
                    left(session.deadline()),
                    session.retries,
                    left(session.connect_deadline),
                ));
                continue;
            }
            let never = |at: Option<Instant>| at.map_or("<NEVER>".into(), |at| time_left(now, at));
            out.push_str(&format!(
                "{id:#x}: [{}] proto={proto} source={src}\n\
                 \x20 conn_retries={}, conn_exp={}\n\
                 \x20 frontend={frontend} (id={} mode=tcp) addr={}\n\
                 \x20 backend={} (id={} mode=tcp)\n\
                 \x20 server={} (id={}){}\n\
                 \x20 task=(exp={} age={age})\n\
                 \x20 req=(total={})\n      rex={}\n\
                 \x20 res=(total={})\n      rex={}\n",
                self.clock.local_date_micros(session.accepted),
                session.retries,
                never(session.connect_deadline),
                iid(Some(session.frontend), None),
                haproxy_addr(&session.local),
                backend.config.name,
                iid(None, Some(session.backend)),
                server.map_or("<none>", |(s, _)| s.config.name.as_str()),
                server.map_or(0, |(_, sid)| sid),
                server.map_or(String::new(), |(s, _)| format!(
                    " addr={}",
                    haproxy_addr(&s.config.addr)
                )),
                never(session.deadline()),
                session.up.bytes,
                never(session.client_deadline),
                session.down.bytes,
                never(session.server_deadline),
            ));
        }
        if out.is_empty() && matches!(target, SessTarget::One(_)) {
            out.push_str("Session not found.\n");
        }
        out
    }
}

/// An address as HAProxy prints it after `src=`, `addr=`: the IP, a
/// colon, the port (no brackets around an IPv6 address).
fn haproxy_addr(addr: &SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// Time left until `at`, as HAProxy's `human_time` of a timer (`?` once
/// past).
fn time_left(now: Instant, at: Instant) -> String {
    match at.checked_duration_since(now) {
        Some(left) => human_time(left.as_secs()),
        None => "?".into(),
    }
}
