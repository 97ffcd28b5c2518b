//! Routing a request to what a `mode http` frontend serves, as HAProxy 2.6
//! does: the `use-service prometheus-exporter` rules first, then the stats
//! URI (GET, HEAD and POST only, authentication first), else HAProxy's 503
//! (a frontend without a backend has no server for the request).

use std::net::IpAddr;

use super::admin::{AdminPost, StatCode};
use super::request::{Method, Request};
use super::response::{ERR_400, ERR_401, ERR_503, Reply};
use crate::config::{HttpService, StatsPage};

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'s> {
    /// Format the Prometheus metrics for the query, then answer
    /// [`Reply::metrics`].
    Metrics(MetricsQuery),
    /// Format the stats page as the view says, then answer
    /// [`StatsView::reply`].
    Stats(StatsView<'s>),
    /// An admin form from a client with admin rights: [`AdminPost::run`]
    /// it, then answer [`StatsView::redirect`] with its code.
    Admin(StatsView<'s>, AdminPost),
    /// The answer, decided here (401, 503, a bad metrics query's 400, the
    /// redirect of a form denied or too large).
    Reply(Reply),
}

/// The metrics a scrape asks for (HAProxy's exporter query string:
/// `scope=global|frontend|backend|server|listener|sticktable|*` several
/// times, `scope=` for none, `no-maint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsQuery {
    /// `haproxy_process_*`.
    pub global: bool,
    /// `haproxy_frontend_*`.
    pub frontend: bool,
    /// `haproxy_backend_*`.
    pub backend: bool,
    /// `haproxy_server_*`.
    pub server: bool,
    /// `haproxy_listener_*`.
    pub listener: bool,
    /// `haproxy_sticktable_*` (weir has no stick tables: nothing).
    pub sticktable: bool,
    /// `no-maint`: leave out servers in maintenance.
    pub no_maint: bool,
}

impl MetricsQuery {
    /// Every scope, maintenance included (a scrape without a query).
    pub const ALL: MetricsQuery = MetricsQuery {
        global: true,
        frontend: true,
        backend: true,
        server: true,
        listener: true,
        sticktable: true,
        no_maint: false,
    };

    /// Parses the query string as HAProxy's `promex_parse_uri`; `None`
    /// for one it answers 400.
    pub fn parse(query: Option<&str>) -> Option<MetricsQuery> {
        let Some(query) = query else {
            return Some(MetricsQuery::ALL);
        };
        let query = query.split('#').next().unwrap_or_default();
        let mut q = MetricsQuery::ALL;
        q.set_scopes(false);
        let mut scoped = false;
        for field in query.split('&').filter(|f| !f.is_empty()) {
            let (key, value) = match field.split_once('=') {
                Some((_, v)) if v.contains('=') => return None,
                Some((k, v)) => (k, Some(v)),
                None => (field, None),
            };
            let key = super::admin::url_decode(key.as_bytes())?;
            let value = match value {
                Some(v) => Some(super::admin::url_decode(v.as_bytes())?),
                None => None,
            };
            match key.as_slice() {
                b"scope" => {
                    scoped = true;
                    match value?.as_slice() {
                        b"" => q.set_scopes(false),
                        [b'*', ..] => q.set_scopes(true),
                        b"global" => q.global = true,
                        b"frontend" => q.frontend = true,
                        b"backend" => q.backend = true,
                        b"server" => q.server = true,
                        b"listener" => q.listener = true,
                        b"sticktable" => q.sticktable = true,
                        _ => return None,
                    }
                }
                b"no-maint" => q.no_maint = true,
                _ => {}
            }
        }
        if !scoped {
            q.set_scopes(true);
        }
        Some(q)
    }

    fn set_scopes(&mut self, on: bool) {
        self.global = on;
        self.frontend = on;
        self.backend = on;
        self.server = on;
        self.listener = on;
        self.sticktable = on;
    }
}

/// The stats page's output formats (`;csv`, `;typed`, `;json`,
/// `;json-schema` after the URI; HTML without).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsFormat {
    /// The HTML page (`text/html`).
    Html,
    /// `show stat`'s CSV (`text/plain`).
    Csv,
    /// `show stat typed` (`text/plain`).
    Typed,
    /// `show stat json` (`application/json`).
    Json,
    /// `show schema json` (`application/json`).
    JsonSchema,
}

impl StatsFormat {
    /// The `content-type` HAProxy sends with it.
    pub fn content_type(self) -> &'static str {
        match self {
            StatsFormat::Html => "text/html",
            StatsFormat::Csv | StatsFormat::Typed => "text/plain",
            StatsFormat::Json | StatsFormat::JsonSchema => "application/json",
        }
    }
}

/// How one request wants the stats page (the options after the URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsView<'s> {
    /// The page's configuration (URI, refresh, hide-version, legends).
    pub page: &'s StatsPage,
    /// The output format.
    pub format: StatsFormat,
    /// `;up`: hide servers that are not UP.
    pub hide_down: bool,
    /// `;no-maint`: hide servers in maintenance.
    pub no_maint: bool,
    /// `;norefresh` (only when `stats refresh` is set): no refresh.
    pub no_refresh: bool,
    /// `;st=CODE`: the outcome of the admin form just posted, to show.
    pub status: Option<StatCode>,
    /// `scope=NAME`: show only the proxies whose name contains it (at most
    /// 20 characters of `[A-Za-z0-9_:.-]`, else none).
    pub scope: Option<String>,
    /// The client may use the admin form (`stats admin`).
    pub admin: bool,
}

impl StatsView<'_> {
    /// The refresh delay the page asks, in seconds.
    pub fn refresh(&self) -> Option<u32> {
        self.page.refresh.filter(|_| !self.no_refresh)
    }

    /// The options to keep in the page's links and redirects (`;up`,
    /// `;norefresh`, `?scope=`), after the URI.
    pub fn link_options(&self) -> String {
        let mut options = String::new();
        if self.hide_down {
            options.push_str(";up");
        }
        if self.no_refresh {
            options.push_str(";norefresh");
        }
        if let Some(scope) = &self.scope {
            options.push_str("?scope=");
            options.push_str(scope);
        }
        options
    }

    /// The page's answer with `body`, as HAProxy's stats applet sends it.
    pub fn reply(&self, req: &Request<'_>, body: &[u8]) -> Reply {
        let refresh = self.refresh().map(|r| r.to_string());
        let mut headers = vec![
            ("cache-control", "no-cache"),
            ("content-type", self.format.content_type()),
        ];
        if let Some(refresh) = &refresh {
            headers.push(("refresh", refresh));
        }
        Reply::ok(req, &headers, body, false)
    }

    /// HAProxy's redirect after a POST: `303` to the page with `;st=CODE`
    /// and the options of the request.
    pub fn redirect(&self, req: &Request<'_>, code: StatCode) -> Reply {
        let location = format!(
            "{};st={}{}",
            self.page.uri,
            code.as_str(),
            self.link_options()
        );
        Reply::see_other(req, &location)
    }
}

impl Reply {
    /// The exporter's answer with `body` (the metrics text), as HAProxy's
    /// `promex_send_headers`.
    pub fn metrics(req: &Request<'_>, body: &[u8]) -> Reply {
        let headers = [
            ("cache-control", "no-cache"),
            ("content-type", "text/plain; version=0.0.4"),
        ];
        Reply::ok(req, &headers, body, true)
    }
}

impl HttpService {
    /// Routes `req` from a client at `peer` (for `stats admin if
    /// LOCALHOST`).
    pub fn route<'s>(&'s self, req: &Request<'_>, peer: IpAddr) -> Route<'s> {
        let path = req.path();
        let serves = |rule: &crate::config::ServiceRule| {
            rule.when.as_ref().is_none_or(|cond| cond.holds(path))
        };
        if self.prometheus.iter().any(serves) {
            return match MetricsQuery::parse(req.query()) {
                Some(query) => Route::Metrics(query),
                None => Route::Reply(Reply::canned(req, ERR_400, true, &[])),
            };
        }
        let Some(page) = &self.stats else {
            return Route::Reply(Reply::canned(req, ERR_503, false, &[]));
        };
        let target = if page.uri.starts_with('/') {
            req.path_and_query()
        } else {
            req.target
        };
        let stats_method = matches!(req.method, Method::Get | Method::Head | Method::Post);
        let Some(options) = target
            .strip_prefix(page.uri.as_str())
            .filter(|_| stats_method)
        else {
            return Route::Reply(Reply::canned(req, ERR_503, false, &[]));
        };
        if !page.users.is_empty() && !authorized(page, req.authorization) {
            let realm = format!("Basic realm=\"{}\"", page.realm);
            let extra = [("www-authenticate", realm.as_str())];
            return Route::Reply(Reply::canned(req, ERR_401, true, &extra));
        }
        let view = view(page, options, page.admin.iter().any(|r| r.grants(peer)));
        match (req.method, req.body) {
            (Method::Post, _) if !view.admin => Route::Reply(view.redirect(req, StatCode::Deny)),
            (Method::Post, None) => Route::Reply(view.redirect(req, StatCode::Excd)),
            (Method::Post, Some(body)) => {
                let post = AdminPost::parse(body);
                Route::Admin(view, post)
            }
            _ => Route::Stats(view),
        }
    }
}

/// Reads the options after the stats URI as HAProxy's `http_handle_stats`
/// (each found anywhere after the URI).
fn view<'s>(page: &'s StatsPage, options: &str, admin: bool) -> StatsView<'s> {
    let has = |option: &str| options.contains(option);
    let mut format = StatsFormat::Html;
    for (option, f) in [
        (";csv", StatsFormat::Csv),
        (";typed", StatsFormat::Typed),
        (";json", StatsFormat::Json),
        (";json-schema", StatsFormat::JsonSchema),
    ] {
        if has(option) {
            format = f;
        }
    }
    // HAProxy looks for `;st=` and `scope=` only where 8 bytes remain.
    let from_8 = |pattern: &str| {
        let last = options.len().checked_sub(8)?;
        options
            .match_indices(pattern)
            .find(|(i, _)| *i <= last)
            .map(|(i, _)| &options[i + pattern.len()..])
    };
    let status = from_8(";st=").map(StatCode::parse);
    let scope = from_8("scope=").and_then(|rest| {
        let end = rest.find([';', '&', ' ']).unwrap_or(rest.len());
        let scope = rest[..end].get(..20).unwrap_or(&rest[..end]);
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b));
        valid.then(|| scope.to_owned())
    });
    StatsView {
        page,
        format,
        hide_down: has(";up"),
        no_maint: has(";no-maint"),
        no_refresh: page.refresh.is_some() && has(";norefresh"),
        status,
        scope,
        admin,
    }
}

/// Whether `Authorization: Basic` names one of the page's accounts (as
/// HAProxy's `http_auth`: the scheme in any case, then base64 of
/// `user:password`).
fn authorized(page: &StatsPage, authorization: Option<&[u8]>) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"Basic") {
        return false;
    }
    let Some(mut decoded) = base64_decode(rest.trim_ascii_start()) else {
        return false;
    };
    if let Some(nul) = decoded.iter().position(|&b| b == 0) {
        decoded.truncate(nul);
    }
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    page.users
        .iter()
        .any(|(u, p)| u.as_bytes() == user && p.as_bytes() == pass)
}

/// Standard base64 with padding, as HAProxy's `base64dec`: the length is
/// a multiple of 4 and `=` only ends it (`xx==`, `xxx=`).
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (i, quad) in text.chunks_exact(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode(b"YWRtaW46c2VjcmV0").unwrap(), b"admin:secret");
        assert_eq!(base64_decode(b"eDp5").unwrap(), b"x:y");
        assert_eq!(base64_decode(b"eDo=").unwrap(), b"x:");
        assert_eq!(base64_decode(b"eA==").unwrap(), b"x");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        for bad in [
            &b"eDp"[..],
            b"eD=5",
            b"e===",
            b"eA==eDp5",
            b"e Dp",
            b"eDp5\n",
        ] {
            assert_eq!(base64_decode(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn metrics_queries_are_haproxys() {
        let q = |s: &str| MetricsQuery::parse(Some(s));
        assert_eq!(MetricsQuery::parse(None), Some(MetricsQuery::ALL));
        assert_eq!(q(""), Some(MetricsQuery::ALL));
        let server = q("scope=server&scope=backend&no-maint").unwrap();
        assert!(server.server && server.backend && server.no_maint);
        assert!(!server.global && !server.frontend);
        assert_eq!(q("scope=*"), Some(MetricsQuery::ALL));
        let none = q("scope=").unwrap();
        assert!(!none.global && !none.server);
        assert_eq!(q("scope=global&scope=").unwrap(), none);
        assert!(q("scope=%67lobal").unwrap().global);
        assert_eq!(q("other=1#scope=bogus"), Some(MetricsQuery::ALL));
        // HAProxy answered 400 to each of these.
        for bad in ["scope=bogus", "scope", "scope=a=b", "scope=%zz", "%z=1"] {
            assert_eq!(q(bad), None, "{bad}");
        }
    }
}
