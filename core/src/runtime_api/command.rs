//! From the words of a request to what it asks: the commands weir
//! implements, with HAProxy 2.6's keywords, usage lines and argument rules.

use super::Level;
use super::agent::AgentAction;
use super::words::{self, atoi, strtol, strtoul};

/// One command keyword: its words and its line in the help list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keyword {
    /// The words that name the command (at most 5, as HAProxy's).
    pub(crate) words: &'static [&'static str],
    /// The help line; `None` for `help`, `prompt` and `quit`, which the
    /// help list always ends with.
    pub(crate) usage: Option<&'static str>,
    /// Which command it is.
    pub(crate) kind: Kind,
}

/// The commands weir knows, by keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Help,
    Prompt,
    Quit,
    GetSocks,
    Operator,
    User,
    ShowCliLevel,
    ShowInfo,
    ShowStat,
    ShowSchemaJson,
    ClearCounters,
    ShowServersState,
    ShowBackend,
    SetMaxconnFrontend,
    SetMaxconnGlobal,
    ShowSess,
    ShutdownSession,
    ShutdownSessionsServer,
    DisableAgent,
    DisableHealth,
    DisableServer,
    EnableAgent,
    EnableHealth,
    EnableServer,
    SetMaxconnServer,
    SetServer,
    GetWeight,
    SetWeight,
    Reload,
}

const fn kw(words: &'static [&'static str], usage: &'static str, kind: Kind) -> Keyword {
    Keyword {
        words,
        usage: Some(usage),
        kind,
    }
}

/// weir's commands, with HAProxy 2.6's words and usage lines (checked
/// against `help` on haproxy 2.6.12), in HAProxy's registration order
/// (`src/stream.c`, `stats.c`, `server.c`, `cli.c`, `proxy.c`): the help
/// answer breaks ties between equally close commands by it.
pub(crate) const KEYWORDS: &[Keyword] = &[
    kw(
        &["show", "sess"],
        "show sess [id]                          : report the list of current sessions or dump this exact session",
        Kind::ShowSess,
    ),
    kw(
        &["shutdown", "session"],
        "shutdown session [id]                   : kill a specific session",
        Kind::ShutdownSession,
    ),
    kw(
        &["shutdown", "sessions", "server"],
        "shutdown sessions server <bk>/<srv>     : kill sessions on a server",
        Kind::ShutdownSessionsServer,
    ),
    kw(
        &["clear", "counters"],
        "clear counters [all]                    : clear max statistics counters (or all counters)",
        Kind::ClearCounters,
    ),
    kw(
        &["show", "info"],
        "show info [desc|json|typed|float]*      : report information about the running process",
        Kind::ShowInfo,
    ),
    kw(
        &["show", "stat"],
        "show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server",
        Kind::ShowStat,
    ),
    kw(
        &["show", "schema", "json"],
        "show schema json                        : report schema used for stats",
        Kind::ShowSchemaJson,
    ),
    kw(
        &["disable", "agent"],
        "disable agent                           : disable agent checks",
        Kind::DisableAgent,
    ),
    kw(
        &["disable", "health"],
        "disable health                          : disable health checks",
        Kind::DisableHealth,
    ),
    kw(
        &["disable", "server"],
        "disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
        Kind::DisableServer,
    ),
    kw(
        &["enable", "agent"],
        "enable agent                            : enable agent checks",
        Kind::EnableAgent,
    ),
    kw(
        &["enable", "health"],
        "enable health                           : enable health checks",
        Kind::EnableHealth,
    ),
    kw(
        &["enable", "server"],
        "enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
        Kind::EnableServer,
    ),
    kw(
        &["set", "maxconn", "server"],
        "set maxconn server <bk>/<srv>           : change a server's maxconn setting",
        Kind::SetMaxconnServer,
    ),
    kw(
        &["set", "server"],
        "set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl",
        Kind::SetServer,
    ),
    kw(
        &["get", "weight"],
        "get weight <bk>/<srv>                   : report a server's current weight",
        Kind::GetWeight,
    ),
    kw(
        &["set", "weight"],
        "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
        Kind::SetWeight,
    ),
    Keyword {
        words: &["help"],
        usage: None,
        kind: Kind::Help,
    },
    Keyword {
        words: &["prompt"],
        usage: None,
        kind: Kind::Prompt,
    },
    Keyword {
        words: &["quit"],
        usage: None,
        kind: Kind::Quit,
    },
    Keyword {
        words: &["_getsocks"],
        usage: None,
        kind: Kind::GetSocks,
    },
    kw(
        &["set", "maxconn", "global"],
        "set maxconn global <value>              : change the per-process maxconn setting",
        Kind::SetMaxconnGlobal,
    ),
    kw(
        &["show", "cli", "level"],
        "show cli level                          : display the level of the current CLI session",
        Kind::ShowCliLevel,
    ),
    kw(
        &["operator"],
        "operator                                : lower the level of the current CLI session to operator",
        Kind::Operator,
    ),
    kw(
        &["user"],
        "user                                    : lower the level of the current CLI session to user",
        Kind::User,
    ),
    kw(
        &["set", "maxconn", "frontend"],
        "set maxconn frontend <frontend> <value> : change a frontend's maxconn setting",
        Kind::SetMaxconnFrontend,
    ),
    kw(
        &["show", "servers", "state"],
        "show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
        Kind::ShowServersState,
    ),
    kw(
        &["show", "backend"],
        "show backend                            : list backends in the current running config",
        Kind::ShowBackend,
    ),
    kw(
        &["reload"],
        "reload                                  : reload the configuration files (weir)",
        Kind::Reload,
    ),
];

/// What one request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Something of the balancer: answered by [`execute`](super::execute).
    Command(Command),
    /// Something of the connection itself, answered by [`CliConn`](super::CliConn).
    Session(SessionCommand),
    /// No command has these words: the answer is HAProxy's "Unknown
    /// command" message and the help list.
    Unknown,
}

/// Commands about the CLI connection itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// `help [<words>]`: the help list, narrowed to the commands the
    /// words start (the words after `help`).
    Help(Vec<Vec<u8>>),
    /// `prompt`: enter or leave interactive mode.
    Prompt,
    /// `quit`: close the connection.
    Quit,
    /// `_getsocks`: hand the listening sockets to the peer (a process
    /// taking over with `-x`), then close.
    GetSocks,
    /// `operator` / `user`: lower the connection's level; `-` as first
    /// argument (`no_lf`) leaves out the empty line after the answer.
    LowerLevel {
        /// The level asked for.
        level: Level,
        /// `operator -`, `user -`.
        no_lf: bool,
    },
    /// `show cli level`.
    ShowLevel,
}

/// A command on the balancer, with its arguments read as HAProxy reads
/// them. Argument errors HAProxy reports only after a permission check or
/// a name lookup are kept as values, so [`execute`](super::execute)
/// answers in HAProxy's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `show info [typed|json|desc|float]*`.
    ShowInfo(InfoOptions),
    /// `show stat [domain proxy|resolvers] [<px> <type> <sid>] [options]*`.
    ShowStat(StatRequest),
    /// `show schema json`.
    ShowSchemaJson,
    /// `show servers state [<backend>]`.
    ShowServersState {
        /// The backend's name or `#<id>`; all backends when `None`.
        backend: Option<String>,
    },
    /// `show backend`.
    ShowBackend,
    /// `show sess [<id>|all]`.
    ShowSess(SessTarget),
    /// `clear counters [all]`.
    ClearCounters {
        /// `all`: every counter, not only the maximums.
        all: bool,
    },
    /// A command on one server, named `<backend>/<server>`.
    Server {
        /// The `<backend>/<server>` argument.
        path: ServerPath,
        /// What to do to it.
        action: ServerAction,
    },
    /// `get weight <backend>/<server>`.
    GetWeight(ServerPath),
    /// `shutdown session <id>` (`strtoul` of the argument; 0 = missing).
    ShutdownSession(u64),
    /// `set maxconn frontend <frontend> <value>`.
    SetFrontendMaxconn {
        /// The frontend's name or `#<id>`.
        frontend: String,
        /// `atoi` of the value; `None` when it is missing.
        value: Option<i32>,
    },
    /// `set maxconn global <value>` (`atoi`; `None` when missing).
    SetGlobalMaxconn(Option<i32>),
    /// `reload`: read the configuration files again and apply them in
    /// place (HAProxy's master CLI `reload`).
    Reload,
}

/// What a command does to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAction {
    /// `set server .. state`, `enable server`, `disable server`.
    SetState(AdminState),
    /// `set server .. health`.
    SetHealth(ForcedHealth),
    /// `set server .. weight`, `set weight`.
    SetWeight(Result<Weight, &'static str>),
    /// `set server .. addr <ip> [port <port>]` (the arguments as typed).
    SetAddr {
        /// The address argument.
        addr: Vec<u8>,
        /// The port argument, when `port` follows the address.
        port: Option<Vec<u8>>,
    },
    /// `set maxconn server`: `strtol` of the value, or HAProxy's error.
    SetMaxconn(Result<i64, &'static str>),
    /// `enable health`.
    EnableHealth,
    /// `disable health`.
    DisableHealth,
    /// `shutdown sessions server`.
    ShutdownSessions,
    /// `enable agent`, `disable agent`, `set server .. agent*`.
    Agent(AgentAction),
    /// An answer HAProxy gives once the server is found: a bad argument,
    /// or a feature weir does not have (agent checks, DNS resolution).
    Answer(&'static str),
}

pub use crate::stats::{AdminState, ForcedHealth};

/// A weight argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// `W`: 0..=256.
    Absolute(u32),
    /// `W%`: percent of the initial weight, 0..=25600.
    Relative(u32),
}

/// A `<backend>/<server>` argument, cut at the first `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPath {
    /// Before the `/` (all of it when there is none).
    pub backend: String,
    /// After the `/` (empty when there is none).
    pub server: String,
}

impl ServerPath {
    fn parse(arg: &[u8]) -> ServerPath {
        let (backend, server) = match arg.iter().position(|&b| b == b'/') {
            Some(i) => (&arg[..i], &arg[i + 1..]),
            None => (arg, &[][..]),
        };
        ServerPath {
            backend: String::from_utf8_lossy(backend).into_owned(),
            server: String::from_utf8_lossy(server).into_owned(),
        }
    }
}

/// How `show info` and `show stat` lay out their answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// `show info`: `Name: value` lines; `show stat`: CSV.
    #[default]
    Default,
    /// `typed`.
    Typed,
    /// `json`.
    Json,
}

/// `show info` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InfoOptions {
    /// `typed` or `json` (the last one given).
    pub format: OutputFormat,
    /// `desc`: add field descriptions.
    pub desc: bool,
    /// `float`: values as floats where HAProxy allows it.
    pub float: bool,
}

/// `show stat` arguments, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatRequest {
    /// `domain <d>`.
    pub domain: StatDomain,
    /// `<px> <type> <sid>`: proxy name (or `#id`, or a number), the
    /// `atoi` of the type mask and of the server id.
    pub scope: Option<(String, i32, i32)>,
    /// Output options.
    pub options: StatOptions,
}

/// `show stat domain <d>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatDomain {
    /// `proxy` (the default): frontends, backends, servers.
    #[default]
    Proxy,
    /// `resolvers`: weir has none.
    Resolvers,
    /// Any other word: HAProxy answers "Invalid statistics domain.".
    Invalid,
}

/// `show stat` output options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatOptions {
    /// `typed` or `json` (the last one given).
    pub format: OutputFormat,
    /// `desc`.
    pub desc: bool,
    /// `no-maint`: leave out servers in maintenance.
    pub no_maint: bool,
    /// `up`: only servers that are up.
    pub up: bool,
}

/// `show sess` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessTarget {
    /// No argument (or one that reads as 0): one line per session.
    List,
    /// `all`: every session in detail.
    All,
    /// `<id>`: that session in detail.
    One(u64),
}

impl Command {
    /// The level a command needs before anything else is checked.
    pub fn level(&self) -> Level {
        match self {
            Command::ShowInfo(_)
            | Command::ShowStat(_)
            | Command::ShowSchemaJson
            | Command::ShowServersState { .. }
            | Command::ShowBackend
            | Command::GetWeight(_) => Level::User,
            Command::ShowSess(_) | Command::ClearCounters { all: false } => Level::Operator,
            Command::ClearCounters { all: true }
            | Command::Server { .. }
            | Command::ShutdownSession(_)
            | Command::SetFrontendMaxconn { .. }
            | Command::SetGlobalMaxconn(_)
            | Command::Reload => Level::Admin,
        }
    }
}

/// The keyword a request's words name, as HAProxy's `cli_find_kw`: the
/// first whose words all equal the request's first words.
pub(crate) fn find(words: &[Vec<u8>]) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| {
        k.words
            .iter()
            .enumerate()
            .all(|(i, w)| arg(words, i) == w.as_bytes())
    })
}

/// Word `i`, empty past the end (HAProxy's unused argument slots).
pub(crate) fn arg(words: &[Vec<u8>], i: usize) -> &[u8] {
    words.get(i).map_or(&[][..], Vec::as_slice)
}

/// What the request `line` (one line, without its end) asks.
pub fn parse(line: &[u8]) -> Request {
    parse_words(&words::split(line))
}

/// What a request cut into words asks.
pub(crate) fn parse_words(words: &[Vec<u8>]) -> Request {
    let Some(keyword) = find(words) else {
        return Request::Unknown;
    };
    let a = |i| arg(words, i);
    let text = |i| String::from_utf8_lossy(a(i)).into_owned();
    let server = |i, action| Command::Server {
        path: ServerPath::parse(a(i)),
        action,
    };
    let command = match keyword.kind {
        Kind::Help => return Request::Session(SessionCommand::Help(words[1..].to_vec())),
        Kind::Prompt => return Request::Session(SessionCommand::Prompt),
        Kind::Quit => return Request::Session(SessionCommand::Quit),
        Kind::GetSocks => return Request::Session(SessionCommand::GetSocks),
        Kind::ShowCliLevel => return Request::Session(SessionCommand::ShowLevel),
        Kind::Operator | Kind::User => {
            let level = if keyword.kind == Kind::Operator {
                Level::Operator
            } else {
                Level::User
            };
            return Request::Session(SessionCommand::LowerLevel {
                level,
                no_lf: a(1) == b"-",
            });
        }
        Kind::ShowInfo => Command::ShowInfo(info_options(&words[2..])),
        Kind::ShowStat => Command::ShowStat(stat_request(words)),
        Kind::ShowSchemaJson => Command::ShowSchemaJson,
        Kind::ClearCounters => Command::ClearCounters {
            all: a(2) == b"all",
        },
        Kind::ShowServersState => Command::ShowServersState {
            backend: (!a(3).is_empty()).then(|| text(3)),
        },
        Kind::ShowBackend => Command::ShowBackend,
        Kind::Reload => Command::Reload,
        Kind::ShowSess => Command::ShowSess(match a(2) {
            b"all" => SessTarget::All,
            id => match strtoul(id) {
                0 => SessTarget::List,
                id => SessTarget::One(id),
            },
        }),
        Kind::ShutdownSession => Command::ShutdownSession(strtoul(a(2))),
        Kind::SetMaxconnFrontend => Command::SetFrontendMaxconn {
            frontend: text(3),
            value: (!a(4).is_empty()).then(|| atoi(a(4))),
        },
        Kind::SetMaxconnGlobal => Command::SetGlobalMaxconn((!a(3).is_empty()).then(|| atoi(a(3)))),
        Kind::ShutdownSessionsServer => server(3, ServerAction::ShutdownSessions),
        Kind::DisableAgent => server(2, ServerAction::Agent(AgentAction::Disable)),
        Kind::EnableAgent => server(2, ServerAction::Agent(AgentAction::Enable)),
        Kind::DisableHealth => server(2, ServerAction::DisableHealth),
        Kind::EnableHealth => server(2, ServerAction::EnableHealth),
        Kind::DisableServer => server(2, ServerAction::SetState(AdminState::Maint)),
        Kind::EnableServer => server(2, ServerAction::SetState(AdminState::Ready)),
        Kind::SetMaxconnServer => server(3, ServerAction::SetMaxconn(maxconn(a(4)))),
        Kind::SetWeight => server(2, ServerAction::SetWeight(weight(a(3)))),
        Kind::SetServer => server(2, set_server(words)),
        Kind::GetWeight => Command::GetWeight(ServerPath::parse(a(2))),
    };
    Request::Command(command)
}

fn info_options(options: &[Vec<u8>]) -> InfoOptions {
    let mut info = InfoOptions::default();
    for option in options {
        match option.as_slice() {
            b"typed" => info.format = OutputFormat::Typed,
            b"json" => info.format = OutputFormat::Json,
            b"desc" => info.desc = true,
            b"float" => info.float = true,
            _ => {}
        }
    }
    info
}

/// `show stat` as HAProxy's `cli_parse_show_stat` reads it.
fn stat_request(words: &[Vec<u8>]) -> StatRequest {
    let mut request = StatRequest::default();
    let mut at = 2;
    let a = |i| arg(words, i);
    if a(at) == b"domain" {
        at += 1;
        request.domain = match a(at) {
            b"proxy" => StatDomain::Proxy,
            b"resolvers" => StatDomain::Resolvers,
            _ => StatDomain::Invalid,
        };
        at += 1;
    }
    if request.domain == StatDomain::Proxy
        && !a(at).is_empty()
        && !a(at + 1).is_empty()
        && !a(at + 2).is_empty()
    {
        request.scope = Some((
            String::from_utf8_lossy(a(at)).into_owned(),
            atoi(a(at + 1)),
            atoi(a(at + 2)),
        ));
        at += 3;
    }
    for option in words.iter().skip(at) {
        let o = &mut request.options;
        match option.as_slice() {
            b"typed" => o.format = OutputFormat::Typed,
            b"json" => o.format = OutputFormat::Json,
            b"desc" => o.desc = true,
            b"no-maint" => o.no_maint = true,
            b"up" => o.up = true,
            _ => {}
        }
    }
    request
}

/// `set server <b>/<s> <what> ...`, as HAProxy's `cli_parse_set_server`.
fn set_server(words: &[Vec<u8>]) -> ServerAction {
    let a = |i| arg(words, i);
    let answer = ServerAction::Answer;
    match a(3) {
        b"weight" => ServerAction::SetWeight(weight(a(4))),
        b"state" => match a(4) {
            b"ready" => ServerAction::SetState(AdminState::Ready),
            b"drain" => ServerAction::SetState(AdminState::Drain),
            b"maint" => ServerAction::SetState(AdminState::Maint),
            _ => answer("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"),
        },
        b"health" => match a(4) {
            b"up" => ServerAction::SetHealth(ForcedHealth::Up),
            b"stopping" => ServerAction::SetHealth(ForcedHealth::Stopping),
            b"down" => ServerAction::SetHealth(ForcedHealth::Down),
            _ => answer("'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"),
        },
        what @ (b"agent" | b"agent-send" | b"agent-addr" | b"agent-port") => {
            super::agent::set_server(what, a).unwrap_or(answer(""))
        }
        b"check-addr" if a(4).is_empty() => {
            answer("set server <b>/<s> check-addr requires an address and optionally a port.\n")
        }
        b"check-port" if a(4).is_empty() => {
            answer("set server <b>/<s> check-port requires a port.\n")
        }
        b"check-addr" => answer("'set server <srv> check-addr' is not supported by weir.\n"),
        b"check-port" => answer("'set server <srv> check-port' is not supported by weir.\n"),
        b"addr" if a(4).is_empty() => {
            answer("set server <b>/<s> addr requires an address and optionally a port.\n")
        }
        b"addr" => ServerAction::SetAddr {
            addr: a(4).to_vec(),
            port: (a(5) == b"port").then(|| a(6).to_vec()),
        },
        // weir resolves names once, at start: HAProxy's answer without resolvers.
        b"fqdn" if a(4).is_empty() => answer("set server <b>/<s> fqdn requires a FQDN.\n"),
        b"fqdn" => answer("set server <b>/<s> fqdn failed because no resolution is configured.\n"),
        b"ssl" => answer("'set server <srv> ssl' is not supported by weir.\n"),
        _ => answer(
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | \
             agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n",
        ),
    }
}

/// A weight argument, as HAProxy's `server_parse_weight_change_request`
/// reads it before looking at the server.
fn weight(text: &[u8]) -> Result<Weight, &'static str> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.\n");
    }
    let long = strtol(text, 10);
    let end = &text[long.used..];
    let w = long.value;
    if long.used == 0 {
        Err("Empty weight string empty or preceded by garbage")
    } else if end == b"%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n");
        }
        Ok(Weight::Relative(w.min(25600) as u32))
    } else if !(0..=256).contains(&w) {
        Err("Absolute weight can only be between 0 and 256 inclusive.\n")
    } else if !end.is_empty() {
        Err("Trailing garbage in weight string")
    } else {
        Ok(Weight::Absolute(w as u32))
    }
}

/// A server maxconn argument, as HAProxy's
/// `server_parse_maxconn_change_request` reads it.
fn maxconn(text: &[u8]) -> Result<i64, &'static str> {
    if text.is_empty() {
        return Err("Require <maxconn>.\n");
    }
    let long = strtol(text, 10);
    if long.used == 0 {
        Err("maxconn string empty or preceded by garbage")
    } else if long.used < text.len() {
        Err("Trailing garbage in maxconn string")
    } else {
        Ok(long.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(line: &str) -> Command {
        match parse(line.as_bytes()) {
            Request::Command(c) => c,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn action(line: &str) -> ServerAction {
        match command(line) {
            Command::Server { action, .. } => action,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn keywords_match_whole_words_and_extra_words_are_ignored() {
        assert_eq!(command("show backend please"), Command::ShowBackend);
        assert_eq!(parse(b"show back"), Request::Unknown);
        assert_eq!(parse(b"showbackend"), Request::Unknown);
        assert_eq!(parse(b""), Request::Unknown);
        assert_eq!(parse(b"quit now"), Request::Session(SessionCommand::Quit));
        assert_eq!(
            parse(b"help show"),
            Request::Session(SessionCommand::Help(vec![b"show".to_vec()]))
        );
    }

    #[test]
    fn server_paths_cut_at_the_first_slash() {
        let Command::Server { path, .. } = command("disable server app/gw/1") else {
            panic!()
        };
        assert_eq!(
            (path.backend.as_str(), path.server.as_str()),
            ("app", "gw/1")
        );
        let Command::GetWeight(path) = command("get weight app") else {
            panic!()
        };
        assert_eq!((path.backend.as_str(), path.server.as_str()), ("app", ""));
    }

    #[test]
    fn weights_read_as_haproxy() {
        let w = |s: &str| action(&format!("set server a/b weight {s}"));
        assert_eq!(w("12"), ServerAction::SetWeight(Ok(Weight::Absolute(12))));
        assert_eq!(w("50%"), ServerAction::SetWeight(Ok(Weight::Relative(50))));
        assert_eq!(
            w("99999%"),
            ServerAction::SetWeight(Ok(Weight::Relative(25600)))
        );
        assert_eq!(w("256"), ServerAction::SetWeight(Ok(Weight::Absolute(256))));
        let err = |s: &str| match w(s) {
            ServerAction::SetWeight(Err(e)) => e,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(err(""), "Require <weight> or <weight%>.\n");
        assert_eq!(err("x"), "Empty weight string empty or preceded by garbage");
        assert_eq!(err("-1%"), "Relative weight must be positive.\n");
        assert_eq!(
            err("257"),
            "Absolute weight can only be between 0 and 256 inclusive.\n"
        );
        assert_eq!(err("5x"), "Trailing garbage in weight string");
        assert_eq!(err("5%x"), "Trailing garbage in weight string");
        assert_eq!(
            action("set weight a/b 3"),
            ServerAction::SetWeight(Ok(Weight::Absolute(3)))
        );
    }

    #[test]
    fn set_server_subcommands() {
        assert_eq!(
            action("set server a/b state drain"),
            ServerAction::SetState(AdminState::Drain)
        );
        assert_eq!(
            action("set server a/b health stopping"),
            ServerAction::SetHealth(ForcedHealth::Stopping)
        );
        assert_eq!(
            action("set server a/b addr 10.0.0.1 port 80"),
            ServerAction::SetAddr {
                addr: b"10.0.0.1".to_vec(),
                port: Some(b"80".to_vec())
            }
        );
        assert_eq!(
            action("set server a/b addr 10.0.0.1 80"),
            ServerAction::SetAddr {
                addr: b"10.0.0.1".to_vec(),
                port: None
            }
        );
        assert!(matches!(
            action("set server a/b"),
            ServerAction::Answer(usage) if usage.starts_with("usage: set server")
        ));
        assert_eq!(
            action("set maxconn server a/b 12x"),
            ServerAction::SetMaxconn(Err("Trailing garbage in maxconn string"))
        );
        assert_eq!(
            action("set maxconn server a/b -3"),
            ServerAction::SetMaxconn(Ok(-3))
        );
    }

    #[test]
    fn show_stat_reads_a_scope_only_with_three_words() {
        let stat = |line: &str| match command(line) {
            Command::ShowStat(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(stat("show stat typed up").scope, None);
        let r = stat("show stat app 2 -1 json");
        assert_eq!(r.scope, Some(("app".to_owned(), 2, -1)));
        assert_eq!(r.options.format, OutputFormat::Json);
        assert_eq!(
            stat("show stat domain resolvers").domain,
            StatDomain::Resolvers
        );
        assert_eq!(stat("show stat domain x").domain, StatDomain::Invalid);
        assert_eq!(
            stat("show stat domain proxy -1 4 3").scope,
            Some(("-1".into(), 4, 3))
        );
    }

    #[test]
    fn levels_each_command_needs() {
        assert_eq!(command("show stat").level(), Level::User);
        assert_eq!(command("get weight a/b").level(), Level::User);
        assert_eq!(command("show sess").level(), Level::Operator);
        assert_eq!(command("clear counters").level(), Level::Operator);
        assert_eq!(command("clear counters all").level(), Level::Admin);
        assert_eq!(command("set server a/b state ready").level(), Level::Admin);
        assert_eq!(command("shutdown session 0x1").level(), Level::Admin);
    }
}
