//! Running out of descriptors or memory: accepts pause, health checks are
//! postponed, and each shortage is logged twice, when it starts and once it
//! is over, with how many calls failed and for how long.

use std::time::Duration;

use super::Balancer;
use crate::action::{Action, LogLine, LogSink};
use crate::id::ListenerId;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// How long accepting pauses after running out of descriptors or memory,
/// and how soon a check that could not open its socket is tried again.
pub(super) const SHORTAGE_RETRY: Duration = Duration::from_millis(100);

/// A shortage is over once no call failed for this long.
pub(super) const SHORTAGE_QUIET: Duration = Duration::from_secs(5);

/// One shortage: when calls started failing, when one last failed, how many.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shortage {
    first: Instant,
    last: Instant,
    failures: u64,
}

impl Shortage {
    fn new(now: Instant) -> Self {
        Shortage {
            first: now,
            last: now,
            failures: 1,
        }
    }

    /// When it is over if nothing fails again.
    fn over_at(&self) -> Instant {
        self.last + SHORTAGE_QUIET
    }

    /// "N times in Tms": the failures and the time from first to last.
    fn summary(&self) -> String {
        let ms = self.last.saturating_duration_since(self.first).as_millis();
        format!("{} times in {ms}ms", self.failures)
    }
}

/// What ran short: accepts, checks.
#[derive(Default)]
pub(super) struct Shortages {
    /// Accepting is paused until then.
    pub(super) accept_pause: Option<Instant>,
    accept: Option<Shortage>,
    check: Option<Shortage>,
    /// The earliest timer entry of all three.
    queued: Option<Instant>,
}

impl Shortages {
    /// Counts a failure; returns whether it starts a shortage.
    fn hit(slot: &mut Option<Shortage>, now: Instant) -> bool {
        match slot {
            Some(s) => {
                s.last = now;
                s.failures += 1;
                false
            }
            None => {
                *slot = Some(Shortage::new(now));
                true
            }
        }
    }

    /// The next time something may end.
    fn next(&self) -> Option<Instant> {
        let ends = [self.accept, self.check].map(|s| s.map(|s| s.over_at()));
        [self.accept_pause, ends[0], ends[1]]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Balancer {
    /// `accept` on `listener` ran out of descriptors or memory: accepting
    /// pauses for [`SHORTAGE_RETRY`]; the first failure of a shortage is
    /// logged.
    pub(super) fn accept_short(&mut self, now: Instant, listener: ListenerId) {
        if Shortages::hit(&mut self.shortages.accept, now) {
            // HAProxy names its stats sockets' proxy GLOBAL.
            let fe = self.traffic_listener(listener).map_or("GLOBAL", |l| {
                self.frontends[l.frontend].config.name.as_str()
            });
            let message = format!(
                "Proxy {fe} reached the process FD limit or ran out of memory: \
                 accept() failed; pausing accepts for {}ms at a time until it passes.",
                SHORTAGE_RETRY.as_millis()
            );
            self.diagnostic(message);
        }
        self.shortages.accept_pause = Some(now + SHORTAGE_RETRY);
        self.schedule_shortage_timer();
        self.refresh_listeners();
        self.refresh_cli_listeners();
    }

    /// A health check could not open its socket for lack of descriptors or
    /// memory; the first failure of a shortage is logged.
    pub(super) fn check_short(&mut self, now: Instant) {
        if Shortages::hit(&mut self.shortages.check, now) {
            let message = format!(
                "Health checks cannot open connections: weir is out of descriptors or \
                 memory (\"Out of resources\"). Checks are retried every {}ms and count \
                 neither for nor against the servers until it passes.",
                SHORTAGE_RETRY.as_millis()
            );
            self.diagnostic(message);
        }
        self.schedule_shortage_timer();
    }

    /// Ends the accept pause and the shortages that are over.
    pub(super) fn on_shortage_timer(&mut self, now: Instant, at: Instant) {
        popped(&mut self.shortages.queued, at);
        if self
            .shortages
            .accept_pause
            .is_some_and(|until| until <= now)
        {
            self.shortages.accept_pause = None;
            self.refresh_listeners();
            self.refresh_cli_listeners();
        }
        if let Some(s) = self.shortages.accept.filter(|s| s.over_at() <= now) {
            self.shortages.accept = None;
            self.diagnostic(format!(
                "Descriptors or memory available again: accept() failed {} for lack \
                 of them; accepting normally again.",
                s.summary()
            ));
        }
        if let Some(s) = self.shortages.check.filter(|s| s.over_at() <= now) {
            self.shortages.check = None;
            self.diagnostic(format!(
                "Health checks open connections again: checks found no descriptor or \
                 memory {}.",
                s.summary()
            ));
        }
        self.schedule_shortage_timer();
    }

    fn schedule_shortage_timer(&mut self) {
        if let Some(at) = self.shortages.next() {
            self.timers
                .schedule(&mut self.shortages.queued, at, TimerKey::Shortage);
        }
    }

    /// A warning for the driver's diagnostic log.
    fn diagnostic(&mut self, text: String) {
        self.actions.push_back(Action::Log(LogLine {
            sink: LogSink::Diagnostic(log::Level::Warn),
            text,
        }));
    }
}
