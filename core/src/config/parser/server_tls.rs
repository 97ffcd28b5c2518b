//! The TLS keywords of `server`/`default-server` lines that tune weir's
//! TLS client: `ciphers`, `ciphersuites`, `ssl-min-ver`, `ssl-max-ver`,
//! `no-*`/`force-*` versions, `tls-tickets`, `ssl-reuse`, `alpn` and
//! `crl-file` (HAProxy 2.6's `srv_kws` in cfgparse-ssl.c, same messages).

use crate::config::CheckTls;
use crate::config::tls_params::ciphers;

/// The server keywords handled here.
pub(super) const SERVER: &[&str] = &[
    "ciphers",
    "ciphersuites",
    "ssl-min-ver",
    "ssl-max-ver",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "tls-tickets",
    "no-tls-tickets",
    "ssl-reuse",
    "no-ssl-reuse",
    "alpn",
    "crl-file",
];

/// Takes `param` into `tls` if it is one of [`SERVER`]; `value` gives its
/// argument, `warn` takes a warning. `None`: not one of them.
pub(super) fn param<'w>(
    tls: &mut CheckTls,
    param: &str,
    value: impl FnOnce() -> &'w str,
    warn: &mut dyn FnMut(String),
) -> Option<Result<(), String>> {
    if !SERVER.contains(&param) {
        return None;
    }
    Some(match param {
        "ciphers" | "ciphersuites" => suites(tls, param, value(), warn),
        "ssl-min-ver" | "ssl-max-ver" => tls.own.versions.minmax(param, value()),
        "tls-tickets" | "no-tls-tickets" => {
            tls.own.tickets = Some(param == "tls-tickets");
            Ok(())
        }
        "ssl-reuse" | "no-ssl-reuse" => {
            tls.no_reuse = param == "no-ssl-reuse";
            Ok(())
        }
        "alpn" => alpn(tls, value()),
        "crl-file" => match value() {
            "" => Err(format!("'{param}' : missing CRLfile path")),
            path => {
                tls.crl_file = Some(path.to_owned());
                Ok(())
            }
        },
        // `no-*` and `force-*`.
        _ => tls.own.versions.option(param),
    })
}

/// `ciphers` (TLS 1.2) or `ciphersuites` (TLS 1.3): the suites rustls has
/// are kept in order, the others named in a warning.
fn suites(
    tls: &mut CheckTls,
    param: &str,
    list: &str,
    warn: &mut dyn FnMut(String),
) -> Result<(), String> {
    if list.is_empty() {
        return Err(format!("'{param}' : missing cipher suite"));
    }
    let tls13 = param == "ciphersuites";
    let mapped = ciphers(list, tls13);
    let keep = !mapped.suites.is_empty();
    if !mapped.unknown.is_empty() {
        let then = if keep {
            "ignored"
        } else {
            "none of the list is left: weir keeps its default suites"
        };
        warn(format!(
            "'{param}': weir's TLS (rustls) cannot apply '{}': {then}.",
            mapped.unknown.join("', '")
        ));
    }
    let slot = if tls13 {
        &mut tls.own.tls13_suites
    } else {
        &mut tls.own.tls12_suites
    };
    *slot = keep.then_some(mapped.suites);
    Ok(())
}

/// `alpn <proto>[,<proto>...]`: HAProxy's length-prefixed list, checked
/// as it does (names up to 255 bytes; weir refuses empty ones).
fn alpn(tls: &mut CheckTls, list: &str) -> Result<(), String> {
    if list.is_empty() {
        return Err("'alpn' : missing the comma-delimited ALPN protocol suite".to_owned());
    }
    let mut protocols = Vec::new();
    for name in list.split(',') {
        if name.len() > 255 {
            return Err(format!("'alpn' : ALPN protocol name too long : '{name}'"));
        }
        // HAProxy would send an empty name, which servers refuse.
        if name.is_empty() {
            return Err(format!("'alpn' : empty protocol name in '{list}'"));
        }
        protocols.push(name.as_bytes().to_vec());
    }
    tls.alpn = protocols;
    Ok(())
}
