//! Several event loops, one behaviour (`nbthread N`).
//!
//! With `nbthread N` the driver runs N event loops, each on its own
//! thread, each owning one [`Balancer`](crate::Balancer) for the sessions
//! it accepted. Every instance stays single-threaded and deterministic:
//! what one loop must know of another reaches it as an input, never as
//! shared memory, so the simulator can run several instances in one world.
//! The driver tells each instance which loop it is through
//! [`Global::event_loop`](crate::config::Global::event_loop) (index and
//! count, not a keyword) before [`Balancer::new`](crate::Balancer::new) and
//! every reload.
//!
//! # Loop 0 leads, the others follow
//!
//! * **Health is decided once.** Only loop 0 runs health checks and agent
//!   checks. The others never schedule a check: their servers' health
//!   and admin state change only through [`LoopNews`]. (DNS resolution
//!   of server names runs in every loop, each asking the resolvers; what
//!   a loop's resolution puts in maintenance stays that loop's; loop 0
//!   alone writes the address changes' log lines.)
//! * **Every change of a server's state is news.** Loop 0's one transition
//!   path (`change_server`: check verdicts, agent verdicts, runtime-API
//!   commands, state files) and the runtime setters (`set server ...
//!   weight|addr|maxconn`, agent weights and maxconn) queue a
//!   [`LoopNews::Server`] holding the server's whole shared state (admin
//!   flags, operational state, weight, maxconn, address, the check's
//!   reason). The driver drains them with
//!   [`Balancer::poll_news`](crate::Balancer::poll_news) after every input
//!   and hands each to every other loop, which applies it with
//!   [`Balancer::apply_news`](crate::Balancer::apply_news) through its own
//!   one transition path: weights, queues and sessions move there, as the
//!   checker's own verdict would move them. A follower writes no
//!   server-state log line: loop 0 wrote it once, as one HAProxy process
//!   does. Applying news is idempotent.
//! * **Runtime commands** arrive on loop 0 only (the stats sockets are
//!   bound there). Those that act on every loop's sessions or limits
//!   (`set maxconn frontend|global`, `clear counters`, `shutdown sessions
//!   server`) are news too; `shutdown session ID` and `show sess` reach
//!   loop 0's sessions only (session ids are each loop's own).
//! * **Stopping.** Stops and soft stops reach loop 0 first; the driver
//!   passes them on once loop 0 has taken them. Loop 0 writes the
//!   process's stop lines (`Stopping: listeners closed, …`, `…: killing
//!   N sessions.`) once, counting every loop's sessions (its own, and the
//!   client connections the others hold tokens for in the limit pool);
//!   the others write none. `hard-stop-after` runs on loop 0 only: when
//!   it runs out, loop 0 kills its sessions and publishes
//!   [`LoopNews::HardStop`], which kills the others'. So the driver keeps
//!   loop 0 running (its checks, stats sockets and that deadline) until
//!   every loop has stopped.
//! * **Counters** live in each instance. Followers hand the driver a
//!   snapshot of their counters
//!   ([`Balancer::stats_share`](crate::Balancer::stats_share)) every
//!   [`STATS_PERIOD_MS`], and at once when loop 0 asks: its driver asks
//!   (and waits for the answers, briefly) when it accepts a stats-socket
//!   or stats-page connection. Loop 0 keeps the latest of each
//!   ([`Balancer::set_peer_stats`](crate::Balancer::set_peer_stats)) and
//!   its formatters (`show stat`, `show info`, Prometheus, the stats page)
//!   add them to its own (`crate::stats` sums counts, current values and
//!   maxima; averages of session times and check counters are loop 0's).
//!   So what a stats connection reads counts every session that ended
//!   before it was accepted.
//! * **Passive checks count every loop's traffic.** Loop 0 holds the
//!   checks, so it holds the count of a server's failed connections in a
//!   row (`observe layer4`, `error-limit`, `on-error`). A follower notes
//!   each of its traffic connections to a server with `observe` (failed
//!   or not) in the server's [`Observed`], which keeps what the count
//!   needs of their order; the driver drains them after every input
//!   ([`Balancer::poll_reports`](crate::Balancer::poll_reports): one
//!   [`LoopReport`] per server and turn) and hands them to loop 0, which
//!   counts them through its own path
//!   ([`Balancer::apply_report`](crate::Balancer::apply_report)) as if
//!   they were its own connections of that moment. So its verdicts, and
//!   the news they make, judge the whole process's traffic, as HAProxy's
//!   one counter per server does; the order of two loops' connections
//!   made at about the same time is the order loop 0 learns of them. A
//!   report names its server by its count in the limit pool (below): one
//!   server of one reload in every loop, and nothing to allocate.
//! * **State lines count the process's sessions.** `N sessions active`
//!   in loop 0's line of a server going DOWN is the pool's count of the
//!   server's sessions (HAProxy's `cur_sess`): every loop's, when loop 0
//!   writes it, or when a report caused it, at the reporting loop's last
//!   failure (the failing one among them, as HAProxy's line counts it).
//!   What is requeued and left in queue are loop 0's queue's: each loop
//!   moves its own queue when it applies the news (HAProxy's one queue
//!   per server moves at once).
//!
//! # Limits: tokens from one pool
//!
//! Each connection limit is a count in one process-wide
//! [`LimitPool`](crate::limits::LimitPool), shared by the loops: a loop
//! takes a token before it holds what the limit counts, and gives it back
//! exactly once when it stops holding it. A take succeeds only while the
//! count is below the limit (compare-and-swap), so the process never holds
//! more than the limit, and a loop never waits while the process has
//! room. With one loop the pool is the loop's own and behaves as its
//! counters did.
//!
//! * **What is counted, when.** The global `maxconn` and each frontend's
//!   count client connections: the driver asks
//!   [`Balancer::admit`](crate::Balancer::admit) before each `accept(2)` (as
//!   HAProxy reserves `actconn` and `feconn` before accepting), which takes
//!   both tokens; an accept that finds nothing hands them back
//!   ([`Balancer::unadmit`](crate::Balancer::unadmit)). A connection keeps
//!   them while it reads a PROXY header and while it is a session. A
//!   server's token is taken where core decides the server has room (the
//!   balancing pick, the source hash's choice, its own queue's turn) and
//!   held while a session connects to or is established on it; `maxqueue`
//!   counts the sessions in the server's own queue the same way. Servers
//!   without `maxconn` are counted too (the count is what a later `set
//!   maxconn server` or reload limits). Each backend's sessions are
//!   counted (never limited): `minconn`/`fullconn` scale a server's limit
//!   with the process's load of the backend, as HAProxy's `beconn`.
//! * **Given back once.** Tokens follow core's counters: `drop_load`
//!   gives what `add_load` held (end, retry or redispatch to another
//!   server, requeue, a losing `connect-hedge` attempt), the end of a
//!   session or of a pending connection gives the global and frontend
//!   ones, leaving a server's queue gives its queue token. Retired
//!   servers and frontends keep their names' counts until their last
//!   session ends. Debug builds check that the pool's counts equal the
//!   loop's own (one loop), and the tests run two instances on one pool.
//! * **Waking the others.** A loop that finds a limit full (a pick that
//!   skips a full server, a paused listener, a failed take) marks itself
//!   as waiting on it. Whoever gives a token there collects the waiting
//!   loops ([`Balancer::poll_freed`](crate::Balancer::poll_freed)); the
//!   driver tells each ([`Balancer::limits_freed`](crate::Balancer::limits_freed)),
//!   which serves its queues and resumes its listeners if it now can.
//!   The mark is set before the count is read again, and the giver reads
//!   the marks after its decrement, so a wake-up is never lost.
//! * **Source ports.** A server's `source` port range is the loops' too:
//!   each loop hands its ports out in its own ring order, and takes a
//!   port only if no other loop holds it
//!   ([`PortSet`](crate::limits::PortSet)); a loop that finds every port
//!   held fails the connection as an exhausted range.
//! * **Names.** A pool knows limits by [`LimitKey`](crate::limits::LimitKey):
//!   frontends and servers by name and by the reload that made them (the
//!   loops apply the same reloads in the same order), so each loop finds
//!   the same count, and a server a reload replaced (a new address) has
//!   its own until its last session ends. A loop resolves names once,
//!   when it builds or reloads, to slots it then uses without locks.
//! * **`static-rr`'s walk.** Every loop builds the same table from the
//!   same weights (state changes reach the loops as news, reloads in the
//!   same order), so the walk's position (HAProxy's `rr_idx`, kept under
//!   the backend's lock) is one [`Position`](crate::limits::Position) in
//!   the pool, named by the backend and the reload that built its
//!   balancing state, moved by compare-and-swap. A loop whose table
//!   briefly differs walks its own from the shared index: it never picks
//!   a server it sees down.
//! * **`roundrobin`'s turns.** HAProxy's threads take one fwrr state
//!   per backend under the backend's lock (`lb_fwrr.c`); its state moves
//!   with every pick and weight change, so loops cannot each compute it.
//!   So each backend group's state is one `Mutex` in the pool, named as
//!   `static-rr`'s position is (backend, reload, group). Loop 0 leads it:
//!   when it reaches a reload's state it starts it from its own weights
//!   (given in the configuration's order, as a start gives them), and
//!   writes every weight change there (up, down, drain, `set server
//!   weight`, slowstart's ramp: what its one transition path decides).
//!   Every loop picks through it, the lock held for the pick only (no
//!   thread waits on anything else under it); a loop refuses the servers
//!   it sees unusable and those full in the pool (the server loses its
//!   turn, as a saturated server does in HAProxy). Servers are named by
//!   their place among those the configuration lists (slot indices are
//!   each loop's own). A loop with no loop 0 leading its reload's state
//!   (it reloaded first, or loop 0 already reloaded past it) picks from
//!   its own state, which every loop keeps: never a server it sees down.
//!   So the process picks in one loop's order, HAProxy's, whichever loop
//!   accepts, except while loops apply news or a reload at different
//!   moments. With one loop nothing is shared (no lock).
//! * **Accept rates.** `maxconnrate`, `maxsessrate` and each frontend's
//!   `rate-limit sessions` are per-second counters in the pool (HAProxy's
//!   `freq_ctr`: a sliding second, the previous period fading out), one
//!   for the process, in two atomic words.
//!   [`Balancer::admit`](crate::Balancer::admit) reserves an event of each rate before the accept (HAProxy's pending
//!   events: two loops never both take the last one), the accept counts
//!   it, `unadmit` hands it back. Time comes in as the loops' `now` (one
//!   monotonic clock; a loop whose `now` is a little behind another's
//!   sees the period as just begun). A loop that finds a rate full pauses
//!   until the next event may come, as one loop does, and waits on the
//!   rate: a reservation handed back wakes it. So the process accepts
//!   what one loop would from the same connections.
//!
//! What stays per loop, with the bound that holds:
//!
//! * Queues are each loop's: a session waits in the queue of the loop
//!   that accepted it, and a freed token goes to whichever loop takes it
//!   first (no order across loops).
//! * `leastconn` and `first` see each loop's own connection counts (a
//!   server's load is the sum over loops).

//!
//! # Accept balance
//!
//! The loops share each listening socket and the kernel wakes all of
//! them for a connection; the loop that accepts it keeps it for good. So
//! that one busy loop does not end up with most long-lived connections
//! while another idles (the winner of the race is whichever loop the
//! scheduler ran first), each loop counts its client connections in the
//! pool (the global token it holds for each), and a loop holding clearly
//! more than another ([`yields`]) pauses its listeners
//! ([`Action::PauseAccept`](crate::Action::PauseAccept)): it makes no
//! `accept(2)`, and the lighter loops, woken for the same connection,
//! take it. Whoever's count change lets a yielding loop accept again
//! wakes it as a freed token does
//! ([`Balancer::poll_freed`](crate::Balancer::poll_freed)); a loop's own
//! closes let it accept at once. The loop with the fewest connections
//! never yields, so some loop always accepts. The stats page and
//! metrics frontends, loop 0's alone, never yield.

/// Which event loop an instance serves, and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLoop {
    /// 0-based; loop 0 leads (checks, stats sockets, news).
    pub index: u32,
    /// How many loops run (`nbthread`), at least 1.
    pub count: u32,
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop { index: 0, count: 1 }
    }
}

impl EventLoop {
    /// Loop 0 of several: it runs the checks and publishes news.
    pub fn leads(self) -> bool {
        self.index == 0 && self.count > 1
    }

    /// A loop other than loop 0: no checks, state from news.
    pub fn follows(self) -> bool {
        self.index > 0
    }

    /// This loop's share of limit `limit` ([`share`]).
    pub fn share(self, limit: u32) -> u32 {
        share(limit, self.index, self.count)
    }
}

/// Whether a loop holding `mine` client connections leaves new ones to
/// a loop holding `least`: it holds clearly more (two more, and an
/// eighth of `least` more beyond that), so that the loops' shares stay
/// near even without their taking turns at every connection.
pub fn yields(mine: u32, least: u32) -> bool {
    mine > least.saturating_add(1 + least / 8)
}

/// Loop `index`'s part of `limit` split among `count` loops: `limit /
/// count`, plus one for the first `limit % count` loops. The parts add up
/// to `limit`.
pub fn share(limit: u32, index: u32, count: u32) -> u32 {
    let count = count.max(1);
    limit / count + u32::from(index < limit % count)
}

/// A follower's counters as loop 0's formatters add them up
/// ([`Balancer::stats_share`](crate::Balancer::stats_share)).
#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    /// Every proxy's rows, the loop's own counters.
    pub proxies: Vec<crate::stats::ProxyStats>,
    /// The loop's process-wide counters.
    pub process: crate::stats::ProcessInfo,
}

/// How often followers hand loop 0 their counters, in milliseconds.
pub const STATS_PERIOD_MS: u64 = 250;

/// What loop 0 tells the other loops
/// ([`Balancer::poll_news`](crate::Balancer::poll_news),
/// [`Balancer::apply_news`](crate::Balancer::apply_news)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopNews {
    /// A server's shared state changed.
    Server(ServerNews),
    /// `set maxconn frontend NAME N` (0: no limit).
    FrontendMaxconn {
        /// The frontend's name.
        frontend: String,
        /// The new limit for the process.
        maxconn: u32,
    },
    /// `set maxconn global N` (0: no limit).
    GlobalMaxconn(u32),
    /// `clear counters` (`all`: `clear counters all`).
    ClearCounters {
        /// Every counter, not only the maxima.
        all: bool,
    },
    /// `shutdown sessions server B/S`.
    ShutdownSessions {
        /// The backend's name.
        backend: String,
        /// The server's name.
        server: String,
    },
    /// `hard-stop-after` ran out: every session left is killed (loop 0
    /// wrote the process's line).
    HardStop,
}

/// What a follower tells loop 0
/// ([`Balancer::poll_reports`](crate::Balancer::poll_reports),
/// [`Balancer::apply_report`](crate::Balancer::apply_report)): its
/// traffic's connections to a server with `observe`, since its last
/// report, for loop 0's passive checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopReport {
    /// The server, by its count of sessions in the pool the loops share
    /// ([`LimitKey::Server`](crate::limits::LimitKey::Server)): named by
    /// its backend, its name and the reload that made it, so one server
    /// of one reload in every loop (ids are each loop's own; a server a
    /// reload replaced has another slot).
    pub server: crate::limits::LimitSlot,
    /// What the connections were.
    pub observed: Observed,
}

/// Connections to one server, failed or not, reduced to what a count of
/// failures in a row needs of their order: `errors` failures, then (if
/// `ok`) a success, then `limits` runs of `error-limit` failures in a
/// row, then `trailing` failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    /// Failures before the first success: they add to the count loop 0
    /// holds.
    pub errors: u32,
    /// A success came after them: the count starts again.
    pub ok: bool,
    /// After the first success: how often the failures in a row reached
    /// the server's `error-limit` (each acts as `on-error` says).
    pub limits: u32,
    /// Failures in a row after the first success (and after the last
    /// limit reached), below `error-limit`.
    pub trailing: u32,
    /// The process's sessions on the server at the follower's last
    /// failure, as the limit pool counted them (the failing one among
    /// them): a state line loop 0 writes for this report counts them
    /// (HAProxy's `cur_sess` when its line is written).
    pub active: u32,
}

impl Observed {
    /// Notes one more connection (`ok`: it succeeded) to a server whose
    /// `error-limit` is `limit`.
    pub fn note(&mut self, ok: bool, limit: u32) {
        if ok {
            self.ok = true;
            self.trailing = 0;
        } else if !self.ok {
            self.errors = self.errors.saturating_add(1);
        } else {
            self.trailing += 1;
            if self.trailing >= limit.max(1) {
                self.limits = self.limits.saturating_add(1);
                self.trailing = 0;
            }
        }
    }

    /// Nothing was noted.
    pub fn is_empty(&self) -> bool {
        *self == Observed::default()
    }
}

/// A server's state as loop 0 holds it: what every loop applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNews {
    /// The backend's name (names are shared; ids are each loop's own).
    pub backend: String,
    /// The server's name.
    pub server: String,
    /// In maintenance set by people or the configuration (`FMAINT`).
    pub forced_maint: bool,
    /// Draining, set by people (`FDRAIN`).
    pub forced_drain: bool,
    /// UP, NOLB (`Stopping`) or DOWN, as the checks and agent left it.
    pub health: crate::stats::ForcedHealth,
    /// The weight people or the agent gave it.
    pub weight: u32,
    /// Its `maxconn` for the whole process (0: no limit).
    pub maxconn: u32,
    /// Where its traffic goes.
    pub addr: std::net::SocketAddr,
    /// The last check's reason, as HAProxy writes it after `reason: `.
    pub reason: String,
    /// How long that check took, in milliseconds.
    pub check_duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::{Observed, yields};

    /// `pattern` (`E` a failure, `O` a success) noted with limit 3.
    fn noted(pattern: &str) -> Observed {
        let mut seen = Observed::default();
        for c in pattern.chars() {
            seen.note(c == 'O', 3);
        }
        seen
    }

    #[test]
    fn observed_keeps_what_failures_in_a_row_need_of_the_order() {
        let seen = |errors, ok, limits, trailing| Observed {
            errors,
            ok,
            limits,
            trailing,
            active: 0,
        };
        assert!(noted("").is_empty());
        assert_eq!(
            noted("EEEEE"),
            seen(5, false, 0, 0),
            "loop 0's count goes on"
        );
        assert_eq!(noted("EEOOO"), seen(2, true, 0, 0));
        assert_eq!(
            noted("EOEEOEEEEO"),
            seen(1, true, 1, 0),
            "a run of 3 between"
        );
        assert_eq!(noted("OEEEEEEEE"), seen(0, true, 2, 2));
        assert_eq!(noted("OEEOE"), seen(0, true, 0, 1), "a run cut short");
    }

    #[test]
    fn a_loop_yields_with_two_more_and_an_eighth() {
        assert!(!yields(0, 0) && !yields(1, 0) && yields(2, 0));
        assert!(!yields(9, 8) && !yields(10, 8) && yields(11, 8));
        assert!(!yields(1126, 1000) && yields(1127, 1000));
        assert!(!yields(u32::MAX, u32::MAX), "no overflow");
    }
}
