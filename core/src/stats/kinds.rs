//! What kind of value each `show stat` column and `show info` field is, as
//! HAProxy 2.6 tags them for `typed` and `json` output: origin, nature and
//! scope (`stats_emit_field_tags`) and the value's type (`u32`, `u64`,
//! `s32`, `str`). Read from `stats_fill_fe_stats`, `stats_fill_be_stats`,
//! `stats_fill_sv_stats` and `stats_fill_info` in src/stats.c and checked
//! against haproxy 2.6.12's own `typed` output (testdata/).

use super::fields::{TYPE_BE, TYPE_SV, col};

/// A value's type as `typed` output names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// `s32`.
    S32,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `str`.
    Str,
}

impl Width {
    /// As written in `typed` and `json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Width::S32 => "s32",
            Width::U32 => "u32",
            Width::U64 => "u64",
            Width::Str => "str",
        }
    }
}

use Width::{S32, Str, U32, U64};

/// A column or field: its name, its three tag letters (origin, nature,
/// scope, as `typed` output writes them), its type and HAProxy's
/// description (`desc` output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Name.
    pub name: &'static str,
    /// Origin, nature and scope letters, e.g. `MCP`.
    pub tags: &'static str,
    /// Value type.
    pub width: Width,
    /// Description.
    pub desc: &'static str,
}

const fn k(name: &'static str, tags: &'static str, width: Width, desc: &'static str) -> Kind {
    Kind {
        name,
        tags,
        width,
        desc,
    }
}

/// The `show stat` columns without CSV's `-` separator, in order (their
/// position is the `pos` of `typed` and `json` output).
const STAT_KINDS: &[Kind] = &[
    k("pxname", "KNS", Str, "Proxy name"),
    k("svname", "KNS", Str, "Server name"),
    k("qcur", "MGP", U32, "Number of current queued connections"),
    k(
        "qmax",
        "MMP",
        U32,
        "Highest value of queued connections encountered since process started",
    ),
    k(
        "scur",
        "MGP",
        U32,
        "Number of current sessions on the frontend, backend or server",
    ),
    k(
        "smax",
        "MMP",
        U32,
        "Highest value of current sessions encountered since process started",
    ),
    k(
        "slim",
        "CLP",
        U32,
        "Frontend/listener/server's maxconn, backend's fullconn",
    ),
    k(
        "stot",
        "MCP",
        U64,
        "Total number of sessions since process started",
    ),
    k(
        "bin",
        "MCP",
        U64,
        "Total number of request bytes since process started",
    ),
    k(
        "bout",
        "MCP",
        U64,
        "Total number of response bytes since process started",
    ),
    k(
        "dreq",
        "MCP",
        U64,
        "Total number of denied requests since process started",
    ),
    k(
        "dresp",
        "MCP",
        U64,
        "Total number of denied responses since process started",
    ),
    k(
        "ereq",
        "MCP",
        U64,
        "Total number of invalid requests since process started",
    ),
    k(
        "econ",
        "MCP",
        U64,
        "Total number of failed connections to server since the worker process started",
    ),
    k(
        "eresp",
        "MCP",
        U64,
        "Total number of invalid responses since the worker process started",
    ),
    k(
        "wretr",
        "MCP",
        U64,
        "Total number of server connection retries since the worker process started",
    ),
    k(
        "wredis",
        "MCP",
        U64,
        "Total number of server redispatches due to connection failures since the worker process started",
    ),
    k(
        "status",
        "SGP",
        Str,
        "Frontend/listen status: OPEN/WAITING/FULL/STOP; backend: UP/DOWN; server: last check status",
    ),
    k(
        "weight",
        "MaP",
        U32,
        "Server's effective weight, or sum of active servers' effective weights for a backend",
    ),
    k(
        "act",
        "SGP",
        U32,
        "Total number of active UP servers with a non-zero weight",
    ),
    k(
        "bck",
        "SGP",
        U32,
        "Total number of backup UP servers with a non-zero weight",
    ),
    k(
        "chkfail",
        "MCP",
        U64,
        "Total number of failed individual health checks per server/backend, since the worker process started",
    ),
    k(
        "chkdown",
        "MCP",
        U64,
        "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started",
    ),
    k(
        "lastchg",
        "MAP",
        U32,
        "How long ago the last server state changed, in seconds",
    ),
    k(
        "downtime",
        "MCP",
        U32,
        "Total time spent in DOWN state, for server or backend",
    ),
    k(
        "qlimit",
        "CGS",
        U32,
        "Limit on the number of connections in queue, for servers only (maxqueue argument)",
    ),
    k("pid", "KGP", U32, "Relative worker process number (1)"),
    k(
        "iid",
        "KGS",
        U32,
        "Frontend or Backend numeric identifier ('id' setting)",
    ),
    k(
        "sid",
        "KGS",
        U32,
        "Server numeric identifier ('id' setting)",
    ),
    k(
        "throttle",
        "MaP",
        U32,
        "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)",
    ),
    k(
        "lbtot",
        "MCP",
        U64,
        "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",
    ),
    k(
        "tracked",
        "CNS",
        Str,
        "Name of the other server this server tracks for its state",
    ),
    k(
        "type",
        "CGS",
        U32,
        "Type of the object (Listener, Frontend, Backend, Server)",
    ),
    k(
        "rate",
        "MRP",
        U32,
        "Total number of sessions processed by this object over the last second (sessions for listeners/frontends, requests for backends/servers)",
    ),
    k(
        "rate_lim",
        "CLP",
        U32,
        "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",
    ),
    k(
        "rate_max",
        "MMP",
        U32,
        "Highest value of sessions per second observed since the worker process started",
    ),
    k(
        "check_status",
        "MOP",
        Str,
        "Status report of the server's latest health check, prefixed with '*' if a check is currently in progress",
    ),
    k(
        "check_code",
        "MOP",
        U32,
        "HTTP/SMTP/LDAP status code reported by the latest server health check",
    ),
    k(
        "check_duration",
        "MDP",
        U64,
        "Total duration of the latest server health check, in milliseconds",
    ),
    k(
        "hrsp_1xx",
        "MCP",
        U64,
        "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",
    ),
    k(
        "hrsp_2xx",
        "MCP",
        U64,
        "Total number of HTTP responses with status 200-299 returned by this object since the worker process started",
    ),
    k(
        "hrsp_3xx",
        "MCP",
        U64,
        "Total number of HTTP responses with status 300-399 returned by this object since the worker process started",
    ),
    k(
        "hrsp_4xx",
        "MCP",
        U64,
        "Total number of HTTP responses with status 400-499 returned by this object since the worker process started",
    ),
    k(
        "hrsp_5xx",
        "MCP",
        U64,
        "Total number of HTTP responses with status 500-599 returned by this object since the worker process started",
    ),
    k(
        "hrsp_other",
        "MCP",
        U64,
        "Total number of HTTP responses with status <100, >599 returned by this object since the worker process started (error -1 included)",
    ),
    k(
        "hanafail",
        "MCP",
        U64,
        "Total number of failed checks caused by an 'on-error' directive after an 'observe' condition matched",
    ),
    k(
        "req_rate",
        "MRP",
        U32,
        "Number of HTTP requests processed over the last second on this object",
    ),
    k(
        "req_rate_max",
        "MMP",
        U32,
        "Highest value of http requests observed since the worker process started",
    ),
    k(
        "req_tot",
        "MCP",
        U64,
        "Total number of HTTP requests processed by this object since the worker process started",
    ),
    k(
        "cli_abrt",
        "MCP",
        U64,
        "Total number of requests or connections aborted by the client since the worker process started",
    ),
    k(
        "srv_abrt",
        "MCP",
        U64,
        "Total number of requests or connections aborted by the server since the worker process started",
    ),
    k(
        "comp_in",
        "MCP",
        U64,
        "Total number of bytes submitted to the HTTP compressor for this object since the worker process started",
    ),
    k(
        "comp_out",
        "MCP",
        U64,
        "Total number of bytes emitted by the HTTP compressor for this object since the worker process started",
    ),
    k(
        "comp_byp",
        "MCP",
        U64,
        "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)",
    ),
    k(
        "comp_rsp",
        "MCP",
        U64,
        "Total number of HTTP responses that were compressed for this object since the worker process started",
    ),
    k(
        "lastsess",
        "MAP",
        S32,
        "How long ago some traffic was seen on this object on this worker process, in seconds",
    ),
    k(
        "last_chk",
        "MOP",
        Str,
        "Short description of the latest health check report for this server (see also check_desc)",
    ),
    k(
        "last_agt",
        "MOP",
        Str,
        "Short description of the latest agent check report for this server (see also agent_desc)",
    ),
    k(
        "qtime",
        "MaP",
        U32,
        "Time spent in the queue, in milliseconds, averaged over the 1024 last requests (backend/server)",
    ),
    k(
        "ctime",
        "MaP",
        U32,
        "Time spent waiting for a connection to complete, in milliseconds, averaged over the 1024 last requests (backend/server)",
    ),
    k(
        "rtime",
        "MaP",
        U32,
        "Time spent waiting for a server response, in milliseconds, averaged over the 1024 last requests (backend/server)",
    ),
    k(
        "ttime",
        "MaP",
        U32,
        "Total request+response time (request+queue+connect+response+processing), in milliseconds, averaged over the 1024 last requests (backend/server)",
    ),
    k(
        "agent_status",
        "MOP",
        Str,
        "Status report of the server's latest agent check, prefixed with '*' if a check is currently in progress",
    ),
    k(
        "agent_code",
        "MOP",
        U32,
        "Status code reported by the latest server agent check",
    ),
    k(
        "agent_duration",
        "MDP",
        U64,
        "Total duration of the latest server agent check, in milliseconds",
    ),
    k(
        "check_desc",
        "MOP",
        Str,
        "Textual description of the latest health check report for this server",
    ),
    k(
        "agent_desc",
        "MOP",
        Str,
        "Textual description of the latest agent check report for this server",
    ),
    k(
        "check_rise",
        "CGS",
        U32,
        "Number of successful health checks before declaring a server UP (server 'rise' setting)",
    ),
    k(
        "check_fall",
        "CGS",
        U32,
        "Number of failed health checks before declaring a server DOWN (server 'fall' setting)",
    ),
    k(
        "check_health",
        "CGS",
        U32,
        "Current server health check level (0..fall-1=DOWN, fall..rise-1=UP)",
    ),
    k(
        "agent_rise",
        "CGS",
        U32,
        "Number of successful agent checks before declaring a server UP (server 'rise' setting)",
    ),
    k(
        "agent_fall",
        "CGS",
        U32,
        "Number of failed agent checks before declaring a server DOWN (server 'fall' setting)",
    ),
    k(
        "agent_health",
        "CGS",
        U32,
        "Current server agent check level (0..fall-1=DOWN, fall..rise-1=UP)",
    ),
    k(
        "addr",
        "CGS",
        Str,
        "Server's address:port, shown only if show-legends is set, or at levels oper/admin for the CLI",
    ),
    k(
        "cookie",
        "CNS",
        Str,
        "Backend's cookie name or Server's cookie value, shown only if show-legends is set, or at levels oper/admin for the CLI",
    ),
    k("mode", "CGS", Str, "'mode' setting (tcp/http/health/cli)"),
    k(
        "algo",
        "CGS",
        Str,
        "Backend's load balancing algorithm, shown only if show-legends is set, or at levels oper/admin for the CLI",
    ),
    k(
        "conn_rate",
        "MRP",
        U32,
        "Number of new connections accepted over the last second on the frontend for this worker process",
    ),
    k(
        "conn_rate_max",
        "MMP",
        U32,
        "Highest value of connections per second observed since the worker process started",
    ),
    k(
        "conn_tot",
        "MCP",
        U64,
        "Total number of new connections accepted on this frontend since the worker process started",
    ),
    k(
        "intercepted",
        "MCP",
        U64,
        "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started",
    ),
    k(
        "dcon",
        "MCP",
        U64,
        "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
    ),
    k(
        "dses",
        "MCP",
        U64,
        "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
    ),
    k(
        "wrew",
        "MCP",
        U64,
        "Total number of failed HTTP header rewrites since the worker process started",
    ),
    k(
        "connect",
        "MCP",
        U64,
        "Total number of outgoing connection attempts on this backend/server since the worker process started",
    ),
    k(
        "reuse",
        "MCP",
        U64,
        "Total number of reused connection on this backend/server since the worker process started",
    ),
    k(
        "cache_lookups",
        "MCP",
        U64,
        "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started",
    ),
    k(
        "cache_hits",
        "MCP",
        U64,
        "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started",
    ),
    k(
        "srv_icur",
        "MGP",
        U32,
        "Current number of idle connections available for reuse on this server",
    ),
    k(
        "src_ilim",
        "CLP",
        U32,
        "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)",
    ),
    k(
        "qtime_max",
        "MMP",
        U32,
        "Maximum observed time spent in the queue, in milliseconds (backend/server)",
    ),
    k(
        "ctime_max",
        "MMP",
        U32,
        "Maximum observed time spent waiting for a connection to complete, in milliseconds (backend/server)",
    ),
    k(
        "rtime_max",
        "MMP",
        U32,
        "Maximum observed time spent waiting for a server response, in milliseconds (backend/server)",
    ),
    k(
        "ttime_max",
        "MMP",
        U32,
        "Maximum observed total request+response time (request+queue+connect+response+processing), in milliseconds (backend/server)",
    ),
    k(
        "eint",
        "MCP",
        U64,
        "Total number of internal errors since process started",
    ),
    k(
        "idle_conn_cur",
        "MGP",
        U32,
        "Current number of unsafe idle connections",
    ),
    k(
        "safe_conn_cur",
        "MGP",
        U32,
        "Current number of safe idle connections",
    ),
    k(
        "used_conn_cur",
        "MGP",
        U32,
        "Current number of connections in use",
    ),
    k(
        "need_conn_est",
        "MGP",
        U32,
        "Estimated needed number of connections",
    ),
    k(
        "uweight",
        "MaP",
        U32,
        "Server's user weight, or sum of active servers' user weights for a backend",
    ),
    k(
        "agg_server_status",
        "MGP",
        U32,
        "Backend's aggregated gauge of servers' status",
    ),
    k(
        "agg_server_check_status",
        "MGP",
        U32,
        "Backend's aggregated gauge of servers' state check status",
    ),
    k(
        "agg_check_status",
        "MGP",
        U32,
        "Backend's aggregated gauge of servers' state check status",
    ),
    k(
        "ssl_sess",
        "MCP",
        U64,
        "Total number of ssl sessions established",
    ),
    k(
        "ssl_reused_sess",
        "MCP",
        U64,
        "Total number of ssl sessions reused",
    ),
    k(
        "ssl_failed_handshake",
        "MCP",
        U64,
        "Total number of failed handshake",
    ),
    k(
        "h2_headers_rcvd",
        "MCP",
        U64,
        "Total number of received HEADERS frames",
    ),
    k(
        "h2_data_rcvd",
        "MCP",
        U64,
        "Total number of received DATA frames",
    ),
    k(
        "h2_settings_rcvd",
        "MCP",
        U64,
        "Total number of received SETTINGS frames",
    ),
    k(
        "h2_rst_stream_rcvd",
        "MCP",
        U64,
        "Total number of received RST_STREAM frames",
    ),
    k(
        "h2_goaway_rcvd",
        "MCP",
        U64,
        "Total number of received GOAWAY frames",
    ),
    k(
        "h2_detected_conn_protocol_errors",
        "MCP",
        U64,
        "Total number of connection protocol errors",
    ),
    k(
        "h2_detected_strm_protocol_errors",
        "MCP",
        U64,
        "Total number of stream protocol errors",
    ),
    k(
        "h2_rst_stream_resp",
        "MCP",
        U64,
        "Total number of RST_STREAM sent on detected error",
    ),
    k(
        "h2_goaway_resp",
        "MCP",
        U64,
        "Total number of GOAWAY sent on detected error",
    ),
    k(
        "h2_open_connections",
        "MGP",
        U64,
        "Count of currently open connections",
    ),
    k(
        "h2_backend_open_streams",
        "MGP",
        U64,
        "Count of currently open streams",
    ),
    k(
        "h2_total_connections",
        "MCP",
        U64,
        "Total number of connections",
    ),
    k(
        "h2_backend_total_streams",
        "MCP",
        U64,
        "Total number of streams",
    ),
    k(
        "h1_open_connections",
        "MGP",
        U64,
        "Count of currently open connections",
    ),
    k(
        "h1_open_streams",
        "MGP",
        U64,
        "Count of currently open streams",
    ),
    k(
        "h1_total_connections",
        "MCP",
        U64,
        "Total number of connections",
    ),
    k("h1_total_streams", "MCP", U64, "Total number of streams"),
    k("h1_bytes_in", "MCP", U64, "Total number of bytes received"),
    k("h1_bytes_out", "MCP", U64, "Total number of bytes send"),
    k(
        "h1_spliced_bytes_in",
        "MCP",
        U64,
        "Total number of bytes received using kernel splicing",
    ),
    k(
        "h1_spliced_bytes_out",
        "MCP",
        U64,
        "Total number of bytes sendusing kernel splicing",
    ),
];

/// The kind of CSV column `column` on a row of `row_type` (frontend,
/// backend or server); `None` for CSV's `-` separator.
pub fn stat_kind(column: usize, row_type: u64) -> Option<Kind> {
    let pos = position(column)?;
    let mut kind = *STAT_KINDS.get(pos)?;
    // The few columns HAProxy tags differently by row type.
    kind.tags = match (column, row_type) {
        (col::RATE | col::RATE_MAX, TYPE_BE) => "MGP",
        (col::ACT | col::BCK, TYPE_SV) => "SGP",
        (col::ACT | col::BCK, _) => "MGP",
        _ => kind.tags,
    };
    Some(kind)
}

/// The `pos` of CSV column `column` in `typed` and `json` output: the
/// same, less one past CSV's `-` separator, which is no field.
pub fn position(column: usize) -> Option<usize> {
    match column {
        col::PLACEHOLDER => None,
        c if c > col::PLACEHOLDER => Some(c - 1),
        c => Some(c),
    }
}

/// The `show info` fields' tags and types, in `show info` order (the
/// descriptions are those of [`super::info::INFO_FIELDS`]).
const INFO_KINDS: &[(&str, &str, Width)] = &[
    ("Name", "POS", Str),
    ("Version", "POS", Str),
    ("Release_date", "POS", Str),
    ("Nbthread", "CGS", U32),
    ("Nbproc", "CGS", U32),
    ("Process_num", "KGP", U32),
    ("Pid", "SGP", U32),
    ("Uptime", "MDP", Str),
    ("Uptime_sec", "MDP", U32),
    ("Memmax_MB", "CLP", U32),
    ("PoolAlloc_MB", "MGP", U32),
    ("PoolUsed_MB", "MGP", U32),
    ("PoolFailed", "MCP", U32),
    ("Ulimit-n", "CLP", U32),
    ("Maxsock", "CLP", U32),
    ("Maxconn", "CLP", U32),
    ("Hard_maxconn", "CLP", U32),
    ("CurrConns", "MGP", U32),
    ("CumConns", "MCP", U32),
    ("CumReq", "MCP", U32),
    ("MaxSslConns", "MMP", U32),
    ("CurrSslConns", "MGP", U32),
    ("CumSslConns", "MCP", U32),
    ("Maxpipes", "CLP", U32),
    ("PipesUsed", "MGP", U32),
    ("PipesFree", "MGP", U32),
    ("ConnRate", "MRP", U32),
    ("ConnRateLimit", "CLP", U32),
    ("MaxConnRate", "MMP", U32),
    ("SessRate", "MRP", U32),
    ("SessRateLimit", "CLP", U32),
    ("MaxSessRate", "MRP", U32),
    ("SslRate", "MRP", U32),
    ("SslRateLimit", "CLP", U32),
    ("MaxSslRate", "MMP", U32),
    ("SslFrontendKeyRate", "MGP", U32),
    ("SslFrontendMaxKeyRate", "MMP", U32),
    ("SslFrontendSessionReuse_pct", "MGP", U32),
    ("SslBackendKeyRate", "MRP", U32),
    ("SslBackendMaxKeyRate", "MMP", U32),
    ("SslCacheLookups", "MCP", U32),
    ("SslCacheMisses", "MCP", U32),
    ("CompressBpsIn", "MRP", U32),
    ("CompressBpsOut", "MRP", U32),
    ("CompressBpsRateLim", "CLP", U32),
    ("ZlibMemUsage", "MGP", U32),
    ("MaxZlibMemUsage", "CLP", U32),
    ("Tasks", "MGP", U32),
    ("Run_queue", "MGP", U32),
    ("Idle_pct", "MaP", U32),
    ("node", "COS", Str),
    ("description", "COS", Str),
    ("Stopping", "MGP", U32),
    ("Jobs", "MGP", U32),
    ("Unstoppable Jobs", "MGP", U32),
    ("Listeners", "MGP", U32),
    ("ActivePeers", "MGP", U32),
    ("ConnectedPeers", "MGP", U32),
    ("DroppedLogs", "MGP", U32),
    ("BusyPolling", "MGP", U32),
    ("FailedResolutions", "MGP", U32),
    ("TotalBytesOut", "MGP", U64),
    ("TotalSplicdedBytesOut", "MGP", U64),
    ("BytesOutRate", "MRP", U64),
    ("DebugCommandsIssued", "MGP", U32),
    ("CumRecvLogs", "MCP", U32),
    ("Build info", "POS", Str),
    ("Memmax_bytes", "CLP", U32),
    ("PoolAlloc_bytes", "MGP", U64),
    ("PoolUsed_bytes", "MGP", U64),
    ("Start_time_sec", "MDP", U32),
    ("Tainted", "SGP", Str),
];

/// The kind of `show info` field `i`.
pub fn info_kind(i: usize) -> Option<Kind> {
    let (name, tags, width) = *INFO_KINDS.get(i)?;
    let desc = super::info::INFO_FIELDS.get(i).map_or("", |f| f.desc);
    Some(Kind {
        name,
        tags,
        width,
        desc,
    })
}

/// The JSON names of a field's three tag letters (`stats_emit_json_field_tags`).
pub fn json_tags(tags: &str) -> [&'static str; 3] {
    let b = tags.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(b'?');
    let origin = match at(0) {
        b'M' => "Metric",
        b'S' => "Status",
        b'K' => "Key",
        b'C' => "Config",
        b'P' => "Product",
        _ => "Unknown",
    };
    let nature = match at(1) {
        b'G' => "Gauge",
        b'L' => "Limit",
        b'm' => "Min",
        b'M' => "Max",
        b'R' => "Rate",
        b'C' => "Counter",
        b'D' => "Duration",
        b'A' => "Age",
        b'T' => "Time",
        b'N' => "Name",
        b'O' => "Output",
        b'a' => "Avg",
        _ => "Unknown",
    };
    let scope = match at(2) {
        b'P' => "Process",
        b'S' => "Service",
        b's' => "System",
        b'C' => "Cluster",
        _ => "Unknown",
    };
    [origin, nature, scope]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fields::NAMES;

    #[test]
    fn the_tables_follow_the_csv_columns_and_info_fields() {
        let names: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "-").collect();
        let kinds: Vec<&str> = STAT_KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names, kinds);
        let info: Vec<&str> = super::super::info::INFO_FIELDS
            .iter()
            .map(|f| f.name)
            .collect();
        let kinds: Vec<&str> = INFO_KINDS.iter().map(|k| k.0).collect();
        assert_eq!(info, kinds);
        for (i, name) in NAMES.iter().enumerate() {
            let kind = stat_kind(i, TYPE_SV);
            assert_eq!(kind.map(|k| k.name), (*name != "-").then_some(*name));
            assert!(kind.is_none_or(|k| k.tags.len() == 3 && !k.desc.is_empty()));
        }
    }

    #[test]
    fn tag_letters_have_haproxys_json_names() {
        assert_eq!(json_tags("MCP"), ["Metric", "Counter", "Process"]);
        assert_eq!(json_tags("KNS"), ["Key", "Name", "Service"]);
        assert_eq!(json_tags("MaP"), ["Metric", "Avg", "Process"]);
        assert_eq!(json_tags("CLs"), ["Config", "Limit", "System"]);
        assert_eq!(json_tags(""), ["Unknown", "Unknown", "Unknown"]);
    }
}
