//! Reload in place: a new configuration applied to the running balancer
//! as one input, keeping what survives.
//!
//! # Lifecycle
//!
//! ```text
//! driver: parse + validate the files ----error----> log, keep running (nothing changed)
//!           |
//!           v  lb.listeners_to_bind(&config): bind each new address ----error----> same
//!           v  lb.reload(now, config) -> ReloadReport { opened, closed }
//!           v  attach the bound sockets to `opened`, release `closed`
//!
//! removed frontend/backend/server --retired--> no new session --last session ends--> freed
//! ```
//!
//! Frontends and backends are matched by name, servers by backend, name
//! and address: a match keeps its id, counters, sessions and queue, and a
//! server its health and what people set at run time (drain, maintenance,
//! weight) unless the file changed that very setting. A server whose
//! address or port changed is a new server; the old one is retired.
//! Listeners are matched by address: a kept socket stays open, so no
//! connection is refused during a reload; a closed one's sessions go on.

use std::sync::Arc;

use super::state::AdminFlags;
use super::{
    BackendState, Balancer, FrontendState, Listener, ListenerSlot, ServerState, Waiters,
    cli::CliListener, tls_target,
};
use crate::action::{Action, LogLine, LogSink};
use crate::arena::{Arena, Key};
use crate::balance::{Lb, Member, Policy};
use crate::config::{Backend, Config, Frontend, Global, Server, StatsAddr, StatsSocket};
use crate::health::Health;
use crate::id::{BackendId, FrontendId, ListenerId, ServerId};
use crate::limits::Limits;
use crate::proxy::ListenAddr;
use crate::stats::{BackendCounters, FrontendCounters, OpState, StateHistory};
use crate::time::Instant;
use crate::tls::DriverTime;

/// Something a reload removed, kept until its last session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retiring {
    Frontend(FrontendId),
    Backend(BackendId),
    Server(BackendId, ServerId),
}

/// What a reload changed, for the driver (listeners to open and close)
/// and for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// New listeners: the driver binds [`Balancer::listener_addr`] of each
    /// (bound beforehand, see [`Balancer::listeners_to_bind`]).
    pub opened: Vec<ListenerId>,
    /// Listeners to close; their sessions run to their end.
    pub closed: Vec<ListenerId>,
    /// Frontends kept, added and removed.
    pub frontends: Tally,
    /// Backends kept, added and removed.
    pub backends: Tally,
    /// Servers kept, added and removed (a changed address counts as one
    /// removed and one added).
    pub servers: Tally,
}

/// How many were kept, added and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Matched by name (servers: and address).
    pub kept: usize,
    /// New in the configuration.
    pub added: usize,
    /// Gone from the configuration (retired until their sessions end).
    pub removed: usize,
}

impl ReloadReport {
    /// The line logged after a reload.
    fn summary(&self, sessions: usize) -> String {
        let tally =
            |t: &Tally| format!("{} kept, {} added, {} removed", t.kept, t.added, t.removed);
        format!(
            "Configuration reloaded: frontends {}; backends {}; servers {}; listeners {} opened, \
             {} closed; {sessions} sessions go on.",
            tally(&self.frontends),
            tally(&self.backends),
            tally(&self.servers),
            self.opened.len(),
            self.closed.len(),
        )
    }
}

impl ListenAddr<'_> {
    /// Whether both name the same socket: one TCP address, or one UNIX
    /// path (its mode and owner aside).
    pub fn same_socket(&self, other: &ListenAddr<'_>) -> bool {
        match (self, other) {
            (ListenAddr::Tcp(a), ListenAddr::Tcp(b)) => a == b,
            (ListenAddr::Unix(a), ListenAddr::Unix(b)) => a.addr == b.addr,
            _ => false,
        }
    }
}

/// Where a stats socket listens, as a [`ListenAddr`].
fn stats_addr(socket: &StatsSocket) -> ListenAddr<'_> {
    match socket.addr {
        StatsAddr::Tcp(addr) => ListenAddr::Tcp(addr),
        StatsAddr::Unix(_) => ListenAddr::Unix(socket),
    }
}

/// Every listening address of `config`: the binds, then the stats sockets.
fn wanted(config: &Config) -> impl Iterator<Item = ListenAddr<'_>> {
    let binds = config.frontends.iter().flat_map(|f| f.binds.iter());
    let binds = binds.map(|b| ListenAddr::Tcp(b.addr));
    binds.chain(config.global.runtime_api.sockets.iter().map(stats_addr))
}

impl ServerState {
    /// A server as HAProxy starts one: UP at the bottom of its range
    /// (checks decide from there), or in maintenance when `disabled`.
    pub(super) fn new(
        config: Server,
        now: Instant,
        verify_default: bool,
        tls_time: &Arc<DriverTime>,
    ) -> ServerState {
        let tls =
            |t: &crate::config::CheckTls| tls_target(t, config.addr.ip(), verify_default, tls_time);
        let unresolved = config.host.as_ref().is_some_and(|h| h.unresolved);
        let mut health = Health::starting(config.rise, config.fall);
        if unresolved {
            // Maintenance from the start, as HAProxy's (`init-addr none`).
            health.fail_all();
        }
        ServerState {
            health,
            weight: config.weight,
            shown_weight: None,
            admin: AdminFlags {
                configured_maint: config.disabled,
                forced_maint: config.disabled,
                forced_drain: false,
                resolv_maint: config.host.as_ref().is_some_and(|h| h.unresolved),
            },
            op: if config.disabled || config.host.as_ref().is_some_and(|h| h.unresolved) {
                OpState::Stopped
            } else {
                OpState::Running
            },
            counters: BackendCounters::default(),
            history: StateHistory::new(
                now,
                config.disabled || config.host.as_ref().is_some_and(|h| h.unresolved),
            ),
            last_check: None,
            active: 0,
            waiters: Waiters::default(),
            warm_since: None,
            warm_queued: None,
            check: None,
            agent: None,
            consecutive_errors: 0,
            observed: Default::default(),
            suspect_until: None,
            check_tls: config.check_tls.as_ref().map(tls),
            traffic_tls: config.tls.as_ref().map(tls),
            rule_tls: config.rule_tls.as_ref().map(tls),
            retired: false,
            slots: None,
            ports: Default::default(),
            config,
        }
    }
}

impl BackendState {
    /// A backend without servers yet, its algorithm built by
    /// [`BackendState::rebuild_lb`].
    fn empty(config: Backend, now: Instant) -> BackendState {
        BackendState {
            lb: Lb::for_backend(&config),
            config,
            servers: Arena::default(),
            active: 0,
            counters: BackendCounters::default(),
            history: StateHistory::new(now, false),
            warned_tls_in_tls: false,
            waiters: Waiters::default(),
            server_waiting: 0,
            outage: false,
            retired: false,
            limits: Arc::new(Limits::local()),
            load_slot: None,
        }
    }

    /// Builds the balancing algorithm again for the servers now in the
    /// arena (slot index = the algorithm's index; free slots and retired
    /// servers weigh nothing), with their loads and weights.
    fn rebuild_lb(&mut self, now: Instant) {
        let policy = Policy {
            balance: self.config.balance,
            hash_type: self.config.hash_type,
            balance_factor: self.config.hash_balance_factor,
            allbackups: self.config.allbackups,
        };
        let slots = self.servers.ids().map(|id| id.index() + 1).max();
        let mut members = vec![
            Member {
                weight: 0,
                backup: false
            };
            slots.unwrap_or(0)
        ];
        for (id, server) in self.servers.iter().filter(|(_, s)| !s.retired) {
            members[id.index()] = Member {
                weight: server.config.weight,
                backup: server.config.backup,
            };
        }
        self.lb = Lb::new(policy, &members);
        for (id, server) in self.servers.iter() {
            self.lb.set_load(id.index(), server.active);
        }
        self.sync_weights(now);
    }

    /// The servers the configuration lists (retired ones left out), in
    /// its order: what the stats and the runtime API show, `sid` from 1.
    pub(super) fn listed(&self) -> Vec<(ServerId, &ServerState)> {
        let mut servers: Vec<_> = (self.servers.iter()).filter(|(_, s)| !s.retired).collect();
        servers.sort_by(|(_, a), (_, b)| {
            let (a, b) = (&a.config.origin, &b.config.origin);
            (&a.file, a.line).cmp(&(&b.file, b.line))
        });
        servers
    }
}

impl Balancer {
    /// The addresses of `config` that have no socket yet: what the driver
    /// binds before [`Balancer::reload`], so that a bind error leaves the
    /// running configuration untouched.
    pub fn listeners_to_bind<'c>(&self, config: &'c Config) -> Vec<ListenAddr<'c>> {
        let mut fresh: Vec<ListenAddr<'c>> = Vec::new();
        for addr in wanted(config) {
            let open = self.listeners().any(|(_, old)| old.same_socket(&addr));
            if !open && !fresh.iter().any(|f| f.same_socket(&addr)) {
                fresh.push(addr);
            }
        }
        fresh
    }

    /// Applies `config` (parsed and validated) in place. Sessions, queues,
    /// health and counters of what the configuration keeps go on; see the
    /// module docs for the matching rules. The driver then opens the
    /// listeners of [`ReloadReport::opened`] (bound beforehand through
    /// [`Balancer::listeners_to_bind`]) and closes those of
    /// [`ReloadReport::closed`].
    pub fn reload(&mut self, now: Instant, config: Config) -> ReloadReport {
        self.advance(now);
        // What was seen goes out under the names it was seen under.
        self.seal_reports();
        // What this reload makes has limits of its own (see `crate::loops`).
        self.epoch = self.epoch.wrapping_add(1);
        let mut report = ReloadReport::default();
        let Config {
            global,
            frontends,
            backends,
        } = config;
        self.reload_global(&global);
        let verify_default = !global.ssl_server_verify_none;
        let mut backend_ids = Vec::with_capacity(backends.len());
        let mut checked = Vec::new();
        for mut config in backends {
            let servers = std::mem::take(&mut config.servers);
            let b = match self.live_backend(&config.name) {
                Some(b) => {
                    report.backends.kept += 1;
                    self.backends[b].config = config;
                    b
                }
                None => {
                    report.backends.added += 1;
                    let mut backend = BackendState::empty(config, now);
                    backend.limits = self.limits.clone();
                    self.backends.insert(backend)
                }
            };
            backend_ids.push(b);
            let fresh = self.reload_servers(now, b, servers, verify_default, &mut report);
            checked.extend(fresh.into_iter().map(|s| (b, s)));
        }
        let gone: Vec<BackendId> = (self.backends.iter())
            .filter(|(b, x)| !x.retired && !backend_ids.contains(b))
            .map(|(b, _)| b)
            .collect();
        for b in gone {
            report.backends.removed += 1;
            self.retire_backend(b);
        }
        let frontend_ids = self.reload_frontends(frontends, &backend_ids, &mut report);
        self.resolve_limits();
        self.reload_listeners(&frontend_ids, &global.runtime_api.sockets, &mut report);
        self.schedule_first_checks_of(now, checked);
        self.sync_agents(now);
        self.start_dns(now, &global.resolvers);
        for &b in &backend_ids {
            self.dispatch_queue(now, b);
        }
        self.refresh_listeners();
        self.refresh_cli_listeners();
        self.free_retired();
        // A first check due at once runs now.
        self.advance(now);
        let summary = report.summary(self.sessions.len());
        self.answer_reload(now, true, std::slice::from_ref(&summary));
        // Loop 0 says it, once for the process.
        if self.follows() {
            return report;
        }
        self.actions.push_back(Action::Log(LogLine {
            sink: LogSink::Diagnostic(log::Level::Info),
            text: summary,
        }));
        report
    }

    /// Process-wide settings: limits, check spreading, stop bound, the
    /// stats sockets' timeout and limit, log headers. `maxconn` set at
    /// run time stays unless the file changed it.
    fn reload_global(&mut self, global: &Global) {
        self.event_loop = global.event_loop;
        self.rates.limits = global.rates;
        if global.maxconn != self.hard_maxconn {
            self.maxconn = global.maxconn;
            self.hard_maxconn = global.maxconn;
        }
        self.spread_checks = global.spread_checks;
        self.hard_stop_after = global.hard_stop_after;
        self.nosplice = global.splice.disabled;
        self.cli.timeout = global.runtime_api.timeout;
        self.cli.maxconn = global.runtime_api.maxconn;
        self.clock.reconfigure(global);
    }

    pub(super) fn live_backend(&self, name: &str) -> Option<BackendId> {
        (self.backends.iter())
            .find(|(_, b)| !b.retired && b.config.name == name)
            .map(|(b, _)| b)
    }

    /// Matches backend `b`'s servers with `configs`; returns the new
    /// servers that need their first check scheduled.
    fn reload_servers(
        &mut self,
        now: Instant,
        b: BackendId,
        configs: Vec<Server>,
        verify_default: bool,
        report: &mut ReloadReport,
    ) -> Vec<ServerId> {
        let mut listed = Vec::with_capacity(configs.len());
        let mut fresh = Vec::new();
        let mut retired = Vec::new();
        for mut config in configs {
            let servers = &self.backends[b].servers;
            // A server following DNS keeps the address DNS gave it.
            let dns_name = |c: &Server| {
                let host = c.host.as_ref()?;
                host.dns
                    .as_ref()
                    .map(|d| (d.resolvers.clone(), host.name.clone(), c.addr.port()))
            };
            if let Some((_, old)) = (servers.iter()).find(|(_, x)| {
                !x.retired && x.config.name == config.name && dns_name(&x.config).is_some()
            }) {
                if dns_name(&old.config) == dns_name(&config) {
                    config.addr = old.config.addr;
                }
            }
            let same = (servers.iter())
                .find(|(_, x)| !x.retired && x.config.name == config.name)
                .map(|(s, x)| (s, x.config.addr == config.addr));
            let s = match same {
                Some((s, true)) => {
                    report.servers.kept += 1;
                    if self.keep_server(now, b, s, config, verify_default) {
                        fresh.push(s);
                    }
                    s
                }
                other => {
                    if let Some((old, _)) = other {
                        report.servers.removed += 1;
                        self.backends[b].servers[old].retired = true;
                        retired.push(old);
                    }
                    report.servers.added += 1;
                    let check = config.check;
                    let server = ServerState::new(config, now, verify_default, &self.tls_time);
                    let s = self.backends[b].servers.insert(server);
                    if check {
                        fresh.push(s);
                    }
                    s
                }
            };
            listed.push(s);
        }
        let gone: Vec<ServerId> = (self.backends[b].servers.iter())
            .filter(|(s, x)| !x.retired && !listed.contains(s))
            .map(|(s, _)| s)
            .collect();
        for s in gone {
            report.servers.removed += 1;
            self.backends[b].servers[s].retired = true;
            retired.push(s);
        }
        self.backends[b].rebuild_lb(now);
        for s in retired {
            self.drop_check(b, s);
            self.backends[b].servers[s].warm_since = None;
            self.retiring.push(Retiring::Server(b, s));
        }
        fresh
    }

    /// Server `s` of backend `b` stays, with `config`: what the file
    /// changed applies, what people set at run time stays otherwise.
    /// Returns whether checks were just turned on (to schedule).
    fn keep_server(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        config: Server,
        verify_default: bool,
    ) -> bool {
        let tls_time = self.tls_time.clone();
        let server = &mut self.backends[b].servers[s];
        let old = std::mem::replace(&mut server.config, config);
        let new = &server.config;
        let tls =
            |t: &crate::config::CheckTls| tls_target(t, new.addr.ip(), verify_default, &tls_time);
        server.check_tls = new.check_tls.as_ref().map(tls);
        server.traffic_tls = new.tls.as_ref().map(tls);
        server.rule_tls = new.rule_tls.as_ref().map(tls);
        if (old.rise, old.fall) != (new.rise, new.fall) {
            server.health = server.health.retuned(new.rise, new.fall);
        }
        if old.weight != new.weight {
            server.weight = new.weight;
        }
        if new.slowstart.is_none() {
            server.warm_since = None;
        }
        let (checks_on, checks_off) = (!old.check && new.check, old.check && !new.check);
        let disabled = (old.disabled != new.disabled).then_some(new.disabled);
        let (rise, fall) = (new.rise, new.fall);
        if checks_off {
            self.drop_check(b, s);
            // Without checks a server is UP, as HAProxy starts one.
            let server = &mut self.backends[b].servers[s];
            server.health = Health::starting(rise, fall);
            if server.op != OpState::Running && !server.admin.maint() {
                let admin = self.backends[b].servers[s].admin;
                let cause = super::state::Cause::Reason("checks removed by reload");
                self.change_server(now, b, s, OpState::Running, admin, cause);
            }
        }
        if let Some(disabled) = disabled {
            let server = &self.backends[b].servers[s];
            let admin = AdminFlags {
                configured_maint: disabled,
                forced_maint: disabled,
                forced_drain: server.admin.forced_drain,
                resolv_maint: server.admin.resolv_maint,
            };
            let op = server.op;
            self.change_server(now, b, s, op, admin, super::state::Cause::Admin);
        }
        self.backends[b].sync_weight(s, now);
        checks_on
    }

    /// Backend `b` is gone from the configuration: no frontend routes to
    /// it any more; its servers serve its sessions and queue, unchecked.
    fn retire_backend(&mut self, b: BackendId) {
        self.backends[b].retired = true;
        let servers: Vec<ServerId> = self.backends[b].servers.ids().collect();
        for s in servers {
            self.drop_check(b, s);
        }
        self.retiring.push(Retiring::Backend(b));
    }

    /// Matches the frontends by name; returns their ids in configuration
    /// order. `backends` are the new configuration's backends' ids.
    fn reload_frontends(
        &mut self,
        configs: Vec<Frontend>,
        backends: &[BackendId],
        report: &mut ReloadReport,
    ) -> Vec<FrontendId> {
        let mut ids = Vec::with_capacity(configs.len());
        for config in configs {
            let backend = config
                .default_backend
                .and_then(|i| backends.get(i).copied());
            let existing = (self.frontends.iter())
                .find(|(_, x)| !x.retired && x.config.name == config.name)
                .map(|(f, _)| f);
            let f = match existing {
                Some(f) => {
                    report.frontends.kept += 1;
                    let frontend = &mut self.frontends[f];
                    if frontend.config.service.is_some() != config.service.is_some() {
                        frontend.counters = frontend_counters(&config);
                    }
                    frontend.config = config;
                    frontend.backend = backend;
                    f
                }
                None => {
                    report.frontends.added += 1;
                    self.frontends.insert(FrontendState {
                        counters: frontend_counters(&config),
                        config,
                        backend,
                        active: 0,
                        retired: false,
                        slot: None,
                        rate_slot: None,
                    })
                }
            };
            ids.push(f);
        }
        let gone: Vec<FrontendId> = (self.frontends.iter())
            .filter(|(f, x)| !x.retired && !ids.contains(f))
            .map(|(f, _)| f)
            .collect();
        for f in gone {
            report.frontends.removed += 1;
            self.frontends[f].retired = true;
            self.frontends[f].backend = None;
            self.retiring.push(Retiring::Frontend(f));
        }
        ids
    }

    /// Listeners of the frontends `frontends` and of the stats sockets
    /// `sockets`: a socket already open for an address keeps its id (and
    /// its paused state); new addresses get new ids, never one closed by
    /// this very reload.
    fn reload_listeners(
        &mut self,
        frontends: &[FrontendId],
        sockets: &[StatsSocket],
        report: &mut ReloadReport,
    ) {
        let mut claimed = vec![false; self.listener_slots.len()];
        let mut claim = |lb: &Balancer, addr: ListenAddr<'_>| -> Option<(ListenerId, bool)> {
            let (id, _) = lb
                .listeners()
                .find(|(id, old)| !claimed[id.0 as usize] && old.same_socket(&addr))?;
            claimed[id.0 as usize] = true;
            // What the driver was last told: the listener's state goes on.
            let accepting = match lb.listener_slot(id)? {
                ListenerSlot::Traffic(i) => lb.listeners[i].open(),
                ListenerSlot::Cli(i) => lb.cli.listeners[i].accepting,
            };
            Some((id, accepting))
        };
        let mut traffic = Vec::new();
        for &f in frontends {
            for (bind, b) in self.frontends[f].config.binds.iter().enumerate() {
                let kept = claim(self, ListenAddr::Tcp(b.addr));
                traffic.push((kept, f, bind, b.addr));
            }
        }
        let cli: Vec<_> = (sockets.iter())
            .map(|socket| (claim(self, stats_addr(socket)), socket.clone()))
            .collect();
        let mut free = (0..self.listener_slots.len())
            .filter(|&i| self.listener_slots[i].is_none())
            .collect::<Vec<_>>()
            .into_iter();
        report.closed = (self.listeners().map(|(id, _)| id))
            .filter(|id| !claimed[id.0 as usize])
            .collect();
        for id in &report.closed {
            self.listener_slots[id.0 as usize] = None;
        }
        let mut fresh = |slots: &mut Vec<Option<ListenerSlot>>| {
            let id = free.next().unwrap_or_else(|| {
                slots.push(None);
                slots.len() - 1
            });
            ListenerId(id as u32)
        };
        let mut listeners = Vec::with_capacity(traffic.len());
        for (kept, frontend, bind, addr) in traffic {
            let (id, accepting) = kept.unwrap_or_else(|| {
                let id = fresh(&mut self.listener_slots);
                report.opened.push(id);
                (id, true)
            });
            self.listener_slots[id.0 as usize] = Some(ListenerSlot::Traffic(listeners.len()));
            listeners.push(Listener {
                id,
                addr,
                frontend,
                bind,
                accepting,
                yielding: false,
            });
        }
        let mut cli_listeners = Vec::with_capacity(cli.len());
        for (kept, socket) in cli {
            let (id, accepting) = kept.unwrap_or_else(|| {
                let id = fresh(&mut self.listener_slots);
                report.opened.push(id);
                (id, true)
            });
            self.listener_slots[id.0 as usize] = Some(ListenerSlot::Cli(cli_listeners.len()));
            let mut listener = CliListener::new(&socket, id);
            listener.accepting = accepting;
            cli_listeners.push(listener);
        }
        self.listeners = listeners;
        self.cli.listeners = cli_listeners;
    }

    /// Frees what a reload retired once nothing refers to it: a server
    /// without sessions or waiters, a backend without sessions, a
    /// frontend without sessions or page connections.
    pub(super) fn free_retired(&mut self) {
        let mut i = 0;
        while i < self.retiring.len() {
            let done = match self.retiring[i] {
                Retiring::Frontend(f) => {
                    let idle = self.frontends.get(f).is_none_or(|x| x.active == 0);
                    if idle && !self.has_pages(f) {
                        self.frontends.remove(f);
                        true
                    } else {
                        false
                    }
                }
                Retiring::Backend(b) => {
                    if self.backends.get(b).is_none_or(|x| x.active == 0) {
                        self.backends.remove(b);
                        true
                    } else {
                        false
                    }
                }
                Retiring::Server(b, s) => match self.backends.get_mut(b) {
                    None => true,
                    Some(backend) => match backend.servers.get(s) {
                        None => true,
                        Some(x) if x.active == 0 && x.waiters.waiting == 0 => {
                            backend.servers.remove(s);
                            backend.lb.set_load(s.index(), 0);
                            backend.lb.set_weight(s.index(), 0);
                            true
                        }
                        Some(_) => false,
                    },
                },
            };
            if done {
                self.retiring.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }
}

/// The counters a frontend starts with: HTTP ones for `mode http`.
fn frontend_counters(config: &Frontend) -> FrontendCounters {
    match config.service {
        Some(_) => FrontendCounters::http(),
        None => FrontendCounters::default(),
    }
}
