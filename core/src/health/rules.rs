//! `tcp-check` expect rules judged as HAProxy 2.6's
//! `tcpcheck_eval_expect` does, with its texts.

use crate::config::{TcpRule, TcpStep};
use crate::health::CheckStatus;
use crate::health::protocol::{reply_code, reply_text};

/// What an expect rule makes of the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judged {
    /// More bytes are needed.
    Wait,
    /// The rule passed: on to the next one (same bytes).
    Pass,
    /// The rule failed, with the check's text.
    Fail(String),
}

/// Judges expect rule `rule` on `data`; `last_read` says no more bytes
/// will come (the server closed, or the buffer is full). A send rule
/// passes; so does a custom expect (`crate::health::protocol` judges
/// those).
pub(crate) fn judge(rule: &TcpRule, data: &[u8], last_read: bool) -> Judged {
    if let Some(text) = empty_response(rule, data, last_read) {
        return Judged::Fail(text);
    }
    let negate = match &rule.step {
        TcpStep::Send(_) | TcpStep::Custom(_) | TcpStep::Connect(_) => return Judged::Pass,
        TcpStep::Expect { negate, .. } | TcpStep::ExpectRegex { negate, .. } => *negate,
    };
    if !last_read {
        let short = match &rule.step {
            TcpStep::Expect { pattern, .. } => data.len() < pattern.len(),
            _ => false,
        };
        if short || rule.min_recv.is_some_and(|n| n > 0 && data.len() < n) {
            return Judged::Wait;
        }
    }
    let found = rule.step.finds(data);
    if !found && !last_read && rule.min_recv.is_none() {
        return Judged::Wait;
    }
    if found != negate {
        return Judged::Pass;
    }
    Judged::Fail(error_text(rule, found, data))
}

/// HAProxy's `tcpcheck_eval_recv` on an expect: the server closed and
/// nothing came since the last send.
pub(crate) fn empty_response(rule: &TcpRule, data: &[u8], last_read: bool) -> Option<String> {
    if !last_read || !data.is_empty() || matches!(rule.step, TcpStep::Send(_)) {
        return None;
    }
    let mut text = format!("TCPCHK got an empty response at step {}", rule.id);
    if let Some(comment) = &rule.comment {
        text.push_str(&format!(" comment: '{comment}'"));
    }
    Some(text)
}

/// The verdict of a check that failed on `rule` with `text`, by the
/// rule's error status (`L7RSP`, `L7STS` with its code, `L6RSP`).
pub(crate) fn failed(rule: &TcpRule, data: &[u8], text: String) -> CheckStatus {
    if rule.layer6 {
        CheckStatus::L6Invalid(text)
    } else if rule.wrong_status {
        let code = if rule.code_from_reply {
            reply_code(data)
        } else {
            0
        };
        CheckStatus::L7Status(code, text)
    } else {
        CheckStatus::TcpRulesFailed(text)
    }
}

/// HAProxy's `tcpcheck_expect_onerror_message`: `on-error`, or what
/// matched or not and where, then the rule's comment.
fn error_text(rule: &TcpRule, found: bool, data: &[u8]) -> String {
    let mut text = match &rule.on_error {
        Some(text) => text.clone(),
        None => match rule.error_text {
            Some(from) => reply_text(from, data),
            None => default_error_text(rule, found),
        },
    };
    if let Some(comment) = &rule.comment {
        text.push_str(" comment: ");
        text.push_str(comment);
    }
    text
}

/// The text of a failed rule that has none of its own.
fn default_error_text(rule: &TcpRule, found: bool) -> String {
    if rule.protocol {
        return String::new();
    }
    let head = match found {
        true => "TCPCHK matched unwanted content",
        false => "TCPCHK did not match content",
    };
    let what = match &rule.step {
        TcpStep::Expect {
            pattern,
            binary: false,
            ..
        } => format!(" '{}'", String::from_utf8_lossy(pattern)),
        TcpStep::Expect { binary: true, .. } => " (binary)".into(),
        TcpStep::ExpectRegex { hex: false, .. } => " (regex)".into(),
        TcpStep::ExpectRegex { hex: true, .. } => " (binary regex)".into(),
        TcpStep::Custom(_) => " (custom function)".into(),
        TcpStep::Send(_) | TcpStep::Connect(_) => String::new(),
    };
    format!("{head}{what} at step {}", rule.id)
}

/// The text of a check whose rules all passed (`tcpcheck_main`): the last
/// rule's `on-success` when it is an expect with one, else `(tcp-check)`
/// (nothing for a protocol check).
pub(crate) fn success_text(rules: &[TcpRule]) -> String {
    match rules.last() {
        Some(TcpRule {
            step: TcpStep::Expect { .. } | TcpStep::ExpectRegex { .. },
            on_success: Some(text),
            ..
        }) => text.clone(),
        Some(rule) if rule.protocol => String::new(),
        Some(TcpRule {
            step: TcpStep::Connect(connect),
            ..
        }) if connect.implicit => String::new(),
        _ => "(tcp-check)".into(),
    }
}

/// The verdict of a check whose rules all passed on `data` (the bytes
/// since the last send): `L6OK` for `ssl-hello-chk`, the reply's code and
/// text for `smtpchk`, else `L7OK` with [`success_text`].
pub(crate) fn passed(rules: &[TcpRule], data: &[u8]) -> CheckStatus {
    let Some(last) = rules.last() else {
        return CheckStatus::TcpRulesPassed(success_text(rules));
    };
    if last.layer6 {
        return CheckStatus::L6Ok;
    }
    let text = match last.success_text {
        Some(from) if matches!(last.step, TcpStep::ExpectRegex { .. }) => reply_text(from, data),
        _ => success_text(rules),
    };
    match last.code_from_reply {
        true => CheckStatus::ProtocolPassed(reply_code(data), text),
        false => CheckStatus::TcpRulesPassed(text),
    }
}

/// What HAProxy's `chk_report_conn_err` says of the rule a check stood
/// at when its connection failed or timed out:
/// ` at step 2 of tcp-check (expect regex) comment: 'x'`.
pub(crate) fn step_context(rule: &TcpRule) -> String {
    if rule.protocol {
        return String::new();
    }
    let what = match &rule.step {
        TcpStep::Send(_) => " (send)".to_owned(),
        TcpStep::Connect(connect) => match connect.port {
            Some(port) => format!(" (connect port {port})"),
            None => " (connect)".to_owned(),
        },
        TcpStep::Expect {
            pattern, binary, ..
        } => {
            let kind = if *binary { "binary" } else { "string" };
            format!(" (expect {kind} '{}')", String::from_utf8_lossy(pattern))
        }
        TcpStep::ExpectRegex { hex: false, .. } => " (expect regex)".into(),
        TcpStep::ExpectRegex { hex: true, .. } => " (expect binary regex)".into(),
        TcpStep::Custom(_) => " (expect custom function)".into(),
    };
    let mut text = format!(" at step {} of tcp-check{what}", rule.id);
    if let Some(comment) = &rule.comment {
        text.push_str(&format!(" comment: '{comment}'"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;

    fn string(p: &str, negate: bool) -> TcpRule {
        let step = TcpStep::Expect {
            pattern: p.as_bytes().to_vec(),
            binary: false,
            negate,
        };
        TcpRule::new(step, 2)
    }

    #[test]
    fn a_string_waits_for_its_length_then_for_a_match() {
        let rule = string("valid", false);
        assert_eq!(judge(&rule, b"val", false), Judged::Wait);
        assert_eq!(judge(&rule, b"xxxxxx", false), Judged::Wait);
        assert_eq!(judge(&rule, b"a valid", false), Judged::Pass);
        assert_eq!(
            judge(&rule, b"xxxxxx", true),
            Judged::Fail("TCPCHK did not match content 'valid' at step 2".into())
        );
    }

    #[test]
    fn min_recv_makes_a_mismatch_conclusive() {
        let mut rule = string("valid", true);
        rule.min_recv = Some(5);
        assert_eq!(judge(&rule, b"vali", false), Judged::Wait);
        assert_eq!(
            judge(&rule, b"valid", false),
            Judged::Fail("TCPCHK matched unwanted content 'valid' at step 2".into())
        );
        assert_eq!(judge(&rule, b"other", false), Judged::Pass);
        // Without min-recv a negated pattern waits for the end.
        assert_eq!(judge(&string("valid", true), b"other", false), Judged::Wait);
    }

    #[test]
    fn messages_name_the_kind_and_carry_on_error_and_comment() {
        let regex = TcpRule::new(
            TcpStep::ExpectRegex {
                regex: Pattern::new("^OK").unwrap(),
                hex: false,
                negate: false,
            },
            3,
        );
        assert_eq!(
            judge(&regex, b"NO", true),
            Judged::Fail("TCPCHK did not match content (regex) at step 3".into())
        );
        let mut binary = TcpRule::new(
            TcpStep::Expect {
                pattern: vec![0, 1],
                binary: true,
                negate: false,
            },
            1,
        );
        binary.comment = Some("hello".into());
        assert_eq!(
            judge(&binary, b"zz", true),
            Judged::Fail("TCPCHK did not match content (binary) at step 1 comment: hello".into())
        );
        binary.on_error = Some("down".into());
        assert_eq!(
            judge(&binary, b"zz", true),
            Judged::Fail("down comment: hello".into())
        );
        assert_eq!(
            step_context(&binary),
            " at step 1 of tcp-check (expect binary '\u{0}\u{1}') comment: 'hello'"
        );
        assert_eq!(success_text(&[binary.clone()]), "(tcp-check)");
        binary.on_success = Some("fine".into());
        assert_eq!(success_text(&[binary]), "fine");
    }

    #[test]
    fn a_close_with_nothing_received_is_an_empty_response() {
        let mut rule = string("valid", true);
        assert_eq!(
            judge(&rule, b"", true),
            Judged::Fail("TCPCHK got an empty response at step 2".into())
        );
        rule.comment = Some("greeting".into());
        assert_eq!(
            judge(&rule, b"", true),
            Judged::Fail("TCPCHK got an empty response at step 2 comment: 'greeting'".into())
        );
        assert_eq!(judge(&rule, b"", false), Judged::Wait);
        assert_eq!(judge(&rule, b"other", true), Judged::Pass);
    }

    #[test]
    fn protocol_rules_fail_and_pass_with_their_statuses() {
        use crate::config::ProtocolCheck;
        let smtp = ProtocolCheck::Smtp("HELO localhost".into()).rules();
        let reply = b"451 try later\r\n";
        let Judged::Fail(text) = judge(&smtp[1], reply, false) else {
            panic!("a 4xx banner fails");
        };
        assert_eq!(
            failed(&smtp[1], reply, text),
            CheckStatus::L7Status(451, "try later".into())
        );
        assert_eq!(
            passed(&smtp, b"221 2.0.0 bye\r\n"),
            CheckStatus::ProtocolPassed(221, "2.0.0 bye".into())
        );
        let hello = ProtocolCheck::SslHello.rules();
        assert_eq!(judge(&hello[1], b"\x16\x03", false), Judged::Wait);
        assert_eq!(
            judge(&hello[1], b"\x15\x03\x03\x00\x02", false),
            Judged::Pass
        );
        assert_eq!(passed(&hello, b""), CheckStatus::L6Ok);
        assert_eq!(
            failed(&hello[1], b"HTTP/", String::new()),
            CheckStatus::L6Invalid(String::new())
        );
        let pgsql = ProtocolCheck::Pgsql("pg".into()).rules();
        assert_eq!(
            judge(&pgsql[1], b"E\0\0\0\x0bSFATAL\0", false),
            Judged::Fail("FATAL".into())
        );
    }

    #[test]
    fn redis_check_is_haproxys_ruleset() {
        let rules = TcpRule::redis();
        assert_eq!(
            rules[0].step,
            TcpStep::Send(b"*1\r\n$4\r\nPING\r\n".to_vec())
        );
        assert_eq!(judge(&rules[1], b"+PONG\r\n", false), Judged::Pass);
        assert_eq!(judge(&rules[1], b"-Error", false), Judged::Wait);
        assert_eq!(
            judge(&rules[1], b"-Error message\r\n", true),
            Judged::Fail("-Error message".into())
        );
        assert_eq!(success_text(&rules), "Redis server is ok");
        assert_eq!(step_context(&rules[1]), "");
    }
}
