//! `option httpchk` and `http-check send`: HAProxy 2.6's ruleset model
//! (`src/tcpcheck.c`) and the request bytes its H1 mux writes.
//!
//! A section that writes `option httpchk` or an `http-check` rule gets
//! its own ruleset: what `defaults` gave is dropped. The send rule of
//! `option httpchk` (implicit) and an `http-check send` (explicit) merge:
//! the later one's method, URI, version and body replace the earlier
//! one's when it gives them, its headers when it gives any
//! (`tcpcheck_overwrite_send_http_rule`).

use super::super::{
    Connect, HealthCheck, HttpExpect, HttpRequest, HttpRule, HttpStep, Origin, Pattern, Statuses,
    TcpRule, TcpStep,
};
use super::{Diags, Settings, Stmt};

/// The method, URI, version, headers and body of a check request, each
/// as far as a line gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct HttpSend {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpSend {
    /// `other`'s parts replace these where it has them.
    pub(super) fn merge(&mut self, other: HttpSend) {
        if other.method.is_some() {
            self.method = other.method;
        }
        if other.uri.is_some() {
            self.uri = other.uri;
        }
        if other.version.is_some() {
            self.version = other.version;
        }
        if !other.headers.is_empty() {
            self.headers = other.headers;
        }
        if other.body.is_some() {
            self.body = other.body;
        }
    }

    /// The bytes HAProxy 2.6 writes for this request (checked against
    /// `haproxy` on the wire): header names in lower case, no
    /// `content-length` for a bodyless GET/HEAD/OPTIONS/DELETE, the
    /// connection header last (`connection: close` for HTTP/1.1,
    /// `connection: keep-alive` when asked for with HTTP/1.0).
    #[cfg(test)]
    pub(super) fn request(&self) -> Vec<u8> {
        self.request_parts().bytes
    }

    /// The request bytes and where `X-Haproxy-Server-State` goes in them
    /// (after the configured headers).
    pub(super) fn request_parts(&self) -> HttpRequest {
        let method = self.method.as_deref().unwrap_or("OPTIONS");
        let uri = self.uri.as_deref().unwrap_or("/");
        let version = self.version.as_deref().unwrap_or("HTTP/1.0");
        let v = version.as_bytes();
        let at_least_11 = |major: u8, minor: u8| major > b'1' || (major == b'1' && minor >= b'1');
        let mux_11 = v.len() == 8 && at_least_11(v[5], v[7]);
        let line_11 = mux_11 || (v.len() == 6 && v[5] == b'2');
        let mut out = format!(
            "{method} {uri} {}\r\n",
            if line_11 { "HTTP/1.1" } else { version }
        );
        let (mut has_conn, mut close) = (false, false);
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "content-length" | "transfer-encoding" => continue,
                "connection" => {
                    has_conn = true;
                    let mut kept = Vec::new();
                    for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        if token.eq_ignore_ascii_case("close") {
                            close = true;
                        } else if !token.eq_ignore_ascii_case("keep-alive") {
                            kept.push(token);
                        }
                    }
                    if !kept.is_empty() {
                        out.push_str(&format!("connection: {}\r\n", kept.join(", ")));
                    }
                }
                _ => out.push_str(&format!("{lower}: {value}\r\n")),
            }
        }
        let state_at = out.len();
        let body = self.body.as_deref().unwrap_or("");
        if !body.is_empty() || !["GET", "HEAD", "OPTIONS", "DELETE"].contains(&method) {
            out.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        match !has_conn || close {
            true if mux_11 => out.push_str("connection: close\r\n"),
            false if !mux_11 => out.push_str("connection: keep-alive\r\n"),
            _ => {}
        }
        out.push_str("\r\n");
        out.push_str(body);
        HttpRequest {
            bytes: out.into_bytes(),
            state_at,
        }
    }
}

/// `option httpchk` arguments (`proxy_parse_httpchk_req`): headers and a
/// body may hide after `\r\n` in the version.
pub(super) fn option_httpchk(args: &[String]) -> Result<(HttpSend, Option<String>), String> {
    let (method, uri, version) = match args {
        [] => (None, None, None),
        [uri] => (None, Some(uri), None),
        [method, uri] => (Some(method), Some(uri), None),
        [method, uri, version] => (Some(method), Some(uri), Some(version)),
        _ => {
            return Err("'option httpchk' cannot handle unexpected argument(s)".into());
        }
    };
    let mut send = HttpSend {
        method: method.cloned(),
        uri: uri.cloned(),
        ..HttpSend::default()
    };
    let Some(version) = version else {
        return Ok((send, None));
    };
    let headers_at = version.find("\r\n");
    let body_at = version.find("\r\n\r\n");
    let headers_at = headers_at.filter(|&h| Some(h) != body_at);
    let version_end = headers_at.or(body_at).unwrap_or(version.len());
    send.version = Some(version[..version_end].to_owned());
    if let Some(h) = headers_at {
        let end = body_at.unwrap_or(version.len());
        for line in version[h + 2..end].split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!(
                    "'option httpchk' : unable to parse the request '{}\r\n\r\n'.",
                    &version[h + 2..end]
                ));
            };
            send.headers
                .push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
        }
    }
    if let Some(b) = body_at {
        send.body = Some(version[b + 4..].to_owned());
    }
    let warning = (headers_at.is_some() || body_at.is_some()).then(|| {
        "'option httpchk' : hiding headers or body at the end of the version string is \
         deprecated. Please, consider to use 'http-check send' directive instead."
            .to_owned()
    });
    Ok((send, warning))
}

/// `http-check send` arguments (`parse_tcpcheck_send_http`), with
/// HAProxy's messages.
pub(super) fn http_send(words: &[String]) -> Result<HttpSend, String> {
    let mut send = HttpSend::default();
    let mut words = words.iter().map(String::as_str);
    let mut host = None;
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("'{word}' expects a string as argument."))
        };
        match word {
            "meth" => send.method = Some(value()?),
            "uri" => send.uri = Some(value()?),
            "ver" => send.version = Some(value()?),
            "body" => send.body = Some(value()?),
            "comment" => {
                value()?;
            }
            "hdr" => {
                let (name, v) = match (words.next(), words.next()) {
                    (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => (n, v),
                    _ => return Err("'hdr' expects <name> and <value> as arguments".into()),
                };
                if name.eq_ignore_ascii_case("host") {
                    if let Some(previous) = &host {
                        return Err(format!(
                            "'{name}' header already defined (previous value is '{previous}')"
                        ));
                    }
                    host = Some(v.to_owned());
                }
                if v.contains('%') {
                    return Err(format!(
                        "'hdr {name}' : log-format values are not supported by weir \
                         (it has no sample fetches); write the value out"
                    ));
                }
                send.headers.push((name.to_owned(), v.to_owned()));
            }
            "uri-lf" | "body-lf" => {
                return Err(format!(
                    "'{word}' is not supported by weir (log-format strings need sample \
                     fetches it does not have); use '{}' with the value written out",
                    word.trim_end_matches("-lf")
                ));
            }
            other => {
                return Err(format!(
                    "expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or \
                     'body-lf' but got '{other}' as argument."
                ));
            }
        }
    }
    Ok(send)
}

/// A `tcp-check` line as kept until the backend is built.
#[derive(Debug, Clone)]
pub(super) enum TcpEntry {
    /// A send or expect rule.
    Rule(TcpRule),
    /// `tcp-check comment <text>`: names the rules that follow.
    Comment(String),
    /// `tcp-check connect`, with its options and comment.
    Connect(Connect, Option<String>),
}

/// `http-check send|expect|comment|connect|send-state|disable-on-404`
pub(super) fn http_check(
    diags: &mut Diags,
    settings: &mut Settings,
    section: &Origin,
    st: &Stmt<'_>,
) {
    let http = &mut settings.http;
    let result = match st.word(1) {
        "send" => http_send(&st.words[2..])
            .map_err(|e| format!("'http-check send' : {e}."))
            .and_then(|send| http.send(section, &st.origin, send)),
        "expect" => http_expect(&st.words[2..])
            .map_err(|e| format!("'http-check expect' : {e}."))
            .and_then(|rule| http.expect(section, &st.origin, rule)),
        "connect" => http
            .connect_allowed(section)
            .and_then(|()| {
                super::connect::parse(&st.words[2..], true)
                    .map_err(|e| format!("'http-check connect' : {e}."))
            })
            .and_then(|(c, comment)| http.connect(section, &st.origin, c, comment)),
        "comment" if st.words.len() != 3 => {
            Err("'http-check comment' : expects a string as argument.".into())
        }
        "comment" => {
            http.comment(section, &st.origin, &st.words[2]);
            Ok(())
        }
        "disable-on-404" | "send-state" if st.words.len() > 2 => Err(format!(
            "'http-check' cannot handle unexpected argument '{}'.",
            st.words[2]
        )),
        "disable-on-404" => {
            http.disable_on_404 = true;
            Ok(())
        }
        "send-state" => {
            http.send_state = true;
            Ok(())
        }
        other => Err(format!(
            "'http-check' only supports 'disable-on-404', 'send-state', 'comment', 'connect', \
             'send', 'expect'. but got '{other}'"
        )),
    };
    if let Err(e) = result {
        // HAProxy frees the section's ruleset on an error.
        if !matches!(st.word(1), "disable-on-404" | "send-state") {
            http.clear(section);
        }
        diags.error(&st.origin, e);
    }
}

/// The arguments of an `expect` rule: `!` (alone or glued to the kind,
/// any number of times), the kind and its pattern, `min-recv`, `comment`,
/// `on-success`, `on-error` (`parse_tcpcheck_expect`).
#[derive(Debug, Default)]
struct ExpectArgs<'a> {
    kind: Option<(&'a str, &'a str)>,
    negate: bool,
    min_recv: Option<usize>,
    comment: Option<String>,
    on_success: Option<String>,
    on_error: Option<String>,
    statuses: Statuses,
}

fn expect_args<'a>(words: &'a [String], http: bool) -> Result<ExpectArgs<'a>, String> {
    if words.first().is_none_or(|w| w.is_empty()) {
        return Err("expects at least a matching pattern as arguments".into());
    }
    let kinds: &[&str] = if http {
        &["string", "rstring", "status", "rstatus"]
    } else {
        &["string", "rstring", "binary", "rbinary"]
    };
    let later: &[&str] = if http {
        &["string-lf", "hdr", "fhdr"]
    } else {
        &["string-lf", "binary-lf"]
    };
    let mut args = ExpectArgs::default();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        let mut word = word.as_str();
        let mut in_pattern = false;
        if word.starts_with('!') {
            in_pattern = true;
            while let Some(rest) = word.strip_prefix('!') {
                args.negate = !args.negate;
                word = rest;
            }
            if word.is_empty() {
                i += 1;
                word = words.get(i).map_or("", String::as_str);
            }
        }
        let value = |i: usize| {
            words
                .get(i + 1)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let not_with_bang = || Err(format!("[!] not supported with '{word}'"));
        match word {
            "min-recv" | "comment" | "on-success" | "on-error" if in_pattern => {
                return not_with_bang();
            }
            "min-recv" => {
                let n = value(i).ok_or("'min-recv' expects a integer as argument")?;
                let n: i64 = n.parse().unwrap_or(0);
                if !(-1..=i64::from(i32::MAX)).contains(&n) {
                    return Err("'min-recv' expects -1 or an integer from 0 to INT_MAX".into());
                }
                args.min_recv = usize::try_from(n).ok();
                i += 1;
            }
            "comment" | "on-success" | "on-error" => {
                let text = value(i).ok_or(format!("'{word}' expects a string as argument"))?;
                if word != "comment" && text.contains('%') {
                    return Err(format!(
                        "'{word}' : log-format strings are not supported by weir (it has no \
                         sample fetches): write the text out"
                    ));
                }
                let slot = match word {
                    "comment" => &mut args.comment,
                    "on-success" => &mut args.on_success,
                    _ => &mut args.on_error,
                };
                *slot = Some(text.to_owned());
                i += 1;
            }
            kind if kinds.contains(&kind) => {
                if args.kind.is_some() {
                    return Err("only on pattern expected".into());
                }
                let pattern =
                    value(i).ok_or(format!("'{kind}' expects a <pattern> as argument"))?;
                args.kind = Some((kind, pattern));
                i += 1;
            }
            "ok-status" | "error-status" | "tout-status" | "status-code" if in_pattern => {
                return not_with_bang();
            }
            "ok-status" | "error-status" | "tout-status" | "status-code" => {
                super::statuses::parse(word, value(i), &mut args.statuses)?;
                i += 1;
            }
            kind if later.contains(&kind) || kind == "custom" => {
                return Err(format!("'{kind}' is not supported yet"));
            }
            other if http => {
                return Err(format!(
                    "'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', \
                     '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '{other}' \
                     as argument."
                ));
            }
            other => {
                return Err(format!(
                    "'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', \
                     '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{other}' \
                     as argument."
                ));
            }
        }
        i += 1;
    }
    Ok(args)
}

fn http_expect(words: &[String]) -> Result<HttpRule, String> {
    let args = expect_args(words, true)?;
    let negate = args.negate;
    let expect = match args.kind {
        Some(("status", pattern)) => {
            let codes = pattern
                .split(',')
                .map(|part| {
                    let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                    match (lo.parse::<u16>(), hi.parse::<u16>()) {
                        (Ok(lo), Ok(hi)) if lo <= hi && hi < 1000 => Ok((lo, hi)),
                        _ => Err(format!("invalid status code or range '{part}'")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            HttpExpect::Status { codes, negate }
        }
        Some(("string", pattern)) => HttpExpect::String {
            text: pattern.as_bytes().to_vec(),
            negate,
        },
        Some(("rstatus", pattern)) => HttpExpect::RStatus {
            regex: Pattern::new(pattern)?,
            negate,
        },
        Some((_, pattern)) => HttpExpect::RString {
            regex: Pattern::new(pattern)?,
            negate,
        },
        None => return Err("expects at least a matching pattern as arguments".into()),
    };
    Ok(HttpRule {
        comment: args.comment,
        min_recv: args.min_recv,
        on_success: args.on_success,
        on_error: args.on_error,
        statuses: args.statuses,
        ..HttpRule::new(HttpStep::Expect(expect), 0)
    })
}

/// The check a backend's servers run, built from its settings.
pub(super) fn health_check(s: &Settings) -> HealthCheck {
    if let Some(check) = &s.protocol_check {
        return HealthCheck::TcpRules(check.rules());
    }
    if s.http.enabled {
        return HealthCheck::Http(s.http.build());
    }
    let rules = tcp_rules(&s.tcp_rules);
    if s.tcp_check && !rules.is_empty() {
        HealthCheck::TcpRules(rules)
    } else {
        HealthCheck::Tcp
    }
}

/// `check-alpn` and `check-proto` (`srv_parse_check_alpn`,
/// `srv_parse_check_proto`).
pub(super) fn server_param(
    server: &mut super::super::Server,
    param: &str,
    value: &str,
) -> Result<(), String> {
    if param == "check-alpn" {
        if value.is_empty() {
            return Err("'check-alpn' : missing the comma-delimited ALPN protocol suite".into());
        }
        server.check_alpn =
            Some(super::connect::alpn(value).map_err(|e| format!("'check-alpn' : {e}"))?);
        return Ok(());
    }
    server.check_proto_http = Some(match value {
        "" => return Err("'check-proto' : missing value".into()),
        "h1" => true,
        "none" => false,
        "h2" | "fcgi" => {
            return Err(format!(
                "'check-proto {value}' : weir's checks speak HTTP/1.x only (h1) or plain TCP \
                 (none)"
            ));
        }
        other => return Err(format!("'check-proto' :  unknown MUX protocol '{other}'")),
    });
    Ok(())
}

/// HAProxy's `init_srv_check` refuses a `check-proto` of the wrong kind
/// for the backend's check: the messages, one per server.
pub(super) fn check_proto_errors(
    check: &HealthCheck,
    backend: &str,
    servers: &[super::super::Server],
) -> Vec<(Origin, String)> {
    let http = matches!(check, HealthCheck::Http(_));
    servers
        .iter()
        .filter(|s| s.check && s.check_proto_http.is_some_and(|h| h != http))
        .map(|s| {
            let message = format!(
                "config: backend '{backend}': server '{}' uses an incompatible MUX protocol for \
                 the selected check type",
                s.name
            );
            (s.origin.clone(), message)
        })
        .collect()
}

/// `servers` with their TLS settings for check rules kept only when
/// `check` has a connect rule with `ssl` (HAProxy then prepares the
/// servers' TLS for checks even without `check-ssl`).
pub(super) fn rule_tls_kept(
    check: &HealthCheck,
    servers: &[super::super::Server],
) -> Vec<super::super::Server> {
    let ssl = |c: &Connect| c.ssl;
    let wanted = match check {
        HealthCheck::TcpRules(rules) => rules
            .iter()
            .any(|r| matches!(&r.step, TcpStep::Connect(c) if ssl(c))),
        HealthCheck::Http(http) => http
            .rules
            .iter()
            .any(|r| matches!(&r.step, HttpStep::Connect(c) if ssl(c))),
        HealthCheck::Tcp => false,
    };
    servers
        .iter()
        .cloned()
        .map(|mut s| {
            if !wanted {
                s.rule_tls = None;
            }
            s
        })
        .collect()
}

/// The rules of `entries`, each `tcp-check comment` given to the rules
/// after it up to the next change of action (`check_proxy_tcpcheck`).
fn tcp_rules(entries: &[(TcpEntry, Origin)]) -> Vec<TcpRule> {
    let mut rules = Vec::new();
    let mut comment: Option<&String> = None;
    let mut previous: Option<bool> = None;
    for (id, (entry, _)) in (1..).zip(entries) {
        let rule = match entry {
            TcpEntry::Comment(text) => {
                comment = Some(text);
                previous = None;
                continue;
            }
            TcpEntry::Connect(connect, own) => {
                let mut rule = TcpRule::new(TcpStep::Connect(connect.clone()), 0);
                rule.id = id;
                rule.comment = own.clone().or(comment.take().cloned());
                rules.push(rule);
                previous = None;
                continue;
            }
            TcpEntry::Rule(rule) => rule,
        };
        let is_send = matches!(rule.step, TcpStep::Send(_));
        if previous.is_some_and(|p| p != is_send) {
            comment = None;
        }
        previous = Some(is_send);
        let mut rule = rule.clone();
        if rule.comment.is_none() {
            rule.comment = comment.cloned();
        }
        rules.push(rule);
    }
    rules
}

/// `tcp-check connect|send|send-binary|expect|comment ...`; a line in
/// error drops the section's rules, as HAProxy frees its ruleset.
pub(super) fn tcp_check(
    diags: &mut Diags,
    settings: &mut Settings,
    section: &Origin,
    st: &Stmt<'_>,
) {
    let errors = diags.errors.len();
    tcp_check_line(diags, settings, section, st);
    if diags.errors.len() > errors {
        settings.tcp_rules.clear();
    }
}

fn tcp_check_line(diags: &mut Diags, settings: &mut Settings, section: &Origin, st: &Stmt<'_>) {
    // Rules of a section replace those inherited from defaults.
    let inherited = |o: &Origin| o.file != section.file || o.line < section.line;
    if settings
        .tcp_rules
        .first()
        .is_some_and(|(_, o)| inherited(o))
    {
        settings.tcp_rules.clear();
    }
    let id = settings.tcp_rules.len() as u32 + 1;
    let args = st.words.get(2..).unwrap_or_default();
    let entry = match (st.word(1), args) {
        ("comment", [text]) => TcpEntry::Comment(text.clone()),
        ("comment", _) => {
            return diags.error(
                &st.origin,
                "'tcp-check comment' : expects a string as argument.",
            );
        }
        ("connect", args) => {
            let first = settings.tcp_rules.iter().find_map(|(e, _)| match e {
                TcpEntry::Comment(_) => None,
                other => Some(matches!(other, TcpEntry::Connect(..))),
            });
            if first == Some(false) {
                return diags.error(
                    &st.origin,
                    "'tcp-check connect' : first step MUST also be a 'connect', optionally \
                     preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a \
                     'connect' step in the tcp-check ruleset.",
                );
            }
            match super::connect::parse(args, false) {
                Ok((connect, comment)) => TcpEntry::Connect(connect, comment),
                Err(e) => {
                    return diags.error(&st.origin, format!("'tcp-check connect' : {e}."));
                }
            }
        }
        ("send" | "send-binary", [data, rest @ ..]) => {
            let bytes = match st.word(1) {
                "send" => Some(data.as_bytes().to_vec()),
                _ => decode_hex(data),
            };
            let Some(bytes) = bytes else {
                let message = format!("'tcp-check send-binary' : '{data}' invalid binary string.");
                return diags.error(&st.origin, message);
            };
            let mut rule = TcpRule::new(TcpStep::Send(bytes), id);
            match rest {
                [] => {}
                [word, text] if word == "comment" => rule.comment = Some(text.clone()),
                [word, ..] => {
                    let message = format!(
                        "'tcp-check {}' : expects 'comment' but got '{word}' as argument..",
                        st.word(1)
                    );
                    return diags.error(&st.origin, message);
                }
            }
            TcpEntry::Rule(rule)
        }
        ("send" | "send-binary", []) => {
            let kind = if st.word(1) == "send" {
                "string"
            } else {
                "binary"
            };
            let message = format!(
                "'tcp-check {}' : '{kind}' expects a send as argument.",
                st.word(1)
            );
            return diags.error(&st.origin, message);
        }
        ("expect", rest) => match tcp_expect(rest, id) {
            Ok(rule) => TcpEntry::Rule(rule),
            Err(e) => return diags.error(&st.origin, format!("'tcp-check expect' : {e}.")),
        },
        ("send-lf" | "send-binary-lf" | "set-var" | "set-var-fmt" | "unset-var", _) => {
            return diags.error(
                &st.origin,
                format!("'tcp-check {}' is not supported yet", st.word(1)),
            );
        }
        (other, _) => {
            return diags.error(
                &st.origin,
                format!(
                    "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', \
                     'expect'. but got '{other}'"
                ),
            );
        }
    };
    settings.tcp_rules.push((entry, st.origin.clone()));
}

fn tcp_expect(words: &[String], id: u32) -> Result<TcpRule, String> {
    let args = expect_args(words, false)?;
    let negate = args.negate;
    let step = match args.kind {
        Some(("string", pattern)) => TcpStep::Expect {
            pattern: pattern.as_bytes().to_vec(),
            binary: false,
            negate,
        },
        Some(("binary", hex)) => TcpStep::Expect {
            pattern: decode_hex(hex).ok_or(format!("'{hex}' invalid binary string"))?,
            binary: true,
            negate,
        },
        Some((kind, pattern)) => TcpStep::ExpectRegex {
            regex: Pattern::new(pattern)?,
            hex: kind == "rbinary",
            negate,
        },
        None => return Err("expects at least a matching pattern as arguments".into()),
    };
    Ok(TcpRule {
        comment: args.comment,
        min_recv: args.min_recv,
        on_success: args.on_success,
        on_error: args.on_error,
        statuses: args.statuses,
        ..TcpRule::new(step, id)
    })
}

/// `48656c6c6f` -> `Hello`.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn request(send: &HttpSend) -> String {
        String::from_utf8(send.request()).unwrap()
    }

    /// Every expected string below was captured from haproxy 2.6.12's
    /// check connections (a server recording the bytes it received).
    #[test]
    fn request_bytes_are_haproxys() {
        let old = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            option_httpchk(&args).unwrap().0
        };
        assert_eq!(request(&old(&[])), "OPTIONS / HTTP/1.0\r\n\r\n");
        assert_eq!(
            request(&old(&["/just-uri"])),
            "OPTIONS /just-uri HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            request(&old(&["HEAD", "/old", "HTTP/1.0\r\nX-A: a"])),
            "HEAD /old HTTP/1.0\r\nx-a: a\r\n\r\n"
        );
        assert_eq!(
            request(&old(&["GET", "/", "HTTP/1.1\r\nHost: x\r\nX-A: a"])),
            "GET / HTTP/1.1\r\nhost: x\r\nx-a: a\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            request(&old(&["HEAD", "/old", "HTTP/1.0\r\nX-A: a\r\n\r\nbody"])),
            "HEAD /old HTTP/1.0\r\nx-a: a\r\ncontent-length: 4\r\n\r\nbody"
        );
        assert_eq!(
            request(&old(&["GET", "/", "HTTP/2"])),
            "GET / HTTP/1.1\r\n\r\n"
        );
        assert_eq!(
            request(&old(&["GET", "/x", "HTTP/3"])),
            "GET /x HTTP/3\r\n\r\n"
        );
        assert_eq!(
            request(&old(&["GET", "/x", "http/1.1"])),
            "GET /x HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            request(&old(&["GET", "/x", "HTTP/1.1\r\nContent-Length: 3"])),
            "GET /x HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        for (method, version, expected) in [
            (
                "PUT",
                "HTTP/1.1",
                "PUT /x HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            ),
            ("DELETE", "HTTP/1.0", "DELETE /x HTTP/1.0\r\n\r\n"),
            (
                "FOO",
                "HTTP/1.1",
                "FOO /x HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            ),
            (
                "post",
                "HTTP/1.1",
                "post /x HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            ),
        ] {
            assert_eq!(request(&old(&[method, "/x", version])), expected);
        }
        let with = |base: &[&str], send: &str| {
            let mut chk = old(base);
            chk.merge(http_send(&words(send)).unwrap());
            request(&chk)
        };
        assert_eq!(
            with(&["GET", "/x", "HTTP/1.0"], "hdr Connection keep-alive"),
            "GET /x HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            with(&["GET", "/x", "HTTP/1.1"], "hdr Connection close"),
            "GET /x HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            with(&["GET", "/x", "HTTP/1.1"], "hdr Connection foo,close"),
            "GET /x HTTP/1.1\r\nconnection: foo\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            with(&["GET", "/x", "HTTP/1.1"], "hdr Content-Length 5 hdr X-A a"),
            "GET /x HTTP/1.1\r\nx-a: a\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            with(&["GET", "/x", "HTTP/1.0"], "body hi"),
            "GET /x HTTP/1.0\r\ncontent-length: 2\r\n\r\nhi"
        );
        assert_eq!(
            with(&[], "body hello ver HTTP/1.1"),
            "OPTIONS / HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
        );
        assert_eq!(
            with(&[], "ver HTTP/1.1 hdr Connection keep-alive hdr Host h"),
            "OPTIONS / HTTP/1.1\r\nhost: h\r\n\r\n"
        );
        assert_eq!(
            with(&["GET", "/a", "HTTP/1.1\r\nX-A: a"], "meth HEAD"),
            "HEAD /a HTTP/1.1\r\nx-a: a\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn send_arguments_fail_in_haproxys_words() {
        assert_eq!(
            http_send(&words("hdr X-A")).unwrap_err(),
            "'hdr' expects <name> and <value> as arguments"
        );
        assert_eq!(
            http_send(&words("meth")).unwrap_err(),
            "'meth' expects a string as argument."
        );
        assert_eq!(
            http_send(&words("hdr Host a hdr host b")).unwrap_err(),
            "'host' header already defined (previous value is 'a')"
        );
        assert!(
            http_send(&words("mth GET"))
                .unwrap_err()
                .contains("but got 'mth'")
        );
        assert!(http_send(&words("uri-lf /%[srv_id]")).is_err());
    }

    fn parse(text: &str) -> Result<crate::config::Parsed, Vec<String>> {
        crate::config::parse(&[crate::config::Source::new("t.cfg", text)], &mut |_| None)
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    /// The request of each backend of `defaults` + `backends`.
    fn requests(defaults: &str, backends: &[&str]) -> Vec<String> {
        let mut text = format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             {defaults}\nfrontend f\n bind :80\n default_backend b0\n"
        );
        for (i, lines) in backends.iter().enumerate() {
            text.push_str(&format!(
                "backend b{i}\n{lines}\n server s 127.0.0.1:1 check\n"
            ));
        }
        let parsed = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        parsed
            .config
            .backends
            .iter()
            .map(|b| match &b.health_check {
                HealthCheck::Http(http) => String::from_utf8_lossy(http.request()).into_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// The matrix of `defaults` x backend lines run through haproxy 2.6.12
    /// (its check requests recorded on the wire); weir's bytes must equal.
    #[test]
    fn inheritance_between_defaults_and_backends_is_haproxys() {
        let backends = [
            "",
            " option httpchk",
            r" option httpchk HEAD /old HTTP/1.0\r\nX-A:\ a",
            " option httpchk HEAD /old HTTP/1.1\\r\\nX-A:\\ a\n http-check send hdr X-B b",
            " http-check send meth HEAD uri /own ver HTTP/1.1",
            " option httpchk /just-uri",
            " http-check expect status 200",
            " http-check send hdr X-B b\n option httpchk POST /x",
            " option httpchk\n http-check send body hello ver HTTP/1.1",
        ];
        let own = [
            "OPTIONS / HTTP/1.0\r\n\r\n",
            "HEAD /old HTTP/1.0\r\nx-a: a\r\n\r\n",
            "HEAD /old HTTP/1.1\r\nx-b: b\r\nconnection: close\r\n\r\n",
            "HEAD /own HTTP/1.1\r\nconnection: close\r\n\r\n",
            "OPTIONS /just-uri HTTP/1.0\r\n\r\n",
            "",
            "POST /x HTTP/1.0\r\nx-b: b\r\ncontent-length: 0\r\n\r\n",
            "OPTIONS / HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        ];
        let cases = [
            (" option httpchk", "OPTIONS / HTTP/1.0\r\n\r\n"),
            (
                r" option httpchk GET /status HTTP/1.1\r\nX-Old:\ yes",
                "GET /status HTTP/1.1\r\nx-old: yes\r\nconnection: close\r\n\r\n",
            ),
            (
                " option httpchk GET /status HTTP/1.1\\r\\nX-Old:\\ yes\n http-check send hdr X-Def def",
                "GET /status HTTP/1.1\r\nx-def: def\r\nconnection: close\r\n\r\n",
            ),
            (
                " option httpchk\n http-check send meth GET uri /d ver HTTP/1.1 hdr X-Def def",
                "GET /d HTTP/1.1\r\nx-def: def\r\nconnection: close\r\n\r\n",
            ),
        ];
        for (defaults, inherited) in cases {
            let got = requests(defaults, &backends);
            assert_eq!(got[0], inherited, "{defaults}");
            assert_eq!(got[1..], own, "{defaults}");
        }
        // Without `option httpchk` in defaults, a backend with only
        // `http-check` lines runs no HTTP check.
        let got = requests(" http-check send meth GET uri /d hdr X-Def def", &backends);
        assert_eq!(got[0], "Tcp");
        assert_eq!(got[4], "Tcp");
        assert_eq!(got[6], "Tcp");
        assert_eq!(got[1], own[0]);
        assert_eq!(got[7], own[6]);
    }

    #[test]
    fn expect_and_check_lines_fail_in_haproxys_words() {
        let errors = |lines: &str| {
            parse(&format!(
                "frontend f\n bind :80\n default_backend b\nbackend b\n{lines}\n server s 127.0.0.1:1 check\n"
            ))
            .unwrap_err()
        };
        assert_eq!(
            errors(" option tcp-check\n tcp-check expect string"),
            ["t.cfg:6: 'tcp-check expect' : 'string' expects a <pattern> as argument."]
        );
        assert_eq!(
            errors(" option tcp-check\n tcp-check expect strng foo"),
            [
                "t.cfg:6: 'tcp-check expect' : 'only supports min-recv, '[!]binary', '[!]string', \
              '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got \
              'strng' as argument.."
            ]
        );
        assert_eq!(
            errors(" option tcp-check\n tcp-check expect"),
            ["t.cfg:6: 'tcp-check expect' : expects at least a matching pattern as arguments."]
        );
        assert_eq!(
            errors(" option tcp-check\n tcp-check comment"),
            ["t.cfg:6: 'tcp-check comment' : expects a string as argument."]
        );
        assert_eq!(
            errors(" option tcp-check\n tcp-check send"),
            ["t.cfg:6: 'tcp-check send' : 'string' expects a send as argument."]
        );
        assert_eq!(
            errors(" option httpchk\n http-check expect sttus 200"),
            [
                "t.cfg:6: 'http-check expect' : 'only supports min-recv, [!]string', '[!]rstring', \
              '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got \
              'sttus' as argument.."
            ]
        );
        assert_eq!(
            errors(" option httpchk\n http-check send meth"),
            ["t.cfg:6: 'http-check send' : 'meth' expects a string as argument.."]
        );
        assert_eq!(
            errors(" option tcp-check\n tcp-check expect ! comment x string y"),
            ["t.cfg:6: 'tcp-check expect' : [!] not supported with 'comment'."]
        );
        assert!(
            errors(" option tcp-check\n tcp-check expect string x on-error %[srv_id]")[0]
                .contains("log-format strings are not supported by weir")
        );
    }

    #[test]
    fn option_redis_check_runs_haproxys_ruleset_and_other_checks_replace_it() {
        let check = |lines: &str| {
            let text = format!(
                "frontend f\n bind :80\n default_backend b\nbackend b\n{lines}\n \
                 server s 127.0.0.1:1 check\n"
            );
            parse(&text).unwrap().config.backends[0]
                .health_check
                .clone()
        };
        assert_eq!(
            check(" option redis-check"),
            HealthCheck::TcpRules(TcpRule::redis())
        );
        assert!(matches!(
            check(" option redis-check\n option httpchk"),
            HealthCheck::Http { .. }
        ));
        assert_eq!(
            check(" option httpchk\n option redis-check"),
            HealthCheck::TcpRules(TcpRule::redis())
        );
    }

    #[test]
    fn glued_negation_min_recv_and_comments_are_read() {
        let text = "frontend f\n bind :80\n default_backend b\nbackend b\n option tcp-check\n \
                    tcp-check comment greet\n tcp-check send hi\n tcp-check expect !string x \
                    min-recv 5\n tcp-check expect !!rstring ^ok comment mine on-success fine\n \
                    server s 127.0.0.1:1 check\n";
        let parsed = parse(text).unwrap();
        let HealthCheck::TcpRules(rules) = &parsed.config.backends[0].health_check else {
            panic!("tcp-check rules");
        };
        assert_eq!(rules.len(), 3);
        assert_eq!(
            (rules[0].id, rules[0].comment.as_deref()),
            (2, Some("greet"))
        );
        assert!(matches!(
            rules[1].step,
            TcpStep::Expect { negate: true, .. }
        ));
        assert_eq!(
            (rules[1].min_recv, rules[1].comment.as_deref()),
            (Some(5), None)
        );
        assert!(matches!(
            rules[2].step,
            TcpStep::ExpectRegex { negate: false, .. }
        ));
        assert_eq!(rules[2].comment.as_deref(), Some("mine"));
        assert_eq!(rules[2].on_success.as_deref(), Some("fine"));
        let http = "frontend f\n bind :80\n default_backend b\nbackend b\n option httpchk\n \
                    http-check expect !status 200\n server s 127.0.0.1:1 check\n";
        let HealthCheck::Http(check) = &parse(http).unwrap().config.backends[0].health_check else {
            panic!("http");
        };
        let expect = check.expects().next().unwrap();
        assert_eq!(
            *expect,
            HttpExpect::Status {
                codes: vec![(200, 200)],
                negate: true
            }
        );
    }
}
