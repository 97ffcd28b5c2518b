//! `resolvers` sections and the DNS keywords of `server`/`default-server`
//! lines (`resolvers`, `resolve-prefer`, `resolve-net`, `resolve-opts`,
//! `init-addr`), with HAProxy 2.6's defaults and messages
//! (`cfg_parse_resolvers` in src/resolvers.c, `srv_parse_*` and
//! `srv_iterate_initaddr` in src/server.c).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::super::units::time;
use super::{Diags, Stmt, split_host_port, strip_family};
use crate::config::dns::{Family, InitAddr, Nameserver, Net, Resolvers, ServerDns};
use crate::config::{Host, Origin};
use crate::dns::message::Name;

/// The server keywords handled here.
pub(super) const SERVER: &[&str] = &[
    "resolvers",
    "resolve-prefer",
    "resolve-net",
    "resolve-opts",
    "init-addr",
];

/// The keywords of a `resolvers` section.
const SECTION: &[&str] = &[
    "nameserver",
    "accepted_payload_size",
    "resolve_retries",
    "timeout",
    "hold",
    "parse-resolv-conf",
];

/// Opens `resolvers <name>`: a new section, or an error (and `None`).
pub(super) fn open(diags: &mut Diags, known: &[Resolvers], st: &Stmt<'_>) -> Option<Resolvers> {
    let name = st.word(1);
    if name.is_empty() {
        diags.error(&st.origin, "missing name for resolvers section.");
        return None;
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        diags.error(
            &st.origin,
            format!("character '{bad}' is not permitted in 'resolvers' name '{name}'."),
        );
        return None;
    }
    if let Some(first) = known.iter().find(|r| r.name == name) {
        diags.error(
            &st.origin,
            format!(
                "resolvers '{name}' has same name as another resolvers (declared at {}).",
                first.origin
            ),
        );
        return None;
    }
    Some(Resolvers::new(name, st.origin.clone()))
}

/// One statement inside a `resolvers` section.
pub(super) fn keyword(diags: &mut Diags, r: &mut Resolvers, st: &Stmt<'_>) {
    if let Err(e) = apply(r, st) {
        diags.error(&st.origin, e);
    }
}

fn apply(r: &mut Resolvers, st: &Stmt<'_>) -> Result<(), String> {
    let keyword = st.word(0);
    match keyword {
        "nameserver" => {
            let (id, spec) = (st.word(1), st.word(2));
            if spec.is_empty() {
                return Err("'nameserver' expects <name> and <addr>[:<port>] as arguments.".into());
            }
            if r.nameservers.iter().any(|n| n.name == id) {
                return Err(format!(
                    "nameserver '{id}' has same name as another nameserver."
                ));
            }
            let addr = nameserver_addr(spec).map_err(|e| format!("'nameserver {id}' : {e}"))?;
            r.nameservers.push(Nameserver {
                name: id.to_owned(),
                addr,
            });
        }
        "accepted_payload_size" => {
            let value = st.word(1);
            if value.is_empty() {
                return Err("'accepted_payload_size' expects <nb> as argument.".into());
            }
            // HAProxy: DNS_HEADER_SIZE (12) to DNS_MAX_UDP_MESSAGE (65535).
            r.payload_size = value
                .parse::<u16>()
                .ok()
                .filter(|n| *n >= 12)
                .ok_or_else(|| {
                    format!(
                        "'accepted_payload_size' must be between 12 and 65535 inclusive (was \
                         {value})."
                    )
                })?;
        }
        "resolve_retries" => {
            let value = st.word(1);
            if value.is_empty() {
                return Err("'resolve_retries' expects <nb> as argument.".into());
            }
            r.retries = value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    format!("'resolve_retries' expects a number between 1 and 1000, got '{value}'")
                })?;
        }
        "timeout" => {
            let slot = match st.word(1) {
                "retry" => &mut r.timeout_retry,
                "resolve" => &mut r.timeout_resolve,
                other => {
                    return Err(format!(
                        "'timeout' expects 'retry' or 'resolve' and <time> as arguments got \
                         '{other}'."
                    ));
                }
            };
            let value = st.word(2);
            if value.is_empty() {
                return Err(format!(
                    "'timeout {}' expects <time> as argument.",
                    st.word(1)
                ));
            }
            let t = time(value, &format!("timeout {}", st.word(1)))?;
            if t.is_zero() {
                return Err(format!(
                    "'timeout {}' expects a time above 0, got '{value}'",
                    st.word(1)
                ));
            }
            *slot = t;
        }
        "hold" => {
            let value = st.word(2);
            if value.is_empty() {
                return Err(
                    "'hold' expects an <event> and a <time> as arguments; <event> can be \
                            either 'valid', 'nx', 'refused', 'timeout', or 'other'"
                        .into(),
                );
            }
            let t = time(value, "hold")?;
            let h = &mut r.hold;
            *match st.word(1) {
                "nx" => &mut h.nx,
                "other" => &mut h.other,
                "refused" => &mut h.refused,
                "timeout" => &mut h.timeout,
                "valid" => &mut h.valid,
                "obsolete" => &mut h.obsolete,
                other => {
                    return Err(format!(
                        "'hold' unknown <event>: '{other}', expects either 'nx', 'timeout', \
                         'valid', 'obsolete' or 'other'."
                    ));
                }
            } = t;
        }
        "parse-resolv-conf" => {
            return Err(
                "'parse-resolv-conf' is not supported yet: list the name servers \
                        with 'nameserver <id> <ip>:<port>'"
                    .into(),
            );
        }
        other => {
            let hint = super::hint(other, SECTION.iter().copied());
            return Err(format!(
                "unknown keyword '{other}' in 'resolvers' section{hint}"
            ));
        }
    }
    Ok(())
}

/// A nameserver's address: an IP and a port, UDP.
fn nameserver_addr(spec: &str) -> Result<SocketAddr, String> {
    if let Some(rest) = spec.strip_prefix("tcp@") {
        return Err(format!(
            "'tcp@{rest}': DNS over TCP is not supported: weir queries name servers over UDP \
             (write '{rest}' or 'udp@{rest}')"
        ));
    }
    let rest = spec.strip_prefix("udp@").unwrap_or(spec);
    let (_, rest) = strip_family(rest)?;
    if rest.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return Err(format!("missing port specification in '{rest}'"));
    }
    let (host, port) = split_host_port(rest).ok_or_else(|| format!("invalid address '{spec}'"))?;
    let ip = host
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid address '{host}': name servers are given by IP address"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port '{port}'"))?;
    Ok(SocketAddr::new(ip, port))
}

/// The DNS keywords of a server line, before [`DnsParams::host`] settles
/// how the server gets its address.
#[derive(Debug, Default)]
pub(super) struct DnsParams {
    resolvers: Option<String>,
    prefer: Family,
    nets: Vec<Net>,
    allow_dup_ip: bool,
    init: Option<Vec<InitAddr>>,
}

impl DnsParams {
    /// Takes `param` if it is one of [`SERVER`]; `value` gives its
    /// argument. `None`: not a DNS keyword.
    pub(super) fn param<'w>(
        &mut self,
        param: &str,
        value: impl FnOnce() -> &'w str,
    ) -> Option<Result<(), String>> {
        if !SERVER.contains(&param) {
            return None;
        }
        let v = value();
        let result = match param {
            "resolvers" => match v {
                "" => Err("'resolvers' expects <name> as argument.".into()),
                name => {
                    self.resolvers = Some(name.to_owned());
                    Ok(())
                }
            },
            "resolve-prefer" => match v {
                "ipv4" => {
                    self.prefer = Family::V4;
                    Ok(())
                }
                "ipv6" => {
                    self.prefer = Family::V6;
                    Ok(())
                }
                _ => Err("'resolve-prefer' expects either ipv4 or ipv6 as argument.".into()),
            },
            "resolve-net" => self.nets(v),
            "resolve-opts" => self.opts(v),
            "init-addr" => self.init_addr(v),
            _ => return None,
        };
        Some(result)
    }

    fn nets(&mut self, list: &str) -> Result<(), String> {
        if list.is_empty() {
            return Err("'resolve-net' expects a list of networks.".into());
        }
        for item in list.split(',').filter(|i| !i.is_empty()) {
            // HAProxy: SRV_MAX_PREF_NET.
            if self.nets.len() >= 5 {
                return Err("'resolve-net' exceed 5 networks.".into());
            }
            let net = parse_net(item)
                .ok_or_else(|| format!("'resolve-net' invalid network '{item}'."))?;
            self.nets.push(net);
        }
        Ok(())
    }

    fn opts(&mut self, list: &str) -> Result<(), String> {
        for opt in list.split(',').filter(|o| !o.is_empty()) {
            match opt {
                "allow-dup-ip" => self.allow_dup_ip = true,
                "prevent-dup-ip" => self.allow_dup_ip = false,
                "ignore-weight" => {}
                other => {
                    return Err(format!(
                        "'resolve-opts' : unknown resolve-opts option '{other}', supported \
                         methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'."
                    ));
                }
            }
        }
        Ok(())
    }

    fn init_addr(&mut self, list: &str) -> Result<(), String> {
        let mut methods = Vec::new();
        for method in list.split(',').filter(|m| !m.is_empty()) {
            let m = match method {
                "libc" => InitAddr::Libc,
                "last" => InitAddr::Last,
                "none" => InitAddr::None,
                ip => match ip.parse::<IpAddr>() {
                    Ok(ip) => {
                        if methods.iter().any(|m| matches!(m, InitAddr::Ip(_))) {
                            return Err(format!(
                                "'init-addr' : initial address already specified, cannot add \
                                 '{ip}'."
                            ));
                        }
                        InitAddr::Ip(ip)
                    }
                    Err(_) => {
                        return Err(format!(
                            "'init-addr' : unknown init-addr method '{method}', supported \
                             methods are 'libc', 'last', 'none'."
                        ));
                    }
                },
            };
            // HAProxy keeps each method once, in the order first given.
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        if methods.is_empty() {
            return Err(
                "'init-addr' expects a list of methods: libc, last, none or an IP \
                        address."
                    .into(),
            );
        }
        self.init = Some(methods);
        Ok(())
    }

    /// How a server given by host name `hostname` gets its address: the
    /// `init-addr` methods in order (default `last,libc`, plus `none`
    /// with `resolvers`), and its DNS settings with `resolvers`. `libc`
    /// runs `resolve`; `last` is applied when the state file is loaded.
    /// `Err`: HAProxy's message when no method gives an address; `warn`
    /// gets HAProxy's warning when `libc` failed before `none` or an IP.
    pub(super) fn host(
        self,
        hostname: &str,
        resolve: super::Resolve<'_>,
        warn: &mut Option<String>,
    ) -> Result<(Host, Option<IpAddr>), String> {
        let methods = self.init.unwrap_or_else(|| {
            let mut m = vec![InitAddr::Last, InitAddr::Libc];
            if self.resolvers.is_some() {
                m.push(InitAddr::None);
            }
            m
        });
        let dns = match self.resolvers {
            Some(resolvers) => {
                if hostname.starts_with('_') {
                    return Err(format!(
                        "'{hostname}': SRV records are not supported yet: give the host name \
                         of the servers (A/AAAA records)"
                    ));
                }
                if let Err(e) = Name::parse(hostname) {
                    return Err(format!("invalid host name '{hostname}': {e}"));
                }
                Some(ServerDns {
                    hostname: hostname.to_owned(),
                    resolvers,
                    prefer: self.prefer,
                    nets: self.nets,
                    allow_dup_ip: self.allow_dup_ip,
                })
            }
            None => None,
        };
        let mut host = Host {
            name: hostname.to_owned(),
            dns,
            unresolved: false,
            last_first: false,
        };
        let (mut last_seen, mut failed) = (false, false);
        for method in methods {
            match method {
                InitAddr::Last => last_seen = true,
                InitAddr::Libc => {
                    if let Some(ip) = resolve(hostname) {
                        host.last_first = last_seen;
                        return Ok((host, Some(ip)));
                    }
                    failed = true;
                }
                InitAddr::None => {
                    if failed {
                        *warn = Some(format!(
                            "could not resolve address '{hostname}', disabling server."
                        ));
                    }
                    host.unresolved = true;
                    host.last_first = last_seen;
                    return Ok((host, None));
                }
                InitAddr::Ip(ip) => {
                    if failed {
                        *warn = Some(format!(
                            "could not resolve address '{hostname}', falling back to \
                             configured address."
                        ));
                    }
                    host.last_first = last_seen;
                    return Ok((host, Some(ip)));
                }
            }
        }
        // Only `last` was left: weir reads the state file after the
        // configuration, so it cannot be the only way (HAProxy's alert).
        Err(format!("could not resolve address '{hostname}'."))
    }
}

/// `a.b.c.d/len`, `a.b.c.d/mask`, `a.b.c.d` (a /32) or an IPv6 network.
fn parse_net(text: &str) -> Option<Net> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return None,
            Err(_) if addr.is_ipv4() => {
                let mask: Ipv4Addr = l.parse().ok()?;
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return None;
                }
                bits.leading_ones() as u8
            }
            Err(_) => return None,
        },
    };
    Some(Net { addr, prefix })
}

/// Checks, once every section is read, that each server's `resolvers`
/// names a section (HAProxy's message).
pub(super) fn check_references(
    diags: &mut Diags,
    known: &[Resolvers],
    proxy: (&str, &str),
    server: &str,
    host: &Host,
    origin: &Origin,
) {
    if let Some(dns) = &host.dns {
        if !known.iter().any(|r| r.name == dns.resolvers) {
            diags.error(
                origin,
                format!(
                    "{} '{}', server '{server}': unable to find required resolvers '{}'",
                    proxy.0, proxy.1, dns.resolvers
                ),
            );
        }
    }
}

/// Checks a section once it ends: without a name server, HAProxy warns
/// (its names then never resolve).
pub(super) fn close(diags: &mut Diags, r: &Resolvers) {
    if r.nameservers.is_empty() {
        diags.warn(
            &r.origin,
            format!("resolvers '{}' has no nameservers configured!", r.name),
        );
    }
}

/// Most servers one `server-template` line may create.
const TEMPLATE_MAX: u32 = 10_000;

/// The server names of `server-template <prefix> <num | low-high> ...`
/// (HAProxy's `_srv_parse_tmpl_range`: `3` is 1 to 3).
pub(super) fn template_names(st: &Stmt<'_>) -> Result<Vec<String>, String> {
    if st.words.len() < 4 {
        return Err(
            "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.".into(),
        );
    }
    let (prefix, range) = (st.word(1), st.word(2));
    let wrong = || format!("Wrong server-template number or range arg '{range}'.");
    let (low, high) = match range.split_once('-') {
        Some((l, h)) => (l.parse::<u32>(), h.parse::<u32>()),
        None => (Ok(1), range.parse::<u32>()),
    };
    let (low, high) = (low.map_err(|_| wrong())?, high.map_err(|_| wrong())?);
    if high < low || high == 0 {
        return Err(wrong());
    }
    if high - low >= TEMPLATE_MAX {
        return Err(format!(
            "'server-template {prefix} {range}': weir creates at most {TEMPLATE_MAX} servers \
             per line"
        ));
    }
    Ok((low.max(1)..=high)
        .map(|i| format!("{prefix}{i}"))
        .collect())
}
