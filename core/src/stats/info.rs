//! `show info` (HAProxy 2.6's `info_fields` in the order 2.6.12 prints
//! them) and the process metrics derived from the same fields.

use super::fields::Field;
use super::snapshot::ProcessInfo;

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `gauge`.
    Gauge,
    /// `counter`.
    Counter,
}

impl MetricType {
    /// As written after `# TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// One `show info` field: its name, HAProxy's description (the metric's
/// HELP text) and its `haproxy_process_*` metric, if the exporter has one.
pub struct InfoField {
    /// `show info` name.
    pub name: &'static str,
    /// Description.
    pub desc: &'static str,
    /// Metric name after `haproxy_process_`, and type.
    pub metric: Option<(&'static str, MetricType)>,
}

use MetricType::{Counter as C, Gauge as G};

const fn f(
    name: &'static str,
    desc: &'static str,
    metric: Option<(&'static str, MetricType)>,
) -> InfoField {
    InfoField { name, desc, metric }
}

/// The fields, in `show info` order.
pub const INFO_FIELDS: &[InfoField] = &[
    f("Name", "Product name", None),
    f("Version", "Product version", None),
    f("Release_date", "Date of latest source code update", None),
    f(
        "Nbthread",
        "Number of started threads (global.nbthread)",
        Some(("nbthread", G)),
    ),
    f(
        "Nbproc",
        "Number of started worker processes (historical, always 1)",
        Some(("nbproc", G)),
    ),
    f(
        "Process_num",
        "Relative worker process number (1)",
        Some(("relative_process_id", G)),
    ),
    f("Pid", "This worker process identifier for the system", None),
    f(
        "Uptime",
        "How long ago this worker process was started (days+hours+minutes+seconds)",
        None,
    ),
    f(
        "Uptime_sec",
        "How long ago this worker process was started (seconds)",
        Some(("uptime_seconds", G)),
    ),
    f(
        "Memmax_MB",
        "Worker process's hard limit on memory usage in MB (-m on command line)",
        None,
    ),
    f(
        "PoolAlloc_MB",
        "Amount of memory allocated in pools (in MB)",
        None,
    ),
    f(
        "PoolUsed_MB",
        "Amount of pool memory currently used (in MB)",
        None,
    ),
    f(
        "PoolFailed",
        "Number of failed pool allocations since this worker was started",
        Some(("pool_failures_total", C)),
    ),
    f(
        "Ulimit-n",
        "Hard limit on the number of per-process file descriptors",
        Some(("max_fds", G)),
    ),
    f(
        "Maxsock",
        "Hard limit on the number of per-process sockets",
        Some(("max_sockets", G)),
    ),
    f(
        "Maxconn",
        "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",
        Some(("max_connections", G)),
    ),
    f(
        "Hard_maxconn",
        "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)",
        Some(("hard_max_connections", G)),
    ),
    f(
        "CurrConns",
        "Current number of connections on this worker process",
        Some(("current_connections", G)),
    ),
    f(
        "CumConns",
        "Total number of connections on this worker process since started",
        Some(("connections_total", C)),
    ),
    f(
        "CumReq",
        "Total number of requests on this worker process since started",
        Some(("requests_total", C)),
    ),
    f(
        "MaxSslConns",
        "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited",
        Some(("max_ssl_connections", G)),
    ),
    f(
        "CurrSslConns",
        "Current number of SSL endpoints on this worker process (front+back)",
        Some(("current_ssl_connections", G)),
    ),
    f(
        "CumSslConns",
        "Total number of SSL endpoints on this worker process since started (front+back)",
        Some(("ssl_connections_total", C)),
    ),
    f(
        "Maxpipes",
        "Hard limit on the number of pipes for splicing, 0=unlimited",
        Some(("max_pipes", G)),
    ),
    f(
        "PipesUsed",
        "Current number of pipes in use in this worker process",
        Some(("pipes_used_total", C)),
    ),
    f(
        "PipesFree",
        "Current number of allocated and available pipes in this worker process",
        Some(("pipes_free_total", C)),
    ),
    f(
        "ConnRate",
        "Number of front connections created on this worker process over the last second",
        Some(("current_connection_rate", G)),
    ),
    f(
        "ConnRateLimit",
        "Hard limit for ConnRate (global.maxconnrate)",
        Some(("limit_connection_rate", G)),
    ),
    f(
        "MaxConnRate",
        "Highest ConnRate reached on this worker process since started (in connections per second)",
        Some(("max_connection_rate", G)),
    ),
    f(
        "SessRate",
        "Number of sessions created on this worker process over the last second",
        Some(("current_session_rate", G)),
    ),
    f(
        "SessRateLimit",
        "Hard limit for SessRate (global.maxsessrate)",
        Some(("limit_session_rate", G)),
    ),
    f(
        "MaxSessRate",
        "Highest SessRate reached on this worker process since started (in sessions per second)",
        Some(("max_session_rate", G)),
    ),
    f(
        "SslRate",
        "Number of SSL connections created on this worker process over the last second",
        Some(("current_ssl_rate", G)),
    ),
    f(
        "SslRateLimit",
        "Hard limit for SslRate (global.maxsslrate)",
        Some(("limit_ssl_rate", G)),
    ),
    f(
        "MaxSslRate",
        "Highest SslRate reached on this worker process since started (in connections per second)",
        Some(("max_ssl_rate", G)),
    ),
    f(
        "SslFrontendKeyRate",
        "Number of SSL keys created on frontends in this worker process over the last second",
        Some(("current_frontend_ssl_key_rate", G)),
    ),
    f(
        "SslFrontendMaxKeyRate",
        "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)",
        Some(("max_frontend_ssl_key_rate", G)),
    ),
    f(
        "SslFrontendSessionReuse_pct",
        "Percent of frontend SSL connections which did not require a new key",
        Some(("frontend_ssl_reuse", G)),
    ),
    f(
        "SslBackendKeyRate",
        "Number of SSL keys created on backends in this worker process over the last second",
        Some(("current_backend_ssl_key_rate", G)),
    ),
    f(
        "SslBackendMaxKeyRate",
        "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)",
        Some(("max_backend_ssl_key_rate", G)),
    ),
    f(
        "SslCacheLookups",
        "Total number of SSL session ID lookups in the SSL session cache on this worker since started",
        Some(("ssl_cache_lookups_total", C)),
    ),
    f(
        "SslCacheMisses",
        "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started",
        Some(("ssl_cache_misses_total", C)),
    ),
    f(
        "CompressBpsIn",
        "Number of bytes submitted to the HTTP compressor in this worker process over the last second",
        Some(("http_comp_bytes_in_total", C)),
    ),
    f(
        "CompressBpsOut",
        "Number of bytes emitted by the HTTP compressor in this worker process over the last second",
        Some(("http_comp_bytes_out_total", C)),
    ),
    f(
        "CompressBpsRateLim",
        "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled",
        Some(("limit_http_comp", G)),
    ),
    f(
        "ZlibMemUsage",
        "Amount of memory currently used by HTTP compression on the current worker process (in bytes)",
        Some(("current_zlib_memory", G)),
    ),
    f(
        "MaxZlibMemUsage",
        "Limit on the amount of memory used by HTTP compression above which it is automatically disabled (in bytes, see global.maxzlibmem)",
        Some(("max_zlib_memory", G)),
    ),
    f(
        "Tasks",
        "Total number of tasks in the current worker process (active + sleeping)",
        Some(("current_tasks", G)),
    ),
    f(
        "Run_queue",
        "Total number of active tasks+tasklets in the current worker process",
        Some(("current_run_queue", G)),
    ),
    f(
        "Idle_pct",
        "Percentage of last second spent waiting in the current worker thread",
        Some(("idle_time_percent", G)),
    ),
    f("node", "Node name (global.node)", None),
    f("description", "Node description (global.description)", None),
    f(
        "Stopping",
        "1 if the worker process is currently stopping, otherwise zero",
        Some(("stopping", G)),
    ),
    f(
        "Jobs",
        "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)",
        Some(("jobs", G)),
    ),
    f(
        "Unstoppable Jobs",
        "Current number of unstoppable jobs on the current worker process (master connections)",
        Some(("unstoppable_jobs", G)),
    ),
    f(
        "Listeners",
        "Current number of active listeners on the current worker process",
        Some(("listeners", G)),
    ),
    f(
        "ActivePeers",
        "Current number of verified active peers connections on the current worker process",
        Some(("active_peers", G)),
    ),
    f(
        "ConnectedPeers",
        "Current number of peers having passed the connection step on the current worker process",
        Some(("connected_peers", G)),
    ),
    f(
        "DroppedLogs",
        "Total number of dropped logs for current worker process since started",
        Some(("dropped_logs_total", C)),
    ),
    f(
        "BusyPolling",
        "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)",
        Some(("busy_polling_enabled", G)),
    ),
    f(
        "FailedResolutions",
        "Total number of failed DNS resolutions in current worker process since started",
        Some(("failed_resolutions", C)),
    ),
    f(
        "TotalBytesOut",
        "Total number of bytes emitted by current worker process since started",
        Some(("bytes_out_total", C)),
    ),
    f(
        "TotalSplicdedBytesOut",
        "Total number of bytes emitted by current worker process through a kernel pipe since started",
        Some(("spliced_bytes_out_total", C)),
    ),
    f(
        "BytesOutRate",
        "Number of bytes emitted by current worker process over the last second",
        Some(("bytes_out_rate", G)),
    ),
    f(
        "DebugCommandsIssued",
        "Number of debug commands issued on this process (anything > 0 is unsafe)",
        None,
    ),
    f(
        "CumRecvLogs",
        "Total number of log messages received by log-forwarding listeners on this worker process since started",
        Some(("recv_logs_total", C)),
    ),
    f("Build info", "Build info", Some(("build_info", G))),
    f(
        "Memmax_bytes",
        "Worker process's hard limit on memory usage in byes (-m on command line)",
        Some(("max_memory_bytes", G)),
    ),
    f(
        "PoolAlloc_bytes",
        "Amount of memory allocated in pools (in bytes)",
        Some(("pool_allocated_bytes", G)),
    ),
    f(
        "PoolUsed_bytes",
        "Amount of pool memory currently used (in bytes)",
        Some(("pool_used_bytes", G)),
    ),
    f(
        "Start_time_sec",
        "Start time in seconds",
        Some(("start_time_seconds", G)),
    ),
    f("Tainted", "Experimental features used", None),
];

/// The value of every field of [`INFO_FIELDS`] (same order). Fields weir
/// has no counterpart for hold what HAProxy shows when the feature is
/// unused (0); the zlib ones are empty, as in HAProxy built without zlib.
pub fn values(p: &ProcessInfo) -> Vec<Field> {
    let u = |v: u64| Field::U64(v);
    let s = |v: &str| Field::Str(v.to_owned());
    let up = p.uptime_secs;
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up % 86400) / 3600,
        (up % 3600) / 60,
        up % 60
    );
    INFO_FIELDS
        .iter()
        .map(|field| match field.name {
            "Name" => s(&p.name),
            "Version" | "Build info" => s(&p.version),
            "Release_date" => s(&p.release_date),
            "Nbthread" => u(p.nbthread.into()),
            "Nbproc" | "Process_num" => u(1),
            "Pid" => u(p.pid.into()),
            "Uptime" => Field::Str(uptime.clone()),
            "Uptime_sec" => u(up),
            "Ulimit-n" => u(p.ulimit_n.into()),
            "Maxsock" => u(p.maxsock.into()),
            "Maxconn" => u(p.maxconn.into()),
            "Hard_maxconn" => u(p.hard_maxconn.into()),
            "CurrConns" => u(p.cur_conns.into()),
            "CumConns" => u(p.cum_conns),
            "CumReq" => u(p.cum_req),
            "ConnRate" => u(p.conn_rate.into()),
            "ConnRateLimit" => u(p.conn_rate_limit.into()),
            "MaxConnRate" => u(p.max_conn_rate.into()),
            "SessRate" => u(p.sess_rate.into()),
            "SessRateLimit" => u(p.sess_rate_limit.into()),
            "MaxSessRate" => u(p.max_sess_rate.into()),
            "ZlibMemUsage" | "MaxZlibMemUsage" => Field::Empty,
            "Tasks" => u(p.tasks.into()),
            "Run_queue" => u(p.run_queue.into()),
            "Idle_pct" => u(p.idle_pct.into()),
            "node" => s(&p.node),
            "description" => p.description.as_deref().map_or(Field::Empty, s),
            "Stopping" => u(p.stopping.into()),
            "Jobs" => u(p.jobs.into()),
            "Listeners" => u(p.listeners.into()),
            "Maxpipes" => u(p.maxpipes.into()),
            "PipesUsed" => u(p.pipes_used.into()),
            "PipesFree" => u(p.pipes_free.into()),
            "DroppedLogs" => u(p.dropped_logs),
            "TotalBytesOut" => u(p.bytes_out),
            "BytesOutRate" => u(p.bytes_out_rate),
            "Start_time_sec" => u(p.start_time_secs),
            _ => u(0),
        })
        .collect()
}

/// The answer to `show info`: `Name: value` lines for every non-empty
/// field; with `desc`, each field's description after its value
/// (`stats_dump_info_fields`).
pub fn show_info(p: &ProcessInfo, desc: bool) -> String {
    let mut out = String::new();
    for (field, value) in INFO_FIELDS.iter().zip(values(p)) {
        if value == Field::Empty {
            continue;
        }
        out.push_str(field.name);
        out.push_str(": ");
        out.push_str(&value.to_string());
        if desc {
            out.push_str(&format!(":\"{}\"", field.desc));
        }
        out.push('\n');
    }
    out
}
