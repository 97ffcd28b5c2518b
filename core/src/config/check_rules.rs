//! The rules of `http-check` rulesets and the `connect` rule of both
//! `tcp-check` and `http-check`, as HAProxy 2.6's `src/tcpcheck.c` keeps
//! them (`struct tcpcheck_rule`).

use std::net::IpAddr;

use super::HttpExpect;

/// A `connect` rule (`struct tcpcheck_connect`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    /// `port N`.
    pub port: Option<u16>,
    /// `addr A[:P]`: the address, and a port when one was given.
    pub addr: Option<(IpAddr, Option<u16>)>,
    /// `ssl`: TLS with the server's TLS settings.
    pub ssl: bool,
    /// `sni NAME`.
    pub sni: Option<String>,
    /// `alpn LIST`: the protocols, in order.
    pub alpn: Option<Vec<Vec<u8>>>,
    /// `send-proxy`: a PROXY protocol header first.
    pub send_proxy: bool,
    /// `linger`: the connection ends with a FIN, not a reset.
    pub linger: bool,
    /// `default`: what the rule leaves unset comes from the server's
    /// check settings (`check-ssl`, `check-sni`, `check-alpn`,
    /// `check-send-proxy`); the implicit first connect is one.
    pub default: bool,
    /// The rule was added by HAProxy, not written (step 0 in messages).
    pub implicit: bool,
}

impl Connect {
    /// The implicit first connect of a ruleset without one.
    pub fn implicit() -> Self {
        Connect {
            default: true,
            implicit: true,
            ..Connect::default()
        }
    }
}

/// A check status a rule may choose (`ok-status`, `error-status`,
/// `tout-status`; HAProxy's `HCHK_STATUS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleStatus {
    /// `L4OK`.
    L4Ok,
    /// `L4TOUT`.
    L4Tout,
    /// `L4CON`.
    L4Con,
    /// `L6OK`.
    L6Ok,
    /// `L6TOUT`.
    L6Tout,
    /// `L6RSP`.
    L6Rsp,
    /// `L7OK`.
    L7Ok,
    /// `L7OKC`: passed conditionally (the server goes NOLB).
    L7OkC,
    /// `L7RSP`.
    L7Rsp,
    /// `L7STS`.
    L7Sts,
    /// `L7TOUT`.
    L7Tout,
}

/// What an expect rule says beside its pattern: the statuses and code it
/// sets instead of HAProxy's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statuses {
    /// `ok-status`: the status of a check that ends on this rule.
    pub ok: Option<RuleStatus>,
    /// `error-status`: the status when the rule fails.
    pub error: Option<RuleStatus>,
    /// `tout-status`: the status when the check times out on this rule.
    pub timeout: Option<RuleStatus>,
    /// `status-code int(N)`: the code reported with the status.
    pub code: Option<i64>,
}

/// An `http-check` request: its bytes, and where HAProxy writes the
/// `X-Haproxy-Server-State` header (`http-check send-state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The whole request as HAProxy's H1 multiplexer writes it.
    pub bytes: Vec<u8>,
    /// The offset in `bytes` after the configured headers.
    pub state_at: usize,
}

/// What an `http-check` rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpStep {
    /// `http-check connect`, written or implicit.
    Connect(Connect),
    /// `http-check send` (with `option httpchk`'s request merged in).
    Send(HttpRequest),
    /// `http-check expect`, written or the implicit `status 200-399`
    /// ([`HttpExpect::Default`]).
    Expect(HttpExpect),
}

/// One rule of an `http-check` ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    /// What the rule does.
    pub step: HttpStep,
    /// HAProxy's step number (1-based; the implicit connect is 0).
    pub id: u32,
    /// `comment`, or that of an `http-check comment` before it.
    pub comment: Option<String>,
    /// `min-recv` of a body expect (`None`: HAProxy's -1).
    pub min_recv: Option<usize>,
    /// `on-success` text.
    pub on_success: Option<String>,
    /// `on-error` text.
    pub on_error: Option<String>,
    /// `ok-status`, `error-status`, `tout-status`, `status-code`.
    pub statuses: Statuses,
}

impl HttpRule {
    /// A rule with only its step and number.
    pub fn new(step: HttpStep, id: u32) -> Self {
        HttpRule {
            step,
            id,
            comment: None,
            min_recv: None,
            on_success: None,
            on_error: None,
            statuses: Statuses::default(),
        }
    }
}

/// `option httpchk` with its `http-check` rules and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// The rules in order, starting with a connect.
    pub rules: Vec<HttpRule>,
    /// `http-check send-state`: requests carry `X-Haproxy-Server-State`.
    pub send_state: bool,
    /// `http-check disable-on-404`: a 404 from an UP server makes it NOLB.
    pub disable_on_404: bool,
}

impl HttpCheck {
    /// [`HttpCheck::simple`] of `bytes` (the server state header, if
    /// asked for, goes before the empty line).
    pub fn of(bytes: Vec<u8>, expect: HttpExpect) -> Self {
        let state_at = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes.len(), |i| i + 2);
        HttpCheck::simple(HttpRequest { bytes, state_at }, expect)
    }

    /// A ruleset of one request and one expect rule (`option httpchk`
    /// alone, or with one `http-check expect`).
    pub fn simple(request: HttpRequest, expect: HttpExpect) -> Self {
        HttpCheck {
            rules: vec![
                HttpRule::new(HttpStep::Connect(Connect::implicit()), 0),
                HttpRule::new(HttpStep::Send(request), 1),
                HttpRule::new(HttpStep::Expect(expect), 2),
            ],
            send_state: false,
            disable_on_404: false,
        }
    }

    /// The bytes of the first request (empty when there is none).
    pub fn request(&self) -> &[u8] {
        self.rules
            .iter()
            .find_map(|r| match &r.step {
                HttpStep::Send(request) => Some(request.bytes.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The expect rules in order.
    pub fn expects(&self) -> impl Iterator<Item = &HttpExpect> {
        self.rules.iter().filter_map(|r| match &r.step {
            HttpStep::Expect(expect) => Some(expect),
            _ => None,
        })
    }
}
