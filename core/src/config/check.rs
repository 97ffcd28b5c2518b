//! A `tcp-check` rule with what HAProxy keeps beside it.

use super::TcpStep;

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
        }
    }

    /// Plain rules numbered 1, 2, ...
    pub fn numbered(steps: Vec<TcpStep>) -> Vec<TcpRule> {
        (1..)
            .zip(steps)
            .map(|(id, step)| TcpRule::new(step, id))
            .collect()
    }
}
