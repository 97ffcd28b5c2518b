//! A server's state as people and checks set it, and the status text
//! HAProxy 2.6 derives from it (`stats_fill_sv_stats_computestate` and the
//! `ST_F_STATUS` case of `stats_fill_sv_stats` in src/stats.c). This is the
//! single source of the text in `show stat`, the stats page and the metrics'
//! `state` labels.

use std::fmt;

/// What an operator set (`set server B/S state ready|drain|maint`,
/// `disable server`/`enable server`, the `disabled` keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminState {
    /// Takes traffic as its health allows.
    #[default]
    Ready,
    /// No new sessions (effective weight 0); sessions in progress and checks
    /// continue.
    Drain,
    /// No traffic, checks stop; sessions in progress continue unless shut
    /// down.
    Maint,
}

/// A server's admin state: its own, and the one inherited from the server it
/// tracks (`track`), as HAProxy's `SRV_ADMF_F*` / `SRV_ADMF_I*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Admin {
    /// Set on this server.
    pub own: AdminState,
    /// Inherited from the tracked server (`Ready` when it tracks none).
    pub inherited: AdminState,
    /// In maintenance because its name does not resolve (`RMAINT`).
    pub resolution: bool,
}

impl Admin {
    /// In maintenance, set here or inherited.
    pub fn is_maint(&self) -> bool {
        self.own == AdminState::Maint || self.inherited == AdminState::Maint || self.resolution
    }

    /// Draining, set here or inherited.
    pub fn is_drain(&self) -> bool {
        self.own == AdminState::Drain || self.inherited == AdminState::Drain
    }

    /// HAProxy's `srv_admin_state` number (`show servers state`): FMAINT 0x01,
    /// IMAINT 0x02, FDRAIN 0x08, IDRAIN 0x10, RMAINT 0x20.
    pub fn haproxy_flags(&self) -> u32 {
        let resolution = if self.resolution { 0x20 } else { 0 };
        let own = match self.own {
            AdminState::Ready => 0,
            AdminState::Drain => 0x08,
            AdminState::Maint => 0x01,
        };
        let inherited = match self.inherited {
            AdminState::Ready => 0,
            AdminState::Drain => 0x10,
            AdminState::Maint => 0x02,
        };
        own | inherited | resolution
    }
}

/// Operational state set by checks (and by `set server B/S health`), as
/// HAProxy's `SRV_ST_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpState {
    /// DOWN.
    #[default]
    Stopped,
    /// UP, warming up under `slowstart`.
    Starting,
    /// UP.
    Running,
    /// UP but taking no new sessions (NOLB: a check said 404, or forced).
    Stopping,
}

impl OpState {
    /// HAProxy's `srv_op_state` number (`show servers state`).
    pub fn haproxy_number(self) -> u32 {
        match self {
            OpState::Stopped => 0,
            OpState::Starting => 1,
            OpState::Running => 2,
            OpState::Stopping => 3,
        }
    }

    /// UP in any form (not `Stopped`).
    pub fn is_up(self) -> bool {
        self != OpState::Stopped
    }
}

/// `set server B/S health up|stopping|down`: forces the operational state
/// until the next check verdict decides otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedHealth {
    /// Force UP (`OpState::Running`, health = rise + fall - 1).
    Up,
    /// Force NOLB (`OpState::Stopping`).
    Stopping,
    /// Force DOWN (`OpState::Stopped`, health = 0).
    Down,
}

impl ForcedHealth {
    /// The operational state it sets.
    pub fn op_state(self) -> OpState {
        match self {
            ForcedHealth::Up => OpState::Running,
            ForcedHealth::Stopping => OpState::Stopping,
            ForcedHealth::Down => OpState::Stopped,
        }
    }
}

/// The health-check hysteresis the status text depends on: HAProxy's
/// `check.health` runs from 0 (DOWN) to `rise + fall - 1` (fully UP); a
/// server is UP from `rise` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLevel {
    /// Checks are enabled (`CHK_ST_ENABLED`).
    pub enabled: bool,
    /// `rise` setting.
    pub rise: u32,
    /// `fall` setting.
    pub fall: u32,
    /// Current level, 0 ..= rise + fall - 1.
    pub health: u32,
}

impl CheckLevel {
    fn full(&self) -> u32 {
        (self.rise + self.fall).saturating_sub(1)
    }
}

/// Everything the status text depends on, for the server itself and for the
/// end of its `track` chain (the server actually checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInput<'a> {
    /// This server's admin state.
    pub admin: Admin,
    /// This server's operational state.
    pub op: OpState,
    /// This server's own check (or `None` without `check`).
    pub check: Option<CheckLevel>,
    /// This server's agent check when enabled: whether its health is UP
    /// (HAProxy's `agent.health` above 0).
    pub agent: Option<bool>,
    /// When tracking: the tracked server (`backend/server`) as named in the
    /// configuration, and the check and op state at the end of the chain.
    pub tracked: Option<Tracked<'a>>,
}

/// The server a tracking server follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked<'a> {
    /// Backend of the tracked server.
    pub backend: &'a str,
    /// Name of the tracked server.
    pub server: &'a str,
    /// Check of the server at the end of the chain.
    pub check: Option<CheckLevel>,
    /// Enabled agent of the server at the end of the chain: UP or not.
    pub agent: Option<bool>,
    /// Operational state of the server at the end of the chain.
    pub op: OpState,
}

/// A server's status as `show stat` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// `MAINT`.
    Maint,
    /// `MAINT (via b/s)`: inherited from the tracked server.
    MaintVia(String, String),
    /// `MAINT (resolution)`: its name does not resolve.
    MaintResolution,
    /// `DOWN`.
    Down,
    /// `DOWN (agent)`: the agent said the server is down.
    DownAgent,
    /// `DOWN n/m`: going up, n of m successes.
    GoingUp(u32, u32),
    /// `UP`.
    Up,
    /// `UP n/m`: going down.
    UpGoingDown(u32, u32),
    /// `NOLB`.
    Nolb,
    /// `NOLB n/m`.
    NolbGoingDown(u32, u32),
    /// `DRAIN`.
    Drain,
    /// `DRAIN n/m`.
    DrainGoingDown(u32, u32),
    /// `DRAIN (agent)`: draining, with an agent check enabled.
    DrainAgent,
    /// `no check`: UP without checks.
    NoCheck,
}

impl ServerStatus {
    /// The status of a server (HAProxy 2.6 `stats_fill_sv_stats`).
    pub fn of(input: &StatusInput<'_>) -> ServerStatus {
        if input.admin.resolution {
            return ServerStatus::MaintResolution;
        }
        if input.admin.inherited == AdminState::Maint {
            if let Some(t) = &input.tracked {
                return ServerStatus::MaintVia(t.backend.to_owned(), t.server.to_owned());
            }
        }
        if input.admin.is_maint() {
            return ServerStatus::Maint;
        }
        let (ref_check, ref_agent, ref_op) = match &input.tracked {
            Some(t) => (t.check, t.agent, t.op),
            None => (input.check, input.agent, input.op),
        };
        let enabled = ref_check.filter(|c| c.enabled);
        let (health, rise, fall) = ref_check.map_or((0, 0, 0), |c| (c.health, c.rise, c.fall));
        // The two numbers HAProxy prints for the transitional states.
        let (n, m) = if ref_op.is_up() {
            ((health + 1).saturating_sub(rise), fall)
        } else {
            (health, rise)
        };
        match input.op {
            OpState::Running | OpState::Starting => {
                let going_down = enabled.is_some_and(|c| c.health < c.full());
                if input.admin.is_drain() {
                    if ref_agent.is_some() {
                        ServerStatus::DrainAgent
                    } else if going_down {
                        ServerStatus::DrainGoingDown(n, m)
                    } else {
                        ServerStatus::Drain
                    }
                } else if going_down {
                    ServerStatus::UpGoingDown(n, m)
                } else if enabled.is_none() {
                    ServerStatus::NoCheck
                } else {
                    ServerStatus::Up
                }
            }
            OpState::Stopping => {
                let own_enabled = input.check.is_some_and(|c| c.enabled);
                if (!own_enabled && input.tracked.is_none())
                    || ref_check.is_some_and(|c| c.health == c.full())
                {
                    ServerStatus::Nolb
                } else {
                    ServerStatus::NolbGoingDown(n, m)
                }
            }
            OpState::Stopped => match (ref_agent, enabled) {
                (Some(false), _) => ServerStatus::DownAgent,
                (_, Some(c)) if c.health == 0 => ServerStatus::Down,
                (Some(true), _) | (_, Some(_)) => ServerStatus::GoingUp(n, m),
                (None, None) => ServerStatus::Down,
            },
        }
    }

    /// The value of Prometheus' `state` label (HAProxy's `promex_srv_status`).
    pub fn metric_state(&self) -> MetricState {
        match self {
            ServerStatus::Maint | ServerStatus::MaintVia(..) | ServerStatus::MaintResolution => {
                MetricState::Maint
            }
            ServerStatus::Down | ServerStatus::DownAgent | ServerStatus::GoingUp(..) => {
                MetricState::Down
            }
            ServerStatus::Drain | ServerStatus::DrainGoingDown(..) | ServerStatus::DrainAgent => {
                MetricState::Drain
            }
            ServerStatus::Nolb | ServerStatus::NolbGoingDown(..) => MetricState::Nolb,
            ServerStatus::Up | ServerStatus::UpGoingDown(..) | ServerStatus::NoCheck => {
                MetricState::Up
            }
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerStatus::Maint => f.write_str("MAINT"),
            ServerStatus::MaintVia(b, s) => write!(f, "MAINT (via {b}/{s})"),
            ServerStatus::MaintResolution => f.write_str("MAINT (resolution)"),
            ServerStatus::Down => f.write_str("DOWN"),
            ServerStatus::DownAgent => f.write_str("DOWN (agent)"),
            ServerStatus::GoingUp(n, m) => write!(f, "DOWN {n}/{m}"),
            ServerStatus::Up => f.write_str("UP"),
            ServerStatus::UpGoingDown(n, m) => write!(f, "UP {n}/{m}"),
            ServerStatus::Nolb => f.write_str("NOLB"),
            ServerStatus::NolbGoingDown(n, m) => write!(f, "NOLB {n}/{m}"),
            ServerStatus::Drain => f.write_str("DRAIN"),
            ServerStatus::DrainGoingDown(n, m) => write!(f, "DRAIN {n}/{m}"),
            ServerStatus::DrainAgent => f.write_str("DRAIN (agent)"),
            ServerStatus::NoCheck => f.write_str("no check"),
        }
    }
}

/// The five server states of the Prometheus exporter, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricState {
    /// `DOWN`.
    Down,
    /// `UP`.
    Up,
    /// `MAINT`.
    Maint,
    /// `DRAIN`.
    Drain,
    /// `NOLB`.
    Nolb,
}

impl MetricState {
    /// All, in the exporter's order.
    pub const ALL: [MetricState; 5] = [
        MetricState::Down,
        MetricState::Up,
        MetricState::Maint,
        MetricState::Drain,
        MetricState::Nolb,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            MetricState::Down => "DOWN",
            MetricState::Up => "UP",
            MetricState::Maint => "MAINT",
            MetricState::Drain => "DRAIN",
            MetricState::Nolb => "NOLB",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chk(health: u32) -> Option<CheckLevel> {
        Some(CheckLevel {
            enabled: true,
            rise: 2,
            fall: 3,
            health,
        })
    }

    fn status(admin: AdminState, op: OpState, check: Option<CheckLevel>) -> String {
        ServerStatus::of(&StatusInput {
            admin: Admin {
                own: admin,
                inherited: AdminState::Ready,
                resolution: false,
            },
            op,
            check,
            agent: None,
            tracked: None,
        })
        .to_string()
    }

    #[test]
    fn texts_as_haproxy() {
        use AdminState::*;
        use OpState::*;
        // rise 2, fall 3: health 0..=4, UP from 2.
        assert_eq!(status(Ready, Running, chk(4)), "UP");
        assert_eq!(status(Ready, Running, chk(3)), "UP 2/3");
        assert_eq!(status(Ready, Running, chk(2)), "UP 1/3");
        assert_eq!(status(Ready, Stopped, chk(0)), "DOWN");
        assert_eq!(status(Ready, Stopped, chk(1)), "DOWN 1/2");
        assert_eq!(status(Ready, Running, None), "no check");
        assert_eq!(status(Ready, Stopped, None), "DOWN");
        assert_eq!(status(Drain, Running, chk(4)), "DRAIN");
        assert_eq!(status(Drain, Running, chk(3)), "DRAIN 2/3");
        assert_eq!(status(Drain, Running, None), "DRAIN");
        assert_eq!(status(Ready, Stopping, chk(4)), "NOLB");
        assert_eq!(status(Ready, Stopping, chk(3)), "NOLB 2/3");
        assert_eq!(status(Ready, Stopping, None), "NOLB");
        assert_eq!(status(Maint, Stopped, chk(0)), "MAINT");
        assert_eq!(status(Maint, Running, None), "MAINT");
        // Drain on a DOWN server shows DOWN (HAProxy only marks UP ones).
        assert_eq!(status(Drain, Stopped, chk(0)), "DOWN");
    }

    #[test]
    fn an_enabled_agent_shows_in_down_and_drain_as_haproxy() {
        use AdminState::*;
        use OpState::*;
        let with_agent = |admin, op, check, agent| {
            ServerStatus::of(&StatusInput {
                admin: Admin {
                    own: admin,
                    inherited: AdminState::Ready,
                    resolution: false,
                },
                op,
                check,
                agent: Some(agent),
                tracked: None,
            })
            .to_string()
        };
        assert_eq!(with_agent(Ready, Stopped, chk(0), false), "DOWN (agent)");
        assert_eq!(with_agent(Ready, Stopped, chk(0), true), "DOWN");
        assert_eq!(with_agent(Ready, Stopped, chk(1), true), "DOWN 1/2");
        assert_eq!(with_agent(Ready, Stopped, None, false), "DOWN (agent)");
        assert_eq!(with_agent(Drain, Running, chk(4), true), "DRAIN (agent)");
        assert_eq!(with_agent(Drain, Running, chk(3), false), "DRAIN (agent)");
        assert_eq!(with_agent(Ready, Running, None, true), "no check");
        assert_eq!(with_agent(Ready, Running, chk(4), true), "UP");
        assert_eq!(with_agent(Maint, Stopped, None, false), "MAINT");
    }

    #[test]
    fn tracking_uses_the_tracked_check_and_names_inherited_maint() {
        let tracked = Tracked {
            backend: "app",
            server: "app1",
            check: chk(3),
            agent: None,
            op: OpState::Running,
        };
        let mut input = StatusInput {
            admin: Admin::default(),
            op: OpState::Running,
            check: None,
            agent: None,
            tracked: Some(tracked),
        };
        assert_eq!(ServerStatus::of(&input).to_string(), "UP 2/3");
        input.admin.inherited = AdminState::Maint;
        assert_eq!(ServerStatus::of(&input).to_string(), "MAINT (via app/app1)");
        assert_eq!(input.admin.haproxy_flags(), 0x02);
        assert_eq!(ServerStatus::of(&input).metric_state(), MetricState::Maint);
    }
}
