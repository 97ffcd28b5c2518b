//! Traffic options: `option abortonclose`, `option logasap`, `option
//! independent-streams`.

use super::{Diags, ProxyParts, Stmt};
use crate::config::traffic::{BackendTraffic, FrontendTraffic};

/// The `option`s parsed here.
pub(super) const OPTIONS: &[&str] = &["abortonclose", "logasap", "independent-streams"];

/// What `defaults` pass on and proxies set.
#[derive(Debug, Clone, Default)]
pub(super) struct TrafficSettings {
    abortonclose: bool,
    logasap: bool,
    independent_streams: bool,
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
        _ => {}
    }
}

/// A backend's traffic settings.
pub(super) fn backend(s: &TrafficSettings) -> BackendTraffic {
    BackendTraffic {
        abortonclose: s.abortonclose,
        independent_streams: s.independent_streams,
    }
}

/// A frontend's traffic settings.
pub(super) fn frontend(s: &TrafficSettings) -> FrontendTraffic {
    FrontendTraffic {
        logasap: s.logasap,
        independent_streams: s.independent_streams,
    }
}
