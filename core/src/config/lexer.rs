//! Splits configuration files into statements of words, with HAProxy 2.6's
//! quoting, escaping and comment rules. No line continuation.
//!
//! Files are bytes, as for HAProxy: a comment may hold any byte but NUL;
//! the rest of a line must be UTF-8, and a Unicode space outside quotes
//! (a non-breaking space pasted from a web page) is refused with its
//! column rather than taken into a word.

/// Most words HAProxy accepts in one statement.
pub(super) const MAX_WORDS: usize = 64;

/// The lines of `text` with their 1-based numbers (a last newline ends
/// the last line, it does not begin an empty one).
pub(super) fn lines(text: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let whole = text;
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|&b| b == b'\n')
        .take(if whole.is_empty() { 0 } else { usize::MAX })
        .enumerate()
        .map(|(i, line)| (u32::try_from(i + 1).unwrap_or(u32::MAX), line))
}

/// Where `$` references inside double quotes get their values: called
/// with an environment variable's name, or one of HAProxy's
/// pseudo-variables `.LINE`, `.FILE` and `.SECTION`; `None` when unset.
pub(super) type Vars<'a> = &'a mut dyn FnMut(&str) -> Option<String>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// A line's characters, decoded as UTF-8 one at a time so that the bytes
/// after a comment's `#` are never decoded.
struct Chars<'a> {
    line: &'a [u8],
    /// Byte offset of the next character.
    pos: usize,
    /// 1-based column of the next character, in characters.
    column: usize,
}

impl Chars<'_> {
    fn next(&mut self) -> Result<Option<char>, String> {
        let Some(&first) = self.line.get(self.pos) else {
            return Ok(None);
        };
        let len = match first {
            0x01..=0x7f => {
                self.pos += 1;
                self.column += 1;
                return Ok(Some(char::from(first)));
            }
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        let c = self
            .line
            .get(self.pos..self.pos + len)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|s| s.chars().next())
            .ok_or_else(|| {
                format!(
                    "invalid UTF-8 (byte \\x{first:02x}) at column {}: weir reads a \
                     configuration file as UTF-8 outside comments; convert the file (from \
                     Latin-1: iconv -f latin1 -t utf-8)",
                    self.column
                )
            })?;
        if c == '\0' {
            return Err(nul_error(self.column));
        }
        self.pos += len;
        self.column += 1;
        Ok(Some(c))
    }

    /// Skips `n` ASCII bytes already looked at.
    fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.line.len());
        self.column += n;
    }
}

/// The error for a NUL byte at `column` (HAProxy's "stray NUL").
fn nul_error(column: usize) -> String {
    // UTF-16 text has a NUL in its first two bytes.
    let hint = if column <= 2 {
        " (a UTF-16 file? weir reads UTF-8)"
    } else {
        ""
    };
    format!("stray NUL character at column {column}{hint}")
}

/// The name of an invisible or blank-looking Unicode character, refused
/// outside quotes; `None` for other characters.
fn unicode_blank(c: char) -> Option<&'static str> {
    match c {
        '\u{a0}' => Some("a non-breaking space"),
        '\u{feff}' => Some("a byte order mark"),
        '\u{200b}'..='\u{200d}' | '\u{2060}' => Some("a zero-width character"),
        c if c.is_whitespace() && !c.is_ascii() => Some("a Unicode space"),
        _ => None,
    }
}

/// The error for a Unicode blank `c` at `column` outside quotes.
fn blank_error(c: char, column: usize) -> String {
    let fix = if c == '\u{feff}' {
        "remove it (save the file as UTF-8 without BOM)"
    } else {
        "replace it with a plain space (inside quotes it would be part of the word)"
    };
    format!(
        "column {column} contains {} (U+{:04X}), which is not a blank: {fix}",
        unicode_blank(c).unwrap_or("a character"),
        u32::from(c)
    )
}

/// Splits one line into words as HAProxy 2.6's `parse_line`: quotes,
/// escapes, comments, and `$VAR`, `${VAR}`, `${VAR-default}` and
/// `${VAR[*]}` (the value split into words) inside double quotes only.
/// An unset variable stands for nothing. Errors name the byte position,
/// 1-based, as HAProxy's.
pub(super) fn split(line: &[u8], vars: Vars<'_>) -> Result<Vec<String>, String> {
    let mut out = Words::default();
    let mut quote = Quote::None;
    // Where the open quote is, for the error.
    let mut quote_at = 0;
    let mut chars = Chars {
        line,
        pos: 0,
        column: 1,
    };
    loop {
        let at = chars.pos;
        let Some(c) = chars.next()? else { break };
        match (quote, c) {
            (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
            (Quote::Single, c) => out.push(c),
            (Quote::None, '\'') => {
                (quote, quote_at) = (Quote::Single, at);
                out.in_word = true;
            }
            (Quote::None, '"') => {
                (quote, quote_at) = (Quote::Double, at);
                out.in_word = true;
            }
            (Quote::None, '#') => {
                // A comment may hold any byte but NUL, as in HAProxy.
                let comment = &line[chars.pos..];
                if let Some(i) = comment.iter().position(|&b| b == 0) {
                    let before = String::from_utf8_lossy(&comment[..i]).chars().count();
                    return Err(nul_error(chars.column + before));
                }
                break;
            }
            (Quote::None, c) if unicode_blank(c).is_some() => {
                return Err(blank_error(c, chars.column - 1));
            }
            (Quote::None, ' ' | '\t' | '\r') => out.end_word(),
            (Quote::Double, '$') => variable(&mut chars, &mut out, vars)?,
            (_, '\\') => unescape(&mut chars, &mut out, quote == Quote::Double)?,
            (_, c) => out.push(c),
        }
        out.check()?;
    }
    if quote != Quote::None {
        return Err(format!(
            "unmatched quote at position {}: close it on the same line",
            quote_at + 1
        ));
    }
    out.end_word();
    out.check()?;
    Ok(out.words)
}

/// The words of a line being split.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    /// Whether a word is open (it may be empty: `""`).
    in_word: bool,
    /// Whether the open word was begun by a `${VAR[*]}` split and holds
    /// nothing yet: at the end of the line it is no word (HAProxy's
    /// trailing empty argument).
    split_empty: bool,
}

impl Words {
    fn push(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
        self.split_empty = false;
    }

    fn end_word(&mut self) {
        if self.in_word && !(self.split_empty && self.word.is_empty()) {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.in_word = false;
        self.split_empty = false;
    }

    /// Ends the word and opens the next one, inside a `${VAR[*]}`.
    fn split(&mut self) {
        self.words.push(std::mem::take(&mut self.word));
        self.in_word = true;
        self.split_empty = true;
    }

    fn check(&self) -> Result<(), String> {
        if self.words.len() > MAX_WORDS || (self.words.len() == MAX_WORDS && self.in_word) {
            return Err(format!(
                "too many words, truncating after word {MAX_WORDS}: HAProxy allows at most \
                 {MAX_WORDS} words per line"
            ));
        }
        Ok(())
    }
}

/// Whether `b` is a blank for C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// A `$` reference inside double quotes (after the `$`): its value goes
/// into the word, split into words at blanks for `${VAR[*]}`.
fn variable(chars: &mut Chars<'_>, out: &mut Words, vars: Vars<'_>) -> Result<(), String> {
    let line = chars.line;
    let peek = |chars: &Chars<'_>| line.get(chars.pos).copied().unwrap_or(0);
    let brace = (peek(chars) == b'{').then(|| {
        chars.advance(1);
        chars.pos - 1
    });
    let start = chars.pos;
    let first = peek(chars);
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'.') {
        return Err(format!(
            "forbidden first char in environment variable name at position {}",
            start + 1
        ));
    }
    if first == b'.' {
        chars.advance(1);
    }
    while peek(chars).is_ascii_alphanumeric() || peek(chars) == b'_' {
        chars.advance(1);
    }
    // ASCII only, so the slice is UTF-8.
    let name = std::str::from_utf8(&line[start..chars.pos]).unwrap_or_default();
    if name.starts_with('.') && ![".LINE", ".FILE", ".SECTION"].contains(&name) {
        return Err(format!(
            "forbidden first char in environment variable name at position {}: the \
             pseudo-variables are .LINE, .FILE and .SECTION",
            start + 1
        ));
    }
    let mut value = vars(name);
    let mut expand = false;
    if let Some(brace) = brace {
        if peek(chars) == b'[' {
            let at = chars.pos;
            if line.get(at + 1..at + 3) != Some(b"*]".as_slice()) {
                return Err(format!(
                    "truncated or invalid word expansion sequence at position {}: write \
                     '${{{name}[*]}}'",
                    at + 1
                ));
            }
            chars.advance(3);
            expand = true;
        }
        let unmatched = || {
            format!(
                "unmatched brace in environment variable name at position {}",
                brace + 1
            )
        };
        if peek(chars) == b'-' {
            let rest = &line[chars.pos + 1..];
            let end = (rest.iter().position(|&b| b == b'}' || b == 0))
                .filter(|&end| rest[end] == b'}')
                .ok_or_else(unmatched)?;
            if value.is_none() {
                let default = std::str::from_utf8(&rest[..end]).map_err(|_| {
                    format!(
                        "invalid UTF-8 in the default value of '{name}' at position {}",
                        chars.pos + 2
                    )
                })?;
                value = Some(default.to_owned());
            }
            chars.advance(end + 1);
        } else if peek(chars) != b'}' {
            return Err(unmatched());
        }
        chars.advance(1);
    }
    let Some(value) = value else {
        return Ok(());
    };
    if !expand {
        for c in value.chars() {
            out.push(c);
        }
        return Ok(());
    }
    let mut bytes = value.char_indices().peekable();
    while let Some((_, c)) = bytes.next() {
        if c.is_ascii() && is_space(c as u8) {
            while bytes
                .next_if(|&(_, c)| c.is_ascii() && is_space(c as u8))
                .is_some()
            {}
            out.split();
            out.check()?;
        } else {
            out.push(c);
        }
    }
    Ok(())
}

/// An escape sequence (after the backslash), as HAProxy's: `\ `, `\\`,
/// `\t`, `\n`, `\r`, `\#`, `\'`, `\"`, `\xHH`, and `\$` inside double
/// quotes; any other backslash is kept as it is (`\1`, `\.` in a regex).
fn unescape(chars: &mut Chars<'_>, out: &mut Words, dquote: bool) -> Result<(), String> {
    let at = chars.pos - 1;
    let next = chars.line.get(chars.pos).copied();
    let c = match next {
        None => {
            return Err("a trailing backslash does not continue a line: \
                        write each statement on one line"
                .into());
        }
        Some(b' ' | b'\\' | b'#' | b'\'' | b'"') => char::from(next.unwrap_or(0)),
        Some(b'$') if dquote => '$',
        Some(b't') => '\t',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b'x') => {
            let hex = chars.line.get(chars.pos + 1..chars.pos + 3).unwrap_or(&[]);
            let shown = String::from_utf8_lossy(hex);
            let byte = std::str::from_utf8(hex)
                .ok()
                .filter(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "truncated or invalid hexadecimal sequence '\\x{shown}' at position {}: \
                         expected two hex digits",
                        at + 1
                    )
                })?;
            // Words are text: a byte above 7F would become two UTF-8 bytes.
            if !byte.is_ascii() {
                return Err(format!(
                    "escape '\\x{shown}' is not supported yet (bytes above \\x7f); \
                     use 'send-binary' or 'expect binary' for binary data"
                ));
            }
            chars.advance(3);
            out.push(char::from(byte));
            return Ok(());
        }
        // Not an escape: the backslash stays, what follows is read as usual.
        Some(_) => {
            out.push('\\');
            return Ok(());
        }
    };
    chars.advance(1);
    out.push(c);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line.as_bytes(), &mut |_| None).unwrap()
    }

    #[test]
    fn words_split_on_spaces_and_tabs() {
        assert_eq!(
            words("  server\ts1   1.2.3.4:80 "),
            ["server", "s1", "1.2.3.4:80"]
        );
    }

    #[test]
    fn comments_end_the_line_even_glued_to_a_word() {
        assert_eq!(words("global#comment"), ["global"]);
        assert_eq!(words("# all comment"), Vec::<String>::new());
        assert_eq!(words(r"a\#b"), ["a#b"]);
        assert_eq!(words("\"a#b\" 'c#d'"), ["a#b", "c#d"]);
    }

    #[test]
    fn quotes_and_escapes_follow_haproxy() {
        assert_eq!(words(r#""%ci %t"' %s'\ %b"#), ["%ci %t %s %b"]);
        assert_eq!(words(r#"send "" x"#), ["send", "", "x"]);
        assert_eq!(words(r"a\ b \x41\n"), ["a b", "A\n"]);
        assert_eq!(
            words(r#"'no \n here' "yes\tthere""#),
            [r"no \n here", "yes\tthere"]
        );
        assert_eq!(words(r#""\$HOME""#), ["$HOME"]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(
            split(b"\"open", &mut |_| None)
                .unwrap_err()
                .contains("unmatched quote")
        );
        assert!(
            split(br"bind :80 \", &mut |_| None)
                .unwrap_err()
                .contains("trailing backslash")
        );
        assert!(
            split(br"a \xZZ", &mut |_| None)
                .unwrap_err()
                .contains("\\xZZ")
        );
        // Words are text: a byte above 7F is refused, not turned into UTF-8.
        assert!(
            split(br"a \xff", &mut |_| None)
                .unwrap_err()
                .contains("'\\xff' is not supported yet")
        );
        assert_eq!(split(br"\x7f", &mut |_| None).unwrap(), ["\u{7f}"]);
    }

    #[test]
    fn sixty_four_words_at_most() {
        let ok = vec!["w"; 64].join(" ");
        assert_eq!(words(&ok).len(), 64);
        let too_many = vec!["w"; 65].join(" ");
        assert!(
            split(too_many.as_bytes(), &mut |_| None)
                .unwrap_err()
                .contains("too many words")
        );
    }

    #[test]
    fn lines_are_numbered_from_one() {
        let numbered: Vec<_> = lines(b"global\n\n  # c\n").collect();
        assert_eq!(numbered.len(), 3);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 1);
        assert_eq!(lines(b"a\nb").count(), 2);
        assert_eq!(numbered[2], (3, b"  # c".as_slice()));
    }

    #[test]
    fn odd_bytes_never_panic() {
        for line in ["\\", "\\x", "\\x4", "é\\xé", "'", "\"\\", "\u{0}#\u{ffff}"] {
            let _ = split(line.as_bytes(), &mut |_| None);
        }
    }
}
