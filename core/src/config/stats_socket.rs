//! `stats socket`, `stats timeout` and `stats maxconn` in `global`: the
//! runtime API's listeners (HAProxy's `cli_parse_global` and the UNIX
//! bind keywords of `src/cfgparse-unix.c`).

use super::keywords::{BIND_LATER, suggest};
use super::parser::bind_addresses;
use super::units::{number, time};
use super::{Account, Origin, RuntimeApi, StatsAddr, StatsSocket};
use crate::runtime_api::Level;

/// The `stats socket` options weir implements.
const OPTIONS: &[&str] = &["level", "mode", "uid", "gid", "user", "group", "expose-fd"];

/// Longest UNIX socket path, as HAProxy's: `sun_path` less its NUL and
/// less room for `.<pid>.tmp`, the name the socket is bound under before
/// it is renamed to its path.
const MAX_PATH: usize = 97;

/// Applies one `stats <words>` statement of `global` to `api`.
pub(super) fn global_stats(
    api: &mut RuntimeApi,
    words: &[String],
    origin: &Origin,
) -> Result<(), String> {
    let arg = |i: usize| words.get(i).map_or("", String::as_str);
    match arg(0) {
        "socket" => {
            api.sockets.extend(socket(&words[1..], origin)?);
            Ok(())
        }
        "timeout" => {
            let timeout = time(arg(1), "stats timeout")?;
            if timeout.is_zero() {
                return Err("'stats timeout' expects a positive value".into());
            }
            extra(words, 2, "stats timeout")?;
            api.timeout = timeout;
            Ok(())
        }
        "maxconn" => {
            let n = number(arg(1), "stats maxconn", 1..=u64::from(u32::MAX))?;
            extra(words, 2, "stats maxconn")?;
            api.maxconn = n as u32;
            Ok(())
        }
        "bind-process" => {
            Err("'stats bind-process' is not supported: weir runs one process".into())
        }
        other => {
            let hint = suggest(other, ["socket", "timeout", "maxconn"])
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            Err(format!(
                "'stats' in 'global' supports 'socket', 'timeout' and 'maxconn' (got '{other}'){hint}"
            ))
        }
    }
}

/// Refuses words after the value of `keyword`.
fn extra(words: &[String], used: usize, keyword: &str) -> Result<(), String> {
    match words.get(used) {
        Some(word) => Err(format!("'{keyword}' takes one value (unexpected '{word}')")),
        None => Ok(()),
    }
}

/// `stats socket <address> [options]`: one socket per address.
fn socket(words: &[String], origin: &Origin) -> Result<Vec<StatsSocket>, String> {
    let Some(spec) = words.first() else {
        return Err(
            "'stats socket' expects an address or a path to a UNIX socket, \
                    such as /run/weir/admin.sock or ipv4@127.0.0.1:9999"
                .into(),
        );
    };
    let addrs = addresses(spec)?;
    let mut template = StatsSocket {
        addr: StatsAddr::Unix(String::new()),
        mode: None,
        uid: None,
        gid: None,
        level: Level::Operator,
        expose_fd: false,
        origin: origin.clone(),
    };
    let mut i = 1;
    while let Some(option) = words.get(i) {
        let option = option.as_str();
        let value = words.get(i + 1).map(String::as_str).unwrap_or("");
        if OPTIONS.contains(&option) && value.is_empty() {
            return Err(format!("'stats socket': '{option}' expects a value"));
        }
        match option {
            "level" => {
                template.level = match value {
                    "user" => Level::User,
                    "operator" => Level::Operator,
                    "admin" => Level::Admin,
                    _ => {
                        return Err(format!(
                            "'stats socket': 'level' only supports 'user', 'operator', and \
                             'admin' (got '{value}')"
                        ));
                    }
                }
            }
            // `mode 0` leaves the umask in effect, as HAProxy's.
            "mode" => {
                template.mode = Some(
                    u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777 && !value.starts_with('+'))
                        .ok_or_else(|| {
                            format!(
                                "'stats socket': invalid mode '{value}' (octal integer \
                                 expected, such as 600 or 0660)"
                            )
                        })?,
                )
                .filter(|m| *m != 0);
            }
            "uid" | "gid" => {
                let id = value.parse::<u32>().map_err(|_| {
                    format!("'stats socket': '{option}' expects a number, got '{value}'")
                })?;
                *owner(&mut template, option) = Some(Account::Id(id));
            }
            "user" | "group" => *owner(&mut template, option) = Some(Account::Name(value.into())),
            "expose-fd" if value == "listeners" => template.expose_fd = true,
            "expose-fd" => {
                return Err(format!(
                    "'stats socket': 'expose-fd' only supports 'listeners' (got '{value}')"
                ));
            }
            // HAProxy's other `bind` options.
            _ if BIND_LATER.contains(&option) => {
                return Err(format!(
                    "'stats socket': option '{option}' is not supported (weir implements \
                     level, mode, uid, gid, user, group and expose-fd)"
                ));
            }
            _ => {
                let hint = suggest(option, OPTIONS.iter().copied())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(format!("'stats socket': unknown option '{option}'{hint}"));
            }
        }
        i += 2;
    }
    let unix_only = template.mode.is_some() || template.uid.is_some() || template.gid.is_some();
    if unix_only && addrs.iter().any(|a| matches!(a, StatsAddr::Tcp(_))) {
        return Err(format!(
            "'stats socket {spec}': 'mode', 'uid', 'gid', 'user' and 'group' apply to UNIX \
             sockets only"
        ));
    }
    if template.expose_fd && addrs.iter().any(|a| matches!(a, StatsAddr::Tcp(_))) {
        return Err(format!(
            "'stats socket {spec}': 'expose-fd listeners' needs a UNIX socket (descriptors \
             pass only over UNIX sockets)"
        ));
    }
    Ok(addrs
        .into_iter()
        .map(|addr| StatsSocket {
            addr,
            ..template.clone()
        })
        .collect())
}

/// The socket's owner (`uid`, `user`) or group (`gid`, `group`) field.
fn owner<'a>(socket: &'a mut StatsSocket, option: &str) -> &'a mut Option<Account> {
    if matches!(option, "uid" | "user") {
        &mut socket.uid
    } else {
        &mut socket.gid
    }
}

/// The addresses of a `stats socket` spec: a path (absolute, or after
/// `unix@`), or TCP addresses as `bind` takes them.
fn addresses(spec: &str) -> Result<Vec<StatsAddr>, String> {
    let path = spec
        .strip_prefix("unix@")
        .or_else(|| spec.starts_with('/').then_some(spec));
    if let Some(path) = path {
        if path.is_empty() {
            return Err("'stats socket unix@' expects a path".into());
        }
        if path.len() > MAX_PATH {
            return Err(format!(
                "'stats socket': socket path '{path}' too long (max {MAX_PATH})"
            ));
        }
        return Ok(vec![StatsAddr::Unix(path.into())]);
    }
    if let Some((prefix, _)) = spec.split_once('@')
        && !matches!(prefix, "ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6" | "ip")
    {
        return Err(format!(
            "'stats socket {spec}': address prefix '{prefix}@' is not supported (use a path, \
             unix@<path>, ipv4@<address>:<port> or ipv6@<address>:<port>)"
        ));
    }
    let mut addrs = Vec::new();
    for part in spec.split(',') {
        let found = bind_addresses(part).map_err(|e| format!("'stats socket {part}': {e}"))?;
        addrs.extend(found.into_iter().map(StatsAddr::Tcp));
    }
    Ok(addrs)
}
