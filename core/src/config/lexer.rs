//! Splits configuration files into statements of words, with HAProxy 2.6's
//! quoting, escaping and comment rules. No line continuation.
//!
//! Files are bytes, as for HAProxy: a comment may hold any byte but NUL;
//! the rest of a line must be UTF-8, and a Unicode space outside quotes
//! (a non-breaking space pasted from a web page) is refused with its
//! column rather than taken into a word.

/// Most words HAProxy accepts in one statement.
pub(super) const MAX_WORDS: usize = 64;

/// One non-empty statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// 1-based line number.
    pub number: u32,
    pub words: Vec<String>,
}

/// Splits `text` into statements; a line that cannot be split gives its
/// line number and the reason.
pub(super) fn lex(text: &[u8]) -> Vec<Result<Line, (u32, String)>> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            match split(line) {
                Ok(words) if words.is_empty() => None,
                Ok(words) => Some(Ok(Line { number, words })),
                Err(message) => Some(Err((number, message))),
            }
        })
        .collect()
}

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

fn split(line: &[u8]) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = Quote::None;
    let mut chars = Chars {
        line,
        pos: 0,
        column: 1,
    };
    while let Some(c) = chars.next()? {
        match (quote, c) {
            (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
            (Quote::Single, c) => word.push(c),
            (Quote::None, '\'') => (quote, in_word) = (Quote::Single, true),
            (Quote::None, '"') => (quote, in_word) = (Quote::Double, true),
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
            (Quote::None, ' ' | '\t' | '\r') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (Quote::Double, '$') => {
                return Err(
                    "environment variables ('$' inside double quotes) are not supported yet; \
                     write '\\$' for a literal dollar sign"
                        .into(),
                );
            }
            (_, '\\') => {
                word.push(unescape(&mut chars)?);
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
        if words.len() >= MAX_WORDS {
            return Err(format!(
                "too many words, truncating after word {MAX_WORDS}: HAProxy allows at most \
                 {MAX_WORDS} words per line"
            ));
        }
    }
    if quote != Quote::None {
        return Err("unmatched quote: close it on the same line".into());
    }
    if in_word {
        words.push(word);
    }
    if words.len() > MAX_WORDS {
        return Err(format!(
            "too many words, truncating after word {MAX_WORDS}: HAProxy allows at most \
             {MAX_WORDS} words per line"
        ));
    }
    Ok(words)
}

/// The character an escape sequence stands for (after the backslash).
fn unescape(chars: &mut Chars<'_>) -> Result<char, String> {
    match chars.next()? {
        None => Err("a trailing backslash does not continue a line: \
                     write each statement on one line"
            .into()),
        Some('n') => Ok('\n'),
        Some('r') => Ok('\r'),
        Some('t') => Ok('\t'),
        Some('x') => {
            let mut hex = String::new();
            for _ in 0..2 {
                hex.extend(chars.next()?);
            }
            let byte = u8::from_str_radix(&hex, 16)
                .ok()
                .filter(|_| hex.len() == 2)
                .ok_or_else(|| format!("invalid escape '\\x{hex}': expected two hex digits"))?;
            // Words are text: a byte above 7F would become two UTF-8 bytes.
            if !byte.is_ascii() {
                return Err(format!(
                    "escape '\\x{hex}' is not supported yet (bytes above \\x7f); \
                     use 'send-binary' or 'expect binary' for binary data"
                ));
            }
            Ok(char::from(byte))
        }
        Some(c) => Ok(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line.as_bytes()).unwrap()
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
        assert!(split(b"\"open").unwrap_err().contains("unmatched quote"));
        assert!(
            split(br"bind :80 \")
                .unwrap_err()
                .contains("trailing backslash")
        );
        assert!(split(br"a \xZZ").unwrap_err().contains("\\xZZ"));
        // Words are text: a byte above 7F is refused, not turned into UTF-8.
        assert!(
            split(br"a \xff")
                .unwrap_err()
                .contains("'\\xff' is not supported yet")
        );
        assert_eq!(split(br"\x7f").unwrap(), ["\u{7f}"]);
        assert!(split(b"\"$HOME\"").unwrap_err().contains("environment"));
    }

    #[test]
    fn sixty_four_words_at_most() {
        let ok = vec!["w"; 64].join(" ");
        assert_eq!(words(&ok).len(), 64);
        let too_many = vec!["w"; 65].join(" ");
        assert!(
            split(too_many.as_bytes())
                .unwrap_err()
                .contains("too many words")
        );
    }

    #[test]
    fn lex_numbers_lines_and_skips_blank_ones() {
        let lines = lex(b"global\n\n  # c\n  maxconn 10\n\"bad\n");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].as_ref().unwrap().number, 4);
        assert_eq!(lines[2].as_ref().unwrap_err().0, 5);
    }

    #[test]
    fn odd_bytes_never_panic() {
        for line in ["\\", "\\x", "\\x4", "é\\xé", "'", "\"\\", "\u{0}#\u{ffff}"] {
            let _ = split(line.as_bytes());
        }
    }
}
