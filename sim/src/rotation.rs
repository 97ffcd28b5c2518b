//! Which servers take new sessions, and what runtime commands must do.
//!
//! Each server's model is what the operator's commands set (drain,
//! maintenance, weight) and what weir's state-change lines say (UP, NOLB,
//! DOWN). A server is *closed* while any of them keeps new sessions away:
//! maintenance, drain, weight 0, NOLB or DOWN. The invariants:
//!
//! * a session weir accepted while a server was closed never gets a
//!   connection to it while it is still closed (sessions in progress go
//!   on);
//! * a command on one server ends sessions of that server only, and
//!   `shutdown sessions server` ends all of them;
//! * every command gets HAProxy's answer (nothing, or a static
//!   algorithm's refusal of a weight);
//! * with `roundrobin`/`static-rr`, a server open again (ready, UP by its
//!   checks) gets a session among the next `2W + 2` the process accepts
//!   once every loop learned it (W: the sum of the largest weights; times
//!   the loops, which take their own turns around reloads);
//! * in a steady run ([`crate::Scenario::weighted`]), `roundrobin` gives
//!   each server its weight's share of the sessions, within the server's
//!   weight plus one: over any `W` picks from a common start each server
//!   is picked exactly its weight times, so a window that does not start
//!   or end on a cycle is off by at most one partial cycle;
//! * `show stat` agrees with the world: the frontend's `scur` is the
//!   number of clients weir holds, the servers' add up to at most the
//!   backend's (twice, with `option connect-hedge`, which counts a session
//!   on both servers it races), at the end every `scur` is 0, the
//!   frontend's `stot` is the number of clients weir accepted, and each
//!   server's `stot` counts at least the sessions it was seen to carry.

use std::collections::BTreeSet;
use std::time::Duration;

use weir_core::runtime_api::Level;

use crate::net::{LinkId, Peer};
use crate::runtime::{Command, Health, Op};
use crate::world::World;

/// A server's state as weir's log lines give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    Up,
    /// NOLB: UP, taking no new session (`health stopping`).
    Nolb,
    Down,
}

/// Since when (moment, time) and why a server has been closed.
pub(crate) type Closure = Option<(u64, Duration, &'static str)>;

/// One server as commands and log lines left it.
#[derive(Debug, Clone)]
pub(crate) struct ServerModel {
    pub seen: Seen,
    pub maint: bool,
    pub drain: bool,
    pub weight: u32,
    /// The configured weight (`weight 100%`).
    pub initial: u32,
    /// The largest weight it had.
    pub max_weight: u32,
    pub closed: Closure,
    /// When it last opened again (the moment, the time).
    pub opened: (u64, Duration),
    /// When a command last reset its health counter (the detection of a
    /// fault starts again from there).
    pub revived: Duration,
    /// A reload left it out of the configuration.
    pub removed: bool,
    /// A reload left it out once: its counters started again.
    pub ever_removed: bool,
}

impl ServerModel {
    pub(crate) fn new(weight: u32) -> Self {
        ServerModel {
            seen: Seen::Up,
            maint: false,
            drain: false,
            weight,
            initial: weight,
            max_weight: weight,
            closed: None,
            opened: (0, Duration::ZERO),
            revived: Duration::ZERO,
            removed: false,
            ever_removed: false,
        }
    }

    /// Why it takes no new session now, if it does not.
    fn closed_because(&self) -> Option<&'static str> {
        match () {
            _ if self.removed => Some("removed by a reload"),
            _ if self.maint => Some("maintenance"),
            _ if self.drain => Some("drain"),
            _ if self.weight == 0 => Some("weight 0"),
            _ if self.seen == Seen::Nolb => Some("NOLB"),
            _ if self.seen == Seen::Down => Some("DOWN"),
            _ => None,
        }
    }
}

/// What a state-change line says happened.
enum Change {
    /// To UP, NOLB or DOWN; `admin` when people caused it, not a check.
    To(Seen, bool),
    /// Still DOWN (entering or leaving maintenance while DOWN).
    StillDown,
    /// Nothing about UP or DOWN (drain entered or kept).
    None,
}

/// Reads the part after `Server app/NAME ` of a state-change line.
fn change(tail: &str) -> Change {
    let cli = tail.contains("changed from CLI");
    let word = |w: &str| {
        tail == w || tail.starts_with(&format!("{w},")) || tail.starts_with(&format!("{w}."))
    };
    if tail.starts_with("is UP/") {
        Change::To(Seen::Up, true)
    } else if tail.starts_with("is DOWN/")
        || tail.starts_with("was DOWN and now enters maintenance")
    {
        Change::StillDown
    } else if tail.starts_with("is going DOWN for maintenance") {
        Change::To(Seen::Down, true)
    } else if word("is UP") {
        Change::To(Seen::Up, cli)
    } else if word("is DOWN") {
        Change::To(Seen::Down, cli)
    } else if word("is stopping") {
        Change::To(Seen::Nolb, cli)
    } else {
        Change::None
    }
}

impl World {
    /// Its model says again whether server `s` is closed, and when that
    /// changed.
    pub(crate) fn refresh(&mut self, s: usize) {
        let (step, now) = (self.moment, self.now);
        let model = &mut self.check.servers[s];
        match (model.closed_because(), model.closed) {
            (Some(why), None) => model.closed = Some((step, now, why)),
            (None, Some(_)) => {
                model.closed = None;
                model.opened = (step, now);
            }
            _ => {}
        }
    }

    /// A runtime command ran and answered `answer`: the model follows it.
    pub(crate) fn on_command(&mut self, command: Command, answer: &str) {
        let s = command.server;
        if !self.command_answer_ok(command.op, answer) {
            let line = command.line(&self.server_name(s));
            return self.fail(format!("'{line}' answered {answer:?}"));
        }
        let model = &mut self.check.servers[s];
        // A forced health puts the health counter at the top of UP, leaving
        // maintenance at its bottom: a fault's detection starts again (and
        // weir's connects to the server may come before its UP line).
        let revives = match command.op {
            Op::Health(Health::Up | Health::Stopping) => true,
            Op::Ready | Op::Enable => model.maint,
            _ => false,
        };
        if revives {
            model.revived = self.now;
        }
        match command.op {
            Op::Drain => (model.drain, model.maint) = (true, false),
            Op::Maint | Op::Disable => (model.drain, model.maint) = (false, true),
            Op::Ready | Op::Enable => (model.drain, model.maint) = (false, false),
            Op::Weight(_) | Op::WeightRestore if !answer.is_empty() => {}
            Op::Weight(w) => model.weight = w,
            Op::WeightRestore => model.weight = model.initial,
            Op::Health(_) | Op::ShutdownSessions => {}
        }
        model.max_weight = model.max_weight.max(model.weight);
        self.refresh(s);
    }

    /// A server's state-change line (`[Backup ]Server app/NAME ...`).
    pub(crate) fn on_health_log(&mut self, text: &str) {
        let text = text.strip_prefix("Backup ").unwrap_or(text);
        let Some(rest) = text.strip_prefix("Server app/") else {
            return;
        };
        let Some((name, tail)) = rest.split_once(' ') else {
            return;
        };
        let Some(s) = self.server_index(name) else {
            return self.fail(format!(
                "weir logged a state change of unknown server {name}"
            ));
        };
        let was = self.check.servers[s].seen;
        let (to, admin) = match change(tail) {
            Change::To(to, admin) => (to, admin),
            Change::StillDown if was == Seen::Down => return,
            Change::StillDown => {
                return self.fail(format!("weir logged {name} still DOWN while {was:?}"));
            }
            Change::None => return,
        };
        if was == to {
            let word = match to {
                Seen::Up => "UP",
                Seen::Nolb => "NOLB",
                Seen::Down => "DOWN",
            };
            return self.fail(format!("weir logged {name} {word} twice in a row"));
        }
        self.stats.transitions += 1;
        self.check.servers[s].seen = to;
        self.refresh(s);
        if admin {
            return;
        }
        self.check_health_change(s, to == Seen::Up);
    }

    /// weir connects to server `s`'s traffic port on `link`.
    pub(crate) fn on_connect(&mut self, link: LinkId, s: usize, port: u16) {
        if let Some((step, at)) = self.port_gone(s, port) {
            let closure = Some((step, at, "left the configuration"));
            self.check.connect_closure.insert(link, closure);
            return;
        }
        let closed = self.check.servers[s].closed;
        if closed.is_some() {
            self.check.connecting.push((link, s, closed));
        }
    }

    /// At the end of a step: the connects of the step to a server closed
    /// before it and still closed now. (The actions of one input come in
    /// no particular order: a server coming UP may log its line after the
    /// connects it takes from the queue.)
    pub(crate) fn settle_connects(&mut self) {
        for (link, s, closed) in std::mem::take(&mut self.check.connecting) {
            if self.check.servers[s].closed == closed {
                self.check.connect_closure.insert(link, closed);
            }
        }
    }

    /// Client `client`'s bytes reach server connection `link`: its
    /// session must have been accepted before the server closed, or
    /// before its loop learned it had (see `loops.rs`).
    pub(crate) fn check_open_when_connected(&mut self, link: LinkId, client: u32) {
        let Some(Some((moment, since, why))) = self.check.connect_closure.get(&link).copied()
        else {
            return;
        };
        let Some(c) = self.clients.get(client as usize) else {
            return;
        };
        let Some(learned) = self.learned(c.lp, moment) else {
            return;
        };
        if c.accepted_at >= learned {
            let Peer::Server(s) = self.net.links[link].peer else {
                return;
            };
            let name = self.server_name(s);
            self.fail(format!(
                "client {client}, accepted after {name} closed to new sessions ({why} since \
                 {:.3}s), got a connection to it (link #{link})",
                since.as_secs_f64()
            ));
        }
    }

    /// A tcplog line while a command on server `s` runs: it ends a session
    /// of `s`, killed (`K`) or marked down (`D`).
    pub(crate) fn on_command_session_log(
        &mut self,
        s: usize,
        addr: std::net::SocketAddr,
        state: &str,
        server: &str,
    ) {
        let name = self.server_name(s);
        if server != name || !(state.starts_with('K') || state.starts_with('D')) {
            return self.fail(format!(
                "a command on {name} ended the session of {addr} on {server:?} ({state})"
            ));
        }
        self.check.ended_by_command.insert(addr);
    }

    /// After `shutdown sessions server` reached loop `lp`: the sessions
    /// it carried there (client ids, as its connections saw them) are
    /// over, and it carries none there.
    pub(crate) fn after_shutdown_sessions(&mut self, lp: usize, s: usize, carried: &[usize]) {
        let name = self.server_name(s);
        for &c in carried {
            let addr = self.scenario.clients[c].addr;
            if !self.check.ended_by_command.contains(&addr) {
                return self.fail(format!(
                    "shutdown sessions server app/{name} left client {c}'s session"
                ));
            }
        }
        let since = self.listed_since(s);
        let left = self.ids.iter().find(|&(&(i, _), &l)| {
            i == lp
                && self.net.links[l].peer == Peer::Server(s)
                && (self.check.owner.get(&l))
                    .is_some_and(|&c| self.clients[c as usize].accepted_at >= since)
        });
        if let Some((_, link)) = left {
            self.fail(format!(
                "shutdown sessions server app/{name} left link #{link} open in loop {lp}"
            ));
        }
    }

    /// `show stat` as a table: header names and rows. With several
    /// loops, loop 0 adds the followers' counters: of now when `ask`
    /// (as the driver asks when a stats connection comes), else the
    /// latest they handed it.
    fn show_stat(&mut self, ask: bool) -> Option<(Vec<String>, Vec<Vec<String>>)> {
        if ask {
            self.ask_stats();
        }
        let t = self.t();
        let text = self.loops[0]
            .lb
            .handle_command(t, "show stat", Level::Admin);
        let mut lines = text.lines();
        let header = lines.next()?.strip_prefix("# ")?;
        let names = header.split(',').map(str::to_owned).collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        Some((names, rows))
    }

    /// One number of `show stat`: column `column` of proxy `px`, row `sv`.
    fn stat(
        table: &(Vec<String>, Vec<Vec<String>>),
        px: &str,
        sv: &str,
        column: &str,
    ) -> Option<u64> {
        let (names, rows) = table;
        let i = names.iter().position(|n| n == column)?;
        let row = rows.iter().find(|r| {
            r.first().map(String::as_str) == Some(px) && r.get(1).map(String::as_str) == Some(sv)
        })?;
        row.get(i)?.parse().ok()
    }

    /// The frontend's current sessions are the clients weir holds, and
    /// the servers' add up to at most the backend's.
    pub(crate) fn check_counters_now(&mut self) {
        let Some(table) = self.show_stat(true) else {
            return self.fail("show stat has no header".into());
        };
        let held = self
            .ids
            .values()
            .filter(|&&l| matches!(self.net.links[l].peer, Peer::Client(_)))
            .count() as u64;
        let fe = Self::stat(&table, "fe", "FRONTEND", "scur");
        let be = Self::stat(&table, "app", "BACKEND", "scur");
        let servers: Option<u64> = (0..self.servers.len())
            .filter(|&s| !self.check.servers[s].removed)
            .map(|s| Self::stat(&table, "app", &self.server_name(s), "scur"))
            .sum();
        // `option connect-hedge` counts a session on both servers while it
        // races them.
        let per_session = if self.scenario.config.contains("connect-hedge") {
            2
        } else {
            1
        };
        match (fe, be, servers) {
            (Some(fe), Some(be), Some(servers))
                if fe == held && servers <= be * per_session && be <= fe => {}
            _ => self.fail(format!(
                "show stat says {fe:?} sessions on the frontend, {be:?} on the backend, \
                 {servers:?} on its servers; weir holds {held} clients"
            )),
        }
    }

    /// At the end: no session counted anywhere, every accepted client
    /// counted once by the frontend, every server's total at least the
    /// sessions seen on it. The followers' counters are those they
    /// handed loop 0 last, every `STATS_PERIOD_MS`: the sessions ended
    /// long before.
    pub(crate) fn check_counters_at_end(&mut self) {
        let Some(table) = self.show_stat(false) else {
            return self.fail("show stat has no header".into());
        };
        let mut rows = vec![
            ("fe".to_owned(), "FRONTEND".to_owned()),
            ("app".into(), "BACKEND".into()),
        ];
        rows.extend(
            (0..self.servers.len())
                .filter(|&s| !self.check.servers[s].removed)
                .map(|s| ("app".to_owned(), self.server_name(s))),
        );
        for (px, sv) in &rows {
            if Self::stat(&table, px, sv, "scur") != Some(0) {
                return self.fail(format!("show stat counts sessions on {px}/{sv} at the end"));
            }
        }
        let accepted = self.check.accepted;
        let stot = Self::stat(&table, "fe", "FRONTEND", "stot");
        if stot != Some(accepted) {
            return self.fail(format!(
                "show stat counts {stot:?} sessions on the frontend; weir accepted {accepted}"
            ));
        }
        // `show info` too: every connection accepted (some refused at
        // once), none open.
        let t = self.t();
        let info = self.loops[0]
            .lb
            .handle_command(t, "show info", Level::Admin);
        let field = |name: &str| {
            (info.lines())
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (cum, cur) = (field("CumConns"), field("CurrConns"));
        let tried = self.check.accept_calls;
        if cur != Some(0) || cum.is_none_or(|n| n < accepted || n > tried) {
            return self.fail(format!(
                "show info counts {cur:?} connections open and {cum:?} in all; weir accepted \
                 {accepted} of {tried}"
            ));
        }
        // A server a reload left out counted again from 0 when it came back.
        for s in (0..self.servers.len()).filter(|&s| !self.check.servers[s].ever_removed) {
            let name = self.server_name(s);
            let mut seen: BTreeSet<usize> = BTreeSet::new();
            for (c, links) in self.check.served.iter().enumerate() {
                if links
                    .iter()
                    .any(|&l| self.net.links[l].peer == Peer::Server(s))
                {
                    seen.insert(c);
                }
            }
            for (c, spec) in self.scenario.clients.iter().enumerate() {
                let logged = self.check.sessions.get(&spec.addr);
                // A session that never left its server's queue never
                // connected: HAProxy counts it nowhere.
                let connected = |(state, _, server): &(String, u64, String)| {
                    *server == name && !state.ends_with('Q')
                };
                if logged.is_some_and(|lines| lines.iter().any(connected)) {
                    seen.insert(c);
                }
            }
            let stot = Self::stat(&table, "app", &name, "stot").unwrap_or(0);
            if stot < seen.len() as u64 {
                return self.fail(format!(
                    "show stat counts {stot} sessions on {name}, which carried {}",
                    seen.len()
                ));
            }
        }
    }

    /// With `roundrobin`/`static-rr`: a server open since some time, with
    /// no fault since, got a session among those the process accepted
    /// since every loop learned it, once there are more than `2W + 2` of
    /// them per loop.
    pub(crate) fn check_open_servers_served(&mut self) {
        let config = &self.config;
        let rr = config.contains("balance roundrobin") || config.contains("balance static-rr");
        if !rr || self.check.bounds.queue_limited || config.contains("connect-hedge") {
            return;
        }
        let active: Vec<usize> = (0..self.servers.len())
            .filter(|&s| !self.scenario.servers[s].backup)
            .collect();
        let w: u32 = active
            .iter()
            .map(|&s| self.check.servers[s].max_weight)
            .sum();
        for &s in &active {
            let model = &self.check.servers[s];
            let (moment, since) = model.opened;
            if model.closed.is_some() || self.had_fault(s, since, self.now) {
                continue;
            }
            let name = self.server_name(s);
            // The loops take the process's turns, from when every loop
            // learned (a loop takes its own turns while its reload's are
            // not loop 0's: `loops * (2W + 2)` covers one loop's share).
            let learned = (0..self.loops.len()).map(|lp| self.learned(lp, moment));
            let Some(learned) = learned.collect::<Option<Vec<u64>>>() else {
                continue;
            };
            let learned = learned.into_iter().max().unwrap_or(moment);
            let (mut routed, mut got) = (0u64, false);
            for (c, spec) in self.scenario.clients.iter().enumerate() {
                let client = &self.clients[c];
                if !client.accepted || client.accepted_at <= learned {
                    continue;
                }
                let Some(lines) = self.check.sessions.get(&spec.addr) else {
                    continue;
                };
                for (_, _, server) in lines {
                    if self.server_index(server).is_some() {
                        routed += 1;
                        got |= *server == name;
                    }
                }
            }
            let loops = self.loops.len() as u64;
            if !got && routed > loops * (2 * u64::from(w) + 2) {
                return self.fail(format!(
                    "{name}, open since {:.3}s, got none of the {routed} sessions accepted since",
                    since.as_secs_f64(),
                ));
            }
        }
    }
}

impl World {
    /// In a steady run: the sessions accepted since `steady_from` went to
    /// each server in proportion to its weight.
    pub(crate) fn check_weights_honoured(&mut self) {
        let Some(from) = self.scenario.steady_from else {
            return;
        };
        let mut counts = vec![0u64; self.servers.len()];
        for spec in self.scenario.clients.iter().filter(|c| c.start >= from) {
            let Some((_, _, server)) = self.check.sessions.get(&spec.addr).and_then(|l| l.first())
            else {
                continue;
            };
            if let Some(s) = self.server_index(server) {
                counts[s] += 1;
            }
        }
        let n: u64 = counts.iter().sum();
        let total: u64 = (self.check.servers.iter())
            .filter(|m| !m.removed)
            .map(|m| u64::from(m.weight))
            .sum();
        if n < 100 || total == 0 {
            return self.fail(format!("a steady run with {n} sessions to count"));
        }
        for (s, &got) in counts.iter().enumerate() {
            if self.check.servers[s].removed {
                continue;
            }
            let weight = u64::from(self.check.servers[s].weight);
            // Within `weight + 1` of `n * weight / total`, in units of
            // 1/total: the loops take the process's turns.
            let (expected, slack) = (n * weight, (weight + 1) * total);
            if got * total > expected + slack || got * total + slack < expected {
                let name = self.server_name(s);
                return self.fail(format!(
                    "{name} (weight {weight} of {total}) got {got} of {n} sessions: {counts:?}"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lines_read_as_haproxy_writes_them() {
        let to = |tail| match change(tail) {
            Change::To(seen, admin) => Some((seen, admin)),
            _ => None,
        };
        assert_eq!(
            to("is DOWN, reason: Layer4 timeout, check duration: 1001ms. 0 active"),
            Some((Seen::Down, false))
        );
        assert_eq!(
            to("is DOWN, changed from CLI. 1 active and 0 backup servers left."),
            Some((Seen::Down, true))
        );
        assert_eq!(
            to("is going DOWN for maintenance. 1 active"),
            Some((Seen::Down, true))
        );
        assert_eq!(
            to("is UP/READY (leaving forced maintenance)."),
            Some((Seen::Up, true))
        );
        assert_eq!(
            to("is stopping, changed from CLI. 1 active"),
            Some((Seen::Nolb, true))
        );
        assert_eq!(
            to("is UP, reason: Layer4 check passed, check duration: 0ms."),
            Some((Seen::Up, false))
        );
        assert_eq!(to("is UP (leaving forced drain)."), None);
        assert_eq!(to("enters drain state. 1 active"), None);
        assert!(matches!(
            change("was DOWN and now enters maintenance."),
            Change::StillDown
        ));
    }
}
