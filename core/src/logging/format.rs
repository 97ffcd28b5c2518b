//! `log-format`: a format string compiled once, at configuration time, into
//! a list of nodes, then rendered for each session without parsing again.
//!
//! The compiler is HAProxy 2.6's `parse_logformat_string` state machine,
//! so the same strings give the same nodes: spaces are separators that
//! collapse, `%%` is a literal `%`, a `%` before anything but a name, `{`,
//! `[` or `%` is dropped, and `%{+Q,-M}var` sets flags (`%{..}o` sets them
//! for the variables that follow).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use super::Host;
use super::date::Civil;

/// HAProxy's `option tcplog` format.
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// A compiled `log-format` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(Box<str>),
    /// One or more spaces: one space out, unless the line is empty or
    /// already ends with a separator's space.
    Separator,
    Var(Var, Flags),
}

/// HAProxy's per-variable options (`%{+Q}`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flags {
    /// `M`: an empty value is written `-`.
    mandatory: bool,
    /// `Q`: strings in double quotes.
    quote: bool,
    /// `X`: addresses, ports and some numbers in hexadecimal.
    hex: bool,
    /// `E`: `"`, `\` and `]` in strings escaped with `\`.
    escape: bool,
}

impl Flags {
    /// What a `log-format` variable starts with.
    const DEFAULT: Flags = Flags {
        mandatory: true,
        quote: false,
        hex: false,
        escape: false,
    };

    /// Applies `+Q,-M`-style arguments; unknown names are ignored, as HAProxy.
    fn apply(&mut self, args: &str) {
        for item in args.split(',') {
            // As HAProxy: the last `+` or `-` of an item decides.
            let Some(at) = item.rfind(['+', '-']) else {
                continue;
            };
            let on = item.as_bytes()[at] == b'+';
            match &item[at + 1..] {
                "M" => self.mandatory = on,
                "Q" => self.quote = on,
                "X" => self.hex = on,
                "E" => self.escape = on,
                _ => {}
            }
        }
    }
}

/// The variables weir can fill, HAProxy's names in the comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    /// `%B`: bytes from server to client.
    BytesOut,
    /// `%U`: bytes from client to server.
    BytesIn,
    /// `%H`: host name.
    Hostname,
    /// `%ID`: unique id (weir has no `unique-id-format`: always empty).
    UniqueId,
    /// `%ST`: HTTP status, 0 in TCP mode.
    Status,
    /// `%T`: accept date in UTC.
    DateGmt,
    /// `%Tl`: accept date in local time with its offset.
    DateLocal,
    /// `%t`: accept date in local time, to the millisecond.
    Date,
    /// `%Ts`: accept date in seconds since 1970.
    Timestamp,
    /// `%ms`: milliseconds of the accept date.
    Millis,
    /// `%Tw`: time in queue.
    Tw,
    /// `%Tc`: time to connect.
    Tc,
    /// `%Tt`: total time.
    Tt,
    /// `%Td`: data transfer time, `Tt - (Tw + Tc)`.
    Td,
    /// `%Th`: handshake time (no PROXY or TLS on weir's listeners: 0).
    Th,
    /// `%Tu`: `Tt` minus idle time, which TCP does not have.
    Tu,
    /// `%ac`, `%fc`, `%bc`, `%sc`, `%rc`: connection counts and retries.
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    /// `%sq`, `%bq`: queue positions.
    SrvQueue,
    BckQueue,
    /// `%ci`, `%cp`: client address.
    ClientIp,
    ClientPort,
    /// `%fi`, `%fp`: address the client connected to.
    FrontendIp,
    FrontendPort,
    /// `%si`, `%sp`: server address.
    ServerIp,
    ServerPort,
    /// `%f`: frontend name.
    Frontend,
    /// `%ft`: frontend name with `~` for TLS (weir's listeners: never).
    FrontendXprt,
    /// `%b`: backend name.
    Backend,
    /// `%s`: server name, `<NOSRV>` when none.
    Server,
    /// `%ts`: termination state.
    TermState,
    /// `%tsc`: termination state and HTTP cookie flags (`--` in TCP).
    TermStateCookie,
    /// `%pid`.
    Pid,
    /// `%sslc`, `%sslv`: client TLS cipher and version (never on weir's
    /// listeners: empty).
    SslCipher,
    SslVersion,
    /// `%hr`, `%hrl`, `%hs`, `%hsl`: captured HTTP headers (none in TCP:
    /// nothing at all).
    Captures,
}

/// Variables by name. HAProxy's keywords missing here are either HTTP only
/// ([`HTTP_ONLY`]) or not implemented ([`NOT_YET`]).
const VARS: &[(&str, Var)] = &[
    ("B", Var::BytesOut),
    ("H", Var::Hostname),
    ("ID", Var::UniqueId),
    ("ST", Var::Status),
    ("T", Var::DateGmt),
    ("Tc", Var::Tc),
    ("Td", Var::Td),
    ("Th", Var::Th),
    ("Tl", Var::DateLocal),
    ("Ts", Var::Timestamp),
    ("Tt", Var::Tt),
    ("Tu", Var::Tu),
    ("Tw", Var::Tw),
    ("U", Var::BytesIn),
    ("ac", Var::ActConn),
    ("b", Var::Backend),
    ("bc", Var::BeConn),
    ("bq", Var::BckQueue),
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("f", Var::Frontend),
    ("fc", Var::FeConn),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("ft", Var::FrontendXprt),
    ("hr", Var::Captures),
    ("hrl", Var::Captures),
    ("hs", Var::Captures),
    ("hsl", Var::Captures),
    ("ms", Var::Millis),
    ("pid", Var::Pid),
    ("rc", Var::Retries),
    ("s", Var::Server),
    ("sc", Var::SrvConn),
    ("si", Var::ServerIp),
    ("sp", Var::ServerPort),
    ("sq", Var::SrvQueue),
    ("sslc", Var::SslCipher),
    ("sslv", Var::SslVersion),
    ("t", Var::Date),
    ("ts", Var::TermState),
    ("tsc", Var::TermStateCookie),
];

/// HAProxy's variables reserved for `mode http`.
const HTTP_ONLY: &[&str] = &[
    "CC", "CS", "HM", "HP", "HPO", "HQ", "HU", "HV", "Ta", "Ti", "Tq", "TR", "Tr", "r", "tr",
    "trg", "trl",
];

/// HAProxy's TCP variables weir does not fill yet.
const NOT_YET: &[(&str, &str)] = &[
    ("bi", "the source address of server connections"),
    ("bp", "the source port of server connections"),
    ("lc", "the frontend's log counter"),
    ("rt", "the request counter"),
];

/// Everything a `log-format` line can say about a finished session.
#[derive(Debug, Clone)]
pub(crate) struct Record<'a> {
    /// `%ci:%cp`.
    pub client: SocketAddr,
    /// `%fi:%fp`, when known.
    pub frontend_addr: Option<SocketAddr>,
    /// Accept date (`%t`, `%T`, `%Tl`, `%Ts`, `%ms`).
    pub accepted: SystemTime,
    pub frontend: &'a str,
    pub backend: &'a str,
    /// `None` logs `<NOSRV>`.
    pub server: Option<&'a str>,
    /// `%si:%sp`, once a server was chosen.
    pub server_addr: Option<SocketAddr>,
    /// Milliseconds in the queue; `None` (`-1`) if it never left it.
    pub queue_ms: Option<u64>,
    /// Milliseconds to connect, `None` (`-1`) if it never connected.
    pub connect_ms: Option<u64>,
    pub total_ms: u64,
    /// Bytes from server to client (`%B`) and from client to server (`%U`).
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub termination: [char; 2],
    /// Process, frontend, backend and server connection counts, retries.
    pub counts: [u32; 5],
    /// A retry went to another server: `%rc` gets a `+`.
    pub redispatched: bool,
    /// HAProxy's positions in the server and backend queues (`%sq/%bq`).
    pub queue_pos: [u32; 2],
    /// `option logasap`: `%Tt`, `%Tu` and `%B` get a `+` (the line may
    /// come before the session's end).
    pub asap: bool,
}

impl LineFormat {
    /// Compiles `text` as HAProxy 2.6 does for `log-format` in a TCP
    /// proxy, or says what is wrong (the caller adds `file:line`).
    pub(crate) fn compile(text: &str) -> Result<LineFormat, String> {
        Compiler::new(text).run()
    }

    /// `option tcplog`.
    pub(crate) fn tcplog() -> LineFormat {
        // The constant compiles: a unit test says so.
        Self::compile(TCPLOG).unwrap_or(LineFormat { nodes: Vec::new() })
    }

    /// Appends the line for `record` to `out`, stopping at about `limit`
    /// bytes (a log target cuts further to its `len`).
    pub(crate) fn render(&self, record: &Record<'_>, env: &Host, out: &mut String, limit: usize) {
        let start = out.len();
        let mut last_is_space = true;
        for node in &self.nodes {
            if out.len() - start >= limit {
                break;
            }
            match node {
                Node::Separator => {
                    if !last_is_space {
                        out.push(' ');
                        last_is_space = true;
                    }
                }
                Node::Text(text) => {
                    out.push_str(text);
                    last_is_space = false;
                }
                // Captured headers: none in TCP, and no effect on spacing.
                Node::Var(Var::Captures, _) => {}
                Node::Var(var, flags) => {
                    render_var(*var, *flags, record, env, out);
                    last_is_space = false;
                }
            }
        }
        let mut end = (start + limit).min(out.len());
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
}

fn render_var(var: Var, flags: Flags, r: &Record<'_>, env: &Host, out: &mut String) {
    let signed = |ms: Option<u64>| ms.map_or(-1, i128::from);
    let mut number = |n: i128| {
        let _ = write!(out, "{n}");
    };
    match var {
        Var::BytesOut | Var::Tt | Var::Tu if r.asap => {
            out.push('+');
            let n = match var {
                Var::BytesOut => r.bytes_out,
                _ => r.total_ms,
            };
            let _ = write!(out, "{n}");
        }
        Var::BytesOut => number(r.bytes_out.into()),
        Var::BytesIn => number(r.bytes_in.into()),
        Var::Status | Var::Th => number(0),
        Var::Tw => number(signed(r.queue_ms)),
        Var::Tc => number(signed(r.connect_ms)),
        Var::Tt | Var::Tu => number(r.total_ms.into()),
        Var::Td => number(match r.connect_ms {
            Some(tc) => {
                i128::from(r.total_ms) - i128::from(r.queue_ms.unwrap_or(0)) - i128::from(tc)
            }
            None => -1,
        }),
        Var::ActConn => number(r.counts[0].into()),
        Var::FeConn => number(r.counts[1].into()),
        Var::BeConn => number(r.counts[2].into()),
        Var::SrvConn => number(r.counts[3].into()),
        Var::Retries => {
            if r.redispatched {
                out.push('+');
            }
            let _ = write!(out, "{}", r.counts[4]);
        }
        Var::SrvQueue => number(r.queue_pos[0].into()),
        Var::BckQueue => number(r.queue_pos[1].into()),
        Var::Pid if flags.hex => {
            let _ = write!(out, "{:04X}", env.pid);
        }
        Var::Pid => number(env.pid.into()),
        Var::Timestamp if flags.hex => {
            let _ = write!(out, "{:04X}", Civil::unix_seconds(r.accepted) as u32);
        }
        Var::Timestamp => {
            let _ = write!(out, "{}", Civil::unix_seconds(r.accepted));
        }
        Var::Millis => {
            let millis = Civil::new(r.accepted, 0).millis();
            let _ = if flags.hex {
                write!(out, "{millis:02X}")
            } else {
                write!(out, "{millis:03}")
            };
        }
        Var::Date => Civil::new(r.accepted, env.utc_offset).write_accept_date(out),
        Var::DateGmt => Civil::new(r.accepted, 0).write_zoned_date(out),
        Var::DateLocal => Civil::new(r.accepted, env.utc_offset).write_zoned_date(out),
        Var::ClientIp => ip(Some(r.client.ip()), flags, out),
        Var::ClientPort => port(Some(r.client.port()), flags, out),
        Var::FrontendIp => ip(r.frontend_addr.map(|a| a.ip()), flags, out),
        Var::FrontendPort => port(r.frontend_addr.map(|a| a.port()), flags, out),
        Var::ServerIp => ip(r.server_addr.map(|a| a.ip()), flags, out),
        Var::ServerPort => port(r.server_addr.map(|a| a.port()), flags, out),
        Var::Frontend => text(r.frontend, flags, out),
        Var::FrontendXprt => {
            // No escaping here, as HAProxy.
            if flags.quote {
                let _ = write!(out, "\"{}\"", r.frontend);
            } else {
                out.push_str(r.frontend);
            }
        }
        Var::Backend => text(r.backend, flags, out),
        Var::Server => text(r.server.unwrap_or("<NOSRV>"), flags, out),
        Var::Hostname => text(&env.hostname, flags, out),
        Var::UniqueId | Var::SslCipher | Var::SslVersion => text("", flags, out),
        Var::TermState => out.extend(r.termination),
        Var::TermStateCookie => {
            out.extend(r.termination);
            out.push_str("--");
        }
        Var::Captures => {}
    }
}

/// A string value: quoted, escaped, or `-` when empty, as HAProxy's `lf_text`.
fn text(value: &str, flags: Flags, out: &mut String) {
    if flags.quote {
        out.push('"');
    }
    if value.is_empty() {
        if flags.mandatory && !flags.quote {
            out.push('-');
        }
    } else if flags.escape {
        for c in value.chars() {
            if matches!(c, '"' | '\\' | ']') {
                out.push('\\');
            }
            out.push(c);
        }
    } else {
        out.push_str(value);
    }
    if flags.quote {
        out.push('"');
    }
}

fn ip(addr: Option<IpAddr>, flags: Flags, out: &mut String) {
    match addr {
        Some(IpAddr::V4(a)) if flags.hex => a.octets().iter().for_each(|b| {
            let _ = write!(out, "{b:02X}");
        }),
        Some(IpAddr::V6(a)) if flags.hex => a.octets().iter().for_each(|b| {
            let _ = write!(out, "{b:02X}");
        }),
        Some(a) => text(&a.to_string(), flags, out),
        None => text("", flags, out),
    }
}

fn port(port: Option<u16>, flags: Flags, out: &mut String) {
    let _ = match port {
        Some(p) if flags.hex => write!(out, "{p:04X}"),
        Some(p) => write!(out, "{p}"),
        None => {
            text("", flags, out);
            Ok(())
        }
    };
}

/// The states of HAProxy's `parse_logformat_string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    StartVar,
    StartArg,
    EndArg,
    StartExpr,
    Var,
    Text,
    Separator,
    End,
}

struct Compiler<'a> {
    fmt: &'a str,
    nodes: Vec<Node>,
    /// Flags new variables start with (`%o` changes them).
    defaults: Flags,
}

impl<'a> Compiler<'a> {
    fn new(fmt: &'a str) -> Self {
        Compiler {
            fmt,
            nodes: Vec::new(),
            defaults: Flags::DEFAULT,
        }
    }

    fn run(mut self) -> Result<LineFormat, String> {
        let bytes = self.fmt.as_bytes();
        // Start of the pending text, of the `{args}` and of the variable name.
        let (mut text_at, mut arg_at, mut var_at) = (0, None, None);
        let mut arg_len = 0;
        let mut current = State::Init;
        let mut previous = State::Init;
        // A NUL stands for the end (HAProxy's C string ends there); a NUL
        // inside the text is text.
        for (i, c) in bytes.iter().copied().chain([0]).enumerate() {
            let end = i == bytes.len();
            previous = current;
            if end {
                current = State::End;
            }
            match previous {
                State::StartVar => {
                    (arg_at, var_at) = (None, None);
                    if c == b'{' {
                        current = State::StartArg;
                        arg_at = Some(i + 1);
                    } else if c == b'[' {
                        current = State::StartExpr;
                    } else if c.is_ascii_alphabetic() {
                        current = State::Var;
                        var_at = Some(i);
                    } else if c == b'%' {
                        current = State::Text;
                    } else if c.is_ascii_digit() || c == b' ' || c == b'\t' {
                        return Err(format!(
                            "unexpected variable name near '{}' at position {i} line : '{}'. \
                             Maybe you want to write a single '%', use the syntax '%%'",
                            char::from(c),
                            self.fmt
                        ));
                    } else {
                        current = State::Init;
                    }
                }
                State::StartArg => {
                    if c == b'}' {
                        current = State::EndArg;
                        arg_len = i - arg_at.unwrap_or(i);
                    }
                }
                State::EndArg => {
                    if c == b'[' {
                        current = State::StartExpr;
                    } else if c.is_ascii_alphanumeric() {
                        current = State::Var;
                        var_at = Some(i);
                    } else {
                        return Err(format!(
                            "parse argument modifier without variable name near '%{{{}}}'",
                            self.arg(arg_at, arg_len)
                        ));
                    }
                }
                State::StartExpr => {
                    return Err(format!(
                        "sample expressions ('%[{}') are not supported by weir: only the \
                         '%' variables of TCP logs are",
                        self.fmt.get(i..).unwrap_or("")
                    ));
                }
                State::Var => {
                    if !c.is_ascii_alphanumeric() {
                        current = State::Init;
                    }
                }
                _ => current = State::Init,
            }
            if current == State::Init {
                current = match c {
                    _ if end => State::End,
                    b'%' => State::StartVar,
                    b' ' => State::Separator,
                    _ => State::Text,
                };
            }
            if current != previous || previous == State::Separator {
                match previous {
                    State::Var => {
                        let name = self.fmt.get(var_at.unwrap_or(i)..i).unwrap_or("");
                        let args = arg_at.map(|at| self.arg(Some(at), arg_len));
                        self.variable(name, args)?;
                    }
                    State::Text => {
                        let text = self.fmt.get(text_at..i).unwrap_or("");
                        self.nodes.push(Node::Text(text.into()));
                    }
                    State::Separator => self.nodes.push(Node::Separator),
                    _ => {}
                }
                text_at = i;
            }
        }
        if matches!(
            previous,
            State::StartVar | State::StartArg | State::StartExpr
        ) {
            let after = match (var_at, arg_at) {
                (Some(at), _) | (None, Some(at)) => self.fmt.get(at..).unwrap_or(""),
                (None, None) => "%",
            };
            return Err(format!("truncated line after '{after}'"));
        }
        Ok(LineFormat { nodes: self.nodes })
    }

    fn arg(&self, at: Option<usize>, len: usize) -> &'a str {
        let at = at.unwrap_or(0);
        self.fmt.get(at..at + len).unwrap_or("")
    }

    fn variable(&mut self, name: &str, args: Option<&str>) -> Result<(), String> {
        let mut flags = self.defaults;
        if let Some(args) = args {
            flags.apply(args);
        }
        if name == "o" {
            self.defaults = flags;
            return Ok(());
        }
        if let Some((_, var)) = VARS.iter().find(|(n, _)| *n == name) {
            self.nodes.push(Node::Var(*var, flags));
            return Ok(());
        }
        if HTTP_ONLY.contains(&name) {
            return Err(format!(
                "format variable '{name}' is reserved for HTTP mode (weir is a TCP load \
                 balancer)"
            ));
        }
        if let Some((_, what)) = NOT_YET.iter().find(|(n, _)| *n == name) {
            return Err(format!(
                "format variable '{name}' ({what}) is not supported yet"
            ));
        }
        // One-letter names are too close to each other for a useful hint.
        let names = VARS.iter().map(|(n, _)| *n).filter(|_| name.len() > 1);
        let hint = crate::config::suggest(name, names)
            .map(|s| format!(" (did you mean '%{s}'?)"))
            .unwrap_or_default();
        Err(format!(
            "no such format variable '{name}'{hint}. If you wanted to emit the '%' character \
             verbatim, you need to use '%%'"
        ))
    }
}
