//! The global TLS keywords of packaged configurations: `ca-base`,
//! `crt-base`, `ssl-default-server-*` (applied to weir's TLS client),
//! `ssl-default-bind-*` and `tune.ssl.default-dh-param` (accepted with a
//! warning: weir terminates no TLS), and the `tune.*` buffer sizes.

use super::{Diags, Stmt};
use crate::buffer::BUF_SIZE;
use crate::config::tls_params::{TlsParams, VersionFilter, ciphers};
use crate::config::{Backend, CheckTls};

/// The global keywords handled here.
pub(super) const KEYWORDS: &[&str] = &[
    "ca-base",
    "crt-base",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "tune.ssl.default-dh-param",
    "tune.bufsize",
    "tune.maxrewrite",
];

/// What the keywords set, applied to the servers once all is read.
#[derive(Debug, Default)]
pub(super) struct TlsGlobal {
    ca_base: Option<String>,
    crt_base: Option<String>,
    /// `ssl-default-server-ciphers` and `-ciphersuites`.
    server: TlsParams,
    /// `ssl-default-server-options`: the versions.
    versions: VersionFilter,
    /// `ssl-default-server-options no-tls-tickets`.
    no_tickets: bool,
}

/// Parses one of [`KEYWORDS`].
pub(super) fn keyword(diags: &mut Diags, state: &mut TlsGlobal, st: &Stmt<'_>) {
    if let Err(e) = parse(diags, state, st) {
        diags.error(&st.origin, e);
    }
}

fn parse(diags: &mut Diags, state: &mut TlsGlobal, st: &Stmt<'_>) -> Result<(), String> {
    let keyword = st.word(0);
    let arg = st.word(1);
    let options = keyword.ends_with("-options");
    if !options && st.words.len() > 2 {
        return Err(format!(
            "'{keyword}' cannot handle unexpected argument '{}'.",
            st.word(2)
        ));
    }
    match keyword {
        "ca-base" | "crt-base" => {
            let target = if keyword == "ca-base" {
                &mut state.ca_base
            } else {
                &mut state.crt_base
            };
            if target.is_some() {
                return Err(format!("'{keyword}' already specified."));
            }
            if arg.is_empty() {
                return Err(format!(
                    "global statement '{keyword}' expects a directory path as an argument."
                ));
            }
            *target = Some(arg.to_owned());
        }
        _ if arg.is_empty() && keyword.contains("cipher") => {
            return Err(format!(
                "global statement '{keyword}' expects a cipher suite as an argument."
            ));
        }
        _ if arg.is_empty() && options => {
            return Err(format!(
                "global statement '{keyword}' expects an option as an argument."
            ));
        }
        "ssl-default-server-ciphers" | "ssl-default-server-ciphersuites" => {
            let tls13 = keyword.ends_with("suites");
            let mapped = ciphers(arg, tls13);
            let keep = !mapped.suites.is_empty();
            if !mapped.unknown.is_empty() {
                let names = mapped.unknown.join("', '");
                let then = if keep {
                    "ignored"
                } else {
                    "none of the list is left: weir keeps its default suites"
                };
                diags.warn(
                    &st.origin,
                    format!("'{keyword}': weir's TLS (rustls) cannot apply '{names}': {then}."),
                );
            }
            let slot = if tls13 {
                &mut state.server.tls13_suites
            } else {
                &mut state.server.tls12_suites
            };
            *slot = keep.then_some(mapped.suites);
        }
        "ssl-default-server-options" | "ssl-default-bind-options" => {
            let (filter, no_tickets) = version_options(st)?;
            if keyword == "ssl-default-server-options" {
                filter
                    .apply(&mut TlsParams::default())
                    .map_err(|e| format!("'{keyword}': {e}."))?;
                state.versions = filter;
                state.no_tickets = no_tickets;
            } else {
                no_tls_termination(diags, st);
            }
        }
        "ssl-default-bind-ciphers" | "ssl-default-bind-ciphersuites" => {
            no_tls_termination(diags, st)
        }
        "tune.ssl.default-dh-param" => {
            let n = integer(keyword, arg)?;
            if n < 1024 {
                return Err(format!("'{keyword}' expects a value >= 1024."));
            }
            no_tls_termination(diags, st);
        }
        // `tune.bufsize` and `tune.maxrewrite`.
        _ => {
            let n = integer(keyword, arg)?;
            if keyword == "tune.bufsize" && n <= 0 || n < 0 {
                return Err(format!("'{keyword}' expects a positive integer argument."));
            }
            let note = if keyword == "tune.bufsize" {
                format!("weir's buffers stay {BUF_SIZE} bytes")
            } else {
                "weir rewrites no HTTP".to_owned()
            };
            diags.warn(&st.origin, format!("'{keyword}' ignored: {note}."));
        }
    }
    Ok(())
}

/// The version filter of an `ssl-default-*-options` line and whether it
/// says `no-tls-tickets`, with HAProxy's messages; `prefer-client-ciphers`
/// (for binds) is accepted and changes nothing in weir.
fn version_options(st: &Stmt<'_>) -> Result<(VersionFilter, bool), String> {
    let keyword = st.word(0);
    let mut filter = VersionFilter::default();
    let mut no_tickets = false;
    let mut i = 1;
    while i < st.words.len() {
        let option = st.word(i);
        match option {
            "no-tls-tickets" => no_tickets = true,
            "prefer-client-ciphers" if keyword == "ssl-default-bind-options" => {}
            "ssl-min-ver" | "ssl-max-ver" => {
                filter
                    .minmax(option, st.word(i + 1))
                    .map_err(|e| format!("{e} on global statement '{keyword}'."))?;
                i += 1;
            }
            _ => filter.option(option).map_err(|_| {
                format!("unknown option '{option}' on global statement '{keyword}'.")
            })?,
        }
        i += 1;
    }
    Ok((filter, no_tickets))
}

/// HAProxy reads integers with atol(): leading digits, with a sign.
fn integer(keyword: &str, arg: &str) -> Result<i64, String> {
    if arg.is_empty() {
        return Err(format!("'{keyword}' expects an integer argument."));
    }
    let (sign, digits) = match arg.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, arg.strip_prefix('+').unwrap_or(arg)),
    };
    let digits: String = digits.chars().take_while(char::is_ascii_digit).collect();
    Ok(sign * digits.parse::<i64>().unwrap_or(i64::MAX))
}

fn no_tls_termination(diags: &mut Diags, st: &Stmt<'_>) {
    diags.warn(
        &st.origin,
        format!(
            "'{}' ignored: weir terminates no TLS (it has no 'bind ... ssl').",
            st.word(0)
        ),
    );
}

/// Resolves the servers' relative `ca-file`, `crt` and `crl-file` paths
/// against `ca-base` and `crt-base`, and settles their TLS settings: the
/// server's own, else the `ssl-default-server-*` ones.
pub(super) fn apply(diags: &mut Diags, state: &TlsGlobal, backends: &mut [Backend]) {
    for backend in backends.iter_mut() {
        for server in &mut backend.servers {
            let mut result = Ok(false);
            for tls in [&mut server.check_tls, &mut server.rule_tls, &mut server.tls]
                .into_iter()
                .flatten()
            {
                result = result.and(apply_one(state, tls));
            }
            let (proxy, name) = (&backend.name, &server.name);
            match result {
                Ok(false) => {}
                Ok(true) => diags.warn(
                    &server.origin,
                    format!(
                        "'server {proxy}/{name}' : no-sslv3/no-tlsv1x are ignored for this \
                         server. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix."
                    ),
                ),
                Err(None) => diags.error(
                    &server.origin,
                    format!(
                        "'server {proxy}/{name}' : proxy '{proxy}': all SSL/TLS versions are \
                         disabled for server '{name}'."
                    ),
                ),
                Err(Some(e)) => {
                    diags.error(&server.origin, format!("'server {proxy}/{name}' : {e}."))
                }
            }
        }
    }
}

/// Settles one TLS setting; `Ok(true)`: the `no-*` flags were ignored;
/// `Err(None)`: no version at all is left, `Err(Some(_))`: none weir
/// speaks.
fn apply_one(state: &TlsGlobal, tls: &mut CheckTls) -> Result<bool, Option<String>> {
    for (path, base) in [
        (&mut tls.ca_file, &state.ca_base),
        (&mut tls.crl_file, &state.ca_base),
        (&mut tls.crt_file, &state.crt_base),
    ] {
        if let (Some(p), Some(base)) = (path.as_mut(), base) {
            if !p.starts_with('/') {
                *p = format!("{base}/{p}");
            }
        }
    }
    let own = &tls.own;
    tls.params = TlsParams {
        tls12_suites: own
            .tls12_suites
            .clone()
            .or(state.server.tls12_suites.clone()),
        tls13_suites: own
            .tls13_suites
            .clone()
            .or(state.server.tls13_suites.clone()),
        ..TlsParams::default()
    };
    tls.no_tickets = own.tickets.map_or(state.no_tickets, |on| !on);
    let (versions, ignored) = own.versions.over(state.versions).effective();
    if !versions.any() {
        return Err(None);
    }
    versions.apply(&mut tls.params).map_err(Some)?;
    Ok(ignored)
}
