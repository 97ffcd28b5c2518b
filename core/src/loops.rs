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
//!   a loop's resolution puts in maintenance stays that loop's.)
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
//!
//! # Limits: a static split
//!
//! Each limit `L` is split among the N loops: loop `i` may use `L / N`,
//! plus one for the first `L % N` loops ([`share`]). The sum of the shares
//! is `L`, so what holds for the process is exact:
//!
//! * global `maxconn`, frontend `maxconn`: weir never holds more client
//!   connections than configured (each loop pauses its accepts at its
//!   share, as one loop pauses at the whole limit);
//! * server `maxconn` (with `minconn`/`fullconn` and `slowstart` applied to
//!   the share) and `maxqueue`: a server never has more connections, nor
//!   more queued sessions, than configured. A loop whose share is 0 (a
//!   limit below N) queues that server's sessions on it (or redispatches
//!   as configured) and never connects to it;
//! * `maxconnrate`, `maxsessrate`, `rate-limit sessions`: each loop
//!   accepts at most its share per second (at least 1), so the process
//!   at most the limit (or N per second for a limit below N).
//!
//! What is not exact: a loop at its share queues or refuses while another
//! loop has room (the kernel spreads new connections, not the limits), so
//! a limit may be reached later than with one loop, never exceeded.
//! `leastconn` and `first` see each loop's own connection counts (a
//! server's load is the sum over loops: each loop balances its share);
//! `roundrobin` and the weights run per loop, so the process's choices
//! follow the weights over each loop's sessions. Passive checks (`observe
//! layer4`) judge each loop's own traffic and stay local.

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

    /// This loop's share of a rate: as [`EventLoop::share`], but at least
    /// one event per second (a rate of 0 would stop the loop for good).
    pub fn rate_share(self, rate: u32) -> u32 {
        self.share(rate).max(1)
    }
}

/// The process-wide rates (`maxconnrate`, `maxsessrate`) loop `lp` keeps.
pub(crate) fn shared_rates(
    rates: crate::config::traffic::Rates,
    lp: EventLoop,
) -> crate::config::traffic::Rates {
    crate::config::traffic::Rates {
        conn: rates.conn.map(|r| lp.rate_share(r)),
        sess: rates.sess.map(|r| lp.rate_share(r)),
    }
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
