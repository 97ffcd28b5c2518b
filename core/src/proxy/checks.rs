//! Health checks: scheduling, probes, verdicts and state-change logs.

use std::time::Duration;

use super::{BackendState, Balancer, LogTargets, Role, millis};
use crate::action::{Action, ConnError};
use crate::config::Severity;
use crate::health::{CheckStatus, Transition};
use crate::id::ConnId;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// The check of one server: idle until `next`, or running a probe.
pub(super) struct CheckState {
    probe: Option<Probe>,
    next: Instant,
    queued: Option<Instant>,
}

/// The check state of server `s` of backend `b`, if it is checked.
fn check_mut(backends: &mut [BackendState], b: usize, s: usize) -> Option<&mut CheckState> {
    backends.get_mut(b)?.servers.get_mut(s)?.check.as_mut()
}

/// A check connection in flight.
struct Probe {
    conn: ConnId,
    started: Instant,
    deadline: Instant,
}

impl Balancer {
    /// Spreads the first checks of all servers over the smallest interval,
    /// in configuration order, like HAProxy: the first server is checked at
    /// once and the last just before one interval has passed.
    pub(super) fn schedule_first_checks(&mut self, now: Instant) {
        let checked: Vec<(usize, usize)> = self
            .backends
            .iter()
            .enumerate()
            .flat_map(|(b, backend)| {
                backend
                    .servers
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.config.check && !s.maint)
                    .map(move |(s, _)| (b, s))
            })
            .collect();
        let Some(mininter) = checked
            .iter()
            .map(|&(b, s)| self.backends[b].servers[s].config.inter)
            .min()
        else {
            return;
        };
        let count = checked.len() as u32;
        for (pos, (b, s)) in checked.into_iter().enumerate() {
            let first = now + mininter * pos as u32 / count;
            let mut check = CheckState {
                probe: None,
                next: first,
                queued: None,
            };
            self.timers
                .schedule(&mut check.queued, first, TimerKey::Check(b, s));
            self.backends[b].servers[s].check = Some(check);
        }
    }

    pub(super) fn on_check_timer(&mut self, now: Instant, at: Instant, b: usize, s: usize) {
        let Some(check) = check_mut(&mut self.backends, b, s) else {
            return;
        };
        popped(&mut check.queued, at);
        match &check.probe {
            Some(probe) if probe.deadline <= now => {
                self.finish_check(now, b, s, CheckStatus::L4Timeout)
            }
            Some(probe) => {
                let deadline = probe.deadline;
                self.timers
                    .schedule(&mut check.queued, deadline, TimerKey::Check(b, s));
            }
            None if check.next <= now => self.start_probe(now, b, s),
            None => {
                let next = check.next;
                self.timers
                    .schedule(&mut check.queued, next, TimerKey::Check(b, s));
            }
        }
    }

    pub(super) fn on_check_connected(
        &mut self,
        now: Instant,
        b: usize,
        s: usize,
        result: Result<(), ConnError>,
    ) {
        let status = match result {
            Ok(()) => CheckStatus::L4Ok,
            Err(error) => CheckStatus::L4Con(error),
        };
        self.finish_check(now, b, s, status);
    }

    /// How long a check may take: `inter` for the whole check, or, with
    /// `timeout check`, `min(timeout connect, inter)` for the connect phase
    /// (the only phase of a TCP check).
    fn check_timeout(&self, b: usize, s: usize) -> Duration {
        let backend = &self.backends[b].config;
        let inter = self.backends[b].servers[s].config.inter;
        match (backend.timeout_check, backend.timeout_connect) {
            (Some(_), Some(connect)) => connect.min(inter),
            _ => inter,
        }
    }

    fn start_probe(&mut self, now: Instant, b: usize, s: usize) {
        let conn = self.open_conn(Role::Check(b, s));
        let deadline = now + self.check_timeout(b, s);
        let addr = self.backends[b].servers[s].config.check_addr();
        if let Some(check) = check_mut(&mut self.backends, b, s) {
            check.probe = Some(Probe {
                conn,
                started: now,
                deadline,
            });
            self.timers
                .schedule(&mut check.queued, deadline, TimerKey::Check(b, s));
        }
        self.actions.push_back(Action::Connect { conn, addr });
    }

    /// Records a verdict, closes the probe, schedules the next check.
    fn finish_check(&mut self, now: Instant, b: usize, s: usize, status: CheckStatus) {
        let Some(check) = check_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = check.probe.take() else {
            return;
        };
        let backend = &mut self.backends[b];
        let server = &mut backend.servers[s];
        let next = now + server.config.inter;
        let transition = server.health.record(status.passed());
        log::debug!(
            "check of {}/{}: {}, status: {}",
            backend.config.name,
            server.config.name,
            status.reason(),
            server.health.status()
        );
        if let Some(check) = server.check.as_mut() {
            check.next = next;
            self.timers
                .schedule(&mut check.queued, next, TimerKey::Check(b, s));
        }
        self.close(probe.conn, !status.passed());
        if let Some(transition) = transition {
            self.log_transition(now, b, s, transition, status, millis(probe.started, now));
        }
    }

    /// Logs a server going UP or DOWN in HAProxy's words.
    fn log_transition(
        &mut self,
        now: Instant,
        b: usize,
        s: usize,
        transition: Transition,
        status: CheckStatus,
        duration_ms: u64,
    ) {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let usable = backend.servers.iter().filter(|s| s.lb_weight() > 0).count();
        let info = status
            .info()
            .map(|i| format!(", info: \"{i}\""))
            .unwrap_or_default();
        let backend_name = backend.config.name.clone();
        let name = format!("{backend_name}/{}", server.config.name);
        let (message, severity) = match transition {
            Transition::Down => (
                format!(
                    "Server {name} is DOWN, reason: {}{info}, check duration: {duration_ms}ms. \
                     {usable} active and 0 backup servers left. {} sessions active, \
                     0 requeued, 0 remaining in queue.",
                    status.reason(),
                    server.active
                ),
                Severity::Alert,
            ),
            Transition::Up => (
                format!(
                    "Server {name} is UP, reason: {}{info}, check duration: {duration_ms}ms. \
                     {usable} active and 0 backup servers online. 0 sessions requeued, \
                     0 total in queue.",
                    status.reason()
                ),
                Severity::Notice,
            ),
        };
        let targets = LogTargets::Backend(b);
        self.log(now, targets, severity, &message, Some(log::Level::Warn));
        if transition == Transition::Down && usable == 0 {
            let message = format!("backend '{backend_name}' has no server available!");
            self.log(
                now,
                targets,
                Severity::Emerg,
                &message,
                Some(log::Level::Error),
            );
        }
    }
}
