//! Health checks: rise/fall hysteresis and check verdicts.
//!
//! # Lifecycle of a server's check
//!
//! ```text
//! Idle(next at) --timer--> Connecting(probe conn, deadline)
//! Connecting --Connected Ok--> verdict L4OK   --> Idle(now + inter)
//! Connecting --Connected Err-> verdict L4CON  --> Idle(now + inter)
//! Connecting --deadline------> verdict L4TOUT --> Idle(now + inter)
//! ```
//!
//! Each verdict goes through [`Health::record`], HAProxy's health counter:
//! a server is UP while `health >= rise`; a failure below `rise` snaps it to
//! 0 (DOWN), a success reaching `rise` snaps it to `rise + fall - 1` (UP).
//! A server starts at `health = rise`: UP, taking traffic at once, and one
//! failed check marks it DOWN (HAProxy 2.6 does exactly this; `fall` counts
//! only once the server has been seen fully UP).

pub(crate) mod agent;
pub(crate) mod http;
pub(crate) mod protocol;
pub(crate) mod rules;
pub(crate) mod ruleset;

use std::time::Duration;

use crate::action::ConnError;
use crate::config::RuleStatus;

/// HAProxy's health counter for one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    value: u32,
    rise: u32,
    fall: u32,
}

/// A change of a server's operational state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Up,
    Down,
}

impl Health {
    /// The state at start-up: UP, at the bottom of the UP range.
    pub(crate) fn starting(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Health {
            value: rise,
            rise,
            fall,
        }
    }

    /// The counter, its `rise` and its `fall` (for the stats).
    pub(crate) fn level(&self) -> (u32, u32, u32) {
        (self.value, self.rise, self.fall)
    }

    pub(crate) fn is_up(&self) -> bool {
        self.value >= self.rise
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// Counts one check result; says if the server changed state.
    pub(crate) fn record(&mut self, passed: bool) -> Option<Transition> {
        if passed {
            if self.value >= self.top() {
                return None;
            }
            self.value += 1;
            if self.value == self.rise {
                self.value = self.top();
                return Some(Transition::Up);
            }
            if self.value > self.rise {
                self.value = self.top();
            }
            None
        } else {
            if self.value == 0 {
                return None;
            }
            let was_up = self.is_up();
            self.value -= 1;
            if self.value < self.rise {
                self.value = 0;
                return was_up.then_some(Transition::Down);
            }
            None
        }
    }

    /// The same state under a new `rise` and `fall` (a reload): UP stays
    /// UP with the failures it counted, DOWN stays DOWN with the successes
    /// it counted, as far as the new range allows.
    pub(crate) fn retuned(self, rise: u32, fall: u32) -> Health {
        let mut health = Health::starting(rise, fall);
        health.value = if self.is_up() {
            let failures = self.top() - self.value;
            health.top().saturating_sub(failures).max(health.rise)
        } else {
            self.value.min(health.rise - 1)
        };
        health
    }

    /// Maintenance: the counter falls to 0 (DOWN) without a verdict.
    pub(crate) fn fail_all(&mut self) {
        self.value = 0;
    }

    /// A health forced UP: the top of UP.
    pub(crate) fn force_up(&mut self) {
        self.value = self.top();
    }

    /// A counter restored from a state file, kept within `range` (which
    /// lies within 0..=rise+fall-1).
    pub(crate) fn restore(&mut self, value: i64, range: std::ops::RangeInclusive<u32>) {
        let (low, high) = (i64::from(*range.start()), i64::from(*range.end()));
        self.value = if (low..=high).contains(&value) {
            value as u32
        } else {
            *range.start()
        };
    }

    /// The counter's highest value, `rise + fall - 1`.
    pub(crate) fn highest(&self) -> u32 {
        self.top()
    }

    /// Leaving maintenance: the bottom of UP, checked again at once.
    pub(crate) fn restart(&mut self) {
        self.value = self.rise;
    }

    /// `on-error sudden-death`: an UP server keeps one failure to spare.
    pub(crate) fn prefatal(&mut self) {
        if self.value > self.rise {
            self.value = self.rise + 1;
        }
    }

    /// `on-error mark-down`: an UP server goes to the bottom of the UP
    /// range, so the failure that follows marks it DOWN.
    pub(crate) fn brink(&mut self) {
        if self.is_up() {
            self.value = self.rise;
        }
    }

    /// The check interval for this state (HAProxy's `srv_getinter`):
    /// `inter` when fully UP, `downinter` when fully DOWN, `fastinter`
    /// in between (including the start-up state); unset ones are `inter`.
    pub(crate) fn interval(
        &self,
        inter: Duration,
        fastinter: Option<Duration>,
        downinter: Option<Duration>,
    ) -> Duration {
        if self.value >= self.top() {
            inter
        } else if self.value == 0 {
            downinter.unwrap_or(inter)
        } else {
            fastinter.unwrap_or(inter)
        }
    }

    /// HAProxy's `status` text: `3/3 UP`, `2/3 UP`, `0/2 DOWN`, `1/2 DOWN`.
    pub(crate) fn status(&self) -> String {
        if self.is_up() {
            format!("{}/{} UP", self.value - self.rise + 1, self.fall)
        } else {
            format!("{}/{} DOWN", self.value, self.rise)
        }
    }
}

/// The verdict of one check, named after HAProxy's `check_status` codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckStatus {
    /// `L4OK`: the TCP connection was established.
    L4Ok,
    /// `L4TOUT`: the connection did not complete in time.
    L4Timeout,
    /// `L4CON`: the connection failed.
    L4Con(ConnError),
    /// `L4CON` of a TLS connection offering ALPN, which HAProxy words
    /// `SSL handshake failure (<error>)`.
    L4ConTls(ConnError),
    /// `L6OK`: the TLS handshake completed.
    L6Ok,
    /// `L6TOUT`: the TLS handshake did not complete in time.
    L6Timeout,
    /// `L6RSP`: the TLS handshake failed (certificate, protocol), and why.
    L6Invalid(String),
    /// `L7STS`: the response failed the expectation.
    L7Status(u16, String),
    /// `L7TOUT`: no complete response in time.
    L7Timeout,
    /// `L7OK` of `tcp-check` rules: every rule passed; `(tcp-check)` or
    /// the last rule's `on-success` text.
    TcpRulesPassed(String),
    /// `L7RSP` of `tcp-check` rules: an expect failed, and how.
    TcpRulesFailed(String),
    /// `L7OK` of a protocol check whose code comes from the reply
    /// (`option smtpchk`): the code and the text.
    ProtocolPassed(u16, String),
    /// `HANA`: `observe layer4` saw too many failed connections.
    Analyze(String),
    /// A verdict of check rules with the status, code and text the rules
    /// gave it (HTTP rules, `ok-status`, `error-status`, `tout-status`,
    /// `status-code`, `disable-on-404`).
    Ruled {
        /// The status.
        status: RuleStatus,
        /// HAProxy's `check->code` (shown with `L7OK`, `L7OKC`, `L7STS`).
        code: i64,
        /// The text (`check->desc`).
        info: String,
    },
}

impl CheckStatus {
    pub(crate) fn passed(&self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok
                | CheckStatus::L6Ok
                | CheckStatus::TcpRulesPassed(_)
                | CheckStatus::ProtocolPassed(..)
                | CheckStatus::Ruled {
                    status: RuleStatus::L4Ok
                        | RuleStatus::L6Ok
                        | RuleStatus::L7Ok
                        | RuleStatus::L7OkC,
                    ..
                }
        )
    }

    /// `L7OKC`: passed, but the server is to take no new traffic (NOLB).
    pub(crate) fn conditional(&self) -> bool {
        matches!(
            self,
            CheckStatus::Ruled {
                status: RuleStatus::L7OkC,
                ..
            }
        )
    }

    /// HAProxy's description of the status, used as `reason:`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Timeout => "Layer4 timeout",
            CheckStatus::L4Con(_) | CheckStatus::L4ConTls(_) => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Timeout => "Layer6 timeout",
            CheckStatus::L6Invalid(_) => "Layer6 invalid response",
            CheckStatus::L7Status(..) => "Layer7 wrong status",
            CheckStatus::L7Timeout => "Layer7 timeout",
            CheckStatus::Analyze(_) => "Health analyze",
            CheckStatus::TcpRulesPassed(_) | CheckStatus::ProtocolPassed(..) => {
                "Layer7 check passed"
            }
            CheckStatus::TcpRulesFailed(_) => "Layer7 invalid response",
            CheckStatus::Ruled { status, .. } => match status {
                RuleStatus::L4Ok => "Layer4 check passed",
                RuleStatus::L4Tout => "Layer4 timeout",
                RuleStatus::L4Con => "Layer4 connection problem",
                RuleStatus::L6Ok => "Layer6 check passed",
                RuleStatus::L6Tout => "Layer6 timeout",
                RuleStatus::L6Rsp => "Layer6 invalid response",
                RuleStatus::L7Ok => "Layer7 check passed",
                RuleStatus::L7OkC => "Layer7 check conditionally passed",
                RuleStatus::L7Rsp => "Layer7 invalid response",
                RuleStatus::L7Sts => "Layer7 wrong status",
                RuleStatus::L7Tout => "Layer7 timeout",
            },
        }
    }

    /// The code and the text HAProxy keeps of a verdict (`check->code`,
    /// `check->desc`).
    fn parts(&self) -> (Option<u16>, Option<std::borrow::Cow<'_, str>>) {
        use std::borrow::Cow;
        match self {
            CheckStatus::L4Con(error) => (None, Some(Cow::Borrowed(error.describe()))),
            CheckStatus::L4ConTls(error) => (
                None,
                Some(Cow::Owned(format!(
                    "SSL handshake failure ({})",
                    error.describe()
                ))),
            ),
            CheckStatus::L7Status(code, info) => (
                Some(*code),
                Some(Cow::from(info.as_str())).filter(|i| !i.is_empty()),
            ),
            CheckStatus::ProtocolPassed(code, info) => {
                (Some(*code), Some(Cow::from(info.as_str())))
            }
            CheckStatus::L6Invalid(info)
            | CheckStatus::Analyze(info)
            | CheckStatus::TcpRulesPassed(info)
            | CheckStatus::TcpRulesFailed(info) => (None, Some(Cow::from(info.as_str()))),
            CheckStatus::Ruled { status, code, info } => (
                matches!(
                    status,
                    RuleStatus::L7Ok | RuleStatus::L7OkC | RuleStatus::L7Sts
                )
                .then_some(*code as u16),
                Some(Cow::from(info.as_str())).filter(|i| !i.is_empty()),
            ),
            CheckStatus::L4Ok
            | CheckStatus::L4Timeout
            | CheckStatus::L6Ok
            | CheckStatus::L6Timeout
            | CheckStatus::L7Timeout => (None, None),
        }
    }

    /// The verdict's text alone (`last_chk` in the stats).
    pub(crate) fn short_info(&self) -> String {
        self.parts().1.map(|i| i.into_owned()).unwrap_or_default()
    }

    /// What follows the reason in HAProxy's log lines: `, code: 503`
    /// and `, info: "..."` when there are any (the logs write them with
    /// `proxy::verdict::LastCheck`).
    #[cfg(test)]
    pub(crate) fn details(&self) -> String {
        let (code, info) = self.parts();
        let mut out = String::new();
        if let Some(code) = code {
            out.push_str(&format!(", code: {code}"));
        }
        if let Some(info) = info {
            out.push_str(&format!(", info: \"{info}\""));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_up_and_one_failure_marks_down() {
        let mut h = Health::starting(2, 3);
        assert!(h.is_up());
        assert_eq!(h.status(), "1/3 UP");
        assert_eq!(h.record(false), Some(Transition::Down));
        assert_eq!(h.status(), "0/2 DOWN");
    }

    #[test]
    fn one_success_at_start_makes_fully_up_then_fall_failures_mark_down() {
        let mut h = Health::starting(2, 3);
        assert_eq!(h.record(true), None);
        assert_eq!(h.status(), "3/3 UP");
        assert_eq!(h.record(false), None);
        assert_eq!(h.status(), "2/3 UP");
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(Transition::Down));
        assert!(!h.is_up());
    }

    #[test]
    fn down_server_needs_rise_successes() {
        let mut h = Health::starting(3, 2);
        h.record(false);
        assert_eq!(h.record(true), None);
        assert_eq!(h.status(), "1/3 DOWN");
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Transition::Up));
        assert_eq!(h.status(), "2/2 UP");
    }

    #[test]
    fn failure_while_recovering_counts_back_down_without_transition() {
        let mut h = Health::starting(3, 3);
        h.record(false);
        h.record(true);
        h.record(true);
        assert_eq!(h.record(false), None);
        assert_eq!(h.status(), "0/3 DOWN");
    }

    #[test]
    fn success_while_degraded_counts_back_up() {
        let mut h = Health::starting(2, 3);
        h.record(true);
        h.record(false);
        assert_eq!(h.record(true), None);
        assert_eq!(h.status(), "3/3 UP");
    }

    #[test]
    fn rise_one_fall_one_flips_on_every_change() {
        let mut h = Health::starting(1, 1);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), Some(Transition::Down));
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), Some(Transition::Up));
    }

    #[test]
    fn interval_depends_on_where_health_stands() {
        let (inter, fast, down) = (
            Duration::from_secs(2),
            Some(Duration::from_millis(100)),
            Some(Duration::from_secs(10)),
        );
        let mut h = Health::starting(2, 3);
        assert_eq!(
            h.interval(inter, fast, down),
            fast.unwrap(),
            "start-up is transitional"
        );
        h.record(true);
        assert_eq!(h.interval(inter, fast, down), inter, "fully UP");
        h.record(false);
        assert_eq!(
            h.interval(inter, fast, down),
            fast.unwrap(),
            "UP with a failure"
        );
        h.record(false);
        h.record(false);
        assert_eq!(h.interval(inter, fast, down), down.unwrap(), "fully DOWN");
        h.record(true);
        assert_eq!(
            h.interval(inter, None, down),
            inter,
            "unset fastinter is inter"
        );
    }

    #[test]
    fn verdicts_use_haproxy_wording() {
        let refused = CheckStatus::L4Con(ConnError::Refused);
        assert_eq!(refused.reason(), "Layer4 connection problem");
        assert_eq!(refused.details(), ", info: \"Connection refused\"");
        assert_eq!(CheckStatus::L4Timeout.reason(), "Layer4 timeout");
        assert_eq!(CheckStatus::L4Ok.reason(), "Layer4 check passed");
        assert!(CheckStatus::L4Ok.passed() && !refused.passed());
        let down = CheckStatus::L7Status(503, "Service Unavailable".into());
        assert_eq!(down.reason(), "Layer7 wrong status");
        assert_eq!(down.details(), ", code: 503, info: \"Service Unavailable\"");
        let ok = CheckStatus::Ruled {
            status: RuleStatus::L7Ok,
            code: 200,
            info: String::new(),
        };
        assert!(ok.passed() && !ok.conditional());
        assert_eq!(
            CheckStatus::TcpRulesFailed("x".into()).reason(),
            "Layer7 invalid response"
        );
        assert_eq!(CheckStatus::L7Timeout.details(), "");
    }
}
