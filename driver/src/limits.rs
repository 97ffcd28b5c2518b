//! The descriptor limit and the `maxconn` it allows, as HAProxy derives
//! them (`compute_ideal_maxconn`, `apply_nofile_limit`): each session takes
//! two descriptors, and a reserve stays free for what is not a session
//! (listeners, health checks, the poller, standard streams), so that
//! weir never runs out of descriptors for its checks.

use weir_core::config::Config;

/// Descriptors kept beyond those open when the limit is planned: the
/// poller and waker a driver may still open, and a margin (HAProxy
/// reserves 10 plus 3 per thread, all told).
pub(crate) const MARGIN: u64 = 10;

/// The most descriptors a derived `maxconn` is sized for, as HAProxy's
/// `DEFAULT_MAXFD` (a hard limit of a billion must not mean 500 million
/// sessions).
pub(crate) const MAX_FDS: u64 = 1 << 20;

/// `RLIMIT_NOFILE`: the soft (enforced) and hard (ceiling) limits, with
/// "unlimited" as `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// What the process may open now.
    pub soft: u64,
    /// What the soft limit may be raised to.
    pub hard: u64,
}

impl FdLimit {
    /// The process's limits, if it can read them.
    pub fn current() -> Option<FdLimit> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit(2) writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let unlimited = |v: libc::rlim_t| {
            if v == libc::RLIM_INFINITY {
                u64::MAX
            } else {
                v
            }
        };
        Some(FdLimit {
            soft: unlimited(limit.rlim_cur),
            hard: unlimited(limit.rlim_max),
        })
    }

    /// Raises the soft limit to `want` (at most the hard limit); returns
    /// the limits in force afterwards.
    fn raise(self, want: u64) -> FdLimit {
        let soft = want.min(self.hard);
        if soft <= self.soft {
            return self;
        }
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: if self.hard == u64::MAX {
                libc::RLIM_INFINITY
            } else {
                self.hard as libc::rlim_t
            },
        };
        // SAFETY: setrlimit(2) reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return self;
        }
        FdLimit { soft, ..self }
    }
}

impl FdLimit {
    /// `ulimit-n`: raises the soft limit to `want`, and the hard limit
    /// with it when `want` is above (which takes root or
    /// `CAP_SYS_RESOURCE`); when that is refused, to the hard limit, as
    /// HAProxy. A limit is never lowered.
    fn raise_hard(self, want: u64) -> FdLimit {
        if want <= self.hard {
            return self.raise(want);
        }
        let limit = libc::rlimit {
            rlim_cur: want as libc::rlim_t,
            rlim_max: want as libc::rlim_t,
        };
        // SAFETY: setrlimit(2) reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
            return FdLimit {
                soft: want,
                hard: want,
            };
        }
        self.raise(self.hard)
    }
}

/// How `maxconn` was settled against the descriptor limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdPlan {
    /// The process-wide `maxconn` in force.
    pub maxconn: u32,
    /// Derived from the limit (the configuration has none).
    pub derived: bool,
    /// Descriptors `maxconn` sessions and the reserve need (HAProxy's
    /// `maxsock`).
    pub needed: u64,
    /// The soft limit to raise to: `ulimit-n`, else [`FdPlan::needed`]
    /// (HAProxy's `Ulimit-n`).
    pub want: u64,
    /// The limits once raised.
    pub limit: FdLimit,
}

impl FdPlan {
    /// HAProxy's warning when `ulimit-n` could not be reached, if so.
    pub fn raise_warning(&self) -> Option<String> {
        (self.limit.soft < self.want).then(|| {
            format!(
                "Cannot raise FD limit to {}, limit is {}.",
                self.want, self.limit.soft
            )
        })
    }

    /// HAProxy's warning when the limit cannot hold `maxconn`, if it
    /// cannot.
    pub fn warning(&self) -> Option<String> {
        (self.limit.soft < self.needed).then(|| {
            format!(
                "FD limit ({}) too low for maxconn={}/maxsock={}. Please raise 'ulimit-n' \
                 to {} or more to avoid any trouble.",
                self.limit.soft, self.maxconn, self.needed, self.needed
            )
        })
    }
}

/// Descriptors that are not sessions': those already `open`, the
/// [`MARGIN`], one per listener (stats sockets too), one per checked
/// server, and the runtime API's connections (`stats maxconn`) when it
/// has a socket.
pub fn reserve(config: &Config, open: u64) -> u64 {
    let api = &config.global.runtime_api;
    let stats = if api.sockets.is_empty() {
        0
    } else {
        api.sockets.len() + api.maxconn as usize
    };
    let listeners: usize = config
        .frontends
        .iter()
        .map(|f| f.binds.len())
        .sum::<usize>()
        + stats;
    let checks = config
        .backends
        .iter()
        .flat_map(|b| &b.servers)
        .filter(|s| s.check && !s.disabled)
        .count();
    open + MARGIN + listeners as u64 + checks as u64
}

/// Descriptors one session may hold: client and server sides, and a
/// second connect with `option connect-hedge`.
fn per_session(config: &Config) -> u64 {
    let hedged = config.backends.iter().any(|b| b.connect_hedge.is_some());
    if hedged { 3 } else { 2 }
}

/// Settles `maxconn` for `config` under `limit`: without one, the most
/// sessions `ulimit-n`, else the hard limit (at most [`MAX_FDS`]), holds
/// beside the reserve; either way the soft limit is to be raised to what
/// they need (to `ulimit-n` when it is set).
pub fn plan(config: &Config, limit: FdLimit, open: u64) -> FdPlan {
    let (reserve, per_session) = (reserve(config, open), per_session(config));
    let ulimit_n = config.global.process.ulimit_n.as_ref().map(|(n, _)| *n);
    let (maxconn, derived) = match config.global.maxconn {
        Some(maxconn) => (maxconn, false),
        None => {
            let budget = ulimit_n.unwrap_or(limit.soft.max(limit.hard).min(MAX_FDS));
            let sessions = budget.saturating_sub(reserve) / per_session;
            (sessions.clamp(1, u64::from(u32::MAX)) as u32, true)
        }
    };
    let needed = reserve + per_session * u64::from(maxconn);
    FdPlan {
        maxconn,
        derived,
        needed,
        want: ulimit_n.unwrap_or(needed),
        limit,
    }
}

/// Settles `maxconn` for `config` against this process's limit and the
/// descriptors it has open, raises the soft limit to what it needs (up to
/// the hard limit; to `ulimit-n` when set, the hard limit too if weir may),
/// and sets the global `maxconn` when it was unset. `None` if the limit is
/// unknown.
pub fn apply(config: &mut Config) -> Option<FdPlan> {
    let mut plan = plan(config, FdLimit::current()?, open_fds());
    plan.limit = match config.global.process.ulimit_n {
        Some((n, _)) => plan.limit.raise_hard(n),
        None => plan.limit.raise(plan.needed),
    };
    config.global.maxconn = Some(plan.maxconn);
    config.derive_fullconn();
    Some(plan)
}

/// Descriptors this process has open (standard streams, the driver's
/// poller and signal pipes so far); 3 where that cannot be counted.
fn open_fds() -> u64 {
    // The directory's own descriptor is listed too.
    std::fs::read_dir("/proc/self/fd").map_or(3, |dir| dir.count().saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::config::{Source, parse};

    fn config(global: &str, hedge: bool) -> Config {
        let text = format!(
            "global\n{global}defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n \
             timeout server 1s\n{}frontend fe\n bind 127.0.0.1:1\n bind 127.0.0.1:2\n \
             default_backend be\nbackend be\n server a 127.0.0.1:3 check\n \
             server b 127.0.0.1:4 check\n server c 127.0.0.1:5\n \
             server d 127.0.0.1:6 check disabled\n",
            if hedge {
                " option connect-hedge 50ms\n"
            } else {
                ""
            }
        );
        let source = Source {
            name: "t.cfg",
            text: text.as_bytes(),
        };
        parse(&[source], &mut |_| None).unwrap().config
    }

    fn limit(soft: u64, hard: u64) -> FdLimit {
        FdLimit { soft, hard }
    }

    #[test]
    fn the_reserve_counts_listeners_and_checked_servers() {
        assert_eq!(reserve(&config("", false), 3), 3 + 10 + 2 + 2);
    }

    #[test]
    fn the_reserve_counts_stats_sockets_and_their_connections() {
        let two = " stats socket ipv4@127.0.0.1:9 \n stats socket /tmp/a.sock\n stats maxconn 5\n";
        assert_eq!(reserve(&config(two, false), 3), 3 + 10 + 2 + 2 + 2 + 5);
    }

    #[test]
    fn ulimit_n_sizes_a_derived_maxconn_and_is_what_the_limit_is_raised_to() {
        let got = plan(&config(" ulimit-n 1017\n", false), limit(64, 1 << 20), 3);
        assert_eq!(
            (got.maxconn, got.derived, got.want),
            ((1017 - 17) / 2, true, 1017)
        );
        let fixed = plan(
            &config(" ulimit-n 100\n maxconn 100\n", false),
            limit(64, 64),
            3,
        );
        assert_eq!((fixed.needed, fixed.want), (217, 100));
        assert!(fixed.warning().is_some());
        assert_eq!(
            fixed.raise_warning().unwrap(),
            "Cannot raise FD limit to 100, limit is 64."
        );
    }

    #[test]
    fn maxconn_unset_is_half_of_what_the_hard_limit_leaves() {
        let got = plan(&config("", false), limit(64, 64), 3);
        assert_eq!((got.maxconn, got.derived), ((64 - 17) / 2, true));
        assert_eq!(got.needed, 17 + 2 * 23);
        assert_eq!(got.warning(), None);
        let raised = plan(&config("", false), limit(1024, 4096), 3);
        assert_eq!(raised.maxconn, (4096 - 17) / 2);
        let hedged = plan(&config("", true), limit(64, 64), 3);
        assert_eq!(hedged.maxconn, (64 - 17) / 3);
    }

    #[test]
    fn a_huge_or_tiny_limit_stays_sane() {
        let huge = plan(&config("", false), limit(1024, u64::MAX), 3);
        assert_eq!(huge.maxconn, ((1 << 20) - 17) / 2);
        let tiny = plan(&config("", false), limit(10, 10), 3);
        assert_eq!(tiny.maxconn, 1);
        assert!(tiny.warning().is_some());
    }

    #[test]
    fn a_configured_maxconn_is_kept_and_warned_about_if_it_cannot_fit() {
        let got = plan(&config(" maxconn 100\n", false), limit(64, 64), 3);
        assert_eq!((got.maxconn, got.derived, got.needed), (100, false, 217));
        assert_eq!(
            got.warning().unwrap(),
            "FD limit (64) too low for maxconn=100/maxsock=217. Please raise 'ulimit-n' \
             to 217 or more to avoid any trouble."
        );
        let fits = plan(&config(" maxconn 100\n", false), limit(1024, 1024), 3);
        assert_eq!(fits.warning(), None);
    }
}
