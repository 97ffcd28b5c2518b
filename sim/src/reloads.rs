//! Reloads in place at random times: weir's configuration is applied
//! again through the stats socket's `reload` (the driver's part: the
//! new configuration parsed, then `Balancer::reload`), changed: servers
//! left out, brought back, added (a spare world server), renamed (in
//! weir a removed server and a new one), re-addressed (a new port of the
//! same world server: a new server too), retuned (`weight`, `maxconn`,
//! `inter`/`rise`/`fall`), and `balance` or timeouts changed.
//!
//! Drawn from their own stream of the seed, and only for scenarios made
//! with [`Scenario::with_reloads`], so that the runs every other seed
//! draws stay the same. The world keeps a name map ([`Incarnation`]s:
//! each world server under each name and port it had, and when), so
//! that the checks follow renames.
//!
//! Invariants (besides every other one: no session lost or cut, the
//! runtime commands' own): a session accepted after a server left the
//! configuration (removed, renamed, re-addressed) never reaches it: not
//! its old port (the network tells), not its old name (the tcplog line
//! tells); every server the reload keeps (same name and address) shows
//! the same `show stat` status before and after it (its health
//! survives; with `rise`/`fall` changed, the same state); a weight the
//! file changed is the weight a steady run's shares follow.

use std::time::Duration;

use weir_core::runtime_api::Level;

use crate::loops::Message;
use crate::reconfig::{Entry, Layout};
use crate::rng::Rng;
use crate::rotation::{Seen, ServerModel};
use crate::scenario::{Check, Scenario, ServerSpec, TRAFFIC_PORT};
use crate::trace::trace;
use crate::world::World;

/// Separates the reloads' draws from the scenario's.
const STREAM: u64 = 0x7e10_ad00_5eed_0001;

/// One reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// When it happens.
    pub at: Duration,
    /// What it changes, in words.
    pub what: Vec<String>,
    /// The configuration it applies.
    pub layout: Layout,
}

/// The algorithms a reload may switch to.
const BALANCES: &[&str] = &[
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "random",
];

/// Draws reloads from `first`, the run's first layout.
struct Draw<'a> {
    rng: Rng,
    layout: Layout,
    /// Each server's entry before a reload left it out.
    gone: Vec<Option<Entry>>,
    /// The servers' first names.
    names: &'a [String],
    /// Renames and new ports so far (each one new).
    renamed: u32,
    ported: u16,
    /// A steady run: only renames, new ports, weights, checks, timeouts.
    steady: bool,
    checked: bool,
}

impl Draw<'_> {
    fn live(&mut self) -> Option<usize> {
        let live: Vec<usize> = (0..self.layout.servers.len())
            .filter(|&s| self.layout.servers[s].is_some())
            .collect();
        (!live.is_empty()).then(|| *self.rng.pick(&live))
    }

    /// One change to the layout, in words (`None`: it did not apply).
    fn change(&mut self) -> Option<String> {
        let kind = self.rng.range(0, 8);
        if self.steady && matches!(kind, 0 | 1 | 5 | 7) {
            return None;
        }
        if kind == 1 {
            let out: Vec<usize> = (0..self.layout.servers.len())
                .filter(|&s| self.layout.servers[s].is_none())
                .collect();
            if out.is_empty() {
                return None;
            }
            let s = out[self.rng.range(0, out.len() as u64 - 1) as usize];
            let entry = self.gone[s]
                .clone()
                .unwrap_or_else(|| Entry::listed(&self.names[s], TRAFFIC_PORT));
            let what = format!("add {} at port {}", entry.name, entry.port);
            self.layout.servers[s] = Some(entry);
            return Some(what);
        }
        if kind == 7 {
            let balance = *self.rng.pick(BALANCES);
            self.layout.balance = Some(balance);
            return Some(format!("balance {balance}"));
        }
        if kind == 8 {
            let t = [
                self.rng.range(200, 3000),
                self.rng.range(3000, 60_000),
                self.rng.range(3000, 60_000),
            ];
            self.layout.timeouts = Some(t);
            return Some(format!(
                "timeouts connect {}ms client {}ms server {}ms",
                t[0], t[1], t[2]
            ));
        }
        let s = self.live()?;
        let live = self.layout.servers.iter().flatten().count();
        let entry = self.layout.servers[s].as_mut()?;
        let old = entry.name.clone();
        Some(match kind {
            0 if live > 1 => {
                self.gone[s] = self.layout.servers[s].take();
                format!("remove {old}")
            }
            0 => return None,
            2 => {
                self.renamed += 1;
                entry.name = format!("{}-r{}", self.names[s], self.renamed);
                format!("rename {old} to {}", entry.name)
            }
            3 => {
                self.ported += 1;
                entry.port = 1000 + self.ported;
                format!("move {old} to port {}", entry.port)
            }
            4 => {
                let w = self.rng.range(1, 10) as u32;
                entry.weight = Some(w);
                format!("{old} weight {w}")
            }
            5 => {
                let m = self.rng.range(1, 8) as u32;
                entry.maxconn = Some(m);
                format!("{old} maxconn {m}")
            }
            _ if !self.checked => return None,
            _ => {
                let inter = self.rng.range(200, 2000);
                let (rise, fall) = (self.rng.range(1, 3) as u32, self.rng.range(1, 4) as u32);
                entry.check = Some((inter, rise, fall));
                format!("{old} inter {inter}ms rise {rise} fall {fall}")
            }
        })
    }
}

impl Scenario {
    /// The same run with reloads at random times, and a spare server a
    /// reload may add. In a steady run ([`Scenario::weighted`]) the
    /// reloads come before it is steady and keep every server in (and
    /// `roundrobin`), so that its shares can be checked.
    pub fn with_reloads(mut self) -> Scenario {
        let mut rng = Rng::new(self.seed ^ STREAM);
        let active = self
            .clients
            .iter()
            .map(|c| c.start)
            .max()
            .unwrap_or_default()
            .max(Duration::from_secs(1));
        let until = self
            .steady_from
            .map_or(active, |t| t.saturating_sub(Duration::from_secs(1)));
        let spare = ServerSpec {
            backup: false,
            ..crate::scenario::server(&mut rng, self.servers.len(), self.check_port)
        };
        self.servers.push(spare);
        let first = self.first_layout();
        let all: Vec<String> = self.servers.iter().map(|s| s.name.clone()).collect();
        let mut times: Vec<Duration> = (0..rng.range(1, 4))
            .map(|_| rng.millis(0, until.as_millis() as u64))
            .collect();
        times.sort();
        let mut draw = Draw {
            rng,
            gone: vec![None; first.servers.len()],
            layout: first,
            names: &all,
            renamed: 0,
            ported: 0,
            steady: self.steady_from.is_some(),
            checked: self.check != Check::None,
        };
        self.reloads = times
            .into_iter()
            .map(|at| {
                let what = (0..draw.rng.range(1, 3))
                    .filter_map(|_| draw.change())
                    .collect();
                Reload {
                    at,
                    what,
                    layout: draw.layout.clone(),
                }
            })
            .collect();
        self
    }

    /// The layout of the run's first configuration.
    pub(crate) fn first_layout(&self) -> Layout {
        let listed = |s: &ServerSpec| self.config.contains(&format!("server {} ", s.name));
        Layout {
            servers: (self.servers.iter())
                .map(|s| listed(s).then(|| Entry::listed(&s.name, TRAFFIC_PORT)))
                .collect(),
            ..Layout::default()
        }
    }

    /// The text of `layout`.
    pub(crate) fn render(&self, layout: &Layout) -> String {
        let first: Vec<String> = (self.servers.iter())
            .filter(|s| self.config.contains(&format!("server {} ", s.name)))
            .map(|s| s.name.clone())
            .collect();
        let hosts: Vec<String> = self.servers.iter().map(|s| s.host.clone()).collect();
        layout.render(&self.config, &first, &hosts)
    }
}

/// A world server under one name and port, from when a configuration
/// listed it (a moment, see `World::moment`) to when one no longer did
/// (a moment and a time).
#[derive(Debug, Clone)]
pub(crate) struct Incarnation {
    pub s: usize,
    pub name: String,
    pub port: u16,
    pub from: u64,
    pub until: Option<(u64, Duration)>,
}

impl World {
    /// Reload `i`: `reload` on the stats socket, weir asks for the
    /// configuration, gets it, and the checks follow.
    pub(crate) fn run_reload(&mut self, i: usize) {
        let reload = self.scenario.reloads[i].clone();
        let before = match i.checked_sub(1) {
            Some(p) => self.scenario.reloads[p].layout.clone(),
            None => self.scenario.first_layout(),
        };
        trace!(self, "operator", "reload: {}", reload.what.join(", "));
        let statuses = self.statuses();
        let t = self.t();
        let answer = self.loops[0].lb.handle_command(t, "reload", Level::Admin);
        if answer != "Reload requested.\n\n" {
            return self.fail(format!("'reload' answered {answer:?}"));
        }
        self.drain(0);
        if !std::mem::take(&mut self.reload_asked) {
            return self.fail("'reload' did not ask the driver to reload".into());
        }
        let text = self.scenario.render(&reload.layout);
        let config = match self.parse(&text) {
            Ok(config) => config,
            Err(e) => return self.fail(format!("the reloaded configuration: {e}")),
        };
        let weights: Vec<(String, u32)> = (config.backends[0].servers.iter())
            .map(|s| (s.name.clone(), s.weight))
            .collect();
        self.note_limits(&config);
        // Loop 0 reloads, then sends each other loop its copy.
        let mut copies = crate::loops::configs(&config).into_iter();
        let Some(first) = copies.next() else {
            return;
        };
        let t = self.t();
        let report = self.loops[0].lb.reload(t, first);
        trace!(self, "weir", "reloaded: {report:?}");
        self.config = text;
        let weight = |name: &str| weights.iter().find(|(n, _)| n == name).map_or(1, |w| w.1);
        let mut kept = Vec::new();
        for s in 0..reload.layout.servers.len() {
            let (was, is) = (&before.servers[s], &reload.layout.servers[s]);
            match (was, is) {
                (Some(b), Some(a)) if (&b.name, b.port) == (&a.name, a.port) => {
                    kept.push((a.name.clone(), b.check != a.check));
                    if b.weight != a.weight {
                        let model = &mut self.check.servers[s];
                        (model.weight, model.initial) = (weight(&a.name), weight(&a.name));
                        model.max_weight = model.max_weight.max(model.weight);
                        self.refresh(s);
                    }
                }
                (was, is) => {
                    if was.is_some() {
                        self.leaves(s, is.is_none());
                    }
                    if let Some(a) = is {
                        self.joins(s, a, weight(&a.name));
                    }
                }
            }
        }
        // The balancing starts again: round-robin's window too.
        let (step, now) = (self.moment, self.now);
        for model in self.check.servers.iter_mut().filter(|m| m.closed.is_none()) {
            model.opened = (step, now);
        }
        let copies: Vec<_> = copies.collect();
        self.tell_loops(|lp| vec![Message::Reload(Box::new(copies[lp - 1].clone()))]);
        self.drain(0);
        let after = self.statuses();
        for (name, retuned) in kept {
            let was = statuses.iter().find(|(n, _)| *n == name);
            let is = after.iter().find(|(n, _)| *n == name);
            let (Some((_, was)), Some((_, is))) = (was, is) else {
                return self.fail(format!("server {name}, kept, is not in show stat"));
            };
            let word = |s: &str| s.split(' ').next().unwrap_or_default().to_owned();
            if was != is && !(retuned && word(was) == word(is)) {
                return self.fail(format!(
                    "server {name} was {was} before the reload, {is} after"
                ));
            }
        }
        self.check_counters_now();
    }

    /// World server `s`'s server leaves the configuration (for good when
    /// `out`, else under its old name or port).
    fn leaves(&mut self, s: usize, out: bool) {
        let (step, now) = (self.moment, self.now);
        for inc in self.incarnations.iter_mut().filter(|i| i.s == s) {
            inc.until.get_or_insert((step, now));
        }
        if out {
            let model = &mut self.check.servers[s];
            model.removed = true;
            model.ever_removed = true;
            self.refresh(s);
        }
    }

    /// World server `s` joins the configuration as `entry`: a new server
    /// in weir, UP from the bottom, checked again, nothing set at run time.
    fn joins(&mut self, s: usize, entry: &Entry, weight: u32) {
        let (step, now) = (self.moment, self.now);
        self.incarnations.push(Incarnation {
            s,
            name: entry.name.clone(),
            port: entry.port,
            from: step,
            until: None,
        });
        let was = self.check.servers[s].max_weight;
        self.check.servers[s] = ServerModel {
            seen: Seen::Up,
            revived: now,
            ever_removed: true,
            closed: self.check.servers[s].closed,
            max_weight: was.max(weight),
            ..ServerModel::new(weight)
        };
        self.refresh(s);
    }

    /// The name server `s` has, or last had, in the configuration.
    pub(crate) fn server_name(&self, s: usize) -> String {
        (self.incarnations.iter().rev())
            .find(|i| i.s == s)
            .map_or_else(|| self.scenario.servers[s].name.clone(), |i| i.name.clone())
    }

    /// The world server that `name` is or was.
    pub(crate) fn server_index(&self, name: &str) -> Option<usize> {
        self.incarnations
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.s)
    }

    /// Whether world server `s` is in the configuration now.
    pub(crate) fn listed(&self, s: usize) -> bool {
        self.incarnations
            .iter()
            .any(|i| i.s == s && i.until.is_none())
    }

    /// The moment since which world server `s` is in the configuration
    /// under its present name and port.
    pub(crate) fn listed_since(&self, s: usize) -> u64 {
        (self.incarnations.iter().rev())
            .find(|i| i.s == s && i.until.is_none())
            .map_or(0, |i| i.from)
    }

    /// When port `port` of world server `s` left the configuration, if it
    /// is no longer in it (a new session must not connect there).
    pub(crate) fn port_gone(&self, s: usize, port: u16) -> Option<(u64, Duration)> {
        let on_port: Vec<&Incarnation> = (self.incarnations.iter())
            .filter(|i| i.s == s && i.port == port)
            .collect();
        if on_port.iter().any(|i| i.until.is_none()) {
            return None;
        }
        on_port.iter().filter_map(|i| i.until).max()
    }

    /// Client `c`'s tcplog line does not name a server that had left the
    /// configuration for good when weir accepted it, as the loop that
    /// accepted it knew (one accepted before may wait in the queue and
    /// reach the server a rename made).
    pub(crate) fn check_logged_server(&mut self, c: usize, name: &str) {
        if self.server_index(name).is_none() {
            return;
        }
        let (lp, accepted) = (self.clients[c].lp, self.clients[c].accepted_at);
        let live = (self.incarnations.iter())
            .filter(|i| i.name == name)
            .any(|i| {
                // Still listed, or not yet gone for that loop.
                i.until
                    .is_none_or(|(u, _)| self.learned(lp, u).is_none_or(|l| accepted < l))
            });
        if !live {
            self.fail(format!(
                "client {c}, accepted after {name} left the configuration, was logged on it"
            ));
        }
    }

    /// Each server's `status` in `show stat` (loop 0's).
    fn statuses(&mut self) -> Vec<(String, String)> {
        let t = self.t();
        let text = self.loops[0]
            .lb
            .handle_command(t, "show stat", Level::Admin);
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let Some(i) = header.iter().position(|c| *c == "status") else {
            return Vec::new();
        };
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|r| r.first() == Some(&"app") && r.get(1).is_some_and(|s| *s != "BACKEND"))
            .filter_map(|r| Some((r[1].to_owned(), (*r.get(i)?).to_owned())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reload_keeps_a_server_and_parses() {
        for seed in 0..300 {
            let scenario = Scenario::generate(seed).with_reloads();
            assert!((1..=4).contains(&scenario.reloads.len()));
            let mut names = std::collections::BTreeMap::new();
            for r in &scenario.reloads {
                assert!(
                    r.layout.servers.iter().flatten().count() >= 1,
                    "seed {seed}"
                );
                for (s, e) in r.layout.servers.iter().enumerate() {
                    if let Some(e) = e {
                        assert_eq!(*names.entry(e.name.clone()).or_insert(s), s, "seed {seed}");
                    }
                }
                let text = scenario.render(&r.layout);
                assert!(
                    crate::world::parse_config(&scenario, &text).is_ok(),
                    "seed {seed}: {text}"
                );
            }
        }
    }

    #[test]
    fn a_steady_run_keeps_its_servers_and_roundrobin_until_it_is_steady() {
        for seed in 0..50 {
            let scenario = Scenario::weighted(seed).with_reloads();
            let steady = scenario.steady_from.unwrap_or_default();
            for r in &scenario.reloads {
                assert!(r.at < steady);
                assert_eq!(r.layout.balance, None);
                assert!(r.layout.servers[..3].iter().all(Option::is_some), "{r:?}");
            }
        }
    }
}
