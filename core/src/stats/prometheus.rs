//! Prometheus text exposition as HAProxy 2.6's exporter writes it
//! (addons/promex/service-prometheus.c): `haproxy_process_*`,
//! `haproxy_frontend_*`, `haproxy_backend_*`, `haproxy_server_*`, with the
//! same names, HELP texts, types, labels (`proxy`, `server`, `state`,
//! `code`) and order (metric by metric, proxy by proxy).

use super::fields::{self, Field, Row, col};
use super::info::{self, INFO_FIELDS, MetricType};
use super::snapshot::{CheckStatus, Mode, ProcessInfo, ProxyStats, ServerRow};
use super::status::MetricState;
use crate::http::MetricsQuery;
use std::fmt::Write;

const FE: u8 = 1;
const BE: u8 = 2;
const SV: u8 = 4;

/// How a metric's value is computed beyond copying its column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The column's value (`NaN` when empty).
    Plain,
    /// Only for `mode http` proxies.
    Http,
    /// One line per HTTP status class, `code` label.
    HttpCode(&'static str),
    /// One line per state, `state` label.
    Status,
    /// Milliseconds shown as seconds (`%f`).
    Seconds,
    /// Server check status, one line per status, `state` label.
    ChkStatus,
    /// Server check code.
    ChkCode,
    /// Server check duration in seconds.
    ChkDuration,
    /// Backend count of its servers per state.
    AggServerStatus,
    /// Backend count of its servers per check status.
    AggCheckStatus,
}

struct Metric {
    column: usize,
    name: &'static str,
    ty: MetricType,
    scopes: u8,
    kind: Kind,
    help: &'static str,
}

use Kind::*;
use MetricType::{Counter as C, Gauge as G};

const fn m(
    column: usize,
    name: &'static str,
    ty: MetricType,
    scopes: u8,
    kind: Kind,
    help: &'static str,
) -> Metric {
    Metric {
        column,
        name,
        ty,
        scopes,
        kind,
        help,
    }
}

const STATUS_HELP: &str = "Current status of the service, per state label value.";
const HRSP_HELP: &str = "Total number of HTTP responses with status 100-199 returned by this object since the worker process started";

/// The exporter's frontend, backend and server metrics, in column order.
const METRICS: &[Metric] = &[
    m(
        col::QCUR,
        "current_queue",
        G,
        BE | SV,
        Plain,
        "Number of current queued connections",
    ),
    m(
        col::QMAX,
        "max_queue",
        G,
        BE | SV,
        Plain,
        "Highest value of queued connections encountered since process started",
    ),
    m(
        col::SCUR,
        "current_sessions",
        G,
        FE | BE | SV,
        Plain,
        "Number of current sessions on the frontend, backend or server",
    ),
    m(
        col::SMAX,
        "max_sessions",
        G,
        FE | BE | SV,
        Plain,
        "Highest value of current sessions encountered since process started",
    ),
    m(
        col::SLIM,
        "limit_sessions",
        G,
        FE | BE | SV,
        Plain,
        "Frontend/listener/server's maxconn, backend's fullconn",
    ),
    m(
        col::STOT,
        "sessions_total",
        C,
        FE | BE | SV,
        Plain,
        "Total number of sessions since process started",
    ),
    m(
        col::BIN,
        "bytes_in_total",
        C,
        FE | BE | SV,
        Plain,
        "Total number of request bytes since process started",
    ),
    m(
        col::BOUT,
        "bytes_out_total",
        C,
        FE | BE | SV,
        Plain,
        "Total number of response bytes since process started",
    ),
    m(
        col::DREQ,
        "requests_denied_total",
        C,
        FE | BE,
        Plain,
        "Total number of denied requests since process started",
    ),
    m(
        col::DRESP,
        "responses_denied_total",
        C,
        FE | BE | SV,
        Plain,
        "Total number of denied responses since process started",
    ),
    m(
        col::EREQ,
        "request_errors_total",
        C,
        FE,
        Plain,
        "Total number of invalid requests since process started",
    ),
    m(
        col::ECON,
        "connection_errors_total",
        C,
        BE | SV,
        Plain,
        "Total number of failed connections to server since the worker process started",
    ),
    m(
        col::ERESP,
        "response_errors_total",
        C,
        BE | SV,
        Plain,
        "Total number of invalid responses since the worker process started",
    ),
    m(
        col::WRETR,
        "retry_warnings_total",
        C,
        BE | SV,
        Plain,
        "Total number of server connection retries since the worker process started",
    ),
    m(
        col::WREDIS,
        "redispatch_warnings_total",
        C,
        BE | SV,
        Plain,
        "Total number of server redispatches due to connection failures since the worker process started",
    ),
    m(col::STATUS, "status", G, FE | BE | SV, Status, STATUS_HELP),
    m(
        col::WEIGHT,
        "weight",
        G,
        BE | SV,
        Plain,
        "Server's effective weight, or sum of active servers' effective weights for a backend",
    ),
    m(
        col::ACT,
        "active_servers",
        G,
        BE,
        Plain,
        "Total number of active UP servers with a non-zero weight",
    ),
    m(
        col::BCK,
        "backup_servers",
        G,
        BE,
        Plain,
        "Total number of backup UP servers with a non-zero weight",
    ),
    m(
        col::CHKFAIL,
        "check_failures_total",
        C,
        SV,
        Plain,
        "Total number of failed individual health checks per server/backend, since the worker process started",
    ),
    m(
        col::CHKDOWN,
        "check_up_down_total",
        C,
        BE | SV,
        Plain,
        "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started",
    ),
    m(
        col::LASTCHG,
        "check_last_change_seconds",
        G,
        BE | SV,
        Plain,
        "How long ago the last server state changed, in seconds",
    ),
    m(
        col::DOWNTIME,
        "downtime_seconds_total",
        C,
        BE | SV,
        Plain,
        "Total time spent in DOWN state, for server or backend",
    ),
    m(
        col::QLIMIT,
        "queue_limit",
        G,
        SV,
        Plain,
        "Limit on the number of connections in queue, for servers only (maxqueue argument)",
    ),
    m(
        col::THROTTLE,
        "current_throttle",
        G,
        SV,
        Plain,
        "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)",
    ),
    m(
        col::LBTOT,
        "loadbalanced_total",
        C,
        BE | SV,
        Plain,
        "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",
    ),
    m(
        col::RATE_LIM,
        "limit_session_rate",
        G,
        FE,
        Plain,
        "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",
    ),
    m(
        col::RATE_MAX,
        "max_session_rate",
        G,
        FE | BE | SV,
        Plain,
        "Highest value of sessions per second observed since the worker process started",
    ),
    m(
        col::CHECK_STATUS,
        "check_status",
        G,
        SV,
        ChkStatus,
        "Status of last health check, per state label value.",
    ),
    m(
        col::CHECK_CODE,
        "check_code",
        G,
        SV,
        ChkCode,
        "layer5-7 code, if available of the last health check.",
    ),
    m(
        col::CHECK_DURATION,
        "check_duration_seconds",
        G,
        SV,
        ChkDuration,
        "Total duration of the latest server health check, in seconds.",
    ),
    m(
        col::HRSP_1XX,
        "http_responses_total",
        C,
        FE | BE | SV,
        HttpCode("1xx"),
        HRSP_HELP,
    ),
    m(
        col::HRSP_2XX,
        "http_responses_total",
        C,
        FE | BE | SV,
        HttpCode("2xx"),
        HRSP_HELP,
    ),
    m(
        col::HRSP_3XX,
        "http_responses_total",
        C,
        FE | BE | SV,
        HttpCode("3xx"),
        HRSP_HELP,
    ),
    m(
        col::HRSP_4XX,
        "http_responses_total",
        C,
        FE | BE | SV,
        HttpCode("4xx"),
        HRSP_HELP,
    ),
    m(
        col::HRSP_5XX,
        "http_responses_total",
        C,
        FE | BE | SV,
        HttpCode("5xx"),
        HRSP_HELP,
    ),
    m(
        col::HRSP_OTHER,
        "http_responses_total",
        C,
        FE | BE | SV,
        HttpCode("other"),
        HRSP_HELP,
    ),
    m(
        col::REQ_RATE_MAX,
        "http_requests_rate_max",
        G,
        FE,
        Http,
        "Highest value of http requests observed since the worker process started",
    ),
    m(
        col::REQ_TOT,
        "http_requests_total",
        C,
        FE | BE,
        Http,
        "Total number of HTTP requests processed by this object since the worker process started",
    ),
    m(
        col::CLI_ABRT,
        "client_aborts_total",
        C,
        BE | SV,
        Plain,
        "Total number of requests or connections aborted by the client since the worker process started",
    ),
    m(
        col::SRV_ABRT,
        "server_aborts_total",
        C,
        BE | SV,
        Plain,
        "Total number of requests or connections aborted by the server since the worker process started",
    ),
    m(
        col::COMP_IN,
        "http_comp_bytes_in_total",
        C,
        FE | BE,
        Http,
        "Total number of bytes submitted to the HTTP compressor for this object since the worker process started",
    ),
    m(
        col::COMP_OUT,
        "http_comp_bytes_out_total",
        C,
        FE | BE,
        Http,
        "Total number of bytes emitted by the HTTP compressor for this object since the worker process started",
    ),
    m(
        col::COMP_BYP,
        "http_comp_bytes_bypassed_total",
        C,
        FE | BE,
        Http,
        "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)",
    ),
    m(
        col::COMP_RSP,
        "http_comp_responses_total",
        C,
        FE | BE,
        Http,
        "Total number of HTTP responses that were compressed for this object since the worker process started",
    ),
    m(
        col::LASTSESS,
        "last_session_seconds",
        G,
        BE | SV,
        Plain,
        "How long ago some traffic was seen on this object on this worker process, in seconds",
    ),
    m(
        col::QTIME,
        "queue_time_average_seconds",
        G,
        BE | SV,
        Seconds,
        "Avg. queue time for last 1024 successful connections.",
    ),
    m(
        col::CTIME,
        "connect_time_average_seconds",
        G,
        BE | SV,
        Seconds,
        "Avg. connect time for last 1024 successful connections.",
    ),
    m(
        col::RTIME,
        "response_time_average_seconds",
        G,
        BE | SV,
        Seconds,
        "Avg. response time for last 1024 successful connections.",
    ),
    m(
        col::TTIME,
        "total_time_average_seconds",
        G,
        BE | SV,
        Seconds,
        "Avg. total time for last 1024 successful connections.",
    ),
    m(
        col::CONN_RATE_MAX,
        "connections_rate_max",
        G,
        FE,
        Plain,
        "Highest value of connections per second observed since the worker process started",
    ),
    m(
        col::CONN_TOT,
        "connections_total",
        C,
        FE,
        Plain,
        "Total number of new connections accepted on this frontend since the worker process started",
    ),
    m(
        col::INTERCEPTED,
        "intercepted_requests_total",
        C,
        FE,
        Http,
        "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started",
    ),
    m(
        col::DCON,
        "denied_connections_total",
        C,
        FE,
        Plain,
        "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
    ),
    m(
        col::DSES,
        "denied_sessions_total",
        C,
        FE,
        Plain,
        "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started",
    ),
    m(
        col::WREW,
        "failed_header_rewriting_total",
        C,
        FE | BE | SV,
        Plain,
        "Total number of failed HTTP header rewrites since the worker process started",
    ),
    m(
        col::CONNECT,
        "connection_attempts_total",
        C,
        BE | SV,
        Plain,
        "Total number of outgoing connection attempts on this backend/server since the worker process started",
    ),
    m(
        col::REUSE,
        "connection_reuses_total",
        C,
        BE | SV,
        Plain,
        "Total number of reused connection on this backend/server since the worker process started",
    ),
    m(
        col::CACHE_LOOKUPS,
        "http_cache_lookups_total",
        C,
        FE | BE,
        Http,
        "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started",
    ),
    m(
        col::CACHE_HITS,
        "http_cache_hits_total",
        C,
        FE | BE,
        Http,
        "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started",
    ),
    m(
        col::SRV_ICUR,
        "idle_connections_current",
        G,
        SV,
        Plain,
        "Current number of idle connections available for reuse on this server",
    ),
    m(
        col::SRC_ILIM,
        "idle_connections_limit",
        G,
        SV,
        Plain,
        "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)",
    ),
    m(
        col::QT_MAX,
        "max_queue_time_seconds",
        G,
        BE | SV,
        Seconds,
        "Maximum observed time spent in the queue",
    ),
    m(
        col::CT_MAX,
        "max_connect_time_seconds",
        G,
        BE | SV,
        Seconds,
        "Maximum observed time spent waiting for a connection to complete",
    ),
    m(
        col::RT_MAX,
        "max_response_time_seconds",
        G,
        BE | SV,
        Seconds,
        "Maximum observed time spent waiting for a server response",
    ),
    m(
        col::TT_MAX,
        "max_total_time_seconds",
        G,
        BE | SV,
        Seconds,
        "Maximum observed total request+response time (request+queue+connect+response+processing)",
    ),
    m(
        col::EINT,
        "internal_errors_total",
        C,
        FE | BE | SV,
        Plain,
        "Total number of internal errors since process started",
    ),
    m(
        col::IDLE_CONN_CUR,
        "unsafe_idle_connections_current",
        G,
        SV,
        Plain,
        "Current number of unsafe idle connections",
    ),
    m(
        col::SAFE_CONN_CUR,
        "safe_idle_connections_current",
        G,
        SV,
        Plain,
        "Current number of safe idle connections",
    ),
    m(
        col::USED_CONN_CUR,
        "used_connections_current",
        G,
        SV,
        Plain,
        "Current number of connections in use",
    ),
    m(
        col::NEED_CONN_EST,
        "need_connections_current",
        G,
        SV,
        Plain,
        "Estimated needed number of connections",
    ),
    m(
        col::UWEIGHT,
        "uweight",
        G,
        BE | SV,
        Plain,
        "Server's user weight, or sum of active servers' user weights for a backend",
    ),
    m(
        col::AGG_SRV_STATUS,
        "agg_server_status",
        G,
        BE,
        AggServerStatus,
        "Backend's aggregated gauge of servers' status",
    ),
    m(
        col::AGG_SRV_CHECK_STATUS,
        "agg_server_check_status",
        G,
        BE,
        AggServerStatus,
        "Backend's aggregated gauge of servers' state check status",
    ),
    m(
        col::AGG_CHECK_STATUS,
        "agg_check_status",
        G,
        BE,
        AggCheckStatus,
        "Backend's aggregated gauge of servers' state check status",
    ),
];

/// Writes one metric: the HELP/TYPE header before its first line only.
struct Out {
    text: String,
    header_due: bool,
}

impl Out {
    fn line(
        &mut self,
        name: &str,
        help: &str,
        ty: MetricType,
        labels: &[(&str, &str)],
        value: &str,
    ) {
        if self.header_due {
            let _ = writeln!(
                self.text,
                "# HELP {name} {help}\n# TYPE {name} {}",
                ty.as_str()
            );
            self.header_due = false;
        }
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        self.text.push(' ');
        self.text.push_str(value);
        self.text.push('\n');
    }
}

/// Label values escaped as the text format requires (HAProxy's names never
/// need it; weir escapes anyway so the output always parses).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn value(f: &Field) -> String {
    match f {
        Field::U64(v) => v.to_string(),
        Field::S64(v) => v.to_string(),
        Field::Empty | Field::Str(_) => "NaN".into(),
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.6}", ms as f64 / 1000.0)
}

/// The exposition a scrape asks for: process, frontend, backend then
/// server metrics, each when `query` has its scope; `no-maint` leaves out
/// the servers in maintenance.
pub fn render(process: &ProcessInfo, proxies: &[ProxyStats], query: &MetricsQuery) -> String {
    let mut out = Out {
        text: String::new(),
        header_due: true,
    };
    if query.global {
        process_metrics(&mut out, process);
    }
    let rows: Vec<ProxyRows> = proxies
        .iter()
        .map(|px| ProxyRows::new(px, query.no_maint))
        .collect();
    for (scope, prefix, _) in [
        (FE, "haproxy_frontend_", query.frontend),
        (BE, "haproxy_backend_", query.backend),
        (SV, "haproxy_server_", query.server),
    ]
    .into_iter()
    .filter(|&(_, _, on)| on)
    {
        for metric in METRICS.iter().filter(|m| m.scopes & scope != 0) {
            // HAProxy prints the header of the http_responses_total family
            // once, on its 1xx field.
            out.header_due = !matches!(metric.kind, HttpCode(c) if c != "1xx");
            let name = format!("{prefix}{}", metric.name);
            for px in &rows {
                match scope {
                    FE => frontend_metric(&mut out, &name, metric, px),
                    BE => backend_metric(&mut out, &name, metric, px),
                    _ => server_metrics(&mut out, &name, metric, px),
                }
            }
        }
    }
    out.text
}

fn process_metrics(out: &mut Out, p: &ProcessInfo) {
    for (field, v) in INFO_FIELDS.iter().zip(info::values(p)) {
        let Some((metric, ty)) = field.metric else {
            continue;
        };
        out.header_due = true;
        let name = format!("haproxy_process_{metric}");
        if metric == "build_info" {
            out.line(&name, field.desc, ty, &[("version", &p.version)], "1");
        } else {
            out.line(&name, field.desc, ty, &[], &value(&v));
        }
    }
}

/// A proxy with its rows filled once.
struct ProxyRows<'a> {
    px: &'a ProxyStats,
    fe: Option<Row>,
    be: Option<Row>,
    /// The servers shown, with their rows.
    servers: Vec<(&'a ServerRow, Row)>,
}

impl<'a> ProxyRows<'a> {
    /// `no_maint`: leave out the servers in maintenance.
    fn new(px: &'a ProxyStats, no_maint: bool) -> Self {
        Self {
            px,
            fe: px.frontend.as_ref().map(|fe| fields::frontend(px, fe)),
            be: px.backend.as_ref().map(|be| fields::backend(px, be)),
            servers: (px.servers.iter())
                .filter(|sv| !(no_maint && sv.admin.is_maint()))
                .map(|sv| (sv, fields::server(px, sv)))
                .collect(),
        }
    }
}

fn frontend_metric(out: &mut Out, name: &str, metric: &Metric, p: &ProxyRows<'_>) {
    let (Some(row), Some(fe)) = (&p.fe, &p.px.frontend) else {
        return;
    };
    let px = p.px.name.as_str();
    let help = metric.help;
    match metric.kind {
        Status => {
            let up = !fe.stopped;
            for (state, on) in [("DOWN", !up), ("UP", up)] {
                let v = if on { "1" } else { "0" };
                out.line(name, help, metric.ty, &[("proxy", px), ("state", state)], v);
            }
        }
        Http if p.px.mode != Mode::Http => {}
        HttpCode(_) if p.px.mode != Mode::Http => {}
        HttpCode(code) => {
            let v = value(&row[metric.column]);
            out.line(name, help, metric.ty, &[("proxy", px), ("code", code)], &v);
        }
        _ => {
            let v = value(&row[metric.column]);
            out.line(name, help, metric.ty, &[("proxy", px)], &v);
        }
    }
}

fn backend_metric(out: &mut Out, name: &str, metric: &Metric, p: &ProxyRows<'_>) {
    let (Some(row), Some(be)) = (&p.be, &p.px.backend) else {
        return;
    };
    let px = p.px.name.as_str();
    let help = metric.help;
    let ty = metric.ty;
    match metric.kind {
        Status => {
            let up = be.is_up(!p.px.servers.is_empty());
            for (state, on) in [("DOWN", !up), ("UP", up)] {
                let v = if on { "1" } else { "0" };
                out.line(name, help, ty, &[("proxy", px), ("state", state)], v);
            }
        }
        AggServerStatus if !p.px.servers.is_empty() => {
            for state in MetricState::ALL {
                let n =
                    p.px.servers
                        .iter()
                        .filter(|s| s.status.metric_state() == state)
                        .count();
                let labels = [("proxy", px), ("state", state.label())];
                out.line(name, help, ty, &labels, &n.to_string());
            }
        }
        AggCheckStatus if !p.px.servers.is_empty() => {
            for status in CheckStatus::METRIC_STATES {
                let n =
                    p.px.servers
                        .iter()
                        .filter(|s| s.check.status == status)
                        .count();
                let labels = [("proxy", px), ("state", status.info())];
                out.line(name, help, ty, &labels, &n.to_string());
            }
        }
        AggServerStatus | AggCheckStatus => {}
        Http | HttpCode(_) if p.px.mode != Mode::Http => {}
        HttpCode(code) => {
            let v = value(&row[metric.column]);
            out.line(name, help, ty, &[("proxy", px), ("code", code)], &v);
        }
        Seconds => {
            let v = seconds_of(metric.column, &be.counters);
            out.line(name, help, ty, &[("proxy", px)], &v);
        }
        _ => {
            let v = value(&row[metric.column]);
            out.line(name, help, ty, &[("proxy", px)], &v);
        }
    }
}

/// Time columns in seconds; averages over a window of 1024 as the
/// exporter reads them.
fn seconds_of(column: usize, c: &super::counters::BackendCounters) -> String {
    let [q, ct, rt, t] = c.avg_times_1024();
    let ms = match column {
        col::QTIME => q,
        col::CTIME => ct,
        col::RTIME => rt,
        col::TTIME => t,
        col::QT_MAX => c.qtime_max,
        col::CT_MAX => c.ctime_max,
        col::RT_MAX => c.dtime_max,
        _ => c.ttime_max,
    };
    seconds(u64::from(ms))
}

fn server_metrics(out: &mut Out, name: &str, metric: &Metric, p: &ProxyRows<'_>) {
    if p.px.backend.is_none() {
        return;
    }
    let px = p.px.name.as_str();
    let help = metric.help;
    let ty = metric.ty;
    for (sv, row) in &p.servers {
        let labels = [("proxy", px), ("server", sv.name.as_str())];
        let ck = &sv.check;
        match metric.kind {
            Status => {
                let current = sv.status.metric_state();
                for state in MetricState::ALL {
                    let v = if state == current { "1" } else { "0" };
                    let l = [labels[0], labels[1], ("state", state.label())];
                    out.line(name, help, ty, &l, v);
                }
            }
            ChkStatus if ck.shown() => {
                for status in CheckStatus::METRIC_STATES {
                    let v = if status == ck.status { "1" } else { "0" };
                    let l = [labels[0], labels[1], ("state", status.info())];
                    out.line(name, help, ty, &l, v);
                }
            }
            ChkCode if ck.shown() => {
                let code = if ck.status.has_code() {
                    ck.code.unwrap_or(0)
                } else {
                    0
                };
                out.line(name, help, ty, &labels, &code.to_string());
            }
            ChkDuration if ck.status.completed() => {
                out.line(name, help, ty, &labels, &seconds(ck.duration_ms));
            }
            ChkStatus | ChkCode | ChkDuration => {}
            // HAProxy skips the whole proxy for these in TCP mode.
            Http | HttpCode(_) if p.px.mode != Mode::Http => return,
            HttpCode(code) => {
                let v = value(&row[metric.column]);
                out.line(name, help, ty, &[labels[0], labels[1], ("code", code)], &v);
            }
            Seconds => out.line(
                name,
                help,
                ty,
                &labels,
                &seconds_of(metric.column, &sv.counters),
            ),
            _ => out.line(name, help, ty, &labels, &value(&row[metric.column])),
        }
    }
}
