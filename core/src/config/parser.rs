//! Sections and keywords: turns lexed statements into a validated [`Config`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::keywords::{
    BALANCE_LATER, BIND_LATER, BIND_TLS, GLOBAL_LATER, OPTIONS_LATER, OTHER_SECTIONS, PROXY_LATER,
    SERVER_LATER, SERVER_LATER_FLAGS, TIMEOUTS_LATER, suggest,
};
use super::lexer::{lines, split};
use super::service::{self, HttpService, ServiceRule, StatsPage};
use super::units::{number, time, time_warning};
use super::{
    Backend, Balance, Bind, BindOptions, CheckTls, Config, Diagnostic, Frontend, Global, HashType,
    LogTarget, OnError, Origin, Parsed, Server, Source,
};
use crate::logging::LineFormat;

mod agent;
mod bind_options;
mod checks;
mod compat;
mod connect;
mod directives;
mod environment;
mod http_rules;
mod logging;
mod originalto;
mod process;
mod protocol_check;
mod proxy_meta;
mod proxy_protocol;
mod resolvers;
mod server_state;
mod server_tls;
mod source;
mod statuses;
mod switching;
mod tls_global;
mod traffic;

/// `timeout connect` weir applies when a backend has none.
pub(super) const DEFAULT_CONNECT: Duration = Duration::from_secs(5);

const SECTIONS: &[&str] = &["global", "defaults", "frontend", "backend", "listen"];
/// The `option` names weir implements.
const OPTIONS: &[&str] = &[
    "tcplog",
    "dontlognull",
    "dontlog-normal",
    "log-separate-errors",
    "contstats",
    "httpchk",
    "log-health-checks",
    "tcp-check",
    "redis-check",
    "ssl-hello-chk",
    "mysql-check",
    "pgsql-check",
    "smtpchk",
    "ldap-check",
    "allbackups",
    "redispatch",
    "connect-hedge",
    "replay-until-response",
    "clitcpka",
    "srvtcpka",
    "tcpka",
    "nolinger",
    "httplog",
    "forwardfor",
    "originalto",
    "http-server-close",
    "http-keep-alive",
];
const GLOBAL_KEYWORDS: &[&str] = &[
    "maxconn",
    "log",
    "log-tag",
    "log-send-hostname",
    "nbthread",
    "spread-checks",
    "ssl-server-verify",
    "hard-stop-after",
    "stats",
];
const PROXY_KEYWORDS: &[&str] = &[
    "retries",
    "fullconn",
    "mode",
    "bind",
    "option",
    "no",
    "log",
    "log-tag",
    "log-format",
    "default_backend",
    "use_backend",
    "maxconn",
    "backlog",
    "timeout",
    "balance",
    "hash-type",
    "hash-balance-factor",
    "server",
    "stats",
    "http-request",
];
const SERVER_KEYWORDS: &[&str] = &[
    "check",
    "no-check",
    "addr",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "weight",
    "port",
    "disabled",
    "enabled",
    "observe",
    "error-limit",
    "on-error",
    "on-marked-down",
    "check-ssl",
    "no-check-ssl",
    "verify",
    "ca-file",
    "check-sni",
    "ssl",
    "no-ssl",
    "sni",
    "crt",
    "verifyhost",
    "no-verifyhost",
    "backup",
    "no-backup",
    "on-marked-up",
    "maxconn",
    "minconn",
    "maxqueue",
    "slowstart",
];
pub(super) fn parse(
    sources: &[Source<'_>],
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
    env: Env<'_>,
) -> Result<Parsed, Vec<Diagnostic>> {
    let mut parser = Parser::default();
    for source in sources {
        if parser.aborted {
            break;
        }
        parser.file(source, resolve, env);
    }
    if parser.aborted {
        return Err(parser.diags.errors);
    }
    parser.finish()
}

/// Which half of a proxy a section has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }

    fn has_frontend(self) -> bool {
        self != Kind::Backend
    }

    fn has_backend(self) -> bool {
        self != Kind::Frontend
    }
}

/// A log setting before `log global` is expanded.
#[derive(Debug, Clone)]
enum LogEntry {
    Global,
    Target(LogTarget),
}

/// What `defaults` sections pass on and proxies set.
#[derive(Debug, Clone, Default)]
struct Settings {
    /// `option tcplog` or `log-format`.
    tcplog: bool,
    /// `log-format`, when it is the last of the two.
    log_format: Option<LineFormat>,
    /// `log-tag`.
    log_tag: Option<String>,
    /// `option dontlognull`.
    dontlognull: bool,
    /// `option dontlog-normal`.
    dontlog_normal: bool,
    /// `backlog`: the binds' default.
    backlog: Option<u32>,
    /// `option log-separate-errors`.
    log_separate_errors: bool,
    logs: Vec<LogEntry>,
    maxconn: Option<u32>,
    default_backend: Option<(String, Origin)>,
    /// `use_backend` rules.
    switching: switching::Switching,
    timeout_connect: Option<Duration>,
    timeout_client: Option<Duration>,
    timeout_server: Option<Duration>,
    timeout_check: Option<Duration>,
    timeout_queue: Option<Duration>,
    timeout_tunnel: Option<Duration>,
    timeout_client_fin: Option<Duration>,
    timeout_server_fin: Option<Duration>,
    /// `option clitcpka`, or `option tcpka`.
    clitcpka: bool,
    /// `option srvtcpka`, or `option tcpka`.
    srvtcpka: bool,
    /// `option nolinger`.
    nolinger: bool,
    /// `option httpchk` and the `http-check` rules.
    http: http_rules::HttpRules,
    /// `option log-health-checks`.
    log_health_checks: bool,
    /// `option tcp-check`.
    tcp_check: bool,
    /// `option redis-check`, `mysql-check` ...: a protocol check.
    protocol_check: Option<super::ProtocolCheck>,
    /// `option allbackups`.
    allbackups: bool,
    /// `retries`, when set.
    retries: Option<u32>,
    /// `fullconn`, when set.
    fullconn: Option<u32>,
    /// `option connect-hedge <time>` (weir extension).
    connect_hedge: Option<Duration>,
    /// `option replay-until-response <time>` (weir extension).
    replay_until_response: Option<Duration>,
    /// `option redispatch 0` or `no option redispatch`.
    no_redispatch: bool,
    /// `tcp-check` rules, each with its line.
    tcp_rules: Vec<(checks::TcpEntry, Origin)>,
    /// `balance`, when set.
    balance: Option<Balance>,
    /// `hash-type`.
    hash_type: HashType,
    /// `hash-balance-factor` (0: off).
    hash_balance_factor: u32,
    /// `mode http`, with its line; `None`: `mode tcp`, the default.
    mode_http: Option<Origin>,
    /// The stats page, with the line of the `stats` statement that began
    /// it (a section's own `stats` lines replace what `defaults` gave).
    stats: Option<(StatsPage, Origin)>,
    /// `http-request use-service` rules, with their lines.
    services: Vec<(ServiceRule, Origin)>,
    /// `timeout http-request`.
    timeout_http_request: Option<Duration>,
    /// `timeout http-keep-alive`.
    timeout_http_keep_alive: Option<Duration>,
    /// `option httplog`, with its line.
    httplog: Option<Origin>,
    /// `option forwardfor`, with its line.
    forwardfor: Option<Origin>,
    /// `option originalto`, with its line.
    originalto: Option<Origin>,
    /// The parameters of `default-server` lines so far, in order: they
    /// go before each later `server` line's own.
    default_server: Vec<String>,
    /// HTTP-only options, ignored in TCP mode with a warning.
    http_options: compat::HttpOptions,
    /// `load-server-state-from-file`, when set.
    load_server_state: Option<server_state::Mode>,
    /// `server-state-file-name`, when set: `None` for the backend's name.
    server_state_file_name: Option<Option<String>>,
    /// `disabled`, `enabled`, `id`, `description`.
    meta: proxy_meta::Meta,
    /// `option abortonclose` and the other traffic options.
    traffic: traffic::TrafficSettings,
    /// `source`.
    source: source::SourceSettings,
}

struct Proxy {
    kind: Kind,
    name: String,
    origin: Origin,
    settings: Settings,
    binds: Vec<Bind>,
    servers: Servers,
}

/// A backend's servers, with the line of each name for the duplicate
/// check (a map, so that loading stays linear in the number of servers).
#[derive(Default)]
struct Servers {
    list: Vec<Server>,
    lines: HashMap<String, u32>,
}

enum Section {
    None,
    /// A section weir does not read (`peers`...): one error for it, its
    /// lines skipped.
    Unsupported,
    Global,
    Defaults,
    Proxy(usize),
    /// A `resolvers` section (index in `Parser::resolvers`).
    Resolvers(usize),
}

/// Errors and warnings collected so far.
#[derive(Default)]
struct Diags {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// An error that stops the reading (HAProxy's `ERR_ABORT`).
    abort: bool,
}

impl Diags {
    fn error(&mut self, origin: &Origin, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            origin: Some(origin.clone()),
            message: message.into(),
        });
    }

    fn warn(&mut self, origin: &Origin, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            origin: Some(origin.clone()),
            message: message.into(),
        });
    }
}

#[derive(Default)]
struct Parser {
    diags: Diags,
    global: Global,
    defaults: Settings,
    defaults_name: Option<String>,
    defaults_origin: Origin,
    named_defaults: HashMap<String, Settings>,
    proxies: Vec<Proxy>,
    section: Option<Section>,
    /// The files read, in order, for messages about all of them.
    files: Vec<Arc<str>>,
    /// How many statements the files hold.
    statements: usize,
    /// The global `log-tag`.
    global_log_tag: Option<String>,
    /// `ca-base`, `crt-base`, `ssl-default-server-*`.
    tls_global: tls_global::TlsGlobal,
    /// The name of the section being read, for `${.SECTION}`: HAProxy's
    /// `cfg_curr_section` (unset at the start of each file).
    section_name: Option<String>,
    /// `.notice` messages.
    notices: Vec<Diagnostic>,
    /// An error stopped the reading (HAProxy's `ERR_ABORT`).
    aborted: bool,
    /// What `setenv` and the like changed in the environment.
    env_overlay: environment::Overlay,
    /// The proxies' `id`s so far, with the proxy that took each.
    proxy_ids: HashMap<u32, usize>,
    /// `resolvers` sections.
    resolvers: Vec<super::dns::Resolvers>,
}

/// One statement being parsed.
struct Stmt<'a> {
    origin: Origin,
    words: &'a [String],
}

impl Stmt<'_> {
    fn word(&self, i: usize) -> &str {
        self.words.get(i).map_or("", String::as_str)
    }
}

type Resolve<'r> = &'r mut dyn FnMut(&str) -> Option<IpAddr>;
/// The environment variables the driver passes.
type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

impl Parser {
    fn file(&mut self, source: &Source<'_>, resolve: Resolve<'_>, env: Env<'_>) {
        let file: Arc<str> = source.name.into();
        self.files.push(file.clone());
        // A section never continues into the next file.
        self.close_section();
        self.section_name = None;
        let mut conds = directives::Conds::default();
        let mut last = 0;
        for (number, text) in lines(source.text) {
            // HAProxy names the file's last line; weir the last one that
            // holds something, so that a message never points at a blank.
            if text.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\r')) {
                last = number;
            }
            let origin = Origin {
                file: file.clone(),
                line: number,
            };
            let section = &self.section_name;
            let overlay = &self.env_overlay;
            let mut vars = |name: &str| match name {
                ".LINE" => Some(number.to_string()),
                ".FILE" => Some(file.to_string()),
                ".SECTION" => section.clone(),
                _ => overlay.get(name, env),
            };
            let words = match split(text, &mut vars) {
                Ok(words) if words.is_empty() => continue,
                Ok(words) => words,
                Err(message) => {
                    self.statements += 1;
                    self.diags.error(&origin, message);
                    continue;
                }
            };
            self.statements += 1;
            let st = Stmt {
                origin,
                words: &words,
            };
            let overlay = &self.env_overlay;
            let mut defined = |name: &str| overlay.get(name, env).is_some();
            let flow = conds.line(&mut self.diags, &mut self.notices, &st, &mut defined);
            match flow {
                directives::Flow::Statement => {}
                directives::Flow::Next => continue,
                directives::Flow::EndFile => break,
                directives::Flow::EndFileAbort => {
                    self.aborted = true;
                    break;
                }
                directives::Flow::Abort => {
                    self.aborted = true;
                    return;
                }
            }
            let keyword = st.word(0);
            if SECTIONS.contains(&keyword) || OTHER_SECTIONS.contains(&keyword) {
                let name = st.words.get(1).filter(|w| !w.is_empty());
                self.section_name = Some(name.map_or(keyword, |w| w.as_str()).to_owned());
            }
            if matches!(self.section, Some(Section::Global))
                && environment::KEYWORDS.contains(&keyword)
            {
                self.env_overlay.keyword(&mut self.diags, &st, env);
                continue;
            }
            self.statement(&st, resolve);
            if self.diags.abort {
                self.aborted = true;
                return;
            }
        }
        let last = Origin { file, line: last };
        if conds.end_of_file(&mut self.diags, &last) == directives::Flow::Abort {
            self.aborted = true;
        }
    }

    fn statement(&mut self, st: &Stmt<'_>, resolve: Resolve<'_>) {
        let keyword = st.word(0);
        if SECTIONS.contains(&keyword) {
            return self.open_section(st);
        }
        if keyword == "resolvers" {
            self.close_section();
            if let Some(r) = resolvers::open(&mut self.diags, &self.resolvers, st) {
                self.resolvers.push(r);
                self.section = Some(Section::Resolvers(self.resolvers.len() - 1));
            } else {
                self.section = Some(Section::Unsupported);
            }
            return;
        }
        if OTHER_SECTIONS.contains(&keyword) {
            self.close_section();
            self.section = Some(Section::Unsupported);
            // One error for the section: its lines are not read.
            return self
                .diags
                .error(&st.origin, format!("'{keyword}' is not supported yet"));
        }
        match self.section {
            Some(Section::Unsupported) => {}
            Some(Section::Resolvers(i)) => {
                resolvers::keyword(&mut self.diags, &mut self.resolvers[i], st)
            }
            None | Some(Section::None) => {
                let hint = hint(keyword, SECTIONS.iter().chain(OTHER_SECTIONS).copied());
                self.diags.error(
                    &st.origin,
                    format!(
                        "unknown keyword '{keyword}' out of section{hint}: statements go inside \
                         'global', 'defaults', 'frontend', 'backend' or 'listen'"
                    ),
                );
            }
            Some(Section::Global) if logging::GLOBAL.contains(&keyword) => logging::global(
                &mut self.diags,
                &mut self.global,
                &mut self.global_log_tag,
                st,
                resolve,
            ),
            Some(Section::Global) if tls_global::KEYWORDS.contains(&keyword) => {
                tls_global::keyword(&mut self.diags, &mut self.tls_global, st)
            }
            Some(Section::Global) => global_keyword(&mut self.diags, &mut self.global, st),
            Some(Section::Defaults) => {
                let mut parts = ProxyParts {
                    kind: Kind::Defaults,
                    name: "",
                    section: &self.defaults_origin,
                    settings: &mut self.defaults,
                    binds: None,
                    servers: None,
                };
                proxy_keyword(&mut self.diags, &mut parts, st, resolve);
            }
            Some(Section::Proxy(i)) => {
                let proxy = &mut self.proxies[i];
                let mut parts = ProxyParts {
                    kind: proxy.kind,
                    name: &proxy.name,
                    section: &proxy.origin,
                    settings: &mut proxy.settings,
                    binds: Some(&mut proxy.binds),
                    servers: Some(&mut proxy.servers),
                };
                proxy_keyword(&mut self.diags, &mut parts, st, resolve);
                if keyword == "id" {
                    self.check_proxy_id(i, st);
                }
            }
        }
    }

    /// HAProxy's check that proxy `i`'s new `id` is no other's.
    fn check_proxy_id(&mut self, i: usize, st: &Stmt<'_>) {
        let Some((id, _)) = self.proxies[i].settings.meta.id else {
            return;
        };
        let Some(&first) = self.proxy_ids.get(&id) else {
            self.proxy_ids.insert(id, i);
            return;
        };
        let [p, first] = [i, first].map(|j| {
            let p = &self.proxies[j];
            proxy_meta::IdProxy {
                kind: p.kind,
                name: &p.name,
                origin: &p.origin,
                id: None,
            }
        });
        let message = proxy_meta::reused(&p, &first);
        self.diags.error(&st.origin, message);
    }

    /// Ends the current section: a named `defaults` section is kept, as
    /// it is now, for `from` (once, not per line: loading stays linear).
    fn close_section(&mut self) {
        if let Some(name) = self.defaults_name.take() {
            self.named_defaults.insert(name, self.defaults.clone());
        }
        if let Some(Section::Resolvers(i)) = self.section {
            resolvers::close(&mut self.diags, &self.resolvers[i]);
        }
        self.section = Some(Section::None);
    }

    fn open_section(&mut self, st: &Stmt<'_>) {
        let keyword = st.word(0);
        self.close_section();
        if keyword == "global" {
            if st.words.len() > 1 {
                self.diags.error(&st.origin, "'global' takes no argument");
            }
            self.section = Some(Section::Global);
            return;
        }
        let kind = match keyword {
            "defaults" => Kind::Defaults,
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            _ => Kind::Listen,
        };
        let (name, from) = match &st.words[1..] {
            [] => (None, None),
            [from, base] if from == "from" => (None, Some(base)),
            [name] => (Some(name), None),
            [name, from, base] if from == "from" => (Some(name), Some(base)),
            _ => {
                return self.diags.error(
                    &st.origin,
                    format!("'{keyword}' expects: {keyword} <name> [from <defaults>]"),
                );
            }
        };
        let base = match from {
            Some(base) => match self.named_defaults.get(base.as_str()) {
                Some(settings) => settings.clone(),
                None => {
                    self.diags.error(
                        &st.origin,
                        format!("'{keyword}': unable to find defaults section '{base}'"),
                    );
                    Settings::default()
                }
            },
            // A defaults section starts again from built-in values.
            None if kind == Kind::Defaults => Settings::default(),
            None => self.defaults.clone(),
        };
        if kind == Kind::Defaults {
            self.defaults = base;
            self.defaults_origin = st.origin.clone();
            self.defaults_name = name.cloned();
            self.section = Some(Section::Defaults);
            return;
        }
        let Some(name) = name else {
            return self
                .diags
                .error(&st.origin, format!("'{keyword}' needs a name"));
        };
        // As HAProxy: a proxy with a frontend is checked against the
        // frontends, a backend against the backends (so a `listen` after
        // a `backend` of its name is accepted, not the other way round).
        let same = self.proxies.iter().find(|p| {
            p.name == *name
                && if kind.has_frontend() {
                    p.kind.has_frontend()
                } else {
                    p.kind.has_backend()
                }
        });
        if let Some(first) = same {
            self.diags.error(
                &st.origin,
                format!(
                    "{} '{name}' has the same name as {} '{name}' declared at {}.",
                    proxy_word(kind),
                    proxy_word(first.kind),
                    first.origin
                ),
            );
        }
        self.proxies.push(Proxy {
            kind,
            name: name.clone(),
            origin: st.origin.clone(),
            settings: base,
            binds: Vec::new(),
            servers: Servers::default(),
        });
        self.section = Some(Section::Proxy(self.proxies.len() - 1));
    }
}

/// ` (did you mean 'x'?)` when a candidate is close to `word`.
fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

/// The most event loops `nbthread` may ask for (HAProxy's `MAX_THREADS`
/// on 64-bit machines).
const MAX_THREADS: u64 = 64;

fn not_yet(diags: &mut Diags, st: &Stmt<'_>, keyword: &str) {
    diags.error(&st.origin, format!("'{keyword}' is not supported yet"));
}

fn global_keyword(diags: &mut Diags, global: &mut Global, st: &Stmt<'_>) {
    let keyword = st.word(0);
    match keyword {
        "maxconn" => match number(st.word(1), "maxconn", 1..=u64::from(u32::MAX)) {
            Ok(n) => global.maxconn = Some(n as u32),
            Err(e) => diags.error(&st.origin, e),
        },
        "spread-checks" => match number(st.word(1), "spread-checks", 0..=50) {
            Ok(n) => global.spread_checks = n as u8,
            Err(_) => diags.error(
                &st.origin,
                "'spread-checks' needs a positive value in range 0..50.",
            ),
        },
        _ if process::KEYWORDS.contains(&keyword) => {
            process::keyword(diags, &mut global.process, st)
        }
        _ if server_state::GLOBAL.contains(&keyword) => server_state::global(diags, global, st),
        _ if traffic::GLOBAL.contains(&keyword) => traffic::global(diags, &mut global.rates, st),
        _ if traffic::SPLICE_GLOBAL.contains(&keyword) => {
            traffic::splice_global(diags, &mut global.splice, st)
        }
        "ssl-server-verify" => match st.word(1) {
            "none" => global.ssl_server_verify_none = true,
            "required" => global.ssl_server_verify_none = false,
            other => diags.error(
                &st.origin,
                format!("'ssl-server-verify' expects 'none' or 'required', got '{other}'"),
            ),
        },
        "hard-stop-after" => match (st.words.len(), time(st.word(1), keyword)) {
            (2, Ok(t)) => {
                if let Some(warning) = time_warning(st.word(1)) {
                    diags.warn(&st.origin, warning);
                }
                global.hard_stop_after = (!t.is_zero()).then_some(t);
            }
            (2, Err(e)) => diags.error(&st.origin, e),
            _ => diags.error(
                &st.origin,
                "'hard-stop-after' expects one time value, such as 30s or 5m",
            ),
        },
        "nbthread" => match (
            st.words.len(),
            number(st.word(1), "nbthread", 1..=MAX_THREADS),
        ) {
            (2, Ok(n)) => global.nbthread = Some(n as u32),
            _ => diags.error(
                &st.origin,
                format!("'nbthread' expects a number of event loops from 1 to {MAX_THREADS}"),
            ),
        },
        "stats" => {
            if let Err(e) = super::stats_socket::global_stats(
                &mut global.runtime_api,
                &st.words[1..],
                &st.origin,
            ) {
                diags.error(&st.origin, e);
            }
        }
        "cpu-map" => diags.error(
            &st.origin,
            "'cpu-map' is not supported: weir does not pin its event loops to CPUs; \
             restrict the process instead (taskset, systemd's CPUAffinity=), and \
             'nbthread' follows the CPUs it may run on",
        ),
        "thread-groups" => diags.error(
            &st.origin,
            "'thread-groups' is not supported: weir runs one group of event loops \
             ('nbthread', up to 64)",
        ),
        _ if GLOBAL_LATER.contains(&keyword) => not_yet(diags, st, keyword),
        _ => {
            let known = (GLOBAL_KEYWORDS.iter().chain(process::KEYWORDS))
                .chain(server_state::GLOBAL)
                .chain(traffic::GLOBAL)
                .chain(traffic::SPLICE_GLOBAL)
                .chain(tls_global::KEYWORDS)
                .chain(environment::KEYWORDS);
            let sections = SECTIONS.iter().chain(OTHER_SECTIONS);
            let hint = hint(keyword, known.chain(GLOBAL_LATER).chain(sections).copied());
            diags.error(
                &st.origin,
                format!("unknown keyword '{keyword}' in 'global' section{hint}"),
            );
        }
    }
}

/// The parts of a proxy (or defaults) section a keyword may change.
struct ProxyParts<'a> {
    kind: Kind,
    name: &'a str,
    /// The section's first line.
    section: &'a Origin,
    settings: &'a mut Settings,
    binds: Option<&'a mut Vec<Bind>>,
    servers: Option<&'a mut Servers>,
}

impl ProxyParts<'_> {
    /// HAProxy's warning for a keyword the section's capability ignores.
    fn ignored(&self, diags: &mut Diags, st: &Stmt<'_>, keyword: &str, needs_frontend: bool) {
        let what = if needs_frontend {
            "frontend"
        } else {
            "backend"
        };
        diags.warn(
            &st.origin,
            format!(
                "'{keyword}' ignored because {} '{}' has no {what} capability.",
                self.kind.word(),
                self.name
            ),
        );
    }
}

fn proxy_keyword(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>, resolve: Resolve<'_>) {
    let keyword = st.word(0);
    let kind = p.kind;
    match keyword {
        "mode" => match (st.word(1), st.words.len()) {
            ("tcp", 2) => p.settings.mode_http = None,
            ("http", 2) => p.settings.mode_http = Some(st.origin.clone()),
            ("tcp" | "http", _) => diags.error(
                &st.origin,
                format!("'mode' cannot handle unexpected argument '{}'.", st.word(2)),
            ),
            (mode, _) => diags.error(
                &st.origin,
                format!(
                    "'mode {mode}': weir is a layer-4 balancer: only 'mode tcp' is supported, and \
                     'mode http' for a frontend serving only metrics or the stats page"
                ),
            ),
        },
        "stats" => {
            let inherited = |o: &Origin| o.file != p.section.file || o.line < p.section.line;
            if p.settings.stats.as_ref().is_some_and(|(_, o)| inherited(o)) {
                p.settings.stats = None;
            }
            let (page, _) = p
                .settings
                .stats
                .get_or_insert_with(|| (StatsPage::new(), st.origin.clone()));
            let mut warnings = Vec::new();
            let result = service::stats_line(page, st.words, kind == Kind::Defaults, &mut warnings);
            for warning in warnings {
                diags.warn(&st.origin, warning);
            }
            if let Err(e) = result {
                diags.error(&st.origin, e);
            }
        }
        "http-request" => {
            if !kind.has_frontend() || kind == Kind::Defaults {
                diags.error(
                    &st.origin,
                    format!(
                        "'http-request' is not allowed in a '{}' section: weir accepts it only \
                         in a 'mode http' frontend or listen, as 'http-request use-service \
                         prometheus-exporter'",
                        kind.word()
                    ),
                );
            } else {
                match service::use_service(st.words) {
                    Ok(rule) => p.settings.services.push((rule, st.origin.clone())),
                    Err(e) => diags.error(&st.origin, e),
                }
            }
        }
        "bind" => match &mut p.binds {
            Some(binds) if kind.has_frontend() => bind_line(diags, binds, st),
            _ => diags.error(
                &st.origin,
                format!("'bind' is not allowed in a '{}' section", kind.word()),
            ),
        },
        "default-server" => default_server(diags, p, st, resolve),
        "tcp-request" => diags.error(
            &st.origin,
            match (st.word(1), st.word(2)) {
                ("connection", "expect-proxy") => {
                    "'tcp-request connection expect-proxy' is not supported: weir has no \
                     'tcp-request' rules; put 'accept-proxy' on the 'bind' line to read the \
                     PROXY protocol header"
                }
                _ => "'tcp-request' rules are not supported yet",
            },
        ),
        "server" => match &mut p.servers {
            Some(servers) if kind.has_backend() => {
                let defaults = &p.settings.default_server;
                let lines = &servers.lines;
                if let Some(server) = server_line(diags, p.name, lines, defaults, st, resolve) {
                    let same_id = server
                        .id
                        .and_then(|id| servers.list.iter().find(|s| s.id == Some(id)));
                    if let (Some(first), Some(id)) = (same_id, server.id) {
                        diags.error(
                            &st.origin,
                            format!(
                                "'server {}/{}' : 'id' : custom id {id} already used at {} \
                                 ('server {}').",
                                p.name, server.name, first.origin, first.name
                            ),
                        );
                        return;
                    }
                    servers.lines.insert(server.name.clone(), st.origin.line);
                    servers.list.push(server);
                }
            }
            _ => diags.error(
                &st.origin,
                format!("'server' is not allowed in a '{}' section", kind.word()),
            ),
        },
        "server-template" => match &mut p.servers {
            Some(servers) if kind.has_backend() => match resolvers::template_names(st) {
                Ok(names) => {
                    for name in names {
                        let mut words = vec!["server".to_owned(), name];
                        words.extend(st.words[3..].iter().cloned());
                        let line = Stmt {
                            origin: st.origin.clone(),
                            words: &words,
                        };
                        let defaults = &p.settings.default_server;
                        let lines = &servers.lines;
                        let errors = diags.errors.len();
                        match server_line(diags, p.name, lines, defaults, &line, resolve) {
                            Some(server) => {
                                servers.lines.insert(server.name.clone(), st.origin.line);
                                servers.list.push(server);
                            }
                            // One error for the line, not one per server.
                            None if diags.errors.len() > errors => break,
                            None => {}
                        }
                    }
                }
                Err(e) => diags.error(&st.origin, e),
            },
            _ => diags.error(
                &st.origin,
                format!(
                    "'server-template' is not allowed in a '{}' section",
                    kind.word()
                ),
            ),
        },
        "option" => option(diags, p, st, true),
        "no" => match st.word(1) {
            "option" => {
                let rest = Stmt {
                    origin: st.origin.clone(),
                    words: &st.words[1..],
                };
                option(diags, p, &rest, false);
            }
            "log" => logging::proxy(diags, p, st, resolve),
            other => diags.error(
                &st.origin,
                format!("'no {other}' is not supported: only 'no option ...' and 'no log'"),
            ),
        },
        _ if logging::PROXY.contains(&keyword) => logging::proxy(diags, p, st, resolve),
        "use_backend" => switching::use_backend(diags, p, st),
        "default_backend" => {
            if !kind.has_frontend() {
                p.ignored(diags, st, keyword, true);
            } else if st.words.len() != 2 {
                diags.error(&st.origin, "'default_backend' expects a backend name");
            } else {
                p.settings.default_backend = Some((st.word(1).to_owned(), st.origin.clone()));
            }
        }
        "maxconn" => {
            if !kind.has_frontend() {
                diags.warn(
                    &st.origin,
                    format!(
                        "'maxconn' ignored because backend '{}' has no frontend capability. \
                         Maybe you want 'fullconn' instead ?",
                        p.name
                    ),
                );
            } else {
                match number(st.word(1), "maxconn", 1..=u64::from(u32::MAX)) {
                    Ok(n) => p.settings.maxconn = Some(n as u32),
                    Err(e) => diags.error(&st.origin, e),
                }
            }
        }
        "backlog" if !kind.has_frontend() => p.ignored(diags, st, "backlog", true),
        "backlog" if st.word(1).is_empty() => {
            diags.error(&st.origin, "'backlog' expects an integer argument.")
        }
        "backlog" if st.words.len() > 2 => diags.error(
            &st.origin,
            format!(
                "'backlog' cannot handle unexpected argument '{}'.",
                st.word(2)
            ),
        ),
        // HAProxy's atol: 0 or less keeps the default.
        "backlog" => {
            p.settings.backlog = bind_options::backlog(st.word(1), "backlog").ok().flatten()
        }
        "timeout" => timeout(diags, p, st),
        "retries" => {
            if !kind.has_backend() {
                p.ignored(diags, st, keyword, false);
            } else {
                match number(st.word(1), "retries", 0..=100) {
                    Ok(n) => p.settings.retries = Some(n as u32),
                    Err(e) => diags.error(&st.origin, e),
                }
            }
        }
        "fullconn" => {
            if !kind.has_backend() {
                p.ignored(diags, st, keyword, false);
            } else {
                match number(st.word(1), "fullconn", 1..=u64::from(u32::MAX)) {
                    Ok(n) => p.settings.fullconn = Some(n as u32),
                    Err(e) => diags.error(&st.origin, e),
                }
            }
        }
        "tcp-check" => {
            if kind.has_backend() {
                checks::tcp_check(diags, p.settings, p.section, st);
            } else {
                p.ignored(diags, st, keyword, false);
            }
        }
        "http-check" => {
            if kind.has_backend() {
                checks::http_check(diags, p.settings, p.section, st);
            } else {
                p.ignored(diags, st, keyword, false);
            }
        }
        "balance" | "hash-type" | "hash-balance-factor" if !kind.has_backend() => {
            p.ignored(diags, st, keyword, false)
        }
        "balance" => match balance(st) {
            Ok(algorithm) => p.settings.balance = Some(algorithm),
            Err(e) => diags.error(&st.origin, e),
        },
        "hash-type" => match hash_type(st) {
            Ok(hash_type) => p.settings.hash_type = hash_type,
            Err(e) => diags.error(&st.origin, e),
        },
        "hash-balance-factor" => match number(st.word(1), keyword, 0..=u64::from(u32::MAX)) {
            Ok(n @ 1..=100) => diags.error(
                &st.origin,
                format!("'{keyword}' must be 0 or greater than 100 (got {n})."),
            ),
            Ok(n) => p.settings.hash_balance_factor = n as u32,
            Err(e) => diags.error(&st.origin, e),
        },
        _ if server_state::PROXY.contains(&keyword) => server_state::proxy(diags, p, st),
        _ if proxy_meta::KEYWORDS.contains(&keyword) => {
            diags.abort |= proxy_meta::keyword(diags, p, st);
        }
        _ if compat::KEYWORDS.contains(&keyword) => compat::keyword(diags, p, st),
        _ if traffic::KEYWORDS.contains(&keyword) => traffic::keyword(diags, p, st),
        _ if source::KEYWORDS.contains(&keyword) => source::keyword(diags, p, st, resolve),
        _ if PROXY_LATER.contains(&keyword) => not_yet(diags, st, keyword),
        _ => {
            let known = (PROXY_KEYWORDS.iter().chain(server_state::PROXY))
                .chain(proxy_meta::KEYWORDS)
                .chain(traffic::KEYWORDS)
                .chain(source::KEYWORDS)
                .chain(SECTIONS)
                .chain(OTHER_SECTIONS);
            let hint = hint(keyword, known.chain(PROXY_LATER).copied());
            diags.error(
                &st.origin,
                format!(
                    "unknown keyword '{keyword}' in '{}' section{hint}",
                    kind.word()
                ),
            );
        }
    }
}

/// The `balance` algorithms weir implements.
const BALANCE: &[&str] = &[
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "random",
];

/// Parses `balance <algorithm>`.
fn balance(st: &Stmt<'_>) -> Result<Balance, String> {
    let word = st.word(1);
    let (name, arg) = match word.split_once('(') {
        Some((name, arg)) => (name, Some(arg)),
        None => (word, None),
    };
    let algorithm = match (name, arg) {
        ("roundrobin", None) => Balance::RoundRobin,
        ("static-rr", None) => Balance::StaticRr,
        ("leastconn", None) => Balance::LeastConn,
        ("first", None) => Balance::First,
        ("source", None) => Balance::Source,
        ("random", None) => Balance::Random { draws: 2 },
        ("random", Some(arg)) => Balance::Random {
            draws: random_draws(arg).map_err(|e| format!("'balance {word}': {e}"))?,
        },
        _ if BALANCE_LATER.contains(&name) => {
            return Err(format!("'balance {name}' is not supported yet"));
        }
        ("", _) => {
            return Err(format!(
                "'balance' expects an algorithm: {}",
                BALANCE.join(", ")
            ));
        }
        _ => {
            let hint = hint(name, BALANCE_LATER.iter().chain(BALANCE).copied());
            return Err(format!("unknown balance algorithm '{word}'{hint}"));
        }
    };
    match st.words.get(2) {
        Some(extra) => Err(format!("'balance {word}' takes no argument, got '{extra}'")),
        None => Ok(algorithm),
    }
}

/// The `<draws>)` of `random(<draws>)`; `)` alone is the default, 2.
fn random_draws(arg: &str) -> Result<u32, String> {
    let digits = arg.bytes().take_while(u8::is_ascii_digit).count();
    let (number, rest) = arg.split_at(digits);
    match rest.strip_prefix(')') {
        Some("") => {}
        Some(after) => {
            let c = after.chars().next().unwrap_or(' ');
            return Err(format!("unexpected character '{c}' after ')'"));
        }
        None => {
            return Err(match rest.chars().next() {
                None => "missing closing parenthesis".to_owned(),
                Some(c) => format!("unexpected character '{c}' in the number of draws"),
            });
        }
    }
    if number.is_empty() {
        return Ok(2);
    }
    match number.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "the number of draws must be between 1 and {}, got '{number}'",
            u32::MAX
        )),
    }
}

/// HAProxy's hash functions: accepted, though the algorithms weir has do
/// not use them (see [`HashType`]).
const HASH_FUNCTIONS: &[&str] = &["sdbm", "djb2", "wt6", "crc32"];

/// Parses `hash-type <method> [<function> [<modifier>]]`.
fn hash_type(st: &Stmt<'_>) -> Result<HashType, String> {
    let hash_type = match st.word(1) {
        "map-based" => HashType::MapBased,
        "consistent" => HashType::Consistent,
        "avalanche" => {
            return Err(
                "'hash-type avalanche' is not supported anymore (HAProxy 1.5): use \
                 'hash-type map-based sdbm avalanche' instead"
                    .to_owned(),
            );
        }
        method => {
            let hint = hint(method, ["map-based", "consistent"]);
            return Err(format!(
                "'hash-type' only supports 'map-based' and 'consistent', got '{method}'{hint}"
            ));
        }
    };
    match st.word(2) {
        "" => {}
        "avalanche" => {
            return Err(format!(
                "'hash-type': 'avalanche' comes after a hash function, as in 'hash-type {} \
                 sdbm avalanche'",
                st.word(1)
            ));
        }
        f if HASH_FUNCTIONS.contains(&f) => {}
        f => {
            let hint = hint(f, HASH_FUNCTIONS.iter().copied());
            return Err(format!(
                "'hash-type': unknown hash function '{f}'{hint}: the functions are sdbm, djb2, \
                 wt6 and crc32"
            ));
        }
    }
    match st.word(3) {
        "" | "avalanche" => {}
        m => {
            let hint = hint(m, ["avalanche"]);
            return Err(format!(
                "'hash-type': unknown hash modifier '{m}'{hint}: the only one is 'avalanche'"
            ));
        }
    }
    match st.words.get(4) {
        Some(extra) => Err(format!(
            "'hash-type' takes at most a method, a function and a modifier, got '{extra}' too"
        )),
        None => Ok(hash_type),
    }
}

/// The options that take no argument, for HAProxy's "cannot handle
/// unexpected argument".
const OPTIONS_WITHOUT_ARGUMENT: &[&str] = &[
    "tcplog",
    "dontlognull",
    "tcp-check",
    "log-health-checks",
    "allbackups",
    "clitcpka",
    "srvtcpka",
    "tcpka",
    "nolinger",
    "redis-check",
    "splice-auto",
    "splice-request",
    "splice-response",
];

fn option(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>, enable: bool) {
    let name = st.word(1);
    if OPTIONS_WITHOUT_ARGUMENT.contains(&name) && !st.word(2).is_empty() {
        return diags.error(
            &st.origin,
            format!(
                "'option {name}' cannot handle unexpected argument '{}'.",
                st.word(2)
            ),
        );
    }
    match name {
        "tcplog" => {
            if enable {
                logging::tcplog_overrides(diags, p, st, "option tcplog");
            }
            if p.kind.has_frontend() {
                p.settings.tcplog = enable;
                p.settings.log_format = None;
            } else {
                diags.warn(
                    &st.origin,
                    format!(
                        "backend '{}' : 'option tcplog' directive is ignored in backends.",
                        p.name
                    ),
                );
            }
        }
        "dontlognull" if !p.kind.has_frontend() => p.ignored(diags, st, "dontlognull", true),
        "dontlognull" => p.settings.dontlognull = enable,
        "dontlog-normal" | "log-separate-errors" if !p.kind.has_frontend() => {
            p.ignored(diags, st, name, true)
        }
        "dontlog-normal" => p.settings.dontlog_normal = enable,
        "contstats" if !p.kind.has_frontend() => p.ignored(diags, st, name, true),
        // weir's byte counters always move as bytes move (what
        // `contstats` asks of HAProxy); `no option contstats` cannot stop
        // them, which only makes `show stat` more current.
        "contstats" => {}
        "log-separate-errors" => p.settings.log_separate_errors = enable,
        "tcp-check" | "httpchk" if !enable => diags.error(
            &st.origin,
            format!("negation/default is not supported for option '{name}'."),
        ),
        _ if protocol_check::NAMES.contains(&name) && !enable => diags.error(
            &st.origin,
            format!("negation/default is not supported for option '{name}'."),
        ),
        "tcp-check" if !p.kind.has_backend() => p.ignored(diags, st, "option tcp-check", false),
        "tcp-check" => {
            p.settings.tcp_check = true;
            p.settings.http.enabled = false;
            p.settings.protocol_check = None;
        }
        "log-health-checks" if !p.kind.has_backend() => {
            p.ignored(diags, st, "option log-health-checks", false)
        }
        "log-health-checks" => p.settings.log_health_checks = enable,
        "allbackups" if !p.kind.has_backend() => p.ignored(diags, st, "option allbackups", false),
        "allbackups" => p.settings.allbackups = enable,
        "redispatch" if !p.kind.has_backend() => p.ignored(diags, st, "option redispatch", false),
        "redispatch" => {
            // weir redispatches at once by default; only an explicit 0 or
            // `no option redispatch` keeps retries on the same server.
            let interval = match st.word(2) {
                "" => Ok(-1),
                n => n
                    .parse::<i32>()
                    .map_err(|_| format!("invalid redispatch interval '{n}'")),
            };
            match interval {
                Ok(n) => p.settings.no_redispatch = !enable || n == 0,
                Err(e) => diags.error(&st.origin, e),
            }
        }
        "connect-hedge" | "replay-until-response" if !p.kind.has_backend() => {
            p.ignored(diags, st, &format!("option {name}"), false)
        }
        "connect-hedge" | "replay-until-response" => {
            let slot = match name {
                "connect-hedge" => &mut p.settings.connect_hedge,
                _ => &mut p.settings.replay_until_response,
            };
            if !enable {
                *slot = None;
            } else {
                match time(st.word(2), &format!("option {name}")) {
                    Ok(t) if !t.is_zero() => {
                        if let Some(warning) = time_warning(st.word(2)) {
                            diags.warn(&st.origin, warning);
                        }
                        *slot = Some(t);
                    }
                    Ok(_) | Err(_) => diags.error(
                        &st.origin,
                        format!(
                            "'option {name}' (a weir extension) expects a delay greater \
                             than 0 such as 300ms, got '{}'",
                            st.word(2)
                        ),
                    ),
                }
            }
        }
        "clitcpka" if !p.kind.has_frontend() => p.ignored(diags, st, "option clitcpka", true),
        "clitcpka" => p.settings.clitcpka = enable,
        "srvtcpka" if !p.kind.has_backend() => p.ignored(diags, st, "option srvtcpka", false),
        "srvtcpka" => p.settings.srvtcpka = enable,
        "tcpka" => {
            p.settings.clitcpka = enable;
            p.settings.srvtcpka = enable;
        }
        "nolinger" => p.settings.nolinger = enable,
        "httplog" => p.settings.httplog = enable.then(|| st.origin.clone()),
        "forwardfor" => p.settings.forwardfor = enable.then(|| st.origin.clone()),
        "originalto" => {
            if originalto::check(diags, st, enable) {
                p.settings.originalto = Some(st.origin.clone());
            }
        }
        "httpchk" if !p.kind.has_backend() => p.ignored(diags, st, "option httpchk", false),
        "httpchk" => match p
            .settings
            .http
            .option(p.section, &st.origin, &st.words[2..])
        {
            Ok(warning) => {
                if let Some(warning) = warning {
                    diags.warn(&st.origin, warning);
                }
                p.settings.tcp_check = false;
                p.settings.protocol_check = None;
            }
            Err(e) => diags.error(&st.origin, e),
        },
        _ if protocol_check::NAMES.contains(&name) => protocol_check::option(diags, p, st),
        _ if compat::is_option(name) => compat::option(diags, p, st, enable),
        _ if traffic::is_option(name) => traffic::option(diags, p, st, enable),
        _ if OPTIONS_LATER.contains(&name) => not_yet(diags, st, &format!("option {name}")),
        _ => {
            let known = OPTIONS_LATER.iter().chain(OPTIONS).copied();
            let known = known.chain(traffic::OPTIONS.iter().copied());
            let hint = hint(name, known.chain(compat::option_names()));
            diags.error(&st.origin, format!("unknown option '{name}'{hint}"));
        }
    }
}

fn timeout(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    let which = st.word(1);
    let keyword = format!("timeout {which}");
    let (slot, needs_frontend) = match which {
        "connect" => (&mut p.settings.timeout_connect, false),
        "server" => (&mut p.settings.timeout_server, false),
        "check" => (&mut p.settings.timeout_check, false),
        "queue" => (&mut p.settings.timeout_queue, false),
        "tunnel" => (&mut p.settings.timeout_tunnel, false),
        "server-fin" => (&mut p.settings.timeout_server_fin, false),
        "client" => (&mut p.settings.timeout_client, true),
        "client-fin" => (&mut p.settings.timeout_client_fin, true),
        "http-request" => (&mut p.settings.timeout_http_request, true),
        "http-keep-alive" => (&mut p.settings.timeout_http_keep_alive, true),
        _ if TIMEOUTS_LATER.contains(&which) => return not_yet(diags, st, &keyword),
        _ => {
            let known = [
                "connect",
                "client",
                "server",
                "check",
                "queue",
                "tunnel",
                "client-fin",
                "server-fin",
                "http-request",
                "http-keep-alive",
            ];
            let hint = hint(which, known);
            return diags.error(&st.origin, format!("unknown timeout '{which}'{hint}"));
        }
    };
    if st.words.len() != 3 {
        return diags.error(
            &st.origin,
            format!("'{keyword}' expects one time value, such as 30s or 5m"),
        );
    }
    let value = match time(st.word(2), &keyword) {
        Ok(value) => value,
        Err(e) => return diags.error(&st.origin, e),
    };
    if let Some(warning) = time_warning(st.word(2)) {
        diags.warn(&st.origin, warning);
    }
    let applies = if needs_frontend {
        p.kind.has_frontend()
    } else {
        p.kind.has_backend()
    };
    if applies {
        *slot = (!value.is_zero()).then_some(value);
    } else {
        p.ignored(diags, st, &keyword, needs_frontend);
    }
}

/// `default-server`: its parameters, checked on a server of their own,
/// go before those of each later `server` line of the section (and of the
/// sections a `defaults` passes them to), so a server's own win.
fn default_server(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>, resolve: Resolve<'_>) {
    if !p.kind.has_backend() {
        return p.ignored(diags, st, "default-server", false);
    }
    if st.words[1..].iter().any(|w| w == "id") {
        return diags.error(
            &st.origin,
            "'id' option is not accepted in default-server sections",
        );
    }
    let mut probe = vec![
        "server".to_owned(),
        "default-server".to_owned(),
        "127.0.0.1:1".to_owned(),
    ];
    probe.extend(st.words[1..].iter().cloned());
    let line = Stmt {
        origin: st.origin.clone(),
        words: &probe,
    };
    let errors = diags.errors.len();
    let defaults = &p.settings.default_server;
    server_line(diags, p.name, &HashMap::new(), defaults, &line, resolve);
    if diags.errors.len() == errors {
        p.settings
            .default_server
            .extend(st.words[1..].iter().cloned());
    }
}

fn bind_line(diags: &mut Diags, binds: &mut Vec<Bind>, st: &Stmt<'_>) {
    if st.words.len() < 2 {
        return diags.error(&st.origin, "'bind' expects an address such as *:9091");
    }
    let mut accept_proxy = false;
    let mut options = BindOptions::default();
    let mut words = st.words[2..].iter().map(String::as_str);
    while let Some(option) = words.next() {
        if option == "accept-proxy" {
            accept_proxy = true;
            continue;
        }
        let message =
            match bind_options::option(&mut options, option, || words.next().unwrap_or("")) {
                Some(Ok(())) => continue,
                Some(Err(e)) => format!("'bind {}' : {e}", st.word(1)),
                None if BIND_TLS.contains(&option) => format!(
                    "bind option '{option}' is not supported: weir terminates no TLS, it passes \
                     the clients' TLS to the servers untouched (remove 'ssl' and the \
                     certificate options; weir checks servers with 'check-ssl')"
                ),
                None if BIND_LATER.contains(&option) => {
                    format!("bind option '{option}' is not supported yet")
                }
                None => {
                    let known = BIND_LATER.iter().chain(&["accept-proxy"]);
                    let hint = hint(option, known.chain(bind_options::BIND).copied());
                    format!("'bind {}': unknown keyword '{option}'{hint}", st.word(1))
                }
            };
        return diags.error(&st.origin, message);
    }
    for spec in st.word(1).split(',') {
        match bind_addresses(spec) {
            Ok(addrs) => binds.extend(addrs.into_iter().map(|addr| Bind {
                addr,
                accept_proxy,
                options: options.clone(),
                origin: st.origin.clone(),
            })),
            Err(e) => diags.error(&st.origin, format!("'bind {spec}': {e}")),
        }
    }
}

/// The addresses of one bind spec (a port range gives several).
pub(super) fn bind_addresses(spec: &str) -> Result<Vec<SocketAddr>, String> {
    let (family, rest) = strip_family(spec)?;
    let (host, ports) = split_host_port(rest).ok_or("missing port")?;
    let ip = match host {
        "" | "*" => match family {
            Some(6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
        literal => literal.parse::<IpAddr>().map_err(|_| {
            format!("invalid address '{literal}': host names are not supported on bind")
        })?,
    };
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if first > last {
        return Err(format!("invalid port range '{ports}'"));
    }
    Ok((first..=last).map(|p| SocketAddr::new(ip, p)).collect())
}

/// Strips `ipv4@`/`ipv6@`/`ip@`/`tcp@`... prefixes; other prefixes are not
/// supported yet.
fn strip_family(spec: &str) -> Result<(Option<u8>, &str), String> {
    let Some((prefix, rest)) = spec.split_once('@') else {
        return Ok((None, spec));
    };
    match prefix {
        "ipv4" | "tcp4" => Ok((Some(4), rest)),
        "ipv6" | "tcp6" => Ok((Some(6), rest)),
        "ip" | "tcp" => Ok((None, rest)),
        other => Err(format!("address prefix '{other}@' is not supported yet")),
    }
}

/// Splits `host:port` on the last colon, or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    s.rsplit_once(':')
}

/// The address of a server's `addr`: an IP, with an optional port that
/// HAProxy ignores there (`port` sets the check port).
fn check_ip(s: &str) -> Result<IpAddr, String> {
    let ip = match s.parse::<SocketAddr>() {
        Ok(a) => Ok(a.ip()),
        Err(_) => s.trim_start_matches('[').trim_end_matches(']').parse(),
    };
    ip.map_err(|_| format!("'addr' : unknown host in '{s}'"))
}

fn port(s: &str) -> Result<u16, String> {
    match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("invalid port '{s}'")),
    }
}

fn server_line(
    diags: &mut Diags,
    backend: &str,
    lines: &HashMap<String, u32>,
    defaults: &[String],
    st: &Stmt<'_>,
    resolve: Resolve<'_>,
) -> Option<Server> {
    let (name, addr) = (st.word(1), st.word(2));
    if st.words.len() < 3 {
        diags.error(
            &st.origin,
            "'server' expects: server <name> <address>:<port> [params]",
        );
        return None;
    }
    if let Some(line) = lines.get(name) {
        diags.error(
            &st.origin,
            format!(
                "backend '{backend}', another server named '{name}' was already defined at \
                 line {line}, please use distinct names."
            ),
        );
        return None;
    }
    let target = match server_address(addr) {
        Ok(target) => target,
        Err(ServerAddrError::NoPort) => {
            diags.error(
                &st.origin,
                format!("server '{name}' needs a port: port-less servers are not supported yet"),
            );
            return None;
        }
        Err(ServerAddrError::Invalid(e)) => {
            diags.error(&st.origin, format!("'server {backend}/{name}' : {e}"));
            return None;
        }
    };
    let mut server = Server {
        name: name.to_owned(),
        id: None,
        addr: SocketAddr::new(
            target.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            target.2,
        ),
        check: false,
        inter: Duration::from_secs(2),
        rise: 2,
        fall: 3,
        weight: 1,
        fastinter: None,
        downinter: None,
        check_port: None,
        check_ip: None,
        check_tls: None,
        rule_tls: None,
        check_alpn: None,
        check_proto_http: None,
        tls: None,
        observe: false,
        error_limit: 10,
        on_error: OnError::FailCheck,
        shutdown_on_down: false,
        backup: false,
        shutdown_backups_on_up: false,
        disabled: false,
        maxconn: 0,
        minconn: 0,
        maxqueue: 0,
        slowstart: None,
        send_proxy: None,
        check_send_proxy: None,
        agent: None,
        host: None,
        source: None,
        origin: st.origin.clone(),
    };
    let params: Vec<&str> = defaults
        .iter()
        .chain(&st.words[3..])
        .map(String::as_str)
        .collect();
    let mut words = params.iter().copied();
    let mut ok = true;
    if params.contains(&"observe") && !params.contains(&"check") {
        diags.error(
            &st.origin,
            format!(
                "server '{name}': 'observe' needs 'check' too, or a server marked DOWN by \
                 observed errors would never come back"
            ),
        );
        ok = false;
    }
    let mut tls = (None, CheckTls::default(), None);
    let mut send_proxy = proxy_protocol::SendProxy::default();
    let mut agent = agent::Agent::default();
    let mut dns = resolvers::DnsParams::default();
    let mut source = source::ServerSource::default();
    while let Some(param) = words.next() {
        const TIMES: &[&str] = &[
            "inter",
            "fastinter",
            "downinter",
            "slowstart",
            "agent-inter",
        ];
        // A `default-server` time warns once, on its own line.
        let own = params.len() - words.len() > defaults.len();
        let time_value = (own && TIMES.contains(&param))
            .then(|| words.clone().next())
            .flatten();
        if let Some(warning) = time_value.and_then(time_warning) {
            diags.warn(&st.origin, warning);
        }
        if param == "id" {
            match server_id(words.next().unwrap_or("")) {
                Ok(id) => server.id = Some(id),
                Err(e) => {
                    diags.error(
                        &st.origin,
                        format!("'server {backend}/{name}' : 'id' : {e}."),
                    );
                    ok = false;
                }
            }
            continue;
        }
        // A `default-server`'s `source` does not take the server's words.
        let keep = if own { 0 } else { st.words.len() - 3 };
        let found = source.param(param, &mut words, keep, &mut *resolve);
        let result = match found.or_else(|| send_proxy.param(param, || words.next().unwrap_or("")))
        {
            Some(result) => result,
            None => match agent.param(name, param, || words.next().unwrap_or("")) {
                Some(result) => result,
                None => match dns.param(param, || words.next().unwrap_or("")) {
                    Some(result) => result,
                    None => {
                        let value = || words.next().unwrap_or("");
                        let mut warn = |w| diags.warn(&st.origin, w);
                        match server_tls::param(&mut tls.1, param, value, &mut warn) {
                            Some(result) => result,
                            None => server_param(&mut server, &mut tls, param, &mut words),
                        }
                    }
                },
            },
        };
        if let Err(e) = result {
            diags.error(&st.origin, e);
            // HAProxy stops reading the line at its first error.
            return None;
        }
    }
    if let Some(warning) = source.apply(backend, &mut server) {
        diags.warn(&st.origin, warning);
    }
    if let Err(e) = send_proxy.apply(&mut server) {
        diags.error(&st.origin, e);
        ok = false;
    }
    if let (None, Some(hostname)) = (target.0, &target.1) {
        let mut warning = None;
        let result = dns.host(hostname, resolve, &mut warning);
        if let Some(warning) = warning {
            diags.warn(&st.origin, format!("'server {backend}/{name}' : {warning}"));
        }
        match result {
            Ok((host, ip)) => {
                if let Some(ip) = ip {
                    server.addr.set_ip(ip);
                }
                server.host = Some(host);
            }
            Err(e) => {
                diags.error(&st.origin, format!("'server {backend}/{name}' : {e}"));
                return None;
            }
        }
    }
    if let Err(e) = agent.apply(&mut server) {
        diags.error(&st.origin, e);
        ok = false;
    }
    // As HAProxy: `minconn` alone is a fixed limit, `maxconn` alone too.
    if server.minconn > server.maxconn {
        server.maxconn = server.minconn;
    } else if server.minconn == 0 {
        server.minconn = server.maxconn;
    }
    // `ssl` brings TLS to checks too, unless they go to another port or
    // `no-check-ssl` keeps them in clear (HAProxy's init_srv_check).
    let ssl_checks = server.tls.is_some() && server.check_port.is_none();
    server.check_tls = tls.0.unwrap_or(ssl_checks).then(|| tls.1.clone());
    // `alpn` is for traffic: checks speak HTTP/1 whatever the server says,
    // unless `check-alpn` or a `connect alpn` rule says otherwise.
    server.check_tls = server.check_tls.take().map(|t| CheckTls {
        alpn: Vec::new(),
        ..t
    });
    // Kept for `connect ssl` rules; dropped when the backend has none.
    server.rule_tls = Some(CheckTls {
        alpn: Vec::new(),
        ..tls.1.clone()
    });
    server.tls = server.tls.take().map(|_| CheckTls {
        sni: tls.2,
        ..tls.1
    });
    ok.then_some(server)
}

/// The value of a server's `id`, as HAProxy's `srv_parse_id`.
fn server_id(value: &str) -> Result<u32, &'static str> {
    if value.is_empty() {
        return Err("expects an integer argument");
    }
    match u32::try_from(proxy_meta::atol(value)) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err("custom id has to be > 0"),
    }
}

/// Parses one server parameter; TLS ones go to `tls`: whether checks use
/// TLS (`check-ssl`, `no-check-ssl`, or unset), and how.
fn server_param<'w>(
    server: &mut Server,
    tls: &mut (Option<bool>, CheckTls, Option<String>),
    param: &str,
    words: &mut impl Iterator<Item = &'w str>,
) -> Result<(), String> {
    let mut value = || words.next().unwrap_or("");
    match param {
        "check" => server.check = true,
        "disabled" => server.disabled = true,
        "enabled" => server.disabled = false,
        "inter" => {
            let t = time(value(), "inter")?;
            if t.is_zero() {
                return Err("invalid value 0 for argument 'inter'".into());
            }
            server.inter = t;
        }
        "rise" => {
            server.rise = number(value(), "rise", 1..=1_000_000)
                .map_err(|_| "'rise' has to be > 0".to_owned())? as u32;
        }
        "fall" => {
            server.fall = number(value(), "fall", 1..=1_000_000)
                .map_err(|_| "'fall' has to be > 0".to_owned())? as u32;
        }
        "maxconn" | "minconn" | "maxqueue" => {
            let n = number(value(), param, 0..=u64::from(u32::MAX))? as u32;
            *match param {
                "maxconn" => &mut server.maxconn,
                "minconn" => &mut server.minconn,
                _ => &mut server.maxqueue,
            } = n;
        }
        "slowstart" => {
            let t = time(value(), "slowstart")?;
            server.slowstart = (!t.is_zero()).then_some(t);
        }
        "weight" => {
            let w = value();
            server.weight = number(w, "weight", 0..=256).map_err(|_| {
                format!(
                    "weight of server {} is not within 0 and 256 ({w})",
                    server.name
                )
            })? as u32;
        }
        // HAProxy checks on the server's port when `port` is 0.
        "addr" => server.check_ip = Some(check_ip(value())?),
        "no-check" => server.check = false,
        "port" => {
            server.check_port = match value() {
                "0" => None,
                v => Some(port(v)?),
            }
        }
        "observe" => match value() {
            "layer4" => server.observe = true,
            "layer7" => return Err("'layer7' can only be used in http proxies".into()),
            other => return Err(format!("'observe' expects 'layer4', got '{other}'")),
        },
        "error-limit" => {
            server.error_limit = number(value(), "error-limit", 1..=1_000_000)? as u32;
        }
        "on-error" => {
            server.on_error = match value() {
                "fastinter" => OnError::Fastinter,
                "fail-check" => OnError::FailCheck,
                "sudden-death" => OnError::SuddenDeath,
                "mark-down" => OnError::MarkDown,
                other => {
                    return Err(format!(
                        "'on-error' expects fastinter, fail-check, sudden-death or mark-down, \
                         got '{other}'"
                    ));
                }
            }
        }
        "backup" => server.backup = true,
        "no-backup" => server.backup = false,
        "on-marked-up" => match value() {
            "shutdown-backup-sessions" => server.shutdown_backups_on_up = true,
            other => {
                return Err(format!(
                    "'on-marked-up' expects 'shutdown-backup-sessions', got '{other}'"
                ));
            }
        },
        "on-marked-down" => match value() {
            "shutdown-sessions" => server.shutdown_on_down = true,
            other => {
                return Err(format!(
                    "'on-marked-down' expects 'shutdown-sessions', got '{other}'"
                ));
            }
        },
        "check-ssl" => tls.0 = Some(true),
        "ssl" => server.tls = Some(CheckTls::default()),
        "no-ssl" => server.tls = None,
        "no-check-ssl" => tls.0 = Some(false),
        "sni" => {
            let expr = value();
            let name = expr
                .strip_prefix("str(")
                .and_then(|rest| rest.strip_suffix(')'))
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    format!("'sni {expr}': only literal names, as str(<name>), are supported yet")
                })?;
            tls.2 = Some(name.to_owned());
        }
        "no-verifyhost" => tls.1.verify_host = None,
        "verify" | "ca-file" | "check-sni" | "crt" | "verifyhost" => {
            let v = value();
            if v.is_empty() {
                return Err(format!("'{param}' expects an argument"));
            }
            let tls = &mut tls.1;
            match param {
                "verify" => {
                    tls.verify = Some(match v {
                        "required" => true,
                        "none" => false,
                        _ => {
                            return Err(format!(
                                "'verify' expects 'none' or 'required', got '{v}'"
                            ));
                        }
                    })
                }
                "ca-file" => tls.ca_file = Some(v.to_owned()),
                "crt" => tls.crt_file = Some(v.to_owned()),
                "verifyhost" => tls.verify_host = Some(v.to_owned()),
                _ => tls.sni = Some(v.to_owned()),
            }
        }
        "check-alpn" | "check-proto" => checks::server_param(server, param, value())?,
        "fastinter" | "downinter" => {
            let t = time(value(), param)?;
            if t.is_zero() {
                return Err(format!("invalid value 0 for argument '{param}'"));
            }
            if param == "fastinter" {
                server.fastinter = Some(t);
            } else {
                server.downinter = Some(t);
            }
        }
        _ if SERVER_LATER.contains(&param) => {
            if !SERVER_LATER_FLAGS.contains(&param) {
                value(); // its argument
            }
            return Err(format!("'{param}' is not supported yet"));
        }
        _ => {
            let known = SERVER_KEYWORDS
                .iter()
                .chain(proxy_protocol::SERVER)
                .chain(server_tls::SERVER)
                .chain(agent::SERVER)
                .chain(resolvers::SERVER)
                .chain(source::SERVER);
            let hint = hint(param, known.chain(SERVER_LATER).copied());
            return Err(format!("unknown keyword '{param}' in server line{hint}"));
        }
    }
    Ok(())
}

enum ServerAddrError {
    NoPort,
    Invalid(String),
}

/// A server's address: its IP, or its host name, and its port.
type Target = (Option<IpAddr>, Option<String>, u16);

fn server_address(spec: &str) -> Result<Target, ServerAddrError> {
    let (_, rest) = strip_family(spec).map_err(ServerAddrError::Invalid)?;
    if rest.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        // A bare IP address, IPv6 included: no port.
        return Err(ServerAddrError::NoPort);
    }
    let (host, port_text) = split_host_port(rest).ok_or(ServerAddrError::NoPort)?;
    if port_text.is_empty() {
        return Err(ServerAddrError::NoPort);
    }
    if port_text.starts_with(['+', '-']) {
        return Err(ServerAddrError::Invalid(format!(
            "port offsets such as '{port_text}' are not supported yet"
        )));
    }
    let port = port(port_text).map_err(ServerAddrError::Invalid)?;
    Ok(match host.parse::<IpAddr>() {
        Ok(ip) => (Some(ip), None, port),
        Err(_) => (None, Some(host.to_owned()), port),
    })
}

impl Parser {
    /// Builds the typed config, resolves references, validates, warns.
    fn finish(mut self) -> Result<Parsed, Vec<Diagnostic>> {
        self.close_section();
        for proxy in &self.proxies {
            for server in &proxy.servers.list {
                if let Some(host) = &server.host {
                    // HAProxy's `proxy_type_str`: a `listen` is a "proxy".
                    let kind = match proxy.kind {
                        Kind::Listen => "proxy",
                        other => other.word(),
                    };
                    let who = (kind, proxy.name.as_str());
                    let known = &self.resolvers;
                    let (name, origin) = (&server.name, &server.origin);
                    resolvers::check_references(&mut self.diags, known, who, name, host, origin);
                }
            }
        }
        self.global.resolvers = std::mem::take(&mut self.resolvers);
        let global_tag = logging::global_targets(&mut self.global, self.global_log_tag.as_deref());
        let global_logs = self.global.logs.clone();
        let expand =
            |s: &Settings| -> Vec<LogTarget> { logging::targets(s, &global_logs, &global_tag) };
        let mut backends: Vec<Backend> = Vec::new();
        // The first backend of each name, for `default_backend`.
        let mut backend_index: HashMap<&str, usize> = HashMap::new();
        let id_proxies: Vec<proxy_meta::IdProxy<'_>> = (self.proxies.iter())
            .map(|p| proxy_meta::IdProxy {
                kind: p.kind,
                name: &p.name,
                origin: &p.origin,
                id: p.settings.meta.id.as_ref(),
            })
            .collect();
        let iids = proxy_meta::proxy_ids(&id_proxies);
        // Each `listen`'s own backend (another backend may have its name).
        let mut own_backend: HashMap<usize, usize> = HashMap::new();
        for (pi, (proxy, &iid)) in self.proxies.iter().zip(&iids).enumerate() {
            if let Some(mode) = &proxy.settings.mode_http {
                match http_mode_error(proxy, mode) {
                    // Built anyway, so that references to it resolve.
                    Some((origin, e)) => self.diags.error(&origin, e),
                    // A `listen` serving pages has no backend.
                    None => continue,
                }
            }
            if proxy.kind.has_backend() {
                let s = &proxy.settings;
                let check = checks::health_check(s);
                let servers = &proxy.servers.list;
                for (origin, e) in checks::check_proto_errors(&check, &proxy.name, servers) {
                    self.diags.error(&origin, e);
                }
                backend_index
                    .entry(proxy.name.as_str())
                    .or_insert(backends.len());
                let disabled = s.meta.disabled;
                own_backend.insert(pi, backends.len());
                backends.push(Backend {
                    name: proxy.name.clone(),
                    iid,
                    description: s.meta.description.clone(),
                    listen: proxy.kind == Kind::Listen,
                    disabled,
                    balance: s.balance.unwrap_or(Balance::RoundRobin),
                    hash_type: s.hash_type,
                    hash_balance_factor: (s.hash_balance_factor != 0)
                        .then_some(s.hash_balance_factor),
                    timeout_connect: s.timeout_connect.or(Some(DEFAULT_CONNECT)),
                    timeout_server: s.timeout_server,
                    timeout_tunnel: s.timeout_tunnel,
                    timeout_server_fin: s.timeout_server_fin,
                    tcpka: s.srvtcpka,
                    nolinger: s.nolinger,
                    timeout_check: s.timeout_check,
                    timeout_queue: s.timeout_queue,
                    logs: expand(s),
                    servers: if disabled {
                        Vec::new()
                    } else {
                        checks::rule_tls_kept(&check, &proxy.servers.list)
                    },
                    health_check: check,
                    log_health_checks: s.log_health_checks,
                    allbackups: s.allbackups,
                    retries: s.retries.unwrap_or(3),
                    redispatch: !s.no_redispatch,
                    fullconn: s.fullconn.unwrap_or(0),
                    fullconn_auto: s.fullconn.is_none(),
                    connect_hedge: s.connect_hedge,
                    replay_until_response: s.replay_until_response,
                    traffic: traffic::backend(&s.traffic),
                    source: source::proxy_source(&s.source),
                    load_server_state: if disabled {
                        super::ServerStateLoad::None
                    } else {
                        server_state::resolve(&mut self.diags, &self.global, proxy)
                    },
                    origin: proxy.origin.clone(),
                });
                if let Some(backend) = backends.last_mut() {
                    source::inherit(backend);
                }
            }
        }
        let mut frontends = Vec::new();
        for (pi, (proxy, &iid)) in self.proxies.iter().zip(&iids).enumerate() {
            // HAProxy checks nothing more of a disabled proxy: it is not
            // started.
            if proxy.settings.meta.disabled {
                continue;
            }
            if let Some(warning) = missing_timeouts(proxy) {
                self.diags.warn(&proxy.origin, warning);
            }
            let s = &proxy.settings;
            if !s.tcp_check && proxy.kind.has_backend() {
                if let Some((_, origin)) = s.tcp_rules.first() {
                    self.diags.warn(
                        origin,
                        format!(
                            "{} '{}' uses tcp-check rules without 'option tcp-check', so the \
                             rules are ignored.",
                            proxy.kind.word(),
                            proxy.name
                        ),
                    );
                }
            }
            if !s.http.enabled && proxy.kind.has_backend() {
                if let Some(origin) = s.http.first_rule() {
                    self.diags.warn(
                        origin,
                        format!(
                            "{} '{}' uses http-check rules without 'option httpchk', so the \
                             rules are ignored.",
                            proxy.kind.word(),
                            proxy.name
                        ),
                    );
                }
            }
            if !proxy.kind.has_frontend() {
                tcp_ignores(&mut self.diags, proxy);
                continue;
            }
            let service = http_service(&mut self.diags, proxy);
            let s = &proxy.settings;
            let logs = expand(s);
            // `option httplog` falls back to `option tcplog` in TCP mode.
            let tcplog = s.tcplog || (service.is_none() && s.httplog.is_some());
            if tcplog && logs.is_empty() {
                self.diags.warn(
                    &proxy.origin,
                    format!(
                        "log format ignored for {} '{}' since it has no log address.",
                        proxy_word(proxy.kind),
                        proxy.name
                    ),
                );
            }
            for (name, origin) in &s.switching.unused {
                if !backend_index.contains_key(name.as_str()) {
                    self.diags.error(
                        origin,
                        format!(
                            "Proxy '{}': unable to find required use_backend: '{name}'.",
                            proxy.name
                        ),
                    );
                }
            }
            let chosen = s.switching.chosen.as_ref().map(|r| (r, "use_backend"));
            let default_backend =
                match chosen.or(s.default_backend.as_ref().map(|r| (r, "default_backend"))) {
                    _ if service.is_some() => None,
                    Some(((name, origin), keyword)) => {
                        let found = backend_index.get(name.as_str()).copied();
                        if found.is_none() {
                            self.diags.error(
                                origin,
                                format!(
                                    "Proxy '{}': unable to find required {keyword}: '{name}'.",
                                    proxy.name
                                ),
                            );
                        }
                        found
                    }
                    None if proxy.kind == Kind::Listen => own_backend.get(&pi).copied(),
                    None => {
                        self.diags.warn(
                            &proxy.origin,
                            format!(
                                "frontend '{}' has no 'default_backend': its connections will be \
                             closed at once",
                                proxy.name
                            ),
                        );
                        None
                    }
                };
            if proxy.binds.is_empty() {
                self.diags.warn(
                    &proxy.origin,
                    format!("{} '{}' has no 'bind' line", proxy.kind.word(), proxy.name),
                );
            }
            frontends.push(Frontend {
                name: proxy.name.clone(),
                iid,
                description: s.meta.description.clone(),
                binds: (proxy.binds.iter())
                    .map(|b| {
                        let mut b = b.clone();
                        b.options.backlog = b.options.backlog.or(s.backlog);
                        b
                    })
                    .collect(),
                default_backend,
                maxconn: s.maxconn,
                timeout_client: s.timeout_client,
                timeout_client_fin: s.timeout_client_fin,
                tcpka: s.clitcpka,
                nolinger: s.nolinger,
                tcplog: s.tcplog || (service.is_none() && s.httplog.is_some()),
                logs,
                service,
                log_format: logging::line_format(s),
                dontlognull: s.dontlognull,
                dontlog_normal: s.dontlog_normal,
                log_separate_errors: s.log_separate_errors,
                traffic: traffic::frontend(&s.traffic),
                origin: proxy.origin.clone(),
            });
        }
        default_fullconn(&mut backends, &frontends, self.global.maxconn);
        tls_global::apply(&mut self.diags, &self.tls_global, &mut backends);
        self.check_tls_verification(&backends);
        for backend in &backends {
            for server in backend.servers.iter().filter(|s| s.tls.is_some()) {
                self.diags.warn(
                    &server.origin,
                    format!(
                        "note: server '{}/{}' uses 'ssl': weir opens TLS to it and carries the \
                         clients' bytes inside it, so clients must speak plain TCP to weir (no \
                         weir listener terminates TLS). If clients speak TLS to the server \
                         through weir, that TLS gets wrapped in TLS: for pass-through use \
                         'check-ssl' instead of 'ssl'.",
                        backend.name, server.name
                    ),
                );
            }
        }
        self.check_overlapping_binds(&frontends);
        if self.diags.errors.is_empty()
            && frontends.iter().all(|f| f.binds.is_empty())
            && self.global.runtime_api.sockets.is_empty()
        {
            self.diags.errors.push(Diagnostic {
                origin: None,
                message: self.no_listener(),
            });
        }
        if !self.diags.errors.is_empty() {
            return Err(self.diags.errors);
        }
        Ok(Parsed {
            config: Config {
                global: self.global,
                frontends,
                backends,
            },
            warnings: self.diags.warnings,
            notices: self.notices,
        })
    }
}

impl Parser {
    /// The error for a configuration without a listening address, naming
    /// the files (HAProxy: "no listener").
    fn no_listener(&self) -> String {
        let files: Vec<&str> = self.files.iter().map(|f| &**f).collect();
        let files = files.join(", ");
        if self.statements == 0 {
            let hold = if self.files.len() == 1 {
                "holds"
            } else {
                "hold"
            };
            format!(
                "no listener: {files} {hold} no statement (empty, or only comments); weir \
                 needs a 'frontend' or 'listen' section with a 'bind' line, or a 'stats socket'"
            )
        } else {
            format!(
                "no listener: no 'frontend' or 'listen' section with a 'bind' line, and no \
                 'stats socket', in {files}"
            )
        }
    }

    /// Refuses two listeners whose addresses overlap on one port, which
    /// Linux refuses to bind without `SO_REUSEPORT` (weir does not set it:
    /// HAProxy does, and then shares the connections between them). The
    /// overlap of `[::]` with IPv4 addresses depends on the host's
    /// `net.ipv6.bindv6only`, so it is a warning.
    fn check_overlapping_binds(&mut self, frontends: &[Frontend]) {
        let mut ports: HashMap<u16, PortUse<'_>> = HashMap::new();
        for frontend in frontends {
            for bind in &frontend.binds {
                let taken = ports.entry(bind.addr.port()).or_default();
                let user = (frontend.name.as_str(), bind);
                let (conflict, dual_stack) = taken.add(user);
                let what = |(name, other): BindUser<'_>| {
                    format!(
                        "frontend '{name}' already listens on {} ({})",
                        other.addr, other.origin
                    )
                };
                if let Some(other) = conflict {
                    self.diags.error(
                        &bind.origin,
                        format!(
                            "frontend '{}': cannot listen on {}: {}; one address and port \
                             takes one 'bind' line",
                            frontend.name,
                            bind.addr,
                            what(other)
                        ),
                    );
                } else if let Some(other) = dual_stack {
                    self.diags.warn(
                        &bind.origin,
                        format!(
                            "frontend '{}': listening on {} while {}: [::] takes IPv4 \
                             connections too unless net.ipv6.bindv6only=1, and then starting \
                             fails with 'Address already in use'",
                            frontend.name,
                            bind.addr,
                            what(other)
                        ),
                    );
                }
            }
        }
    }
}

/// A frontend's name and one of its binds.
type BindUser<'a> = (&'a str, &'a Bind);

/// The binds of one port so far, for [`Parser::check_overlapping_binds`]:
/// the first of each address, the first IPv4 and IPv6 ones, and the
/// wildcards.
#[derive(Default)]
struct PortUse<'a> {
    exact: HashMap<IpAddr, BindUser<'a>>,
    any_v4: Option<BindUser<'a>>,
    any_v6: Option<BindUser<'a>>,
    wild_v4: Option<BindUser<'a>>,
    wild_v6: Option<BindUser<'a>>,
}

impl<'a> PortUse<'a> {
    /// Adds a bind; returns the first earlier bind it certainly overlaps,
    /// and one it overlaps on a dual-stack host (`[::]` and IPv4).
    fn add(&mut self, user: BindUser<'a>) -> (Option<BindUser<'a>>, Option<BindUser<'a>>) {
        // An IPv4-mapped IPv6 address is its IPv4 address to the kernel.
        let ip = user.1.addr.ip().to_canonical();
        let v4 = ip.is_ipv4();
        let conflict = match (v4, ip.is_unspecified()) {
            (true, true) => self.any_v4,
            (false, true) => self.any_v6,
            (true, false) => self.exact.get(&ip).copied().or(self.wild_v4),
            (false, false) => self.exact.get(&ip).copied().or(self.wild_v6),
        };
        let dual_stack = match (v4, ip.is_unspecified()) {
            (true, _) => self.wild_v6,
            (false, true) => self.any_v4,
            (false, false) => None,
        };
        self.exact.entry(ip).or_insert(user);
        let (any, wild) = if v4 {
            (&mut self.any_v4, &mut self.wild_v4)
        } else {
            (&mut self.any_v6, &mut self.wild_v6)
        };
        any.get_or_insert(user);
        if ip.is_unspecified() {
            wild.get_or_insert(user);
        }
        (conflict, dual_stack)
    }
}

/// HAProxy's default `fullconn`: 10% of the `maxconn` (else the global
/// one) of every frontend routing to the backend. When one of them has no
/// limit at all, weir uses the sum of the servers' `maxconn`: the dynamic
/// limits then reach `maxconn` when every server is full.
pub(super) fn default_fullconn(
    backends: &mut [Backend],
    frontends: &[Frontend],
    global: Option<u32>,
) {
    /// The limits of the frontends routing to one backend, summed.
    #[derive(Clone, Copy)]
    enum Routed {
        Nobody,
        Limited(u64),
        Unlimited,
    }
    let mut routed = vec![Routed::Nobody; backends.len()];
    for f in frontends {
        if let Some(sum) = f.default_backend.and_then(|b| routed.get_mut(b)) {
            *sum = match (*sum, f.maxconn.or(global)) {
                (Routed::Nobody, Some(limit)) => Routed::Limited(u64::from(limit)),
                (Routed::Limited(sum), Some(limit)) => Routed::Limited(sum + u64::from(limit)),
                _ => Routed::Unlimited,
            };
        }
    }
    for (backend, routed) in backends.iter_mut().zip(routed) {
        if backend.fullconn != 0 {
            continue;
        }
        let sum = match routed {
            Routed::Limited(sum) => sum.div_ceil(10),
            // HAProxy: nobody routes here, 10% of nothing, at least 1.
            Routed::Nobody => 1,
            Routed::Unlimited => backend.servers.iter().map(|s| u64::from(s.maxconn)).sum(),
        };
        backend.fullconn = sum.clamp(1, u64::from(u32::MAX)) as u32;
    }
}

impl Parser {
    /// HAProxy refuses TLS checks that would verify certificates against
    /// nothing.
    fn check_tls_verification(&mut self, backends: &[Backend]) {
        let verify_default = !self.global.ssl_server_verify_none;
        for backend in backends {
            for server in &backend.servers {
                let tls = [&server.check_tls, &server.tls, &server.rule_tls];
                let Some(tls) = tls.into_iter().flatten().next() else {
                    continue;
                };
                if tls.verify.unwrap_or(verify_default) && tls.ca_file.is_none() {
                    self.diags.error(
                        &server.origin,
                        format!(
                            "'server {}/{}' : verify is enabled by default but no CA file \
                             specified. If you're running on a LAN where you're certain to \
                             trust the server's certificate, please set an explicit 'verify \
                             none' statement on the 'server' line, or use 'ssl-server-verify \
                             none' in the global section to disable server-side verifications \
                             by default.",
                            backend.name, server.name
                        ),
                    );
                }
            }
        }
    }
}

/// The words HAProxy uses for a proxy in messages (`proxy_type_str`).
fn proxy_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Listen => "proxy",
        kind => kind.word(),
    }
}

/// Why a proxy in `mode http` cannot run in weir, if it cannot (weir
/// serves its metrics and stats page in `mode http`, and proxies no
/// HTTP), with the line to blame: the `mode http` line when it is in the
/// proxy's section, else the proxy's first line.
fn http_mode_error(proxy: &Proxy, mode: &Origin) -> Option<(Origin, String)> {
    let s = &proxy.settings;
    let what = match proxy.kind {
        Kind::Backend => "servers to proxy to",
        _ if !proxy.servers.list.is_empty() => "servers",
        _ if s.switching.chosen.is_some() && proxy.kind == Kind::Frontend => "a 'use_backend'",
        _ if s.default_backend.is_some() && proxy.kind == Kind::Frontend => "a 'default_backend'",
        _ if s.stats.is_none() && s.services.is_empty() => {
            "nothing to serve (weir serves 'stats enable' and 'http-request use-service \
             prometheus-exporter')"
        }
        _ => return None,
    };
    let own = mode.file == proxy.origin.file && mode.line > proxy.origin.line;
    let (origin, from) = if own {
        (mode.clone(), String::new())
    } else {
        (
            proxy.origin.clone(),
            format!(" (from the defaults at {mode})"),
        )
    };
    let message = format!(
        "{} '{}' is in 'mode http'{from} with {what}: weir is a layer-4 balancer: mode http is \
         accepted only for a stats/metrics frontend; set 'mode tcp' to proxy TCP",
        proxy_word(proxy.kind),
        proxy.name
    );
    Some((origin, message))
}

/// What a `mode http` frontend serves, or, for a TCP frontend,
/// HAProxy's warnings for the HTTP settings it ignores (`option
/// httplog` falls back to `option tcplog`, which the caller applies).
fn http_service(diags: &mut Diags, proxy: &Proxy) -> Option<HttpService> {
    let s = &proxy.settings;
    let (name, what) = (&proxy.name, proxy_word(proxy.kind));
    if s.mode_http.is_none() {
        if let Some(origin) = &s.httplog {
            diags.warn(
                origin,
                format!(
                    "'option httplog' not usable with {what} '{name}' (needs 'mode http'). \
                     Falling back to 'option tcplog'."
                ),
            );
        }
        tcp_ignores(diags, proxy);
        return None;
    }
    if let Some(origin) = &s.httplog {
        diags.warn(
            origin,
            format!(
                "'option httplog' ignored for {what} '{name}': weir writes no log line for \
                 the requests its metrics and stats pages answer"
            ),
        );
    }
    compat::pages_check(diags, &s.http_options);
    for bind in proxy.binds.iter().filter(|b| b.accept_proxy) {
        diags.error(
            &bind.origin,
            format!(
                "'accept-proxy' is not supported on {what} '{name}' in 'mode http': weir reads \
                 PROXY headers only on TCP frontends"
            ),
        );
    }
    Some(HttpService {
        prometheus: s.services.iter().map(|(r, _)| r.clone()).collect(),
        stats: s.stats.as_ref().map(|(page, _)| page.clone()),
        timeout_request: s.timeout_http_request,
        timeout_keep_alive: s.timeout_http_keep_alive,
    })
}

/// HAProxy's warnings for `stats`, `http-request` and `option
/// forwardfor` in a TCP proxy, which ignores them.
fn tcp_ignores(diags: &mut Diags, proxy: &Proxy) {
    let s = &proxy.settings;
    if s.mode_http.is_some() {
        return;
    }
    let (name, what) = (&proxy.name, proxy_word(proxy.kind));
    if s.stats.is_some() {
        diags.warn(
            &proxy.origin,
            format!("'stats' statement ignored for {what} '{name}' as it requires HTTP mode."),
        );
    }
    if let Some((_, origin)) = s.services.first() {
        diags.warn(
            origin,
            format!("'http-request' rules ignored for {what} '{name}' as they require HTTP mode."),
        );
    }
    if s.forwardfor.is_some() {
        diags.warn(
            &proxy.origin,
            format!("'option forwardfor' ignored for {what} '{name}' as it requires HTTP mode."),
        );
    }
    if s.originalto.is_some() {
        diags.warn(
            &proxy.origin,
            format!("'option originalto' ignored for {what} '{name}' as it requires HTTP mode."),
        );
    }
    compat::warn_ignored(
        diags,
        &s.http_options,
        proxy.kind,
        what,
        name,
        &proxy.origin,
    );
}

/// HAProxy's warning for a proxy missing some of its timeouts, plus what
/// weir does about it.
fn missing_timeouts(proxy: &Proxy) -> Option<String> {
    let s = &proxy.settings;
    let kind = proxy.kind;
    let missing = (kind.has_frontend() && s.timeout_client.is_none())
        || (kind.has_backend()
            // In TCP mode `timeout tunnel` stands in for `timeout server`.
            && (s.timeout_connect.is_none()
                || (s.timeout_server.is_none() && s.timeout_tunnel.is_none())));
    if !missing {
        return None;
    }
    let what = match kind {
        Kind::Listen => "proxy",
        kind => kind.word(),
    };
    let applied = if kind.has_backend() && s.timeout_connect.is_none() {
        "weir applies 'timeout connect 5s'; missing inactivity timeouts stay unlimited"
    } else {
        "missing inactivity timeouts stay unlimited"
    };
    Some(format!(
        "missing timeouts for {what} '{}'. While not properly invalid, you will certainly \
         encounter various problems with such a configuration. To fix this, please ensure \
         that all following timeouts are set to a non-zero value: 'client', 'connect', \
         'server'. ({applied}, as in HAProxy.)",
        proxy.name
    ))
}
