//! Reloads in place at random times: weir's configuration is applied
//! again through the stats socket's `reload` (the driver's part: the
//! new configuration parsed, then `Balancer::reload`), sometimes without
//! one of the servers, which a later reload brings back as a new server.
//!
//! Drawn from their own stream of the seed, and only for scenarios made
//! with [`Scenario::with_reloads`], so that the runs every other seed
//! draws stay the same. Runtime commands are left out of such runs (a
//! command on a removed server has no server to act on).
//!
//! Invariants (besides every other one: no session lost or cut): a
//! removed server gets no session accepted after its removal; every
//! server the reload keeps shows the same status in `show stat` before
//! and after it (its health survives).

use std::time::Duration;

use weir_core::runtime_api::Level;

use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::trace::trace;
use crate::world::World;

/// Separates the reloads' draws from the scenario's.
const STREAM: u64 = 0x7e10_ad00_5eed_0001;

/// One reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reload {
    /// When it happens.
    pub at: Duration,
    /// The server the new configuration leaves out (`None`: all of them).
    pub removed: Option<usize>,
}

/// One to four reloads over the first `active` of a run of `servers`
/// servers: each leaves out a server (when none is out and another one
/// stays), brings the one out back, or changes nothing.
pub fn schedule(seed: u64, servers: usize, active: Duration) -> Vec<Reload> {
    let mut rng = Rng::new(seed ^ STREAM);
    let mut times: Vec<Duration> = (0..rng.range(1, 4))
        .map(|_| rng.millis(0, active.as_millis() as u64))
        .collect();
    times.sort();
    let mut out = None;
    times
        .into_iter()
        .map(|at| {
            out = match out {
                Some(_) => None,
                None if servers > 1 && rng.chance(70) => {
                    Some(rng.range(0, servers as u64 - 1) as usize)
                }
                None => None,
            };
            Reload { at, removed: out }
        })
        .collect()
}

impl Scenario {
    /// The same run with reloads at random times (and without runtime
    /// commands).
    pub fn with_reloads(mut self) -> Scenario {
        let active = self
            .clients
            .iter()
            .map(|c| c.start)
            .max()
            .unwrap_or_default();
        self.reloads = schedule(
            self.seed,
            self.servers.len(),
            active.max(Duration::from_secs(1)),
        );
        self.commands.clear();
        self
    }

    /// The configuration without server `removed`.
    pub(crate) fn config_without(&self, removed: Option<usize>) -> String {
        let Some(s) = removed else {
            return self.config.clone();
        };
        let line = format!("server {} ", self.servers[s].name);
        (self.config.lines())
            .filter(|l| !l.trim_start().starts_with(&line))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

impl World {
    /// Reload `i`: `reload` on the stats socket, weir asks for the
    /// configuration, gets it, and the checks follow.
    pub(crate) fn run_reload(&mut self, i: usize) {
        let reload = self.scenario.reloads[i];
        let was_out = i
            .checked_sub(1)
            .and_then(|p| self.scenario.reloads[p].removed);
        trace!(
            self,
            "operator", "reload (server out: {:?})", reload.removed
        );
        let before = self.statuses();
        let t = self.t();
        let answer = self.lb.handle_command(t, "reload", Level::Admin);
        if answer != "Reload requested.\n\n" {
            return self.fail(format!("'reload' answered {answer:?}"));
        }
        self.drain();
        if !std::mem::take(&mut self.reload_asked) {
            return self.fail("'reload' did not ask the driver to reload".into());
        }
        let text = self.scenario.config_without(reload.removed);
        let config = match self.parse(&text) {
            Ok(config) => config,
            Err(e) => return self.fail(format!("the reloaded configuration: {e}")),
        };
        let report = self.lb.reload(self.t(), config);
        trace!(self, "weir", "reloaded: {report:?}");
        if let Some(s) = reload.removed {
            self.check.servers[s].removed = true;
            self.check.servers[s].ever_removed = true;
            self.refresh(s);
        }
        if let Some(s) = was_out.filter(|&s| reload.removed != Some(s)) {
            // Back as a new server: UP from the bottom, checked again.
            let model = &mut self.check.servers[s];
            model.removed = false;
            model.seen = crate::rotation::Seen::Up;
            model.revived = self.now;
            self.refresh(s);
        }
        self.drain();
        let after = self.statuses();
        for (name, status) in before {
            let kept = after.iter().find(|(n, _)| *n == name);
            if let Some((_, now)) = kept.filter(|_| !self.is_out(&name, was_out)) {
                if *now != status {
                    return self.fail(format!(
                        "server {name} was {status} before the reload, {now} after"
                    ));
                }
            }
        }
        self.check_counters_now();
    }

    /// Whether `name` is the server that came back in this reload.
    fn is_out(&self, name: &str, was_out: Option<usize>) -> bool {
        was_out.is_some_and(|s| self.scenario.servers[s].name == name)
    }

    /// Each server's `status` in `show stat`.
    fn statuses(&mut self) -> Vec<(String, String)> {
        let t = self.t();
        let text = self.lb.handle_command(t, "show stat", Level::Admin);
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
    fn a_server_left_out_comes_back_at_the_next_reload() {
        for seed in 0..200 {
            let reloads = schedule(seed, 3, Duration::from_secs(5));
            assert!((1..=4).contains(&reloads.len()));
            for pair in reloads.windows(2) {
                assert!(pair[0].at <= pair[1].at);
                if pair[0].removed.is_some() {
                    assert_eq!(pair[1].removed, None, "seed {seed}: {reloads:?}");
                }
            }
        }
        assert!(
            schedule(7, 1, Duration::from_secs(5))
                .iter()
                .all(|r| r.removed.is_none())
        );
    }
}
