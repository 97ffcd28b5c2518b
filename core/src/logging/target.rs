//! `log` lines: where log lines go, in which header format, at which levels.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use crate::config::{LogDest, LogFormat, LogTarget, Severity, suggest};

/// Syslog's UDP port, for addresses without one.
const SYSLOG_PORT: u16 = 514;
/// Room in `sockaddr_un.sun_path`, its final NUL included.
const UNIX_PATH_MAX: usize = 108;

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const LEVELS: &[(&str, Severity)] = &[
    ("emerg", Severity::Emerg),
    ("alert", Severity::Alert),
    ("crit", Severity::Crit),
    ("err", Severity::Err),
    ("warning", Severity::Warning),
    ("notice", Severity::Notice),
    ("info", Severity::Info),
    ("debug", Severity::Debug),
];
const FORMATS: &[(&str, LogFormat)] = &[
    ("local", LogFormat::Local),
    ("rfc3164", LogFormat::Rfc3164),
    ("rfc5424", LogFormat::Rfc5424),
    ("priority", LogFormat::Priority),
    ("short", LogFormat::Short),
    ("timed", LogFormat::Timed),
    ("iso", LogFormat::Iso),
    ("raw", LogFormat::Raw),
];

/// Parses the words after `log` (not `global`):
/// `<address> [len <n>] [format <f>] <facility> [<max level> [<min level>]]`.
/// Its tag is left empty: the caller sets the proxy's or the global one.
pub(crate) fn parse(
    words: &[String],
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
) -> Result<LogTarget, String> {
    let Some(address) = words.first() else {
        return Err(
            "'log' expects an address such as /dev/log, 127.0.0.1:514 or stdout, \
                    or 'global'"
                .into(),
        );
    };
    let mut target = LogTarget {
        dest: destination(address, resolve)?,
        format: LogFormat::Default,
        len: 1024,
        facility: 0,
        max_level: Severity::Debug,
        min_level: Severity::Emerg,
        tag: String::new(),
    };
    let mut rest = words[1..].iter().map(String::as_str);
    let facility = loop {
        match rest.next() {
            Some("len") => {
                let len = rest.next().unwrap_or("");
                target.len = match len.parse::<usize>() {
                    Ok(n @ 80..=65535) => n,
                    _ => {
                        return Err(format!(
                            "invalid log length '{len}', must be between 80 and 65535"
                        ));
                    }
                };
            }
            Some("format") => {
                let name = rest.next().unwrap_or("");
                target.format = match FORMATS.iter().find(|(n, _)| *n == name) {
                    Some((_, format)) => *format,
                    None => {
                        let hint = hint(name, FORMATS.iter().map(|(n, _)| *n));
                        return Err(format!(
                            "unknown log format '{name}'{hint}: the formats are local, \
                             rfc3164, rfc5424, priority, short, timed, iso and raw"
                        ));
                    }
                };
            }
            Some("sample") => {
                return Err("'log ... sample' (sending a sample of the lines) is not \
                            supported yet"
                    .into());
            }
            Some(facility) => break facility,
            None => return Err("'log' needs a facility such as 'local0'".into()),
        }
    };
    target.facility = match FACILITIES.iter().position(|f| *f == facility) {
        Some(code) => code as u8,
        None => {
            let hint = hint(facility, FACILITIES.iter().copied());
            return Err(format!("unknown log facility '{facility}'{hint}"));
        }
    };
    let level = |word: &str, what: &str| {
        LEVELS
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, level)| *level)
            .ok_or_else(|| {
                let hint = hint(word, LEVELS.iter().map(|(n, _)| *n));
                format!("unknown optional {what}log level '{word}'{hint}")
            })
    };
    if let Some(max) = rest.next() {
        target.max_level = level(max, "")?;
    }
    if let Some(min) = rest.next() {
        target.min_level = level(min, "minimum ")?;
    }
    if let Some(extra) = rest.next() {
        return Err(format!("cannot handle unexpected argument '{extra}'"));
    }
    Ok(target)
}

fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

/// The address of a `log` line, as HAProxy 2.6 reads it.
fn destination(
    spec: &str,
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
) -> Result<LogDest, String> {
    match spec {
        "stdout" | "fd@1" => return Ok(LogDest::Stdout),
        "stderr" | "fd@2" => return Ok(LogDest::Stderr),
        _ => {}
    }
    if spec.starts_with('/') {
        return unix(spec);
    }
    let (family, rest) = match spec.split_once('@') {
        None => (None, spec),
        Some(("udp" | "ip", rest)) => (None, rest),
        Some(("udp4" | "ipv4", rest)) => (Some(4), rest),
        Some(("udp6" | "ipv6", rest)) => (Some(6), rest),
        Some(("unix", rest)) => return unix(rest),
        Some(("ring", _)) => {
            return Err(format!(
                "log target '{spec}': ring buffers ('ring@') are not supported yet; log to a \
                 UNIX socket such as /dev/log or to udp@host:port"
            ));
        }
        Some(("tcp" | "tcp4" | "tcp6", _)) => {
            return Err(format!(
                "log target '{spec}': syslog over TCP is not supported yet; use UDP \
                 (udp@host:port) or a UNIX socket such as /dev/log"
            ));
        }
        Some(("fd", _)) => {
            return Err(format!(
                "log target '{spec}': only fd@1 (stdout) and fd@2 (stderr) are supported"
            ));
        }
        Some((prefix, _)) => {
            return Err(format!(
                "log target '{spec}': address prefix '{prefix}@' is not supported; use \
                 udp@, udp4@, udp6@, ipv4@, ipv6@ or unix@"
            ));
        }
    };
    udp(spec, family, rest, resolve).map(LogDest::Udp)
}

fn unix(path: &str) -> Result<LogDest, String> {
    if path.is_empty() {
        return Err("'unix@' expects a socket path such as unix@/dev/log".into());
    }
    if path.len() >= UNIX_PATH_MAX {
        return Err(format!(
            "log socket path '{path}' is too long (at most {} bytes)",
            UNIX_PATH_MAX - 1
        ));
    }
    Ok(LogDest::Unix(Arc::from(Path::new(path))))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; port 514 when not given.
fn udp(
    spec: &str,
    family: Option<u8>,
    rest: &str,
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
) -> Result<SocketAddr, String> {
    let (host, port_text) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("log target '{spec}': missing ']'"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, port),
            None if after.is_empty() => (host, ""),
            None => return Err(format!("log target '{spec}': unexpected '{after}'")),
        }
    } else if rest.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(format!(
            "log target '{spec}': write an IPv6 address in brackets, as [{rest}]:514, so its \
             port cannot be mistaken for a part of it"
        ));
    } else {
        rest.rsplit_once(':').unwrap_or((rest, ""))
    };
    let port = match port_text {
        "" => SYSLOG_PORT,
        p => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("log target '{spec}': invalid port '{p}'")),
        },
    };
    if host.is_empty() {
        return Err(format!("log target '{spec}': missing address"));
    }
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => resolve(host)
            .ok_or_else(|| format!("log target '{spec}': could not resolve address '{host}'"))?,
    };
    match (family, ip) {
        (Some(4), IpAddr::V6(_)) | (Some(6), IpAddr::V4(_)) => Err(format!(
            "log target '{spec}': '{host}' is not an IPv{} address",
            family.unwrap_or(4)
        )),
        _ => Ok(SocketAddr::new(ip, port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<LogTarget, String> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&words, &mut |host| {
            (host == "syslog.example").then(|| IpAddr::from([192, 0, 2, 7]))
        })
    }

    fn dest(line: &str) -> LogDest {
        parse_line(line).unwrap().dest
    }

    #[test]
    fn addresses_as_haproxy() {
        let udp = |s: &str| LogDest::Udp(s.parse().unwrap());
        let unix = |p: &str| LogDest::Unix(Arc::from(Path::new(p)));
        assert_eq!(dest("/dev/log local0"), unix("/dev/log"));
        assert_eq!(dest("unix@/run/weir.sock local0"), unix("/run/weir.sock"));
        assert_eq!(dest("127.0.0.1 local0"), udp("127.0.0.1:514"));
        assert_eq!(dest("127.0.0.1: local0"), udp("127.0.0.1:514"));
        assert_eq!(dest("10.0.0.1:5514 local0"), udp("10.0.0.1:5514"));
        assert_eq!(dest("udp@10.0.0.1:5514 local0"), udp("10.0.0.1:5514"));
        assert_eq!(dest("ipv4@10.0.0.1 local0"), udp("10.0.0.1:514"));
        assert_eq!(dest("udp6@[::1]:5514 local0"), udp("[::1]:5514"));
        assert_eq!(dest("ipv6@[2001:db8::1] local0"), udp("[2001:db8::1]:514"));
        assert_eq!(dest("syslog.example:601 local0"), udp("192.0.2.7:601"));
        assert_eq!(dest("stdout local0"), LogDest::Stdout);
        assert_eq!(dest("fd@2 local0"), LogDest::Stderr);
    }

    #[test]
    fn unsupported_and_wrong_addresses_say_why() {
        let err = |line: &str| parse_line(line).unwrap_err();
        assert!(err("ring@buf local0").contains("ring buffers"));
        assert!(err("tcp@10.0.0.1:514 local0").contains("over TCP is not supported"));
        assert!(err("fd@3 local0").contains("only fd@1"));
        assert!(err("abns@x local0").contains("'abns@' is not supported"));
        assert!(err("::1 local0").contains("[::1]:514"));
        assert!(err("ipv6@10.0.0.1 local0").contains("not an IPv6 address"));
        assert!(err("nowhere.example local0").contains("could not resolve"));
        assert!(err("10.0.0.1:0 local0").contains("invalid port"));
        let long = format!("/{} local0", "x".repeat(120));
        assert!(err(&long).contains("too long"));
    }

    #[test]
    fn options_facility_and_levels() {
        let t = parse_line("/dev/log len 200 format rfc5424 local3 notice err").unwrap();
        assert_eq!(t.len, 200);
        assert_eq!(t.format, LogFormat::Rfc5424);
        assert_eq!(t.facility, 19);
        assert_eq!(t.max_level, Severity::Notice);
        assert_eq!(t.min_level, Severity::Err);
        let t = parse_line("/dev/log daemon").unwrap();
        assert_eq!(t.format, LogFormat::Default);
        assert_eq!((t.len, t.facility), (1024, 3));
        assert_eq!(
            (t.max_level, t.min_level),
            (Severity::Debug, Severity::Emerg)
        );
        for (name, format) in FORMATS {
            let t = parse_line(&format!("stdout format {name} local0")).unwrap();
            assert_eq!(t.format, *format);
        }
    }

    #[test]
    fn bad_options_are_refused_with_hints() {
        let err = |line: &str| parse_line(line).unwrap_err();
        assert_eq!(
            err("/dev/log len 79 local0"),
            "invalid log length '79', must be between 80 and 65535"
        );
        assert!(err("/dev/log format rfc3146 local0").contains("did you mean 'rfc3164'?"));
        assert!(err("/dev/log sample 1:2 local0").contains("not supported yet"));
        assert_eq!(
            err("/dev/log locl0"),
            "unknown log facility 'locl0' (did you mean 'local0'?)"
        );
        assert!(err("/dev/log local0 inf").contains("did you mean 'info'?"));
        assert!(err("/dev/log local0 info emrg").contains("minimum log level 'emrg'"));
        assert_eq!(
            err("/dev/log local0 info err x"),
            "cannot handle unexpected argument 'x'"
        );
        assert!(err("/dev/log").contains("facility"));
        assert!(err("").contains("expects an address"));
    }
}
