//! A server's state and the one path every change of it takes.
//!
//! As in HAProxy, a server's state has two halves: what people decide
//! ([`AdminFlags`]: maintenance and drain, from the configuration or the
//! runtime API) and what health checks find ([`OpState`]). Whoever changes
//! either (a check verdict, a passive check, a runtime command, later a
//! reload or another event loop's checker) computes the next state and
//! hands it to [`Balancer::change_server`], which applies it the way
//! HAProxy's `srv_update_status` does: weights, the log line, sessions
//! ended where configured, queues moved, counters.
//!
//! # Health decided elsewhere
//!
//! [`Balancer::apply_health`] is the input for a server's health decided
//! outside this instance, and [`Balancer::health_verdict`] the output that
//! feeds it. With several event loops, each owning a `Balancer` for its
//! own sessions, one loop runs the checks; after each of its inputs its
//! driver reads `health_verdict` of the servers and, when one changed,
//! sends it to the other loops, whose servers have their checks off
//! (`disable health`, or a configuration without `check`) and who call
//! `apply_health`. Each loop then moves its own weights, queues and
//! sessions through `change_server` and writes HAProxy's line (the
//! checker's reason and check duration, its own session counts).
//! Runtime commands (drain, maintenance) go to every loop: in
//! maintenance a verdict is ignored, as checks are paused there.

use super::verdict::LastCheck;
use super::{Balancer, LogTargets};
use crate::config::Severity;
use crate::id::{BackendId, ServerId};
use crate::stats::{ForcedHealth, OpState};
use crate::time::Instant;

/// A server's health as a checker decided it, to carry from the instance
/// that checks to the others ([`Balancer::health_verdict`],
/// [`Balancer::apply_health`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthVerdict {
    /// UP, NOLB (`Stopping`) or DOWN.
    pub health: ForcedHealth,
    /// What the last check found, as HAProxy writes it after `reason: `
    /// (`Layer4 connection problem, info: "Connection refused"`).
    pub reason: String,
    /// How long that check took, in milliseconds.
    pub check_duration_ms: u64,
}

/// [`Balancer::apply_health`] names a server this instance does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no server {backend}/{server} in this instance")]
pub struct NoSuchServer {
    /// The backend's name, as given.
    pub backend: String,
    /// The server's name, as given.
    pub server: String,
}

/// What people decided about a server (HAProxy's admin flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AdminFlags {
    /// `disabled` on the server line (`CMAINT`): it also sets
    /// `forced_maint`, as HAProxy's does; this one only remembers why.
    pub configured_maint: bool,
    /// Maintenance, set at run time or by `disabled` (`FMAINT`).
    pub forced_maint: bool,
    /// Drain set at run time (`FDRAIN`).
    pub forced_drain: bool,
    /// Maintenance because the server's name does not resolve (`RMAINT`).
    pub resolv_maint: bool,
}

impl AdminFlags {
    /// In maintenance for any reason: no traffic, no checks.
    pub(crate) fn maint(self) -> bool {
        self.forced_maint || self.resolv_maint
    }

    /// Draining: no new session, sessions in progress go on.
    pub(crate) fn drain(self) -> bool {
        self.forced_drain
    }
}

/// Taking new sessions as far as checks go: UP, or starting.
fn serving(op: OpState) -> bool {
    matches!(op, OpState::Starting | OpState::Running)
}

/// Why a server's state changes, for its log line.
pub(crate) enum Cause<'a> {
    /// A check (or a passive check) and what it found.
    Check(&'a LastCheck),
    /// A decision of people (the runtime API, the configuration).
    Admin,
    /// A decision with a reason to show (`changed from CLI`).
    Reason(&'a str),
    /// A check's verdict reached from outside: its reason, its duration.
    Verdict(&'a str, u64),
    /// DNS resolution: the reason maintenance is entered (`DNS NX status`).
    Resolution(&'a str),
}

impl Balancer {
    /// Takes the health of server `server` of backend `backend` decided
    /// outside this instance (another event loop's checker): the server
    /// moves to UP, NOLB or DOWN through the one transition path, logged
    /// as the checker's own verdict would be. Idempotent; ignored while
    /// the server is in maintenance.
    pub fn apply_health(
        &mut self,
        now: Instant,
        backend: &str,
        server: &str,
        verdict: &HealthVerdict,
    ) -> Result<(), NoSuchServer> {
        self.advance(now);
        let Some((b, s)) = self.server_named(backend, server) else {
            return Err(NoSuchServer {
                backend: backend.into(),
                server: server.into(),
            });
        };
        let cause = Cause::Verdict(&verdict.reason, verdict.check_duration_ms);
        self.force_op(now, b, s, verdict.health, cause);
        Ok(())
    }

    /// The health this instance's checks decided for server `server` of
    /// backend `backend`, with the last check's reason: what the other
    /// instances apply. None for an unknown server, or one in
    /// maintenance (its checks are paused).
    pub fn health_verdict(&self, backend: &str, server: &str) -> Option<HealthVerdict> {
        let (b, s) = self.server_named(backend, server)?;
        let server = &self.backends[b].servers[s];
        if server.admin.maint() {
            return None;
        }
        let health = match server.op {
            OpState::Stopped => ForcedHealth::Down,
            OpState::Stopping => ForcedHealth::Stopping,
            OpState::Starting | OpState::Running => ForcedHealth::Up,
        };
        let (reason, check_duration_ms) = match &server.last_check {
            Some(last) => (last.reason_text(), last.duration_ms.unwrap_or(0)),
            None => (String::new(), 0),
        };
        Some(HealthVerdict {
            health,
            reason,
            check_duration_ms,
        })
    }

    /// The ids of server `server` of backend `backend`, by name (names are
    /// what instances share; ids are each instance's own).
    pub(super) fn server_named(
        &self,
        backend: &str,
        server: &str,
    ) -> Option<(BackendId, ServerId)> {
        let (b, state) =
            (self.backends.iter()).find(|(_, x)| !x.retired && x.config.name == backend)?;
        let (s, _) = (state.servers.iter()).find(|(_, x)| !x.retired && x.config.name == server)?;
        Some((b, s))
    }

    /// Forces a server's health over its checks' (the runtime API's `set
    /// server ... health`, or a verdict from outside); nothing happens in
    /// maintenance.
    pub(super) fn force_op(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        health: ForcedHealth,
        cause: Cause<'_>,
    ) {
        let Some(server) = self.backends[b].servers.get_mut(s) else {
            return;
        };
        if server.admin.maint() {
            return;
        }
        let op = match health {
            ForcedHealth::Up => {
                server.health.force_up();
                if matches!(server.op, OpState::Starting | OpState::Running) {
                    return;
                }
                self.warm_start(now, b, s)
            }
            ForcedHealth::Stopping => {
                server.health.force_up();
                OpState::Stopping
            }
            ForcedHealth::Down => {
                server.health.fail_all();
                OpState::Stopped
            }
        };
        let admin = self.backends[b].servers[s].admin;
        self.change_server(now, b, s, op, admin, cause);
    }
}

impl Balancer {
    /// Moves server `s` of backend `b` to operational state `op` and admin
    /// state `admin`, with everything that follows, as HAProxy's
    /// `srv_update_status`: the operational change first (DOWN, stopping,
    /// UP), then entering or leaving maintenance, then drain.
    pub(super) fn change_server(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        op: OpState,
        admin: AdminFlags,
        cause: Cause<'_>,
    ) {
        let Some(server) = self.backends[b].servers.get(s) else {
            return;
        };
        let (was, was_admin) = (server.op, server.admin);
        let had_servers = self.backends[b].usable_count(now) > 0;
        let was_stopping = was == OpState::Stopping || was_admin.drain();
        if !was_admin.maint() {
            if was != OpState::Stopped && op == OpState::Stopped {
                self.set_op(now, b, s, op);
                self.server_down(now, b, s, &cause, was_stopping, "is DOWN");
            } else if was != OpState::Stopping && op == OpState::Stopping {
                self.set_op(now, b, s, op);
                let xferred = self.redistribute(now, b, s);
                let message = self.status_line(now, b, s, "is stopping", &cause, Some(xferred));
                self.log_server(now, b, Severity::Notice, &message);
            } else if !serving(was) && serving(op) {
                self.set_op(now, b, s, op);
                self.server_up(now, b, s, &cause, "is UP");
            } else {
                self.set_op(now, b, s, op);
            }
            if had_servers && self.backends[b].usable_count(now) == 0 {
                self.backend_down(now, b);
            }
        }
        let had_servers = self.backends[b].usable_count(now) > 0;
        let server = &mut self.backends[b].servers[s];
        let op = server.op;
        if !was_admin.maint() && admin.maint() {
            server.admin = admin;
            // HAProxy's `adm_st_chg_cause`, in parentheses after the verb.
            let why = match cause {
                Cause::Resolution(reason) => format!(" ({reason})"),
                _ => String::new(),
            };
            let cause = Cause::Admin;
            if op == OpState::Stopped {
                let verb = format!("was DOWN and now enters maintenance{why}");
                let message = self.status_line(now, b, s, &verb, &cause, None);
                self.log_server(now, b, Severity::Notice, &message);
            } else {
                self.set_op(now, b, s, OpState::Stopped);
                let verb = format!("is going DOWN for maintenance{why}");
                self.server_down(now, b, s, &cause, was_stopping, &verb);
            }
            self.pause_check(b, s);
        } else if was_admin.maint() && !admin.maint() {
            server.admin = admin;
            server.shown_weight = None;
            // Checks start again from the bottom of UP, at once.
            self.resume_check(now, b, s);
            // An agent that said DOWN keeps it DOWN (srv_update_status).
            let next = match self.agent_holds_down(b, s) {
                true => OpState::Stopped,
                false => self.warm_start(now, b, s),
            };
            self.set_op(now, b, s, next);
            let state = match (next == OpState::Stopped, admin.drain()) {
                (true, true) => "is DOWN/DRAIN",
                (true, false) => "is DOWN/READY",
                (false, true) => "is UP/DRAIN",
                (false, false) => "is UP/READY",
            };
            let why = if was_admin.forced_maint {
                "(leaving forced maintenance)"
            } else {
                "(leaving maintenance)"
            };
            // HAProxy's last matching message wins: leaving RMAINT's.
            let message = match self.resolved_name(b, s, &was_admin) {
                Some(host) => self.server_name(b, s, &format!("{host} {state} (resolves again)")),
                None => self.server_name(b, s, &format!("{state} {why}")),
            };
            self.log_server(now, b, Severity::Notice, &message);
            self.after_up(now, b, s);
        } else if admin.maint() {
            if was_admin.forced_maint && !admin.forced_maint {
                let verb = "is leaving forced maintenance but remains in maintenance";
                let message = self.server_name(b, s, verb);
                self.log_server(now, b, Severity::Notice, &message);
            }
            if was_admin.resolv_maint && !admin.resolv_maint {
                let host = self.resolved_name(b, s, &was_admin).unwrap_or_default();
                let verb = format!("{host} resolves again but remains in maintenance");
                let message = self.server_name(b, s, &verb);
                self.log_server(now, b, Severity::Notice, &message);
            }
            self.backends[b].servers[s].admin = admin;
        }
        if !admin.maint() {
            let server = &mut self.backends[b].servers[s];
            let draining = server.admin.drain();
            server.admin = admin;
            if !draining && admin.drain() {
                server.history.changed(now, true);
                self.backends[b].sync_weight(s, now);
                let xferred = self.redistribute(now, b, s);
                let message = self.status_line(
                    now,
                    b,
                    s,
                    "enters drain state",
                    &Cause::Admin,
                    Some(xferred),
                );
                self.log_server(now, b, Severity::Notice, &message);
            } else if draining && !admin.drain() {
                let down = server.op == OpState::Stopped;
                server.history.changed(now, down);
                self.backends[b].sync_weight(s, now);
                let up = self.backends[b].servers[s].op != OpState::Stopped;
                let verb = if up {
                    "is UP (leaving forced drain)"
                } else {
                    "is DOWN (leaving forced drain)"
                };
                let message = self.server_name(b, s, verb);
                self.log_server(now, b, Severity::Notice, &message);
                self.after_up(now, b, s);
            } else if admin.drain() {
                // HAProxy says so at every change while draining.
                let message = self.server_name(b, s, "remains in forced drain mode");
                self.log_server(now, b, Severity::Notice, &message);
            }
        }
        let has_servers = self.backends[b].usable_count(now) > 0;
        if had_servers && !has_servers {
            self.backend_down(now, b);
        } else if has_servers && self.backends[b].history.is_down() {
            self.backends[b].history.changed(now, false);
        }
        self.publish_server(b, s);
    }

    /// Records the operational state and gives the algorithm the weight
    /// that follows from it.
    fn set_op(&mut self, now: Instant, b: BackendId, s: ServerId, op: OpState) {
        let server = &mut self.backends[b].servers[s];
        if server.op != op {
            server.op = op;
            let down = op == OpState::Stopped || server.admin.drain();
            server.history.changed(now, down);
        }
        self.backends[b].sync_weight(s, now);
    }

    /// A server stopped taking traffic (`verb`: DOWN, or going DOWN for
    /// maintenance): sessions ended if `on-marked-down shutdown-sessions`,
    /// its queue handed to the backend, logged, counted.
    fn server_down(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        cause: &Cause<'_>,
        was_stopping: bool,
        verb: &str,
    ) {
        self.backends[b].servers[s].counters.down_trans += 1;
        let xferred = self.redistribute(now, b, s);
        let message = self.status_line(now, b, s, verb, cause, Some(xferred));
        let severity = if was_stopping {
            Severity::Notice
        } else {
            Severity::Alert
        };
        self.log_server(now, b, severity, &message);
        // After the line, which counts them as HAProxy's does (its streams
        // end asynchronously).
        if self.backends[b].servers[s].config.shutdown_on_down {
            self.end_sessions_of(now, b, s, 'D');
        }
    }

    /// A server came UP: downtime counted, its share of the backend queue
    /// taken, logged.
    fn server_up(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        cause: &Cause<'_>,
        verb: &str,
    ) {
        let xferred = self.after_up(now, b, s);
        let message = self.status_line(now, b, s, verb, cause, Some(xferred));
        self.log_server(now, b, Severity::Notice, &message);
    }

    /// What a server able to take traffic again does: backups' sessions
    /// ended if `on-marked-up shutdown-backup-sessions`, the backend queue
    /// served. Returns how many queued sessions left the queue.
    fn after_up(&mut self, now: Instant, b: BackendId, s: ServerId) -> u32 {
        let server = &self.backends[b].servers[s];
        if server.config.shutdown_backups_on_up
            && !server.config.backup
            && server.lb_weight(now) > 0
        {
            let backups: Vec<ServerId> = (self.backends[b].servers.iter())
                .filter(|(_, server)| server.config.backup)
                .map(|(id, _)| id)
                .collect();
            for backup in backups {
                self.end_sessions_of(now, b, backup, 'U');
            }
        }
        self.dispatch_queue(now, b)
    }

    /// The `slowstart` ramp of a server coming (back) UP: `Starting` while
    /// it lasts, `Running` without one.
    pub(super) fn warm_start(&mut self, now: Instant, b: BackendId, s: ServerId) -> OpState {
        let server = &mut self.backends[b].servers[s];
        if server.config.slowstart.is_none() {
            server.warm_since = None;
            return OpState::Running;
        }
        server.warm_since = Some(now);
        self.schedule_warm_step(now, b, s);
        OpState::Starting
    }

    /// Sessions waiting for server `s` itself go to the backend queue (it
    /// no longer takes traffic); returns how many.
    fn redistribute(&mut self, now: Instant, b: BackendId, s: ServerId) -> u32 {
        let waiting = self.backends[b].servers[s].waiters.waiting;
        self.dispatch_queue(now, b);
        waiting.saturating_sub(self.backends[b].servers[s].waiters.waiting)
    }

    /// HAProxy's `set_backend_down`: the backend's last usable server left.
    fn backend_down(&mut self, now: Instant, b: BackendId) {
        self.backends[b].history.changed(now, true);
        if self.follows() {
            return;
        }
        let config = &self.backends[b].config;
        // HAProxy's `proxy_type_str`: the back of a `listen` is a "proxy".
        let kind = if config.listen { "proxy" } else { "backend" };
        let message = format!("{kind} {} has no server available!", config.name);
        let targets = LogTargets::Backend(b);
        self.log(
            now,
            targets,
            Severity::Emerg,
            &message,
            Some(log::Level::Error),
        );
    }

    /// `('host')` of a server leaving `RMAINT` (HAProxy names the host
    /// then), or `None`.
    fn resolved_name(&self, b: BackendId, s: ServerId, was: &AdminFlags) -> Option<String> {
        let server = &self.backends[b].servers[s];
        if !was.resolv_maint || server.admin.resolv_maint {
            return None;
        }
        let host = server.config.host.as_ref().map_or("", |h| h.name.as_str());
        Some(format!("('{host}')"))
    }

    /// `Server b/s VERB`, with `Backup ` in front for a backup server.
    fn server_name(&self, b: BackendId, s: ServerId, verb: &str) -> String {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let backup = if server.config.backup { "Backup " } else { "" };
        format!(
            "{backup}Server {}/{} {verb}",
            backend.config.name, server.config.name
        )
    }

    /// HAProxy's state-change line (`srv_append_status`): the name and
    /// `verb`, the check's verdict if a check caused it, and with
    /// `xferred`, the servers left and the sessions moved.
    fn status_line(
        &self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        verb: &str,
        cause: &Cause<'_>,
        xferred: Option<u32>,
    ) -> String {
        let mut line = self.server_name(b, s, verb);
        // With `option log-health-checks`, the check's own line said why.
        let check_logged = self.backends[b].config.log_health_checks;
        match cause {
            Cause::Check(_) | Cause::Verdict(..) if check_logged => {}
            Cause::Check(last) => last.append_to(&mut line),
            Cause::Verdict(reason, duration_ms) => line.push_str(&format!(
                ", reason: {reason}, check duration: {duration_ms}ms"
            )),
            Cause::Reason(reason) => line.push_str(&format!(", {reason}")),
            Cause::Admin | Cause::Resolution(_) => {}
        }
        if let Some(xferred) = xferred {
            let backend = &self.backends[b];
            let server = &backend.servers[s];
            let (active, backups) = backend.usable_by_kind(now);
            let on_backup = if backups > 0 && active == 0 {
                " Running on backup."
            } else {
                ""
            };
            let queued = server.waiters.waiting;
            if server.op == OpState::Stopped {
                line.push_str(&format!(
                    ". {active} active and {backups} backup servers left.{on_backup} {} \
                     sessions active, {xferred} requeued, {queued} remaining in queue",
                    self.line_sessions(b, s)
                ));
            } else {
                line.push_str(&format!(
                    ". {active} active and {backups} backup servers online.{on_backup} \
                     {xferred} sessions requeued, {queued} total in queue"
                ));
            }
        }
        line
    }

    /// Sends a server's state-change line to its backend's log targets,
    /// and to the diagnostic log as HAProxy's `ha_warning` does.
    pub(super) fn log_server(
        &mut self,
        now: Instant,
        b: BackendId,
        severity: Severity,
        message: &str,
    ) {
        // Loop 0 wrote it, once for the process.
        if self.follows() {
            return;
        }
        let targets = LogTargets::Backend(b);
        let message = format!("{message}.");
        self.log(now, targets, severity, &message, Some(log::Level::Warn));
    }
}
