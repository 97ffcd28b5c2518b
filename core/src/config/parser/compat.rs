//! HTTP-only keywords that TCP-mode configurations carry, mostly in the
//! `defaults` of packaged files: accepted, and ignored with HAProxy 2.6's
//! warnings, as HAProxy does in TCP mode.
//!
//! `mode http` in a proxy that carries traffic stays an error (see
//! `http_mode_error`); these keywords only matter in `mode http`, so a
//! TCP proxy drops them.

use super::{Diags, Kind, ProxyParts, Stmt};
use crate::config::Origin;

/// Proxy keywords handled here.
pub(super) const KEYWORDS: &[&str] = &[
    "errorfile",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "http-reuse",
];

/// Which half of a proxy an option applies to (HAProxy's `PR_CAP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    Frontend,
    Backend,
    Both,
}

/// HAProxy 2.6's `option`s of `mode http` (`cfg_opts`/`cfg_opts2` in
/// src/proxy.c with `PR_MODE_HTTP`), in HAProxy's order, which is the
/// order of its warnings.
const HTTP_OPTIONS: &[(&str, Cap)] = &[
    ("checkcache", Cap::Backend),
    ("http-buffer-request", Cap::Both),
    ("http-ignore-probes", Cap::Frontend),
    ("idle-close-on-response", Cap::Frontend),
    ("prefer-last-server", Cap::Backend),
    ("accept-invalid-http-request", Cap::Frontend),
    ("accept-invalid-http-response", Cap::Backend),
    ("http-use-proxy-header", Cap::Frontend),
    ("http-pretend-keepalive", Cap::Backend),
    ("http-no-delay", Cap::Both),
    ("h1-case-adjust-bogus-client", Cap::Frontend),
    ("h1-case-adjust-bogus-server", Cap::Backend),
    ("disable-h2-upgrade", Cap::Frontend),
];

/// The HTTP connection modes: HAProxy accepts them in any mode and TCP
/// mode never uses them, silently.
const CONNECTION_MODES: &[&str] = &["httpclose", "http-server-close", "http-keep-alive"];

/// Options HAProxy 2.6 refuses, with its message.
const REMOVED: &[(&str, &str)] = &[
    (
        "forceclose",
        "option 'forceclose' is not supported any more since HAProxy 2.0, please just remove \
         it, or use 'option httpclose' if absolutely needed.",
    ),
    (
        "http-tunnel",
        "option 'http-tunnel' is not supported any more since HAProxy 2.1, please just remove \
         it, it shouldn't be needed.",
    ),
    (
        "http_proxy",
        "option 'http_proxy' is not supported any more since HAProxy 2.5. This option stopped \
         working in HAProxy 1.9 and usually had nasty side effects. It can be more reliably \
         implemented with combinations of 'http-request set-dst' and 'http-request set-uri', \
         and even 'http-request do-resolve' if DNS resolution is desired.",
    ),
];

/// The status codes HAProxy has an error message for (`http_err_codes`
/// in src/http.c).
const ERROR_CODES: &[u32] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// The HTTP-only options a section has set.
#[derive(Debug, Clone, Default)]
pub(super) struct HttpOptions {
    /// By index in [`HTTP_OPTIONS`].
    set: u32,
    /// `option httpclose`, with its line: weir's pages keep connections
    /// alive, so a `mode http` frontend refuses it.
    httpclose: Option<Origin>,
}

/// The `option` names handled here, for "did you mean" hints.
pub(super) fn option_names() -> impl Iterator<Item = &'static str> {
    let http = HTTP_OPTIONS.iter().map(|(n, _)| *n);
    let removed = REMOVED.iter().map(|(n, _)| *n);
    http.chain(CONNECTION_MODES.iter().copied()).chain(removed)
}

/// Whether `name` is an `option` handled here.
pub(super) fn is_option(name: &str) -> bool {
    HTTP_OPTIONS.iter().any(|(n, _)| *n == name)
        || CONNECTION_MODES.contains(&name)
        || REMOVED.iter().any(|(n, _)| *n == name)
}

/// `[no] option <name>` for a name [`is_option`] accepts.
pub(super) fn option(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>, enable: bool) {
    let name = st.word(1);
    if let Some((_, message)) = REMOVED.iter().find(|(n, _)| *n == name) {
        return diags.error(&st.origin, *message);
    }
    if st.words.len() > 2 {
        return diags.error(
            &st.origin,
            format!(
                "'option {name}' cannot handle unexpected argument '{}'.",
                st.word(2)
            ),
        );
    }
    let Some(index) = HTTP_OPTIONS.iter().position(|(n, _)| *n == name) else {
        // A connection mode: each one replaces the others.
        let httpclose = &mut p.settings.http_options.httpclose;
        if enable {
            *httpclose = (name == "httpclose").then(|| st.origin.clone());
        } else if name == "httpclose" {
            *httpclose = None;
        }
        return;
    };
    let cap = HTTP_OPTIONS[index].1;
    if !has(p.kind, cap) {
        return p.ignored(diags, st, name, cap == Cap::Frontend);
    }
    let bit = 1u32 << index;
    let options = &mut p.settings.http_options.set;
    if enable {
        *options |= bit;
    } else {
        *options &= !bit;
    }
}

/// `errorfile`, `errorloc*` and `http-reuse`: checked as HAProxy does,
/// then ignored (they only act in `mode http`).
pub(super) fn keyword(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    let keyword = st.word(0);
    if keyword == "http-reuse" {
        if !p.kind.has_backend() {
            p.ignored(diags, st, keyword, false);
        }
        return match (st.word(1), st.words.len()) {
            ("never" | "safe" | "aggressive" | "always", 2) => {}
            ("never" | "safe" | "aggressive" | "always", _) => diags.error(
                &st.origin,
                format!(
                    "'{keyword} {}' cannot handle unexpected argument '{}'.",
                    st.word(1),
                    st.word(2)
                ),
            ),
            _ => diags.error(
                &st.origin,
                format!("'{keyword}' only supports 'never', 'safe', 'aggressive', 'always'."),
            ),
        };
    }
    let what = if keyword == "errorfile" {
        "file"
    } else {
        "url"
    };
    if st.word(1).is_empty() || st.word(2).is_empty() {
        return diags.error(
            &st.origin,
            format!("{keyword} : expects <status_code> and <{what}> as arguments."),
        );
    }
    // HAProxy reads the status with atol(): leading digits, else 0.
    let digits: String = st
        .word(1)
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let status = digits.parse::<u32>().unwrap_or(0);
    if !ERROR_CODES.contains(&status) {
        diags.error(
            &st.origin,
            format!("{keyword} : status code '{status}' not handled."),
        );
    }
}

/// HAProxy's warnings for the HTTP-only options a TCP proxy of `kind`
/// has set (from its section or its `defaults`), in HAProxy's order.
pub(super) fn warn_ignored(
    diags: &mut Diags,
    options: &HttpOptions,
    kind: Kind,
    what: &str,
    name: &str,
    origin: &Origin,
) {
    for (index, (option, cap)) in HTTP_OPTIONS.iter().enumerate() {
        if options.set & (1 << index) != 0 && has(kind, *cap) {
            diags.warn(
                origin,
                format!("'option {option}' ignored for {what} '{name}' as it requires HTTP mode."),
            );
        }
    }
}

/// Whether a section of `kind` has the capability `cap` asks for.
fn has(kind: Kind, cap: Cap) -> bool {
    match cap {
        Cap::Frontend => kind.has_frontend(),
        Cap::Backend => kind.has_backend(),
        Cap::Both => true,
    }
}

/// The error for `option httpclose` in a `mode http` frontend serving
/// weir's pages, which keep connections alive.
pub(super) fn pages_check(diags: &mut Diags, options: &HttpOptions) {
    if let Some(origin) = &options.httpclose {
        diags.error(origin, "'option httpclose' is not supported yet");
    }
}
