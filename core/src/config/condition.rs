//! The expressions of `.if` and `.elif`, as HAProxy 2.6's `cfgcond.c`:
//! numbers (0 is false), predicates with arguments in parentheses, `!`,
//! `&&` (before `||`) and parentheses. Parsed whole, then evaluated with
//! short circuits, so an error in an untaken branch is no error, as in
//! HAProxy.
//!
//! weir answers as HAProxy [`HAPROXY_VERSION`] built with the features in
//! [`FEATURES`], and without OpenSSL (its TLS is rustls).

/// The HAProxy version weir emulates, for `version_atleast()` and
/// `version_before()`.
pub const HAPROXY_VERSION: &str = "2.6.12";

/// The build features `feature()` finds, in HAProxy's `-vv` form: what
/// weir has (`+`) and, among those a configuration is likely to test, what
/// it has not (`-`). `OPENSSL` is there because weir speaks TLS to servers
/// (through rustls). `CPU_AFFINITY` is HAProxy's "pinning processes to
/// CPU" (`cpu-map`, `numa-cpu-mapping`): weir pins nothing and refuses
/// `cpu-map`, so a configuration that keeps its `cpu-map` lines under
/// `.if feature(CPU_AFFINITY)` loads. Its default `nbthread` still counts
/// the CPUs of the process's affinity mask, as HAProxy's does when built
/// with it (without it HAProxy defaults to one thread); `-vv` says both.
pub const FEATURES: &str = "+EPOLL -KQUEUE -EVPORTS +POLL +GETADDRINFO -LUA -PCRE -PCRE_JIT \
     -PCRE2 -PCRE2_JIT +OPENSSL +PROMEX -QUIC -SLZ -ZLIB +THREAD -CPU_AFFINITY -TPROXY \
     -LINUX_TPROXY +LINUX_SPLICE -NS -OT -51DEGREES -DEVICEATLAS -WURFL +SYSTEMD";

/// Deepest nesting HAProxy parses (`MAX_CFG_RECURSION`).
const MAX_DEPTH: i32 = 1024;

/// A malformed or unevaluable condition: HAProxy's message and the
/// 1-based position in the expression of the first bad character, when
/// there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    /// What is wrong.
    pub message: String,
    /// 1-based byte position in the expression.
    pub position: Option<usize>,
}

/// What a condition asks of the world.
pub trait Answers {
    /// Whether environment variable `name` is set (`defined()`).
    fn defined(&mut self, name: &str) -> bool;
}

impl<F: FnMut(&str) -> bool> Answers for F {
    fn defined(&mut self, name: &str) -> bool {
        self(name)
    }
}

/// Evaluates the expression of a `.if` line (its words after `.if`,
/// joined by single spaces): empty is false.
pub fn evaluate(text: &str, answers: &mut dyn Answers) -> Result<bool, CondError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Ok(false);
    }
    let mut p = Parser { text: bytes };
    let mut at = 0;
    let expr = match p.expr(&mut at, MAX_DEPTH)? {
        Some(expr) => expr,
        None => {
            let message = format!("unparsable conditional expression '{}'", cut(text));
            return Err(p.error(message, at));
        }
    };
    at = skip_blanks(bytes, at);
    if let Some(&c) = bytes.get(at) {
        return Err(p.error(
            format!(
                "unexpected character '{}' at the end of conditional expression '{}'",
                char::from(c),
                cut(text)
            ),
            at,
        ));
    }
    eval_expr(&expr, answers)
}

/// `a || b || ...` of `&&` chains.
struct Or(Vec<And>);
/// `a && b && ...`.
struct And(Vec<Term>);

struct Term {
    negated: bool,
    kind: TermKind,
}

enum TermKind {
    Const(bool),
    Paren(Or),
    Pred(Predicate, Vec<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Predicate {
    Defined,
    Feature,
    Streq,
    Strneq,
    VersionAtleast,
    VersionBefore,
    OpensslVersionAtleast,
    OpensslVersionBefore,
    SsllibNameStartswith,
}

/// HAProxy's predicates, with how many string arguments each takes.
const PREDICATES: &[(&str, Predicate, usize)] = &[
    ("defined", Predicate::Defined, 1),
    ("feature", Predicate::Feature, 1),
    ("streq", Predicate::Streq, 2),
    ("strneq", Predicate::Strneq, 2),
    ("version_atleast", Predicate::VersionAtleast, 1),
    ("version_before", Predicate::VersionBefore, 1),
    (
        "openssl_version_atleast",
        Predicate::OpensslVersionAtleast,
        1,
    ),
    ("openssl_version_before", Predicate::OpensslVersionBefore, 1),
    ("ssllib_name_startswith", Predicate::SsllibNameStartswith, 1),
];

/// Most characters of an expression a message quotes (HAProxy quotes it
/// whole; weir cuts it, with `...`).
const SHOWN: usize = 80;

/// `text`, cut to [`SHOWN`] characters.
fn cut(text: &str) -> String {
    match text.char_indices().nth(SHOWN - 3) {
        Some((end, _)) if text.chars().count() > SHOWN => format!("{}...", &text[..end]),
        _ => text.to_owned(),
    }
}

fn skip_blanks(text: &[u8], mut at: usize) -> usize {
    while matches!(text.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// The recursive-descent parser, a transcription of `cfgcond.c`: each
/// level returns `Ok(None)` where HAProxy's returns 0 (nothing to parse).
struct Parser<'a> {
    text: &'a [u8],
}

impl Parser<'_> {
    fn rest(&self, at: usize) -> String {
        cut(&String::from_utf8_lossy(
            self.text.get(at..).unwrap_or_default(),
        ))
    }

    fn error(&self, message: String, at: usize) -> CondError {
        CondError {
            message,
            position: Some(at + 1),
        }
    }

    fn expr(&mut self, text: &mut usize, depth: i32) -> Result<Option<Or>, CondError> {
        let mut terms = Vec::new();
        let mut start = *text;
        loop {
            let mut at = start;
            if at >= self.text.len() {
                return Ok(None);
            }
            if depth - (terms.len() as i32) <= 0 {
                let message = format!("unparsable conditional expression '{}'", self.rest(at));
                return Err(self.error(message, at));
            }
            let depth = depth - terms.len() as i32;
            match self.and(&mut at, depth - 1)? {
                Some(and) => terms.push(and),
                None => {
                    let message = format!("unparsable conditional expression '{}'", self.rest(at));
                    return Err(self.error(message, at));
                }
            }
            at = skip_blanks(self.text, at);
            *text = at;
            if self.text.get(at..at + 2) != Some(b"||".as_slice()) {
                return Ok(Some(Or(terms)));
            }
            start = skip_blanks(self.text, at + 2);
            if start >= self.text.len() {
                // `a ||` at the end: HAProxy's 0, with `text` before `||`.
                return Ok(None);
            }
        }
    }

    fn and(&mut self, text: &mut usize, depth: i32) -> Result<Option<And>, CondError> {
        let mut terms = Vec::new();
        let mut start = *text;
        loop {
            let mut at = start;
            if at >= self.text.len() {
                return Ok(None);
            }
            let depth = depth - terms.len() as i32;
            if depth <= 0 {
                let message = format!("unparsable conditional sub-expression '{}'", self.rest(at));
                return Err(self.error(message, at));
            }
            match self.term(&mut at, depth - 1)? {
                Some(term) => terms.push(term),
                None => {
                    let message =
                        format!("unparsable conditional sub-expression '{}'", self.rest(at));
                    return Err(self.error(message, at));
                }
            }
            at = skip_blanks(self.text, at);
            *text = at;
            if self.text.get(at..at + 2) != Some(b"&&".as_slice()) {
                return Ok(Some(And(terms)));
            }
            start = skip_blanks(self.text, at + 2);
            if start >= self.text.len() {
                return Ok(None);
            }
        }
    }

    fn term(&mut self, text: &mut usize, depth: i32) -> Result<Option<Term>, CondError> {
        let mut at = skip_blanks(self.text, *text);
        if at >= self.text.len() {
            return Ok(None);
        }
        let unparsable = |p: &Self| {
            let message = format!("unparsable conditional expression '{}'", p.rest(*text));
            Err(p.error(message, *text))
        };
        if depth <= 0 {
            return unparsable(self);
        }
        let mut negated = false;
        while self.text.get(at) == Some(&b'!') {
            negated = !negated;
            at = skip_blanks(self.text, at + 1);
        }
        if let Some((value, end)) = strtol(self.text, at) {
            *text = end;
            return Ok(Some(Term {
                negated,
                kind: TermKind::Const(value),
            }));
        }
        if self.text.get(at) == Some(&b'(') {
            at = skip_blanks(self.text, at + 1);
            let Some(expr) = self.expr(&mut at, depth - 1)? else {
                return unparsable(self);
            };
            at = skip_blanks(self.text, at);
            if self.text.get(at) != Some(&b')') {
                let message = format!(
                    "expected ')' after conditional expression '{}'",
                    self.rest(*text)
                );
                return Err(self.error(message, *text));
            }
            *text = skip_blanks(self.text, at + 1);
            return Ok(Some(Term {
                negated,
                kind: TermKind::Paren(expr),
            }));
        }
        let word_len = self.text[at..]
            .iter()
            .position(|&b| b == b' ' || b == b'(')
            .unwrap_or(self.text.len() - at);
        let word = &self.text[at..at + word_len];
        let Some(&(name, pred, nargs)) = PREDICATES.iter().find(|p| p.0.as_bytes() == word) else {
            return unparsable(self);
        };
        match arg_list(self.text, at + word_len, nargs) {
            Ok((args, end)) => {
                *text = end;
                Ok(Some(Term {
                    negated,
                    kind: TermKind::Pred(pred, args),
                }))
            }
            Err((message, arg, end)) => Err(self.error(
                format!(
                    "{message} in argument {arg} of predicate '{name}' used in conditional \
                     expression"
                ),
                end,
            )),
        }
    }
}

/// C's `strtol(text + at, &end, 0)`: whether the number is not zero and
/// where it ends, or `None` when no digit is there.
fn strtol(text: &[u8], at: usize) -> Option<(bool, usize)> {
    let mut i = at;
    while text
        .get(i)
        .is_some_and(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
    {
        i += 1;
    }
    if matches!(text.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |from: usize, ok: fn(&u8) -> bool| {
        let n = text[from.min(text.len())..]
            .iter()
            .take_while(|b| ok(b))
            .count();
        let nonzero = text[from.min(text.len())..from + n]
            .iter()
            .any(|&b| b != b'0');
        (n, nonzero)
    };
    if text.get(i) == Some(&b'0')
        && matches!(text.get(i + 1), Some(b'x' | b'X'))
        && text.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        let (n, nonzero) = digits(i + 2, u8::is_ascii_hexdigit);
        return Some((nonzero, i + 2 + n));
    }
    let (n, nonzero) = if text.get(i) == Some(&b'0') {
        digits(i, |b| (b'0'..=b'7').contains(b))
    } else {
        digits(i, u8::is_ascii_digit)
    };
    (n > 0).then_some((nonzero, i + n))
}

/// HAProxy's `make_arg_list` for `n` mandatory string arguments starting
/// at `at` (at the `(`, if any): the arguments and where they end, or the
/// message, the argument number and where parsing stopped.
fn arg_list(
    text: &[u8],
    mut at: usize,
    n: usize,
) -> Result<(Vec<String>, usize), (String, usize, usize)> {
    let empty = text.get(at) != Some(&b'(');
    if !empty {
        at += 1;
    }
    let mut args = Vec::new();
    while args.len() < n {
        let mut arg = Vec::new();
        let (mut squote, mut dquote) = (false, false);
        if !empty {
            while let Some(&c) = text.get(at) {
                match c {
                    b'"' if !squote => dquote = !dquote,
                    b'\'' if !dquote => squote = !squote,
                    b'\\' if !squote => {
                        let Some(&next) = text.get(at + 1) else {
                            let message = format!(
                                "failed to parse '\\' after '{}' as type 'string' at position {}",
                                String::from_utf8_lossy(&arg),
                                args.len() + 1
                            );
                            return Err((message, args.len(), at));
                        };
                        match next {
                            b'\\' | b' ' | b'"' | b'\'' => arg.push(next),
                            b'r' => arg.push(b'\r'),
                            b'n' => arg.push(b'\n'),
                            b't' => arg.push(b'\t'),
                            _ => {
                                arg.push(b'\\');
                                at += 1;
                                continue;
                            }
                        }
                        at += 1;
                    }
                    b',' | b')' if !squote && !dquote => break,
                    c => arg.push(c),
                }
                at += 1;
            }
        }
        args.push(String::from_utf8_lossy(&arg).into_owned());
        if empty || matches!(text.get(at), None | Some(b')')) || args.len() >= n {
            break;
        }
        at += 1;
    }
    if args.len() < n {
        let message = format!(
            "missing arguments (got {}/{n}), type 'string' expected",
            args.len()
        );
        return Err((message, args.len(), at));
    }
    if empty {
        return Ok((args, at));
    }
    if text.get(at) == Some(&b')') {
        return Ok((args, at + 1));
    }
    let rest = cut(&String::from_utf8_lossy(text.get(at..).unwrap_or_default()));
    let message = if rest.is_empty() {
        "expected ')'".to_owned()
    } else {
        format!("expected ')' before '{rest}'")
    };
    let pos = if args.len() > 1 {
        args.len() - 1
    } else {
        args.len()
    };
    Err((message, pos, at))
}

fn eval_expr(expr: &Or, answers: &mut dyn Answers) -> Result<bool, CondError> {
    for and in &expr.0 {
        if eval_and(and, answers)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eval_and(and: &And, answers: &mut dyn Answers) -> Result<bool, CondError> {
    for term in &and.0 {
        if !eval_term(term, answers)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn eval_term(term: &Term, answers: &mut dyn Answers) -> Result<bool, CondError> {
    let value = match &term.kind {
        TermKind::Const(value) => *value,
        TermKind::Paren(expr) => eval_expr(expr, answers)?,
        TermKind::Pred(pred, args) => {
            let arg = |i: usize| args.get(i).map_or("", String::as_str);
            match pred {
                Predicate::Defined => answers.defined(arg(0)),
                Predicate::Feature => feature(arg(0)),
                Predicate::Streq => arg(0) == arg(1),
                Predicate::Strneq => arg(0) != arg(1),
                Predicate::VersionAtleast => compare_version(arg(0)) <= 0,
                Predicate::VersionBefore => compare_version(arg(0)) > 0,
                Predicate::OpensslVersionAtleast | Predicate::OpensslVersionBefore => {
                    let name = if *pred == Predicate::OpensslVersionAtleast {
                        "openssl_version_atleast"
                    } else {
                        "openssl_version_before"
                    };
                    return Err(CondError {
                        message: format!(
                            "'{name}' cannot be evaluated: weir has no OpenSSL (its TLS is \
                             rustls), as an HAProxy built without USE_OPENSSL; test \
                             'feature(OPENSSL)' instead"
                        ),
                        position: None,
                    });
                }
                // No OpenSSL: no name starts with anything.
                Predicate::SsllibNameStartswith => false,
            }
        }
    };
    Ok(value != term.negated)
}

/// HAProxy's `feature()`: `name` as a whole word of [`FEATURES`] after a
/// `+` (true) or a `-` (false); absent is false.
fn feature(name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let bytes = FEATURES.as_bytes();
    let mut from = 0;
    while let Some(found) = FEATURES[from..].find(name) {
        let p = from + found;
        let after = bytes.get(p + name.len()).copied();
        if p > 0 && matches!(after, None | Some(b' ')) {
            match bytes[p - 1] {
                b'+' => return true,
                b'-' => return false,
                _ => {}
            }
        }
        from = p + 1;
    }
    false
}

/// HAProxy's `split_version`: `a.b.c.d-<tag><n>-<commit>` as seven
/// numbers, or `None` when unparsable.
fn split_version(version: &str) -> Option<[u64; 7]> {
    let v = version.as_bytes();
    let mut value = [0, 0, 0, 0, 3, 0, 0];
    if v.is_empty() {
        return None;
    }
    // C's strtol base 10 after optional blanks and sign, at `at`.
    let number = |at: usize| -> (u64, usize) {
        let mut i = at;
        while v.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
            i += 1;
        }
        let neg = v.get(i) == Some(&b'-');
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = v[i.min(v.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n == 0 {
            return (0, at);
        }
        let digits = std::str::from_utf8(&v[i..i + n]).unwrap_or("0");
        let parsed = digits.parse::<u64>().unwrap_or(u64::MAX);
        // C stores the long in an unsigned int: -1 wraps.
        let parsed = if neg {
            (parsed as u32).wrapping_neg()
        } else {
            parsed as u32
        };
        (u64::from(parsed), i + n)
    };
    let mut at = 0;
    let mut tag = false;
    for (slot, last) in [(0, false), (1, false), (2, false), (3, true)] {
        let (n, end) = number(at);
        value[slot] = n;
        match v.get(end) {
            None => return Some(value),
            Some(b'-') => {
                at = end + 1;
                tag = true;
                break;
            }
            Some(b'.') if !last => at = end + 1,
            _ => return None,
        }
    }
    if !tag {
        return None;
    }
    let mut p = at;
    if !v.get(p).is_some_and(u8::is_ascii_digit) {
        let kind = [("dev", 1), ("rc", 2), ("pre", 2)]
            .into_iter()
            .find(|(t, _)| v[p.min(v.len())..].starts_with(t.as_bytes()));
        if let Some((t, k)) = kind {
            value[4] = k;
            p += t.len();
            let (n, end) = number(p);
            value[5] = n;
            match v.get(end) {
                None => return Some(value),
                Some(b'-') => p = end + 1,
                _ => return None,
            }
        }
    }
    let rest = &v[p.min(v.len())..];
    let commit = match rest.iter().rposition(|&b| b == b'-') {
        Some(dash) => {
            if dash + 1 == rest.len() {
                return None;
            }
            &rest[dash + 1..]
        }
        None => rest,
    };
    let (n, end) = {
        let whole = std::str::from_utf8(commit).unwrap_or("");
        let digits = whole.bytes().take_while(u8::is_ascii_digit).count();
        (whole[..digits].parse::<u64>().unwrap_or(0), digits)
    };
    value[6] = if end == commit.len() {
        n & 0xffff_ffff
    } else {
        0
    };
    Some(value)
}

/// HAProxy's `compare_current_version`: -1 when `version` is older than
/// weir's, 0 the same, 1 newer, -3 unparsable.
fn compare_version(version: &str) -> i32 {
    let (Some(ours), Some(theirs)) = (split_version(HAPROXY_VERSION), split_version(version))
    else {
        return -3;
    };
    match theirs.cmp(&ours) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}
