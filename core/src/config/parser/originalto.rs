//! `option originalto [except <network>] [header <name>]`: an HTTP
//! option HAProxy 2.6 accepts in TCP mode and ignores with a warning, as
//! weir does; its arguments are checked as HAProxy checks them.

use std::net::IpAddr;

use super::{Diags, Stmt};

/// Checks the arguments of `option originalto` (in `st`, after
/// `option`), with HAProxy's messages; whether they are valid.
pub(super) fn check(diags: &mut Diags, st: &Stmt<'_>, enable: bool) -> bool {
    if !enable {
        diags.error(
            &st.origin,
            "negation/default is not supported for option 'originalto'.",
        );
        return false;
    }
    let mut i = 2;
    while !st.word(i).is_empty() {
        let (arg, value) = (st.word(i), st.word(i + 1));
        let error = match arg {
            "except" if !network(value) => "expects <address>[/mask] as argument.",
            "header" if value.is_empty() => "expects <header_name> as argument.",
            "except" | "header" => {
                i += 2;
                continue;
            }
            _ => {
                diags.error(
                    &st.origin,
                    "'option originalto' only supports optional values: 'except' and 'header'.",
                );
                return false;
            }
        };
        diags.error(&st.origin, format!("'option originalto {arg}' {error}"));
        return false;
    }
    true
}

/// Whether `text` is an address with an optional mask, as HAProxy's
/// `str2net` (IPv4, mask as a length or dotted) or `str62net` (IPv6).
fn network(text: &str) -> bool {
    let (addr, mask) = match text.split_once('/') {
        Some((addr, mask)) => (addr, Some(mask)),
        None => (text, None),
    };
    match (addr.parse::<IpAddr>(), mask) {
        (Ok(_), None) => true,
        (Ok(IpAddr::V4(_)), Some(mask)) => {
            mask.parse::<u8>().is_ok_and(|m| m <= 32) || mask.parse::<std::net::Ipv4Addr>().is_ok()
        }
        (Ok(IpAddr::V6(_)), Some(mask)) => mask.parse::<u8>().is_ok_and(|m| m <= 128),
        (Err(_), _) => false,
    }
}
