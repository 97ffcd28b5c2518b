//! The columns of `show stat` in HAProxy 2.6's order, and the value of each
//! column for a frontend, backend or server row: filled where HAProxy fills
//! it (for a TCP or HTTP proxy), empty where HAProxy leaves it empty
//! (`stats_fill_fe_stats`, `stats_fill_be_stats`, `stats_fill_sv_stats` in
//! src/stats.c).

use super::snapshot::{AgentInfo, BackendRow, FrontendRow, Mode, ProxyStats, ServerRow};
use std::fmt;

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Left empty.
    Empty,
    /// A number.
    U64(u64),
    /// A signed number (`lastsess` is -1 without sessions).
    S64(i64),
    /// A text.
    Str(String),
}

impl Field {
    /// The number, if the field holds one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Field::U64(v) => Some(*v as f64),
            Field::S64(v) => Some(*v as f64),
            _ => None,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Empty => Ok(()),
            Field::U64(v) => write!(f, "{v}"),
            Field::S64(v) => write!(f, "{v}"),
            Field::Str(s) => f.write_str(s),
        }
    }
}

macro_rules! columns {
    ($($id:ident = $name:literal,)*) => {
        /// Column indexes.
        #[allow(missing_docs, dead_code, non_camel_case_types, clippy::upper_case_acronyms)]
        pub mod col {
            #[repr(usize)]
            enum Index {
                $($id,)*
            }
            $(pub const $id: usize = Index::$id as usize;)*
        }
        /// Column names, in order (the `show stat` header).
        pub const NAMES: &[&str] = &[$($name,)*];
    };
}

columns! {
    PXNAME = "pxname", SVNAME = "svname", QCUR = "qcur", QMAX = "qmax",
    SCUR = "scur", SMAX = "smax", SLIM = "slim", STOT = "stot", BIN = "bin",
    BOUT = "bout", DREQ = "dreq", DRESP = "dresp", EREQ = "ereq", ECON = "econ",
    ERESP = "eresp", WRETR = "wretr", WREDIS = "wredis", STATUS = "status",
    WEIGHT = "weight", ACT = "act", BCK = "bck", CHKFAIL = "chkfail",
    CHKDOWN = "chkdown", LASTCHG = "lastchg", DOWNTIME = "downtime",
    QLIMIT = "qlimit", PID = "pid", IID = "iid", SID = "sid",
    THROTTLE = "throttle", LBTOT = "lbtot", TRACKED = "tracked", TYPE = "type",
    RATE = "rate", RATE_LIM = "rate_lim", RATE_MAX = "rate_max",
    CHECK_STATUS = "check_status", CHECK_CODE = "check_code",
    CHECK_DURATION = "check_duration", HRSP_1XX = "hrsp_1xx",
    HRSP_2XX = "hrsp_2xx", HRSP_3XX = "hrsp_3xx", HRSP_4XX = "hrsp_4xx",
    HRSP_5XX = "hrsp_5xx", HRSP_OTHER = "hrsp_other", HANAFAIL = "hanafail",
    REQ_RATE = "req_rate", REQ_RATE_MAX = "req_rate_max", REQ_TOT = "req_tot",
    CLI_ABRT = "cli_abrt", SRV_ABRT = "srv_abrt", COMP_IN = "comp_in",
    COMP_OUT = "comp_out", COMP_BYP = "comp_byp", COMP_RSP = "comp_rsp",
    LASTSESS = "lastsess", LAST_CHK = "last_chk", LAST_AGT = "last_agt",
    QTIME = "qtime", CTIME = "ctime", RTIME = "rtime", TTIME = "ttime",
    AGENT_STATUS = "agent_status", AGENT_CODE = "agent_code",
    AGENT_DURATION = "agent_duration", CHECK_DESC = "check_desc",
    AGENT_DESC = "agent_desc", CHECK_RISE = "check_rise",
    CHECK_FALL = "check_fall", CHECK_HEALTH = "check_health",
    AGENT_RISE = "agent_rise", AGENT_FALL = "agent_fall",
    AGENT_HEALTH = "agent_health", ADDR = "addr", COOKIE = "cookie",
    MODE = "mode", ALGO = "algo", CONN_RATE = "conn_rate",
    CONN_RATE_MAX = "conn_rate_max", CONN_TOT = "conn_tot",
    INTERCEPTED = "intercepted", DCON = "dcon", DSES = "dses", WREW = "wrew",
    CONNECT = "connect", REUSE = "reuse", CACHE_LOOKUPS = "cache_lookups",
    CACHE_HITS = "cache_hits", SRV_ICUR = "srv_icur", SRC_ILIM = "src_ilim",
    QT_MAX = "qtime_max", CT_MAX = "ctime_max", RT_MAX = "rtime_max",
    TT_MAX = "ttime_max", EINT = "eint", IDLE_CONN_CUR = "idle_conn_cur",
    SAFE_CONN_CUR = "safe_conn_cur", USED_CONN_CUR = "used_conn_cur",
    NEED_CONN_EST = "need_conn_est", UWEIGHT = "uweight",
    AGG_SRV_STATUS = "agg_server_status",
    AGG_SRV_CHECK_STATUS = "agg_server_check_status",
    AGG_CHECK_STATUS = "agg_check_status", PLACEHOLDER = "-",
    SSL_SESS = "ssl_sess", SSL_REUSED_SESS = "ssl_reused_sess",
    SSL_FAILED_HANDSHAKE = "ssl_failed_handshake",
    H2_HEADERS_RCVD = "h2_headers_rcvd", H2_DATA_RCVD = "h2_data_rcvd",
    H2_SETTINGS_RCVD = "h2_settings_rcvd",
    H2_RST_STREAM_RCVD = "h2_rst_stream_rcvd", H2_GOAWAY_RCVD = "h2_goaway_rcvd",
    H2_DETECTED_CONN_PROTOCOL_ERRORS = "h2_detected_conn_protocol_errors",
    H2_DETECTED_STRM_PROTOCOL_ERRORS = "h2_detected_strm_protocol_errors",
    H2_RST_STREAM_RESP = "h2_rst_stream_resp", H2_GOAWAY_RESP = "h2_goaway_resp",
    H2_OPEN_CONNECTIONS = "h2_open_connections",
    H2_BACKEND_OPEN_STREAMS = "h2_backend_open_streams",
    H2_TOTAL_CONNECTIONS = "h2_total_connections",
    H2_BACKEND_TOTAL_STREAMS = "h2_backend_total_streams",
    H1_OPEN_CONNECTIONS = "h1_open_connections", H1_OPEN_STREAMS = "h1_open_streams",
    H1_TOTAL_CONNECTIONS = "h1_total_connections",
    H1_TOTAL_STREAMS = "h1_total_streams", H1_BYTES_IN = "h1_bytes_in",
    H1_BYTES_OUT = "h1_bytes_out", H1_SPLICED_BYTES_IN = "h1_spliced_bytes_in",
    H1_SPLICED_BYTES_OUT = "h1_spliced_bytes_out",
}

/// Row type numbers (`type` column, `show stat`'s type filter bits).
pub const TYPE_FE: u64 = 0;
/// Backend.
pub const TYPE_BE: u64 = 1;
/// Server.
pub const TYPE_SV: u64 = 2;

/// A row being filled.
pub type Row = Vec<Field>;

fn new_row() -> Row {
    vec![Field::Empty; NAMES.len()]
}

fn set(row: &mut Row, col: usize, v: impl Into<u64>) {
    row[col] = Field::U64(v.into());
}

fn text(row: &mut Row, col: usize, s: impl Into<String>) {
    row[col] = Field::Str(s.into());
}

/// The extra modules' columns (SSL, H2, H1): counters weir does not keep,
/// zero on the row types where HAProxy 2.6 fills them.
fn modules(row: &mut Row, with_http_muxes: bool) {
    text(row, col::PLACEHOLDER, "-");
    let last = if with_http_muxes {
        NAMES.len()
    } else {
        col::SSL_FAILED_HANDSHAKE + 1
    };
    for c in col::SSL_SESS..last {
        set(row, c, 0u64);
    }
}

/// The frontend row of `px`.
pub fn frontend(px: &ProxyStats, fe: &FrontendRow) -> Row {
    let c = &fe.counters;
    let mut r = new_row();
    text(&mut r, col::PXNAME, &px.name);
    text(&mut r, col::SVNAME, "FRONTEND");
    text(&mut r, col::MODE, px.mode.as_str());
    set(&mut r, col::SCUR, c.cur_sess);
    set(&mut r, col::SMAX, c.conn_max);
    set(&mut r, col::SLIM, fe.maxconn);
    set(&mut r, col::STOT, c.cum_sess);
    set(&mut r, col::BIN, c.bytes_in);
    set(&mut r, col::BOUT, c.bytes_out);
    set(&mut r, col::DREQ, c.denied_req);
    set(&mut r, col::DRESP, c.denied_resp);
    set(&mut r, col::EREQ, c.failed_req);
    set(&mut r, col::DCON, c.denied_conn);
    set(&mut r, col::DSES, c.denied_sess);
    text(
        &mut r,
        col::STATUS,
        if fe.stopped { "STOP" } else { "OPEN" },
    );
    set(&mut r, col::PID, 1u32);
    set(&mut r, col::IID, px.iid);
    set(&mut r, col::SID, 0u32);
    set(&mut r, col::TYPE, TYPE_FE);
    set(&mut r, col::RATE, fe.sess_rate);
    set(&mut r, col::RATE_LIM, fe.rate_limit);
    set(&mut r, col::RATE_MAX, c.sps_max);
    set(&mut r, col::WREW, 0u64);
    set(&mut r, col::EINT, c.internal_errors);
    let http = c.http.clone().unwrap_or_default();
    if px.mode == Mode::Http {
        let rsp = [
            col::HRSP_OTHER,
            col::HRSP_1XX,
            col::HRSP_2XX,
            col::HRSP_3XX,
            col::HRSP_4XX,
            col::HRSP_5XX,
        ];
        for (class, column) in rsp.into_iter().enumerate() {
            set(&mut r, column, http.rsp[class]);
        }
        set(&mut r, col::INTERCEPTED, http.intercepted);
        set(&mut r, col::CACHE_LOOKUPS, 0u64);
        set(&mut r, col::CACHE_HITS, 0u64);
    }
    set(&mut r, col::REQ_RATE, fe.req_rate);
    set(&mut r, col::REQ_RATE_MAX, http.rps_max);
    set(&mut r, col::REQ_TOT, http.cum_req);
    for column in [col::COMP_IN, col::COMP_OUT, col::COMP_BYP, col::COMP_RSP] {
        set(&mut r, column, 0u64);
    }
    set(&mut r, col::CONN_RATE, fe.conn_rate);
    set(&mut r, col::CONN_RATE_MAX, c.cps_max);
    set(&mut r, col::CONN_TOT, c.cum_conn);
    modules(&mut r, true);
    r
}

/// The backend row of `px`.
pub fn backend(px: &ProxyStats, be: &BackendRow) -> Row {
    let c = &be.counters;
    let mut r = new_row();
    text(&mut r, col::PXNAME, &px.name);
    text(&mut r, col::SVNAME, "BACKEND");
    text(&mut r, col::MODE, px.mode.as_str());
    set(&mut r, col::QCUR, c.queue_cur);
    set(&mut r, col::QMAX, c.queue_max);
    set(&mut r, col::SCUR, c.cur_sess);
    set(&mut r, col::SMAX, c.cur_sess_max);
    set(&mut r, col::SLIM, be.fullconn);
    set(&mut r, col::STOT, c.cum_sess);
    set(&mut r, col::BIN, c.bytes_in);
    set(&mut r, col::BOUT, c.bytes_out);
    set(&mut r, col::DREQ, c.denied_req);
    set(&mut r, col::DRESP, c.denied_resp);
    set(&mut r, col::ECON, c.failed_conns);
    set(&mut r, col::ERESP, c.failed_resp);
    set(&mut r, col::WRETR, c.retries);
    set(&mut r, col::WREDIS, c.redispatches);
    set(&mut r, col::WREW, 0u64);
    set(&mut r, col::EINT, c.internal_errors);
    set(&mut r, col::CONNECT, c.connect);
    set(&mut r, col::REUSE, 0u64);
    let up = be.is_up(!px.servers.is_empty());
    text(&mut r, col::STATUS, if up { "UP" } else { "DOWN" });
    for column in [
        col::AGG_SRV_STATUS,
        col::AGG_SRV_CHECK_STATUS,
        col::AGG_CHECK_STATUS,
    ] {
        set(&mut r, column, 0u64);
    }
    set(&mut r, col::WEIGHT, be.weight);
    set(&mut r, col::UWEIGHT, be.uweight);
    set(&mut r, col::ACT, be.active);
    set(&mut r, col::BCK, be.backup);
    set(&mut r, col::CHKDOWN, be.down_trans);
    set(&mut r, col::LASTCHG, be.lastchg_secs);
    if !px.servers.is_empty() {
        set(&mut r, col::DOWNTIME, be.downtime_secs);
    }
    set(&mut r, col::PID, 1u32);
    set(&mut r, col::IID, px.iid);
    set(&mut r, col::SID, 0u32);
    set(&mut r, col::LBTOT, c.cum_lbconn);
    set(&mut r, col::TYPE, TYPE_BE);
    set(&mut r, col::RATE, be.sess_rate);
    set(&mut r, col::RATE_MAX, c.sps_max);
    text(&mut r, col::ALGO, &be.algo);
    set(&mut r, col::CLI_ABRT, c.cli_aborts);
    set(&mut r, col::SRV_ABRT, c.srv_aborts);
    for column in [col::COMP_IN, col::COMP_OUT, col::COMP_BYP, col::COMP_RSP] {
        set(&mut r, column, 0u64);
    }
    r[col::LASTSESS] = Field::S64(be.last_sess_secs);
    times(&mut r, c.avg_times(), c);
    modules(&mut r, true);
    r
}

/// A server row of `px`.
pub fn server(px: &ProxyStats, sv: &ServerRow) -> Row {
    let c = &sv.counters;
    let mut r = new_row();
    text(&mut r, col::PXNAME, &px.name);
    text(&mut r, col::SVNAME, &sv.name);
    text(&mut r, col::MODE, px.mode.as_str());
    set(&mut r, col::QCUR, c.queue_cur);
    set(&mut r, col::QMAX, c.queue_max);
    set(&mut r, col::SCUR, c.cur_sess);
    set(&mut r, col::SMAX, c.cur_sess_max);
    if let Some(m) = sv.maxconn.filter(|&m| m > 0) {
        set(&mut r, col::SLIM, m);
    }
    set(&mut r, col::SRV_ICUR, 0u32);
    set(&mut r, col::STOT, c.cum_sess);
    set(&mut r, col::BIN, c.bytes_in);
    set(&mut r, col::BOUT, c.bytes_out);
    set(&mut r, col::DRESP, c.denied_resp);
    set(&mut r, col::ECON, c.failed_conns);
    set(&mut r, col::ERESP, c.failed_resp);
    set(&mut r, col::WRETR, c.retries);
    set(&mut r, col::WREDIS, c.redispatches);
    set(&mut r, col::WREW, 0u64);
    set(&mut r, col::EINT, c.internal_errors);
    set(&mut r, col::CONNECT, c.connect);
    set(&mut r, col::REUSE, 0u64);
    for column in [
        col::IDLE_CONN_CUR,
        col::SAFE_CONN_CUR,
        col::USED_CONN_CUR,
        col::NEED_CONN_EST,
    ] {
        set(&mut r, column, 0u32);
    }
    text(&mut r, col::STATUS, sv.status.to_string());
    set(&mut r, col::LASTCHG, sv.lastchg_secs);
    set(&mut r, col::WEIGHT, sv.weight);
    set(&mut r, col::UWEIGHT, sv.uweight);
    set(&mut r, col::ACT, u32::from(!sv.backup));
    set(&mut r, col::BCK, u32::from(sv.backup));
    let check = &sv.check;
    if check.level.enabled {
        set(&mut r, col::CHKFAIL, c.failed_checks);
        set(&mut r, col::CHKDOWN, c.down_trans);
        set(&mut r, col::DOWNTIME, sv.downtime_secs);
    }
    if let Some(q) = sv.maxqueue.filter(|&q| q > 0) {
        set(&mut r, col::QLIMIT, q);
    }
    set(&mut r, col::PID, 1u32);
    set(&mut r, col::IID, px.iid);
    set(&mut r, col::SID, sv.sid);
    if let Some(t) = sv.throttle {
        set(&mut r, col::THROTTLE, t);
    }
    set(&mut r, col::LBTOT, c.cum_lbconn);
    if let Some(t) = &sv.tracked {
        text(&mut r, col::TRACKED, t);
    }
    set(&mut r, col::TYPE, TYPE_SV);
    set(&mut r, col::RATE, sv.sess_rate);
    set(&mut r, col::RATE_MAX, c.sps_max);
    if check.shown() {
        let ck = check;
        let prefix = if ck.in_progress { "* " } else { "" };
        text(
            &mut r,
            col::CHECK_STATUS,
            format!("{prefix}{}", ck.status.info()),
        );
        if ck.status.has_code() {
            // HAProxy's tcpcheck_main zeroes check->code before each rule:
            // a check in progress shows 0.
            let code = if ck.in_progress {
                0
            } else {
                ck.code.unwrap_or(0)
            };
            set(&mut r, col::CHECK_CODE, code);
        }
        if ck.status.completed() {
            set(&mut r, col::CHECK_DURATION, ck.duration_ms);
        }
        text(&mut r, col::CHECK_DESC, ck.status.desc());
        text(&mut r, col::LAST_CHK, &ck.desc);
        set(&mut r, col::CHECK_RISE, ck.level.rise);
        set(&mut r, col::CHECK_FALL, ck.level.fall);
        set(&mut r, col::CHECK_HEALTH, ck.level.health);
    }
    if let Some(agent) = sv.agent.as_ref().filter(|a| a.enabled) {
        agent_columns(&mut r, agent);
    }
    if sv.observe {
        set(&mut r, col::HANAFAIL, c.failed_hana);
    }
    set(&mut r, col::CLI_ABRT, c.cli_aborts);
    set(&mut r, col::SRV_ABRT, c.srv_aborts);
    r[col::LASTSESS] = Field::S64(sv.last_sess_secs);
    times(&mut r, c.avg_times(), c);
    // No address yet (`init-addr none`, or lost to DNS): HAProxy's empty.
    if !(sv.admin.resolution && sv.addr.ip().is_unspecified()) {
        text(&mut r, col::ADDR, addr_text(&sv.addr));
    }
    modules(&mut r, false);
    r
}

/// The agent columns of an enabled agent, as `stats_fill_sv_stats`.
fn agent_columns(r: &mut Row, agent: &AgentInfo) {
    let prefix = if agent.in_progress { "* " } else { "" };
    text(
        r,
        col::AGENT_STATUS,
        format!("{prefix}{}", agent.status.info()),
    );
    if agent.status.has_code() {
        // An agent never sets a code: HAProxy shows its initial 0.
        set(r, col::AGENT_CODE, 0u32);
    }
    set(r, col::AGENT_DURATION, agent.duration_ms);
    text(r, col::AGENT_DESC, agent.status.desc());
    text(r, col::LAST_AGT, &agent.desc);
    set(r, col::AGENT_RISE, 1u32);
    set(r, col::AGENT_FALL, 1u32);
    set(r, col::AGENT_HEALTH, agent.health);
}

fn times(r: &mut Row, avg: [u32; 4], c: &super::counters::BackendCounters) {
    let [q, ct, rt, t] = avg;
    set(r, col::QTIME, q);
    set(r, col::CTIME, ct);
    set(r, col::RTIME, rt);
    set(r, col::TTIME, t);
    set(r, col::QT_MAX, c.qtime_max);
    set(r, col::CT_MAX, c.ctime_max);
    set(r, col::RT_MAX, c.dtime_max);
    set(r, col::TT_MAX, c.ttime_max);
}

/// `ip:port`, or `[ip6]:port`, as HAProxy writes a server's address.
pub fn addr_text(addr: &std::net::SocketAddr) -> String {
    match addr {
        std::net::SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}
