//! A finished check as HAProxy reports it: the status, its code, its text
//! and the check's duration (HAProxy's `check->status`, `code`, `desc`,
//! `duration`), written into log lines as `srv_append_status` does and
//! shown in the stats.

use crate::config::{HealthCheck, RuleStatus};
use crate::health::CheckStatus as Verdict;
use crate::stats::CheckStatus;

/// What the last check of a server found, kept for the logs and the stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastCheck {
    /// The verdict.
    pub verdict: Verdict,
    /// What HAProxy appends to the verdict's text: where a `tcp-check`
    /// stood when the connection failed or timed out
    /// (` at step 2 of tcp-check (expect regex)`).
    pub context: String,
    /// How long the check took; none for a `Health analyze` verdict
    /// (HAProxy's duration -1).
    pub duration_ms: Option<u64>,
}

impl LastCheck {
    /// A verdict of a check that took `duration_ms`.
    pub(crate) fn new(verdict: Verdict, context: String, duration_ms: u64) -> Self {
        let duration_ms = (!matches!(verdict, Verdict::Analyze(_))).then_some(duration_ms);
        LastCheck {
            verdict,
            context,
            duration_ms,
        }
    }

    /// HAProxy's status code of the verdict (`HCHK_STATUS_*`).
    pub(crate) fn status(&self) -> CheckStatus {
        status_of(&self.verdict)
    }

    /// The code HAProxy shows with the status: the response's for the
    /// statuses of layer 7 data (`L7OK`, `L7OKC`, `L7STS`, 0 without one),
    /// none for the others.
    pub(crate) fn code(&self) -> Option<u32> {
        match &self.verdict {
            Verdict::L7Status(code, _) | Verdict::ProtocolPassed(code, _) => Some(u32::from(*code)),
            Verdict::TcpRulesPassed(_) => Some(0),
            Verdict::Ruled {
                status: RuleStatus::L7Ok | RuleStatus::L7OkC | RuleStatus::L7Sts,
                code,
                ..
            } => {
                // HAProxy prints its int as is; the stats column is unsigned.
                Some(*code as u32)
            }
            _ => None,
        }
    }

    /// The verdict's text (`check->desc`; `last_chk` in the stats).
    pub(crate) fn desc(&self) -> String {
        let mut desc = self.verdict.short_info();
        desc.push_str(&self.context);
        desc
    }

    /// `, reason: <status>[, code: N][, info: "<text>"][, check duration:
    /// Nms]`, as HAProxy's `srv_append_status` writes a check's result.
    pub(crate) fn append_to(&self, line: &mut String) {
        line.push_str(", reason: ");
        self.write_result(line);
        if let Some(ms) = self.duration_ms {
            line.push_str(&format!(", check duration: {ms}ms"));
        }
    }

    /// What [`LastCheck::append_to`] writes after `, reason: ` and before
    /// the duration: the form [`super::HealthVerdict`] carries to other
    /// instances.
    pub(crate) fn reason_text(&self) -> String {
        let mut text = String::new();
        self.write_result(&mut text);
        text
    }

    /// `<status>[, code: N][, info: "<text>"]`.
    fn write_result(&self, line: &mut String) {
        line.push_str(self.verdict.reason());
        if let Some(code) = self.code() {
            line.push_str(&format!(", code: {code}"));
        }
        let desc = self.desc();
        if !desc.is_empty() {
            line.push_str(", info: \"");
            ascii_encode(&desc, '"', line);
            line.push('"');
        }
    }
}

/// What HAProxy's `chk_report_conn_err` appends to the text of a
/// connection error or timeout of `tcp-check` rules: where the rules
/// stood (`step`: the rule the probe was at, 0-based, none while it
/// connects). Empty for other checks and other verdicts.
pub(crate) fn tcp_check_context(
    check: &HealthCheck,
    verdict: &Verdict,
    step: Option<usize>,
) -> String {
    let HealthCheck::TcpRules(steps) = check else {
        return String::new();
    };
    if steps.first().is_some_and(|rule| rule.protocol) {
        return String::new();
    }
    let connection = matches!(
        verdict,
        Verdict::L4Con(_)
            | Verdict::L4ConTls(_)
            | Verdict::L4Timeout
            | Verdict::L6Invalid(_)
            | Verdict::L6Timeout
            | Verdict::L7Timeout
            | Verdict::Ruled {
                status: RuleStatus::L4Tout | RuleStatus::L6Tout | RuleStatus::L7Tout,
                ..
            }
    );
    match step {
        _ if !connection => String::new(),
        // Still at the implicit connect (TLS included).
        None => " at initial connection step of tcp-check".into(),
        Some(step) => steps
            .get(step)
            .map(crate::health::rules::step_context)
            .unwrap_or_default(),
    }
}

/// HAProxy's status code of a verdict.
fn status_of(verdict: &Verdict) -> CheckStatus {
    match verdict {
        Verdict::L4Ok => CheckStatus::L4Ok,
        Verdict::L4Timeout => CheckStatus::L4Tout,
        Verdict::L4Con(_) | Verdict::L4ConTls(_) => CheckStatus::L4Con,
        Verdict::L6Ok => CheckStatus::L6Ok,
        Verdict::L6Timeout => CheckStatus::L6Tout,
        Verdict::L6Invalid(_) => CheckStatus::L6Rsp,
        Verdict::TcpRulesPassed(_) | Verdict::ProtocolPassed(..) => CheckStatus::L7Ok,
        Verdict::L7Status(..) => CheckStatus::L7Sts,
        Verdict::TcpRulesFailed(_) => CheckStatus::L7Rsp,
        Verdict::L7Timeout => CheckStatus::L7Tout,
        Verdict::Analyze(_) => CheckStatus::Hana,
        Verdict::Ruled { status, .. } => match status {
            RuleStatus::L4Ok => CheckStatus::L4Ok,
            RuleStatus::L4Tout => CheckStatus::L4Tout,
            RuleStatus::L4Con => CheckStatus::L4Con,
            RuleStatus::L6Ok => CheckStatus::L6Ok,
            RuleStatus::L6Tout => CheckStatus::L6Tout,
            RuleStatus::L6Rsp => CheckStatus::L6Rsp,
            RuleStatus::L7Ok => CheckStatus::L7Ok,
            RuleStatus::L7OkC => CheckStatus::L7OkC,
            RuleStatus::L7Rsp => CheckStatus::L7Rsp,
            RuleStatus::L7Sts => CheckStatus::L7Sts,
            RuleStatus::L7Tout => CheckStatus::L7Tout,
        },
    }
}

/// HAProxy's `chunk_asciiencode`: characters that are not printable
/// ASCII, `<`, `>` and `quote` become `<HH>`.
pub(super) fn ascii_encode(text: &str, quote: char, out: &mut String) {
    for byte in text.bytes() {
        let c = char::from(byte);
        if !(byte.is_ascii_graphic() || byte == b' ') || c == '<' || c == '>' || c == quote {
            out.push_str(&format!("<{byte:02X}>"));
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ConnError;

    fn line(verdict: Verdict, context: &str, ms: u64) -> String {
        let mut line = String::new();
        LastCheck::new(verdict, context.into(), ms).append_to(&mut line);
        line
    }

    #[test]
    fn a_connection_refused_has_its_text_and_duration() {
        assert_eq!(
            line(Verdict::L4Con(ConnError::Refused), "", 0),
            ", reason: Layer4 connection problem, info: \"Connection refused\", \
             check duration: 0ms"
        );
    }

    #[test]
    fn an_http_success_has_its_code_and_no_text() {
        assert_eq!(
            line(
                Verdict::Ruled {
                    status: RuleStatus::L7Ok,
                    code: 200,
                    info: String::new()
                },
                "",
                9
            ),
            ", reason: Layer7 check passed, code: 200, check duration: 9ms"
        );
    }

    #[test]
    fn a_wrong_status_has_its_code_and_reason_phrase() {
        assert_eq!(
            line(Verdict::L7Status(503, "X".into()), "", 0),
            ", reason: Layer7 wrong status, code: 503, info: \"X\", check duration: 0ms"
        );
    }

    #[test]
    fn a_tcp_check_success_has_code_zero() {
        assert_eq!(
            line(Verdict::TcpRulesPassed("(tcp-check)".into()), "", 0),
            ", reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: 0ms"
        );
    }

    #[test]
    fn a_timeout_inside_tcp_check_rules_says_where() {
        let context = " at step 2 of tcp-check (expect regex)";
        assert_eq!(
            line(Verdict::L7Timeout, context, 336),
            ", reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect regex)\", \
             check duration: 336ms"
        );
    }

    #[test]
    fn a_health_analyze_verdict_has_no_duration() {
        let text = "Detected 3 consecutive errors, last one was: L4 unsuccessful connection";
        assert_eq!(
            line(Verdict::Analyze(text.into()), "", 12),
            format!(", reason: Health analyze, info: \"{text}\"")
        );
    }

    #[test]
    fn tcp_check_rules_say_where_a_failure_stood() {
        use crate::config::TcpStep;
        let steps = vec![
            TcpStep::Send(b"hello\r\n".to_vec()),
            TcpStep::ExpectRegex {
                regex: crate::config::Pattern::new("^ok").unwrap(),
                hex: false,
                negate: false,
            },
            TcpStep::Expect {
                pattern: b"+PONG".to_vec(),
                binary: false,
                negate: false,
            },
        ];
        let rules = HealthCheck::TcpRules(crate::config::TcpRule::numbered(steps));
        let refused = Verdict::L4Con(ConnError::Refused);
        assert_eq!(
            tcp_check_context(&rules, &refused, None),
            " at initial connection step of tcp-check"
        );
        let at = |step| tcp_check_context(&rules, &Verdict::L7Timeout, Some(step));
        assert_eq!(at(0), " at step 1 of tcp-check (send)");
        assert_eq!(at(1), " at step 2 of tcp-check (expect regex)");
        assert_eq!(at(2), " at step 3 of tcp-check (expect string '+PONG')");
        let reset = Verdict::L4Con(ConnError::Reset);
        assert_eq!(
            tcp_check_context(&rules, &reset, Some(1)),
            " at step 2 of tcp-check (expect regex)",
            "an error once connected"
        );
        assert_eq!(tcp_check_context(&HealthCheck::Tcp, &refused, None), "");
    }

    #[test]
    fn quotes_and_unprintable_bytes_are_encoded() {
        let mut out = String::new();
        ascii_encode("a\"b<c>\td é", '"', &mut out);
        assert_eq!(out, "a<22>b<3C>c<3E><09>d <C3><A9>");
    }

    #[test]
    fn the_reason_text_leaves_the_duration_out() {
        let last = LastCheck::new(Verdict::L7Status(503, "X".into()), String::new(), 4);
        assert_eq!(
            last.reason_text(),
            "Layer7 wrong status, code: 503, info: \"X\""
        );
    }
}
