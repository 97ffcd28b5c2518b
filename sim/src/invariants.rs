//! What must hold in every run, checked as the run goes and at its end.
//!
//! As it goes:
//! * every byte a server reads is the next byte of the client stream its
//!   connection carries, and a client's bytes reach one server connection
//!   only, unless `replay-until-response` resent them before any byte came
//!   back from the first one (`server.rs`, [`World::on_served`]);
//! * every reply byte a client reads is the next byte its server sent, from
//!   a connection that carries this client (`client.rs`, [`World::on_reply`]);
//! * a FIN weir forwards comes after every byte sent before the FIN it
//!   forwards, both ways;
//! * no traffic connection goes to a server that has been dead longer than
//!   the detection bound computed from the configuration;
//! * weir's "Server ... is UP/DOWN" lines alternate, each DOWN has a fault
//!   to explain it, and no UP comes while the server is dead;
//! * `poll_timeout` is always in the future, and weir never wakes up many
//!   times in a row with nothing to do (no action from its timers nor
//!   from any other input in between);
//! * weir closes its listener only after a soft stop, never accepts again,
//!   and with `hard-stop-after` holds no session past it.
//!
//! At the end: every client finished, with one tcplog line each; a client
//! that failed has a reason (a fault near its lifetime, its own vanishing,
//! a queue timeout with `maxconn`, a soft stop that closed the listener
//! on it or a `hard-stop-after` that ran out); a client that succeeded is logged
//! `--` with the bytes it got; every server is UP again; no session is
//! left; a soft-stopped weir is stopped; only timers of checks are armed;
//! and after `shutdown` weir holds
//! no connection, no buffer and no timer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use weir_core::config::Config;
use weir_core::{LogLine, LogSink};

use crate::client::Outcome;
use crate::faults::{Fault, FaultKind};
use crate::loops::MAX_DELAY;
use crate::net::{LinkId, Peer, Side};
use crate::payload::Reply;
use crate::rotation::{Closure, Seen, ServerModel};
use crate::scenario::{Check, Scenario};
use crate::trace::trace;
use crate::world::World;

/// A broken invariant: when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Simulated time of the violation.
    pub at: Duration,
    /// What went wrong.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {:.6}s: {}", self.at.as_secs_f64(), self.what)
    }
}

/// Time bounds derived from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    /// Longest time from a server's death to weir's last traffic connect.
    pub detect: Duration,
    /// Longest time from a server's recovery to weir's UP.
    pub recover: Duration,
    /// How long the run goes on after the clients are done.
    pub quiet: Duration,
    /// Network slack: a few round trips (and a batch's delay between
    /// loops).
    pub margin: Duration,
    /// Longest delay of what loop 0 decides to reach the other loops.
    pub news: Duration,
    /// Servers have `maxconn`: sessions may time out in the queue.
    pub queue_limited: bool,
    /// Servers are checked.
    pub checked: bool,
    /// The window over which timer wake-ups are counted at the end.
    pub timer_window: Duration,
    /// Most wake-ups allowed in that window.
    pub max_wakeups: u64,
    /// Most wake-ups in a row without any action.
    pub idle_limit: u64,
    /// Most client connections weir may hold: global and frontend
    /// `maxconn`.
    pub clients_max: Option<u32>,
}

impl Bounds {
    /// The bounds that hold for each of `configs` (the run's first one
    /// and those its reloads apply).
    pub(crate) fn new(configs: &[&Config], scenario: &Scenario) -> Bounds {
        let latency = scenario
            .servers
            .iter()
            .map(|s| s.latency)
            .chain(scenario.clients.iter().map(|c| c.latency))
            .max()
            .unwrap_or_default();
        // With several loops, what loop 0 decides reaches the others a
        // little later.
        let several = configs.iter().any(|c| c.global.nbthread.unwrap_or(1) > 1);
        let news = if several { MAX_DELAY } else { Duration::ZERO };
        let margin = latency * 8 + Duration::from_millis(10) + news;
        let (mut detect, mut recover) = (Duration::ZERO, Duration::ZERO);
        let (mut longest, mut shortest) = (Duration::ZERO, Duration::MAX);
        let (mut ends, mut queue_limited, mut n_servers) = (Duration::ZERO, false, 0);
        for config in configs {
            let backend = &config.backends[0];
            let spread = 100 + u32::from(config.global.spread_checks);
            let connect = backend.timeout_connect.unwrap_or(Duration::from_secs(5));
            let mut detect_here = Duration::ZERO;
            for s in &backend.servers {
                let fast = s.fastinter.unwrap_or(s.inter);
                let down = s.downinter.unwrap_or(s.inter);
                // One check takes at most `inter`, plus `timeout check` after
                // its connect.
                let one = s.inter + backend.timeout_check.unwrap_or_default();
                let cycle = s.inter.max(fast) * spread / 100 + one;
                let back = s.inter.max(fast).max(down) * spread / 100 + one;
                detect_here = detect_here.max(cycle * (s.fall + 1));
                recover = recover.max(back * (s.rise + 1));
                longest = longest.max(back);
                shortest = shortest.min(s.inter.min(fast).min(down) * (200 - spread) / 100);
            }
            if !backend.redispatch {
                // Retries stay on the server they started with.
                detect_here += (Duration::from_secs(1) + connect) * backend.retries;
            }
            detect = detect.max(detect_here);
            let idle = [
                backend.timeout_server,
                backend.timeout_tunnel,
                backend.timeout_server_fin,
                config.frontends[0].timeout_client,
                config.frontends[0].timeout_client_fin,
            ];
            let longest_idle = idle.into_iter().flatten().max().unwrap_or_default();
            // A session left when the clients are done ends within its idle
            // timeout, or after its connect attempts and a queue wait.
            let attempts = (connect + Duration::from_secs(1)) * (backend.retries + 1);
            // Without `timeout queue`, a wait while no server is usable lasts
            // up to the client's timeout.
            let client = config.frontends[0].timeout_client.unwrap_or_default();
            let queue = backend.timeout_queue.unwrap_or(connect.max(client));
            ends = ends.max(longest_idle + attempts + queue);
            queue_limited |= backend.servers.iter().any(|s| s.maxconn > 0);
            n_servers = n_servers.max(backend.servers.len() as u64);
        }
        let checked = scenario.check != Check::None;
        let timer_window = longest * 4;
        let shortest = shortest.max(Duration::from_millis(1));
        let per_server = timer_window.as_nanos() / shortest.as_nanos() + 2;
        Bounds {
            detect: detect + margin,
            recover: recover + margin,
            quiet: ends + recover + Duration::from_secs(2),
            margin,
            news,
            queue_limited,
            checked,
            timer_window,
            max_wakeups: n_servers * per_server as u64 * 4 + 8,
            clients_max: (configs.first()).and_then(|c| {
                [c.global.maxconn, c.frontends[0].maxconn]
                    .into_iter()
                    .flatten()
                    .min()
            }),
            idle_limit: 4 * (scenario.clients.len() as u64 + n_servers) + 64,
        }
    }
}

/// One server of weir on one port of a world server.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    name: String,
    /// Its largest `maxconn` (`None`: no limit).
    max: Option<u32>,
    /// In the configuration weir runs.
    listed: bool,
}

/// What the checks remember during a run.
pub(crate) struct Checker {
    pub bounds: Bounds,
    failure: Option<Failure>,
    /// Each server as commands and weir's log lines left it.
    pub servers: Vec<ServerModel>,
    /// The server a runtime command being carried out is about.
    pub in_command: Option<usize>,
    /// While a loop applies news: the sessions it may end (server, and
    /// the first letter of their termination state).
    pub in_news: Option<Vec<(String, char)>>,
    /// Clients (by address) whose sessions a command ended.
    pub ended_by_command: BTreeSet<SocketAddr>,
    /// Traffic connections weir opened to a closed server: since when,
    /// and why, it was closed.
    pub connect_closure: BTreeMap<LinkId, Closure>,
    /// Traffic connections to a closed server in this step.
    pub connecting: Vec<(LinkId, usize, Closure)>,
    /// Clients weir accepted.
    pub accepted: u64,
    /// Clients weir was asked to accept (some it refused).
    pub accept_calls: u64,
    /// The server connections that received each client's bytes.
    pub served: Vec<Vec<LinkId>>,
    /// The client each server connection carries.
    pub owner: BTreeMap<LinkId, u32>,
    /// tcplog lines by client address: termination state, bytes, server.
    pub sessions: BTreeMap<SocketAddr, Vec<(String, u64, String)>>,
    /// Each traffic connection weir opened: the world server and port.
    pub traffic: BTreeMap<LinkId, (usize, u16)>,
    /// Server ports weir connected to in this step.
    pub loaded: Vec<(usize, u16)>,
    /// Each world server's port: the servers configurations put there
    /// (a rename, or leaving and coming back, makes a new one), with the
    /// largest `maxconn` each had (`None`: no limit) and whether the
    /// configuration weir runs has it.
    pub server_limits: BTreeMap<(usize, u16), Vec<Limit>>,
}

impl Checker {
    pub(crate) fn new(bounds: Bounds, config: &Config, scenario: &Scenario) -> Checker {
        let weights = config.backends[0].servers.iter().map(|s| s.weight);
        let mut servers: Vec<ServerModel> = weights.map(ServerModel::new).collect();
        // A spare server waits out of the configuration for a reload.
        while servers.len() < scenario.servers.len() {
            servers.push(ServerModel {
                removed: true,
                ever_removed: true,
                closed: Some((0, Duration::ZERO, "not in the configuration")),
                ..ServerModel::new(1)
            });
        }
        Checker {
            bounds,
            failure: None,
            servers,
            in_command: None,
            in_news: None,
            ended_by_command: BTreeSet::new(),
            connect_closure: BTreeMap::new(),
            connecting: Vec::new(),
            accepted: 0,
            accept_calls: 0,
            served: vec![Vec::new(); scenario.clients.len()],
            owner: BTreeMap::new(),
            sessions: BTreeMap::new(),
            traffic: BTreeMap::new(),
            loaded: Vec::new(),
            server_limits: BTreeMap::new(),
        }
    }

    /// The first violation, if any.
    pub(crate) fn result(&self) -> Result<(), Failure> {
        match &self.failure {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }
}

/// Whether `kind` makes checks of type `check` fail.
fn fails_checks(kind: FaultKind, check: Check) -> bool {
    match kind {
        FaultKind::Crash | FaultKind::BlackHole => check != Check::None,
        FaultKind::Hang => check.reads_answer(),
        FaultKind::Health503 => check.is_http(),
        FaultKind::ResetStreams | FaultKind::HalfClose | FaultKind::SlowRead => false,
    }
}

impl World {
    /// Records a violation (the first one stops the run).
    pub(crate) fn fail(&mut self, what: String) {
        trace!(self, "VIOLATION", "{what}");
        if self.check.failure.is_none() {
            self.check.failure = Some(Failure { at: self.now, what });
        }
    }

    /// Whether server `s` had a fault at some time between `from` and
    /// `until`.
    /// Runtime commands count: they take servers out of rotation and end
    /// sessions (in the other loops, when their news arrives).
    pub(crate) fn had_fault(&self, s: usize, from: Duration, until: Duration) -> bool {
        let mut faults = self.scenario.faults.iter().filter(|f| f.server == s);
        let mut commands = self.scenario.commands.iter().filter(|c| c.server == s);
        let news = self.check.bounds.news;
        faults.any(|f| f.from <= until && from <= f.until)
            || commands.any(|c| c.at <= until && from <= c.until + news)
    }

    /// The faults of server `s` that fail its checks.
    fn dead_windows(&self, s: usize) -> impl Iterator<Item = &Fault> {
        let check = self.scenario.check;
        self.scenario
            .faults
            .iter()
            .filter(move |f| f.server == s && fails_checks(f.kind, check))
    }

    /// A log line from loop `lp`: server state changes and tcplog lines.
    pub(crate) fn on_log(&mut self, lp: usize, line: &LogLine) {
        // Loop 0 writes what is the process's (server states, checks,
        // backends left without a server): once. The others write their
        // sessions' lines, and their own stops in the diagnostic log.
        let text = line.text.as_str();
        let session = line.sink == LogSink::Stdout
            && (text.split(' ').next()).is_some_and(|a| a.parse::<SocketAddr>().is_ok());
        let process = ["Server ", "Backup Server ", "Health check "]
            .iter()
            .any(|p| text.starts_with(p))
            || text.contains(" has no server available");
        if lp > 0 && (process || (line.sink == LogSink::Stdout && !session)) {
            return self.fail(format!("loop {lp} wrote {text:?}"));
        }
        // State changes reach the diagnostic log only when no log target
        // takes them; the scenario's `log stdout` does.
        match line.sink {
            LogSink::Diagnostic(_) => self.on_health_log(&line.text),
            LogSink::Stdout
                if line.text.starts_with("Server ") || line.text.starts_with("Backup Server ") =>
            {
                self.on_health_log(&line.text)
            }
            LogSink::Stdout => self.on_session_log(&line.text),
            LogSink::Stderr | LogSink::Udp(_) | LogSink::Unix(_) => {}
        }
    }

    /// A change of server `s` to UP or DOWN that its checks decided: a
    /// DOWN needs a fault to explain it, an UP must not come while the
    /// server is dead.
    pub(crate) fn check_health_change(&mut self, s: usize, up: bool) {
        let name = self.server_name(s);
        let (now, detect, margin) = (self.now, self.check.bounds.detect, self.check.bounds.margin);
        if !up
            && !self
                .dead_windows(s)
                .any(|f| f.from <= now && now <= f.until + detect)
        {
            return self.fail(format!(
                "weir marked {name} DOWN with no fault to explain it"
            ));
        }
        let during = self
            .dead_windows(s)
            .find(|f| f.from + margin < now && now < f.until);
        if let Some(kind) = during.filter(|_| up).map(|f| f.kind) {
            self.fail(format!("weir marked {name} UP during its {kind:?}"));
        }
    }

    fn on_session_log(&mut self, text: &str) {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let Some(addr) = fields.first().and_then(|a| a.parse::<SocketAddr>().ok()) else {
            return;
        };
        let (Some(server), Some(bytes), Some(state)) =
            (fields.get(3), fields.get(5), fields.get(6))
        else {
            return self.fail(format!("a tcplog line too short: {text}"));
        };
        let server = server
            .split_once('/')
            .map_or("", |(_, name)| name)
            .to_owned();
        let Ok(bytes) = bytes.parse::<u64>() else {
            return self.fail(format!("a tcplog line without byte count: {text}"));
        };
        if let Some(s) = self.check.in_command {
            self.on_command_session_log(s, addr, state, &server);
        }
        if let Some(may_end) = &self.check.in_news {
            let why = state.chars().next().unwrap_or('-');
            if !may_end.iter().any(|(s, w)| *s == server && *w == why) {
                return self.fail(format!(
                    "news that may end {may_end:?} ended the session of {addr} on {server:?} \
                     ({state})"
                ));
            }
            self.check.ended_by_command.insert(addr);
        }
        let entry = self.check.sessions.entry(addr).or_default();
        entry.push((state.to_string(), bytes, server));
    }

    /// weir connects to server `s`'s traffic port.
    pub(crate) fn on_traffic_connect(&mut self, s: usize) {
        let (now, detect) = (self.now, self.check.bounds.detect);
        // A command that made it UP starts the detection again.
        let revived = self.check.servers[s].revived;
        let dead = self
            .dead_windows(s)
            .find(|f| f.from.max(revived) + detect < now && now < f.until);
        if let Some((kind, since)) = dead.map(|f| (f.kind, now - f.from)) {
            let name = self.server_name(s);
            self.fail(format!(
                "weir connected to {name} {:.3}s into its {kind:?}, past the detection bound {:.3}s",
                since.as_secs_f64(),
                detect.as_secs_f64()
            ));
        }
    }

    /// Server connection `link` received client `client`'s header.
    pub(crate) fn on_served(&mut self, link: LinkId, client: u32) {
        self.check.owner.insert(link, client);
        self.check_open_when_connected(link, client);
        let Some(earlier) = self.check.served.get(client as usize).cloned() else {
            return;
        };
        for other in earlier {
            if !self.scenario.replay {
                return self.fail(format!(
                    "client {client}'s bytes reached two server connections, #{other} and #{link}"
                ));
            }
            // weir opened the first one first; a server may read its bytes
            // late (it was hung), after the replay.
            let (first, second) = (other.min(link), other.max(link));
            let answered = self.net.links[first].end(Side::Weir).read;
            if answered > 0 {
                return self.fail(format!(
                    "client {client}'s bytes were replayed to #{second} after #{first} had answered {answered} bytes"
                ));
            }
        }
        self.check.served[client as usize].push(link);
    }

    /// Client `c` read a reply header.
    pub(crate) fn on_reply(&mut self, c: usize, reply: Reply) {
        let owner = self.check.owner.get(&(reply.uid as usize)).copied();
        if owner != Some(c as u32) {
            self.fail(format!(
                "client {c} got the reply of link #{}, which carries client {owner:?}",
                reply.uid
            ));
        }
    }

    /// Loop `lp` woke up and asked for `actions` actions.
    pub(crate) fn on_wakeup(&mut self, lp: usize, actions: usize) {
        let idle = &mut self.loops[lp].idle;
        if actions > 0 {
            *idle = 0;
            return;
        }
        *idle += 1;
        if *idle > self.check.bounds.idle_limit {
            let n = *idle;
            self.fail(format!(
                "loop {lp} woke up {n} times in a row with nothing to do"
            ));
        }
    }

    /// weir accepted a client: the process holds no more client
    /// connections than global and frontend `maxconn` allow.
    pub(crate) fn check_held(&mut self) {
        let Some(max) = self.check.bounds.clients_max else {
            return;
        };
        let held = (self.ids.values())
            .filter(|&&l| matches!(self.net.links[l].peer, Peer::Client(_)))
            .count();
        if held > max as usize {
            self.fail(format!(
                "weir holds {held} client connections, maxconn {max}"
            ));
        }
    }

    /// The servers' `maxconn` in `config` (the first one, or one a
    /// reload applies), by world server and port.
    pub(crate) fn note_limits(&mut self, config: &Config) {
        let servers = &config.backends[0].servers;
        for limits in self.check.server_limits.values_mut() {
            for limit in limits.iter_mut() {
                limit.listed &= servers.iter().any(|s| s.name == limit.name);
            }
        }
        for server in servers {
            let ip = server.addr.ip();
            let Some(s) = (self.scenario.servers.iter()).position(|spec| spec.addr.ip() == ip)
            else {
                continue;
            };
            let max = Some(server.maxconn).filter(|&m| m > 0);
            let limits = (self.check.server_limits)
                .entry((s, server.addr.port()))
                .or_default();
            match limits
                .iter_mut()
                .find(|l| l.listed && l.name == server.name)
            {
                Some(limit) => limit.max = limit.max.zip(max).map(|(a, b)| a.max(b)),
                None => limits.push(Limit {
                    name: server.name.clone(),
                    max,
                    listed: true,
                }),
            }
        }
    }

    /// weir opened traffic connection `link` to world server `s`'s `port`.
    pub(crate) fn on_load(&mut self, link: LinkId, s: usize, port: u16) {
        self.check.traffic.insert(link, (s, port));
        self.check.loaded.push((s, port));
    }

    /// At the end of a step: no server has more connections from weir
    /// (all loops) than its `maxconn` (the largest it had; the sum of
    /// them when a reload put two servers on one port), and its check
    /// when that shares the traffic port.
    fn check_server_loads(&mut self) {
        for (s, port) in std::mem::take(&mut self.check.loaded) {
            let Some(limits) = self.check.server_limits.get(&(s, port)) else {
                continue;
            };
            let Some(mut max) = limits.iter().map(|l| l.max).sum::<Option<u32>>() else {
                continue;
            };
            // A check on the traffic port looks like traffic: loop 0 has
            // at most one in flight per server.
            if self.scenario.check != Check::None && !self.scenario.check_port {
                max += limits.len() as u32;
            }
            let open = (self.ids.values())
                .filter(|l| self.check.traffic.get(l) == Some(&(s, port)))
                .count();
            if open > max as usize {
                let name = self.server_name(s);
                self.fail(format!(
                    "weir holds {open} connections to {name} (port {port}), maxconn {max}"
                ));
            }
        }
    }

    /// Sessions open in all loops.
    pub(crate) fn active_sessions(&self) -> usize {
        self.loops.iter().map(|l| l.lb.active_sessions()).sum()
    }

    /// Checked after every step.
    pub(crate) fn after_step(&mut self) {
        self.settle_connects();
        self.check_server_loads();
        for lp in 0..self.loops.len() {
            let l = &self.loops[lp];
            if let Some((at, after)) = l.unbound.zip(self.scenario.hard_stop_after) {
                let bound = at + after + self.check.bounds.margin;
                if self.now > bound && !l.lb.is_stopped() {
                    let left = l.lb.active_sessions();
                    self.fail(format!(
                        "loop {lp}: {left} sessions still open {:.3}s after the soft stop, \
                         past hard-stop-after",
                        (self.now - at).as_secs_f64()
                    ));
                }
            }
            // A loop's deadline is later than the last instant it handled
            // (another loop may have one at the same instant).
            if let Some(next) = self.loops[lp].lb.poll_timeout() {
                if next < self.t() || (next == self.t() && self.loops[lp].busy == self.now) {
                    let late = self.t().saturating_duration_since(next);
                    self.fail(format!(
                        "loop {lp}: poll_timeout returned a deadline {:.6}s in the past",
                        late.as_secs_f64()
                    ));
                }
            }
        }
    }

    /// The end of the run: sessions, logs, health, timers, memory.
    pub(crate) fn final_checks(&mut self) {
        if self.active_sessions() != 0 {
            let n = self.active_sessions();
            return self.fail(format!("{n} sessions left after every client finished"));
        }
        for c in 0..self.clients.len() {
            self.check_client(c);
        }
        let running = self.loops.iter().any(|l| !l.lb.is_stopped());
        if self.scenario.soft_stop.is_some() && running {
            return self.fail("weir is not stopped at the end of its soft stop".into());
        }
        for s in 0..self.servers.len() {
            let model = &self.check.servers[s];
            // A server a reload left out is no longer checked.
            if self.check.bounds.checked && model.seen == Seen::Down && !model.removed {
                let name = self.server_name(s);
                return self.fail(format!("{name} is still DOWN at the end"));
            }
        }
        let left: Vec<(LinkId, Peer)> = self
            .ids
            .values()
            .map(|&l| (l, self.net.links[l].peer))
            .collect();
        let traffic = left
            .iter()
            .any(|&(l, peer)| matches!(peer, Peer::Client(_)) || self.is_traffic(l));
        if traffic || left.len() > self.servers.len() {
            return self.fail(format!("weir still holds connections at the end: {left:?}"));
        }
        self.check_counters_at_end();
        self.check_open_servers_served();
        self.check_weights_honoured();
        self.check_timers();
        self.check_shutdown();
    }

    fn check_client(&mut self, c: usize) {
        let spec = &self.scenario.clients[c];
        let client = &self.clients[c];
        let logs = self
            .check
            .sessions
            .get(&spec.addr)
            .cloned()
            .unwrap_or_default();
        if client.accepted && logs.len() != 1 {
            return self.fail(format!("client {c} has {} tcplog lines", logs.len()));
        }
        let state = logs.first().map(|(s, _, _)| s.as_str()).unwrap_or("");
        // The server the session was logged with.
        let server = logs
            .first()
            .and_then(|(_, _, name)| self.server_index(name));
        if let Some((_, _, name)) = logs.first().filter(|_| client.accepted) {
            let name = name.clone();
            self.check_logged_server(c, &name);
        }
        let (spec, client) = (&self.scenario.clients[c], &self.clients[c]);
        match &client.outcome {
            Some(Outcome::Success) => {
                let bytes = logs.first().map_or(0, |&(_, b, _)| b);
                // Its server's FIN may be lost after the reply (a black hole
                // starting then): weir then ends the session by a timeout.
                let end = client.ended + self.check.bounds.margin;
                let faulty = server.is_some_and(|s| self.had_fault(s, spec.start, end));
                if (state != "--" && !faulty) || bytes != client.received {
                    let received = client.received;
                    self.fail(format!(
                        "client {c} got its whole reply ({received} bytes) but weir logged {state} with {bytes} bytes"
                    ));
                }
            }
            Some(Outcome::Failed(why)) => {
                let (start, end) = (spec.start, client.ended);
                // The session ended connecting or connected to a server with
                // no fault during the client's life: nothing excuses it.
                let reached = server.filter(|_| !state.ends_with('Q'));
                let unexcused = reached.filter(|&s| !self.had_fault(s, start, end));
                // A soft stop closed the listener on it, or `hard-stop-after`
                // ran out while it was still going.
                let hard_stop = (self.first_unbound())
                    .zip(self.scenario.hard_stop_after)
                    .is_some_and(|(at, after)| end + self.check.bounds.margin >= at + after);
                if client.shut_out || hard_stop {
                    return;
                }
                if let (Some(s), false) = (unexcused, client.vanished) {
                    let (why, name) = (why.clone(), self.server_name(s));
                    return self.fail(format!(
                        "client {c} failed on {name}, which had no fault: {why} (weir logged {state:?})"
                    ));
                }
                let recover = self.check.bounds.recover;
                let fault = (self.scenario.faults.iter().map(|f| (f.from, f.until)))
                    .chain(self.scenario.commands.iter().map(|c| (c.at, c.until)))
                    .any(|(from, until)| from <= end && start <= until + recover);
                let queued = self.check.bounds.queue_limited && state == "sQ";
                if !(client.vanished || fault || queued) {
                    let why = why.clone();
                    self.fail(format!("client {c} failed with no fault to explain it: {why} (weir logged {state:?})"));
                }
            }
            None => self.fail(format!("client {c} never finished")),
        }
    }

    /// Only check timers are left: none without checks (none at all in
    /// loops other than loop 0), and a bounded number of wake-ups over a
    /// few check intervals with them.
    fn check_timers(&mut self) {
        for lp in 0..self.loops.len() {
            if self.check.bounds.checked && lp == 0 {
                continue;
            }
            if let Some(at) = self.loops[lp].lb.poll_timeout() {
                let left = at.saturating_duration_since(self.t());
                return self.fail(format!(
                    "loop {lp} has a timer armed {:.3}s ahead with nothing left to do",
                    left.as_secs_f64()
                ));
            }
        }
        if !self.check.bounds.checked {
            return;
        }
        let (before, end) = (
            self.stats.wakeups,
            self.now + self.check.bounds.timer_window,
        );
        while self.step(end) {
            if self.check.failure.is_some() {
                return;
            }
        }
        let woke = self.stats.wakeups - before;
        if woke > self.check.bounds.max_wakeups {
            let window = self.check.bounds.timer_window.as_secs_f64();
            self.fail(format!(
                "weir woke up {woke} times in {window:.3}s of checks alone"
            ));
        }
    }

    /// `shutdown` closes everything and leaves nothing behind.
    fn check_shutdown(&mut self) {
        let t = self.t();
        for lp in 0..self.loops.len() {
            self.loops[lp].lb.shutdown(t);
            self.drain(lp);
        }
        if !self.ids.is_empty() {
            let left: Vec<_> = self.ids.keys().copied().collect();
            return self.fail(format!("shutdown left connections open: {left:?}"));
        }
        for lp in 0..self.loops.len() {
            let lb = &self.loops[lp].lb;
            let buffers = lb.buffers_in_use();
            if buffers != 0 {
                return self.fail(format!(
                    "loop {lp}: {buffers} buffers still in use after shutdown"
                ));
            }
            if lb.poll_timeout().is_some() {
                return self.fail(format!("loop {lp}: a timer is still armed after shutdown"));
            }
            if lb.active_sessions() != 0 {
                return self.fail(format!("loop {lp}: sessions left after shutdown"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weir_core::{LogLine, LogSink};

    use super::*;
    use crate::faults::{Fault, FaultKind};

    /// A world, not run, for a scenario with TCP checks, no fault and no
    /// replay, to feed the checks by hand.
    fn world() -> World {
        let scenario = (0..1000)
            .map(Scenario::generate)
            .find(|s| s.check == Check::Tcp && s.faults.is_empty() && !s.replay)
            .expect("such a seed");
        World::new(scenario, false).expect("a world")
    }

    fn health(w: &mut World, text: &str) {
        w.on_log(
            0,
            &LogLine {
                sink: LogSink::Diagnostic(log::Level::Warn),
                text: text.into(),
            },
        );
    }

    #[test]
    fn a_down_without_a_fault_and_a_repeated_state_are_violations() {
        let mut w = world();
        health(&mut w, "Server app/gw1 is UP, reason: Layer4 check passed");
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("twice in a row")
        );
        let mut w = world();
        health(&mut w, "Server app/gw1 is DOWN, reason: Layer4 timeout");
        assert!(w.check.result().unwrap_err().what.contains("no fault"));
    }

    #[test]
    fn a_connect_to_a_server_dead_past_the_bound_is_a_violation() {
        let mut w = world();
        w.scenario.faults.push(Fault {
            server: 0,
            kind: FaultKind::Crash,
            from: Duration::from_secs(1),
            until: Duration::from_secs(3600),
        });
        w.now = Duration::from_secs(1) + w.check.bounds.detect / 2;
        w.on_traffic_connect(0);
        assert!(w.check.result().is_ok(), "within the bound");
        w.now = Duration::from_secs(2) + w.check.bounds.detect;
        w.on_traffic_connect(0);
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("detection bound")
        );
    }

    #[test]
    fn closing_the_listener_needs_a_soft_stop_and_is_for_good() {
        use weir_core::{Action, ListenerId};
        let unbind = Action::Unbind {
            listener: ListenerId(0),
        };
        let mut w = world();
        w.apply(0, unbind.clone());
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("without a soft stop")
        );
        let mut w = world();
        w.loops[0].soft_stopped = Some(Duration::ZERO);
        w.apply(0, unbind);
        assert!(w.check.result().is_ok());
        w.apply(
            0,
            Action::ResumeAccept {
                listener: ListenerId(0),
            },
        );
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("closed listener")
        );
    }

    #[test]
    fn bytes_of_one_client_on_two_server_connections_are_a_violation() {
        let mut w = world();
        w.on_served(3, 0);
        assert!(w.check.result().is_ok());
        w.on_served(5, 0);
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("two server connections")
        );
    }

    #[test]
    fn a_reply_from_a_connection_of_another_client_is_a_violation() {
        let mut w = world();
        w.on_served(3, 0);
        w.on_reply(0, Reply { uid: 3, len: 0 });
        assert!(w.check.result().is_ok());
        w.on_reply(1, Reply { uid: 3, len: 0 });
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("carries client")
        );
    }
}
