//! The scenario file: a TOML document with the configuration template, the
//! servers the tool plays, the steps to run and what to compare.
//!
//! ```toml
//! description = "one server, checked every 200 ms"
//! frontends = ["fe"]
//! config = """
//! global
//!     log {{syslog}} local0
//!     stats socket {{stats}} level admin
//! listen fe
//!     bind {{fe}}
//!     server s1 {{s1}} check inter 200ms
//! """
//! [servers.s1]
//! script = ["recv", "send HTTP/1.0 200 OK\r\n\r\n", "close"]
//! [[steps]]
//! wait_log = "Health check for server fe/s1 succeeded"
//! ```
//!
//! Placeholders: `{{NAME}}` of a server or frontend is `127.0.0.1:PORT`,
//! `{{NAME.port}}` the port alone; `{{syslog}}` the tool's syslog address,
//! `{{stats}}` the stats socket path, `{{dir}}` the run's directory,
//! `{{ca}}` the CA certificate and `{{crt}}` a server certificate with its
//! key (PEM); with a `[dns]` element, `{{dns}}` is the played name server's
//! `127.0.0.1:PORT`. Unknown placeholders are an error.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// A parsed, validated scenario.
#[derive(Debug)]
pub struct Scenario {
    /// The file stem.
    pub name: String,
    /// One line on what the scenario shows.
    pub description: String,
    /// The configuration with `{{...}}` placeholders.
    pub config: String,
    /// Environment variables given to the balancer (values may hold
    /// placeholders).
    pub env: BTreeMap<String, String>,
    /// Names of the frontend ports the tool reserves.
    pub frontends: Vec<String>,
    /// The servers the tool plays, by name.
    pub servers: BTreeMap<String, ServerSpec>,
    /// The name server the tool plays, if any.
    pub dns: Option<DnsSpec>,
    /// What to do, in order.
    pub steps: Vec<Step>,
    /// How to compare.
    pub compare: CompareSpec,
}

/// How one played server behaves.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// No listener: connections are refused.
    #[serde(default)]
    pub refuse: bool,
    /// Listen but never accept, with the backlog full: connects time out.
    /// Only as the initial behaviour.
    #[serde(default)]
    pub blackhole: bool,
    /// Speak TLS (certificate `{{crt}}`, signed by `{{ca}}`).
    #[serde(default)]
    pub tls: bool,
    /// What to do on each accepted connection (see [`Action`]).
    #[serde(default)]
    pub script: Vec<String>,
    /// Record only how connections end, not the bytes (a TLS client's
    /// random hello sent to a plain server).
    #[serde(default)]
    pub ignore_bytes: bool,
    /// Byte ranges `[start, end)` of each received payload to mask (random
    /// parts such as a TLS hello's random).
    #[serde(default)]
    pub mask: Vec<[usize; 2]>,
    /// Listen on this loopback address (127.0.0.2 and up) at the port that
    /// every server with an `ip` shares: the addresses of a DNS answer
    /// then reach them with the one port of a `server-template` line.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
}

/// The name server the tool plays (`[dns]`): one UDP responder per run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// Name -> addresses in answer order (IPv4 ones answer A questions,
    /// IPv6 ones AAAA); other names get NXDOMAIN.
    #[serde(default)]
    pub names: BTreeMap<String, Vec<IpAddr>>,
    /// Alias -> the name it stands for: answered with a CNAME record, then
    /// what the name has (a chain of at most 8).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// TTL of every answer record, seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

fn default_ttl() -> u32 {
    300
}

/// One action of a server script.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Read until data arrived and then 100 ms pass quietly, or EOF.
    Recv,
    /// Read until at least this many bytes arrived in total.
    RecvBytes(usize),
    /// Read until these bytes were seen.
    RecvUntil(Vec<u8>),
    /// Write these bytes (`{{name}}` is the server's name).
    Send(Vec<u8>),
    /// Pause.
    Sleep(Duration),
    /// Send FIN (after close_notify on TLS), then wait for the peer's end.
    Close,
    /// Close with an RST.
    Reset,
    /// Keep the connection open, reading, until the peer ends it.
    Hang,
}

/// One step of a scenario.
#[derive(Clone, Debug)]
pub enum Step {
    /// Pause (bounded by the step itself).
    Sleep(Duration),
    /// Wait until a log message matches.
    WaitLog {
        pattern: regex::Regex,
        timeout: Duration,
    },
    /// Wait until `backend/server`'s `show stat` status starts with `status`.
    WaitState {
        server: String,
        status: String,
        timeout: Duration,
    },
    /// Wait until a played server accepted at least `count` connections.
    WaitConns {
        server: String,
        count: usize,
        timeout: Duration,
    },
    /// Record the servers' states from `show stat`.
    Sample,
    /// Connect a client to a frontend.
    Client(ClientSpec),
    /// Change a played server's behaviour.
    SetServer { server: String, spec: ServerSpec },
    /// Send a runtime-API command and record the answer; with `columns`,
    /// only those columns of a CSV answer (`show stat`).
    Cli {
        command: String,
        columns: Vec<String>,
    },
    /// Answer `name` with these addresses from now on (none: an empty
    /// answer).
    DnsSet { name: String, addrs: Vec<IpAddr> },
    /// Answer NXDOMAIN for `name` from now on.
    DnsRemove(String),
    /// Stop (`true`) or resume answering queries.
    DnsSilent(bool),
    /// Wait until a query for `name` was answered since the last change of
    /// the name server.
    WaitDns { name: String, timeout: Duration },
}

/// What a client does.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    /// The frontend's name.
    pub frontend: String,
    /// Bytes to send after connecting.
    pub send: Vec<u8>,
    /// Half-close after sending.
    pub shutdown: bool,
    /// Close at once after connecting (and sending), without reading.
    pub close_now: bool,
    /// Close this long after connecting (and sending), without reading:
    /// the FIN comes after the connection was set up (see `close_now`).
    pub close_after: Option<Duration>,
    /// Run in the background; its result is recorded at the end.
    pub background: bool,
    /// How long to wait for the end of the answer.
    pub timeout: Duration,
}

/// How observations are compared.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// `sequence` (order matters), `set` (distinct lines, any order) or `off`.
    #[serde(default = "sequence")]
    pub logs: String,
    /// Durations in logs are equal within this many milliseconds.
    #[serde(default = "default_tolerance")]
    pub tolerance_ms: i64,
    /// Compare actconn/feconn/beconn/srv_conn of tcplog lines (timing-bound).
    #[serde(default)]
    pub conn_counts: bool,
    /// Log messages matching any of these are left out.
    #[serde(default)]
    pub ignore_logs: Vec<String>,
    /// Compare the configuration warnings printed at start (line number
    /// and text).
    #[serde(default)]
    pub warnings: bool,
    /// Compare how plain connections end (FIN, RST, after the server's
    /// close or before); `false` where that is a race between the played
    /// server's close and the balancer's (a check that got its answer).
    #[serde(default = "yes")]
    pub close_kind: bool,
    /// Compare the queries the played name server got (each name's
    /// distinct queries in the order they first came).
    #[serde(default = "yes")]
    pub dns: bool,
}

fn yes() -> bool {
    true
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec {
            logs: sequence(),
            tolerance_ms: default_tolerance(),
            conn_counts: false,
            ignore_logs: Vec::new(),
            warnings: false,
            close_kind: true,
            dns: true,
        }
    }
}

fn sequence() -> String {
    "sequence".into()
}

fn default_tolerance() -> i64 {
    300
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    description: String,
    config: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    frontends: Vec<String>,
    #[serde(default)]
    servers: BTreeMap<String, ServerSpec>,
    dns: Option<DnsSpec>,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    compare: CompareSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    sleep: Option<String>,
    wait_log: Option<String>,
    wait_state: Option<String>,
    wait_conns: Option<usize>,
    sample: Option<bool>,
    client: Option<String>,
    set_server: Option<String>,
    cli: Option<String>,
    dns_set: Option<String>,
    dns_remove: Option<String>,
    dns_silent: Option<bool>,
    wait_dns: Option<String>,
    // Options of the actions above.
    timeout: Option<String>,
    server: Option<String>,
    send: Option<String>,
    shutdown: Option<bool>,
    close_now: Option<bool>,
    close_after: Option<String>,
    background: Option<bool>,
    refuse: Option<bool>,
    tls: Option<bool>,
    script: Option<Vec<String>>,
    columns: Option<Vec<String>>,
    addrs: Option<Vec<IpAddr>>,
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&name, &text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a scenario from its text.
pub fn parse(name: &str, text: &str) -> Result<Scenario, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    if !file.config.contains("{{stats}}") {
        return Err("config: needs a `stats socket {{stats}}` (readiness and states)".into());
    }
    for (name, spec) in &file.servers {
        parse_script(&spec.script).map_err(|e| format!("servers.{name}.script: {e}"))?;
        if let Some(ip) = spec.ip
            && (!ip.is_loopback() || ip == Ipv4Addr::LOCALHOST)
        {
            return Err(format!(
                "servers.{name}.ip: {ip} is not a loopback address other than 127.0.0.1"
            ));
        }
    }
    let dns = match file.dns {
        Some(mut spec) => {
            let mut names = BTreeMap::new();
            for (name, addrs) in std::mem::take(&mut spec.names) {
                names.insert(
                    dns_name(&name).map_err(|e| format!("dns.names: {e}"))?,
                    addrs,
                );
            }
            spec.names = names;
            let mut aliases = BTreeMap::new();
            for (alias, target) in std::mem::take(&mut spec.aliases) {
                let e = |e| format!("dns.aliases: {e}");
                aliases.insert(dns_name(&alias).map_err(e)?, dns_name(&target).map_err(e)?);
            }
            spec.aliases = aliases;
            Some(spec)
        }
        None => None,
    };
    let mut steps = Vec::new();
    for (i, raw) in file.steps.into_iter().enumerate() {
        let step = parse_step(raw).map_err(|e| format!("steps[{}]: {e}", i + 1))?;
        let known = |n: &String| file.servers.contains_key(n);
        match &step {
            Step::WaitConns { server, .. } | Step::SetServer { server, .. } if !known(server) => {
                return Err(format!("steps[{}]: unknown server '{server}'", i + 1));
            }
            Step::DnsSet { .. }
            | Step::DnsRemove(_)
            | Step::DnsSilent(_)
            | Step::WaitDns { .. }
                if dns.is_none() =>
            {
                return Err(format!("steps[{}]: no [dns] element", i + 1));
            }
            Step::Client(c) if !file.frontends.contains(&c.frontend) => {
                return Err(format!(
                    "steps[{}]: unknown frontend '{}' (declare it in `frontends`)",
                    i + 1,
                    c.frontend
                ));
            }
            _ => {}
        }
        steps.push(step);
    }
    for pattern in &file.compare.ignore_logs {
        regex::Regex::new(pattern).map_err(|e| format!("compare.ignore_logs: {e}"))?;
    }
    if !["sequence", "set", "off"].contains(&file.compare.logs.as_str()) {
        return Err(format!(
            "compare.logs: '{}' is not one of sequence, set, off",
            file.compare.logs
        ));
    }
    Ok(Scenario {
        name: name.to_owned(),
        description: file.description,
        config: file.config,
        env: file.env,
        frontends: file.frontends,
        servers: file.servers,
        dns,
        steps,
        compare: file.compare,
    })
}

fn parse_step(raw: RawStep) -> Result<Step, String> {
    let kinds = [
        raw.sleep.is_some(),
        raw.wait_log.is_some(),
        raw.wait_state.is_some(),
        raw.wait_conns.is_some(),
        raw.sample.is_some(),
        raw.client.is_some(),
        raw.set_server.is_some(),
        raw.cli.is_some(),
        raw.dns_set.is_some(),
        raw.dns_remove.is_some(),
        raw.dns_silent.is_some(),
        raw.wait_dns.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(
            "give exactly one of sleep, wait_log, wait_state, wait_conns, sample, \
                    client, set_server, cli, dns_set, dns_remove, dns_silent, wait_dns"
                .into(),
        );
    }
    if raw.addrs.is_some() && raw.dns_set.is_none() {
        return Err("addrs: only with dns_set".into());
    }
    let timeout = match &raw.timeout {
        Some(t) => duration(t)?,
        None => Duration::from_secs(10),
    };
    if timeout > Duration::from_secs(60) {
        return Err("timeout: at most 60s".into());
    }
    if let Some(d) = raw.sleep {
        let d = duration(&d)?;
        if d > Duration::from_secs(30) {
            return Err("sleep: at most 30s".into());
        }
        return Ok(Step::Sleep(d));
    }
    if let Some(p) = raw.wait_log {
        let pattern = regex::Regex::new(&p).map_err(|e| format!("wait_log: {e}"))?;
        return Ok(Step::WaitLog { pattern, timeout });
    }
    if let Some(w) = raw.wait_state {
        let (server, status) = w
            .split_once(' ')
            .ok_or("wait_state: expected \"backend/server STATUS\"")?;
        return Ok(Step::WaitState {
            server: server.into(),
            status: status.trim().into(),
            timeout,
        });
    }
    if let Some(count) = raw.wait_conns {
        let server = raw.server.ok_or("wait_conns: needs `server`")?;
        return Ok(Step::WaitConns {
            server,
            count,
            timeout,
        });
    }
    if raw.sample == Some(true) {
        return Ok(Step::Sample);
    }
    if let Some(frontend) = raw.client {
        return Ok(Step::Client(ClientSpec {
            frontend,
            send: unescape(raw.send.as_deref().unwrap_or(""))?,
            shutdown: raw.shutdown.unwrap_or(false),
            close_now: raw.close_now.unwrap_or(false),
            close_after: raw.close_after.as_deref().map(duration).transpose()?,
            background: raw.background.unwrap_or(false),
            timeout: raw
                .timeout
                .as_deref()
                .map(duration)
                .transpose()?
                .unwrap_or(Duration::from_secs(3)),
        }));
    }
    if let Some(server) = raw.set_server {
        let spec = ServerSpec {
            refuse: raw.refuse.unwrap_or(false),
            blackhole: false,
            ignore_bytes: false,
            tls: raw.tls.unwrap_or(false),
            script: raw.script.unwrap_or_default(),
            mask: Vec::new(),
            ip: None,
        };
        parse_script(&spec.script).map_err(|e| format!("script: {e}"))?;
        return Ok(Step::SetServer { server, spec });
    }
    if let Some(name) = raw.dns_set {
        let addrs = raw
            .addrs
            .ok_or("dns_set: needs `addrs` (an empty list: an empty answer)")?;
        return Ok(Step::DnsSet {
            name: dns_name(&name)?,
            addrs,
        });
    }
    if let Some(name) = raw.dns_remove {
        return Ok(Step::DnsRemove(dns_name(&name)?));
    }
    if let Some(silent) = raw.dns_silent {
        return Ok(Step::DnsSilent(silent));
    }
    if let Some(name) = raw.wait_dns {
        return Ok(Step::WaitDns {
            name: dns_name(&name)?,
            timeout,
        });
    }
    match raw.cli {
        Some(command) => Ok(Step::Cli {
            command,
            columns: raw.columns.unwrap_or_default(),
        }),
        None => Err("sample = false does nothing; remove the step".into()),
    }
}

/// Parses a server script into actions.
pub fn parse_script(lines: &[String]) -> Result<Vec<Action>, String> {
    lines
        .iter()
        .map(|line| {
            let (word, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let action = match word {
                "recv" if arg.is_empty() => Action::Recv,
                "recv" => Action::RecvBytes(
                    arg.parse()
                        .map_err(|_| format!("recv {arg}: not a count"))?,
                ),
                "recv-until" => Action::RecvUntil(unescape(arg)?),
                "send" => Action::Send(unescape(arg)?),
                "sleep" => Action::Sleep(duration(arg)?),
                "close" => Action::Close,
                "reset" => Action::Reset,
                "hang" => Action::Hang,
                _ => {
                    return Err(format!(
                        "'{line}': expected recv [N], recv-until BYTES, send BYTES, sleep DUR, \
                         close, reset or hang"
                    ));
                }
            };
            Ok(action)
        })
        .collect()
}

/// A host name as the name server matches it: lower case, without a
/// trailing dot, labels of letters, digits, `-` and `_` of 1 to 63 bytes.
fn dns_name(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let valid = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() > 253 || !name.split('.').all(valid) {
        return Err(format!("'{text}': not a host name"));
    }
    Ok(name)
}

/// Parses `500ms`, `2s`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let err = || format!("'{text}': expected a duration such as 500ms or 2s");
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().map(Duration::from_millis).map_err(|_| err());
    }
    if let Some(s) = text.strip_suffix('s') {
        return s.parse().map(Duration::from_secs).map_err(|_| err());
    }
    Err(err())
}

/// Turns `\r`, `\n`, `\t`, `\0`, `\\` and `\xHH` into bytes.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).unwrap_or("");
                let v = u8::from_str_radix(hex, 16)
                    .map_err(|_| format!("'{text}': \\x needs two hex digits"))?;
                out.push(v);
            }
            _ => {
                return Err(format!(
                    "'{text}': unknown escape (use \\r \\n \\t \\0 \\\\ \\xHH)"
                ));
            }
        }
    }
    Ok(out)
}

/// Shows bytes as text with the escapes [`unescape`] reads.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let bytes = b"GET / HTTP/1.0\r\n\x00\xff\\";
        assert_eq!(unescape(&escape(bytes)).unwrap(), bytes);
    }

    #[test]
    fn a_step_with_two_actions_is_refused_with_its_number() {
        let text = "description = \"x\"\nconfig = \"{{stats}}\"\n[[steps]]\nsleep = \"1s\"\nsample = true\n";
        let err = parse("x", text).unwrap_err();
        assert!(err.starts_with("steps[1]: give exactly one"), "{err}");
    }

    #[test]
    fn dns_steps_need_a_name_server_and_names_read_lower_case() {
        let head = "description = \"x\"\nconfig = \"{{stats}}\"\n";
        let step = "[[steps]]\ndns_set = \"GW.test.\"\naddrs = [\"127.0.0.12\", \"::1\"]\n";
        let err = parse("x", &format!("{head}{step}")).unwrap_err();
        assert_eq!(err, "steps[1]: no [dns] element");
        let dns = "[dns]\nnames = { \"Gw.Test\" = [\"127.0.0.11\"] }\n";
        let s = parse("x", &format!("{head}{dns}{step}")).unwrap();
        let spec = s.dns.unwrap();
        assert_eq!(spec.names.keys().collect::<Vec<_>>(), ["gw.test"]);
        assert_eq!(spec.ttl, 300);
        let Step::DnsSet { name, addrs } = &s.steps[0] else {
            panic!("{:?}", s.steps[0]);
        };
        assert_eq!((name.as_str(), addrs.len()), ("gw.test", 2));
        let bad = "[[steps]]\ndns_remove = \"a..b\"\n";
        let err = parse("x", &format!("{head}{dns}{bad}")).unwrap_err();
        assert!(err.contains("not a host name"), "{err}");
        let no_addrs = "[[steps]]\ndns_set = \"gw.test\"\n";
        let err = parse("x", &format!("{head}{dns}{no_addrs}")).unwrap_err();
        assert!(err.contains("needs `addrs`"), "{err}");
    }

    #[test]
    fn a_server_ip_must_be_another_loopback_address() {
        let head = "description = \"x\"\nconfig = \"{{stats}}\"\n[servers.a]\n";
        assert!(parse("x", &format!("{head}ip = \"127.0.0.2\"\n")).is_ok());
        for ip in ["127.0.0.1", "10.0.0.1"] {
            let err = parse("x", &format!("{head}ip = \"{ip}\"\n")).unwrap_err();
            assert!(err.starts_with("servers.a.ip:"), "{err}");
        }
    }

    #[test]
    fn a_bad_script_names_the_server() {
        let text =
            "description = \"x\"\nconfig = \"{{stats}}\"\n[servers.s1]\nscript = [\"sned x\"]\n";
        let err = parse("x", text).unwrap_err();
        assert!(err.starts_with("servers.s1.script: 'sned x'"), "{err}");
    }
}
