//! The rules of a check seen one at a time, whatever their kind
//! (`tcp-check` or `http-check`), and the verdicts HAProxy 2.6's
//! `tcpcheck_main`, `tcpcheck_eval_expect_http` and
//! `tcpcheck_expect_onerror_message` give when they pass or fail.

use crate::config::{
    Connect, HealthCheck, HttpCheck, HttpExpect, HttpRequest, HttpRule, HttpStep, RuleStatus,
    TcpRule, TcpStep,
};
use crate::health::CheckStatus;
use crate::health::http::Response;
use crate::health::rules;

/// What a check's probe knows of its server when it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerView {
    /// The value of `X-Haproxy-Server-State` (`http-check send-state`).
    pub state: String,
    /// The server is not DOWN (`disable-on-404` applies only then).
    pub up: bool,
}

/// One rule of a check.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule<'a> {
    /// Past the last rule.
    End,
    Connect(&'a Connect),
    TcpSend(&'a [u8]),
    HttpSend(&'a HttpRequest),
    TcpExpect(&'a TcpRule),
    HttpExpect(&'a HttpRule),
}

/// The rule at `i` (0-based).
pub(crate) fn rule(check: &HealthCheck, i: usize) -> Rule<'_> {
    match check {
        HealthCheck::Tcp => Rule::End,
        HealthCheck::TcpRules(rules) => match rules.get(i) {
            None => Rule::End,
            Some(r) => match &r.step {
                TcpStep::Connect(c) => Rule::Connect(c),
                TcpStep::Send(data) => Rule::TcpSend(data),
                TcpStep::Expect { .. } | TcpStep::ExpectRegex { .. } | TcpStep::Custom(_) => {
                    Rule::TcpExpect(r)
                }
            },
        },
        HealthCheck::Http(http) => match http.rules.get(i) {
            None => Rule::End,
            Some(r) => match &r.step {
                HttpStep::Connect(c) => Rule::Connect(c),
                HttpStep::Send(request) => Rule::HttpSend(request),
                HttpStep::Expect(_) => Rule::HttpExpect(r),
            },
        },
    }
}

/// The connect rule the first connection is for: `Some(0)` when the
/// rules start with one, `None` for HAProxy's implicit connect.
pub(crate) fn first_connect(check: &HealthCheck) -> Option<(usize, &Connect)> {
    match rule(check, 0) {
        Rule::Connect(c) => Some((0, c)),
        _ => None,
    }
}

/// Whether the connection opened for the connect rule at `opened_at`
/// (`None`: the implicit first one) delays its handshake's last ACK:
/// when a send or nothing follows, as HAProxy's `tcpcheck_eval_connect`
/// (`CONNECT_DELACK_ALWAYS`). HAProxy's source also delays it before
/// another connect, but 2.6.12's servers do accept that connection
/// (weir-diff `tcp-check_multiple_ports`): weir follows the binary.
pub(crate) fn delays_ack(check: &HealthCheck, opened_at: Option<usize>) -> bool {
    let next = opened_at.map_or(0, |i| i + 1);
    matches!(
        rule(check, next),
        Rule::End | Rule::TcpSend(_) | Rule::HttpSend(_)
    )
}

/// The request of `request` with `X-Haproxy-Server-State` in it, when
/// `send-state` asks for one.
pub(crate) fn with_state(
    http: &HttpCheck,
    request: &HttpRequest,
    server: &ServerView,
) -> Option<Vec<u8>> {
    if !http.send_state {
        return None;
    }
    let at = request.state_at.min(request.bytes.len());
    let mut out = Vec::with_capacity(request.bytes.len() + server.state.len() + 32);
    out.extend_from_slice(&request.bytes[..at]);
    out.extend_from_slice(b"x-haproxy-server-state: ");
    out.extend_from_slice(server.state.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&request.bytes[at..]);
    Some(out)
}

/// The verdict of rules that all passed (the end of `tcpcheck_main`):
/// by the last rule, with its `ok-status`, `on-success` and
/// `status-code`; `code` is the last HTTP response's status, `data` the
/// bytes received since the last send (a protocol check's reply).
pub(crate) fn success(
    check: &HealthCheck,
    data: &[u8],
    code: Option<u16>,
    tls: bool,
    server: &ServerView,
) -> CheckStatus {
    let connected = |c: &Connect| CheckStatus::Ruled {
        status: if tls {
            RuleStatus::L6Ok
        } else {
            RuleStatus::L4Ok
        },
        code: 0,
        info: if c.implicit {
            String::new()
        } else {
            "(tcp-check)".into()
        },
    };
    match check {
        HealthCheck::Tcp => CheckStatus::L4Ok,
        HealthCheck::TcpRules(steps) => match steps.last() {
            Some(TcpRule {
                step: TcpStep::Connect(c),
                ..
            }) => connected(c),
            Some(last @ TcpRule { step, .. })
                if !matches!(step, TcpStep::Send(_))
                    && (last.statuses.ok.is_some() || last.statuses.code.is_some()) =>
            {
                CheckStatus::Ruled {
                    status: last.statuses.ok.unwrap_or(RuleStatus::L7Ok),
                    code: last.statuses.code.unwrap_or(0),
                    info: rules::success_text(steps),
                }
            }
            _ => rules::passed(steps, data),
        },
        HealthCheck::Http(http) => match http.rules.last().map(|r| (r, &r.step)) {
            Some((_, HttpStep::Connect(c))) => connected(c),
            Some((last, HttpStep::Expect(_))) => {
                if http.disable_on_404 && code == Some(404) && server.up {
                    return CheckStatus::Ruled {
                        status: RuleStatus::L7OkC,
                        code: 404,
                        info: String::new(),
                    };
                }
                CheckStatus::Ruled {
                    status: last.statuses.ok.unwrap_or(RuleStatus::L7Ok),
                    code: last
                        .statuses
                        .code
                        .unwrap_or(i64::from(code.unwrap_or_default())),
                    info: last.on_success.clone().unwrap_or_default(),
                }
            }
            _ => CheckStatus::Ruled {
                status: RuleStatus::L7Ok,
                code: 0,
                info: "(tcp-check)".into(),
            },
        },
    }
}

/// The verdict of a failed `tcp-check` expect with `text`: `L7RSP`, or
/// `L7STS` for a protocol's wrong status, `L6RSP` for `ssl-hello-chk`, or
/// the rule's `error-status`; `data` is the reply judged.
pub(crate) fn tcp_failure(rule: &TcpRule, data: &[u8], text: String) -> CheckStatus {
    match rule.statuses.error {
        Some(status) => CheckStatus::Ruled {
            status,
            code: rule.statuses.code.unwrap_or(0),
            info: text,
        },
        None => rules::failed(rule, data, text),
    }
}

/// HAProxy's text of a failed rule: `on-error` or `desc`, then the
/// rule's comment.
fn failure_text(rule: &HttpRule, desc: &str) -> String {
    let mut text = rule.on_error.clone().unwrap_or_else(|| desc.to_owned());
    if let Some(comment) = &rule.comment {
        text.push_str(" comment: ");
        text.push_str(comment);
    }
    text
}

/// No response, or not a valid one (`tcpcheck_eval_expect_http` on an
/// empty or unparsable message): `L7RSP` whatever `error-status` says,
/// with no text but `on-error` or the comment (checked against haproxy
/// 2.6.12).
pub(crate) fn http_invalid(rule: &HttpRule) -> CheckStatus {
    CheckStatus::Ruled {
        status: RuleStatus::L7Rsp,
        code: rule.statuses.code.unwrap_or(0),
        info: failure_text(rule, ""),
    }
}

/// Judges an `http-check expect` rule on a complete response: `None`
/// when it passes, else the verdict (`tcpcheck_eval_expect_http`): a
/// status rule fails `L7STS` with the reason phrase, a body rule `L7RSP`
/// saying what was missing, unmatched or unwanted.
pub(crate) fn http_judge(rule: &HttpRule, response: &Response<'_>) -> Option<CheckStatus> {
    let HttpStep::Expect(expect) = &rule.step else {
        return None;
    };
    let body_rule = matches!(
        expect,
        HttpExpect::String { .. } | HttpExpect::RString { .. }
    );
    let (default, desc) = match expect {
        _ if body_rule && response.body.is_empty() => (
            RuleStatus::L7Rsp,
            "HTTP content check could not find a response body",
        ),
        _ if expect.passes(response) => return None,
        HttpExpect::String { negate: true, .. } | HttpExpect::RString { negate: true, .. } => {
            (RuleStatus::L7Rsp, "HTTP check matched unwanted content")
        }
        HttpExpect::String { .. } | HttpExpect::RString { .. } => {
            (RuleStatus::L7Rsp, "HTTP content check did not match")
        }
        _ => (RuleStatus::L7Sts, response.reason),
    };
    Some(CheckStatus::Ruled {
        status: rule.statuses.error.unwrap_or(default),
        code: rule.statuses.code.unwrap_or(i64::from(response.status)),
        info: failure_text(rule, desc),
    })
}

/// The `tout-status` of the expect rule at `i`, if it has one.
pub(crate) fn timeout_status(check: &HealthCheck, i: usize) -> Option<RuleStatus> {
    match rule(check, i) {
        Rule::TcpExpect(r) => r.statuses.timeout,
        Rule::HttpExpect(r) => r.statuses.timeout,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::config::{Pattern, Statuses};

    fn response(status: u16, body: &'static [u8]) -> Response<'static> {
        Response {
            status,
            reason: "Reason",
            body: Cow::Borrowed(body),
        }
    }

    fn expect(e: HttpExpect) -> HttpRule {
        HttpRule::new(HttpStep::Expect(e), 3)
    }

    fn info(status: Option<CheckStatus>) -> (RuleStatus, i64, String) {
        match status {
            Some(CheckStatus::Ruled { status, code, info }) => (status, code, info),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_rules_fail_in_haproxys_words() {
        let status = expect(HttpExpect::Status {
            codes: vec![(200, 200)],
            negate: false,
        });
        assert_eq!(http_judge(&status, &response(200, b"")), None);
        assert_eq!(
            info(http_judge(&status, &response(503, b""))),
            (RuleStatus::L7Sts, 503, "Reason".into())
        );
        let mut body = expect(HttpExpect::String {
            text: b"OK".to_vec(),
            negate: false,
        });
        body.comment = Some("body says OK".into());
        assert_eq!(
            info(http_judge(&body, &response(200, b"BAD"))),
            (
                RuleStatus::L7Rsp,
                200,
                "HTTP content check did not match comment: body says OK".into()
            )
        );
        assert_eq!(
            info(http_judge(&body, &response(200, b""))).2,
            "HTTP content check could not find a response body comment: body says OK"
        );
        let mut unwanted = expect(HttpExpect::RString {
            regex: Pattern::new("down").unwrap(),
            negate: true,
        });
        assert_eq!(
            info(http_judge(&unwanted, &response(200, b"live down"))).2,
            "HTTP check matched unwanted content"
        );
        unwanted.on_error = Some("said down".into());
        unwanted.statuses = Statuses {
            error: Some(RuleStatus::L7OkC),
            code: Some(42),
            ..Statuses::default()
        };
        assert_eq!(
            info(http_judge(&unwanted, &response(200, b"live down"))),
            (RuleStatus::L7OkC, 42, "said down".into())
        );
    }

    #[test]
    fn success_follows_the_last_rule() {
        let request = HttpRequest {
            bytes: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            state_at: 16,
        };
        let mut http = HttpCheck::simple(request.clone(), HttpExpect::Default);
        let up = ServerView {
            state: "UP; name=be/s".into(),
            up: true,
        };
        let check = HealthCheck::Http(http.clone());
        assert_eq!(
            info(Some(success(&check, &[], Some(200), false, &up))),
            (RuleStatus::L7Ok, 200, String::new())
        );
        assert_eq!(with_state(&http, &request, &up), None);
        http.disable_on_404 = true;
        http.send_state = true;
        assert_eq!(
            with_state(&http, &request, &up).unwrap(),
            b"GET / HTTP/1.0\r\nx-haproxy-server-state: UP; name=be/s\r\n\r\n"
        );
        let check = HealthCheck::Http(http);
        assert_eq!(
            info(Some(success(&check, &[], Some(404), false, &up))).0,
            RuleStatus::L7OkC
        );
        let down = ServerView::default();
        assert_eq!(
            info(Some(success(&check, &[], Some(404), false, &down))).0,
            RuleStatus::L7Ok
        );
        let connect = TcpRule::new(TcpStep::Connect(Connect::default()), 1);
        let rules = HealthCheck::TcpRules(vec![connect]);
        assert_eq!(
            info(Some(success(&rules, &[], None, true, &up))),
            (RuleStatus::L6Ok, 0, "(tcp-check)".into())
        );
    }
}
