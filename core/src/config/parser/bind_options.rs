//! The socket options of `bind` lines (HAProxy 2.6's TCP bind keywords
//! in cfgparse-tcp.c and `backlog` in listener.c, same messages); the
//! driver applies them to the listening socket.

use std::time::Duration;

use crate::config::BindOptions;
use crate::config::units::time;

/// The `bind` options handled here.
pub(super) const BIND: &[&str] = &[
    "backlog",
    "defer-accept",
    "interface",
    "mss",
    "tcp-ut",
    "tfo",
    "transparent",
    "v4v6",
    "v6only",
];

/// Takes `option` into `options` if it is one of [`BIND`]; `value` gives
/// its argument. `None`: not one of them.
pub(super) fn option<'w>(
    options: &mut BindOptions,
    option: &str,
    value: impl FnOnce() -> &'w str,
) -> Option<Result<(), String>> {
    if !BIND.contains(&option) {
        return None;
    }
    Some(match option {
        "backlog" => backlog(value(), option).map(|n| options.backlog = n),
        "defer-accept" => {
            options.defer_accept = true;
            Ok(())
        }
        "interface" => match value() {
            "" => Err(format!("'{option}' : missing interface name")),
            name if name.len() >= 16 || name.contains('\0') => Err(format!(
                "'{option}' : '{name}' is not an interface name (at most 15 bytes)"
            )),
            name => {
                options.interface = Some(name.to_owned());
                Ok(())
            }
        },
        "mss" => mss(value()).map(|n| options.mss = Some(n)),
        "tcp-ut" => tcp_ut(value()).map(|t| options.user_timeout = Some(t)),
        "tfo" => {
            options.fast_open = true;
            Ok(())
        }
        "transparent" => {
            options.transparent = true;
            Ok(())
        }
        "v4v6" => {
            options.v6only = Some(false);
            Ok(())
        }
        // `v6only`.
        _ => {
            options.v6only = Some(true);
            Ok(())
        }
    })
}

/// A `backlog` value (`bind` option or proxy keyword); 0 is the default
/// (`None`), as in HAProxy.
pub(super) fn backlog(arg: &str, keyword: &str) -> Result<Option<u32>, String> {
    if arg.is_empty() {
        return Err(format!("'{keyword}' : missing value"));
    }
    match atoi(arg) {
        0 => Ok(None),
        n if n > 0 => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
        n => Err(format!("'{keyword}' : invalid value {n}, must be > 0")),
    }
}

fn mss(arg: &str) -> Result<i32, String> {
    if arg.is_empty() {
        return Err("'mss' : missing MSS value".to_owned());
    }
    match atoi(arg) {
        n @ (1..=65535 | -65535..=-1) => Ok(n as i32),
        _ => Err("'mss' : expects an MSS with and absolute value between 1 and 65535".to_owned()),
    }
}

fn tcp_ut(arg: &str) -> Result<Duration, String> {
    if arg.is_empty() {
        return Err("'tcp-ut' : missing TCP User Timeout value".to_owned());
    }
    time(arg, "tcp-ut").map_err(|e| {
        if e.starts_with("timer overflow") {
            e
        } else {
            "'tcp-ut' : expects a positive delay in milliseconds".to_owned()
        }
    })
}

/// C's atoi: leading blanks, a sign, digits; 0 when there are none.
fn atoi(arg: &str) -> i64 {
    let s = arg.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits: String = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .take(12)
        .collect();
    sign * digits.parse::<i64>().unwrap_or(0)
}
