//! The reply of an `agent-check` agent, read as HAProxy 2.6 reads it
//! (`tcpcheck_agent_expect_reply` in src/tcpcheck.c): one line ended by
//! the first CR or LF, words separated by spaces, tabs or commas, the
//! last word of each kind winning, and a description after `#`.
//!
//! ```text
//! 75% drain maxconn:30 # busy\n
//! ```
//!
//! [`parse`] only reads; [`AgentReply::outcome`] says what the words ask
//! for (health, admin state, weight, maxconn) and the text HAProxy gives
//! the check; applying it is the balancer's.

/// What an agent's bytes hold so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentParse<'a> {
    /// No complete line yet: wait for more bytes, or, once the agent
    /// closed, HAProxy's `Ignoring incomplete line from agent`.
    Incomplete,
    /// A line and its words.
    Line(AgentReply<'a>),
}

/// The health an agent announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentHealth {
    /// `up`: the agent's check passes, at the top of its range.
    Up,
    /// `down`, `stopped` or `fail`: the server goes DOWN.
    Down,
}

/// The admin state an agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentAdmin {
    /// `ready`: out of drain and maintenance.
    Ready,
    /// `drain`.
    Drain,
    /// `maint`.
    Maint,
}

/// The words of one agent line (each the last one of its kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentReply<'a> {
    /// The health word, as the agent wrote it (`UP`, `down` ...).
    pub health: Option<(AgentHealth, &'a str)>,
    /// The admin word.
    pub admin: Option<AgentAdmin>,
    /// The weight word (`75%`).
    pub weight: Option<&'a str>,
    /// What follows `maxconn:`.
    pub maxconn: Option<&'a str>,
    /// The first word not understood.
    pub unknown: Option<&'a str>,
    /// The text after `#`, blanks before it skipped.
    pub description: &'a str,
}

/// The end of the agent's line: a CR or an LF; a NUL byte ends the text
/// before it, as HAProxy's C string does.
fn line_end(data: &[u8]) -> Option<usize> {
    data.iter()
        .position(|&b| matches!(b, b'\r' | b'\n' | 0))
        .filter(|&at| data[at] != 0)
}

/// Reads the agent's bytes received so far.
pub(crate) fn parse(data: &[u8]) -> AgentParse<'_> {
    let Some(end) = line_end(data) else {
        return AgentParse::Incomplete;
    };
    let line = &data[..end];
    let mut reply = AgentReply {
        health: None,
        admin: None,
        weight: None,
        maxconn: None,
        unknown: None,
        description: "",
    };
    let separator = |b: u8| matches!(b, b' ' | b'\t' | b',');
    let mut at = 0;
    while at < line.len() {
        if separator(line[at]) {
            at += 1;
            continue;
        }
        if line[at] == b'#' {
            let mut from = at + 1;
            while from < line.len() && matches!(line[from], b' ' | b'\t') {
                from += 1;
            }
            // A description that is not UTF-8 is dropped.
            reply.description = std::str::from_utf8(&line[from..]).unwrap_or("");
            break;
        }
        let start = at;
        at += 1;
        while at < line.len() && !separator(line[at]) {
            at += 1;
        }
        reply.read_word(&line[start..at]);
    }
    AgentParse::Line(reply)
}

impl<'a> AgentReply<'a> {
    fn read_word(&mut self, word: &'a [u8]) {
        let Ok(text) = std::str::from_utf8(word) else {
            self.unknown.get_or_insert("");
            return;
        };
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "up" => self.health = Some((AgentHealth::Up, text)),
            "down" | "stopped" | "fail" => self.health = Some((AgentHealth::Down, text)),
            "ready" => self.admin = Some(AgentAdmin::Ready),
            "drain" => self.admin = Some(AgentAdmin::Drain),
            "maint" => self.admin = Some(AgentAdmin::Maint),
            _ if word[0].is_ascii_digit() && text.contains('%') => self.weight = Some(text),
            _ if lower.starts_with("maxconn:") => self.maxconn = Some(&text["maxconn:".len()..]),
            _ => {
                self.unknown.get_or_insert(text);
            }
        }
    }

    /// What the line asks for, given the server's configured weight
    /// (`iweight`) and whether its algorithm takes any weight (`dynamic`).
    pub(crate) fn outcome(&self, iweight: u32, dynamic: bool) -> AgentOutcome {
        let weight = self.weight.map(|w| weight_change(w, iweight, dynamic));
        let maxconn = self.maxconn.map(maxconn_change);
        // The first warning, the weight's before the maxconn's.
        let warning = (weight.and_then(Result::err))
            .or(maxconn.and_then(Result::err))
            .map(str::to_owned);
        let error = self.unknown.map(str::to_owned);
        let desc = match self.health {
            Some((health, word)) => {
                let mut msg = self.description.to_owned();
                if msg.is_empty() || health == AgentHealth::Up {
                    if let Some(e) = error.as_ref().filter(|e| !e.is_empty()) {
                        msg = e.clone();
                    } else if let Some(w) = &warning {
                        msg = w.clone();
                    }
                }
                if msg.is_empty() {
                    format!("via agent : {word}")
                } else {
                    format!("via agent : {word} ({msg})")
                }
            }
            None => match (&error, &warning) {
                (Some(e), _) if !e.is_empty() => format!("agent reports an error : {e}"),
                (_, Some(w)) => format!("agent warns : {w}"),
                _ => String::new(),
            },
        };
        AgentOutcome {
            health: self.health.map(|(h, _)| h),
            admin: self.admin,
            weight: weight.and_then(Result::ok),
            maxconn: maxconn.and_then(Result::ok),
            desc,
        }
    }
}

/// What an agent's line asks for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentOutcome {
    /// The health announced: the agent check passes (`up`) or fails.
    /// None: the check's status stays (HAProxy's `CHECKED`).
    pub health: Option<AgentHealth>,
    /// The admin state asked for.
    pub admin: Option<AgentAdmin>,
    /// The new weight, when the weight word was valid.
    pub weight: Option<u32>,
    /// The new `maxconn`, when the word was valid.
    pub maxconn: Option<i64>,
    /// HAProxy's text of the check (`via agent : down (busy)`).
    pub desc: String,
}

/// C's `strtol` in base 10: blanks, a sign, digits (saturating); the
/// value and what follows. None when no digit was read.
fn strtol(text: &str) -> Option<(i64, &str)> {
    let rest = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, rest) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let magnitude = rest[..digits].bytes().fold(0i64, |v, d| {
        v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    let value = if negative { -magnitude } else { magnitude };
    Some((value, &rest[digits..]))
}

/// HAProxy's `server_parse_weight_change_request`: `N%` of the configured
/// weight (at most 256), or an absolute 0..=256.
pub(crate) fn weight_change(word: &str, iweight: u32, dynamic: bool) -> Result<u32, &'static str> {
    if word.is_empty() {
        return Err("Require <weight> or <weight%>.\n");
    }
    let Some((w, end)) = strtol(word) else {
        return Err("Empty weight string empty or preceded by garbage");
    };
    let w = if end == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n");
        }
        (i64::from(iweight) * w.min(25600) / 100).min(256)
    } else if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
    } else if !end.is_empty() {
        return Err("Trailing garbage in weight string");
    } else {
        w
    };
    if w != 0 && w != i64::from(iweight) && !dynamic {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
    }
    Ok(w as u32)
}

/// HAProxy's `server_parse_maxconn_change_request`.
pub(crate) fn maxconn_change(text: &str) -> Result<i64, &'static str> {
    if text.is_empty() {
        return Err("Require <maxconn>.\n");
    }
    match strtol(text) {
        None => Err("maxconn string empty or preceded by garbage"),
        Some((_, rest)) if !rest.is_empty() => Err("Trailing garbage in maxconn string"),
        Some((v, _)) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(data: &str) -> AgentReply<'_> {
        match parse(data.as_bytes()) {
            AgentParse::Line(reply) => reply,
            AgentParse::Incomplete => panic!("{data:?}: incomplete"),
        }
    }

    fn outcome(data: &str) -> AgentOutcome {
        line(data).outcome(10, true)
    }

    #[test]
    fn a_line_needs_its_end() {
        assert_eq!(parse(b"up"), AgentParse::Incomplete);
        assert_eq!(
            parse(b"up\0\n"),
            AgentParse::Incomplete,
            "a NUL ends it first"
        );
        assert!(matches!(parse(b"up\r"), AgentParse::Line(_)));
    }

    #[test]
    fn words_of_each_kind_the_last_one_wins() {
        let reply = line("down,75%\tdrain up 50% maxconn:30 ready\n");
        assert_eq!(reply.health, Some((AgentHealth::Up, "up")));
        assert_eq!(reply.admin, Some(AgentAdmin::Ready));
        assert_eq!(reply.weight, Some("50%"));
        assert_eq!(reply.maxconn, Some("30"));
        assert_eq!(reply.unknown, None);
    }

    #[test]
    fn keywords_are_case_insensitive_and_keep_their_spelling() {
        let reply = line("STOPPED MAXCONN:5\n");
        assert_eq!(reply.health, Some((AgentHealth::Down, "STOPPED")));
        assert_eq!(reply.maxconn, Some("5"));
    }

    #[test]
    fn the_description_follows_the_sharp() {
        let reply = line("down #  \t disk full  \nignored");
        assert_eq!(reply.description, "disk full  ");
        assert_eq!(
            outcome("down # disk full\n").desc,
            "via agent : down (disk full)"
        );
        assert_eq!(outcome("down\n").desc, "via agent : down");
    }

    #[test]
    fn weights_are_relative_to_the_configured_one() {
        assert_eq!(weight_change("75%", 10, true), Ok(7));
        assert_eq!(weight_change("0%", 10, true), Ok(0));
        assert_eq!(weight_change("1000%", 100, true), Ok(256), "capped");
        assert_eq!(weight_change("42", 10, true), Ok(42));
        assert!(weight_change("257", 10, true).is_err());
        assert_eq!(
            weight_change("5%x", 10, true),
            Err("Trailing garbage in weight string")
        );
        assert!(weight_change("50%", 10, false).is_err(), "static algorithm");
        assert_eq!(weight_change("100%", 10, false), Ok(10));
    }

    #[test]
    fn an_unknown_word_is_reported_without_a_health() {
        let out = outcome("hello 80%\n");
        assert_eq!(out.desc, "agent reports an error : hello");
        assert_eq!(out.health, None);
        assert_eq!(out.weight, Some(8));
    }

    #[test]
    fn up_reports_the_error_or_the_warning_instead_of_the_description() {
        assert_eq!(outcome("up oops # fine\n").desc, "via agent : up (oops)");
        assert_eq!(
            outcome("up 5%x\n").desc,
            "via agent : up (Trailing garbage in weight string)"
        );
        assert_eq!(
            outcome("maxconn:x\n").desc,
            "agent warns : maxconn string empty or preceded by garbage"
        );
        assert_eq!(outcome("maxconn:30\n").maxconn, Some(30));
        assert_eq!(outcome("\n").desc, "");
    }
}
