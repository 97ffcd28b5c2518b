//! Several event loops: loop 0's news out, the others' news in (see
//! [`crate::loops`] for the design).

use super::Balancer;
use super::state::Cause;
use crate::id::{BackendId, ServerId};
use crate::loops::{LoopNews, LoopStats, ServerNews};
use crate::stats::{ForcedHealth, OpState, ProcessInfo, ProxyStats};
use crate::time::Instant;

impl Balancer {
    /// The next piece of news for the other event loops (loop 0 of
    /// several only; `None` otherwise). Drain it after every input, as
    /// [`Balancer::poll_action`], and give each to every other loop's
    /// [`Balancer::apply_news`].
    pub fn poll_news(&mut self) -> Option<LoopNews> {
        self.news.pop_front()
    }

    /// Applies what loop 0 decided (a follower's input): a server's
    /// state through the one transition path, a limit, cleared counters,
    /// ended sessions, `hard-stop-after` run out. Unknown names (a reload
    /// not applied here yet) are ignored. Idempotent.
    pub fn apply_news(&mut self, now: Instant, news: &LoopNews) {
        self.advance(now);
        match news {
            LoopNews::Server(news) => self.apply_server_news(now, news),
            LoopNews::FrontendMaxconn { frontend, maxconn } => {
                let f = (self.frontends.iter())
                    .find(|(_, x)| !x.retired && x.config.name == *frontend)
                    .map(|(f, _)| f);
                if let Some(f) = f {
                    self.set_frontend_maxconn(f, *maxconn);
                }
            }
            LoopNews::GlobalMaxconn(n) => self.set_global_maxconn(*n),
            LoopNews::ClearCounters { all } => self.clear_counters(*all),
            LoopNews::ShutdownSessions { backend, server } => {
                if let Some((b, s)) = self.server_named(backend, server) {
                    self.kill_sessions_of(now, b, s);
                }
            }
            LoopNews::HardStop => self.apply_hard_stop(now),
        }
    }

    /// Whether this instance is a follower: no checks, quiet state lines.
    pub(super) fn follows(&self) -> bool {
        self.event_loop.follows()
    }

    /// Queues `news` for the other loops, when this is loop 0 of several.
    pub(super) fn publish(&mut self, news: impl FnOnce(&Self) -> Option<LoopNews>) {
        if self.event_loop.leads() {
            if let Some(news) = news(self) {
                self.news.push_back(news);
            }
        }
    }

    /// Queues server `s` of backend `b`'s shared state for the other loops.
    pub(super) fn publish_server(&mut self, b: BackendId, s: ServerId) {
        self.publish(|lb| {
            let backend = lb.backends.get(b)?;
            let server = backend.servers.get(s)?;
            let health = match server.op {
                OpState::Stopped => ForcedHealth::Down,
                OpState::Stopping => ForcedHealth::Stopping,
                OpState::Starting | OpState::Running => ForcedHealth::Up,
            };
            let (reason, check_duration_ms) = match &server.last_check {
                Some(last) => (last.reason_text(), last.duration_ms.unwrap_or(0)),
                None => (String::new(), 0),
            };
            Some(LoopNews::Server(ServerNews {
                backend: backend.config.name.clone(),
                server: server.config.name.clone(),
                forced_maint: server.admin.forced_maint,
                forced_drain: server.admin.forced_drain,
                health,
                weight: server.weight,
                maxconn: server.config.maxconn,
                addr: server.config.addr,
                reason,
                check_duration_ms,
            }))
        });
    }

    fn apply_server_news(&mut self, now: Instant, news: &ServerNews) {
        let Some((b, s)) = self.server_named(&news.backend, &news.server) else {
            return;
        };
        let server = &mut self.backends[b].servers[s];
        server.config.addr = news.addr;
        let (weight, maxconn) = (server.weight, server.config.maxconn);
        let mut admin = server.admin;
        admin.forced_maint = news.forced_maint;
        admin.forced_drain = news.forced_drain;
        if admin != server.admin {
            let op = server.op;
            self.change_server(now, b, s, op, admin, Cause::Admin);
        }
        let op = self.backends[b].servers[s].op;
        let same = match news.health {
            ForcedHealth::Up => matches!(op, OpState::Starting | OpState::Running),
            ForcedHealth::Stopping => op == OpState::Stopping,
            ForcedHealth::Down => op == OpState::Stopped,
        };
        if !same {
            let cause = Cause::Verdict(&news.reason, news.check_duration_ms);
            self.force_op(now, b, s, news.health, cause);
        }
        if weight != news.weight {
            self.set_server_weight(now, b, s, news.weight);
        }
        if maxconn != news.maxconn {
            self.set_server_maxconn(now, b, s, news.maxconn);
        }
    }

    /// The other loops' latest stats (loop 0 of several): `show stat`,
    /// `show info`, Prometheus and the stats page add them to this
    /// instance's own. One entry per other loop, as
    /// [`Balancer::stats_share`] gave it.
    pub fn set_peer_stats(&mut self, peers: Vec<LoopStats>) {
        self.peer_stats = peers;
    }

    /// [`Balancer::set_peer_stats`] for one of `peers` other loops: the
    /// share of the one at `index` (from 0) replaces its last, the others'
    /// stay (none yet: empty). Nothing is copied.
    pub fn set_peer_share(&mut self, peers: usize, index: usize, share: LoopStats) {
        self.peer_stats.resize_with(peers, LoopStats::default);
        if let Some(slot) = self.peer_stats.get_mut(index) {
            *slot = share;
        }
    }

    /// This instance's own counters at `now`, for loop 0's
    /// [`Balancer::set_peer_stats`] (a follower's, every
    /// [`crate::loops::STATS_PERIOD_MS`]).
    pub fn stats_share(&mut self, now: Instant) -> LoopStats {
        self.advance(now);
        LoopStats {
            proxies: self.own_proxy_stats(now),
            process: self.own_process_info(now),
        }
    }

    /// Adds the other loops' rows to `stats`, matched by proxy and server
    /// name: counters, current sessions and queues, rates.
    pub(super) fn add_peer_proxies(&self, stats: &mut [ProxyStats]) {
        for peer in &self.peer_stats {
            for theirs in &peer.proxies {
                let Some(ours) = stats.iter_mut().find(|p| p.name == theirs.name) else {
                    continue;
                };
                if let (Some(a), Some(b)) = (&mut ours.frontend, &theirs.frontend) {
                    a.counters.add_peer(&b.counters);
                    a.sess_rate += b.sess_rate;
                    a.conn_rate += b.conn_rate;
                    a.req_rate += b.req_rate;
                }
                if let (Some(a), Some(b)) = (&mut ours.backend, &theirs.backend) {
                    a.counters.add_peer(&b.counters);
                    a.sess_rate += b.sess_rate;
                }
                for b in &theirs.servers {
                    if let Some(a) = ours.servers.iter_mut().find(|s| s.name == b.name) {
                        a.counters.add_peer(&b.counters);
                        a.sess_rate += b.sess_rate;
                    }
                }
            }
        }
    }

    /// Adds the other loops' process-wide counters to `info`.
    pub(super) fn add_peer_process(&self, info: &mut ProcessInfo) {
        for peer in &self.peer_stats {
            let p = &peer.process;
            info.cur_conns += p.cur_conns;
            info.cum_conns += p.cum_conns;
            info.conn_rate += p.conn_rate;
            info.max_conn_rate += p.max_conn_rate;
            info.sess_rate += p.sess_rate;
            info.max_sess_rate += p.max_sess_rate;
            info.jobs += p.cur_conns;
            info.tasks += p.tasks;
            info.bytes_out += p.bytes_out;
            info.bytes_out_rate += p.bytes_out_rate;
            info.pipes_used += p.pipes_used;
            info.pipes_free += p.pipes_free;
        }
    }
}
