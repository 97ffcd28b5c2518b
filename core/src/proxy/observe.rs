//! Passive checks (`observe layer4`, `error-limit`, `on-error`): loop 0
//! counts failed traffic connections in a row, its own and those the
//! other loops report (see [`crate::loops`]). Reports name a server by
//! its count in the limit pool: no allocation per report, and one server
//! of one reload (a report never reaches a server a reload put in its
//! name's place).

use std::collections::VecDeque;

use super::Balancer;
use super::verdict::LastCheck;
use crate::config::OnError;
use crate::health::CheckStatus;
use crate::id::{BackendId, ServerId};
use crate::loops::{LoopReport, Observed};
use crate::time::Instant;

/// A follower's observations on their way to loop 0.
#[derive(Default)]
pub(super) struct Outbox {
    /// Servers whose `observed` holds something since the last report,
    /// in the order they were first noted.
    noted: Vec<(BackendId, ServerId)>,
    /// Reports ready for the driver (both keep their room between turns).
    ready: VecDeque<LoopReport>,
}

impl Balancer {
    /// `observe layer4`: a traffic connection to server `s` succeeded or
    /// failed. Loop 0 (or the one loop) counts it; a follower notes it
    /// for loop 0.
    pub(super) fn observe(&mut self, now: Instant, b: BackendId, s: ServerId, ok: bool) {
        if self.follows() {
            return self.note_for_loop_0(b, s, ok);
        }
        if !self.observes(b, s) {
            return;
        }
        let server = &mut self.backends[b].servers[s];
        if ok {
            server.consecutive_errors = 0;
            return;
        }
        server.consecutive_errors += 1;
        let errors = server.consecutive_errors;
        if errors >= server.config.error_limit {
            self.on_error(now, b, s, errors);
        }
    }

    /// Server `s` counts traffic connections here: it has `observe` and
    /// this loop checks it.
    fn observes(&self, b: BackendId, s: ServerId) -> bool {
        let server = &self.backends[b].servers[s];
        server.config.observe && server.check.is_some()
    }

    /// `errors` failed connections in a row reached server `s`'s
    /// `error-limit`: the count starts again and `on-error` acts (all of
    /// its choices move the next check to `fastinter`).
    fn on_error(&mut self, now: Instant, b: BackendId, s: ServerId, errors: u32) {
        let server = &mut self.backends[b].servers[s];
        server.consecutive_errors = 0;
        server.counters.failed_hana += 1;
        let status = CheckStatus::Analyze(format!(
            "Detected {errors} consecutive errors, last one was: L4 unsuccessful connection"
        ));
        let last = LastCheck::new(status, String::new(), 0);
        match server.config.on_error {
            OnError::Fastinter => {}
            OnError::FailCheck => {
                self.count_verdict(now, b, s, last);
            }
            OnError::SuddenDeath => {
                server.health.prefatal();
                self.count_verdict(now, b, s, last);
            }
            OnError::MarkDown => {
                server.health.brink();
                self.count_verdict(now, b, s, last);
            }
        }
        self.hurry_check(now, b, s);
    }

    /// A follower's connection to server `s`, kept for its next report
    /// when the server has `observe`.
    fn note_for_loop_0(&mut self, b: BackendId, s: ServerId, ok: bool) {
        let server = &mut self.backends[b].servers[s];
        if !server.config.observe {
            return;
        }
        if server.observed.is_empty() {
            self.outbox.noted.push((b, s));
        }
        server.observed.note(ok, server.config.error_limit);
        if !ok {
            let slot = server.slots.map(|slots| slots.conn);
            server.observed.active = slot.map_or(server.active, |slot| self.limits.held(slot));
        }
    }

    /// What this loop (a follower) has seen of its servers with `observe`
    /// since its last report, one server at a time (`None` otherwise).
    /// Drain it after every input, as [`Balancer::poll_news`], and give
    /// each to loop 0's [`Balancer::apply_report`].
    pub fn poll_reports(&mut self) -> Option<LoopReport> {
        if self.outbox.ready.is_empty() {
            self.seal_reports();
        }
        self.outbox.ready.pop_front()
    }

    /// Makes the reports of what was noted (before a reload changes the
    /// ids). A server this loop retired reports too: loop 0 may not have
    /// applied that reload yet (if it has, it ignores the report).
    pub(super) fn seal_reports(&mut self) {
        let Outbox { noted, ready } = &mut self.outbox;
        for (b, s) in noted.drain(..) {
            let Some(backend) = self.backends.get_mut(b) else {
                continue;
            };
            let Some(server) = backend.servers.get_mut(s) else {
                continue;
            };
            let observed = std::mem::take(&mut server.observed);
            if observed.is_empty() {
                continue;
            }
            if let Some(slots) = server.slots {
                ready.push_back(LoopReport {
                    server: slots.conn,
                    observed,
                });
            }
        }
    }

    /// Counts what a follower saw (loop 0's input) as this loop's own
    /// connections of `now`, in their order. A server this loop does not
    /// have live (a reload applied on one of the two loops only: a new
    /// server, or one it retired) is ignored.
    pub fn apply_report(&mut self, now: Instant, report: &LoopReport) {
        self.advance(now);
        if self.follows() {
            return;
        }
        let Some((b, s)) = self.server_counted_at(report.server) else {
            return;
        };
        let seen = &report.observed;
        self.reported = Some((b, s, seen.active));
        self.count_report(now, b, s, seen);
        self.reported = None;
    }

    /// Counts `seen` on server `s` (see [`Balancer::apply_report`]).
    fn count_report(&mut self, now: Instant, b: BackendId, s: ServerId, seen: &Observed) {
        for _ in 0..seen.errors {
            self.observe(now, b, s, false);
        }
        if !seen.ok {
            return;
        }
        self.observe(now, b, s, true);
        for _ in 0..seen.limits {
            if self.observes(b, s) {
                let limit = self.backends[b].servers[s].config.error_limit;
                self.on_error(now, b, s, limit);
            }
        }
        for _ in 0..seen.trailing {
            self.observe(now, b, s, false);
        }
    }

    /// The sessions a state line of server `s` counts: the process's
    /// (HAProxy's `cur_sess`), now, or at the last failure of the report
    /// loop 0 is counting if it is about `s` (the failing session among
    /// them: its loop has let it go since).
    pub(super) fn line_sessions(&self, b: BackendId, s: ServerId) -> u32 {
        match self.reported {
            Some((rb, rs, active)) if (rb, rs) == (b, s) => active,
            _ => self.server_sessions(b, s),
        }
    }
}
