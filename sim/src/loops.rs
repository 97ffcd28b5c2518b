//! Several event loops in one world (`nbthread N`), as the drivers run
//! them (`driver/src/loops.rs`; the design is `weir_core::loops`).
//!
//! * **Instances.** [`build`] makes one `Balancer` per loop from the same
//!   configuration, each told its index and the count
//!   (`Global::event_loop`), with the seeds the drivers give them. It is
//!   the one place instances are made (and reloads' configurations are
//!   copied, [`configs`]). With several loops they count their limits
//!   in one pool (`Balancer::share_limits`), as the drivers' loops do.
//! * **Accept.** The loops share one listening socket: each client the
//!   kernel queued is accepted by one loop that watches it, drawn from
//!   the run's seeded randomness (any loop may win). The loop takes the
//!   connection's tokens first (`Balancer::admit`); without them it
//!   pauses and the client stays queued.
//! * **Tokens freed.** When a loop gives back tokens another loop waited
//!   for (`Balancer::poll_freed`), that loop is told
//!   (`Balancer::limits_freed`) after a small seeded delay, as a driver
//!   wakes another thread.
//! * **Messages from loop 0.** After every input of loop 0, what it
//!   published ([`weir_core::Balancer::poll_news`]) goes to every other
//!   loop as one batch, as the driver's inbox carries it; so do reloads
//!   (loop 0 applies them first) and soft stops. A batch arrives after a
//!   small seeded delay (sometimes none, at most [`MAX_DELAY`]), batches
//!   to one loop in order, and the loop applies it as one turn.
//! * **Reports to loop 0.** After every input of a follower, what it
//!   noted for the passive checks ([`weir_core::Balancer::poll_reports`])
//!   goes to loop 0 as one batch, after a small seeded delay (as news
//!   does, at most [`MAX_DELAY`], batches of one follower in order); loop
//!   0 counts it as one turn ([`weir_core::Balancer::apply_report`]).
//! * **Counters.** Every [`STATS_PERIOD_MS`] each follower hands loop 0 a
//!   snapshot ([`weir_core::Balancer::stats_share`]); before a stats
//!   command the world asks every follower for one at once, as the
//!   driver does when a stats connection comes.
//!
//! Each batch is stamped with the moment loop 0 sent it and the moment
//! the loop applied it, so the checks know when a loop learned of a
//! change ([`World::learned`]): what loop 0 closed, a follower must keep
//! new sessions from once it knows, not before.
//!
//! Invariants (besides every other one, for the process as a whole):
//! once a loop has applied every batch sent to it, its servers' address,
//! health, admin state and weight are loop 0's (`show servers state`); a
//! follower never connects to a check port nor sends a check; it writes
//! no line but its sessions' (server-state lines are loop 0's, once);
//! sessions that end while a follower applies news end as the news says
//! (`K` or `D` on a server the news names, or `S` for a session that
//! server had already aborted); a follower holds no timer
//! once its sessions are over.

use std::time::{Duration, Instant, SystemTime};

use weir_core::Balancer;
use weir_core::config::Config;
use weir_core::limits::LimitPool;
use weir_core::loops::{EventLoop, LoopNews, LoopReport, LoopStats, STATS_PERIOD_MS};
use weir_core::runtime_api::Level;
use weir_core::stats::ForcedHealth;

use crate::net::Peer;
use crate::trace::trace;
use crate::world::{Ev, World};

/// Longest delay of a batch from loop 0 to another loop.
pub(crate) const MAX_DELAY: Duration = Duration::from_millis(5);

/// How often followers hand loop 0 their counters.
const STATS_PERIOD: Duration = Duration::from_millis(STATS_PERIOD_MS);

/// Spreads the loops' seeds, as the drivers do.
const SEED_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// One of weir's event loops: its instance and its view of the listener.
pub(crate) struct Loop {
    pub lb: Balancer,
    /// It watches the listening socket (not paused, not closed).
    pub accepting: bool,
    /// When it got its soft stop.
    pub soft_stopped: Option<Duration>,
    /// When it closed its listener.
    pub unbound: Option<Duration>,
    /// Its wake-ups in a row that gave no action.
    pub idle: u64,
    /// When it last had an input (and its actions were drained).
    pub busy: Duration,
}

/// What loop 0 sends another loop.
#[derive(Debug)]
pub(crate) enum Message {
    News(LoopNews),
    /// The configuration loop 0 reloaded, for this loop.
    Reload(Box<Config>),
    SoftStop,
}

/// The messages between the loops.
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    /// Batches on their way to each loop (loop 0's entry unused).
    in_flight: Vec<usize>,
    /// When the last batch to each loop arrives (keeps them in order).
    last: Vec<Duration>,
    /// When the last batch of reports from each loop reaches loop 0.
    last_report: Vec<Duration>,
    /// Each loop's batches applied: the moment loop 0 sent it, the
    /// moment the loop applied it.
    applied: Vec<Vec<(u64, u64)>>,
    /// The followers' latest counters as loop 0 holds them (loop 0's
    /// entry unused).
    stats: Vec<LoopStats>,
}

/// `config` as each of the loops its `nbthread` asks for runs it: told
/// its index and the count, as the drivers tell each instance.
pub(crate) fn configs(config: &Config) -> Vec<Config> {
    let count = config.global.nbthread.unwrap_or(1).max(1);
    (0..count)
        .map(|index| {
            let mut copy = config.clone();
            copy.global.event_loop = EventLoop { index, count };
            copy
        })
        .collect()
}

/// weir's instances for `config`, loop 0 first (see [`configs`]).
/// With several loops, every instance counts its limits in one pool, as
/// the drivers share one.
pub(crate) fn build(config: &Config, seed: u64, now: Instant, wall: SystemTime) -> Vec<Loop> {
    let configs = configs(config);
    let pool = (configs.len() > 1).then(LimitPool::new);
    (configs.into_iter().enumerate())
        .map(|(i, config)| {
            let seed = seed.wrapping_add((i as u64).wrapping_mul(SEED_STEP));
            let mut lb = Balancer::new(config, seed, now, wall, 1);
            if let Some(pool) = &pool {
                lb.share_limits(pool.clone());
            }
            Loop {
                lb,
                accepting: true,
                soft_stopped: None,
                unbound: None,
                idle: 0,
                busy: Duration::ZERO,
            }
        })
        .collect()
}

impl Fleet {
    /// The messages between `count` loops.
    pub(crate) fn new(count: usize) -> Fleet {
        Fleet {
            in_flight: vec![0; count],
            last: vec![Duration::ZERO; count],
            last_report: vec![Duration::ZERO; count],
            applied: vec![Vec::new(); count],
            stats: vec![LoopStats::default(); count],
        }
    }
}

/// Who a loop is in the trace.
pub(crate) fn who(lp: usize) -> String {
    match lp {
        0 => "weir".into(),
        _ => format!("weir loop {lp}"),
    }
}

impl World {
    /// The followers' first counters are due at seeded offsets.
    pub(crate) fn start_loops(&mut self) {
        for lp in 1..self.loops.len() {
            let at = self.rng.millis(0, STATS_PERIOD_MS);
            self.queue.push(at, Ev::StatsDue(lp));
        }
    }

    /// Sends what loop 0 published during its last input to every other
    /// loop, as one batch each.
    pub(crate) fn publish_news(&mut self) {
        let mut news = Vec::new();
        while let Some(n) = self.loops[0].lb.poll_news() {
            news.push(n);
        }
        if news.is_empty() {
            return;
        }
        trace!(self, "weir", "publishes {news:?}");
        self.tell_loops(|_| news.iter().cloned().map(Message::News).collect());
    }

    /// Sends the batch `batch(lp)` to each loop `lp` but loop 0, each
    /// after its own delay.
    pub(crate) fn tell_loops(&mut self, batch: impl Fn(usize) -> Vec<Message>) {
        let sent = self.moment;
        self.moment += 1;
        for lp in 1..self.loops.len() {
            let delay = self.delay();
            let at = (self.now + delay).max(self.fleet.last[lp]);
            self.fleet.last[lp] = at;
            self.fleet.in_flight[lp] += 1;
            self.queue.push(at, Ev::Deliver(lp, sent, batch(lp)));
        }
    }

    /// A batch sent at moment `sent` reaches loop `lp`, which applies it.
    pub(crate) fn deliver(&mut self, lp: usize, sent: u64, batch: Vec<Message>) {
        self.fleet.in_flight[lp] -= 1;
        // Sessions news may end: those of a server it takes down (`D`,
        // with `on-marked-down shutdown-sessions`; `S` for one the server
        // had already aborted while it still delivered its reply: the
        // first cause stays, as HAProxy's `stream_shutdown` keeps it), and
        // those `shutdown sessions server` ends (`K`), which must be all
        // of them.
        let mut may_end = Vec::new();
        let mut shutdowns = Vec::new();
        for message in &batch {
            match message {
                Message::News(LoopNews::Server(n))
                    if n.health == ForcedHealth::Down || n.forced_maint =>
                {
                    may_end.push((n.server.clone(), 'D'));
                    may_end.push((n.server.clone(), 'S'));
                }
                Message::News(LoopNews::ShutdownSessions { server, .. }) => {
                    may_end.push((server.clone(), 'K'));
                    if let Some(s) = self.server_index(server) {
                        shutdowns.push((s, self.carried(lp, s)));
                    }
                }
                _ => {}
            }
        }
        // `hard-stop-after` ran out: any session may end, as the
        // hard-stop checks allow.
        let news = batch
            .iter()
            .all(|m| matches!(m, Message::News(n) if *n != LoopNews::HardStop));
        self.check.in_news = news.then_some(may_end);
        for message in batch {
            let t = self.t();
            match message {
                Message::News(news) => {
                    trace!(self, who(lp), "applies {news:?}");
                    if news == LoopNews::HardStop {
                        // It stops the loop if its soft stop is late.
                        let l = &mut self.loops[lp];
                        l.soft_stopped = l.soft_stopped.or(Some(self.now));
                    }
                    self.loops[lp].lb.apply_news(t, &news);
                }
                Message::Reload(config) => {
                    let report = self.loops[lp].lb.reload(t, *config);
                    trace!(self, who(lp), "reloaded: {report:?}");
                }
                Message::SoftStop => {
                    trace!(self, who(lp), "gets a soft stop");
                    self.loops[lp].soft_stopped = Some(self.now);
                    self.loops[lp].lb.soft_stop(t);
                }
            }
            self.drain(lp);
        }
        self.check.in_news = None;
        self.fleet.applied[lp].push((sent, self.moment));
        for (s, carried) in shutdowns {
            self.after_shutdown_sessions(lp, s, &carried);
        }
        if self.fleet.in_flight[lp] == 0 {
            self.check_loop_agrees(lp);
        }
    }

    /// Sends what follower `lp` noted for the passive checks during its
    /// last input to loop 0, as one batch, after a delay.
    pub(crate) fn send_reports(&mut self, lp: usize) {
        let mut batch = Vec::new();
        while let Some(report) = self.loops[lp].lb.poll_reports() {
            batch.push(report);
        }
        if batch.is_empty() {
            return;
        }
        trace!(self, who(lp), "reports {batch:?}");
        let delay = self.delay();
        let at = (self.now + delay).max(self.fleet.last_report[lp]);
        self.fleet.last_report[lp] = at;
        self.queue.push(at, Ev::Report(lp, batch));
    }

    /// A batch of follower `lp`'s reports reaches loop 0, which counts
    /// them.
    pub(crate) fn count_reports(&mut self, lp: usize, batch: Vec<LoopReport>) {
        let t = self.t();
        trace!(self, "weir", "counts the reports of {}", who(lp));
        for report in &batch {
            self.loops[0].lb.apply_report(t, report);
        }
        self.drain(0);
    }

    /// A seeded delay between loops: sometimes none, at most
    /// [`MAX_DELAY`].
    fn delay(&mut self) -> Duration {
        match self.rng.chance(25) {
            true => Duration::ZERO,
            false => Duration::from_nanos(self.rng.range(0, MAX_DELAY.as_nanos() as u64)),
        }
    }

    /// Tells the loops that waited for the tokens loop `lp` gave back,
    /// each after its own delay (a driver wakes another thread).
    pub(crate) fn wake_freed(&mut self, lp: usize) {
        let freed = self.loops[lp].lb.poll_freed();
        for other in (0..self.loops.len()).filter(|&o| o < 64 && freed & (1 << o) != 0) {
            let delay = self.delay();
            trace!(self, who(lp), "frees tokens loop {other} waits for");
            self.queue.push(self.now + delay, Ev::Freed(other));
        }
    }

    /// The moment loop `lp` learned of what loop 0 did at `moment`: when
    /// it applied the first batch sent since (`None`: not yet).
    pub(crate) fn learned(&self, lp: usize, moment: u64) -> Option<u64> {
        if lp == 0 {
            return Some(moment);
        }
        let applied = &self.fleet.applied[lp];
        let i = applied.partition_point(|&(sent, _)| sent < moment);
        applied.get(i).map(|&(_, at)| at)
    }

    /// Follower `lp` hands loop 0 its counters, and is due again a
    /// period later.
    pub(crate) fn stats_due(&mut self, lp: usize) {
        self.snapshot(lp);
        let peers = self.fleet.stats[1..].to_vec();
        self.loops[0].lb.set_peer_stats(peers);
        self.queue.push(self.now + STATS_PERIOD, Ev::StatsDue(lp));
        if self.fleet.in_flight[lp] == 0 {
            self.check_loop_agrees(lp);
        }
    }

    /// A stats connection comes to loop 0: every follower is asked for
    /// its counters of now, as the driver asks and waits.
    pub(crate) fn ask_stats(&mut self) {
        if self.loops.len() == 1 {
            return;
        }
        for lp in 1..self.loops.len() {
            self.snapshot(lp);
        }
        let peers = self.fleet.stats[1..].to_vec();
        self.loops[0].lb.set_peer_stats(peers);
    }

    fn snapshot(&mut self, lp: usize) {
        let t = self.t();
        self.fleet.stats[lp] = self.loops[lp].lb.stats_share(t);
        self.drain(lp);
    }

    /// Client sessions of world server `s` loop `lp` carries (client ids,
    /// as the server's connections saw them; sessions accepted before a
    /// reload renamed or moved it may be on its old self).
    pub(crate) fn carried(&self, lp: usize, s: usize) -> Vec<usize> {
        let since = self.listed_since(s);
        (self.ids.iter())
            .filter(|&(&(i, _), &l)| {
                i == lp && self.net.links[l].peer == Peer::Server(s) && self.is_traffic(l)
            })
            .filter_map(|(_, l)| self.check.owner.get(l).map(|&c| c as usize))
            .filter(|&c| self.clients[c].accepted_at >= since)
            .collect()
    }

    /// Loop `lp` has applied all loop 0 sent it: its servers are loop
    /// 0's (address, health, admin state, weight).
    pub(crate) fn check_loop_agrees(&mut self, lp: usize) {
        let (lead, theirs) = (self.servers_state(0), self.servers_state(lp));
        if lead != theirs {
            self.fail(format!(
                "loop {lp}, up to date, sees the servers as {theirs:?}; loop 0 as {lead:?}"
            ));
        }
    }

    /// Each server of loop `lp` as `show servers state` gives it: name,
    /// address and port, health (UP, NOLB or DOWN), admin flags, weight.
    fn servers_state(&mut self, lp: usize) -> Vec<[String; 5]> {
        let t = self.t();
        let text = self.loops[lp]
            .lb
            .handle_command(t, "show servers state app", Level::Admin);
        let mut lines = text.lines().skip(1);
        let header: Vec<&str> = (lines.next().unwrap_or_default())
            .trim_start_matches("# ")
            .split(' ')
            .collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let wanted = [
            "srv_name",
            "srv_addr",
            "srv_port",
            "srv_op_state",
            "srv_admin_state",
            "srv_uweight",
        ]
        .map(column);
        let mut servers: Vec<[String; 5]> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let words: Vec<&str> = l.split(' ').collect();
                let word = |i: usize| {
                    (wanted[i].and_then(|c| words.get(c)))
                        .copied()
                        .unwrap_or("?")
                };
                // Starting (slow start) and running are both UP.
                let health = match word(3) {
                    "0" => "DOWN",
                    "3" => "NOLB",
                    _ => "UP",
                };
                [
                    word(0).to_owned(),
                    format!("{}:{}", word(1), word(2)),
                    health.to_owned(),
                    word(4).to_owned(),
                    word(5).to_owned(),
                ]
            })
            .collect();
        servers.sort();
        servers
    }
}

#[cfg(test)]
mod tests {
    use weir_core::{LogLine, LogSink};

    use super::*;
    use crate::scenario::{Check, Scenario};

    /// A world on two loops, not run, with TCP checks and no fault.
    fn world() -> World {
        let scenario = (0..1000)
            .map(Scenario::generate)
            .find(|s| s.check == Check::Tcp && s.faults.is_empty() && !s.replay)
            .expect("such a seed");
        World::new(scenario.with_loops(2), false).expect("a world")
    }

    #[test]
    fn two_loops_are_built_and_only_loop_0_checks() {
        let w = world();
        assert_eq!(w.loops.len(), 2);
        assert!(w.loops[0].lb.poll_timeout().is_some(), "loop 0 checks");
        assert!(w.loops[1].lb.poll_timeout().is_none(), "loop 1 never does");
    }

    #[test]
    fn a_state_line_from_a_follower_is_a_violation() {
        let mut w = world();
        let line = LogLine {
            sink: LogSink::Stdout,
            text: "Server app/gw1 is DOWN, changed from CLI.".into(),
        };
        w.on_log(1, &line);
        assert!(w.check.result().unwrap_err().what.contains("loop 1 wrote"));
    }

    #[test]
    fn a_follower_that_missed_news_disagrees_with_loop_0() {
        let mut w = world();
        w.check_loop_agrees(1);
        assert!(w.check.result().is_ok());
        // Loop 0 drains its actions but its news never leaves.
        let t = w.t();
        let line = "set server app/gw1 state maint";
        w.loops[0].lb.handle_command(t, line, Level::Admin);
        while w.loops[0].lb.poll_action().is_some() {}
        w.check_loop_agrees(1);
        assert!(
            w.check
                .result()
                .unwrap_err()
                .what
                .contains("loop 1, up to date")
        );
    }

    #[test]
    fn news_reaches_a_follower_in_order_and_after_a_bounded_delay() {
        let mut w = world();
        let t = w.t();
        for line in [
            "set server app/gw1 state drain",
            "set server app/gw1 state ready",
        ] {
            w.loops[0].lb.handle_command(t, line, Level::Admin);
            w.drain(0);
        }
        assert_eq!(w.fleet.in_flight[1], 2);
        while w.fleet.in_flight[1] > 0 {
            assert!(w.step(MAX_DELAY), "delivered by then");
        }
        assert!(w.check.result().is_ok(), "loop 1 agrees with loop 0");
        let (first, second) = (w.learned(1, 0), w.learned(1, 1));
        assert!(first.is_some() && first < second, "{first:?} {second:?}");
    }
}
