//! Health checks: scheduling, probes, verdicts and state-change logs.

use std::time::Duration;

use super::{BackendState, Balancer, LogTargets, Role, millis};
use crate::action::{Action, ConnError};
use crate::buffer::Buffer;
use crate::config::HealthCheck;
use crate::config::Severity;
use crate::health::http::{self, Parse};
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
pub(super) struct Probe {
    conn: ConnId,
    started: Instant,
    deadline: Instant,
    connected: bool,
    /// Request bytes written so far (HTTP checks).
    sent: usize,
    /// Response bytes so far (HTTP checks), bounded by the buffer size.
    response: Option<Buffer>,
    /// The server closed its side.
    eof: bool,
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
            .map(|&(b, s)| self.backends[b].servers[s].check_interval())
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
                let status = if probe.connected {
                    CheckStatus::L7Timeout
                } else {
                    CheckStatus::L4Timeout
                };
                self.finish_check(now, b, s, status)
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
        if let Err(error) = result {
            return self.finish_check(now, b, s, CheckStatus::L4Con(error));
        }
        if self.backends[b].config.health_check == HealthCheck::Tcp {
            return self.finish_check(now, b, s, CheckStatus::L4Ok);
        }
        // HTTP: send the request, then read the response. With `timeout
        // check`, the response has that long after the connect.
        let timeout_check = self.backends[b].config.timeout_check;
        let Some(check) = check_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = check.probe.as_mut() else {
            return;
        };
        probe.connected = true;
        if let Some(t) = timeout_check {
            probe.deadline = now + t;
            let deadline = probe.deadline;
            self.timers
                .schedule(&mut check.queued, deadline, TimerKey::Check(b, s));
        }
        let conn = probe.conn;
        self.set_interest(conn, true, true);
    }

    /// The probe of (b, s) if `conn` is it and it is connected.
    fn probe_mut(&mut self, b: usize, s: usize) -> Option<&mut Probe> {
        check_mut(&mut self.backends, b, s)?
            .probe
            .as_mut()
            .filter(|p| p.connected)
    }

    /// Space for the check response, `None` once it is full or closed.
    pub(super) fn check_recv_buf(&mut self, b: usize, s: usize) -> Option<&mut [u8]> {
        let probe = check_mut(&mut self.backends, b, s)?
            .probe
            .as_mut()
            .filter(|p| p.connected && !p.eof)?;
        let buf = probe.response.get_or_insert_with(|| self.pool.take());
        Some(buf.spare()).filter(|b| !b.is_empty())
    }

    /// The rest of the check request.
    pub(super) fn check_send_buf(&self, b: usize, s: usize) -> Option<&[u8]> {
        let backend = self.backends.get(b)?;
        let probe = backend.servers.get(s)?.check.as_ref()?.probe.as_ref()?;
        match &backend.config.health_check {
            HealthCheck::Http { request, .. } if probe.connected => {
                request.get(probe.sent..).filter(|rest| !rest.is_empty())
            }
            _ => None,
        }
    }

    pub(super) fn on_check_sent(&mut self, b: usize, s: usize, n: usize) {
        let len = match &self.backends[b].config.health_check {
            HealthCheck::Http { request, .. } => request.len(),
            HealthCheck::Tcp => 0,
        };
        if let Some(probe) = self.probe_mut(b, s) {
            probe.sent = (probe.sent + n).min(len);
            if probe.sent == len {
                let conn = probe.conn;
                self.set_interest(conn, true, false);
            }
        }
    }

    /// Response bytes arrived (`n`), or the server closed (`eof`).
    pub(super) fn on_check_received(
        &mut self,
        now: Instant,
        b: usize,
        s: usize,
        n: usize,
        eof: bool,
    ) {
        let backend = &mut self.backends[b];
        let HealthCheck::Http { expect, .. } = &backend.config.health_check else {
            return;
        };
        let Some(probe) = backend.servers[s]
            .check
            .as_mut()
            .and_then(|c| c.probe.as_mut())
            .filter(|p| p.connected)
        else {
            return;
        };
        probe.eof |= eof;
        let status = match probe.response.as_mut() {
            None if probe.eof => CheckStatus::L7Invalid("connection closed without a response"),
            None => return,
            Some(buf) => {
                buf.commit(n);
                // The response is never consumed, so it stays contiguous.
                let parsed =
                    http::parse(buf.filled(), probe.eof, buf.is_full(), expect.needs_body());
                match parsed {
                    Parse::Incomplete => return,
                    Parse::Invalid(info) => CheckStatus::L7Invalid(info),
                    Parse::Complete(response) if expect.passes(&response) => {
                        CheckStatus::L7Ok(response.status, response.reason.to_owned())
                    }
                    Parse::Complete(response) => {
                        CheckStatus::L7Status(response.status, response.reason.to_owned())
                    }
                }
            }
        };
        self.finish_check(now, b, s, status);
    }

    /// `interval` moved by up to +/- `spread-checks` percent, at random.
    fn jitter(&mut self, interval: Duration) -> Duration {
        let spread = interval * u32::from(self.spread_checks) / 100;
        let span = spread.as_micros() as u64 * 2 + 1;
        let r = Duration::from_micros(self.rng.next_u64() % span);
        (interval + r)
            .saturating_sub(spread)
            .max(Duration::from_millis(1))
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
                connected: false,
                sent: 0,
                response: None,
                eof: false,
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
        let Some(mut probe) = check.probe.take() else {
            return;
        };
        if let Some(buf) = probe.response.take() {
            self.pool.put(buf);
        }
        let before = self.backends[b].servers[s].health;
        let transition = self.backends[b].servers[s].health.record(status.passed());
        let moved = self.backends[b].servers[s].health != before;
        if moved && self.backends[b].config.log_health_checks {
            self.log_check(now, b, s, &status, millis(probe.started, now));
        }
        let interval = self.backends[b].servers[s].check_interval();
        let next = now + self.jitter(interval);
        let backend = &mut self.backends[b];
        let server = &mut backend.servers[s];
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

    /// `option log-health-checks`: a check result that moved the health.
    fn log_check(&mut self, now: Instant, b: usize, s: usize, status: &CheckStatus, ms: u64) {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let message = format!(
            "Health check for server {}/{} {}, reason: {}{}, check duration: {ms}ms, \
             status: {}.",
            backend.config.name,
            server.config.name,
            if status.passed() {
                "succeeded"
            } else {
                "failed"
            },
            status.reason(),
            status.details(),
            server.health.status()
        );
        self.log(
            now,
            LogTargets::Backend(b),
            Severity::Notice,
            &message,
            None,
        );
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
        let info = status.details();
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
