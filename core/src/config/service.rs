//! `mode http` frontends: weir serves its Prometheus metrics and its stats
//! page over HTTP, configured as HAProxy does it, and proxies no HTTP.
//!
//! The typed result ([`HttpService`]) and the parsing of its keywords:
//! `stats ...`, `http-request use-service prometheus-exporter [if|unless
//! { path|path_beg ... }]`. [`crate::http`] serves requests with it.

use std::time::Duration;

use super::keywords::suggest;
use super::units::time;

/// The realm of the stats page's `WWW-Authenticate` when `stats realm` is
/// not set (HAProxy's `STATS_DEFAULT_REALM`).
pub const DEFAULT_REALM: &str = "HAProxy Statistics";

/// The stats page's URI prefix when `stats uri` is not set (HAProxy's
/// `STATS_DEFAULT_URI`).
pub const DEFAULT_STATS_URI: &str = "/haproxy?stats";

/// What a `mode http` frontend serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpService {
    /// `http-request use-service prometheus-exporter` rules, in line order:
    /// the first that matches serves the metrics.
    pub prometheus: Vec<ServiceRule>,
    /// `stats enable` and the other `stats` keywords; `None`: no stats page.
    pub stats: Option<StatsPage>,
    /// `timeout http-request`: the most time a request may take to arrive
    /// whole; `None`: `timeout client` bounds it.
    pub timeout_request: Option<Duration>,
    /// `timeout http-keep-alive`: the most time to wait for the next
    /// request on an idle connection; `None`: `timeout http-request`, else
    /// `timeout client`.
    pub timeout_keep_alive: Option<Duration>,
}

/// One `http-request use-service prometheus-exporter` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRule {
    /// The `if`/`unless` condition; `None`: every request.
    pub when: Option<PathCondition>,
}

/// `if|unless { path|path_beg [-i] <pattern>... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathCondition {
    /// `unless` (or `!` before the braces): the rule applies when the path
    /// does NOT match.
    pub negate: bool,
    /// `path_beg`: the path starts with a pattern; `path`: equals one.
    pub prefix: bool,
    /// `-i`: compare ignoring ASCII case.
    pub ignore_case: bool,
    /// The patterns; one matching is enough.
    pub patterns: Vec<String>,
}

impl PathCondition {
    /// Whether the condition holds for a request `path` (no query string).
    pub fn holds(&self, path: &str) -> bool {
        let found = self.patterns.iter().any(|p| {
            let Some(head) = path.as_bytes().get(..p.len()) else {
                return false;
            };
            let equal = if self.ignore_case {
                head.eq_ignore_ascii_case(p.as_bytes())
            } else {
                head == p.as_bytes()
            };
            equal && (self.prefix || head.len() == path.len())
        });
        found != self.negate
    }
}

/// The stats page (`stats enable`, `uri`, `realm`, `refresh`, `auth`,
/// `admin`, `hide-version`, `show-legends`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsPage {
    /// `stats uri`: requests whose path and query start with it are the
    /// stats page's ([`DEFAULT_STATS_URI`] when not set).
    pub uri: String,
    /// `stats realm` ([`DEFAULT_REALM`] when not set).
    pub realm: String,
    /// `stats refresh`, in seconds: the page asks browsers to reload it;
    /// `None`: no refresh.
    pub refresh: Option<u32>,
    /// `stats auth user:password` accounts, in line order; empty: no
    /// authentication.
    pub users: Vec<(String, String)>,
    /// `stats admin` rules: a request matching one may change servers.
    pub admin: Vec<AdminRule>,
    /// `stats hide-version`: the page does not show weir's version.
    pub hide_version: bool,
    /// `stats show-legends`: the page shows each proxy's and server's
    /// details (address, cookie, balance) on hover.
    pub show_legends: bool,
}

/// One `stats admin if|unless <acl>` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminRule {
    /// `unless`: the rule grants admin when the ACL does NOT match.
    pub negate: bool,
    /// The predefined ACL tested.
    pub acl: AdminAcl,
}

/// HAProxy's predefined ACLs `stats admin` accepts in weir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAcl {
    /// `TRUE`: always.
    True,
    /// `FALSE`: never.
    False,
    /// `LOCALHOST`: the client's address is in 127.0.0.0/8 or is ::1.
    Localhost,
}

impl AdminRule {
    /// Whether a client at `peer` gets admin rights from this rule.
    pub fn grants(&self, peer: std::net::IpAddr) -> bool {
        let matched = match self.acl {
            AdminAcl::True => true,
            AdminAcl::False => false,
            AdminAcl::Localhost => peer.to_canonical().is_loopback(),
        };
        matched != self.negate
    }
}

impl StatsPage {
    /// The page as `stats enable` alone makes it.
    pub fn new() -> StatsPage {
        StatsPage {
            uri: DEFAULT_STATS_URI.to_owned(),
            realm: DEFAULT_REALM.to_owned(),
            refresh: None,
            users: Vec::new(),
            admin: Vec::new(),
            hide_version: false,
            show_legends: false,
        }
    }
}

impl Default for StatsPage {
    fn default() -> Self {
        StatsPage::new()
    }
}

/// The `stats` parameters weir implements.
const STATS_WORDS: &[&str] = &[
    "enable",
    "uri",
    "realm",
    "refresh",
    "auth",
    "admin",
    "hide-version",
    "show-legends",
];

/// The `stats` parameters HAProxy has and weir does not implement.
const STATS_LATER: &[&str] = &[
    "scope",
    "show-node",
    "show-desc",
    "show-modules",
    "http-request",
    "bind-process",
];

/// What one `stats` line asks, for [`apply_stats`]; `Ok(None)` for a line
/// that changes nothing but the page's existence (`stats enable`).
/// `in_defaults`: the line is in a `defaults` section, where HAProxy
/// refuses `stats admin`.
pub(super) fn stats_line(
    page: &mut StatsPage,
    words: &[String],
    in_defaults: bool,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let word = |i: usize| words.get(i).map_or("", String::as_str);
    let one_arg = |what: &str| -> Result<&str, String> {
        match words.len() {
            3 => Ok(word(2)),
            2 => Err(format!("'stats {}' needs {what}", word(1))),
            _ => Err(format!(
                "'stats {}' takes one argument ({what}), got '{}' too",
                word(1),
                word(3)
            )),
        }
    };
    match word(1) {
        "enable" | "hide-version" | "show-legends" if words.len() > 2 => {
            return Err(format!(
                "'stats {}' takes no argument, got '{}'",
                word(1),
                word(2)
            ));
        }
        "enable" => {}
        "hide-version" => page.hide_version = true,
        "show-legends" => page.show_legends = true,
        "uri" => page.uri = one_arg("a URI prefix such as /stats")?.to_owned(),
        "realm" => page.realm = one_arg("a realm name")?.to_owned(),
        "refresh" => page.refresh = refresh(one_arg("a delay such as 10s")?)?,
        "auth" => {
            let account = one_arg("a user:password account")?;
            let (user, pass) = account.split_once(':').unwrap_or((account, ""));
            if page.users.iter().any(|(u, _)| u == user) {
                warnings.push(format!("uri auth: ignoring duplicated user '{user}'."));
            } else {
                page.users.push((user.to_owned(), pass.to_owned()));
            }
        }
        "admin" if in_defaults => {
            return Err("'stats admin' not allowed in 'defaults' section.".into());
        }
        "admin" => page.admin.push(admin_rule(&words[2..])?),
        "" => {
            return Err(format!(
                "missing keyword in 'stats', expects {}",
                STATS_WORDS.join(", ")
            ));
        }
        other if STATS_LATER.contains(&other) => {
            return Err(format!("'stats {other}' is not supported yet"));
        }
        other => {
            let hint = suggest(other, STATS_WORDS.iter().chain(STATS_LATER).copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown stats parameter '{other}'{hint}, expects {}",
                STATS_WORDS.join(", ")
            ));
        }
    }
    Ok(())
}

/// `stats refresh <delay>`: a bare number is seconds; 0 turns it off.
fn refresh(value: &str) -> Result<Option<u32>, String> {
    let as_time = if value.bytes().all(|b| b.is_ascii_digit()) {
        format!("{value}s")
    } else {
        value.to_owned()
    };
    let delay = time(&as_time, "stats refresh")?;
    if delay.is_zero() {
        return Ok(None);
    }
    if delay < Duration::from_secs(1) {
        return Err(format!(
            "timer underflow in argument '{value}' to stats refresh interval, minimum \
             non-null value is 1 s."
        ));
    }
    Ok(Some(u32::try_from(delay.as_secs()).unwrap_or(u32::MAX)))
}

/// `if|unless TRUE|FALSE|LOCALHOST`.
fn admin_rule(words: &[String]) -> Result<AdminRule, String> {
    let negate = match words.first().map(String::as_str) {
        Some("if") => false,
        Some("unless") => true,
        _ => {
            return Err(
                "'stats admin' requires either 'if' or 'unless' followed by a condition, such \
                 as 'stats admin if TRUE' or 'stats admin if LOCALHOST'."
                    .into(),
            );
        }
    };
    let acl = match &words[1..] {
        [acl] if acl == "TRUE" => AdminAcl::True,
        [acl] if acl == "FALSE" => AdminAcl::False,
        [acl] if acl == "LOCALHOST" => AdminAcl::Localhost,
        [] => return Err("'stats admin' needs a condition after 'if' or 'unless'".into()),
        _ => {
            return Err(format!(
                "'stats admin {}': weir accepts the conditions TRUE, FALSE and LOCALHOST only",
                words.join(" ")
            ));
        }
    };
    Ok(AdminRule { negate, acl })
}

/// The error for an `http-request` weir does not run.
const HTTP_REQUEST_FORMS: &str = "weir is a layer-4 balancer: the only 'http-request' it \
     accepts, in a 'mode http' frontend, is 'http-request use-service prometheus-exporter \
     [if|unless { path|path_beg [-i] <path>... }]'";

/// Parses `http-request use-service prometheus-exporter [if|unless {
/// path|path_beg [-i] <pattern>... }]` (`words` is the whole line).
pub(super) fn use_service(words: &[String]) -> Result<ServiceRule, String> {
    let rest: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
    let cond = match rest.as_slice() {
        ["use-service", "prometheus-exporter", cond @ ..] => cond,
        ["use-service", other, ..] => {
            return Err(format!(
                "'http-request use-service {other}': weir has only the \
                 'prometheus-exporter' service"
            ));
        }
        [action, ..] => return Err(format!("'http-request {action}': {HTTP_REQUEST_FORMS}")),
        [] => {
            return Err(format!(
                "'http-request' needs an action: {HTTP_REQUEST_FORMS}"
            ));
        }
    };
    let (negate, acl) = match cond {
        [] => return Ok(ServiceRule { when: None }),
        ["if", acl @ ..] => (false, acl),
        ["unless", acl @ ..] => (true, acl),
        [other, ..] => {
            return Err(format!(
                "'http-request use-service prometheus-exporter': expected 'if' or 'unless', \
                 got '{other}'"
            ));
        }
    };
    // `!{ ... }` is written as `!` then `{` by most, `!{` by some.
    let (bang, acl) = match acl {
        ["!", rest @ ..] => (true, rest),
        _ => (false, acl),
    };
    let inner = match acl {
        ["{", inner @ .., "}"] => inner,
        _ => return Err(path_condition_error(acl)),
    };
    let (fetch, inner) = match inner.split_first() {
        Some((&f, rest)) if f == "path" || f == "path_beg" => (f, rest),
        _ => return Err(path_condition_error(acl)),
    };
    let (ignore_case, patterns) = match inner {
        ["-i", rest @ ..] => (true, rest),
        _ => (false, inner),
    };
    if patterns.is_empty() || patterns.iter().any(|p| p.starts_with('-')) {
        return Err(path_condition_error(acl));
    }
    Ok(ServiceRule {
        when: Some(PathCondition {
            negate: negate != bang,
            prefix: fetch == "path_beg",
            ignore_case,
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        }),
    })
}

fn path_condition_error(acl: &[&str]) -> String {
    format!(
        "'http-request use-service prometheus-exporter if {}': weir accepts one anonymous \
         ACL on the path only, as '{{ path /metrics }}', '{{ path_beg /metrics }}' or \
         '{{ path -i /a /b }}'",
        acl.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn path_conditions_match_as_haproxy_path_and_path_beg() {
        let rule = use_service(&words(
            "http-request use-service prometheus-exporter if { path /metrics }",
        ))
        .unwrap();
        let cond = rule.when.unwrap();
        assert!(cond.holds("/metrics"));
        assert!(!cond.holds("/metrics/"));
        assert!(!cond.holds("/METRICS"));
        let beg = use_service(&words(
            "http-request use-service prometheus-exporter if { path_beg -i /met /x }",
        ))
        .unwrap()
        .when
        .unwrap();
        assert!(beg.holds("/METRICS") && beg.holds("/x/y") && !beg.holds("/"));
        let not = use_service(&words(
            "http-request use-service prometheus-exporter unless { path /stats }",
        ))
        .unwrap()
        .when
        .unwrap();
        assert!(not.holds("/metrics") && !not.holds("/stats"));
        let bang = use_service(&words(
            "http-request use-service prometheus-exporter if ! { path /stats }",
        ))
        .unwrap()
        .when
        .unwrap();
        assert_eq!(bang, not);
        // A multi-byte character where a pattern would end cannot panic.
        assert!(!cond.holds("/metric\u{e9}"));
    }

    #[test]
    fn other_http_request_forms_are_refused() {
        for line in [
            "http-request deny",
            "http-request use-service lua.x",
            "http-request use-service prometheus-exporter if metrics",
            "http-request use-service prometheus-exporter if { src 10.0.0.0/8 }",
            "http-request use-service prometheus-exporter if { path }",
            "http-request use-service prometheus-exporter if { path -m beg /m }",
            "http-request use-service prometheus-exporter when { path /m }",
            "http-request",
        ] {
            assert!(use_service(&words(line)).is_err(), "{line}");
        }
    }

    #[test]
    fn stats_lines_fill_the_page() {
        let mut page = StatsPage::new();
        let mut warnings = Vec::new();
        for line in [
            "stats uri /stats",
            "stats refresh 10",
            "stats auth admin:secret",
            "stats auth ro:",
            "stats auth admin:other",
            "stats realm Secret",
            "stats admin if LOCALHOST",
            "stats hide-version",
        ] {
            stats_line(&mut page, &words(line), false, &mut warnings).unwrap();
        }
        assert_eq!(page.uri, "/stats");
        assert_eq!(page.refresh, Some(10));
        assert_eq!(
            page.users,
            [
                ("admin".to_owned(), "secret".to_owned()),
                ("ro".to_owned(), String::new())
            ]
        );
        assert_eq!(warnings, ["uri auth: ignoring duplicated user 'admin'."]);
        assert_eq!(page.realm, "Secret");
        assert!(page.hide_version && !page.show_legends);
        let rule = page.admin[0];
        assert!(rule.grants("127.0.0.2".parse().unwrap()));
        assert!(rule.grants("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!rule.grants("10.0.0.1".parse().unwrap()));
        stats_line(&mut page, &words("stats refresh 1m"), false, &mut warnings).unwrap();
        assert_eq!(page.refresh, Some(60));
        stats_line(&mut page, &words("stats refresh 0"), false, &mut warnings).unwrap();
        assert_eq!(page.refresh, None);
    }

    #[test]
    fn bad_stats_lines_say_why() {
        let mut page = StatsPage::new();
        let mut w = Vec::new();
        let err = |line: &str, defaults: bool, page: &mut StatsPage, w: &mut Vec<String>| {
            stats_line(page, &words(line), defaults, w).unwrap_err()
        };
        assert!(err("stats", false, &mut page, &mut w).contains("missing keyword"));
        assert!(err("stats realm", false, &mut page, &mut w).contains("needs a realm"));
        assert!(err("stats refresh 500ms", false, &mut page, &mut w).contains("minimum"));
        assert!(err("stats admin if TRUE", true, &mut page, &mut w).contains("defaults"));
        assert!(err("stats admin", false, &mut page, &mut w).contains("'if' or 'unless'"));
        assert!(err("stats admin if { src 1.2.3.4 }", false, &mut page, &mut w).contains("TRUE"));
        assert!(err("stats scope app", false, &mut page, &mut w).contains("not supported yet"));
        assert!(err("stats enabel", false, &mut page, &mut w).contains("did you mean 'enable'"));
        assert!(err("stats enable now", false, &mut page, &mut w).contains("no argument"));
        assert!(err("stats uri /a /b", false, &mut page, &mut w).contains("one argument"));
    }
}
