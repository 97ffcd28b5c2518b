//! HAProxy 2.6's configuration directives: conditional blocks (`.if`,
//! `.elif`, `.else`, `.endif`) and messages (`.diag`, `.notice`,
//! `.warning`, `.alert`), with `readcfgfile`'s messages and its way of
//! stopping: some errors end the file, some end the whole reading.

use super::super::Diagnostic;
use super::super::condition::{self, CondError};
use super::{Diags, Stmt};

/// Deepest `.if` nesting, as HAProxy's `MAXNESTEDCONDS` (levels from 1 to
/// 99 are allowed).
const MAX_NESTED: usize = 100;

/// The state of one open `.if` block, as HAProxy's `nested_cond_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    IfTake,
    IfDrop,
    IfSkip,
    ElifTake,
    ElifDrop,
    ElifSkip,
    ElseTake,
    ElseDrop,
}

impl State {
    /// Whether the lines of the block are left out.
    fn masked(self) -> bool {
        !matches!(self, State::IfTake | State::ElifTake | State::ElseTake)
    }

    /// Whether a branch of the block was taken or the block is masked:
    /// what follows (`.elif`, `.else`) is left out.
    fn settled(self) -> bool {
        matches!(
            self,
            State::IfTake | State::IfSkip | State::ElifTake | State::ElifSkip
        )
    }
}

/// What the file reader does after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// An ordinary statement, to parse.
    Statement,
    /// The line was a directive or is masked: on to the next one.
    Next,
    /// Stop reading this file (HAProxy's `break`).
    EndFile,
    /// Stop reading this file, then the configuration.
    EndFileAbort,
    /// Stop reading the configuration (HAProxy's `ERR_ABORT`).
    Abort,
}

/// The open conditional blocks of one file.
#[derive(Debug, Default)]
pub(super) struct Conds {
    stack: Vec<State>,
}

impl Conds {
    /// Handles the directives of one statement; `defined` tells whether an
    /// environment variable is set.
    pub(super) fn line(
        &mut self,
        diags: &mut Diags,
        notices: &mut Vec<Diagnostic>,
        st: &Stmt<'_>,
        defined: &mut dyn FnMut(&str) -> bool,
    ) -> Flow {
        let keyword = st.word(0);
        match keyword {
            ".if" => return self.open(diags, st, defined),
            ".elif" => return self.elif(diags, st, defined),
            ".else" | ".endif" if !st.word(1).is_empty() => {
                diags.error(
                    &st.origin,
                    format!("Unexpected argument '{}' for '{keyword}'.", st.word(1)),
                );
                return Flow::EndFileAbort;
            }
            ".else" => return self.otherwise(diags, st),
            ".endif" => {
                if self.stack.pop().is_none() {
                    diags.error(&st.origin, "lone '.endif' with no matching '.if'.");
                    return Flow::EndFileAbort;
                }
                return Flow::Next;
            }
            _ => {}
        }
        if self.stack.last().is_some_and(|s| s.masked()) {
            return Flow::Next;
        }
        if !keyword.starts_with('.') {
            return Flow::Statement;
        }
        if !matches!(keyword, ".alert" | ".warning" | ".notice" | ".diag") {
            diags.error(&st.origin, format!("unknown directive '{keyword}'."));
            return Flow::EndFile;
        }
        if !st.word(2).is_empty() {
            diags.error(
                &st.origin,
                format!(
                    "Unexpected argument '{}' for '{keyword}'. Use quotes if the message should \
                     contain spaces.",
                    st.word(2)
                ),
            );
            return Flow::Next;
        }
        let message = format!("'{}'.", st.word(1));
        match keyword {
            ".alert" => {
                diags.error(&st.origin, message);
                return Flow::Abort;
            }
            ".warning" => diags.warn(&st.origin, message),
            ".notice" => notices.push(Diagnostic {
                origin: Some(st.origin.clone()),
                message,
            }),
            // HAProxy shows `.diag` only in diagnostic mode (-dD), which
            // weir has not.
            _ => {}
        }
        Flow::Next
    }

    /// The end of the file: an open block is an error that stops the
    /// reading.
    pub(super) fn end_of_file(&self, diags: &mut Diags, last: &super::super::Origin) -> Flow {
        if self.stack.is_empty() {
            return Flow::Next;
        }
        diags.error(last, "non-terminated '.if' block.");
        Flow::Abort
    }

    fn open(
        &mut self,
        diags: &mut Diags,
        st: &Stmt<'_>,
        defined: &mut dyn FnMut(&str) -> bool,
    ) -> Flow {
        if self.stack.len() + 1 >= MAX_NESTED {
            diags.error(
                &st.origin,
                format!("too many nested '.if', max is {MAX_NESTED}."),
            );
            return Flow::Abort;
        }
        if self.stack.last().is_some_and(|s| s.masked()) {
            self.stack.push(State::IfSkip);
            return Flow::Next;
        }
        match evaluate(diags, st, defined) {
            Some(true) => self.stack.push(State::IfTake),
            Some(false) => self.stack.push(State::IfDrop),
            None => return Flow::Abort,
        }
        Flow::Next
    }

    fn elif(
        &mut self,
        diags: &mut Diags,
        st: &Stmt<'_>,
        defined: &mut dyn FnMut(&str) -> bool,
    ) -> Flow {
        let Some(state) = self.stack.last_mut() else {
            diags.error(&st.origin, "lone '.elif' with no matching '.if'.");
            return Flow::Abort;
        };
        if matches!(*state, State::ElseTake | State::ElseDrop) {
            diags.error(&st.origin, "'.elif' after '.else' is not permitted.");
            return Flow::Abort;
        }
        if state.settled() {
            *state = State::ElifSkip;
            return Flow::Next;
        }
        match evaluate(diags, st, defined) {
            Some(true) => *state = State::ElifTake,
            Some(false) => *state = State::ElifDrop,
            None => return Flow::Abort,
        }
        Flow::Next
    }

    fn otherwise(&mut self, diags: &mut Diags, st: &Stmt<'_>) -> Flow {
        let Some(state) = self.stack.last_mut() else {
            diags.error(&st.origin, "lone '.else' with no matching '.if'.");
            return Flow::Abort;
        };
        if matches!(*state, State::ElseTake | State::ElseDrop) {
            diags.error(&st.origin, "'.else' after '.else' is not permitted.");
            return Flow::Abort;
        }
        *state = if state.settled() {
            State::ElseDrop
        } else {
            State::ElseTake
        };
        Flow::Next
    }
}

/// The value of the condition of a `.if` or `.elif` line, or `None` after
/// reporting why it has none.
fn evaluate(
    diags: &mut Diags,
    st: &Stmt<'_>,
    defined: &mut dyn FnMut(&str) -> bool,
) -> Option<bool> {
    let keyword = st.word(0);
    let text = st.words[1..].join(" ");
    match condition::evaluate(&text, &mut |name: &str| defined(name)) {
        Ok(value) => Some(value),
        Err(CondError { message, position }) => {
            let at = position
                .map(|p| format!(" at position {p}"))
                .unwrap_or_default();
            // The line is shown as HAProxy shows it, cut to 80 characters.
            let line = format!("{keyword} {text}");
            let shown = match line.char_indices().nth(77) {
                Some((cut, _)) => format!("{}...", &line[..cut]),
                None => line,
            };
            diags.error(
                &st.origin,
                format!("{message} in '{keyword}'{at}: '{shown}'"),
            );
            None
        }
    }
}
