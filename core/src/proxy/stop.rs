//! Stopping: the hard stop (SIGTERM), the soft stop (SIGUSR1) and
//! `hard-stop-after`.
//!
//! With several event loops the stop lines are the process's, as one
//! HAProxy process writes them: loop 0 writes each once, counting every
//! loop's sessions, and the others write none (see [`crate::loops`]).
//! `hard-stop-after` runs on loop 0 only; when it runs out loop 0 ends
//! its sessions and tells the others to end theirs
//! ([`LoopNews::HardStop`]).

use super::Balancer;
use crate::action::{Action, LogLine, LogSink};
use crate::id::{ConnId, ListenerId};
use crate::loops::LoopNews;
use crate::time::Instant;
use crate::timer::TimerKey;

impl Balancer {
    /// Stops accepting and closes every connection (hard stop: SIGTERM).
    /// Every session ends logged `K` with its phase, as one killed by
    /// `hard-stop-after` (HAProxy itself dies on SIGTERM without a line).
    /// With several loops, call it on loop 0 first: its line counts the
    /// sessions the others still hold.
    pub fn shutdown(&mut self, now: Instant) {
        self.advance(now);
        self.stopping = true;
        self.refresh_listeners();
        self.refresh_cli_listeners();
        self.kill_sessions(now, "Stopping now");
        self.cli.slots.clear();
        self.pages.clear();
        self.drop_pending();
        // Health probes and stats-socket connections are all that is left.
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .map(|(i, c)| ConnId::new(i, c.generation))
            .collect();
        for conn in conns {
            self.close(conn, false);
        }
        for backend in self.backends.values_mut() {
            for server in backend.servers.values_mut() {
                if let Some(check) = server.check.take() {
                    check.release(&mut self.pool);
                }
                server.agent = None;
            }
        }
        self.timers.clear();
        self.lent = None;
    }

    /// Starts a soft stop (HAProxy's SIGUSR1): listeners are closed,
    /// sessions run to their end, and with `hard-stop-after` those still
    /// alive after that time are killed. See [`Balancer::is_stopped`].
    /// With several loops, call it on loop 0 first (it counts the
    /// sessions for the process's line), then on the others.
    pub fn soft_stop(&mut self, now: Instant) {
        self.advance(now);
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.refresh_listeners();
        let open: Vec<ListenerId> = self.listeners().map(|(id, _)| id).collect();
        for listener in open {
            self.actions.push_back(Action::Unbind { listener });
        }
        let after = self.hard_stop_after;
        if self.follows() {
            // Loop 0 ends this loop's sessions when its own
            // `hard-stop-after` runs out ([`LoopNews::HardStop`]).
            if after.is_some_and(|d| d.is_zero()) {
                self.kill_sessions(now, "");
            }
            return;
        }
        let bound = after
            .map(|d| format!(" (hard-stop-after {}ms)", d.as_millis()))
            .unwrap_or_default();
        let message = format!(
            "Stopping: listeners closed, waiting for {} sessions to end{bound}.",
            self.process_sessions()
        );
        self.warn(message);
        match after {
            // Every loop ends its own at its soft stop.
            Some(after) if after.is_zero() => self.kill_sessions(now, "hard-stop-after expired"),
            Some(after) => {
                let mut queued = None;
                self.timers
                    .schedule(&mut queued, now + after, TimerKey::HardStop);
                self.hard_stop = queued;
            }
            None => {}
        }
    }

    /// A stop has finished: no session is left, the driver may exit
    /// (after [`Balancer::shutdown`] closes the health probes). With
    /// several loops, this loop's sessions only: loop 0 runs its checks
    /// and its `hard-stop-after` until every loop has stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopping && self.sessions.is_empty()
    }

    /// `hard-stop-after` ran out (loop 0): kills every session left, and
    /// the other loops are told to kill theirs.
    pub(super) fn on_hard_stop_timer(&mut self, now: Instant, at: Instant) {
        if self.hard_stop.is_some_and(|t| t == at) {
            self.hard_stop = None;
            self.kill_sessions(now, "hard-stop-after expired");
            self.publish(|_| Some(LoopNews::HardStop));
        }
    }

    /// Loop 0's [`LoopNews::HardStop`] (a follower): it stops accepting
    /// if it has not yet, and kills its sessions without a line.
    pub(super) fn apply_hard_stop(&mut self, now: Instant) {
        self.soft_stop(now);
        self.kill_sessions(now, "");
    }

    /// Ends every session, logged `K` (killed by weir) and its phase.
    /// Unless this loop follows, `why` starts a warning that counts the
    /// process's sessions (none: no line). The queued ones go first, so
    /// no slot freed by a killed session starts a connect for a waiting
    /// one.
    fn kill_sessions(&mut self, now: Instant, why: &str) {
        let process = match self.follows() {
            true => 0,
            false => self.process_sessions(),
        };
        if process > 0 {
            self.warn(format!("{why}: killing {process} sessions."));
        }
        let mut victims: Vec<(usize, char)> = self
            .sessions
            .iter()
            .map(|(i, s)| (i, s.phase_letter()))
            .collect();
        victims.sort_by_key(|&(_, phase)| phase != 'Q');
        for (s, phase) in victims {
            self.end(now, s, ['K', phase], false);
        }
    }

    /// The sessions of the whole process: this loop's, and the client
    /// connections the other loops hold tokens for in the limit pool (one
    /// still reading its PROXY header, or admitted just before its
    /// `accept`, counts too).
    fn process_sessions(&self) -> usize {
        let own = self.sessions.len();
        if self.event_loop.count <= 1 {
            return own;
        }
        let admitted = self.admitted.and_then(|l| self.traffic_listener(l));
        let admitted =
            admitted.is_some_and(|l| self.frontends[l.frontend].config.service.is_none());
        let mine = self.active + self.pending_count() + u32::from(admitted);
        let others = self.limits.held(self.global_slot).saturating_sub(mine);
        own + others as usize
    }

    /// A diagnostic warning (stderr).
    fn warn(&mut self, text: String) {
        self.actions.push_back(Action::Log(LogLine {
            sink: LogSink::Diagnostic(log::Level::Warn),
            text,
        }));
    }
}
