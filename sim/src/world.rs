//! A run: the real `Balancer` driven by the simulated network and clock.
//!
//! The world plays weir's driver (as `weir-mio` does over sockets): it
//! carries out every action weir asks for, feeds weir what happens on its
//! sockets, and calls `handle_timeout` at the deadline weir asked for. It
//! also plays the clients and servers (see `client.rs`, `server.rs`).
//! With `nbthread N` it runs N instances, one per event loop, as the
//! drivers do (see `loops.rs`).
//!
//! Time only moves when nothing is left to do at the current instant: the
//! next instant is the earliest of the next scheduled event and the
//! instances' `poll_timeout`. Every `Instant` weir sees is one base
//! instant plus the simulated time, so a run depends on its seed alone.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use weir_core::config::{self, Source};
use weir_core::loops::LoopReport;
use weir_core::{Action, ConnError, Event, ListenerId};

use crate::client::Client;
use crate::invariants::{Bounds, Checker, Failure};
use crate::loops::{self, Fleet, Loop, Message, who};
use crate::net::{Handle, LinkId, Net, Peer, Queue, Segment, Side};
use crate::reloads::Incarnation;
use crate::rng::Rng;
use crate::scenario::{CA_FILE, Check, LISTEN, Scenario};
use crate::server::{self, Process, Server, ServerConn};
use crate::trace::{Trace, trace};

/// Wall-clock time when every run starts (2026-01-01, inside the
/// certificates' validity).
const WALL_START: Duration = Duration::from_secs(1_767_225_600);
/// Most ends looked at before the network must have settled.
const FLUSH_LIMIT: usize = 1_000_000;
/// Most read-and-write rounds on one of weir's sockets in a row.
const PUMP_LIMIT: usize = 64;
/// Most steps (events and wake-ups) of one run.
const STEP_LIMIT: u64 = 5_000_000;
/// The longest simulated time a run may need for its clients to finish.
const CLIENTS_LIMIT: Duration = Duration::from_secs(3600);

/// Something scheduled to happen in the simulation.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A client opens its connection.
    ClientStart(usize),
    /// A client's SYN reaches weir's listener.
    ClientSyn(LinkId),
    /// A client learns its connection is established.
    ClientConnected(LinkId),
    /// weir's SYN reaches a server.
    ConnectSyn(LinkId),
    /// The outcome of weir's connect reaches weir.
    ConnectDone(LinkId, Result<(), ConnError>),
    /// A segment reaches an end.
    Segment(LinkId, Side, Segment),
    /// A client's timer: its next write or read, or its vanishing.
    ClientTick(usize),
    /// A server connection's timer: its answer or its next read.
    ServerTick(LinkId),
    /// A fault starts.
    FaultStart(usize),
    /// A fault ends.
    FaultEnd(usize),
    /// weir gets a soft stop.
    SoftStop,
    /// An operator types runtime command `i`.
    Command(usize),
    /// Reload `i` in place.
    Reload(usize),
    /// A batch of messages from loop 0 (sent at a moment) reaches a loop.
    Deliver(usize, u64, Vec<Message>),
    /// A loop other than loop 0 hands its counters to loop 0.
    StatsDue(usize),
    /// A batch of a follower's passive-check reports reaches loop 0.
    Report(usize, Vec<LoopReport>),
    /// Another loop gave back limit tokens this loop waited for.
    Freed(usize),
}

/// Counts of what a run did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Events and wake-ups processed.
    pub steps: u64,
    /// `handle_timeout` calls.
    pub wakeups: u64,
    /// Clients that got their whole reply.
    pub clients_ok: u64,
    /// Clients that did not (for a reason the invariants accept).
    pub clients_failed: u64,
    /// Connections weir opened (traffic and checks).
    pub connects: u64,
    /// Server state changes weir logged.
    pub transitions: u64,
    /// Simulated time at the end.
    pub sim_time: Duration,
}

/// The whole simulated system.
pub(crate) struct World {
    /// weir's event loops (one, or `nbthread`), loop 0 first.
    pub loops: Vec<Loop>,
    /// The messages between them.
    pub fleet: Fleet,
    pub base: Instant,
    pub now: Duration,
    /// Orders what happens in a run finer than steps: it moves at every
    /// step and every time loop 0 sends a batch to the other loops, so
    /// that a change loop 0 made, the batch that tells it and the
    /// sessions accepted before and after are told apart.
    pub moment: u64,
    pub rng: Rng,
    pub queue: Queue<Ev>,
    pub net: Net,
    /// weir's open connections and their links.
    pub ids: BTreeMap<Handle, LinkId>,
    pub scenario: Scenario,
    pub clients: Vec<Client>,
    pub servers: Vec<Server>,
    /// Server-side state of the connections servers accepted.
    pub sconns: BTreeMap<LinkId, ServerConn>,
    /// When weir's listening socket closed (after a soft stop, when the
    /// last loop closed it).
    pub unbound: Option<Duration>,
    /// Client connections the kernel accepted, waiting for weir's accept.
    pub backlog: VecDeque<LinkId>,
    pub check: Checker,
    pub trace: Trace,
    pub stats: Stats,
    /// weir asked for a reload (a `reload` command): the next reload
    /// event applies its configuration.
    pub reload_asked: bool,
    /// The configuration weir runs now (the first one until a reload).
    pub config: String,
    /// The name map: each world server under each name and port a
    /// configuration gave it, and when.
    pub incarnations: Vec<Incarnation>,
}

/// Parses `text`, a configuration of `scenario`, with its host names and
/// its CA file.
pub(crate) fn parse_config(scenario: &Scenario, text: &str) -> Result<config::Config, String> {
    let hosts: Vec<(String, std::net::IpAddr)> = scenario
        .servers
        .iter()
        .map(|s| (s.host.clone(), s.addr.ip()))
        .collect();
    let mut resolve = |name: &str| hosts.iter().find(|(h, _)| h == name).map(|&(_, ip)| ip);
    let source = Source {
        name: "sim.cfg",
        text: text.as_bytes(),
    };
    let parsed = config::parse(&[source], &mut resolve)
        .map_err(|e| format!("the configuration does not parse: {e:?}"))?;
    let mut config = parsed.config;
    let pki = server::pki();
    config
        .load_files(&mut |path| match path {
            CA_FILE => Ok(pki.ca_pem.clone().into_bytes()),
            _ => Err(format!("no file {path} in the simulation")),
        })
        .map_err(|e| format!("the configuration's files do not load: {e:?}"))?;
    Ok(config)
}

impl World {
    /// `text`, a configuration of this run, parsed.
    pub(crate) fn parse(&self, text: &str) -> Result<config::Config, String> {
        parse_config(&self.scenario, text)
    }

    /// Builds the run of `scenario`: parses its configuration and starts weir.
    pub(crate) fn new(scenario: Scenario, trace_on: bool) -> Result<World, Failure> {
        let fail = |what: String| Failure {
            at: Duration::ZERO,
            what,
        };
        let config = parse_config(&scenario, &scenario.config).map_err(fail)?;
        // The checks' time bounds hold for every configuration of the run.
        let mut configs = vec![&config];
        let reloaded = (scenario.reloads.iter())
            .map(|r| parse_config(&scenario, &scenario.render(&r.layout)).map_err(&fail))
            .collect::<Result<Vec<_>, _>>()?;
        configs.extend(&reloaded);
        let check = Checker::new(Bounds::new(&configs, &scenario), &config, &scenario);
        let incarnations = (scenario.first_layout().servers.iter().enumerate())
            .filter_map(|(s, e)| {
                e.as_ref().map(|e| Incarnation {
                    s,
                    name: e.name.clone(),
                    port: e.port,
                    from: 0,
                    until: None,
                })
            })
            .collect();
        let base = now_base();
        let wall = SystemTime::UNIX_EPOCH + WALL_START;
        let loops = loops::build(&config, scenario.core_seed, base, wall);
        let tls = (scenario.ssl || matches!(scenario.check, Check::Tls | Check::Https))
            .then(|| Arc::new(server::tls_config(server::pki(), wall)));
        let mut world = World {
            fleet: Fleet::new(loops.len()),
            loops,
            base,
            now: Duration::ZERO,
            moment: 0,
            rng: Rng::new(scenario.net_seed),
            queue: Queue::default(),
            net: Net::default(),
            ids: BTreeMap::new(),
            clients: (0..scenario.clients.len())
                .map(|_| Client::default())
                .collect(),
            servers: (0..scenario.servers.len())
                .map(|_| Server::new(tls.clone()))
                .collect(),
            sconns: BTreeMap::new(),
            unbound: None,
            backlog: VecDeque::new(),
            check,
            trace: Trace::new(trace_on),
            stats: Stats::default(),
            reload_asked: false,
            config: scenario.config.clone(),
            incarnations,
            scenario,
        };
        for (c, spec) in world.scenario.clients.iter().enumerate() {
            world.queue.push(spec.start, Ev::ClientStart(c));
        }
        for (i, fault) in world.scenario.faults.iter().enumerate() {
            world.queue.push(fault.from, Ev::FaultStart(i));
            world.queue.push(fault.until, Ev::FaultEnd(i));
        }
        if let Some(at) = world.scenario.soft_stop {
            world.queue.push(at, Ev::SoftStop);
        }
        for (i, command) in world.scenario.commands.iter().enumerate() {
            world.queue.push(command.at, Ev::Command(i));
        }
        for (i, reload) in world.scenario.reloads.iter().enumerate() {
            world.queue.push(reload.at, Ev::Reload(i));
        }
        world.note_limits(&config);
        world.start_loops();
        for lp in 0..world.loops.len() {
            world.drain(lp);
        }
        world.flush();
        Ok(world)
    }

    /// Runs to the end and checks every invariant; the first violation
    /// stops the run.
    pub(crate) fn run(&mut self) -> Result<(), Failure> {
        let faults_end = (self.scenario.faults.iter().map(|f| f.until))
            .chain(self.scenario.commands.iter().map(|c| c.at))
            .chain(self.scenario.reloads.iter().map(|r| r.at))
            .max()
            .unwrap_or_default();
        let last_start = self
            .scenario
            .clients
            .iter()
            .map(|c| c.start)
            .max()
            .unwrap_or_default();
        let limit = last_start.max(faults_end) + CLIENTS_LIMIT;
        while !(self.clients_done() && self.now >= faults_end) {
            if !self.step(limit) && !self.clients_done() {
                self.fail(format!(
                    "clients not done after {:.0}s: {:?}",
                    limit.as_secs_f64(),
                    self.clients_left()
                ));
            }
            self.check.result()?;
        }
        let quiet_end = self.now + self.check.bounds.quiet;
        while self.step(quiet_end) {
            self.check.result()?;
        }
        self.final_checks();
        self.check.result()
    }

    /// Processes the next event or weir wake-up, if one is due by `limit`;
    /// otherwise moves the clock to `limit` and returns false.
    pub(crate) fn step(&mut self, limit: Duration) -> bool {
        self.stats.steps += 1;
        self.moment += 1;
        if self.stats.steps > STEP_LIMIT {
            self.fail(format!("more than {STEP_LIMIT} steps"));
            return false;
        }
        // The earliest deadline of a loop (loop 0 first at a tie).
        let (timer, lp) = (self.loops.iter().enumerate())
            .filter_map(|(lp, l)| {
                l.lb.poll_timeout()
                    .map(|t| (t.duration_since(self.base), lp))
            })
            .min()
            .unzip();
        let event = self.queue.next_at();
        // At a tie weir wakes up first, so that after every step its next
        // deadlines are in the future.
        let wake = match (timer, event) {
            (Some(t), Some(e)) => t <= e,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => {
                self.now = self.now.max(limit);
                return false;
            }
        };
        let next = if wake { timer } else { event }.unwrap_or(limit);
        if next > limit {
            self.now = self.now.max(limit);
            return false;
        }
        if let Some(lp) = lp.filter(|_| wake) {
            self.now = next;
            self.wake(lp);
        } else if let Some((at, ev)) = self.queue.pop() {
            self.now = at;
            self.handle(ev);
        }
        self.flush();
        self.after_step();
        true
    }

    /// Loop `lp`'s deadline came: `handle_timeout`.
    fn wake(&mut self, lp: usize) {
        self.stats.wakeups += 1;
        trace!(self, who(lp), "wakes up (timer)");
        let t = self.t();
        self.loops[lp].lb.handle_timeout(t);
        let actions = self.drain(lp);
        self.on_wakeup(lp, actions);
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::ClientStart(c) => self.client_starts(c),
            Ev::ClientSyn(link) if self.unbound.is_some() => self.refuse(link),
            Ev::ClientSyn(link) => {
                // weir's kernel completes the handshake and queues it.
                self.backlog.push_back(link);
                let at = self.arrival(link, Side::Weir);
                self.queue.push(at, Ev::ClientConnected(link));
            }
            Ev::ClientConnected(link) => self.client_connected(link),
            Ev::ConnectSyn(link) => self.server_syn(link),
            Ev::ConnectDone(link, result) => self.connect_done(link, result),
            Ev::Segment(link, to, segment) => {
                if let Some(answer) = self.net.arrive(link, to, segment) {
                    self.send(link, to, answer);
                }
            }
            Ev::ClientTick(c) => self.client_tick(c),
            Ev::ServerTick(link) => self.net.touch(link, Side::Peer),
            Ev::FaultStart(i) => self.fault_starts(i),
            Ev::FaultEnd(i) => self.fault_ends(i),
            Ev::SoftStop => {
                trace!(self, "weir", "gets a soft stop (SIGUSR1)");
                let t = self.t();
                self.loops[0].soft_stopped = Some(self.now);
                self.loops[0].lb.soft_stop(t);
                self.drain(0);
                // Loop 0 passes it on.
                self.tell_loops(|_| vec![Message::SoftStop]);
            }
            Ev::Command(i) => self.run_command(i),
            Ev::Reload(i) => self.run_reload(i),
            Ev::Deliver(lp, sent, batch) => self.deliver(lp, sent, batch),
            Ev::StatsDue(lp) => self.stats_due(lp),
            Ev::Report(lp, batch) => self.count_reports(lp, batch),
            Ev::Freed(lp) => {
                let t = self.t();
                trace!(self, who(lp), "is told limits freed");
                self.loops[lp].lb.limits_freed(t);
                self.drain(lp);
            }
        }
    }

    /// Loop `lp` closes its listener; when the last one has, the kernel
    /// resets the connections it had queued for accept, and refuses new
    /// ones from now on.
    fn unbind(&mut self, lp: usize) {
        trace!(self, who(lp), "closes its listener");
        let l = &mut self.loops[lp];
        if l.unbound.is_some() || l.soft_stopped.is_none() {
            return self.fail(format!(
                "loop {lp} unbound its listener without a soft stop, or twice"
            ));
        }
        (l.unbound, l.accepting) = (Some(self.now), false);
        if self.loops.iter().any(|l| l.unbound.is_none()) {
            return;
        }
        self.unbound = Some(self.now);
        while let Some(link) = self.backlog.pop_front() {
            self.refuse(link);
        }
    }

    /// When the first loop closed its listener.
    pub(crate) fn first_unbound(&self) -> Option<Duration> {
        self.loops.iter().filter_map(|l| l.unbound).min()
    }

    /// The kernel answers a client's connection with a reset: weir's
    /// listener is closed.
    fn refuse(&mut self, link: LinkId) {
        if let Peer::Client(c) = self.net.links[link].peer {
            trace!(
                self,
                format!("client {c}"),
                "is reset: weir's listener is closed"
            );
            self.clients[c].shut_out = true;
        }
        if let Some(segment) = self.net.close(link, Side::Weir, true) {
            self.send(link, Side::Weir, segment);
        }
    }

    /// The `Instant` weir sees now.
    pub(crate) fn t(&self) -> Instant {
        self.base + self.now
    }

    /// When a segment `from` one end of `link` sent now arrives: a black
    /// hole on the link's server holds it until the hole ends.
    pub(crate) fn arrival(&mut self, link: LinkId, from: Side) -> Duration {
        let hold = match self.net.links[link].peer {
            Peer::Server(s) => self.servers[s].black_hole,
            Peer::Client(_) => None,
        };
        self.net.arrival(&mut self.rng, self.now, link, from, hold)
    }

    /// Puts `segment` on the wire from `from`.
    pub(crate) fn send(&mut self, link: LinkId, from: Side, segment: Segment) {
        let at = self.arrival(link, from);
        self.queue
            .push(at, Ev::Segment(link, from.other(), segment));
    }

    /// Writes what it can of `data` from `from`; returns how much.
    pub(crate) fn write(&mut self, link: LinkId, from: Side, data: &[u8]) -> usize {
        let n = self.net.write(link, from, data);
        if n > 0 {
            self.send(link, from, Segment::Data(data[..n].to_vec()));
        }
        n
    }

    /// A read or write size: sometimes tiny, sometimes a page, often all.
    fn io_size(&mut self) -> usize {
        match self.rng.range(0, 3) {
            0 => self.rng.range(1, 64) as usize,
            1 => self.rng.range(1, 4096) as usize,
            _ => usize::MAX,
        }
    }

    /// Carries out every action loop `lp` has queued; returns how many.
    /// Loop 0 then sends what it published to the other loops.
    pub(crate) fn drain(&mut self, lp: usize) -> usize {
        self.loops[lp].busy = self.now;
        let mut count = 0;
        while let Some(action) = self.loops[lp].lb.poll_action() {
            count += 1;
            self.apply(lp, action);
        }
        if count > 0 {
            // Work done from any input ends a run of idle wake-ups.
            self.loops[lp].idle = 0;
        }
        if lp == 0 && self.loops.len() > 1 {
            self.publish_news();
        }
        if lp > 0 {
            self.send_reports(lp);
        }
        self.wake_freed(lp);
        count
    }

    /// Carries out `action` of loop `lp`.
    pub(crate) fn apply(&mut self, lp: usize, action: Action) {
        let who = who(lp);
        match action {
            Action::Connect {
                conn,
                addr,
                source,
                delay_ack,
            } => {
                if let Some(source) = source {
                    trace!(self, &who, "binds {conn:?} to {} first", source.addr);
                }
                // Only checks delay their ACK; only loop 0 checks.
                if delay_ack && lp > 0 {
                    return self.fail(format!("{who} opens a check to {addr}"));
                }
                self.connect((lp, conn), addr)
            }
            Action::KeepAlive { conn } => trace!(self, who, "keep-alive on {conn:?}"),
            Action::Interest { conn, read, write } => match self.ids.get(&(lp, conn)) {
                Some(&link) => {
                    self.net.links[link].interest = (read, write);
                    self.net.touch(link, Side::Weir);
                }
                None => self.fail(format!("{who} set interest on unknown {conn:?}")),
            },
            Action::ShutdownWrite { conn } => match self.ids.get(&(lp, conn)) {
                Some(&link) => {
                    trace!(self, who, "shuts down writing on {conn:?} (link #{link})");
                    self.net.links[link].forwarded_fin = true;
                    if let Some(segment) = self.net.shutdown(link, Side::Weir) {
                        self.send(link, Side::Weir, segment);
                    }
                }
                None => self.fail(format!("{who} shut down unknown {conn:?}")),
            },
            Action::Close {
                conn,
                reset,
                forwards_fin,
            } => {
                if forwards_fin {
                    self.forwards_fin_on_close((lp, conn), reset);
                }
                self.close((lp, conn), reset)
            }
            Action::PauseAccept { .. } => {
                trace!(self, who, "pauses accepting");
                self.loops[lp].accepting = false;
            }
            Action::ResumeAccept { .. } if self.loops[lp].unbound.is_some() => {
                self.fail(format!("{who} resumed accepting on a closed listener"));
            }
            Action::ResumeAccept { .. } => {
                trace!(self, who, "resumes accepting");
                self.loops[lp].accepting = true;
            }
            Action::Unbind { .. } => self.unbind(lp),
            // Only UNIX stats sockets hand listeners over; the world has none.
            Action::SendListeners { conn } => trace!(self, who, "_getsocks on {conn:?}"),
            // The simulated driver never calls `enable_splice`.
            Action::Splice { from, to } => {
                self.fail(format!("{who} spliced {from:?} to {to:?}, never enabled"))
            }
            // The stats socket is loop 0's.
            Action::Reload if lp > 0 => self.fail(format!("{who} asked for a reload")),
            Action::Reload => self.reload_asked = true,
            // The simulated configurations have no `resolvers`.
            Action::SendDatagram { to, .. } => trace!(self, who, "datagram to {to}"),
            Action::Log(line) => {
                trace!(self, format!("{who} log"), "{}", line.text);
                self.on_log(lp, &line);
            }
        }
    }

    /// weir opens a connection to `addr`: a server's traffic or check port.
    fn connect(&mut self, handle: Handle, addr: SocketAddr) {
        let (lp, conn) = handle;
        self.stats.connects += 1;
        let found = (self.scenario.servers.iter()).position(|spec| spec.addr.ip() == addr.ip());
        let Some(s) = found else {
            return self.fail(format!("weir connects to {addr}, where no server is"));
        };
        let spec = &self.scenario.servers[s];
        let check = self.scenario.check_port && spec.check_addr == addr;
        if check && lp > 0 {
            return self.fail(format!("loop {lp} connects to {addr}, a check port"));
        }
        let traffic =
            !check && (self.incarnations.iter()).any(|i| i.s == s && i.port == addr.port());
        if !check && !traffic {
            return self.fail(format!(
                "weir connects to {addr}, a port no configuration gave {}",
                spec.name
            ));
        }
        let spec = &self.scenario.servers[s];
        let link = self.net.open(Peer::Server(s), spec.latency, spec.window);
        trace!(
            self,
            who(lp),
            "connects {conn:?} to {} at {addr} (link #{link})",
            spec.name
        );
        self.net.links[link].weir = Some(handle);
        if self.ids.insert(handle, link).is_some() {
            self.fail(format!("{} reused {conn:?} while open", who(lp)));
        }
        if traffic {
            self.on_load(link, s, addr.port());
            self.on_connect(link, s, addr.port());
        }
        if traffic && self.scenario.check_port {
            self.on_traffic_connect(s);
        }
        let at = self.arrival(link, Side::Weir);
        self.queue.push(at, Ev::ConnectSyn(link));
    }

    /// A close that also forwards a FIN ([`Action::Close`]'s
    /// `forwards_fin`): its FIN counts as one `ShutdownWrite` sent, and
    /// must be one (no reset, the peer's end of stream reported to weir,
    /// nothing unread on weir's end, no FIN sent before).
    fn forwards_fin_on_close(&mut self, handle: Handle, reset: bool) {
        let (lp, conn) = handle;
        let Some(&link) = self.ids.get(&handle) else {
            return;
        };
        let l = &self.net.links[link];
        let end = l.end(Side::Weir);
        if reset || !l.eof_reported || !end.rx.is_empty() || end.shut {
            return self.fail(format!(
                "{} closed {conn:?} (link #{link}) forwarding a FIN it cannot send",
                who(lp)
            ));
        }
        self.net.links[link].forwarded_fin = true;
    }

    fn close(&mut self, handle: Handle, reset: bool) {
        let (lp, conn) = handle;
        let Some(link) = self.ids.remove(&handle) else {
            return self.fail(format!("{} closed unknown {conn:?}", who(lp)));
        };
        trace!(
            self,
            who(lp),
            "closes {conn:?} (link #{link}){}",
            if reset { " with RST" } else { "" }
        );
        let l = &mut self.net.links[link];
        l.weir = None;
        if !l.established {
            // Before the handshake is done nothing is on the wire yet; the
            // kernel will answer a late SYN-ACK with an RST.
            l.end_mut(Side::Weir).closed = true;
            return;
        }
        if let Some(segment) = self.net.close(link, Side::Weir, reset) {
            self.send(link, Side::Weir, segment);
        }
    }

    /// The outcome of weir's connect reaches weir.
    fn connect_done(&mut self, link: LinkId, result: Result<(), ConnError>) {
        let Some((lp, conn)) = self.net.links[link].weir else {
            if result.is_ok() {
                self.send(link, Side::Weir, Segment::Rst);
            }
            return;
        };
        trace!(self, who(lp), "{conn:?} connect: {result:?}");
        if result.is_ok() {
            self.net.links[link].established = true;
            self.net.touch(link, Side::Weir);
        }
        let t = self.t();
        self.loops[lp]
            .lb
            .handle_event(t, Event::Connected { conn, result });
        self.drain(lp);
    }

    /// Looks at every end that has something to do until none has, and
    /// lets weir accept the clients waiting in the backlog.
    fn flush(&mut self) {
        for _ in 0..FLUSH_LIMIT {
            if !self.backlog.is_empty() && self.loops.iter().any(|l| l.accepting) {
                self.accept_backlog();
                continue;
            }
            let Some((link, side)) = self.net.next_dirty() else {
                return;
            };
            match (side, self.net.links[link].peer) {
                (Side::Weir, _) => self.pump_weir(link),
                (Side::Peer, Peer::Client(c)) => self.pump_client(c),
                (Side::Peer, Peer::Server(_)) => self.pump_server(link),
            }
        }
        self.fail(format!(
            "the network did not settle after {FLUSH_LIMIT} rounds"
        ));
    }

    fn accept_backlog(&mut self) {
        let Some(link) = self.backlog.pop_front() else {
            return;
        };
        let Peer::Client(c) = self.net.links[link].peer else {
            return;
        };
        // The loops watching the socket race for it: any may win.
        let ready: Vec<usize> = (0..self.loops.len())
            .filter(|&lp| self.loops[lp].accepting)
            .collect();
        let lp = match ready.len() {
            1 => ready[0],
            _ => *self.rng.pick(&ready),
        };
        // As the drivers: the connection's tokens first; without them the
        // loop pauses and the client stays queued for a loop with room.
        let t = self.t();
        if !self.loops[lp].lb.admit(t, ListenerId(0)) {
            trace!(self, who(lp), "has no room for client {c}");
            self.backlog.push_front(link);
            self.drain(lp);
            return;
        }
        self.clients[c].accepted = true;
        self.clients[c].lp = lp;
        self.clients[c].accepted_at = self.moment;
        let peer = self.scenario.clients[c].addr;
        self.check.accept_calls += 1;
        match self.loops[lp].lb.accept(t, ListenerId(0), peer, LISTEN) {
            Some(conn) => {
                trace!(
                    self,
                    who(lp),
                    "accepts client {c} as {conn:?} (link #{link})"
                );
                let l = &mut self.net.links[link];
                l.weir = Some((lp, conn));
                l.established = true;
                if self.ids.insert((lp, conn), link).is_some() {
                    self.fail(format!("{} reused {conn:?} while open", who(lp)));
                }
                self.check.accepted += 1;
                self.net.touch(link, Side::Weir);
                self.check_held();
            }
            None => {
                trace!(self, who(lp), "refuses client {c}");
                if let Some(segment) = self.net.close(link, Side::Weir, false) {
                    self.send(link, Side::Weir, segment);
                }
            }
        }
        self.drain(lp);
    }

    /// Moves bytes between weir and its socket on `link` while weir wants
    /// to and the socket can, as an edge-triggered driver does.
    fn pump_weir(&mut self, link: LinkId) {
        for _ in 0..PUMP_LIMIT {
            let l = &self.net.links[link];
            let Some(handle) = l.weir.filter(|_| l.established) else {
                return;
            };
            let mut progress = false;
            if l.interest.0 {
                progress |= self.weir_reads(link, handle);
            }
            let l = &self.net.links[link];
            if l.weir != Some(handle) {
                return;
            }
            if l.interest.1 {
                progress |= self.weir_writes(link, handle);
            }
            if !progress {
                return;
            }
        }
        self.net.touch(link, Side::Weir);
    }

    /// One read by weir on `link`: bytes, then end of stream or reset.
    fn weir_reads(&mut self, link: LinkId, (lp, conn): Handle) -> bool {
        let l = &self.net.links[link];
        let end = l.end(Side::Weir);
        let (pending, rst) = (end.rx.len(), end.rst_in && !end.rst_reported);
        let fin = (end.fin_in || end.rst_reported) && !l.eof_reported;
        if pending == 0 && !fin && !rst {
            return false;
        }
        let max = self.io_size();
        let t = self.t();
        let lb = &mut self.loops[lp].lb;
        let Some(buf) = lb.recv_buf(conn).filter(|b| !b.is_empty()) else {
            return false;
        };
        if pending > 0 {
            let n = buf.len().min(pending).min(max);
            let data = self.net.read(link, Side::Weir, n);
            buf[..n].copy_from_slice(&data);
            lb.received(t, conn, n);
            trace!(self, who(lp), "reads {n} bytes from {conn:?}");
        } else if fin {
            // A FIN before an RST, or an RST a failed write reported,
            // reads as the end of stream (Linux).
            trace!(self, who(lp), "{conn:?} reached end of stream");
            self.net.links[link].eof_reported = true;
            self.loops[lp]
                .lb
                .handle_event(t, Event::ReadClosed { conn });
        } else {
            trace!(self, who(lp), "{conn:?} was reset");
            let error = ConnError::Reset;
            lb.handle_event(t, Event::Failed { conn, error });
        }
        self.drain(lp);
        true
    }

    /// One write by weir on `link`, as much as the window takes.
    fn weir_writes(&mut self, link: LinkId, (lp, conn): Handle) -> bool {
        let max = self.io_size();
        let l = &self.net.links[link];
        let (room, rst, shut) = (
            l.room(Side::Weir),
            l.end(Side::Weir).rst_in,
            l.end(Side::Weir).shut,
        );
        let t = self.t();
        let lb = &mut self.loops[lp].lb;
        let Some(out) = lb.send_buf(conn).filter(|b| !b.is_empty()) else {
            return false;
        };
        if rst {
            trace!(self, who(lp), "write to {conn:?}: reset");
            self.net.links[link].end_mut(Side::Weir).rst_reported = true;
            let error = ConnError::Reset;
            self.loops[lp]
                .lb
                .handle_event(t, Event::WriteFailed { conn, error });
            self.drain(lp);
            return true;
        }
        if shut {
            self.fail(format!(
                "{} has bytes to write to {conn:?} after shutting it down",
                who(lp)
            ));
            return false;
        }
        let n = out.len().min(room).min(max);
        if n == 0 {
            return false;
        }
        let data = out[..n].to_vec();
        self.write(link, Side::Weir, &data);
        self.loops[lp].lb.sent(t, conn, n);
        trace!(self, who(lp), "writes {n} bytes to {conn:?}");
        self.drain(lp);
        true
    }

    /// Whether every client has finished.
    pub(crate) fn clients_done(&self) -> bool {
        self.clients.iter().all(|c| c.outcome.is_some())
    }

    /// The clients not finished yet.
    fn clients_left(&self) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&c| self.clients[c].outcome.is_none())
            .collect()
    }

    /// Whether the server is running (not hung, not crashed).
    pub(crate) fn server_running(&self, s: usize) -> bool {
        self.servers[s].process == Process::Running
    }
}

/// The one clock reading of a run: every instant is built from it.
fn now_base() -> Instant {
    Instant::now()
}
