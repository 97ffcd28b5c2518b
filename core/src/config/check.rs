//! A `tcp-check` rule with what HAProxy keeps beside it.

use super::protocol_check::ReplyText;
use super::{Statuses, TcpStep};

/// One `tcp-check` rule (`struct tcpcheck_rule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRule {
    /// What the rule does.
    pub step: TcpStep,
    /// HAProxy's step number in its messages (1-based; `comment` and
    /// `connect` lines count).
    pub id: u32,
    /// The rule's `comment`, or that of a `tcp-check comment` before it.
    pub comment: Option<String>,
    /// `min-recv`: bytes needed before an expect is judged; `None` is
    /// HAProxy's -1 (judge what came, wait for more on a mismatch).
    pub min_recv: Option<usize>,
    /// `on-success`: the check's text when the check ends on this rule.
    pub on_success: Option<String>,
    /// `on-error`: the check's text when this rule fails.
    pub on_error: Option<String>,
    /// The failure's text is taken from the reply (HAProxy's
    /// `on-error "%[res.payload(0,0),cut_crlf]"` of `option redis-check`).
    pub error_text: Option<ReplyText>,
    /// The success's text is taken from the reply (`on-success` of
    /// `option smtpchk`).
    pub success_text: Option<ReplyText>,
    /// The check's code is the number the reply starts with (HAProxy's
    /// `status-code "res.payload(0,3)"` of `option smtpchk`).
    pub code_from_reply: bool,
    /// The rule's statuses are layer 6 ones (`ok-status L6OK error-status
    /// L6RSP tout-status L6TOUT` of `option ssl-hello-chk`).
    pub layer6: bool,
    /// On a send: the check's start time (seconds since the Unix epoch,
    /// big endian) is written at this offset of the bytes
    /// (`%[date(),htonl,hex]` of `option ssl-hello-chk`).
    pub date_at: Option<usize>,
    /// On the first rule: the check's connection ends with a FIN, not a
    /// reset (`tcp-check connect default linger` of the mysql, pgsql and
    /// smtp checks).
    pub linger: bool,
    /// A failure is `L7STS` (`error-status L7STS`), not `L7RSP`.
    pub wrong_status: bool,
    /// The rule belongs to a protocol check (`option redis-check`): no
    /// generic `TCPCHK` or `(tcp-check)` texts, no step in timeout texts.
    pub protocol: bool,
    /// `ok-status`, `error-status`, `tout-status`, `status-code`.
    pub statuses: Statuses,
}

impl TcpRule {
    /// A rule with only its step and number.
    pub fn new(step: TcpStep, id: u32) -> Self {
        TcpRule {
            step,
            id,
            comment: None,
            min_recv: None,
            on_success: None,
            on_error: None,
            error_text: None,
            success_text: None,
            code_from_reply: false,
            layer6: false,
            date_at: None,
            linger: false,
            wrong_status: false,
            protocol: false,
            statuses: Statuses::default(),
        }
    }

    /// HAProxy's `*redis-check` ruleset: `PING`, then `+PONG` or the
    /// server's error line as a wrong status.
    pub fn redis() -> Vec<TcpRule> {
        let mut expect = TcpRule::new(
            TcpStep::Expect {
                pattern: b"+PONG\r\n".to_vec(),
                binary: false,
                negate: false,
            },
            2,
        );
        expect.on_success = Some("Redis server is ok".into());
        expect.error_text = Some(ReplyText::FIRST_LINE);
        expect.wrong_status = true;
        let mut send = TcpRule::new(TcpStep::Send(b"*1\r\n$4\r\nPING\r\n".to_vec()), 1);
        for rule in [&mut send, &mut expect] {
            rule.protocol = true;
        }
        vec![send, expect]
    }

    /// Plain rules numbered 1, 2, ...
    pub fn numbered(steps: Vec<TcpStep>) -> Vec<TcpRule> {
        (1..)
            .zip(steps)
            .map(|(id, step)| TcpRule::new(step, id))
            .collect()
    }
}
