//! Traffic options: `option abortonclose`, `option logasap`, `option
//! independent-streams`, `option splice-*`, `rate-limit sessions`; the
//! global `maxconnrate`, `maxsessrate`, `nosplice`, `maxpipes` and
//! `tune.pipesize`.

use super::{Diags, ProxyParts, Stmt};
use crate::config::traffic::{BackendTraffic, FrontendTraffic, Rates, Splice, SpliceGlobal};

/// The `option`s parsed here.
pub(super) const OPTIONS: &[&str] = &[
    "abortonclose",
    "logasap",
    "independent-streams",
    "splice-auto",
    "splice-request",
    "splice-response",
];

/// What `defaults` pass on and proxies set.
#[derive(Debug, Clone, Default)]
pub(super) struct TrafficSettings {
    abortonclose: bool,
    logasap: bool,
    independent_streams: bool,
    rate_limit_sessions: Option<u32>,
    splice: Splice,
}

/// Proxy keywords parsed here.
pub(super) const KEYWORDS: &[&str] = &["rate-limit"];

/// Global keywords parsed here.
pub(super) const GLOBAL: &[&str] = &["maxconnrate", "maxsessrate"];

/// Global splice keywords parsed here.
pub(super) const SPLICE_GLOBAL: &[&str] = &["nosplice", "maxpipes", "tune.pipesize"];

/// HAProxy's `atol` of a rate: leading digits, 0 without any (no limit).
fn atol(word: &str) -> u32 {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    word[..digits]
        .parse::<u64>()
        .map_or(if digits > 0 { u32::MAX } else { 0 }, |n| {
            n.min(u64::from(u32::MAX)) as u32
        })
}

/// `maxconnrate N`, `maxsessrate N` (0: no limit), HAProxy's messages.
pub(super) fn global(diags: &mut Diags, rates: &mut Rates, st: &Stmt<'_>) {
    let keyword = st.word(0);
    if st.words.len() < 2 {
        return diags.error(
            &st.origin,
            format!("'{keyword}' expects an integer argument."),
        );
    }
    if let Some(extra) = st.words.get(2) {
        return diags.error(
            &st.origin,
            format!("'{keyword}' cannot handle unexpected argument '{extra}'."),
        );
    }
    let n = Some(atol(st.word(1))).filter(|&n| n > 0);
    match keyword {
        "maxconnrate" => rates.conn = n,
        _ => rates.sess = n,
    }
}

/// `nosplice`, `maxpipes N`, `tune.pipesize N` (0: the default), with
/// HAProxy's messages.
pub(super) fn splice_global(diags: &mut Diags, splice: &mut SpliceGlobal, st: &Stmt<'_>) {
    let keyword = st.word(0);
    let most = if keyword == "nosplice" { 1 } else { 2 };
    if let Some(extra) = st.words.get(most) {
        return diags.error(
            &st.origin,
            format!("'{keyword}' cannot handle unexpected argument '{extra}'."),
        );
    }
    if keyword == "nosplice" {
        splice.disabled = true;
        return;
    }
    if keyword == "maxpipes" && splice.maxpipes.is_some() {
        return diags.warn(
            &st.origin,
            "'maxpipes' already specified. Continuing.".to_owned(),
        );
    }
    if st.word(1).is_empty() {
        return diags.error(
            &st.origin,
            format!("'{keyword}' expects an integer argument."),
        );
    }
    let n = Some(atol(st.word(1))).filter(|&n| n > 0);
    match keyword {
        "maxpipes" => splice.maxpipes = n,
        _ => splice.pipesize = n,
    }
}

/// `rate-limit sessions N` (0: no limit), HAProxy's messages.
pub(super) fn keyword(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    if st.word(1) != "sessions" {
        let got = st.word(1);
        return diags.error(
            &st.origin,
            format!("'rate-limit' only supports 'sessions' (got '{got}')"),
        );
    }
    let value = st.word(2);
    if value.is_empty() {
        return diags.error(
            &st.origin,
            "'rate-limit sessions' expects expects an integer value (in sessions/second)",
        );
    }
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_digit()) {
        return diags.error(
            &st.origin,
            format!(
                "'rate-limit sessions' : unexpected character '{bad}' in integer value '{value}'"
            ),
        );
    }
    if !p.kind.has_frontend() {
        let name = p.name;
        return diags.warn(
            &st.origin,
            format!(
                "rate-limit sessions will be ignored because backend '{name}' has no \
                 frontend capability"
            ),
        );
    }
    p.settings.traffic.rate_limit_sessions = Some(atol(value)).filter(|&n| n > 0);
}

/// Whether `option NAME` is parsed here.
pub(super) fn is_option(name: &str) -> bool {
    OPTIONS.contains(&name)
}

/// `[no] option NAME` for one of [`OPTIONS`].
pub(super) fn option(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>, enable: bool) {
    let name = st.word(1);
    match name {
        "abortonclose" if !p.kind.has_backend() => p.ignored(diags, st, "abortonclose", false),
        "abortonclose" => p.settings.traffic.abortonclose = enable,
        "logasap" if !p.kind.has_frontend() => p.ignored(diags, st, "logasap", true),
        "logasap" => p.settings.traffic.logasap = enable,
        // Both capabilities (HAProxy's `PR_CAP_FE | PR_CAP_BE`).
        "independent-streams" => p.settings.traffic.independent_streams = enable,
        // Both capabilities too: either side of a session may ask.
        "splice-auto" => p.settings.traffic.splice.auto = Some(enable),
        "splice-request" => p.settings.traffic.splice.request = enable,
        "splice-response" => p.settings.traffic.splice.response = enable,
        _ => {}
    }
}

/// A backend's traffic settings.
pub(super) fn backend(s: &TrafficSettings) -> BackendTraffic {
    BackendTraffic {
        abortonclose: s.abortonclose,
        independent_streams: s.independent_streams,
        splice: s.splice,
    }
}

/// A frontend's traffic settings.
pub(super) fn frontend(s: &TrafficSettings) -> FrontendTraffic {
    FrontendTraffic {
        logasap: s.logasap,
        independent_streams: s.independent_streams,
        rate_limit_sessions: s.rate_limit_sessions,
        splice: s.splice,
    }
}
