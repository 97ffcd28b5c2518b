//! Health checks: scheduling, probes, verdicts and state-change logs.

use std::time::Duration;

use super::check_connect;
use super::probe::{Probe, SSL_HANDSHAKE_FAILURE};
use super::shortage::SHORTAGE_RETRY;
use super::state::Cause;
use super::verdict::{LastCheck, tcp_check_context};
use super::{BackendState, Balancer, LogTargets, Role, millis};
use crate::action::ConnError;
use crate::arena::Arena;
use crate::buffer::Pool;
use crate::config::{HealthCheck, Severity, TcpStep};
use crate::health::ruleset::{self, Rule};
use crate::health::{CheckStatus, Transition};
use crate::id::{BackendId, ServerId};
use crate::stats::OpState;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// The check of one server: idle until `next`, or running a probe.
pub(super) struct CheckState {
    probe: Option<Probe>,
    next: Instant,
    queued: Option<Instant>,
    /// The server is in maintenance: no check runs.
    paused: bool,
    /// `disable health`: no check runs, the server keeps its state.
    disabled: bool,
    /// The probe has its verdict and is only ending its TLS connection
    /// (last records, `close_notify`) until its deadline.
    closing: bool,
}

/// How long a probe with a verdict may take to write its last TLS records
/// (at most the check interval).
const TLS_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Stale check entries dropped per drain, at most.
const STALE_DROPS: usize = 64;

impl CheckState {
    /// A probe is in flight.
    pub(super) fn is_running(&self) -> bool {
        self.probe.is_some() && !self.closing
    }

    /// The server is in maintenance: no check runs.
    pub(super) fn is_paused(&self) -> bool {
        self.paused
    }

    /// `disable health` stopped the checks.
    pub(super) fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Gives the buffers of a probe in flight back to the pool (the check
    /// is being dropped).
    pub(super) fn release(self, pool: &mut Pool) {
        if let Some(probe) = self.probe {
            probe.release(pool);
        }
    }
}

/// The check state of server `s` of backend `b`, if it is checked and not
/// paused (maintenance).
/// The rules connect with `linger`: the check's connection ends with a
/// FIN (the mysql, pgsql and smtp checks).
fn lingers(check: &HealthCheck) -> bool {
    matches!(check, HealthCheck::TcpRules(steps) if steps.first().is_some_and(|r| r.linger))
}

/// The last rule is a custom expect (the mysql and ldap checks).
fn ends_with_custom(check: &HealthCheck) -> bool {
    matches!(check, HealthCheck::TcpRules(steps)
        if steps.last().is_some_and(|r| matches!(r.step, TcpStep::Custom(_))))
}

fn check_mut(
    backends: &mut Arena<BackendId, BackendState>,
    b: BackendId,
    s: ServerId,
) -> Option<&mut CheckState> {
    backends
        .get_mut(b)?
        .servers
        .get_mut(s)?
        .check
        .as_mut()
        .filter(|c| !c.paused)
}

impl Balancer {
    /// Spreads the first health and agent checks of all servers as
    /// HAProxy's `start_checks`: in configuration order, each server's
    /// check then its agent, over the smallest interval of 1 s or more
    /// (see [`super::spread::first_offsets`]).
    pub(super) fn schedule_first_checks(&mut self, now: Instant) {
        // Loop 0 checks for every loop.
        if self.follows() {
            return;
        }
        let mut entries = Vec::new();
        for (b, backend) in self.backends.iter() {
            for (s, server) in backend.servers.iter() {
                if server.config.check {
                    entries.push((b, s, None, server.check_interval()));
                }
                if let Some(agent) = &server.config.agent {
                    entries.push((b, s, Some(agent.clone()), agent.inter));
                }
            }
        }
        let inters: Vec<Duration> = entries.iter().map(|e| e.3).collect();
        let offsets = super::spread::first_offsets(&inters);
        for ((b, s, agent, _), offset) in entries.into_iter().zip(offsets) {
            match agent {
                Some(config) => self.start_agent_at(b, s, &config, now + offset),
                None => self.place_first_check(b, s, now, now + offset),
            }
        }
    }

    /// The check of server `s` of backend `b` runs first at `first`, or
    /// waits paused when the server starts in maintenance (`disabled`).
    fn place_first_check(&mut self, b: BackendId, s: ServerId, now: Instant, first: Instant) {
        let paused = self.backends[b].servers[s].admin.maint();
        let mut check = CheckState {
            probe: None,
            next: if paused { now } else { first },
            queued: None,
            paused,
            disabled: false,
            closing: false,
        };
        if !paused {
            self.timers
                .schedule(&mut check.queued, first, TimerKey::Check(b, s));
        }
        self.backends[b].servers[s].check = Some(check);
    }

    /// Spreads the first checks of `checked` as
    /// [`Balancer::schedule_first_checks`] does (servers a reload added).
    pub(super) fn schedule_first_checks_of(
        &mut self,
        now: Instant,
        checked: Vec<(BackendId, ServerId)>,
    ) {
        if self.follows() {
            return;
        }
        // A server in maintenance from the start (`disabled`) gets its
        // check paused, to run once it leaves.
        let (paused, checked): (Vec<_>, Vec<_>) = checked
            .into_iter()
            .partition(|&(b, s)| self.backends[b].servers[s].admin.maint());
        for (b, s) in paused {
            self.backends[b].servers[s].check = Some(CheckState {
                probe: None,
                next: now,
                queued: None,
                paused: true,
                disabled: false,
                closing: false,
            });
        }
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
                paused: false,
                disabled: false,
                closing: false,
            };
            self.timers
                .schedule(&mut check.queued, first, TimerKey::Check(b, s));
            self.backends[b].servers[s].check = Some(check);
        }
    }

    pub(super) fn on_check_timer(&mut self, now: Instant, at: Instant, b: BackendId, s: ServerId) {
        let Some(backend) = self.backends.get_mut(b) else {
            return;
        };
        let health_check = &backend.config.health_check;
        let server = backend.servers.get_mut(s);
        let Some(check) = server.and_then(|x| x.check.as_mut()) else {
            return;
        };
        popped(&mut check.queued, at);
        if check.paused || check.disabled {
            return;
        }
        match &check.probe {
            Some(probe) if check.closing && probe.deadline <= now => self.end_tls_close(b, s),
            Some(probe) if probe.deadline <= now => {
                let status = probe.timed_out(health_check);
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
        b: BackendId,
        s: ServerId,
        result: Result<(), ConnError>,
    ) {
        if check_mut(&mut self.backends, b, s).is_some_and(|c| c.closing) {
            return self.end_tls_close(b, s);
        }
        match result {
            // weir's own shortage says nothing about the server.
            Err(ConnError::NoResources) => return self.postpone_check(now, b, s),
            Err(error) => {
                let probe = check_mut(&mut self.backends, b, s).and_then(|c| c.probe.as_ref());
                let handshaking = probe.is_some_and(Probe::in_tls_handshake);
                let alpn = probe.is_some_and(|p| p.alpn && !p.is_connected());
                let status = match handshaking {
                    true => CheckStatus::L6Invalid(SSL_HANDSHAKE_FAILURE.into()),
                    false if alpn => CheckStatus::L4ConTls(error),
                    false => CheckStatus::L4Con(error),
                };
                return self.finish_check(now, b, s, status);
            }
            Ok(()) => {}
        }
        let timeout_check = self.backends[b].config.timeout_check;
        let backend = &mut self.backends[b];
        let server = &mut backend.servers[s];
        let check = &backend.config.health_check;
        let opened_at = server
            .check
            .as_ref()
            .and_then(|c| c.probe.as_ref())
            .and_then(Probe::opened_at);
        let connect = match opened_at.map(|i| ruleset::rule(check, i)) {
            Some(Rule::Connect(c)) => Some(c),
            _ => None,
        };
        let tls = match check_connect::opening(server, connect).tls {
            None => None,
            Some(Ok(tls)) => Some(tls),
            Some(Err(e)) => {
                let status = CheckStatus::L6Invalid(e);
                return self.finish_check(now, b, s, status);
            }
        };
        let Some(check) = server.check.as_mut() else {
            return;
        };
        let Some(probe) = check.probe.as_mut() else {
            return;
        };
        let verdict = probe.connected(&backend.config.health_check, tls, &mut self.pool);
        // With `timeout check`, the rest has that long after the connect.
        if let Some(t) = timeout_check {
            probe.deadline = now + t;
            let deadline = probe.deadline;
            self.timers
                .schedule(&mut check.queued, deadline, TimerKey::Check(b, s));
        }
        self.after_probe(now, b, s, verdict);
    }

    /// After the probe of (b, s) took an input: its verdict, a new
    /// connection its rules asked for, or what it wants to do next.
    fn after_probe(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        verdict: Option<CheckStatus>,
    ) {
        if let Some(status) = verdict {
            return self.finish_check(now, b, s, status);
        }
        let pending = check_mut(&mut self.backends, b, s)
            .and_then(|c| c.probe.as_ref())
            .and_then(Probe::pending_connect);
        match pending {
            Some(step) => self.reconnect(now, b, s, step),
            None => self.refresh_probe_interest(b, s),
        }
    }

    /// A `connect` rule after the first: the probe's connection closes
    /// and a new one opens as the rule says (`tcpcheck_eval_connect`).
    fn reconnect(&mut self, now: Instant, b: BackendId, s: ServerId, step: usize) {
        let deadline = now + self.check_timeout(b, s);
        let backend = &self.backends[b];
        let Rule::Connect(connect) = ruleset::rule(&backend.config.health_check, step) else {
            return;
        };
        let opening = check_connect::opening(&backend.servers[s], Some(connect));
        let conn = self.open_conn(Role::Check(b, s));
        let Some(check) = check_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = check.probe.as_mut() else {
            return;
        };
        let (old, reset) = (probe.conn, !probe.server_closed() && !probe.linger);
        probe.reopen(conn, deadline, opening.header, &mut self.pool);
        probe.linger = opening.linger;
        probe.alpn = opening.alpn;
        self.timers
            .schedule(&mut check.queued, deadline, TimerKey::Check(b, s));
        self.close(old, reset);
        let delay_ack = ruleset::delays_ack(&self.backends[b].config.health_check, Some(step));
        self.push_connect(conn, b, s, opening.addr, delay_ack);
    }

    /// Tells the driver what the probe of (b, s) wants to do.
    fn refresh_probe_interest(&mut self, b: BackendId, s: ServerId) {
        let backend = &self.backends[b];
        let Some(probe) = backend.servers[s]
            .check
            .as_ref()
            .and_then(|c| c.probe.as_ref())
        else {
            return;
        };
        let (read, write) = probe.wants(&backend.config.health_check);
        let conn = probe.conn;
        self.set_interest(conn, read, write);
    }

    /// Space for the check's incoming bytes.
    pub(super) fn check_recv_buf(&mut self, b: BackendId, s: ServerId) -> Option<&mut [u8]> {
        check_mut(&mut self.backends, b, s)?
            .probe
            .as_mut()?
            .recv_buf(&mut self.pool)
    }

    /// The check's outgoing bytes.
    pub(super) fn check_send_buf(&self, b: BackendId, s: ServerId) -> Option<&[u8]> {
        let backend = self.backends.get(b)?;
        let probe = backend.servers.get(s)?.check.as_ref()?.probe.as_ref()?;
        probe.send_buf(&backend.config.health_check)
    }

    pub(super) fn on_check_sent(&mut self, now: Instant, b: BackendId, s: ServerId, n: usize) {
        let backend = &mut self.backends[b];
        let Some(probe) = backend.servers[s]
            .check
            .as_mut()
            .and_then(|c| c.probe.as_mut())
        else {
            return;
        };
        let check = &backend.config.health_check;
        let verdict = probe.sent(n, check, &mut self.pool);
        let writing = probe.wants(check).1;
        let closing = backend.servers[s].check.as_ref().is_some_and(|c| c.closing);
        match verdict {
            _ if closing && !writing => self.end_tls_close(b, s),
            _ if closing => self.refresh_probe_interest(b, s),
            verdict => self.after_probe(now, b, s, verdict),
        }
    }

    /// Bytes arrived (`n`), or the server closed (`eof`).
    pub(super) fn on_check_received(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        n: usize,
        eof: bool,
    ) {
        let backend = &mut self.backends[b];
        let Some(check) = backend.servers[s].check.as_mut() else {
            return;
        };
        let closing = check.closing;
        let Some(probe) = check.probe.as_mut().filter(|p| p.is_connected()) else {
            return;
        };
        if closing {
            probe.drop_received(n, eof, &mut self.pool);
            return match eof {
                true => self.end_tls_close(b, s),
                false => self.refresh_probe_interest(b, s),
            };
        }
        let verdict = probe.received(n, eof, &backend.config.health_check, &mut self.pool);
        self.after_probe(now, b, s, verdict);
    }

    /// `interval` moved by up to +/- `spread-checks` percent, at random.
    pub(super) fn jitter(&mut self, interval: Duration) -> Duration {
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
    fn check_timeout(&self, b: BackendId, s: ServerId) -> Duration {
        let backend = &self.backends[b].config;
        let inter = self.backends[b].servers[s].config.inter;
        match (backend.timeout_check, backend.timeout_connect) {
            (Some(_), Some(connect)) => connect.min(inter),
            _ => inter,
        }
    }

    fn start_probe(&mut self, now: Instant, b: BackendId, s: ServerId) {
        self.end_tls_close(b, s);
        let conn = self.open_conn(Role::Check(b, s));
        let deadline = now + self.check_timeout(b, s);
        let rules = &self.backends[b].config.health_check;
        let first = ruleset::first_connect(rules);
        let opening = check_connect::opening(&self.backends[b].servers[s], first.map(|f| f.1));
        let first = first.map(|f| f.0);
        let delay_ack = ruleset::delays_ack(rules, first);
        let addr = opening.addr;
        let view = self.server_view(now, b, s);
        if let Some(check) = check_mut(&mut self.backends, b, s) {
            let date = self
                .clock
                .at(now)
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32);
            let mut probe = Probe::new(conn, now, deadline)
                .with_header(opening.header)
                .with_date(date)
                .opened_for(first)
                .with_server(view);
            probe.linger = opening.linger;
            probe.alpn = opening.alpn;
            check.probe = Some(probe);
            self.timers
                .schedule(&mut check.queued, deadline, TimerKey::Check(b, s));
        }
        self.push_connect(conn, b, s, addr, delay_ack);
    }

    /// The probe of (b, s) found no descriptor or memory for its socket:
    /// it is closed without a verdict, and the check runs again soon.
    fn postpone_check(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let retry = SHORTAGE_RETRY.min(self.backends[b].servers[s].check_interval());
        let Some(check) = check_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = check.probe.take() else {
            return;
        };
        check.next = now + retry;
        let next = check.next;
        self.timers
            .schedule(&mut check.queued, next, TimerKey::Check(b, s));
        let conn = probe.conn;
        probe.release(&mut self.pool);
        self.close(conn, true);
        self.check_short(now);
    }

    /// Records a verdict, closes the probe, schedules the next check.
    fn finish_check(&mut self, now: Instant, b: BackendId, s: ServerId, status: CheckStatus) {
        let Some(check) = check_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = check.probe.take() else {
            return;
        };
        let (conn, started) = (probe.conn, probe.started);
        let config = &self.backends[b].config.health_check;
        let context = tcp_check_context(config, &status, probe.context_step());
        let (lingers, twice) = (lingers(config), ends_with_custom(config));
        let mut probe = probe;
        // After a socket error there is nothing to close cleanly.
        let socket_error = matches!(status, CheckStatus::L4Con(_) | CheckStatus::L4ConTls(_));
        if !socket_error && probe.close_tls(&mut self.pool) {
            let grace = TLS_CLOSE_GRACE.min(self.backends[b].servers[s].check_interval() / 2);
            probe.deadline = now + grace;
            if let Some(check) = check_mut(&mut self.backends, b, s) {
                check.probe = Some(probe);
                check.closing = true;
                self.timers
                    .schedule(&mut check.queued, now + grace, TimerKey::Check(b, s));
            }
            self.refresh_probe_interest(b, s);
        } else {
            // HAProxy closes a check connection with an RST (its fd has
            // `FD_LINGER_RISK`), passed or not, unless the server closed
            // first or the rules connect with `linger`.
            let reset = !probe.server_closed() && !probe.linger && !lingers;
            probe.release(&mut self.pool);
            self.close(conn, reset);
        }
        let ms = millis(started, now);
        // A custom expect that ends the rules reports its success, then
        // HAProxy's `tcpcheck_main` reports it again without a text: the
        // health counts twice (`set_server_check_status` twice).
        let again = (status.passed() && twice).then(|| {
            LastCheck::new(
                CheckStatus::TcpRulesPassed(String::new()),
                String::new(),
                ms,
            )
        });
        let last = LastCheck::new(status, context, ms);
        let mut interval = self.count_verdict(now, b, s, last);
        if let Some(again) = again {
            interval = self.count_verdict(now, b, s, again);
        }
        let next = now + self.jitter(interval);
        if let Some(check) = check_mut(&mut self.backends, b, s) {
            check.next = next;
            // The probe's deadline entry is no longer needed (unless it
            // closes its TLS until then): the next check's entry replaces
            // it, and it goes without a wake-up of its own (see
            // [`Balancer::drop_stale_check_timers`]).
            if !check.closing {
                check.queued = None;
            }
            self.timers
                .schedule(&mut check.queued, next, TimerKey::Check(b, s));
        }
    }

    /// Drops the entries at the front of the timer queue that no health
    /// or agent check relies on: a check counts on its earliest entry
    /// only (`queued`), so an entry left from an earlier deadline (the
    /// probe's, replaced by the next check's) would wake the driver for
    /// nothing. Bounded: what is left pops in its time and is ignored
    /// then.
    pub(super) fn drop_stale_check_timers(&mut self) {
        let server = |b: BackendId, s: ServerId| self.backends.get(b)?.servers.get(s);
        for _ in 0..STALE_DROPS {
            let (at, queued) = match self.timers.peek() {
                Some((at, TimerKey::Check(b, s))) => {
                    (at, server(b, s).and_then(|x| x.check.as_ref()?.queued))
                }
                Some((at, TimerKey::Agent(b, s))) => {
                    (at, server(b, s).and_then(|x| x.agent.as_ref()?.queued()))
                }
                _ => return,
            };
            if queued == Some(at) {
                return;
            }
            self.timers.pop();
        }
    }

    /// A probe that had its verdict has written its last TLS records, the
    /// server closed, or its time is up: its connection closes.
    fn end_tls_close(&mut self, b: BackendId, s: ServerId) {
        let Some(check) = check_mut(&mut self.backends, b, s).filter(|c| c.closing) else {
            return;
        };
        check.closing = false;
        // The next check's entry replaces the earlier deadlines' (the
        // grace's, the probe's).
        let next = check.next;
        if check.queued.is_some_and(|q| q < next) {
            check.queued = None;
            self.timers
                .schedule(&mut check.queued, next, TimerKey::Check(b, s));
        }
        if let Some(probe) = check.probe.take() {
            let conn = probe.conn;
            probe.release(&mut self.pool);
            self.close(conn, false);
        }
    }

    /// Counts a verdict in the server's health and logs it when it moved
    /// the health or changed the check's status (HAProxy's
    /// `set_server_check_status`); returns the interval before the next
    /// check.
    pub(super) fn count_verdict(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        last: LastCheck,
    ) -> Duration {
        let server = &mut self.backends[b].servers[s];
        let passed = last.verdict.passed();
        let before = server.health;
        if passed {
            server.suspect_until = None;
        } else if before.level().0 > 0 {
            // HAProxy counts a failure only while there is health to lose.
            server.counters.failed_checks += 1;
        }
        let changed = server.last_check.as_ref().map(LastCheck::status) != Some(last.status());
        let was_conditional = server
            .last_check
            .as_ref()
            .is_some_and(|l| l.verdict.conditional());
        let conditional = last.verdict.conditional();
        let transition = server.health.record(passed);
        let moved = server.health != before;
        log::debug!(
            "check of {}: {}, status: {}",
            server.config.name,
            last.reason_text(),
            server.health.status()
        );
        server.last_check = Some(last);
        if (moved || changed) && self.backends[b].config.log_health_checks {
            self.log_check(now, b, s);
        }
        // An agent that said DOWN keeps the server DOWN (HAProxy's
        // `check_notify_success`).
        let transition =
            transition.filter(|t| *t == Transition::Down || self.agent_allows_up(b, s));
        let server = &self.backends[b].servers[s];
        // `disable-on-404` (HAProxy's `check_notify_stopping`): an UP
        // server that answers 404 goes NOLB, and back once it stops.
        let nolb = match server.op {
            _ if transition.is_some() || !server.health.is_up() => None,
            OpState::Running | OpState::Starting if conditional => Some(OpState::Stopping),
            OpState::Stopping if was_conditional && !conditional && passed => {
                Some(OpState::Running)
            }
            _ => None,
        };
        if let Some(op) = nolb {
            let admin = server.admin;
            let last = server.last_check.clone();
            let cause = last.as_ref().map_or(Cause::Admin, Cause::Check);
            self.change_server(now, b, s, op, admin, cause);
        }
        if let Some(transition) = transition {
            let op = match transition {
                Transition::Up if conditional => OpState::Stopping,
                Transition::Up => self.warm_start(now, b, s),
                Transition::Down => OpState::Stopped,
            };
            let admin = self.backends[b].servers[s].admin;
            let last = self.backends[b].servers[s].last_check.clone();
            let cause = last.as_ref().map_or(Cause::Admin, Cause::Check);
            self.change_server(now, b, s, op, admin, cause);
        }
        self.backends[b].servers[s].check_interval()
    }

    /// Schedules the next step of server `s`'s `slowstart` ramp, if any.
    pub(super) fn schedule_warm_step(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let server = &mut self.backends[b].servers[s];
        match server.next_warm_step(now) {
            Some(at) => self
                .timers
                .schedule(&mut server.warm_queued, at, TimerKey::WarmUp(b, s)),
            None => server.warm_since = None,
        }
    }

    /// A `slowstart` step: the server's weight and limit grow, which may
    /// let queued sessions in.
    pub(super) fn on_warm_timer(&mut self, now: Instant, at: Instant, b: BackendId, s: ServerId) {
        let Some(server) = self.backends.get_mut(b).and_then(|x| x.servers.get_mut(s)) else {
            return;
        };
        popped(&mut server.warm_queued, at);
        if server.warm_since.is_none() {
            return;
        }
        self.schedule_warm_step(now, b, s);
        let server = &self.backends[b].servers[s];
        if server.op == OpState::Starting && server.warm_since.is_none() {
            let admin = server.admin;
            self.change_server(now, b, s, OpState::Running, admin, Cause::Admin);
        } else {
            self.backends[b].sync_weight(s, now);
        }
        self.dispatch_queue(now, b);
    }

    /// Moves server `s`'s next check to `fastinter` from `now`, if that
    /// is sooner and no probe is in flight (`on-error`).
    pub(super) fn hurry_check(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let server = &mut self.backends[b].servers[s];
        if let (Some(fast), Some(check)) = (server.config.fastinter, server.check.as_mut()) {
            if check.probe.is_none() && now + fast < check.next {
                check.next = now + fast;
                let next = check.next;
                self.timers
                    .schedule(&mut check.queued, next, TimerKey::Check(b, s));
            }
        }
    }

    /// `option log-health-checks`: the line of a check result that moved
    /// the health or changed the status, as HAProxy's
    /// `set_server_check_status` writes it.
    fn log_check(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let Some(last) = &server.last_check else {
            return;
        };
        let mut message = format!(
            "Health check for {}server {}/{} {}",
            if server.config.backup { "backup " } else { "" },
            backend.config.name,
            server.config.name,
            match last.verdict.passed() {
                true if last.verdict.conditional() => "conditionally succeeded",
                true => "succeeded",
                false => "failed",
            },
        );
        last.append_to(&mut message);
        let (value, rise, fall) = server.health.level();
        let status = if value < rise {
            format!("{value}/{rise} DOWN")
        } else if server.weight == 0 {
            format!("{}/{fall} DRAIN", value - rise + 1)
        } else {
            format!("{}/{fall} UP", value - rise + 1)
        };
        message.push_str(&format!(", status: {status}."));
        self.log(
            now,
            LogTargets::Backend(b),
            Severity::Notice,
            &message,
            Some(log::Level::Warn),
        );
    }

    /// Maintenance stops the server's checks: a probe in flight is
    /// dropped, the health counter falls to 0 (HAProxy's `CHK_ST_PAUSED`).
    pub(super) fn pause_check(&mut self, b: BackendId, s: ServerId) {
        let server = &mut self.backends[b].servers[s];
        let Some(check) = server.check.as_mut() else {
            return;
        };
        check.paused = true;
        server.health.fail_all();
        if let Some(probe) = check.probe.take() {
            let conn = probe.conn;
            probe.release(&mut self.pool);
            self.close(conn, true);
        }
    }

    /// The server's checks stop for good (a reload removed it or its
    /// `check`): a probe in flight is closed.
    pub(super) fn drop_check(&mut self, b: BackendId, s: ServerId) {
        let server = self.backends.get_mut(b).and_then(|x| x.servers.get_mut(s));
        let Some(check) = server.and_then(|x| x.check.take()) else {
            return;
        };
        if let Some(probe) = check.probe {
            let conn = probe.conn;
            probe.release(&mut self.pool);
            self.close(conn, true);
        }
    }

    /// Leaving maintenance: the checks start again, at once, from the
    /// bottom of UP.
    pub(super) fn resume_check(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let server = &mut self.backends[b].servers[s];
        let Some(check) = server.check.as_mut() else {
            return;
        };
        check.paused = false;
        check.next = now;
        server.health.restart();
        self.start_probe(now, b, s);
    }

    /// `enable health` / `disable health`: checks run again from the next
    /// interval, or stop (a probe in flight is dropped); the server keeps
    /// the state they gave it.
    pub(crate) fn set_check_enabled(&mut self, now: Instant, b: BackendId, s: ServerId, on: bool) {
        let server = &mut self.backends[b].servers[s];
        let interval = server.check_interval();
        let Some(check) = server.check.as_mut() else {
            return;
        };
        if check.disabled != on {
            return;
        }
        check.disabled = !on;
        if on {
            check.next = now + interval;
            let next = check.next;
            self.timers
                .schedule(&mut check.queued, next, TimerKey::Check(b, s));
        } else if let Some(probe) = check.probe.take() {
            let conn = probe.conn;
            probe.release(&mut self.pool);
            self.close(conn, true);
        }
    }
}
