//! An `http-check` ruleset as HAProxy 2.6 builds it: `option httpchk`'s
//! implicit send, `http-check connect|send|expect|comment` in order with
//! `tcpcheck_add_http_rule`'s checks, then `check_proxy_tcpcheck`'s
//! implicit connect and expect and the comments given to the rules.

use super::super::{Connect, HttpCheck, HttpRule, HttpStep, Origin};
use super::checks::{HttpSend, option_httpchk};

/// One line of the ruleset, with HAProxy's index.
#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    origin: Origin,
    index: u32,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A send rule; `true` while it only comes from `option httpchk`.
    Send(HttpSend, bool),
    Expect(HttpRule),
    Connect(Connect, Option<String>),
    Comment(String),
}

/// A section's `option httpchk` and `http-check` rules.
#[derive(Debug, Clone, Default)]
pub(in crate::config) struct HttpRules {
    /// `option httpchk` is in effect (written here or inherited).
    pub enabled: bool,
    /// `http-check send-state`.
    pub send_state: bool,
    /// `http-check disable-on-404`.
    pub disable_on_404: bool,
    entries: Vec<Entry>,
}

impl HttpRules {
    /// Before a section adds to the ruleset: what `defaults` gave is
    /// dropped (HAProxy names a ruleset after its section).
    fn own(&mut self, section: &Origin) {
        let inherited = |o: &Origin| o.file != section.file || o.line < section.line;
        if self.entries.first().is_some_and(|e| inherited(&e.origin)) {
            self.entries.clear();
        }
    }

    /// The index HAProxy gives the next explicit rule.
    fn next_index(&self) -> u32 {
        match self.entries.last() {
            None
            | Some(Entry {
                kind: Kind::Send(_, true),
                ..
            }) => 0,
            Some(last) => last.index + 1,
        }
    }

    /// The rules that act (comments aside), in order.
    fn acting(&self) -> impl DoubleEndedIterator<Item = (usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !matches!(e.kind, Kind::Comment(_)))
    }

    /// A line in error: HAProxy frees the section's ruleset, so later
    /// step numbers start over (checked against haproxy 2.6.12).
    pub(in crate::config) fn clear(&mut self, section: &Origin) {
        self.own(section);
        self.entries.clear();
    }

    /// `tcpcheck_add_http_rule`'s check of what the last rule allows.
    fn follows(&self, new: &str, index: u32) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let last = self.acting().next_back().map(|(_, e)| &e.kind);
        let missing = match (last, new) {
            (None | Some(Kind::Send(_, true)), _) => return Ok(()),
            (Some(Kind::Connect(..)), "send") => return Ok(()),
            (_, "send") => "connect",
            (Some(Kind::Send(..) | Kind::Expect(_)), "expect") => return Ok(()),
            (_, "expect") => "send",
            (Some(Kind::Expect(_)), _) => return Ok(()),
            _ => "expect",
        };
        Err(format!(
            "'http-check {new}' : unable to add http-check {new} rule at step {} (missing \
             {missing} rule)..",
            index + 1
        ))
    }

    /// `option httpchk [<method>] <uri> [<version>]`: returns HAProxy's
    /// deprecation warning for headers hidden in the version.
    pub(in crate::config) fn option(
        &mut self,
        section: &Origin,
        origin: &Origin,
        args: &[String],
    ) -> Result<Option<String>, String> {
        let (send, warning) = option_httpchk(args)?;
        self.own(section);
        self.enabled = true;
        let acting: Vec<usize> = self.acting().map(|(i, _)| i).collect();
        let at = match acting.first() {
            Some(&i) if matches!(self.entries[i].kind, Kind::Connect(..)) => acting.get(1),
            other => other,
        }
        .copied();
        let entry = Entry {
            kind: Kind::Send(send.clone(), true),
            origin: origin.clone(),
            index: 0,
        };
        match at.map(|i| (i, &mut self.entries[i].kind)) {
            Some((i, Kind::Send(_, true))) => {
                self.entries.remove(i);
                self.entries.insert(0, entry);
            }
            Some((_, Kind::Send(old, false))) => old.merge(send),
            _ => self.entries.insert(0, entry),
        }
        Ok(warning)
    }

    /// `http-check send ...`, parsed by the caller.
    pub(in crate::config) fn send(
        &mut self,
        section: &Origin,
        origin: &Origin,
        send: HttpSend,
    ) -> Result<(), String> {
        self.own(section);
        let index = self.next_index();
        self.follows("send", index)?;
        let first = self.acting().next().map(|(i, _)| i);
        if let Some(i) = first.filter(|&i| self.enabled && self.is_implicit_send(i)) {
            let mut entry = self.entries.remove(i);
            if let Kind::Send(old, implicit) = &mut entry.kind {
                old.merge(send);
                *implicit = false;
            }
            entry.origin = origin.clone();
            self.entries.push(entry);
            return Ok(());
        }
        self.push(Kind::Send(send, false), origin, index);
        Ok(())
    }

    fn is_implicit_send(&self, i: usize) -> bool {
        matches!(self.entries[i].kind, Kind::Send(_, true))
    }

    fn push(&mut self, kind: Kind, origin: &Origin, index: u32) {
        self.entries.push(Entry {
            kind,
            origin: origin.clone(),
            index,
        });
    }

    /// `http-check expect ...`, parsed by the caller.
    pub(in crate::config) fn expect(
        &mut self,
        section: &Origin,
        origin: &Origin,
        mut rule: HttpRule,
    ) -> Result<(), String> {
        self.own(section);
        let index = self.next_index();
        self.follows("expect", index)?;
        rule.id = index + 1;
        self.push(Kind::Expect(rule), origin, index);
        Ok(())
    }

    /// `http-check connect ...`, parsed by the caller.
    pub(in crate::config) fn connect(
        &mut self,
        section: &Origin,
        origin: &Origin,
        connect: Connect,
        comment: Option<String>,
    ) -> Result<(), String> {
        self.own(section);
        let index = self.next_index();
        self.follows("connect", index)?;
        self.push(Kind::Connect(connect, comment), origin, index);
        Ok(())
    }

    /// `parse_tcpcheck_connect`, before it reads the options: only
    /// comments and the implicit send may come before a first connect.
    pub(in crate::config) fn connect_allowed(&mut self, section: &Origin) -> Result<(), String> {
        self.own(section);
        for entry in &self.entries {
            match entry.kind {
                Kind::Connect(..) => break,
                Kind::Comment(_) | Kind::Send(_, true) => {}
                _ => {
                    return Err(
                        "'http-check connect' : first step MUST also be a 'connect', \
                                optionally preceded by a 'set-var', an 'unset-var' or a \
                                'comment', when there is a 'connect' step in the tcp-check \
                                ruleset."
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }

    /// `http-check comment <text>`.
    pub(in crate::config) fn comment(&mut self, section: &Origin, origin: &Origin, text: &str) {
        self.own(section);
        let index = self.next_index();
        self.push(Kind::Comment(text.to_owned()), origin, index);
    }

    /// The line of the first rule, for the warning about rules without
    /// `option httpchk`.
    pub(in crate::config) fn first_rule(&self) -> Option<&Origin> {
        self.entries.first().map(|e| &e.origin)
    }

    /// The ruleset the checks run (`check_proxy_tcpcheck`): the implicit
    /// send after a first connect, an implicit `expect status 200-399`
    /// after a last send, an implicit connect first, and each
    /// `http-check comment` given to the rules after it.
    pub(in crate::config) fn build(&self) -> HttpCheck {
        let mut entries = self.entries.clone();
        let acting = |entries: &[Entry]| -> Vec<usize> {
            (0..entries.len())
                .filter(|&i| !matches!(entries[i].kind, Kind::Comment(_)))
                .collect()
        };
        if let [first, next, ..] = acting(&entries)[..] {
            let implicit = matches!(entries[first].kind, Kind::Send(_, true));
            if implicit && matches!(entries[next].kind, Kind::Connect(..)) {
                let mut send = entries.remove(first);
                send.index = entries[next - 1].index + 1;
                entries.insert(next, send);
            }
        }
        let mut rules = Vec::new();
        let (mut comment, mut previous): (Option<String>, Option<u8>) = (None, None);
        if !matches!(
            acting(&entries).first().map(|&i| &entries[i].kind),
            Some(Kind::Connect(..))
        ) {
            rules.push(HttpRule::new(HttpStep::Connect(Connect::implicit()), 0));
            previous = Some(0);
        }
        for entry in &entries {
            let action = match entry.kind {
                Kind::Connect(..) => 0,
                Kind::Send(..) => 1,
                Kind::Expect(_) => 2,
                Kind::Comment(_) => 3,
            };
            if previous.is_some_and(|p| p != action && p != 3) {
                comment = None;
            }
            previous = Some(action);
            let mut rule = match &entry.kind {
                Kind::Comment(text) => {
                    comment = Some(text.clone());
                    continue;
                }
                Kind::Connect(connect, own) => {
                    let mut rule = HttpRule::new(HttpStep::Connect(connect.clone()), 0);
                    rule.comment = own.clone().or(comment.take());
                    rule
                }
                Kind::Send(send, _) => HttpRule::new(HttpStep::Send(send.request_parts()), 0),
                Kind::Expect(rule) => rule.clone(),
            };
            rule.id = entry.index + 1;
            if rule.comment.is_none() {
                rule.comment = comment.clone();
            }
            rules.push(rule);
        }
        if let Some(last) = rules.last().filter(|r| matches!(r.step, HttpStep::Send(_))) {
            let id = last.id + 1;
            let expect = HttpStep::Expect(super::super::HttpExpect::Default);
            rules.push(HttpRule::new(expect, id));
        }
        HttpCheck {
            rules,
            send_state: self.send_state,
            disable_on_404: self.disable_on_404,
        }
    }
}
