//! `source` on proxies (`defaults`, `backend`, `listen`) and on `server`
//! and `default-server` lines, with HAProxy 2.6's parsing and messages
//! (`cfgparse-listen.c`, `srv_parse_source`, `str2sa_range`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::{Diags, ProxyParts, Resolve, Stmt};
use crate::config::source::ConnSource;
use crate::config::{Backend, Server};

/// Proxy keywords parsed here.
pub(super) const KEYWORDS: &[&str] = &["source", "usesrc"];

/// Server parameters parsed here.
pub(super) const SERVER: &[&str] = &["source", "usesrc"];

/// HAProxy's `MAX_HDR_HISTORY`.
const MAX_HDR_HISTORY: i64 = 10;

/// Why weir refuses `usesrc` other than `hdr_ip(...)`.
const NO_TRANSPARENT: &str = "transparent proxying ('usesrc client', 'clientip' or an address) \
                              is not supported: weir binds server connections to local \
                              addresses only (no IP_TRANSPARENT); use 'source <addr>' with an \
                              address of this host";

/// What `defaults` pass on and proxies set: the proxy's `source`.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceSettings {
    source: Option<ConnSource>,
}

/// `source <addr>[:<port>] [usesrc ...] [interface <name>]` and a stray
/// `usesrc` in a proxy.
pub(super) fn keyword(
    diags: &mut Diags,
    p: &mut ProxyParts<'_>,
    st: &Stmt<'_>,
    resolve: Resolve<'_>,
) {
    if st.word(0) == "usesrc" {
        return diags.error(
            &st.origin,
            "'usesrc' only allowed after a 'source' statement.",
        );
    }
    if !p.kind.has_backend() {
        return p.ignored(diags, st, "source", false);
    }
    if st.word(1).is_empty() {
        return diags.error(
            &st.origin,
            "'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and 'interface' \
             <name>.",
        );
    }
    let spec = st.word(1);
    let (addr, ports) = match address(spec, false, resolve) {
        Ok(found) => found,
        Err(e) => return diags.error(&st.origin, format!("'source {spec}' : {e}")),
    };
    debug_assert!(ports.is_none());
    // A proxy's `source` starts over: no `usesrc`, no `interface`.
    let mut source = ConnSource {
        addr,
        ports: None,
        interface: None,
    };
    let mut i = 2;
    while !st.word(i).is_empty() {
        let value = st.word(i + 1);
        match st.word(i) {
            "usesrc" => match usesrc(value) {
                Ok(Some(header)) => diags.warn(
                    &st.origin,
                    format!(
                        "{} '{}' : ignoring use of header {header} as source IP in non-HTTP \
                         mode.",
                        super::proxy_word(p.kind),
                        p.name
                    ),
                ),
                Ok(None) => {}
                Err(e) => return diags.error(&st.origin, e),
            },
            "interface" if value.is_empty() => {
                return diags.error(&st.origin, "'source' : missing interface name.");
            }
            "interface" => source.interface = Some(Arc::from(value)),
            _ => {
                return diags.error(
                    &st.origin,
                    "'source' only supports optional keywords 'interface' and 'usesrc'.",
                );
            }
        }
        i += 2;
    }
    p.settings.source.source = Some(source);
}

/// A server's `source` so far (a `default-server`'s, then its own).
#[derive(Debug, Default)]
pub(super) struct ServerSource {
    source: Option<ConnSource>,
    /// The header of a `usesrc hdr_ip(...)`, ignored in TCP mode.
    header: Option<String>,
}

impl ServerSource {
    /// Parses `source ...` or a stray `usesrc` from `words` (after
    /// `param`); `None` when `param` is not one of [`SERVER`]. Options
    /// of `source` are taken while they come, but not from the last
    /// `keep` words (a `default-server`'s `source` ends with its line);
    /// the next other word is the next server parameter, as HAProxy.
    pub(super) fn param<'w, I>(
        &mut self,
        param: &str,
        words: &mut I,
        keep: usize,
        resolve: Resolve<'_>,
    ) -> Option<Result<(), String>>
    where
        I: ExactSizeIterator<Item = &'w str> + Clone,
    {
        match param {
            "source" => Some(self.source(words, keep, resolve)),
            "usesrc" => Some(Err(
                "'usesrc' only allowed after a 'source' statement.".into()
            )),
            _ => None,
        }
    }

    fn source<'w, I>(
        &mut self,
        words: &mut I,
        keep: usize,
        resolve: Resolve<'_>,
    ) -> Result<(), String>
    where
        I: ExactSizeIterator<Item = &'w str> + Clone,
    {
        let spec = words.next().unwrap_or("");
        if spec.is_empty() {
            return Err(
                "'source' expects <addr>[:<port>[-<port>]], and optionally 'usesrc' \
                        <addr>, and 'interface' <name> as argument."
                    .into(),
            );
        }
        let (addr, ports) =
            address(spec, true, resolve).map_err(|e| format!("'source {spec}' : {e}"))?;
        // As HAProxy's `srv_parse_source`: a range, an interface given
        // before (by `default-server`) stay unless replaced.
        let source = self.source.get_or_insert(ConnSource {
            addr,
            ports: None,
            interface: None,
        });
        source.addr = addr;
        if ports.is_some() {
            source.ports = ports;
        }
        while words.len() > keep {
            let mut ahead = words.clone();
            match ahead.next() {
                Some("usesrc") => {
                    if let Some(header) = usesrc(ahead.next().unwrap_or(""))? {
                        self.header = Some(header);
                    }
                }
                Some("interface") => {
                    let name = ahead.next().unwrap_or("");
                    if name.is_empty() {
                        return Err("'source' : missing interface name.".into());
                    }
                    if let Some(source) = &mut self.source {
                        source.interface = Some(Arc::from(name));
                    }
                }
                _ => return Ok(()),
            }
            *words = ahead;
        }
        Ok(())
    }

    /// Puts the `source` on `server`; the warning HAProxy gives for a
    /// `usesrc hdr_ip(...)` in TCP mode, if any.
    pub(super) fn apply(self, backend: &str, server: &mut Server) -> Option<String> {
        server.source = self.source;
        self.header.map(|header| {
            format!(
                "backend '{backend}' : server {} cannot use header {header} as source IP in \
                 non-HTTP mode.",
                server.name
            )
        })
    }
}

/// The proxy's `source`, from its settings.
pub(super) fn proxy_source(settings: &SourceSettings) -> Option<ConnSource> {
    settings.source.clone()
}

/// A backend's servers without a `source` of their own use the
/// backend's (HAProxy's `tcp_connect_server`: the server's first, then
/// the proxy's).
pub(super) fn inherit(backend: &mut Backend) {
    let Some(source) = &backend.source else {
        return;
    };
    for server in backend.servers.iter_mut().filter(|s| s.source.is_none()) {
        server.source = Some(source.clone());
    }
}

/// `usesrc <value>`: `Ok(Some(header))` for `hdr_ip(<header>...)`, which
/// HAProxy ignores in TCP mode with a warning; the other forms are
/// refused.
fn usesrc(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Err(
            "'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.".into(),
        );
    }
    let Some(rest) = value.strip_prefix("hdr_ip(") else {
        return Err(format!("'usesrc {value}' : {NO_TRANSPARENT}"));
    };
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == ',' || c == ')')
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    if let Some(occ) = after.trim_start().strip_prefix(',') {
        let sign = usize::from(occ.starts_with('-'));
        let digits = occ[sign..].bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = occ[sign..sign + digits].parse().unwrap_or(0);
        if sign == 1 && n > MAX_HDR_HISTORY {
            return Err(format!(
                "usesrc hdr_ip(name,num) does not support negative occurrences values smaller \
                 than {MAX_HDR_HISTORY}."
            ));
        }
    }
    Ok(Some(name.to_owned()))
}

/// HAProxy's `str2sa_range` for a `source` address: an optional
/// `ipv4@`/`ipv6@`/`ip@`/`tcp@`... prefix, an IP address (in brackets
/// for IPv6 with a port), a host name, or nothing/`*` for any address;
/// then `:<port>` or, when `range` (servers), `:<low>-<high>`.
pub(super) fn address(
    spec: &str,
    range: bool,
    resolve: Resolve<'_>,
) -> Result<(SocketAddr, Option<(u16, u16)>), String> {
    let (family, rest) = match spec.split_once('@') {
        None => (None, spec),
        Some(("ipv4" | "tcp4", rest)) => (Some(4), rest),
        Some(("ipv6" | "tcp6", rest)) => (Some(6), rest),
        Some(("ip" | "tcp", rest)) => (None, rest),
        Some(("udp" | "udp4" | "udp6" | "quic4" | "quic6", _)) => {
            return Err(format!("dgram-type address not acceptable in '{spec}'"));
        }
        Some(("fd" | "sockpair", _)) => {
            return Err(format!(
                "a file descriptor is not acceptable here in '{spec}'"
            ));
        }
        Some(("unix" | "abns", _)) => {
            return Err(format!(
                "'{spec}' is a UNIX socket address: weir connects to servers over TCP, from \
                 an IPv4 or IPv6 address"
            ));
        }
        Some((other, _)) => {
            return Err(format!("unknown address family '{other}' in '{spec}'"));
        }
    };
    // The port follows the last colon, unless a closing bracket comes
    // after it (HAProxy scans from the end).
    let split = rest.char_indices().rfind(|&(_, c)| c == ':' || c == ']');
    let (host, port_text) = match split {
        Some((i, ':')) => (&rest[..i], &rest[i + 1..]),
        _ => (rest, ""),
    };
    let (low, high) = ports(port_text, spec, range)?;
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        "" | "*" => match family {
            Some(6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
        literal => match literal.parse::<IpAddr>().ok().or_else(|| resolve(literal)) {
            Some(ip) => ip,
            None => return Err(format!("invalid address: '{host}' in '{spec}'")),
        },
    };
    let ip = match (family, ip) {
        (Some(4), IpAddr::V6(_)) | (Some(6), IpAddr::V4(_)) => {
            return Err(format!("invalid address: '{host}' in '{spec}'"));
        }
        (_, ip) => ip,
    };
    let ports = (low != high).then_some((low, high));
    Ok((SocketAddr::new(ip, low), ports))
}

/// The port part: empty (0), a port, or a range; HAProxy's `atoi` takes
/// the leading digits.
fn ports(text: &str, spec: &str, range: bool) -> Result<(u16, u16), String> {
    let atoi = |t: &str| -> u32 {
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        t[..digits]
            .parse::<u32>()
            .unwrap_or(if digits > 0 { u32::MAX } else { 0 })
    };
    match text.chars().next() {
        None => Ok((0, 0)),
        Some('0'..='9') => {
            let (a, b) = match text.split_once('-') {
                Some(_) if !range => {
                    return Err(format!("port range not permitted here in '{spec}'"));
                }
                Some((a, b)) => (a, b),
                None => (text, text),
            };
            let (low, high) = (atoi(a), atoi(b));
            if low > 65535 {
                return Err(format!("invalid port '{a}'"));
            }
            if high > 65535 {
                return Err(format!("invalid port '{b}'"));
            }
            if low > high {
                return Err(format!("invalid port range '{low}-{high}'"));
            }
            Ok((low as u16, high as u16))
        }
        Some('+' | '-') => Err(format!("port offset not permitted here in '{spec}'")),
        Some(c) => Err(format!(
            "invalid character '{c}' in port number '{text}' in '{spec}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str, range: bool) -> Result<(SocketAddr, Option<(u16, u16)>), String> {
        let mut resolve = |name: &str| (name == "localhost").then(|| IpAddr::from([127, 0, 0, 1]));
        address(spec, range, &mut resolve)
    }

    fn sa(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_as_haproxy_reads_them() {
        assert_eq!(parse("127.0.0.2", false), Ok((sa("127.0.0.2:0"), None)));
        assert_eq!(parse("127.0.0.2:", false), Ok((sa("127.0.0.2:0"), None)));
        assert_eq!(
            parse("127.0.0.2:10000", false),
            Ok((sa("127.0.0.2:10000"), None))
        );
        assert_eq!(
            parse("ipv4@127.0.0.2", false),
            Ok((sa("127.0.0.2:0"), None))
        );
        assert_eq!(parse("*", false), Ok((sa("0.0.0.0:0"), None)));
        assert_eq!(parse(":1000", false), Ok((sa("0.0.0.0:1000"), None)));
        assert_eq!(parse("ipv6@:5", false), Ok((sa("[::]:5"), None)));
        assert_eq!(parse("[::1]", false), Ok((sa("[::1]:0"), None)));
        assert_eq!(parse("[::1]:2000", false), Ok((sa("[::1]:2000"), None)));
        assert_eq!(parse("::1:0", false), Ok((sa("[::1]:0"), None)));
        assert_eq!(parse(":::1000", false), Ok((sa("[::]:1000"), None)));
        assert_eq!(parse("ipv6@::1:2000", false), Ok((sa("[::1]:2000"), None)));
        assert_eq!(parse("localhost", false), Ok((sa("127.0.0.1:0"), None)));
        assert_eq!(
            parse("127.0.0.2:1000-1010", true),
            Ok((sa("127.0.0.2:1000"), Some((1000, 1010))))
        );
        // One port written as a range is one port.
        assert_eq!(parse("127.0.0.2:7-7", true), Ok((sa("127.0.0.2:7"), None)));
    }

    #[test]
    fn mistakes_get_haproxys_messages() {
        let err = |spec: &str, range| parse(spec, range).unwrap_err();
        assert_eq!(err("::1", false), "invalid address: ':' in '::1'");
        assert_eq!(
            err("127.0.0.2:1000-1010", false),
            "port range not permitted here in '127.0.0.2:1000-1010'"
        );
        assert_eq!(
            err("127.0.0.2:1010-1000", true),
            "invalid port range '1010-1000'"
        );
        assert_eq!(err("127.0.0.2:1-", true), "invalid port range '1-0'");
        assert_eq!(err("127.0.0.2:70000", false), "invalid port '70000'");
        assert_eq!(
            err("127.0.0.2:x", false),
            "invalid character 'x' in port number 'x' in '127.0.0.2:x'"
        );
        assert_eq!(
            err("127.0.0.2:+1", false),
            "port offset not permitted here in '127.0.0.2:+1'"
        );
        assert_eq!(
            err("nosuch.invalid", false),
            "invalid address: 'nosuch.invalid' in 'nosuch.invalid'"
        );
        assert_eq!(
            err("udp@127.0.0.2", false),
            "dgram-type address not acceptable in 'udp@127.0.0.2'"
        );
        assert_eq!(
            err("fd@3", false),
            "a file descriptor is not acceptable here in 'fd@3'"
        );
        assert!(err("unix@/tmp/x", false).contains("UNIX socket"));
        assert!(err("ipv4@::1:0", false).contains("invalid address"));
    }

    #[test]
    fn usesrc_forms() {
        assert_eq!(
            usesrc("hdr_ip(x-forwarded-for,-1)"),
            Ok(Some("x-forwarded-for".into()))
        );
        assert_eq!(usesrc("hdr_ip( x )"), Ok(Some("x".into())));
        assert!(
            usesrc("hdr_ip(x,-11)")
                .unwrap_err()
                .contains("smaller than 10")
        );
        for refused in ["client", "clientip", "192.0.2.1"] {
            let e = usesrc(refused).unwrap_err();
            assert!(e.contains("IP_TRANSPARENT"), "{e}");
        }
        assert!(usesrc("").unwrap_err().contains("expects"));
    }
}
