//! Agent checks (`agent-check`): a second periodic TCP connection per
//! server, to an agent that answers one line telling the server's weight,
//! admin state, health and `maxconn` (read by [`crate::health::agent`]).
//!
//! # Lifecycle
//!
//! Idle until `next` (timer [`TimerKey::Agent`]) → connecting → writing
//! `agent-send` (if any) → reading until a line end or the agent's close
//! → applying the line → closing (an RST unless the agent closed first,
//! as HAProxy's checks) → idle for `agent-inter` (moved by `spread-checks`;
//! the first check is spread with the health checks, see
//! [`super::spread`]). A failed connection, a reset (`SOCKERR`) or a
//! timeout only records a status: as in HAProxy (`set_server_check_status`
//! of a check with `CHK_ST_AGENT`), only the agent's own `down`, `fail` or
//! `stopped` marks the server DOWN; its `up` brings it back only when the
//! health check (if any) agrees.
//!
//! The agent's health has HAProxy's range of `rise` 1, `fall` 1: UP or
//! DOWN. `drain`, `maint` and `ready` set the same admin flags as the
//! runtime API (`srv_adm_set_drain` and friends); maintenance does not
//! pause the agent, so its `ready` can end it, and leaving maintenance
//! while the agent says DOWN leaves the server DOWN (`srv_update_status`).
//! What the stats show of it is [`AgentState::info`].

use std::net::SocketAddr;
use std::time::Duration;

use super::state::Cause;
use super::verdict::ascii_encode;
use super::{BackendState, Balancer, LogTargets, Role, millis};
use crate::action::ConnError;
use crate::arena::Arena;
use crate::config::{AgentCheck, Severity};
use crate::health::agent::{self, AgentAdmin, AgentHealth, AgentParse};
use crate::id::{BackendId, ConnId, ServerId};
use crate::runtime_api::AgentChange;
use crate::stats::{AdminState, AgentInfo, CheckStatus, OpState};
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// The most bytes of an agent's reply kept (HAProxy's buffer size): a
/// reply that fills them without a line end is an incomplete line.
const REPLY_MAX: usize = 16384;

/// What the last agent check found (HAProxy's `agent.status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AgentStatus {
    /// `INI`: no agent check has completed yet.
    Init,
    /// `L4CON`: the connection failed.
    L4Con(ConnError),
    /// `SOCKERR`: the connection failed once established (a reset).
    SockErr(ConnError),
    /// `L4TOUT`: the connection did not complete in time.
    L4Timeout,
    /// `L7TOUT`: connected, but no line in time.
    L7Timeout,
    /// `CHECKED`: a line without a health word.
    Checked,
    /// `L7OK`: the agent said `up`.
    Up,
    /// `L7STS`: the agent said `down`, `fail` or `stopped`.
    Down,
}

impl AgentStatus {
    /// HAProxy's name of the status (`agent_status` in the stats).
    pub(super) fn name(&self) -> &'static str {
        match self {
            AgentStatus::Init => "INI",
            AgentStatus::L4Con(_) => "L4CON",
            AgentStatus::SockErr(_) => "SOCKERR",
            AgentStatus::L4Timeout => "L4TOUT",
            AgentStatus::L7Timeout => "L7TOUT",
            AgentStatus::Checked => "CHECKED",
            AgentStatus::Up => "L7OK",
            AgentStatus::Down => "L7STS",
        }
    }

    /// The same status in the stats' terms.
    fn check_status(&self) -> CheckStatus {
        match self {
            AgentStatus::Init => CheckStatus::Init,
            AgentStatus::L4Con(_) => CheckStatus::L4Con,
            AgentStatus::SockErr(_) => CheckStatus::SockErr,
            AgentStatus::L4Timeout => CheckStatus::L4Tout,
            AgentStatus::L7Timeout => CheckStatus::L7Tout,
            AgentStatus::Checked => CheckStatus::Checked,
            AgentStatus::Up => CheckStatus::L7Ok,
            AgentStatus::Down => CheckStatus::L7Sts,
        }
    }

    /// HAProxy's description (`reason:` in log lines).
    fn reason(&self) -> &'static str {
        match self {
            AgentStatus::Init => "Initializing",
            AgentStatus::L4Con(_) => "Layer4 connection problem",
            AgentStatus::SockErr(_) => "Socket error",
            AgentStatus::L4Timeout => "Layer4 timeout",
            AgentStatus::L7Timeout => "Layer7 timeout",
            AgentStatus::Checked => "No status change",
            AgentStatus::Up => "Layer7 check passed",
            AgentStatus::Down => "Layer7 wrong status",
        }
    }

    /// The code HAProxy shows: 0 for the statuses of layer 7 data.
    pub(super) fn code(&self) -> Option<u32> {
        matches!(self, AgentStatus::Up | AgentStatus::Down).then_some(0)
    }

    /// A failed check, as HAProxy's `CHK_RES_FAILED`.
    fn failed(&self) -> bool {
        matches!(
            self,
            AgentStatus::L4Con(_)
                | AgentStatus::SockErr(_)
                | AgentStatus::L4Timeout
                | AgentStatus::L7Timeout
                | AgentStatus::Down
        )
    }
}

/// The last agent check's result, for the logs and the stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AgentLast {
    /// Its status.
    pub status: AgentStatus,
    /// Its text (`agent_desc`, `info:` in log lines).
    pub desc: String,
    /// How long it took.
    pub duration_ms: u64,
}

impl AgentLast {
    /// `<reason>[, code: N][, info: "<desc>"], check duration: Nms`, as
    /// HAProxy's `srv_append_status` writes it (without `, reason: `).
    fn reason_text(&self) -> String {
        let mut text = self.status.reason().to_owned();
        if let Some(code) = self.status.code() {
            text.push_str(&format!(", code: {code}"));
        }
        if !self.desc.is_empty() {
            text.push_str(", info: \"");
            ascii_encode(&self.desc, '"', &mut text);
            text.push('"');
        }
        text
    }
}

/// One connection to the agent.
struct AgentProbe {
    conn: ConnId,
    started: Instant,
    deadline: Instant,
    connected: bool,
    /// Bytes of `agent-send` written.
    sent: usize,
    reply: Vec<u8>,
    /// Bytes of `reply` received.
    len: usize,
    /// The agent closed its side.
    peer_closed: bool,
}

/// The agent check of one server.
pub(super) struct AgentState {
    /// What the configuration said.
    config: AgentCheck,
    /// Where the agent listens (`agent-addr`, `agent-port`, or as changed
    /// at run time).
    pub addr: SocketAddr,
    /// `agent-inter`.
    inter: Duration,
    /// `agent-send`.
    pub send: Vec<u8>,
    /// `disable agent` stopped it.
    pub enabled: bool,
    /// `agent-addr` was given, or set at run time.
    addr_given: bool,
    /// The agent's health: UP (HAProxy's `health >= rise`).
    pub up: bool,
    /// What the last check found.
    pub last: AgentLast,
    probe: Option<AgentProbe>,
    next: Instant,
    queued: Option<Instant>,
}

impl AgentState {
    /// The server's address changed from `was` to `ip` (DNS): an agent
    /// at the server's address follows it.
    pub(super) fn follow_addr(&mut self, was: std::net::IpAddr, ip: std::net::IpAddr) {
        if self.config.addr == was {
            self.config.addr = ip;
        }
        if self.addr.ip() == was {
            self.addr.set_ip(ip);
        }
    }

    /// Its earliest entry in the timer queue, the one it counts on.
    pub(super) fn queued(&self) -> Option<Instant> {
        self.queued
    }

    fn new(config: &AgentCheck, next: Instant) -> AgentState {
        AgentState {
            config: config.clone(),
            addr: SocketAddr::new(config.addr, config.port),
            inter: config.inter,
            send: config.send.as_bytes().to_vec(),
            enabled: true,
            addr_given: config.addr_given,
            up: true,
            last: AgentLast {
                status: AgentStatus::Init,
                desc: String::new(),
                duration_ms: 0,
            },
            probe: None,
            next,
            queued: None,
        }
    }

    /// What `show stat` and `show servers state` show of it.
    pub(super) fn info(&self) -> AgentInfo {
        let in_progress = self.probe.is_some();
        AgentInfo {
            enabled: self.enabled,
            in_progress,
            status: self.last.status.check_status(),
            duration_ms: self.last.duration_ms,
            // HAProxy clears the text when a check starts.
            desc: if in_progress {
                String::new()
            } else {
                self.last.desc.clone()
            },
            health: u32::from(self.up),
            addr: self.addr_given.then(|| self.addr.ip()),
            port: self.addr.port(),
        }
    }
}

/// The agent of server `s` of backend `b`, if it has one.
fn agent_mut(
    backends: &mut Arena<BackendId, BackendState>,
    b: BackendId,
    s: ServerId,
) -> Option<&mut AgentState> {
    backends.get_mut(b)?.servers.get_mut(s)?.agent.as_mut()
}

impl Balancer {
    /// Gives every server its agent as the configuration says: new ones
    /// are spread over the smallest `agent-inter`, changed ones take their
    /// new settings at their next check, removed ones stop (at start and
    /// after a reload).
    pub(super) fn sync_agents(&mut self, now: Instant) {
        // Loop 0 runs the agents for every loop.
        if self.follows() {
            return;
        }
        let mut fresh = Vec::new();
        let ids: Vec<(BackendId, ServerId)> = (self.backends.iter())
            .flat_map(|(b, x)| x.servers.ids().map(move |s| (b, s)))
            .collect();
        for (b, s) in ids {
            let backend = &self.backends[b];
            let server = &backend.servers[s];
            let wanted = server.config.agent.clone().filter(|_| !backend.retired);
            let wanted = wanted.filter(|_| !server.retired);
            match (wanted, server.agent.is_some()) {
                (None, true) => self.drop_agent(b, s),
                (Some(config), false) => fresh.push((b, s, config)),
                (Some(config), true) => {
                    let agent = self.backends[b].servers[s].agent.as_mut();
                    if let Some(agent) = agent.filter(|a| a.config != config) {
                        // What the file changed applies; what people set
                        // at run time stays otherwise.
                        *agent = AgentState {
                            probe: agent.probe.take(),
                            queued: agent.queued,
                            next: agent.next,
                            enabled: agent.enabled,
                            up: agent.up,
                            last: agent.last.clone(),
                            ..AgentState::new(&config, agent.next)
                        };
                    }
                }
                (None, false) => {}
            }
        }
        let Some(mininter) = fresh.iter().map(|(_, _, c)| c.inter).min() else {
            return;
        };
        let count = fresh.len() as u32;
        for (pos, (b, s, config)) in fresh.into_iter().enumerate() {
            let first = now + mininter * pos as u32 / count;
            self.start_agent_at(b, s, &config, first);
        }
    }

    /// Gives server `s` of backend `b` its agent, first run at `first`.
    pub(super) fn start_agent_at(
        &mut self,
        b: BackendId,
        s: ServerId,
        config: &AgentCheck,
        first: Instant,
    ) {
        let mut agent = AgentState::new(config, first);
        self.timers
            .schedule(&mut agent.queued, first, TimerKey::Agent(b, s));
        self.backends[b].servers[s].agent = Some(agent);
    }

    /// The server's agent stops for good: a check in flight is closed.
    pub(super) fn drop_agent(&mut self, b: BackendId, s: ServerId) {
        let server = self.backends.get_mut(b).and_then(|x| x.servers.get_mut(s));
        let Some(server) = server else {
            return;
        };
        if let Some(probe) = server.agent.take().and_then(|a| a.probe) {
            self.close(probe.conn, true);
        }
    }

    pub(super) fn on_agent_timer(&mut self, now: Instant, at: Instant, b: BackendId, s: ServerId) {
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        popped(&mut agent.queued, at);
        if !agent.enabled {
            return;
        }
        match &agent.probe {
            Some(probe) if probe.deadline <= now => {
                let status = match probe.connected {
                    true => AgentStatus::L7Timeout,
                    false => AgentStatus::L4Timeout,
                };
                self.finish_agent(now, b, s, status, String::new());
            }
            Some(probe) => {
                let deadline = probe.deadline;
                self.timers
                    .schedule(&mut agent.queued, deadline, TimerKey::Agent(b, s));
            }
            None if agent.next <= now => self.start_agent(now, b, s),
            None => {
                let next = agent.next;
                self.timers
                    .schedule(&mut agent.queued, next, TimerKey::Agent(b, s));
            }
        }
    }

    /// How long an agent check may take: its interval, or with `timeout
    /// check` `min(timeout connect, agent-inter)` to connect and then
    /// `timeout check`, as HAProxy's checks.
    fn agent_timeout(&self, b: BackendId, inter: Duration, connected: bool) -> Duration {
        let backend = &self.backends[b].config;
        match (backend.timeout_check, backend.timeout_connect, connected) {
            (Some(check), _, true) => check,
            (Some(_), Some(connect), false) => connect.min(inter),
            _ => inter,
        }
    }

    fn start_agent(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let conn = self.open_conn(Role::Agent(b, s));
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        let (addr, inter) = (agent.addr, agent.inter);
        // HAProxy's agent rules: a send (when `agent-send` has one), then
        // an expect; the ACK waits for the send (`CONNECT_DELACK_ALWAYS`).
        let delay_ack = !agent.send.is_empty();
        let deadline = now + self.agent_timeout(b, inter, false);
        if let Some(agent) = agent_mut(&mut self.backends, b, s) {
            agent.probe = Some(AgentProbe {
                conn,
                started: now,
                deadline,
                connected: false,
                sent: 0,
                reply: vec![0; REPLY_MAX],
                len: 0,
                peer_closed: false,
            });
            self.timers
                .schedule(&mut agent.queued, deadline, TimerKey::Agent(b, s));
        }
        self.push_connect(conn, b, s, addr, delay_ack);
    }

    pub(super) fn on_agent_connected(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        result: Result<(), ConnError>,
    ) {
        if let Err(error) = result {
            let connected = agent_mut(&mut self.backends, b, s)
                .and_then(|a| a.probe.as_ref())
                .is_some_and(|p| p.connected);
            // weir's own shortage says nothing of the agent either.
            let status = match error {
                ConnError::NoResources => AgentStatus::L4Timeout,
                // HAProxy's `chk_report_conn_err` once L4 is up.
                error if connected => AgentStatus::SockErr(error),
                error => AgentStatus::L4Con(error),
            };
            return self.finish_agent(now, b, s, status, error.describe().to_owned());
        }
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        let inter = agent.inter;
        let timeout = self.agent_timeout(b, inter, true);
        let timeout_check = self.backends[b].config.timeout_check.is_some();
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = agent.probe.as_mut() else {
            return;
        };
        probe.connected = true;
        if timeout_check {
            probe.deadline = now + timeout;
            let deadline = probe.deadline;
            self.timers
                .schedule(&mut agent.queued, deadline, TimerKey::Agent(b, s));
        }
        self.refresh_agent_interest(b, s);
    }

    /// Writing `agent-send` first, then reading the reply.
    fn refresh_agent_interest(&mut self, b: BackendId, s: ServerId) {
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = agent.probe.as_ref().filter(|p| p.connected) else {
            return;
        };
        let writing = probe.sent < agent.send.len();
        let conn = probe.conn;
        self.set_interest(conn, !writing, writing);
    }

    /// The bytes of `agent-send` left to write.
    pub(super) fn agent_send_buf(&self, b: BackendId, s: ServerId) -> Option<&[u8]> {
        let agent = self.backends.get(b)?.servers.get(s)?.agent.as_ref()?;
        let probe = agent.probe.as_ref().filter(|p| p.connected)?;
        agent.send.get(probe.sent..).filter(|rest| !rest.is_empty())
    }

    pub(super) fn on_agent_sent(&mut self, b: BackendId, s: ServerId, n: usize) {
        if let Some(probe) = agent_mut(&mut self.backends, b, s).and_then(|a| a.probe.as_mut()) {
            probe.sent += n;
        }
        self.refresh_agent_interest(b, s);
    }

    /// Space for the agent's reply.
    pub(super) fn agent_recv_buf(&mut self, b: BackendId, s: ServerId) -> Option<&mut [u8]> {
        let probe = agent_mut(&mut self.backends, b, s)?
            .probe
            .as_mut()
            .filter(|p| p.connected)?;
        let len = probe.len;
        probe.reply.get_mut(len..).filter(|rest| !rest.is_empty())
    }

    /// Bytes of the reply arrived (`n`), or the agent closed (`eof`).
    pub(super) fn on_agent_received(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        n: usize,
        eof: bool,
    ) {
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = agent.probe.as_mut().filter(|p| p.connected) else {
            return;
        };
        probe.len = (probe.len + n).min(probe.reply.len());
        probe.peer_closed |= eof;
        let last_read = eof || probe.len == probe.reply.len();
        let reply = probe.reply[..probe.len].to_vec();
        match agent::parse(&reply) {
            AgentParse::Line(line) => {
                let server = &self.backends[b].servers[s];
                let dynamic = self.weights_dynamic(b);
                let outcome = line.outcome(server.config.weight, dynamic);
                self.apply_agent(now, b, s, outcome);
            }
            AgentParse::Incomplete if last_read => {
                // HAProxy keeps the status and says so; on the first check
                // (no result yet) its check ends as a Layer7 timeout
                // (captured from haproxy 2.6.12).
                let status = agent_mut(&mut self.backends, b, s)
                    .map_or(AgentStatus::Init, |a| a.last.status.clone());
                let (status, desc) = match status {
                    AgentStatus::Init => (AgentStatus::L7Timeout, String::new()),
                    status => (status, "Ignoring incomplete line from agent".to_owned()),
                };
                self.finish_agent(now, b, s, status, desc);
            }
            AgentParse::Incomplete => self.refresh_agent_interest(b, s),
        }
    }

    /// Whether the backend's algorithm takes weights other than 0 and the
    /// configured one.
    fn weights_dynamic(&self, b: BackendId) -> bool {
        use crate::config::{Balance, HashType};
        let config = &self.backends[b].config;
        let map_based =
            config.hash_type == HashType::MapBased && matches!(config.balance, Balance::Source);
        config.balance != Balance::StaticRr && !map_based
    }

    /// Applies an agent's line as HAProxy's `tcpcheck_agent_expect_reply`:
    /// the admin state first, then the weight and `maxconn`, then the
    /// health.
    fn apply_agent(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        outcome: agent::AgentOutcome,
    ) {
        if let Some(admin) = outcome.admin {
            let state = match admin {
                AgentAdmin::Ready => AdminState::Ready,
                AgentAdmin::Drain => AdminState::Drain,
                AgentAdmin::Maint => AdminState::Maint,
            };
            self.set_admin_state(now, b, s, state);
        }
        if let Some(weight) = outcome.weight {
            self.set_server_weight(now, b, s, weight);
        }
        // weir keeps no negative or huge limit (HAProxy would store it).
        if let Some(maxconn) = outcome.maxconn.and_then(|m| u32::try_from(m).ok()) {
            self.set_server_maxconn(now, b, s, maxconn);
        }
        let status = match outcome.health {
            Some(AgentHealth::Up) => AgentStatus::Up,
            Some(AgentHealth::Down) => AgentStatus::Down,
            None => AgentStatus::Checked,
        };
        if let Some(agent) = agent_mut(&mut self.backends, b, s) {
            match outcome.health {
                Some(AgentHealth::Up) => agent.up = true,
                Some(AgentHealth::Down) => agent.up = false,
                None => {}
            }
        }
        self.finish_agent(now, b, s, status, outcome.desc);
    }

    /// Records the result, closes the connection, moves the server as the
    /// result says and schedules the next check.
    fn finish_agent(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        status: AgentStatus,
        desc: String,
    ) {
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        let Some(probe) = agent.probe.take() else {
            return;
        };
        let inter = agent.inter;
        // `spread-checks` moves agents too (no draw without it).
        let wait = match self.spread_checks {
            0 => inter,
            _ => self.jitter(inter),
        };
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        agent.next = now + wait;
        let next = agent.next;
        // The check's deadline entry is no longer needed: the next
        // check's entry replaces it, and it goes without a wake-up of its
        // own (see [`Balancer::drop_stale_check_timers`]).
        agent.queued = None;
        self.timers
            .schedule(&mut agent.queued, next, TimerKey::Agent(b, s));
        let previous = agent.last.status.clone();
        agent.last = AgentLast {
            status: status.clone(),
            desc,
            duration_ms: millis(probe.started, now),
        };
        // As HAProxy's checks: an RST, unless the agent closed first.
        self.close(probe.conn, !probe.peer_closed);
        log::debug!(
            "agent check of {}: {}",
            self.backends[b].servers[s].config.name,
            status.name()
        );
        // A line without a health word changes nothing (`CHK_RES_NEUTRAL`).
        if status == AgentStatus::Checked {
            return;
        }
        if status != previous && self.backends[b].config.log_health_checks {
            self.log_agent(now, b, s);
        }
        match status {
            AgentStatus::Down => self.agent_down(now, b, s),
            AgentStatus::Up => self.agent_up(now, b, s),
            _ => {}
        }
    }

    /// HAProxy's `check_notify_failure` of the agent: only the agent's
    /// own `down` marks the server DOWN.
    fn agent_down(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let server = &self.backends[b].servers[s];
        if server.op == OpState::Stopped || server.admin.maint() {
            return;
        }
        let Some(agent) = &server.agent else {
            return;
        };
        let reason = agent.last.reason_text();
        let duration = agent.last.duration_ms;
        let admin = server.admin;
        self.change_server(
            now,
            b,
            s,
            OpState::Stopped,
            admin,
            Cause::Verdict(&reason, duration),
        );
    }

    /// HAProxy's `check_notify_success` of the agent: the server comes
    /// back UP if its health check agrees (and not out of NOLB).
    fn agent_up(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let server = &self.backends[b].servers[s];
        if server.admin.maint() || !self.agent_allows_up(b, s) {
            return;
        }
        if matches!(
            server.op,
            OpState::Running | OpState::Starting | OpState::Stopping
        ) {
            return;
        }
        let Some(agent) = &server.agent else {
            return;
        };
        let reason = agent.last.reason_text();
        let duration = agent.last.duration_ms;
        let op = self.warm_start(now, b, s);
        let admin = self.backends[b].servers[s].admin;
        self.change_server(now, b, s, op, admin, Cause::Verdict(&reason, duration));
    }

    /// Whether the server's enabled agent said DOWN: leaving maintenance
    /// then leaves it DOWN.
    pub(super) fn agent_holds_down(&self, b: BackendId, s: ServerId) -> bool {
        let agent = self.backends[b].servers[s].agent.as_ref();
        agent.is_some_and(|a| a.enabled && !a.up)
    }

    /// Whether the server may be UP as far as its checks go: its health
    /// check (if any) and its agent (if enabled) both say UP.
    pub(super) fn agent_allows_up(&self, b: BackendId, s: ServerId) -> bool {
        let server = &self.backends[b].servers[s];
        let check_up = server.check.is_none() || server.health.is_up();
        let agent_up = server.agent.as_ref().is_none_or(|a| !a.enabled || a.up);
        check_up && agent_up
    }

    /// `option log-health-checks`: HAProxy's line of an agent result that
    /// changed the status (`set_server_check_status`).
    fn log_agent(&mut self, now: Instant, b: BackendId, s: ServerId) {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let Some(agent) = &server.agent else {
            return;
        };
        let last = &agent.last;
        let result = match last.status {
            AgentStatus::Up => "succeeded",
            _ if last.status.failed() => "failed",
            _ => "succeeded",
        };
        let status = match (agent.up, server.weight) {
            (false, _) => "0/1 DOWN",
            (true, 0) => "1/1 DRAIN",
            (true, _) => "1/1 UP",
        };
        let message = format!(
            "Agent check for {}server {}/{} {result}, reason: {}, check duration: {}ms, \
             status: {status}.",
            if server.config.backup { "backup " } else { "" },
            backend.config.name,
            server.config.name,
            last.reason_text(),
            last.duration_ms,
        );
        self.log(
            now,
            LogTargets::Backend(b),
            Severity::Notice,
            &message,
            Some(log::Level::Warn),
        );
    }

    /// `enable agent` / `disable agent`: a disabled agent runs no check and
    /// no longer holds the server DOWN (HAProxy's `CHK_ST_ENABLED`).
    fn set_agent_enabled(&mut self, now: Instant, b: BackendId, s: ServerId, on: bool) {
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        if agent.enabled == on {
            return;
        }
        agent.enabled = on;
        if on {
            agent.next = now;
            self.timers
                .schedule(&mut agent.queued, now, TimerKey::Agent(b, s));
        } else if let Some(probe) = agent.probe.take() {
            self.close(probe.conn, true);
        }
    }

    /// Whether the server's agent runs (None: it has none).
    pub(super) fn agent_enabled(&self, b: BackendId, s: ServerId) -> Option<bool> {
        let agent = self.backends.get(b)?.servers.get(s)?.agent.as_ref()?;
        Some(agent.enabled)
    }

    /// A runtime API change of the server's agent.
    pub(super) fn change_agent(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        change: &AgentChange,
    ) {
        match change {
            AgentChange::Enabled(on) => self.set_agent_enabled(now, b, s, *on),
            AgentChange::Force(up) => self.force_agent(now, b, s, *up),
            AgentChange::Send(text) => {
                if let Some(agent) = agent_mut(&mut self.backends, b, s) {
                    agent.send = text.clone();
                }
            }
            AgentChange::Addr(addr, port) => {
                if let Some(agent) = agent_mut(&mut self.backends, b, s) {
                    if let Some(addr) = addr {
                        agent.addr.set_ip(*addr);
                        agent.addr_given = true;
                    }
                    if let Some(port) = port {
                        agent.addr.set_port(*port);
                    }
                }
            }
        }
    }

    /// `set server B/S agent up|down`: the agent's health is forced, and
    /// the server follows as HAProxy's `srv_set_running`/`srv_set_stopped`
    /// with `changed from CLI`.
    fn force_agent(&mut self, now: Instant, b: BackendId, s: ServerId, up: bool) {
        let Some(agent) = agent_mut(&mut self.backends, b, s) else {
            return;
        };
        agent.up = up;
        let server = &self.backends[b].servers[s];
        if server.admin.maint() {
            return;
        }
        let admin = server.admin;
        let cause = Cause::Reason("changed from CLI");
        match up {
            true if !matches!(server.op, OpState::Running | OpState::Starting) => {
                let op = self.warm_start(now, b, s);
                self.change_server(now, b, s, op, admin, cause);
            }
            false if server.op != OpState::Stopped => {
                self.change_server(now, b, s, OpState::Stopped, admin, cause);
            }
            _ => {}
        }
    }
}
