//! Servers' state loaded at start-up (HAProxy's `apply_server_state` and
//! `srv_state_srv_update`, 2.6): every change goes through the one
//! transition path, so a server UP in the file and UP here stays UP
//! without a line, and one drained or in maintenance is logged as HAProxy
//! logs it.
//!
//! Applied: the operational state (DOWN, stopping, UP) and the check
//! counter, unless the server was in maintenance (HAProxy applies the
//! DOWN its maintenance showed, so a server whose `disabled` was removed
//! comes back DOWN there; here it starts as a new server does); maintenance and drain set at run time (a changed `disabled`
//! in the configuration wins); the weight set at run time when the
//! configured weight did not change; `disable health`; the time since
//! the last change; `disable agent` and the agent's address and port.
//! Not applied, as weir has none of them: FQDNs and SRV records, `ssl`
//! switched at run time. An address or port
//! different from the configuration's is not applied either (the
//! configuration's is kept) and is warned about.

use std::net::IpAddr;

use super::Balancer;
use super::state::{AdminFlags, Cause};
use crate::id::{BackendId, ServerId};
use crate::runtime_api::AgentChange;
use crate::server_state::{StateFile, StateLine, StateValues};
use crate::stats::{AdminState, OpState};
use crate::time::Instant;

/// HAProxy's reason for a state applied from a file.
const FROM_FILE: &str = "changed from server-state after a reload";

/// `CMAINT`, `FMAINT` and `FDRAIN` in a state line's admin flags.
const CMAINT: u32 = 0x04;
const FMAINT: u32 = 0x01;
const FDRAIN: u32 = 0x08;

/// `CHK_ST_CONFIGURED` and `CHK_ST_ENABLED`.
const CHECK_CONFIGURED: u32 = 0x02;
const CHECK_ENABLED: u32 = 0x04;

/// The state file one backend loads, and how its lines are matched.
#[derive(Debug, Clone, Copy)]
pub struct BackendStates<'a> {
    /// The backend's name.
    pub backend: &'a str,
    /// The parsed file.
    pub file: &'a StateFile,
    /// A file of its own (`load-server-state-from-file local`): lines are
    /// checked against the backend's id and name, and lines naming no
    /// server of it are warned about. Otherwise (`global`, or the state
    /// of the process weir takes over from) only lines of this backend's
    /// name are read.
    pub local: bool,
}

impl Balancer {
    /// Applies servers' states at start-up, one backend after another in
    /// the order given. Returns HAProxy's warnings (a mismatched backend
    /// id or name, a server not found, a line not or partly applied).
    pub fn load_server_states(
        &mut self,
        now: Instant,
        sources: &[BackendStates<'_>],
    ) -> Vec<String> {
        self.advance(now);
        let mut warnings = Vec::new();
        for source in sources {
            let Some(b) = self.live_backend(source.backend) else {
                continue;
            };
            let lines = self.lines_of(b, source, &mut warnings);
            let servers: Vec<ServerId> = (self.backends[b].servers.iter())
                .filter(|(_, s)| !s.retired)
                .map(|(s, _)| s)
                .collect();
            let mut used = vec![false; lines.len()];
            for s in servers {
                let name = self.backends[b].servers[s].config.name.as_str();
                if let Some(i) = lines.iter().position(|l| l.srv_name == name) {
                    used[i] = true;
                    self.apply_line(now, b, s, lines[i], &mut warnings);
                }
            }
            if source.local {
                for line in lines.iter().zip(used).filter(|(_, u)| !u).map(|(l, _)| l) {
                    warnings.push(format!(
                        "Proxy '{0}': can't find server '{1}' in backend '{0}'",
                        source.backend, line.srv_name
                    ));
                }
            }
        }
        warnings
    }

    /// The lines of `source` for backend `b`, the first of each server
    /// name (later ones are dropped, as HAProxy drops duplicates).
    fn lines_of<'f>(
        &self,
        b: BackendId,
        source: &BackendStates<'f>,
        warnings: &mut Vec<String>,
    ) -> Vec<&'f StateLine> {
        let iid = (self.proxy_refs().into_iter())
            .find(|p| p.backend == Some(b))
            .map(|p| p.iid);
        let name = source.backend;
        let mut lines: Vec<&StateLine> = Vec::new();
        for line in &source.file.lines {
            let same_name = line.be_name == name;
            if source.local {
                let same_id = line.be_id.is_some() && line.be_id == iid;
                let shown_id = line.be_id.map_or_else(|| "?".into(), |id| id.to_string());
                if !same_id && !same_name {
                    continue;
                } else if !same_id {
                    warnings.push(format!(
                        "Proxy '{name}': backend ID mismatch: from server state file: \
                         '{shown_id}', from running config '{}'",
                        iid.unwrap_or(0)
                    ));
                } else if !same_name {
                    // Kept only for a forced id in HAProxy, which its own
                    // files never mark (`bk_f_forced_id` is 0 or 1, the
                    // flag 0x80).
                    warnings.push(format!(
                        "Proxy '{name}': backend name mismatch: from server state file: \
                         '{}', from running config '{name}'",
                        line.be_name
                    ));
                    continue;
                }
            } else if !same_name {
                continue;
            }
            if !lines.iter().any(|l| l.srv_name == line.srv_name) {
                lines.push(line);
            }
        }
        lines
    }

    /// One line applied to server `s` of backend `b`
    /// (`srv_state_srv_update`).
    fn apply_line(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        line: &StateLine,
        warnings: &mut Vec<String>,
    ) {
        let who = format!("{}/{}", line.be_name, line.srv_name);
        let values = match &line.values {
            Ok(values) => values,
            Err(bad) => {
                warnings.push(format!(
                    "server-state application failed for server '{who}'{bad}"
                ));
                return;
            }
        };
        // A server in maintenance when saved had its checks paused: its
        // operational state says nothing of its health, and is not applied.
        if values.admin & (FMAINT | CMAINT) == 0 {
            self.restore_op(now, b, s, values);
        }
        self.restore_admin(now, b, s, values);
        let server = &mut self.backends[b].servers[s];
        server
            .history
            .changed_secs_ago(now, values.last_change_secs);
        let check_off = values.check_state & (CHECK_CONFIGURED | CHECK_ENABLED) == CHECK_CONFIGURED;
        if server.check.is_some() && check_off {
            self.set_check_enabled(now, b, s, false);
        }
        self.restore_agent(now, b, s, values, &who, warnings);
        let server = &self.backends[b].servers[s];
        if values.iweight == server.config.weight && values.uweight != server.weight {
            self.set_server_weight(now, b, s, values.uweight);
        }
        let addr = self.backends[b].servers[s].config.addr;
        let file_ip = values.addr.as_deref();
        if self.take_last_addr(now, b, s, file_ip) {
            return;
        }
        let ip_differs = file_ip.is_some_and(|ip| ip.parse() != Ok(addr.ip()));
        if ip_differs || values.port != addr.port() {
            warnings.push(format!(
                "server-state partially applied for server '{who}', address {}:{} from the \
                 state file not applied: weir keeps the configuration's {addr}",
                file_ip.unwrap_or("-"),
                values.port
            ));
        }
    }

    /// `init-addr last` first: the address of the state file is the
    /// server's (one that had none leaves its maintenance, silently, as
    /// HAProxy's never entered it). Returns whether it was taken.
    fn take_last_addr(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        ip: Option<&str>,
    ) -> bool {
        let server = &mut self.backends[b].servers[s];
        let last_first = server.config.host.as_ref().is_some_and(|h| h.last_first);
        let Some(ip) = ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) else {
            return false;
        };
        if !last_first {
            return false;
        }
        server.config.addr.set_ip(ip);
        if server.admin.resolv_maint && !server.admin.forced_maint {
            server.admin.resolv_maint = false;
            server.op = OpState::Running;
            server.health = crate::health::Health::starting(server.config.rise, server.config.fall);
            server.history.changed(now, false);
            self.backends[b].sync_weight(s, now);
        }
        true
    }

    /// The agent: `disable agent` stays, and its address and port are
    /// applied as HAProxy's `srv_update_agent_addr_port` (nothing of them
    /// when one is wrong, with its warning).
    fn restore_agent(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        values: &StateValues,
        who: &str,
        warnings: &mut Vec<String>,
    ) {
        let agent_off = values.agent_state & (CHECK_CONFIGURED | CHECK_ENABLED) == CHECK_CONFIGURED;
        if agent_off && self.agent_enabled(b, s) == Some(true) {
            self.change_agent(now, b, s, &AgentChange::Enabled(false));
        }
        let (addr, port) = (values.agent_addr.as_deref(), values.agent_port.as_deref());
        if addr.is_none() && port.is_none() {
            return;
        }
        let problem = if self.agent_enabled(b, s) != Some(true) {
            Some("agent checks are not enabled on this server".to_owned())
        } else if let Some(bad) = addr.filter(|a| a.parse::<IpAddr>().is_err()) {
            Some(format!("invalid addr '{bad}'"))
        } else if port.is_some_and(|p| p.parse::<i64>().is_err()) {
            Some("provided port is not an integer".to_owned())
        } else if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            Some("provided port is invalid".to_owned())
        } else {
            None
        };
        match problem {
            Some(problem) => warnings.push(format!(
                "server-state partially applied for server '{who}', {problem}"
            )),
            None => {
                let addr = addr.and_then(|a| a.parse::<IpAddr>().ok());
                let port = port.and_then(|p| p.parse::<u16>().ok());
                self.change_agent(now, b, s, &AgentChange::Addr(addr, port));
            }
        }
    }

    /// The operational state and the check counter.
    fn restore_op(&mut self, now: Instant, b: BackendId, s: ServerId, values: &StateValues) {
        let server = &mut self.backends[b].servers[s];
        let (rise, fall) = (server.config.rise.max(1), server.config.fall.max(1));
        let op = match values.op {
            OpState::Stopping if fall == 1 => OpState::Stopped,
            op => op,
        };
        let admin = server.admin;
        match op {
            OpState::Stopped => {
                server.health.fail_all();
                self.change_server(now, b, s, OpState::Stopped, admin, Cause::Reason(FROM_FILE));
            }
            OpState::Stopping => {
                let top = server.health.highest();
                server
                    .health
                    .restore(values.check_health, rise..=top.saturating_sub(1));
                self.change_server(
                    now,
                    b,
                    s,
                    OpState::Stopping,
                    admin,
                    Cause::Reason(FROM_FILE),
                );
            }
            // A server ramping up when saved ramps up again from the start
            // (the bottom of UP), as weir's servers do after maintenance.
            OpState::Starting => {
                server.health.restart();
                if server.op == OpState::Running && !admin.maint() {
                    let next = self.warm_start(now, b, s);
                    self.change_server(now, b, s, next, admin, Cause::Reason(FROM_FILE));
                }
            }
            // UP here already (or in maintenance, left below if the file
            // says so): only the counter moves to the top of UP.
            OpState::Running => server.health.force_up(),
        }
    }

    /// Maintenance and drain set at run time, unless the configuration's
    /// `disabled` changed since the file was written.
    fn restore_admin(&mut self, now: Instant, b: BackendId, s: ServerId, values: &StateValues) {
        let server = &self.backends[b].servers[s];
        let configured = server.admin.configured_maint;
        let file_configured = values.admin & CMAINT != 0;
        let file_forced = values.admin & FMAINT != 0;
        if file_configured == configured {
            if file_forced && !configured {
                self.set_admin_state(now, b, s, AdminState::Maint);
            } else if !file_forced && configured {
                self.set_admin_state(now, b, s, AdminState::Ready);
            }
        }
        let server = &self.backends[b].servers[s];
        let AdminFlags { forced_maint, .. } = server.admin;
        // A drain that came from a configured weight of 0 ends when the
        // weight is no longer 0; one set at run time stays.
        let drain_kept = values.iweight > 0 || server.config.weight == 0;
        if !forced_maint && values.admin & FDRAIN != 0 && drain_kept {
            self.set_admin_state(now, b, s, AdminState::Drain);
        }
    }
}
