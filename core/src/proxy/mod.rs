//! The [`Balancer`]: frontends, backends, servers, sessions and checks.
//!
//! `mod.rs` holds the state and the public driving API; `traffic.rs` the
//! sessions (accept, connect, splice, end); `checks.rs` the health checks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use slab::Slab;

use crate::action::{Action, ConnError, Event, LogLine, LogSink};
use crate::arena::Arena;
use crate::balance::Lb;
use crate::buffer::Pool;
use crate::config::{Backend, Bind, Config, Frontend, LogTarget, Server, Severity};
use crate::health::Health;
use crate::id::{BackendId, ConnId, FrontendId, ListenerId, ServerId};
use crate::limits::{LimitKey, LimitSlot, Limits};
use crate::logging::{LogClock, frame};
use crate::loops::{EventLoop, LoopNews};
use crate::rng::Rng;
use crate::session::{Phase, Session};
use crate::stats::OpState;
use crate::stats::{BackendCounters, FrontendCounters, ProcessCounters, ProcessInfo, StateHistory};
use crate::time::Instant;
use crate::timer::{TimerKey, TimerQueue};
use crate::tls::{self, DriverTime};
use state::AdminFlags;
pub use state::{HealthVerdict, NoSuchServer};

pub use cli::ListenAddr;
pub use reload::{ReloadReport, Tally};
pub use server_states::BackendStates;

mod abort;
mod accept_proxy;
mod agent_check;
mod check_connect;
mod checks;
mod cli;
mod control;
mod dns;
mod independent;
#[cfg(debug_assertions)]
mod invariants;
mod loops;
mod observe;
mod pages;
mod probe;
mod rate;
mod reload;
mod report;
mod runtime;
mod send_state;
mod server_states;
mod servers;
mod shortage;
mod source;
mod splice;
mod spread;
mod state;
mod stop;
mod tokens;
mod traffic;
mod verdict;

pub(crate) use probe::run_plain_rules;

#[cfg(test)]
pub(crate) mod tests;

/// Free buffers kept for reuse.
const POOL_KEEP: usize = 256;

/// What memory kept for a burst falls back to once the load falls: free
/// buffers, and room in the tables (sessions, connections, timers,
/// actions, queues).
const LOW_WATER: usize = 32;

/// The whole load balancer as a state machine. See the crate docs for the
/// driving contract.
pub struct Balancer {
    frontends: Arena<FrontendId, FrontendState>,
    backends: Arena<BackendId, BackendState>,
    /// The frontends' listeners, in configuration order.
    listeners: Vec<Listener>,
    /// What each [`ListenerId`] stands for (an index is an id; `None`
    /// once closed by a reload).
    listener_slots: Vec<Option<ListenerSlot>>,
    /// Frontends, backends and servers a reload removed, kept until
    /// their last session ends.
    retiring: Vec<reload::Retiring>,
    conns: Slab<ConnSlot>,
    sessions: Slab<Session>,
    pool: Pool,
    actions: VecDeque<Action>,
    timers: TimerQueue,
    /// Generation given to the next connection or session slot.
    generation: u32,
    maxconn: Option<u32>,
    /// Client sessions of this loop (`sessions.len()`).
    active: u32,
    /// Running out of descriptors or memory: the accept pause, shortages.
    shortages: shortage::Shortages,
    /// `rate-limit sessions`, `maxconnrate`, `maxsessrate`.
    rates: rate::RateState,
    /// Session whose buffer the driver may be reading into.
    lent: Option<usize>,
    /// Stopping: no more accepts (soft stop or shutdown).
    stopping: bool,
    /// `hard-stop-after`.
    hard_stop_after: Option<Duration>,
    /// When a soft stop kills the sessions left (its timer entry).
    hard_stop: Option<Instant>,
    clock: LogClock,
    rng: Rng,
    /// `spread-checks` percent.
    spread_checks: u8,
    /// Wall-clock time for certificate checks, set from every `now`.
    tls_time: Arc<DriverTime>,
    /// The `now` of the latest input.
    last_now: Instant,
    /// Peak of sessions since memory was last given back.
    load_mark: usize,
    /// Process-wide counters.
    counters: ProcessCounters,
    /// When the balancer started (uptime).
    started: Instant,
    /// What the driver said of the process (`show info`).
    process: ProcessInfo,
    /// The stats sockets and their connections.
    cli: cli::Cli,
    /// Connections to `mode http` frontends.
    pages: Slab<pages::PageConn>,
    /// `accept-proxy` connections still reading their header.
    pending: Slab<accept_proxy::Pending>,
    /// The pending connection whose buffer `recv_buf` lent.
    lent_pending: Option<usize>,
    /// A page connection whose room the driver may be reading into, and
    /// the length to give it back.
    lent_page: Option<(usize, usize)>,
    /// The configured global `maxconn`: the most `set maxconn global` may
    /// set (HAProxy's `hardmaxconn`).
    hard_maxconn: Option<u32>,
    /// `resolvers` sections and their resolutions.
    dns: dns::Dns,
    /// Ports held of `source` port ranges.
    sources: source::Sources,
    /// Which event loop this instance serves (see [`crate::loops`]).
    event_loop: EventLoop,
    /// The loop's way to the process's limits ([`crate::limits`]).
    limits: Arc<Limits>,
    /// The global `maxconn` count in the limit pool.
    global_slot: LimitSlot,
    /// Reloads applied so far (names of limits carry it).
    epoch: u32,
    /// A listener [`Balancer::admit`] took tokens (and reserved rates)
    /// for, until its accept.
    admitted: Option<ListenerId>,
    /// What loop 0 has to tell the other loops, until the driver takes it.
    news: VecDeque<LoopNews>,
    /// What a follower has to tell loop 0 (passive checks).
    outbox: observe::Outbox,
    /// Loop 0 of several: its live servers by their count in the pool,
    /// as the followers' reports name them.
    reported_servers: std::collections::HashMap<LimitSlot, (BackendId, ServerId)>,
    /// A follower's report loop 0 is counting: its server, and the
    /// process's sessions on it at the report's last failure
    /// ([`crate::loops::Observed::active`]).
    reported: Option<(BackendId, ServerId, u32)>,
    /// The other loops' latest counters (loop 0 of several).
    peer_stats: Vec<crate::loops::LoopStats>,
    /// The driver can splice ([`Balancer::enable_splice`]).
    splice: bool,
    /// `nosplice`.
    nosplice: bool,
    /// Calls of the debug-build self-check, to sample it under load.
    #[cfg(debug_assertions)]
    invariant_calls: std::cell::Cell<u32>,
}

struct FrontendState {
    config: Frontend,
    /// Its `default_backend`, resolved.
    backend: Option<BackendId>,
    active: u32,
    counters: FrontendCounters,
    /// Removed by a reload: no listener, freed after its last session.
    retired: bool,
    /// Its `maxconn` count in the limit pool.
    slot: Option<LimitSlot>,
    /// Its `rate-limit sessions` counter in the limit pool.
    rate_slot: Option<LimitSlot>,
}

struct BackendState {
    config: Backend,
    /// Its servers; a server's slot index is its position for `lb`.
    servers: Arena<ServerId, ServerState>,
    /// The balancing algorithm's state: weights and loads of `servers`.
    lb: Lb,
    active: u32,
    counters: BackendCounters,
    /// When it last lost or regained its last usable server.
    history: StateHistory,
    /// The TLS-in-TLS warning was logged.
    warned_tls_in_tls: bool,
    /// Sessions waiting for any usable server, in arrival order.
    waiters: Waiters,
    /// Sessions waiting in the servers' own queues, all together.
    server_waiting: u32,
    /// No server was usable when the queue's deadlines were last set:
    /// they are an outage's (see `BackendState::queue_wait`).
    outage: bool,
    /// Removed by a reload: no frontend routes to it; its servers serve
    /// its sessions without checks until the last one ends.
    retired: bool,
    /// The loop's way to the process's limits ([`crate::limits`]).
    limits: Arc<Limits>,
    /// Its sessions of every loop, in the limit pool.
    load_slot: Option<LimitSlot>,
}

/// A queue of sessions waiting for a server (slab index and generation;
/// ended or dequeued ones are skipped when met), with how many still wait.
#[derive(Default)]
struct Waiters {
    queue: VecDeque<(usize, u32)>,
    waiting: u32,
    /// Sessions served from it so far, wrapping (HAProxy's `queue->idx`,
    /// for `%sq/%bq`).
    served: u32,
}

struct ServerState {
    config: Server,
    health: Health,
    /// What people decided: maintenance, drain.
    admin: AdminFlags,
    /// The weight people gave it: the configured one, or `set weight`'s.
    weight: u32,
    /// The weight `show stat` keeps showing while in maintenance, when
    /// `weight` changed there (HAProxy commits a weight only outside it).
    shown_weight: Option<u32>,
    /// What checks found: DOWN, UP (starting or running), stopping.
    op: OpState,
    /// Its counters (`chkdown` among them).
    counters: BackendCounters,
    /// When its state last changed, and its downtime (DOWN or draining,
    /// as HAProxy counts it).
    history: StateHistory,
    /// What the last check found, for the logs and the stats.
    last_check: Option<verdict::LastCheck>,
    /// Sessions connecting to or established on the server.
    active: u32,
    /// Sessions waiting for this very server (`balance source` picked it
    /// while it was full), bounded by `maxqueue`.
    waiters: Waiters,
    /// When the server came back UP, while its `slowstart` ramp lasts.
    warm_since: Option<Instant>,
    /// The next step of the `slowstart` ramp, when scheduled.
    warm_queued: Option<Instant>,
    check: Option<checks::CheckState>,
    /// `agent-check`: the agent's connection, health and last result.
    agent: Option<agent_check::AgentState>,
    /// Failed traffic connections in a row (`observe layer4`).
    consecutive_errors: u32,
    /// A follower's connections since its last report (`observe`).
    observed: crate::loops::Observed,
    /// A traffic connect just failed: avoided by new connections until
    /// then, or until a check passes.
    suspect_until: Option<Instant>,
    /// TLS client settings of checks (`check-ssl`), or why they failed.
    check_tls: Option<Result<TlsTarget, String>>,
    /// TLS client settings of traffic (`ssl`), or why they failed.
    traffic_tls: Option<Result<TlsTarget, String>>,
    /// TLS client settings of check rules' `connect ssl`, or why they
    /// failed.
    rule_tls: Option<Result<TlsTarget, String>>,
    /// Removed by a reload (or replaced by one of a new address): takes
    /// no new session, freed after its last one.
    retired: bool,
    /// Its `maxconn` and `maxqueue` counts in the limit pool.
    slots: Option<tokens::ServerSlots>,
    /// The free ports of its `source` port range.
    ports: source::PortPool,
}

/// A TLS client configuration and the name to present.
type TlsTarget = (Arc<ClientConfig>, ServerName<'static>);

struct Listener {
    id: ListenerId,
    addr: SocketAddr,
    frontend: FrontendId,
    /// Index in the frontend's `binds`.
    bind: usize,
    /// No limit, rate or stop keeps it from accepting.
    accepting: bool,
    /// Accepting, but left to lighter loops for now (the accept balance,
    /// [`crate::limits::Limits::yields`]); paused all the same.
    yielding: bool,
}

impl Listener {
    /// Whether the driver accepts on it.
    fn open(&self) -> bool {
        self.accepting && !self.yielding
    }
}

/// Where a listener lives: a frontend's (index in `listeners`) or a stats
/// socket's (index in `cli.listeners`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerSlot {
    Traffic(usize),
    Cli(usize),
}

/// What a connection id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The client side of a session.
    Client(usize),
    /// The server side of a session.
    Server(usize),
    /// A second connect of a session to another server (`connect-hedge`),
    /// until it wins and becomes its server side, or is closed.
    Hedge(usize),
    /// A health probe of (backend, server).
    Check(BackendId, ServerId),
    /// An agent check of (backend, server).
    Agent(BackendId, ServerId),
    /// A stats-socket connection.
    Cli(usize),
    /// A connection to a `mode http` frontend (metrics, stats page).
    Page(usize),
    /// A client connection whose PROXY header is being read (`accept-proxy`).
    Pending(usize),
}

struct ConnSlot {
    generation: u32,
    role: Role,
    read: bool,
    write: bool,
}

impl Balancer {
    /// Builds a balancer for `config`. `seed` feeds the PRNG; `wall` is the
    /// wall-clock time at `now` (for log dates); `pid` is shown in logs.
    pub fn new(config: Config, seed: u64, now: Instant, wall: SystemTime, pid: u32) -> Self {
        let rng = Rng::new(seed);
        let verify_default = !config.global.ssl_server_verify_none;
        let tls_time = Arc::new(DriverTime::default());
        let Config {
            global,
            frontends,
            backends,
        } = config;
        let limits = Arc::new(Limits::local());
        let mut backend_ids = Vec::with_capacity(backends.len());
        let mut backend_arena = Arena::default();
        for mut config in backends {
            let lb = Lb::for_backend(&config);
            let mut servers = Arena::default();
            for s in std::mem::take(&mut config.servers) {
                servers.insert(ServerState::new(s, now, verify_default, &tls_time));
            }
            let mut backend = BackendState {
                lb,
                config,
                servers,
                active: 0,
                counters: BackendCounters::default(),
                history: StateHistory::new(now, false),
                warned_tls_in_tls: false,
                waiters: Waiters::default(),
                server_waiting: 0,
                outage: false,
                retired: false,
                limits: limits.clone(),
                load_slot: None,
            };
            backend.sync_weights(now);
            backend_ids.push(backend_arena.insert(backend));
        }
        let mut frontend_arena = Arena::default();
        let mut listeners = Vec::new();
        for config in frontends {
            let backend = config
                .default_backend
                .and_then(|b| backend_ids.get(b).copied());
            let addrs: Vec<SocketAddr> = config.binds.iter().map(|b| b.addr).collect();
            let counters = match config.service {
                Some(_) => FrontendCounters::http(),
                None => FrontendCounters::default(),
            };
            let frontend = frontend_arena.insert(FrontendState {
                config,
                backend,
                active: 0,
                counters,
                retired: false,
                slot: None,
                rate_slot: None,
            });
            for (bind, addr) in addrs.into_iter().enumerate() {
                listeners.push(Listener {
                    id: ListenerId(listeners.len() as u32),
                    addr,
                    frontend,
                    bind,
                    accepting: true,
                    yielding: false,
                });
            }
        }
        let cli_listeners: Vec<cli::CliListener> = (global.runtime_api.sockets.iter())
            .zip(listeners.len()..)
            .map(|(socket, id)| cli::CliListener::new(socket, ListenerId(id as u32)))
            .collect();
        let listener_slots = (0..listeners.len())
            .map(ListenerSlot::Traffic)
            .chain((0..cli_listeners.len()).map(ListenerSlot::Cli))
            .map(Some)
            .collect();
        let mut lb = Balancer {
            frontends: frontend_arena,
            backends: backend_arena,
            listeners,
            listener_slots,
            retiring: Vec::new(),
            conns: Slab::new(),
            sessions: Slab::new(),
            pool: Pool::elastic(LOW_WATER, POOL_KEEP),
            actions: VecDeque::new(),
            timers: TimerQueue::default(),
            generation: 0,
            maxconn: global.maxconn,
            active: 0,
            shortages: Default::default(),
            rates: rate::RateState::new(global.rates, &limits),
            lent: None,
            stopping: false,
            hard_stop_after: global.hard_stop_after,
            hard_stop: None,
            clock: LogClock::new(now, wall, pid, &global),
            rng,
            spread_checks: global.spread_checks,
            tls_time,
            last_now: now,
            load_mark: 0,
            counters: ProcessCounters::default(),
            started: now,
            process: ProcessInfo {
                name: "weir".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                nbthread: 1,
                pid,
                // HAProxy's `node` defaults to the host name.
                node: global
                    .process
                    .node
                    .clone()
                    .unwrap_or_else(|| global.hostname.clone()),
                ..ProcessInfo::default()
            },
            hard_maxconn: global.maxconn,
            dns: dns::Dns::default(),
            sources: source::Sources::default(),
            event_loop: global.event_loop,
            global_slot: limits.slot(&LimitKey::Global),
            limits,
            epoch: 0,
            admitted: None,
            news: VecDeque::new(),
            outbox: observe::Outbox::default(),
            reported_servers: Default::default(),
            reported: None,
            peer_stats: Vec::new(),
            cli: cli::Cli {
                listeners: cli_listeners,
                timeout: global.runtime_api.timeout,
                maxconn: global.runtime_api.maxconn,
                ..cli::Cli::default()
            },
            pages: Slab::new(),
            pending: Slab::new(),
            lent_pending: None,
            lent_page: None,
            splice: false,
            nosplice: global.splice.disabled,
            #[cfg(debug_assertions)]
            invariant_calls: Default::default(),
        };
        lb.resolve_limits();
        lb.schedule_first_checks(now);
        lb.sync_agents(now);
        lb.start_dns(now, &global.resolvers);
        lb.count_unresolved_outages(now);
        lb.tick_wall_clock(now);
        lb.advance(now);
        lb
    }

    /// Every listening address, with the id to pass to [`Balancer::accept`]
    /// (or [`Balancer::accept_unix`]): the frontends' `bind`s, then the
    /// `stats socket`s.
    /// The ids stay while their socket does: a reload keeps them for the
    /// addresses it keeps, gives new ones for new addresses (see
    /// [`Balancer::reload`]).
    pub fn listeners(&self) -> impl Iterator<Item = (ListenerId, ListenAddr<'_>)> + '_ {
        (0..self.listener_slots.len()).filter_map(|i| {
            let id = ListenerId(i as u32);
            Some((id, self.listener_addr(id)?))
        })
    }

    /// Where `listener` listens, unless a reload closed it.
    pub fn listener_addr(&self, listener: ListenerId) -> Option<ListenAddr<'_>> {
        match self.listener_slot(listener)? {
            ListenerSlot::Traffic(i) => Some(ListenAddr::Tcp(self.listeners[i].addr)),
            ListenerSlot::Cli(i) => Some(self.cli.listeners[i].addr()),
        }
    }

    fn listener_slot(&self, listener: ListenerId) -> Option<ListenerSlot> {
        *self.listener_slots.get(listener.0 as usize)?
    }

    /// A frontend's listener by id.
    fn traffic_listener(&self, listener: ListenerId) -> Option<&Listener> {
        match self.listener_slot(listener)? {
            ListenerSlot::Traffic(i) => self.listeners.get(i),
            ListenerSlot::Cli(_) => None,
        }
    }

    /// The frontend of `listener` and its `bind` (with the line), for
    /// messages about the listening socket.
    pub fn listener_bind(&self, listener: ListenerId) -> Option<(&Frontend, &Bind)> {
        let l = self.traffic_listener(listener)?;
        let frontend = &self.frontends.get(l.frontend)?.config;
        Some((frontend, frontend.binds.get(l.bind)?))
    }

    /// A client connection was accepted on `listener`. Returns its id (the
    /// driver registers the socket, then drains actions), or `None` if the
    /// driver must close it at once.
    pub fn accept(
        &mut self,
        now: Instant,
        listener: ListenerId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Option<ConnId> {
        self.advance(now);
        if let Some(ListenerSlot::Cli(i)) = self.listener_slot(listener) {
            return self.accept_cli(now, i);
        }
        let conn = self.accept_session(now, listener, peer, local)?;
        if self.keepalive(conn) {
            self.actions.push_back(Action::KeepAlive { conn });
        }
        Some(conn)
    }

    /// Something happened to a connection or listener.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        self.advance(now);
        match event {
            Event::Connected { conn, result } => {
                if let Err(error) = result {
                    self.report_source_failure(now, conn, error);
                }
                match self.role(conn) {
                    Some(Role::Server(s)) => self.on_connected(now, s, result),
                    Some(Role::Hedge(s)) => self.on_hedge_connected(now, s, result),
                    Some(Role::Check(b, s)) => self.on_check_connected(now, b, s, result),
                    Some(Role::Agent(b, s)) => self.on_agent_connected(now, b, s, result),
                    Some(Role::Client(_) | Role::Cli(_) | Role::Page(_) | Role::Pending(_))
                    | None => {}
                }
            }
            Event::ReadClosed { conn } => match self.role(conn) {
                Some(Role::Client(s)) => self.on_read_closed(now, s, true),
                Some(Role::Server(s)) => self.on_read_closed(now, s, false),
                Some(Role::Check(b, s)) => self.on_check_received(now, b, s, 0, true),
                Some(Role::Agent(b, s)) => self.on_agent_received(now, b, s, 0, true),
                Some(Role::Cli(c)) => self.on_cli_read_closed(now, c),
                Some(Role::Page(p)) => self.close_page(p, false),
                Some(Role::Pending(p)) => self.on_pending_closed(now, p, false),
                Some(Role::Hedge(_)) | None => {}
            },
            Event::Failed { conn, error } => self.on_conn_failed(now, conn, error),
            Event::WriteFailed { conn, error } => match self.role(conn) {
                Some(Role::Server(s)) => self.on_server_write_failed(now, s),
                _ => self.on_conn_failed(now, conn, error),
            },
            Event::SplicedIn { conn, bytes } | Event::SplicedOut { conn, bytes } => {
                let read = matches!(event, Event::SplicedIn { .. });
                match self.role(conn) {
                    Some(Role::Client(s)) => self.on_spliced(now, s, true, read, bytes),
                    Some(Role::Server(s)) => self.on_spliced(now, s, false, read, bytes),
                    _ => {}
                }
            }
            Event::AcceptFailed { listener, error } => self.on_accept_failed(now, listener, error),
        }
    }

    /// A connection broke (see [`Event::Failed`]).
    fn on_conn_failed(&mut self, now: Instant, conn: ConnId, error: ConnError) {
        match self.role(conn) {
            Some(Role::Client(s)) => self.on_failed(now, s, true),
            Some(Role::Server(s)) => self.on_failed(now, s, false),
            Some(Role::Hedge(s)) => self.on_hedge_connected(now, s, Err(error)),
            Some(Role::Check(b, s)) => self.on_check_connected(now, b, s, Err(error)),
            Some(Role::Agent(b, s)) => self.on_agent_connected(now, b, s, Err(error)),
            Some(Role::Cli(c)) => self.close_cli(c, true),
            Some(Role::Page(p)) => self.close_page(p, true),
            Some(Role::Pending(p)) => self.on_pending_closed(now, p, true),
            None => {}
        }
    }

    /// Fires every timer due at `now`. Call it once per loop turn.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick_wall_clock(now);
        self.advance(now);
    }

    /// Keeps the time certificates are judged by current, to the loop turn.
    fn tick_wall_clock(&mut self, now: Instant) {
        let unix = self.clock.at(now).duration_since(SystemTime::UNIX_EPOCH);
        self.tls_time.set(unix.unwrap_or_default());
    }

    /// Space to read `conn`'s incoming bytes into, or `None` when core does
    /// not want to read it now (buffer full, end of stream, unknown id).
    pub fn recv_buf(&mut self, conn: ConnId) -> Option<&mut [u8]> {
        self.settle();
        let (s, client) = match self.role(conn)? {
            Role::Client(s) => (s, true),
            Role::Server(s) => (s, false),
            Role::Check(b, s) => return self.check_recv_buf(b, s),
            Role::Agent(b, s) => return self.agent_recv_buf(b, s),
            Role::Cli(c) => return self.cli_recv_buf(c),
            Role::Page(p) => return self.page_recv_buf(p),
            Role::Pending(p) => return self.pending_recv_buf(p),
            Role::Hedge(_) => return None,
        };
        let session = self.sessions.get_mut(s)?;
        self.lent = Some(s);
        let pipe = if client {
            &mut session.up
        } else if session.phase != Phase::Established {
            return None;
        } else if let Some(tls) = &mut session.tls {
            return tls.recv_buf(&mut self.pool);
        } else {
            &mut session.down
        };
        pipe.spare(&mut self.pool).filter(|b| !b.is_empty())
    }

    /// `n` bytes were read into the slice [`Balancer::recv_buf`] returned.
    pub fn received(&mut self, now: Instant, conn: ConnId, n: usize) {
        // The lent buffer now holds the bytes: it must not be settled.
        self.lent = None;
        self.lent_pending = None;
        let lent_page = self.lent_page.take();
        self.advance(now);
        match self.role(conn) {
            Some(Role::Client(s)) => self.on_received(now, s, true, n),
            Some(Role::Server(s)) => self.on_received(now, s, false, n),
            Some(Role::Check(b, s)) => self.on_check_received(now, b, s, n, false),
            Some(Role::Agent(b, s)) => self.on_agent_received(now, b, s, n, false),
            Some(Role::Cli(c)) => self.on_cli_received(now, c, n),
            Some(Role::Page(p)) => self.on_page_received(now, p, n, lent_page),
            Some(Role::Pending(p)) => self.on_pending_received(now, p, n),
            Some(Role::Hedge(_)) | None => {}
        }
    }

    /// Bytes waiting to be written to `conn`, or `None` when there are none.
    pub fn send_buf(&self, conn: ConnId) -> Option<&[u8]> {
        match self.role(conn)? {
            Role::Client(s) => self.sessions.get(s)?.down.filled(),
            Role::Server(s) => {
                let session = self.sessions.get(s)?;
                match &session.tls {
                    _ if session.phase != Phase::Established => None,
                    _ if session.pending_header().is_some() => session.pending_header(),
                    Some(tls) => tls.send_buf(),
                    None => session.up.filled(),
                }
            }
            Role::Check(b, s) => self.check_send_buf(b, s),
            Role::Agent(b, s) => self.agent_send_buf(b, s),
            Role::Cli(c) => self.cli_send_buf(c),
            Role::Page(p) => self.page_send_buf(p),
            Role::Hedge(_) | Role::Pending(_) => None,
        }
    }

    /// `n` bytes from the front of [`Balancer::send_buf`] were written.
    pub fn sent(&mut self, now: Instant, conn: ConnId, n: usize) {
        self.advance(now);
        match self.role(conn) {
            Some(Role::Client(s)) => self.on_sent(now, s, true, n),
            Some(Role::Server(s)) => self.on_sent(now, s, false, n),
            Some(Role::Check(b, s)) => self.on_check_sent(now, b, s, n),
            Some(Role::Agent(b, s)) => self.on_agent_sent(b, s, n),
            Some(Role::Cli(c)) => self.on_cli_sent(now, c, n),
            Some(Role::Page(p)) => self.on_page_sent(now, p, n),
            Some(Role::Hedge(_) | Role::Pending(_)) | None => {}
        }
    }

    /// The next thing the driver must do, if any. A server side's
    /// [`Action::Connect`] is followed by its [`Action::KeepAlive`].
    pub fn poll_action(&mut self) -> Option<Action> {
        self.fail_exhausted_sources();
        self.settle();
        let mut action = self.actions.pop_front();
        while action.as_ref().is_some_and(|a| self.unannounced(a)) {
            action = self.actions.pop_front();
        }
        let Some(action) = action else {
            // Drained: the driver asks for the next deadline now.
            self.drop_stale_check_timers();
            return None;
        };
        if let Action::Connect { conn, .. } = action {
            if self.keepalive(conn) {
                self.actions.push_front(Action::KeepAlive { conn });
            }
        }
        Some(action)
    }

    /// When [`Balancer::handle_timeout`] must next be called; `None` = never.
    /// Always later than the `now` of the latest input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        #[cfg(debug_assertions)]
        self.check_invariants();
        let next = self.timers.next();
        debug_assert!(next.is_none_or(|t| t > self.last_now));
        next
    }

    /// Client connections currently open.
    pub fn active_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Buffers currently holding bytes in flight.
    pub fn buffers_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Processes timers due at `now` and remembers `now`.
    fn advance(&mut self, now: Instant) {
        self.settle();
        if !self.retiring.is_empty() {
            self.free_retired();
        }
        let now = now.max(self.last_now);
        self.last_now = now;
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Session(s, generation) => self.on_session_timer(now, at, s, generation),
                TimerKey::Check(b, s) => self.on_check_timer(now, at, b, s),
                TimerKey::Agent(b, s) => self.on_agent_timer(now, at, b, s),
                TimerKey::WarmUp(b, s) => self.on_warm_timer(now, at, b, s),
                TimerKey::Shortage => self.on_shortage_timer(now, at),
                TimerKey::Rate => self.on_rate_timer(now, at),
                TimerKey::HardStop => self.on_hard_stop_timer(now, at),
                TimerKey::Cli(c, generation) => self.on_cli_timer(now, at, c, generation),
                TimerKey::Page(p, generation) => self.on_page_timer(now, at, p, generation),
                TimerKey::Pending(p, generation) => self.on_pending_timer(now, at, p, generation),
                TimerKey::Dns(i) => self.on_dns_timer(now, at, i),
            }
        }
    }

    /// Takes back a buffer lent by [`Balancer::recv_buf`] if nothing was read.
    fn settle(&mut self) {
        self.settle_page();
        self.settle_pending();
        if let Some(s) = self.lent.take() {
            if let Some(session) = self.sessions.get_mut(s) {
                session.up.release_if_empty(&mut self.pool);
                session.down.release_if_empty(&mut self.pool);
            }
        }
    }

    /// A session ended: once the sessions fall to a quarter of their peak,
    /// or to none after a burst, the memory kept for the peak goes back.
    /// At most once per fall to a quarter, so the cost (linear in the
    /// tables) is paid once per many sessions, never per read or write.
    fn ease_after_burst(&mut self) {
        let load = self.sessions.len();
        let fell = self.load_mark > LOW_WATER && load <= self.load_mark / 4;
        let emptied = load == 0 && self.sessions.capacity() > LOW_WATER;
        if fell || emptied {
            self.load_mark = load;
            self.give_back_memory();
        }
    }

    /// Trims the tables and the free buffers to what is in use, above
    /// [`LOW_WATER`].
    fn give_back_memory(&mut self) {
        self.pool.ease();
        shrink_slab(&mut self.sessions);
        shrink_slab(&mut self.conns);
        let sessions = &self.sessions;
        self.timers.purge(
            |key| match key {
                TimerKey::Session(s, generation) => {
                    sessions.get(s).is_some_and(|x| x.generation == generation)
                }
                _ => true,
            },
            LOW_WATER,
        );
        self.actions.shrink_to(LOW_WATER);
        for backend in self.backends.values_mut() {
            backend.waiters.queue.shrink_to(LOW_WATER);
            for server in backend.servers.values_mut() {
                server.waiters.queue.shrink_to(LOW_WATER);
            }
        }
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    fn role(&self, conn: ConnId) -> Option<Role> {
        self.conns
            .get(conn.index())
            .filter(|c| c.generation == conn.generation())
            .map(|c| c.role)
    }

    fn open_conn(&mut self, role: Role) -> ConnId {
        let generation = self.next_generation();
        let index = self.conns.insert(ConnSlot {
            generation,
            role,
            read: false,
            write: false,
        });
        ConnId::new(index, generation)
    }

    /// Tells the driver to close `conn` and forgets it; with `option
    /// nolinger` on its side, always with an RST.
    fn close(&mut self, conn: ConnId, reset: bool) {
        self.close_forwarding(conn, reset, false);
    }

    /// [`Balancer::close`], and when `fin`, the end of stream still owed
    /// to `conn`'s peer goes with it: in the close's FIN
    /// ([`Action::Close`]'s `forwards_fin`), or before an RST.
    fn close_forwarding(&mut self, conn: ConnId, reset: bool, fin: bool) {
        if let Some(role) = self.role(conn) {
            let reset = reset || self.side_option(role, |f| f.nolinger, |b| b.nolinger);
            if fin && reset {
                self.actions.push_back(Action::ShutdownWrite { conn });
            }
            let forwards_fin = fin && !reset;
            self.release_source_port(conn);
            self.conns.remove(conn.index());
            if self.conns.is_empty() {
                // Between checks after a burst: the peak's slots go back.
                shrink_slab(&mut self.conns);
            }
            self.actions.push_back(Action::Close {
                conn,
                reset,
                forwards_fin,
            });
        }
    }

    /// Whether `conn` is a session side with TCP keep-alive on.
    fn keepalive(&self, conn: ConnId) -> bool {
        self.role(conn)
            .is_some_and(|role| self.side_option(role, |f| f.tcpka, |b| b.tcpka))
    }

    /// A per-side option: the frontend's for a client side, the backend's
    /// for a server side; never for health probes.
    fn side_option(
        &self,
        role: Role,
        frontend: impl Fn(&Frontend) -> bool,
        backend: impl Fn(&Backend) -> bool,
    ) -> bool {
        match role {
            Role::Client(s) => self
                .sessions
                .get(s)
                .is_some_and(|x| frontend(&self.frontends[x.frontend].config)),
            Role::Server(s) | Role::Hedge(s) => self
                .sessions
                .get(s)
                .is_some_and(|x| backend(&self.backends[x.backend].config)),
            Role::Check(..) | Role::Agent(..) | Role::Cli(_) | Role::Page(_) | Role::Pending(_) => {
                false
            }
        }
    }

    /// Emits an interest change, if it is one.
    fn set_interest(&mut self, conn: ConnId, read: bool, write: bool) {
        let Some(slot) = self.conns.get_mut(conn.index()) else {
            return;
        };
        if slot.generation == conn.generation() && (slot.read, slot.write) != (read, write) {
            slot.read = read;
            slot.write = write;
            self.actions
                .push_back(Action::Interest { conn, read, write });
        }
    }

    /// Sends `message` to `targets`; with a `diagnostic` level, to the
    /// driver's diagnostic log too when no target takes it, so that each
    /// destination gets the line once.
    fn log(
        &mut self,
        now: Instant,
        targets: LogTargets,
        severity: Severity,
        message: &str,
        diagnostic: Option<log::Level>,
    ) {
        let wall = self.clock.at(now);
        let list: &[LogTarget] = match targets {
            LogTargets::Frontend(f) => &self.frontends[f].config.logs,
            LogTargets::Backend(b) => &self.backends[b].config.logs,
        };
        let mut taken = false;
        for target in list {
            if let Some(line) = frame(target, severity, self.clock.host(), wall, message) {
                self.actions.push_back(Action::Log(line));
                taken = true;
            }
        }
        if let Some(level) = diagnostic.filter(|_| !taken) {
            self.actions.push_back(Action::Log(LogLine {
                sink: LogSink::Diagnostic(level),
                text: message.to_owned(),
            }));
        }
    }

    /// Local time is now `secs` east of UTC, for log dates; the driver
    /// passes it at start-up (`Global::utc_offset`) and when it changes.
    pub fn set_utc_offset(&mut self, secs: i32) {
        self.clock.set_utc_offset(secs);
    }

    /// Pauses or resumes listeners to match limits and pauses. A listener
    /// paused by a full limit waits for room there ([`crate::limits`]).
    fn refresh_listeners(&mut self) {
        let limits = &self.limits;
        let global_full = self
            .maxconn
            .is_some_and(|m| limits.full(self.global_slot, m));
        let paused = self.stopping || self.shortages.accept_pause.is_some();
        let heavy = limits.yields();
        for l in self.listeners.iter_mut() {
            let fe = &self.frontends[l.frontend];
            // Pages are loop 0's alone: no other loop takes them.
            let yielding = heavy && fe.config.service.is_none();
            let fe_full = match (fe.config.maxconn, fe.slot) {
                (Some(m), Some(slot)) => limits.full(slot, m),
                (Some(m), None) => fe.active >= m,
                (None, _) => false,
            };
            let limited = self.rates.paused(l.frontend);
            let accepting = !(global_full || fe_full || paused || limited);
            let was = l.open();
            (l.accepting, l.yielding) = (accepting, yielding);
            if l.open() != was {
                let listener = l.id;
                self.actions.push_back(if l.open() {
                    Action::ResumeAccept { listener }
                } else {
                    Action::PauseAccept { listener }
                });
            }
        }
    }

    fn on_accept_failed(&mut self, now: Instant, listener: ListenerId, error: ConnError) {
        if error == ConnError::NoResources {
            self.accept_short(now, listener);
        } else {
            log::debug!("accept on listener {listener:?} failed: {error:?}");
        }
    }
}

/// Whose log targets a message goes to.
#[derive(Debug, Clone, Copy)]
enum LogTargets {
    Frontend(FrontendId),
    Backend(BackendId),
}

/// A TLS client configuration and name for `settings`.
fn tls_target(
    settings: &crate::config::CheckTls,
    ip: std::net::IpAddr,
    verify_default: bool,
    time: &Arc<DriverTime>,
) -> Result<TlsTarget, String> {
    tls::client_config(settings, verify_default, time.clone())
        .map(|c| (c, tls::server_name(settings, ip)))
        .map_err(|e| tls::describe(&e))
}

/// Gives back the room of `slab` above [`LOW_WATER`]: all of it when the
/// slab is empty (ids carry a generation, so a new slab's ids never meet
/// old ones), else its vacant tail; the slab then fills its lowest
/// vacant slots first, so the tail keeps growing vacant.
fn shrink_slab<T>(slab: &mut Slab<T>) {
    if slab.capacity() <= LOW_WATER {
        return;
    }
    if slab.is_empty() {
        *slab = Slab::new();
    } else {
        slab.shrink_to_fit();
    }
}

/// Milliseconds between two instants, for logs.
fn millis(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_millis() as u64
}
