//! Plain-data views of the balancer that the formatters read. The balancer
//! builds them on demand (at `now`) from its counters and state; the
//! formatters never see the balancer itself.

use super::counters::{BackendCounters, FrontendCounters};
use super::status::{Admin, CheckLevel, OpState, ServerStatus};

/// A proxy's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `mode tcp`.
    Tcp,
    /// `mode http` (the metrics/stats responder only).
    Http,
}

impl Mode {
    /// As HAProxy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        }
    }
}

/// One proxy (a `frontend`, a `backend` or a `listen`): its rows in `show
/// stat` order are the frontend, the servers, then the backend.
#[derive(Debug, Clone)]
pub struct ProxyStats {
    /// Proxy name (`pxname`).
    pub name: String,
    /// Proxy id (`iid`): its `id`, or HAProxy's numbering (from 2, in
    /// configuration order, across frontends and backends).
    pub iid: u32,
    /// `description`, shown on the stats page.
    pub description: Option<String>,
    /// `mode`.
    pub mode: Mode,
    /// The frontend part, if the proxy has one.
    pub frontend: Option<FrontendRow>,
    /// The servers, in configuration order.
    pub servers: Vec<ServerRow>,
    /// The backend part, if the proxy has one.
    pub backend: Option<BackendRow>,
}

/// A frontend's row.
#[derive(Debug, Clone, Default)]
pub struct FrontendRow {
    /// Its counters.
    pub counters: FrontendCounters,
    /// Sessions per second now.
    pub sess_rate: u32,
    /// Connections per second now.
    pub conn_rate: u32,
    /// HTTP requests per second now (`mode http`).
    pub req_rate: u32,
    /// `maxconn` (`slim`).
    pub maxconn: u32,
    /// `rate-limit sessions` (`rate_lim`), 0 for none.
    pub rate_limit: u32,
    /// Its listeners are stopped (`STOP` rather than `OPEN`).
    pub stopped: bool,
}

/// A backend's row.
#[derive(Debug, Clone, Default)]
pub struct BackendRow {
    /// Its counters.
    pub counters: BackendCounters,
    /// Sessions per second now.
    pub sess_rate: u32,
    /// Sum of the effective weights of the servers in use (`weight`), as
    /// HAProxy's `lbprm.tot_weight` scaled back to user weights.
    pub weight: u32,
    /// Sum of the user weights of the usable servers (`uweight`).
    pub uweight: u32,
    /// Active servers UP (`act`).
    pub active: u32,
    /// Backup servers UP (`bck`).
    pub backup: u32,
    /// Transitions to DOWN (`chkdown`).
    pub down_trans: u64,
    /// Seconds since its last state change (`lastchg`).
    pub lastchg_secs: u64,
    /// Seconds spent DOWN (`downtime`).
    pub downtime_secs: u64,
    /// `fullconn` (`slim`).
    pub fullconn: u32,
    /// Seconds since the last session, -1 if none (`lastsess`).
    pub last_sess_secs: i64,
    /// `balance` algorithm as HAProxy names it (`roundrobin`, `leastconn`,
    /// `first`, `source`, `random`, …).
    pub algo: String,
}

impl BackendRow {
    /// `UP` if a server takes traffic or there are none, else `DOWN`.
    pub fn is_up(&self, has_servers: bool) -> bool {
        self.weight > 0 || !has_servers
    }
}

/// A server's row, also the source of `show servers state`.
#[derive(Debug, Clone)]
pub struct ServerRow {
    /// Server name (`svname`).
    pub name: String,
    /// Server id in its backend (`sid`), 1, 2, … or its `id`.
    pub sid: u32,
    /// Whether `id` was set in the configuration.
    pub forced_id: bool,
    /// Its counters.
    pub counters: BackendCounters,
    /// Sessions per second now.
    pub sess_rate: u32,
    /// Status (from [`ServerStatus::of`]).
    pub status: ServerStatus,
    /// Admin state.
    pub admin: Admin,
    /// `disabled` on its line (HAProxy's `CMAINT`, kept after `set server
    /// ... state ready`, shown by `show servers state`).
    pub configured_maint: bool,
    /// Operational state.
    pub op: OpState,
    /// Effective weight (`weight`, HAProxy's `cur_eweight` scaled back): the
    /// user weight, reduced while warming up under `slowstart`. HAProxy
    /// does not zero it for DOWN, DRAIN or MAINT servers.
    pub weight: u32,
    /// User weight (`uweight`, `set server weight`).
    pub uweight: u32,
    /// Initial (configured) weight (`srv_iweight`).
    pub iweight: u32,
    /// `backup` server.
    pub backup: bool,
    /// Its own health check (configured or not: HAProxy keeps the state of
    /// both).
    pub check: CheckInfo,
    /// `observe layer4` (shows `hanafail`).
    pub observe: bool,
    /// Seconds since the last state change (`lastchg`).
    pub lastchg_secs: u64,
    /// Seconds spent DOWN (`downtime`).
    pub downtime_secs: u64,
    /// Seconds since the last session, -1 if none (`lastsess`).
    pub last_sess_secs: i64,
    /// `maxconn` (`slim`), if set.
    pub maxconn: Option<u32>,
    /// `maxqueue` (`qlimit`), if set.
    pub maxqueue: Option<u32>,
    /// `slowstart` ratio in percent while warming up (`throttle`).
    pub throttle: Option<u32>,
    /// Tracked server as `backend/server`.
    pub tracked: Option<String>,
    /// Traffic address.
    pub addr: std::net::SocketAddr,
    /// The host name it was given by, if any (`srv_fqdn`).
    pub fqdn: Option<String>,
    /// `ssl` to the server.
    pub use_ssl: bool,
    /// Check port when it differs from the traffic port (0 otherwise).
    pub check_port: u16,
    /// Its agent check (`agent-check`), if configured.
    pub agent: Option<AgentInfo>,
}

/// A server's agent check as the formatters show it (HAProxy's
/// `sv->agent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// Not stopped by `disable agent` (`CHK_ST_ENABLED`): the agent
    /// columns are shown only then.
    pub enabled: bool,
    /// An agent check is running now (`* ` before `agent_status`).
    pub in_progress: bool,
    /// Last agent check's status.
    pub status: CheckStatus,
    /// Last agent check's duration in ms.
    pub duration_ms: u64,
    /// Last agent check's text (`last_agt`, e.g. `via agent : up`),
    /// empty while a check runs as HAProxy clears it when one starts.
    pub desc: String,
    /// The agent's health: 1 UP, 0 DOWN (its rise and fall are 1).
    pub health: u32,
    /// `agent-addr`, when given (`srv_agent_addr`).
    pub addr: Option<std::net::IpAddr>,
    /// Where the agent listens (`srv_agent_port`).
    pub port: u16,
}

impl AgentInfo {
    /// HAProxy's `agent.state` bits (`srv_agent_state`): IN_PROGRESS 0x1,
    /// CONFIGURED 0x2, ENABLED 0x4, AGENT 0x10.
    pub fn haproxy_state(&self) -> u32 {
        u32::from(self.in_progress) | 0x02 | u32::from(self.enabled) << 2 | 0x10
    }

    /// The health the status text reads: UP or not, when enabled.
    pub fn level(&self) -> Option<bool> {
        self.enabled.then_some(self.health > 0)
    }
}

/// A server's health check as the formatters show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInfo {
    /// `check` is configured (`CHK_ST_CONFIGURED`).
    pub configured: bool,
    /// rise/fall/health and whether checks are enabled.
    pub level: CheckLevel,
    /// Checks paused by maintenance (`CHK_ST_PAUSED`): the check columns
    /// are then left empty, as HAProxy does.
    pub paused: bool,
    /// A check is running now (`* ` before `check_status`).
    pub in_progress: bool,
    /// Last check's status.
    pub status: CheckStatus,
    /// Last check's HTTP status code, if any.
    pub code: Option<u32>,
    /// Last check's duration in ms.
    pub duration_ms: u64,
    /// Last check's short text (`last_chk`, e.g. `Connection refused`).
    pub desc: String,
}

impl CheckInfo {
    /// Enabled and not paused: HAProxy shows the check columns.
    pub fn shown(&self) -> bool {
        self.level.enabled && !self.paused
    }

    /// HAProxy's `check.state` bits (`srv_check_state`): IN_PROGRESS 0x1,
    /// CONFIGURED 0x2, ENABLED 0x4, PAUSED 0x8.
    pub fn haproxy_state(&self) -> u32 {
        u32::from(self.in_progress)
            | u32::from(self.configured) << 1
            | u32::from(self.level.enabled) << 2
            | u32::from(self.paused) << 3
    }
}

/// HAProxy's check status codes (`HCHK_STATUS_*`), those weir produces and
/// those the exporter lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// `UNK`.
    Unknown,
    /// `INI`: no check has completed yet.
    Init,
    /// `HANA`: passive checks (`observe`) marked the server.
    Hana,
    /// `SOCKERR`.
    SockErr,
    /// `L4OK`.
    L4Ok,
    /// `L4TOUT`.
    L4Tout,
    /// `L4CON`.
    L4Con,
    /// `L6OK`.
    L6Ok,
    /// `L6TOUT`.
    L6Tout,
    /// `L6RSP`.
    L6Rsp,
    /// `L7TOUT`.
    L7Tout,
    /// `L7RSP`.
    L7Rsp,
    /// `L7OK`.
    L7Ok,
    /// `L7OKC`.
    L7OkC,
    /// `L7STS`.
    L7Sts,
    /// `CHECKED`: an agent's line without a health word.
    Checked,
    /// `PROCERR`.
    ProcErr,
    /// `PROCTOUT`.
    ProcTout,
    /// `PROCOK`.
    ProcOk,
}

impl CheckStatus {
    /// The statuses HAProxy's exporter lists (result at least FAILED), in
    /// its order.
    pub const METRIC_STATES: [CheckStatus; 16] = [
        CheckStatus::Hana,
        CheckStatus::SockErr,
        CheckStatus::L4Ok,
        CheckStatus::L4Tout,
        CheckStatus::L4Con,
        CheckStatus::L6Ok,
        CheckStatus::L6Tout,
        CheckStatus::L6Rsp,
        CheckStatus::L7Tout,
        CheckStatus::L7Rsp,
        CheckStatus::L7Ok,
        CheckStatus::L7OkC,
        CheckStatus::L7Sts,
        CheckStatus::ProcErr,
        CheckStatus::ProcTout,
        CheckStatus::ProcOk,
    ];

    /// Short name (`check_status`).
    pub fn info(self) -> &'static str {
        self.row().1
    }

    /// Description (`check_desc`).
    pub fn desc(self) -> &'static str {
        self.row().2
    }

    /// HAProxy's number (`srv_check_status`).
    pub fn number(self) -> u32 {
        self.row().0
    }

    /// HAProxy's check result number (`srv_check_result`): 0 unknown,
    /// 1 neutral, 2 failed, 3 passed, 4 conditionally passed.
    pub fn result(self) -> u32 {
        use CheckStatus::*;
        match self {
            Unknown | Init => 0,
            Checked => 1,
            L4Ok | L6Ok | L7Ok | ProcOk => 3,
            L7OkC => 4,
            _ => 2,
        }
    }

    /// Whether a check with this status read an L5-7 code (`check_code`).
    pub fn has_code(self) -> bool {
        self.number() >= 14
    }

    /// Whether the check completed (`check_duration` is shown).
    pub fn completed(self) -> bool {
        self.number() >= 3
    }

    fn row(self) -> (u32, &'static str, &'static str) {
        use CheckStatus::*;
        match self {
            Unknown => (0, "UNK", "Unknown"),
            Init => (1, "INI", "Initializing"),
            Checked => (3, "CHECKED", "No status change"),
            Hana => (4, "HANA", "Health analyze"),
            SockErr => (5, "SOCKERR", "Socket error"),
            L4Ok => (6, "L4OK", "Layer4 check passed"),
            L4Tout => (7, "L4TOUT", "Layer4 timeout"),
            L4Con => (8, "L4CON", "Layer4 connection problem"),
            L6Ok => (9, "L6OK", "Layer6 check passed"),
            L6Tout => (10, "L6TOUT", "Layer6 timeout"),
            L6Rsp => (11, "L6RSP", "Layer6 invalid response"),
            L7Tout => (12, "L7TOUT", "Layer7 timeout"),
            L7Rsp => (13, "L7RSP", "Layer7 invalid response"),
            L7Ok => (15, "L7OK", "Layer7 check passed"),
            L7OkC => (16, "L7OKC", "Layer7 check conditionally passed"),
            L7Sts => (17, "L7STS", "Layer7 wrong status"),
            ProcErr => (18, "PROCERR", "External check error"),
            ProcTout => (19, "PROCTOUT", "External check timeout"),
            ProcOk => (20, "PROCOK", "External check passed"),
        }
    }
}

/// Process-wide values for `show info` and `haproxy_process_*`.
#[derive(Debug, Clone, Default)]
pub struct ProcessInfo {
    /// Product name written as `Name`.
    pub name: String,
    /// Product version written as `Version` (weir's).
    pub version: String,
    /// Release date written as `Release_date`.
    pub release_date: String,
    /// Event loops (`Nbthread`).
    pub nbthread: u32,
    /// Process id.
    pub pid: u32,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Start time, seconds since the Unix epoch.
    pub start_time_secs: u64,
    /// File descriptor limit (`Ulimit-n`).
    pub ulimit_n: u32,
    /// Socket limit (`Maxsock`).
    pub maxsock: u32,
    /// `maxconn` in effect (`Maxconn`).
    pub maxconn: u32,
    /// Hard limit on connections (`Hard_maxconn`).
    pub hard_maxconn: u32,
    /// Connections open now (`CurrConns`).
    pub cur_conns: u32,
    /// Connections since start (`CumConns`).
    pub cum_conns: u64,
    /// HTTP requests since start (`CumReq`).
    pub cum_req: u64,
    /// Connections per second now (`ConnRate`).
    pub conn_rate: u32,
    /// `maxconnrate` (`ConnRateLimit`), 0 for none.
    pub conn_rate_limit: u32,
    /// Highest connection rate (`MaxConnRate`).
    pub max_conn_rate: u32,
    /// Sessions per second now (`SessRate`).
    pub sess_rate: u32,
    /// `maxsessrate` (`SessRateLimit`), 0 for none.
    pub sess_rate_limit: u32,
    /// Highest session rate (`MaxSessRate`).
    pub max_sess_rate: u32,
    /// Timers and pending work items (`Tasks`).
    pub tasks: u32,
    /// Work ready to run (`Run_queue`).
    pub run_queue: u32,
    /// Percent of the last second spent idle (`Idle_pct`).
    pub idle_pct: u32,
    /// Host name (`node`).
    pub node: String,
    /// `description`, if set.
    pub description: Option<String>,
    /// Soft-stopping (`Stopping`).
    pub stopping: bool,
    /// Connections plus listeners (`Jobs`).
    pub jobs: u32,
    /// Listeners bound (`Listeners`).
    pub listeners: u32,
    /// Log lines dropped (`DroppedLogs`).
    pub dropped_logs: u64,
    /// Bytes sent (`TotalBytesOut`).
    pub bytes_out: u64,
    /// Bytes per second sent now (`BytesOutRate`).
    pub bytes_out_rate: u64,
    /// Most kernel pipes for splicing (`Maxpipes`).
    pub maxpipes: u32,
    /// Kernel pipes holding a spliced direction's bytes (`PipesUsed`).
    pub pipes_used: u32,
    /// Kernel pipes kept for reuse (`PipesFree`).
    pub pipes_free: u32,
}
