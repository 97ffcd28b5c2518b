//! HAProxy configuration language: lexer, parser, typed result, validation.
//!
//! The driver reads the files; [`parse`] takes their bytes, resolves host
//! names through a caller-supplied resolver and returns a validated
//! [`Config`] plus the warnings HAProxy would print, or every error found.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Most bytes weir reads from a configuration file (`-f`).
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Most bytes weir reads from a PEM file (`ca-file`, `crt`).
pub const MAX_PEM_BYTES: u64 = 16 << 20;

/// One configuration file's name and contents, in `-f` order.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Name used in messages (`file:line: ...`).
    pub name: &'a str,
    /// The whole file, as bytes: comments may hold any byte but NUL, the
    /// rest must be UTF-8 (an error names the line and column otherwise).
    pub text: &'a [u8],
}

impl<'a> Source<'a> {
    /// A file named `name` holding `text` (a `str` or bytes).
    pub fn new(name: &'a str, text: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        Source {
            name,
            text: text.as_ref(),
        }
    }
}

/// Where a statement came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    /// File name as given in [`Source::name`].
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
}

/// Runs of more than this many characters without a space are shortened
/// in messages.
const LONG_RUN: usize = 128;
/// How many characters of a shortened run are kept.
const KEPT: usize = 64;

/// `text` made safe to print in a message: control characters and
/// invisible or blank-looking Unicode characters are escaped (`\x00`,
/// `\u{a0}`), and a run of more than 128 characters without a space (a
/// pasted blob) is cut to its first 64 characters and `...`. Every
/// configuration message goes through it when shown.
pub fn printable(text: &str) -> Cow<'_, str> {
    let plain = |c: char| !(c.is_control() || c.is_whitespace() || invisible(c));
    let mut run = 0;
    let long = text.chars().any(|c| {
        run = if c == ' ' { 0 } else { run + 1 };
        run > LONG_RUN
    });
    if !long && text.chars().all(|c| c == ' ' || plain(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    for (i, run) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let count = run.chars().count();
        let shown = if count > LONG_RUN { KEPT } else { count };
        for c in run.chars().take(shown) {
            let code = u32::from(c);
            if plain(c) {
                out.push(c);
            } else if code < 0x100 {
                let _ = write!(out, "\\x{code:02x}");
            } else {
                let _ = write!(out, "\\u{{{code:x}}}");
            }
        }
        if shown < count {
            out.push_str("...");
        }
    }
    Cow::Owned(out)
}

/// Unicode characters that show as nothing (zero-width, byte order mark).
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}')
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// An error or warning about the configuration. Its `Display` shows it
/// as `file:line: message` through [`printable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", printable(&match origin {
    Some(o) => format!("{o}: {message}"),
    None => message.clone(),
}))]
pub struct Diagnostic {
    /// The statement at fault, when there is one.
    pub origin: Option<Origin>,
    /// What is wrong, with a hint when there is one.
    pub message: String,
}

/// A parsed configuration, with the warnings HAProxy would print for it.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The validated configuration.
    pub config: Config,
    /// Accepted but suspicious settings, and the defaults weir applied.
    pub warnings: Vec<Diagnostic>,
    /// What `.notice` lines say (HAProxy's `[NOTICE]`).
    pub notices: Vec<Diagnostic>,
}

/// A validated configuration, ready for `Balancer::new`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Process-wide settings.
    pub global: Global,
    /// Listening proxies, in file order (`frontend` and the front of `listen`).
    pub frontends: Vec<Frontend>,
    /// Server pools, in file order (`backend` and the back of `listen`).
    pub backends: Vec<Backend>,
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Global {
    /// `maxconn`: process-wide cap on concurrent client connections.
    pub maxconn: Option<u32>,
    /// `maxconnrate`, `maxsessrate`.
    pub rates: traffic::Rates,
    /// `log` targets, used by proxies with `log global`.
    pub logs: Vec<LogTarget>,
    /// `spread-checks`: random +/- percent added to each check interval.
    pub spread_checks: u8,
    /// `ssl-server-verify`: whether servers' certificates are verified by
    /// default (`required`, HAProxy's default) or not (`none`).
    pub ssl_server_verify_none: bool,
    /// `hard-stop-after`: how long a soft stop may wait for sessions to
    /// end before the remaining ones are killed; `None` = for ever.
    pub hard_stop_after: Option<Duration>,
    /// `log-send-hostname [name]`: syslog headers carry a host name, this
    /// one or (`Some(None)`) [`Global::hostname`].
    pub log_send_hostname: Option<Option<String>>,
    /// Not a keyword: the machine's host name (`%H`), which the driver
    /// sets before `Balancer::new`; empty in a parsed configuration.
    pub hostname: String,
    /// Not a keyword: seconds east of UTC of local time, for log dates,
    /// which the driver sets before `Balancer::new` (and later through
    /// `Balancer::set_utc_offset`); 0 in a parsed configuration.
    pub utc_offset: i32,
    /// The runtime API: `stats socket`, `stats timeout`, `stats maxconn`.
    pub runtime_api: RuntimeApi,
    /// How weir runs as a process: `daemon`, `pidfile`, `user`, `chroot`,
    /// `ulimit-n`, `node`, `description`.
    pub process: Process,
    /// `server-state-base`: the directory of relative state file names.
    pub server_state_base: Option<String>,
    /// `server-state-file`: the file of backends that load `global`.
    pub server_state_file: Option<String>,
    /// `resolvers` sections, in file order.
    pub resolvers: Vec<dns::Resolvers>,
    /// `nbthread`: how many event loops run; `None`: the driver's
    /// default (the CPUs weir may run on).
    pub nbthread: Option<u32>,
    /// Not a keyword: which of the event loops the instance built from
    /// this configuration serves, set by the driver (see
    /// [`crate::loops`]); loop 0 of 1 in a parsed configuration.
    pub event_loop: crate::loops::EventLoop,
    /// `nosplice`, `maxpipes`, `tune.pipesize`.
    pub splice: traffic::SpliceGlobal,
}

impl Global {
    /// The path of state file `name`, as HAProxy's
    /// `srv_state_get_filepath`: absolute names as they are, others under
    /// `server-state-base` when it is set.
    pub fn server_state_path(&self, name: &str) -> String {
        match &self.server_state_base {
            Some(base) if !name.starts_with('/') => {
                let sep = if base.ends_with('/') { "" } else { "/" };
                format!("{base}{sep}{name}")
            }
            _ => name.to_owned(),
        }
    }
}

/// Where a backend's servers' state comes from at start-up
/// (`load-server-state-from-file`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ServerStateLoad {
    /// Nothing is loaded (`none`, and the default).
    #[default]
    None,
    /// The lines of this backend in the global `server-state-file`.
    Global,
    /// A file of its own: this name (`server-state-file-name`, or the
    /// backend's name), under `server-state-base` unless absolute.
    Local(String),
}

/// The `global` keywords that say how weir runs as a process; the driver
/// carries them out (core only keeps `node` and `description` to show).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// `daemon`: detach into the background once the listeners are bound.
    pub daemon: bool,
    /// `quiet`: no start-up line and no warnings (as `-q`).
    pub quiet: bool,
    /// `pidfile`: where to write the process id.
    pub pidfile: Option<String>,
    /// `user`/`uid`: whom to run as once the listeners are bound.
    pub user: Option<(Account, Origin)>,
    /// `group`/`gid`: which group to run as once the listeners are bound.
    pub group: Option<(Account, Origin)>,
    /// `chroot`: the directory to lock weir in once the listeners are bound.
    pub chroot: Option<(String, Origin)>,
    /// `ulimit-n`: the descriptor limit to raise the soft limit to.
    pub ulimit_n: Option<(u64, Origin)>,
    /// `node`: the name `show info` and the stats page give this weir
    /// (default: the host name).
    pub node: Option<String>,
    /// `description`: a text `show info` and the stats page show.
    pub description: Option<String>,
}

/// The runtime API's settings (`stats ...` in `global`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeApi {
    /// `stats socket` lines, one entry per address, in file order.
    pub sockets: Vec<StatsSocket>,
    /// `stats timeout`: a CLI connection without progress for this long is
    /// closed (HAProxy's default: 10 s).
    pub timeout: Duration,
    /// `stats maxconn`: most concurrent CLI connections over all the
    /// sockets (HAProxy's default: 10).
    pub maxconn: u32,
}

impl Default for RuntimeApi {
    fn default() -> Self {
        RuntimeApi {
            sockets: Vec::new(),
            timeout: Duration::from_secs(10),
            maxconn: 10,
        }
    }
}

/// One `stats socket` address and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    /// Where it listens.
    pub addr: StatsAddr,
    /// `mode`: permissions of a UNIX socket file (octal); `None` leaves
    /// the process's umask in effect.
    pub mode: Option<u32>,
    /// `uid`/`user`: owner of a UNIX socket file.
    pub uid: Option<Account>,
    /// `gid`/`group`: group of a UNIX socket file.
    pub gid: Option<Account>,
    /// `level` (HAProxy's default: `operator`).
    pub level: crate::runtime_api::Level,
    /// `expose-fd listeners`: `_getsocks` hands the listening sockets to
    /// a process taking over (`-x`).
    pub expose_fd: bool,
    /// The `stats socket` line.
    pub origin: Origin,
}

/// Where a stats socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    /// A UNIX stream socket at this path (a stale file there is replaced).
    Unix(String),
    /// A TCP address (`ipv4@127.0.0.1:9999`, `127.0.0.1:9999`).
    Tcp(SocketAddr),
}

/// A user or group, by number or by name (the driver looks names up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// `uid <n>` / `gid <n>`.
    Id(u32),
    /// `user <name>` / `group <name>`.
    Name(String),
}

/// One `log` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Where lines go.
    pub dest: LogDest,
    /// Header format (`format ...`).
    pub format: LogFormat,
    /// Maximum line length in bytes (`len`, 80 to 65535); 1024 when not
    /// given. Datagrams carry `len` bytes and a newline; on stdout and
    /// stderr the newline is one of the `len`.
    pub len: usize,
    /// Syslog facility code (`local0` = 16, ...).
    pub facility: u8,
    /// Least important level sent (`max level`); debug when not given.
    pub max_level: Severity,
    /// Levels more important than this one (`min level`) are sent at
    /// this one, as HAProxy; emerg when not given.
    pub min_level: Severity,
    /// The syslog tag: the proxy's `log-tag`, else the global one, else
    /// `weir`.
    pub tag: String,
}

/// Where a log target writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogDest {
    /// The process's standard output (`stdout`, `fd@1`).
    Stdout,
    /// The process's standard error (`stderr`, `fd@2`).
    Stderr,
    /// A syslog server over UDP (`host[:port]`, `udp@`, `ipv4@`, `ipv6@`).
    Udp(SocketAddr),
    /// A UNIX datagram socket (`/dev/log`, `unix@path`).
    Unix(Arc<std::path::Path>),
}

/// Header formats of log lines (HAProxy's `format` argument of `log`);
/// `PRI` is facility * 8 + level, `LEVEL` the level alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// No `format`: `local`, or `rfc3164` with `log-send-hostname`.
    Default,
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: message`.
    Local,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: message` (HOST `localhost`
    /// without `log-send-hostname`).
    Rfc3164,
    /// `<PRI>1 ISO-DATE HOST TAG PID - - message` (HOST `-` without
    /// `log-send-hostname`).
    Rfc5424,
    /// `<PRI>message`.
    Priority,
    /// `<LEVEL>message`.
    Short,
    /// `<LEVEL>ISO-DATE message`.
    Timed,
    /// `ISO-DATE message`.
    Iso,
    /// `message`.
    Raw,
}

/// Syslog severity; lower is more important.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `emerg`.
    Emerg = 0,
    /// `alert`.
    Alert = 1,
    /// `crit`.
    Crit = 2,
    /// `err`.
    Err = 3,
    /// `warning`.
    Warning = 4,
    /// `notice`.
    Notice = 5,
    /// `info`.
    Info = 6,
    /// `debug`.
    Debug = 7,
}

/// A listening proxy: `frontend`, or the front half of `listen`.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    /// Proxy name.
    pub name: String,
    /// HAProxy's proxy id (`id`, or the number HAProxy would give it):
    /// `iid` in `show stat`.
    pub iid: u32,
    /// `description`.
    pub description: Option<String>,
    /// Listening addresses, one per address of every `bind` line.
    pub binds: Vec<Bind>,
    /// Index into [`Config::backends`]: the first `use_backend` that applies,
    /// else `default_backend`, else the listen's own.
    pub default_backend: Option<usize>,
    /// `maxconn`: cap on this frontend's concurrent connections.
    pub maxconn: Option<u32>,
    /// `timeout client`: client-side inactivity; `None` = no timeout.
    pub timeout_client: Option<Duration>,
    /// `timeout client-fin`: client-side inactivity once the client
    /// connection is half-closed; `None` = `timeout client` (or tunnel).
    pub timeout_client_fin: Option<Duration>,
    /// `option clitcpka` (or `tcpka`): TCP keep-alive on client sockets.
    pub tcpka: bool,
    /// `option nolinger`: client sockets are closed with an RST.
    pub nolinger: bool,
    /// `option tcplog` or `log-format`: a line per session, in `log_format`.
    pub tcplog: bool,
    /// Log targets (`log global` expanded); empty = no traffic logs.
    pub logs: Vec<LogTarget>,
    /// `mode http`: what the frontend serves (metrics, stats page) in
    /// place of a backend; `None` for a TCP frontend.
    pub service: Option<HttpService>,
    /// The compiled `log-format` (`option tcplog`'s when none is set).
    pub log_format: crate::logging::LineFormat,
    /// `option dontlognull`: a session that received no byte from its
    /// client is not logged.
    pub dontlognull: bool,
    /// `option dontlog-normal`: only sessions that ended in an error, were
    /// redispatched or retried are logged.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: those sessions are logged at `err`.
    pub log_separate_errors: bool,
    /// `option logasap` and the other traffic options.
    pub traffic: traffic::FrontendTraffic,
    /// The section line.
    pub origin: Origin,
}

/// One listening address.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    /// Address and port to listen on.
    pub addr: SocketAddr,
    /// `accept-proxy`: every connection starts with a PROXY protocol
    /// header (version 1 or 2), whose addresses become the client's.
    pub accept_proxy: bool,
    /// Socket options of the listening socket.
    pub options: BindOptions,
    /// The `bind` line.
    pub origin: Origin,
}

/// The socket options of a `bind` line, for the driver to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// `backlog` (or the proxy's): the listen queue; `None`: weir's 1024.
    pub backlog: Option<u32>,
    /// `v6only` (`Some(true)`) or `v4v6`: `IPV6_V6ONLY`; `None`: the
    /// system's default.
    pub v6only: Option<bool>,
    /// `mss`: `TCP_MAXSEG` (a negative value is subtracted from the
    /// interface's MTU-derived MSS by HAProxy; weir passes it as is).
    pub mss: Option<i32>,
    /// `defer-accept`: `TCP_DEFER_ACCEPT`, accept once data came.
    pub defer_accept: bool,
    /// `tfo`: `TCP_FASTOPEN`.
    pub fast_open: bool,
    /// `tcp-ut`: `TCP_USER_TIMEOUT` of the accepted connections.
    pub user_timeout: Option<Duration>,
    /// `interface`: `SO_BINDTODEVICE`.
    pub interface: Option<String>,
    /// `transparent`: `IP_TRANSPARENT`, to accept for foreign addresses.
    pub transparent: bool,
}

/// A server pool: `backend`, or the back half of `listen`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    /// Proxy name.
    pub name: String,
    /// HAProxy's proxy id (`id`, or the number HAProxy would give it):
    /// `iid` in `show stat`.
    pub iid: u32,
    /// `description`.
    pub description: Option<String>,
    /// The back half of a `listen`: HAProxy's messages call it a "proxy"
    /// (`proxy_type_str`).
    pub listen: bool,
    /// `disabled`: the backend is kept so that the frontends naming it
    /// resolve, but it has no server (its connections end `<NOSRV>`,
    /// `SC`, as in HAProxy) and is not shown in the stats.
    pub disabled: bool,
    /// Server selection algorithm.
    pub balance: Balance,
    /// `hash-type`: how `balance source` maps hashes to servers.
    pub hash_type: HashType,
    /// `hash-balance-factor`: with consistent hashing (`source` with
    /// `hash-type consistent`, and `random`), a server is skipped while its
    /// load is above this percentage of the average load; `None` = off.
    pub hash_balance_factor: Option<u32>,
    /// `timeout connect` per attempt; `None` = no timeout.
    pub timeout_connect: Option<Duration>,
    /// `timeout server`: server-side inactivity; `None` = no timeout.
    pub timeout_server: Option<Duration>,
    /// `timeout tunnel`: inactivity on both sides once the server is
    /// connected, in place of `timeout client` and `timeout server`.
    pub timeout_tunnel: Option<Duration>,
    /// `timeout server-fin`: server-side inactivity once the server
    /// connection is half-closed; `None` = `timeout server` (or tunnel).
    pub timeout_server_fin: Option<Duration>,
    /// `option srvtcpka` (or `tcpka`): TCP keep-alive on server sockets.
    pub tcpka: bool,
    /// `option nolinger`: server sockets are closed with an RST.
    pub nolinger: bool,
    /// `timeout queue`: how long a connection waits for a usable server;
    /// `timeout connect` when not set.
    pub timeout_queue: Option<Duration>,
    /// `timeout check`: read timeout of checks after connect; `None` = `inter` bounds the check.
    pub timeout_check: Option<Duration>,
    /// Log targets (`log global` expanded) for health events.
    pub logs: Vec<LogTarget>,
    /// What checks of this backend's servers do.
    pub health_check: HealthCheck,
    /// `option log-health-checks`: log every check that moves the health.
    pub log_health_checks: bool,
    /// `option allbackups`: share traffic over every usable backup server
    /// instead of the first one only.
    pub allbackups: bool,
    /// `retries`: extra connect attempts after a failed one (default 3).
    pub retries: u32,
    /// Whether a retry goes to another server at once (`option
    /// redispatch`, and weir's default) or to the same one after a pause
    /// (`option redispatch 0`, `no option redispatch`).
    pub redispatch: bool,
    /// `option connect-hedge <time>` (weir extension): a connect not done
    /// after this long gets a second one to another server; the first to
    /// complete is used, the other closed.
    pub connect_hedge: Option<Duration>,
    /// `option replay-until-response <time>` (weir extension): while the
    /// server has sent nothing, keep what the client sent (at most one
    /// buffer); if the server stays silent this long, or closes or resets
    /// first, connect to another server and send it again.
    pub replay_until_response: Option<Duration>,
    /// `option abortonclose` and the other traffic options.
    pub traffic: traffic::BackendTraffic,
    /// `source`: what the servers without a `source` of their own bind
    /// their connections to.
    pub source: Option<source::ConnSource>,
    /// `fullconn`: backend load at which servers with `minconn` reach their
    /// `maxconn`. When not set: 10% of the `maxconn` of the frontends that
    /// route to the backend (see the README when they have none).
    pub fullconn: u32,
    /// `fullconn` was not configured: it is derived from the frontends,
    /// again by [`Config::derive_fullconn`] once the global `maxconn` is
    /// settled.
    pub fullconn_auto: bool,
    /// Servers in line order.
    pub servers: Vec<Server>,
    /// `load-server-state-from-file`: the state applied at start-up.
    pub load_server_state: ServerStateLoad,
    /// The section line.
    pub origin: Origin,
}

/// What a health check does once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// A TCP connect is the whole check.
    Tcp,
    /// `option tcp-check` with rules: send and expect bytes, in order.
    TcpRules(Vec<TcpRule>),
    /// `option httpchk`: its ruleset of connects, requests (from `option
    /// httpchk` and `http-check send`) and `http-check expect` rules.
    Http(HttpCheck),
}

/// One `tcp-check` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpStep {
    /// `connect [options]` after the first rule: the check closes its
    /// connection and opens a new one.
    Connect(Connect),
    /// `send <string>` / `send-binary <hex>`.
    Send(Vec<u8>),
    /// `expect [!] string|binary <pattern>`: the bytes received since the
    /// previous expect contain the pattern (or, with `!`, do not).
    Expect {
        /// The bytes looked for.
        pattern: Vec<u8>,
        /// `binary` (HAProxy names the kind in its messages).
        binary: bool,
        /// `!`.
        negate: bool,
    },
    /// `expect [!] rstring|rbinary <regex>`: the bytes received since the
    /// previous expect match the expression (or, with `!`, do not).
    ExpectRegex {
        /// The expression.
        regex: Pattern,
        /// `rbinary`: the expression runs on the bytes' uppercase hex dump
        /// (`"OK"` is `4F4B`), as HAProxy's `dump_binary`.
        hex: bool,
        /// `!`.
        negate: bool,
    },
    /// The reply parser of a protocol check (`expect custom`).
    Custom(CustomExpect),
}

impl TcpStep {
    /// Whether an expect rule finds what it looks for in `data` (its `!`
    /// aside); a send finds nothing.
    pub fn finds(&self, data: &[u8]) -> bool {
        match self {
            TcpStep::Expect { pattern, .. } => {
                pattern.is_empty() || data.windows(pattern.len()).any(|w| w == pattern)
            }
            TcpStep::ExpectRegex {
                regex, hex: false, ..
            } => regex.0.is_match(data),
            TcpStep::ExpectRegex {
                regex, hex: true, ..
            } => {
                const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
                let dump: Vec<u8> = data
                    .iter()
                    .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
                    .collect();
                regex.0.is_match(&dump)
            }
            TcpStep::Send(_) | TcpStep::Custom(_) | TcpStep::Connect(_) => false,
        }
    }
}

/// What makes an HTTP check pass (`http-check expect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpExpect {
    /// No rule: status 2xx or 3xx passes (HAProxy's default).
    Default,
    /// `expect [!] status <codes>`: one of these codes or ranges.
    Status {
        /// Inclusive ranges of codes (`200`, `200-399`, `200,302`).
        codes: Vec<(u16, u16)>,
        /// `!`: pass when the status is NOT one of them.
        negate: bool,
    },
    /// `expect [!] string <text>`: the body contains the text.
    String {
        /// The text looked for.
        text: Vec<u8>,
        /// `!`: pass when the body does NOT contain it.
        negate: bool,
    },
    /// `expect [!] rstatus <regex>`: the status code matches.
    RStatus {
        /// The expression.
        regex: Pattern,
        /// `!`: pass when it does NOT match.
        negate: bool,
    },
    /// `expect [!] rstring <regex>`: the body matches.
    RString {
        /// The expression.
        regex: Pattern,
        /// `!`: pass when it does NOT match.
        negate: bool,
    },
}

/// A regular expression from the configuration, compared by its text.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::bytes::Regex);

impl Pattern {
    /// Compiles `text`, bounded in size so no configuration can make a
    /// huge automaton.
    pub fn new(text: &str) -> Result<Pattern, String> {
        regex::bytes::RegexBuilder::new(&pcre_dollar(text))
            .size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|e| {
                // The regex crate's message draws a caret under the pattern
                // on several lines; its last line says what is wrong.
                let e = e.to_string();
                let what = e.lines().last().unwrap_or_default();
                format!(
                    "invalid regex '{text}': {}",
                    what.strip_prefix("error: ").unwrap_or(what)
                )
            })
    }
}

/// `text` with PCRE's `$` where the regex crate's differs: outside a
/// character class and without the `m` flag, PCRE's `$` also matches
/// before a newline that ends the subject (HAProxy's checks see `OK\n`
/// match `^OK$`); the regex crate's `$` only at the very end.
fn pcre_dollar(text: &str) -> std::borrow::Cow<'_, str> {
    let multi_line = text.split("(?").skip(1).any(|flags| {
        flags
            .split([':', ')'])
            .next()
            .is_some_and(|f| f.contains('m'))
    });
    if !text.contains('$') || multi_line {
        // With `(?m)` both mean the end of any line: leave it as written.
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    let mut class = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
                continue;
            }
            '[' => {
                class += 1;
                out.push(c);
                // A `]` first in a class (after an optional `^`) is literal.
                if chars.peek() == Some(&'^') {
                    out.extend(chars.next());
                }
                if chars.peek() == Some(&']') {
                    out.extend(chars.next());
                }
                continue;
            }
            ']' if class > 0 => class -= 1,
            '$' if class == 0 => {
                out.push_str(r"(?:\n?\z)");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

/// What `observe layer4` does when a server reaches its error limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// `fastinter`: check again after `fastinter`.
    Fastinter,
    /// `fail-check` (default): count one failed check, then `fastinter`.
    #[default]
    FailCheck,
    /// `sudden-death`: leave one check before DOWN, fail one, `fastinter`.
    SuddenDeath,
    /// `mark-down`: mark the server DOWN now, then `fastinter`.
    MarkDown,
}

/// How weir speaks TLS to a server (checks or traffic).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckTls {
    /// `verify required` (`Some(true)`) or `none`; `None` follows the
    /// global `ssl-server-verify` (required by default).
    pub verify: Option<bool>,
    /// `ca-file`: trust anchors for verification.
    pub ca_file: Option<String>,
    /// The PEM text of `ca_file`, filled by [`Config::load_files`].
    pub ca_pem: Vec<u8>,
    /// The name sent as SNI and verified in the certificate (`check-sni`
    /// for checks, `sni str(...)` for traffic); without one no SNI is sent
    /// and only the chain is verified (HAProxy).
    pub sni: Option<String>,
    /// `verifyhost`: the name the certificate must carry when no SNI is
    /// sent (with SNI, the SNI name is checked instead, as in HAProxy).
    pub verify_host: Option<String>,
    /// `crt`: a PEM file with the client certificate chain and its key,
    /// presented to the server (mutual TLS).
    pub crt_file: Option<String>,
    /// The PEM text of `crt_file`, filled by [`Config::load_files`].
    pub crt_pem: Vec<u8>,
    /// Versions and suites (the server's own, else the global
    /// `ssl-default-server-*`).
    pub params: TlsParams,
    /// `no-tls-tickets`: TLS 1.2 sessions resume by session id only.
    pub no_tickets: bool,
    /// `no-ssl-reuse`: every connection makes a full handshake.
    pub no_reuse: bool,
    /// `alpn`: the protocols offered, in order (traffic only).
    pub alpn: Vec<Vec<u8>>,
    /// `crl-file`: certificate revocation lists for verification.
    pub crl_file: Option<String>,
    /// The PEM text of `crl_file`, filled by [`Config::load_files`].
    pub crl_pem: Vec<u8>,
    /// What the server line said, before the global settings are merged.
    pub own: OwnTls,
}

/// Server selection algorithm (`balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// `roundrobin`: smooth weighted round robin, dynamic weights.
    RoundRobin,
    /// `static-rr`: weighted round robin on the configured weights; run-time
    /// weight changes other than to or from 0 are ignored.
    StaticRr,
    /// `leastconn`: the server with the fewest connections per weight.
    LeastConn,
    /// `first`: the first server, in line order, the caller accepts (one
    /// below its `maxconn`).
    First,
    /// `source`: a hash of the client's address ([`HashType`] says how it
    /// maps to servers).
    Source,
    /// `random(<draws>)`: the least loaded of `draws` servers drawn at
    /// random by weight (2 when not given).
    Random {
        /// How many servers are drawn.
        draws: u32,
    },
}

/// How hashing algorithms map a hash to a server (`hash-type`).
///
/// HAProxy's hash function words (`sdbm`, `djb2`, `wt6`, `crc32`) only
/// change how `uri`, `hdr` and similar keys are hashed; `source` and
/// `random`, the hashing algorithms weir has, do not use them, so they are
/// accepted and have no effect. weir always mixes the client address (as
/// `avalanche` does), so clients of one subnet spread over the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// `map-based` (default): a table of servers repeated by weight; run-time
    /// weight changes other than to or from 0 are ignored, and a change
    /// remaps most clients.
    #[default]
    MapBased,
    /// `consistent`: a ring with points per server in proportion to its
    /// weight; a change only moves the clients of the changed server.
    Consistent,
}

/// One `server` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Name, unique in its backend.
    pub name: String,
    /// `id`: the server's id in `show stat` (`sid`); `None`: numbered
    /// as HAProxy does.
    pub id: Option<u32>,
    /// Traffic address (host names resolved at parse time).
    pub addr: SocketAddr,
    /// `check`: run health checks.
    pub check: bool,
    /// `inter`: check interval (default 2 s).
    pub inter: Duration,
    /// `rise`: consecutive successes to go UP (default 2).
    pub rise: u32,
    /// `fall`: consecutive failures to go DOWN (default 3).
    pub fall: u32,
    /// `weight` 0..=256 (default 1); 0 takes no new traffic.
    pub weight: u32,
    /// `fastinter`: interval while the server is changing state.
    pub fastinter: Option<Duration>,
    /// `downinter`: interval while the server is fully DOWN.
    pub downinter: Option<Duration>,
    /// `port`: check port when it differs from the traffic port.
    pub check_port: Option<u16>,
    /// `addr`: the address checks (and the agent, without `agent-addr`)
    /// connect to when it differs from the traffic address.
    pub check_ip: Option<IpAddr>,
    /// TLS for health checks (`check-ssl`, or `ssl` without `port`);
    /// `None` for plain checks.
    pub check_tls: Option<CheckTls>,
    /// `check-alpn`: the protocols a TLS check offers.
    pub check_alpn: Option<Vec<Vec<u8>>>,
    /// `check-proto`: `Some(true)` for `h1` (an HTTP multiplexer),
    /// `Some(false)` for `none` (TCP); checked against the check's kind.
    pub check_proto_http: Option<bool>,
    /// The server's TLS settings for check rules that ask for TLS
    /// (`tcp-check connect ssl`), kept even without `check-ssl`; `None`
    /// when the backend's rules have no such connect.
    pub rule_tls: Option<CheckTls>,
    /// TLS for traffic (`ssl`): weir opens TLS to the server and carries
    /// the client's bytes inside it; `None` passes bytes through.
    pub tls: Option<CheckTls>,
    /// `observe layer4`: count failed traffic connections as errors.
    pub observe: bool,
    /// `error-limit`: consecutive observed errors before `on-error` (10).
    pub error_limit: u32,
    /// `on-error`: what reaching the error limit does.
    pub on_error: OnError,
    /// `on-marked-down shutdown-sessions`: end the server's sessions when
    /// it goes DOWN.
    pub shutdown_on_down: bool,
    /// `backup`: used only when no active server is usable.
    pub backup: bool,
    /// `on-marked-up shutdown-backup-sessions`: when this server comes UP,
    /// end the sessions of the backend's backup servers.
    pub shutdown_backups_on_up: bool,
    /// `disabled`: start in maintenance.
    pub disabled: bool,
    /// `maxconn`: most concurrent connections to the server; 0 = no limit.
    /// With `minconn`, the limit at full backend load (`fullconn`).
    pub maxconn: u32,
    /// `minconn`: the limit while the backend is idle; it grows with the
    /// backend's load up to `maxconn` (equal to `maxconn` when not set).
    pub minconn: u32,
    /// `maxqueue`: most connections waiting in this server's queue; 0 = no
    /// limit. Beyond it, connections go to other servers.
    pub maxqueue: u32,
    /// `slowstart`: after coming back UP (not at start), the server's
    /// weight and `maxconn` ramp up linearly over this time.
    pub slowstart: Option<Duration>,
    /// `send-proxy`, `send-proxy-v2` (with `proxy-v2-options`): the PROXY
    /// protocol header first on every traffic connection.
    pub send_proxy: Option<crate::proxy_protocol::Version>,
    /// The header health checks send first (`check-send-proxy`, or
    /// `send-proxy*` with checks on the traffic port).
    pub check_send_proxy: Option<crate::proxy_protocol::Version>,
    /// `agent-check`: an agent on its own port tells the server's weight
    /// and state.
    pub agent: Option<AgentCheck>,
    /// Given by host name: the name, how its address was found, and its
    /// DNS settings with `resolvers`; `None` for an IP address.
    pub host: Option<Host>,
    /// What its connections (traffic, checks, agent) are bound to before
    /// connecting: its own `source` (or `default-server`'s), else its
    /// backend's; `None`: the kernel's choice.
    pub source: Option<source::ConnSource>,
    /// The `server` line.
    pub origin: Origin,
}

/// A server given by host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The host name, as written.
    pub name: String,
    /// `resolvers`: its address follows DNS at run time.
    pub dns: Option<dns::ServerDns>,
    /// `init-addr none` (or `last` alone) gave no address: it starts in
    /// maintenance (`MAINT (resolution)`) until resolved.
    pub unresolved: bool,
    /// `init-addr last` came before the method that gave the address: an
    /// address in the server-state file wins.
    pub last_first: bool,
}

/// A server's `agent-check`: where the agent listens, how often it is
/// asked, and what is sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCheck {
    /// `agent-addr`, or the server's address.
    pub addr: IpAddr,
    /// `agent-addr` was given (`show servers state` shows it).
    pub addr_given: bool,
    /// `agent-port`, or `port`.
    pub port: u16,
    /// `agent-inter`, or HAProxy's 2 s (not `inter`: HAProxy's default
    /// server carries its own agent interval).
    pub inter: Duration,
    /// `agent-send`: the bytes sent once connected (nothing when empty).
    pub send: String,
}

impl Config {
    /// Derives again the `fullconn` of the backends that do not set it
    /// (HAProxy's `proxy_adjust_all_maxconn`), once the global `maxconn`
    /// is known: the driver settles it from the descriptor limit after
    /// parsing.
    pub fn derive_fullconn(&mut self) {
        for b in self.backends.iter_mut().filter(|b| b.fullconn_auto) {
            b.fullconn = 0;
        }
        parser::default_fullconn(&mut self.backends, &self.frontends, self.global.maxconn);
    }

    /// Reads the files the configuration names (CA files) through `read`,
    /// which the driver provides, and checks their contents. Every problem
    /// is reported with the line that named the file.
    pub fn load_files(
        &mut self,
        read: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<(), Vec<Diagnostic>> {
        let mut errors = Vec::new();
        for server in self.backends.iter_mut().flat_map(|b| b.servers.iter_mut()) {
            let crt = [&server.check_tls, &server.rule_tls, &server.tls]
                .into_iter()
                .flatten()
                .find_map(|t| t.crt_file.clone());
            if let Some(path) = crt {
                match read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| crate::tls::check_client_pem(&pem).map(|()| pem))
                {
                    Ok(pem) => {
                        for tls in [&mut server.check_tls, &mut server.rule_tls, &mut server.tls]
                            .into_iter()
                            .flatten()
                        {
                            tls.crt_pem = pem.clone();
                        }
                    }
                    Err(problem) => errors.push(Diagnostic {
                        origin: Some(server.origin.clone()),
                        message: format!("unable to load certificate file '{path}': {problem}"),
                    }),
                }
            }
            if let Err(e) = load_crl(server, read) {
                errors.push(e);
            }
            let Some(path) = [&server.check_tls, &server.rule_tls, &server.tls]
                .into_iter()
                .flatten()
                .find_map(|t| t.ca_file.clone())
            else {
                continue;
            };
            let problem = match read(&path) {
                Ok(pem) if crate::tls::count_certificates(&pem) > 0 => {
                    for tls in [&mut server.check_tls, &mut server.rule_tls, &mut server.tls]
                        .into_iter()
                        .flatten()
                    {
                        tls.ca_pem = pem.clone();
                    }
                    continue;
                }
                Ok(_) => "no PEM certificate found in it".to_owned(),
                Err(e) => e,
            };
            errors.push(Diagnostic {
                origin: Some(server.origin.clone()),
                message: format!("unable to load CA file '{path}': {problem}"),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Reads the `crl-file` of `server`, if it has one, and checks that it
/// holds a revocation list.
fn load_crl(
    server: &mut Server,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<(), Diagnostic> {
    let tls = || {
        [&server.check_tls, &server.rule_tls, &server.tls]
            .into_iter()
            .flatten()
    };
    let Some(path) = tls().find_map(|t| t.crl_file.clone()) else {
        return Ok(());
    };
    let problem = match read(&path) {
        Ok(pem) if crate::tls::count_crls(&pem) > 0 => {
            for tls in [&mut server.check_tls, &mut server.rule_tls, &mut server.tls]
                .into_iter()
                .flatten()
            {
                tls.crl_pem = pem.clone();
            }
            return Ok(());
        }
        Ok(_) => "no PEM X509 CRL found in it".to_owned(),
        Err(e) => e,
    };
    Err(Diagnostic {
        origin: Some(server.origin.clone()),
        message: format!("'crl-file' : unable to load {path}: {problem}"),
    })
}

impl Server {
    /// Where health checks connect.
    pub fn check_addr(&self) -> SocketAddr {
        let mut addr = self.addr;
        if let Some(ip) = self.check_ip {
            addr.set_ip(ip);
        }
        if let Some(port) = self.check_port {
            addr.set_port(port);
        }
        addr
    }
}

/// Parses and validates configuration files, concatenated in order.
///
/// `resolve` turns a host name that is not an IP literal into an address
/// (the driver passes libc's resolver; tests and fuzzers pass a table).
/// On failure every error found is returned, in file order.
pub fn parse(
    sources: &[Source<'_>],
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
) -> Result<Parsed, Vec<Diagnostic>> {
    parser::parse(sources, resolve, &|_| None)
}

/// [`parse`] with environment variables: `env` gives the value of a
/// variable (`None`: unset) for `"${VAR}"` in the files and `defined()` in
/// `.if` conditions. The driver passes the process's environment, with
/// what HAProxy sets itself (`HAPROXY_LOCALPEER`); core reads none.
pub fn parse_with_env(
    sources: &[Source<'_>],
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, Vec<Diagnostic>> {
    parser::parse(sources, resolve, env)
}

mod check;
mod check_rules;
pub mod condition;
pub mod dns;
pub(crate) mod ids;
mod keywords;
pub(crate) use keywords::suggest;
mod lexer;
mod parser;
mod protocol_check;
mod service;
pub mod source;
mod stats_socket;
mod tls_params;
pub mod traffic;
mod units;

pub use check::TcpRule;
pub use check_rules::{Connect, HttpCheck, HttpRequest, HttpRule, HttpStep, RuleStatus, Statuses};
pub use protocol_check::{CustomExpect, ProtocolCheck, ReplyText};
pub use service::{
    AdminAcl, AdminRule, DEFAULT_REALM, DEFAULT_STATS_URI, HttpService, PathCondition, ServiceRule,
    StatsPage,
};
pub use tls_params::{OwnTls, TlsParams};

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod bind_options_tests;
#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod dns_tests;
#[cfg(test)]
mod env_cond_tests;
#[cfg(test)]
mod messages_tests;
#[cfg(test)]
mod proxy_meta_tests;
#[cfg(test)]
mod proxy_protocol_tests;
#[cfg(test)]
mod server_state_tests;
#[cfg(test)]
mod server_tls_tests;
#[cfg(test)]
mod source_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod traffic_tests;
