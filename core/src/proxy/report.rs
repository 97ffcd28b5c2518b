//! The balancer as the stats formatters see it: plain-data snapshots of
//! every proxy and of the process, built on demand from core's state and
//! counters (`show stat`, `show info`, Prometheus, the stats page).

use super::{BackendState, Balancer, FrontendState, ServerState};
use crate::config::{Balance, Origin};
use crate::id::{BackendId, FrontendId};
use crate::stats::{
    Admin, AdminState, BackendRow, CheckInfo, CheckLevel, CheckStatus, FrontendRow, Mode,
    ProcessInfo, ProxyStats, ServerRow, ServerStatus, StatusInput,
};
use crate::time::Instant;

/// A proxy: a frontend, a backend, or both (`listen`), and its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProxyRef<'a> {
    pub name: &'a str,
    /// HAProxy's `iid`.
    pub iid: u32,
    pub frontend: Option<FrontendId>,
    pub backend: Option<BackendId>,
}

impl Balancer {
    /// Every proxy in configuration order with HAProxy's id (the
    /// configuration's); a `listen` section (a frontend and a backend of
    /// one name) is one proxy. Disabled backends are left out, as HAProxy
    /// leaves disabled proxies out of its stats.
    pub(crate) fn proxy_refs(&self) -> Vec<ProxyRef<'_>> {
        let mut proxies: Vec<(&Origin, ProxyRef<'_>)> = Vec::new();
        for (f, frontend) in self.frontends.iter().filter(|(_, x)| !x.retired) {
            let name = frontend.config.name.as_str();
            let proxy = ProxyRef {
                name,
                iid: frontend.config.iid,
                frontend: Some(f),
                backend: None,
            };
            proxies.push((&frontend.config.origin, proxy));
        }
        let shown = |x: &BackendState| !x.retired && !x.config.disabled;
        for (b, backend) in self.backends.iter().filter(|(_, x)| shown(x)) {
            let name = backend.config.name.as_str();
            // The two halves of a `listen` share its id; a frontend and a
            // backend of one name are two proxies.
            let iid = backend.config.iid;
            let listen = proxies
                .iter_mut()
                .find(|(_, p)| p.name == name && p.iid == iid && p.backend.is_none());
            match listen {
                Some((_, proxy)) => proxy.backend = Some(b),
                None => proxies.push((
                    &backend.config.origin,
                    ProxyRef {
                        name,
                        iid: backend.config.iid,
                        frontend: None,
                        backend: Some(b),
                    },
                )),
            }
        }
        proxies.sort_by(|(a, _), (b, _)| (&a.file, a.line).cmp(&(&b.file, b.line)));
        proxies.into_iter().map(|(_, proxy)| proxy).collect()
    }

    /// Every proxy's stats at `now`, in [`Balancer::proxy_refs`] order,
    /// the other event loops' counters added (see [`crate::loops`]).
    pub(crate) fn proxy_stats(&self, now: Instant) -> Vec<ProxyStats> {
        let mut stats = self.own_proxy_stats(now);
        self.add_peer_proxies(&mut stats);
        stats
    }

    /// Every proxy's stats at `now`, this instance's counters alone.
    pub(crate) fn own_proxy_stats(&self, now: Instant) -> Vec<ProxyStats> {
        self.proxy_refs()
            .into_iter()
            .map(|p| {
                let frontend = p.frontend.map(|f| &self.frontends[f]);
                let backend = p.backend.map(|b| &self.backends[b]);
                let servers = backend.map_or_else(Vec::new, |backend| {
                    let listed = backend.listed();
                    (listed.iter().zip(server_ids(&listed)))
                        .map(|((_, server), sid)| server_row(now, server, sid))
                        .collect()
                });
                let http = frontend.is_some_and(|f| f.config.service.is_some());
                let description = (frontend.map(|f| &f.config.description))
                    .or(backend.map(|b| &b.config.description))
                    .cloned()
                    .flatten();
                ProxyStats {
                    name: p.name.to_owned(),
                    iid: p.iid,
                    description,
                    mode: if http { Mode::Http } else { Mode::Tcp },
                    frontend: frontend.map(|f| self.frontend_row(now, f)),
                    servers,
                    backend: backend.map(|b| self.backend_row(now, b)),
                }
            })
            .collect()
    }

    /// The process as `show info` and `haproxy_process_*` show it. The
    /// driver's part (descriptor limit, host name, build) is [`Balancer::set_process_info`]'s.
    pub(crate) fn process_info(&self, now: Instant) -> ProcessInfo {
        let mut info = self.own_process_info(now);
        self.add_peer_process(&mut info);
        info
    }

    /// The process as this instance alone counts it.
    pub(crate) fn own_process_info(&self, now: Instant) -> ProcessInfo {
        let c = &self.counters;
        ProcessInfo {
            uptime_secs: now.saturating_duration_since(self.started).as_secs(),
            maxconn: self.maxconn.unwrap_or(0),
            cur_conns: c.cur_conns,
            cum_conns: c.cum_conns,
            cum_req: c.cum_req,
            conn_rate: c.conn_rate(now),
            max_conn_rate: c.cps_max,
            sess_rate: c.sess_rate(now),
            max_sess_rate: c.sps_max,
            stopping: self.stopping,
            jobs: c.cur_conns + self.listeners.iter().filter(|l| l.accepting).count() as u32,
            listeners: self.listeners.len() as u32,
            dropped_logs: c.dropped_logs,
            bytes_out: c.bytes_out,
            bytes_out_rate: c.bytes_out_rate(now),
            tasks: self.sessions.len() as u32,
            nbthread: self.event_loop.count,
            ..self.process.clone()
        }
    }

    fn frontend_row(&self, now: Instant, frontend: &FrontendState) -> FrontendRow {
        let counters = &frontend.counters;
        FrontendRow {
            counters: counters.clone(),
            sess_rate: counters.sess_rate(now),
            conn_rate: counters.conn_rate(now),
            req_rate: counters.http.as_ref().map_or(0, |h| h.req_rate(now)),
            maxconn: frontend.config.maxconn.or(self.maxconn).unwrap_or(0),
            rate_limit: 0,
            stopped: self.stopping,
        }
    }

    fn backend_row(&self, now: Instant, backend: &BackendState) -> BackendRow {
        let (active, backup) = backend.usable_by_kind(now);
        let usable = backend.servers.values().filter(|s| s.lb_weight(now) > 0);
        let (weight, uweight) =
            usable.fold((0, 0), |(w, u), s| (w + s.lb_weight(now), u + s.weight));
        let mut counters = backend.counters.clone();
        counters.queue_cur = backend.waiters.waiting;
        BackendRow {
            counters,
            sess_rate: backend.counters.sess_rate(now),
            weight,
            uweight,
            active,
            backup,
            down_trans: backend.history.down_trans,
            lastchg_secs: backend.history.last_change_secs(now),
            downtime_secs: backend.history.downtime_secs(now),
            fullconn: backend.config.fullconn,
            last_sess_secs: backend.counters.last_sess_secs(now),
            algo: algo(backend.config.balance).into(),
        }
    }
}

/// A server's row; `sid` is its position in its backend.
/// The `sid` of each server of a backend, in [`BackendState::listed`]
/// order: its `id`, or the number HAProxy would give it.
pub(crate) fn server_ids(listed: &[(crate::id::ServerId, &ServerState)]) -> Vec<u32> {
    let explicit: Vec<Option<u32>> = listed.iter().map(|(_, s)| s.config.id).collect();
    crate::config::ids::assign(&explicit, 1)
}

fn server_row(now: Instant, server: &ServerState, sid: u32) -> ServerRow {
    let config = &server.config;
    let admin = Admin {
        resolution: server.admin.resolv_maint,
        own: if server.admin.forced_maint {
            AdminState::Maint
        } else if server.admin.drain() {
            AdminState::Drain
        } else {
            AdminState::Ready
        },
        inherited: AdminState::Ready,
    };
    let check = check_info(server);
    let agent = server.agent.as_ref().map(|a| a.info());
    let status = ServerStatus::of(&StatusInput {
        admin,
        op: server.op,
        check: Some(check.level),
        agent: agent.as_ref().and_then(|a| a.level()),
        tracked: None,
    });
    let mut counters = server.counters.clone();
    counters.queue_cur = server.waiters.waiting;
    let throttle = server.warm_since.map(|_| {
        let full = u64::from(server.weight.max(1));
        (u64::from(server.lb_weight(now)) * 100 / full) as u32
    });
    ServerRow {
        name: config.name.clone(),
        sid,
        forced_id: config.id.is_some(),
        sess_rate: server.counters.sess_rate(now),
        counters,
        status,
        admin,
        configured_maint: server.admin.configured_maint,
        op: server.op,
        weight: server.shown_weight.unwrap_or(server.weight),
        uweight: server.weight,
        iweight: config.weight,
        backup: config.backup,
        check,
        observe: config.observe,
        lastchg_secs: server.history.last_change_secs(now),
        downtime_secs: server.history.downtime_secs(now),
        last_sess_secs: server.counters.last_sess_secs(now),
        maxconn: (config.maxconn > 0).then_some(config.maxconn),
        maxqueue: (config.maxqueue > 0).then_some(config.maxqueue),
        throttle,
        tracked: None,
        addr: config.addr,
        fqdn: config.host.as_ref().map(|h| h.name.clone()),
        use_ssl: config.tls.is_some(),
        check_port: config.check_port.unwrap_or(0),
        agent,
    }
}

/// A server's check as the stats show it.
fn check_info(server: &ServerState) -> CheckInfo {
    let (health, rise, fall) = server.health.level();
    let running = server.check.as_ref().is_some_and(|c| c.is_running());
    let paused = server.check.as_ref().is_some_and(|c| c.is_paused());
    let disabled = server.check.as_ref().is_some_and(|c| c.is_disabled());
    let (status, code, duration_ms, desc) = match &server.last_check {
        Some(last) => (
            last.status(),
            last.code(),
            last.duration_ms.unwrap_or(0),
            last.desc(),
        ),
        None => (CheckStatus::Init, None, 0, String::new()),
    };
    CheckInfo {
        configured: server.config.check,
        level: CheckLevel {
            enabled: server.config.check && !disabled,
            rise,
            fall,
            health,
        },
        paused,
        in_progress: running,
        status,
        code,
        duration_ms,
        desc,
    }
}

/// `balance` as HAProxy names it in the stats.
fn algo(balance: Balance) -> &'static str {
    match balance {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::First => "first",
        Balance::Source => "source",
        Balance::Random { .. } => "random",
    }
}

/// The stats of `proxies` as `show stat` prints them.
#[cfg(test)]
pub(crate) fn csv(proxies: &[ProxyStats]) -> String {
    let filter = crate::stats::StatFilter::parse(&[], proxies, false).expect("no filter");
    crate::stats::show_stat(proxies, &filter)
}
