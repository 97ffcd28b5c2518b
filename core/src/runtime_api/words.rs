//! How HAProxy 2.6 cuts a request into words, and reads numbers out of
//! them, byte for byte (`cli_parse_request` in `src/cli.c`, and the C
//! library's `atoi`, `strtol` and `strtoul` it relies on).

/// Most words HAProxy reads from one request (`MAX_CLI_ARGS`); the rest
/// of the line is ignored.
pub(crate) const MAX_WORDS: usize = 64;

/// The words of one request, as HAProxy's `cli_parse_request` finds them.
///
/// Words are separated by spaces and tabs; a backslash keeps the next
/// byte in the word (`\ `, `\;`) and is removed, `\\` gives one backslash.
/// The request is a C string to HAProxy: a NUL byte ends the word it is
/// in, and ends the request where a word would start. A word `<<` at the
/// end (the payload marker) ends the words.
pub(crate) fn split(request: &[u8]) -> Vec<Vec<u8>> {
    let end = request.len();
    let at = |i: usize| request.get(i).copied().unwrap_or(0);
    let mut words = Vec::new();
    let mut p = 0;
    while words.len() < MAX_WORDS && p < end {
        while matches!(at(p), b' ' | b'\t') {
            p += 1;
        }
        if at(p) == 0 {
            break;
        }
        if at(p) == b'<' && at(p + 1) == b'<' && at(p + 2) == 0 {
            break;
        }
        let start = p;
        loop {
            while !matches!(at(p), 0 | b' ' | b'\t' | b'\\') {
                p += 1;
            }
            if at(p) != b'\\' {
                break;
            }
            p += 1;
            if at(p) == 0 {
                break;
            }
            p += 1;
            if at(p) == 0 {
                break;
            }
        }
        words.push(unescape(&request[start..p.min(end)]));
        p += 1;
    }
    words
}

/// Removes escaping backslashes: `\x` gives `x`, `\\` gives `\`, and a
/// backslash at the end disappears.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut word = Vec::with_capacity(raw.len());
    let mut k = 0;
    while k < raw.len() {
        if raw[k] == b'\\' {
            if raw.get(k + 1) == Some(&b'\\') {
                k += 1;
            } else {
                k += 1;
                continue;
            }
        }
        word.push(raw[k]);
        k += 1;
    }
    word
}

/// What `strtol` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Long {
    /// The value, saturated at `i64::MIN`/`i64::MAX`.
    pub(crate) value: i64,
    /// Bytes read, 0 when no digit was found (`end == text`).
    pub(crate) used: usize,
    /// The value did not fit (`errno == ERANGE`).
    pub(crate) overflow: bool,
}

/// The C library's `strtol(text, &end, base)` on 64-bit Linux: leading
/// blanks and a sign are skipped, digits are read while they last, a value
/// too large saturates.
pub(crate) fn strtol(text: &[u8], base: u32) -> Long {
    let (magnitude, negative, used) = strtoul_parts(text, base);
    let (value, overflow) = match (negative, i64::try_from(magnitude)) {
        (false, Ok(v)) => (v, false),
        (false, Err(_)) => (i64::MAX, true),
        (true, _) if magnitude > i64::MIN.unsigned_abs() => (i64::MIN, true),
        (true, _) => (0i64.wrapping_sub_unsigned(magnitude), false),
    };
    Long {
        value,
        used,
        overflow,
    }
}

/// The C library's `strtoul(text, NULL, 0)`: like [`strtol`], with the
/// base taken from the prefix (`0x` hexadecimal, `0` octal, else decimal)
/// and a minus sign negating the value modulo 2^64.
pub(crate) fn strtoul(text: &[u8]) -> u64 {
    let (magnitude, negative, _) = strtoul_parts(text, 0);
    if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    }
}

/// The C library's `atoi`: `(int) strtol(text, NULL, 10)`.
pub(crate) fn atoi(text: &[u8]) -> i32 {
    strtol(text, 10).value as i32
}

/// Magnitude (saturated), sign and bytes read of a C integer in `base`
/// (0: from the prefix).
fn strtoul_parts(text: &[u8], base: u32) -> (u64, bool, usize) {
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let mut p = 0;
    while matches!(at(p), b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        p += 1;
    }
    let negative = at(p) == b'-';
    if matches!(at(p), b'+' | b'-') {
        p += 1;
    }
    let hex_prefix = at(p) == b'0'
        && matches!(at(p + 1), b'x' | b'X')
        && (at(p + 2) as char).is_ascii_hexdigit();
    let base = match base {
        0 if hex_prefix => 16,
        0 if at(p) == b'0' => 8,
        0 => 10,
        b => b,
    };
    if base == 16 && hex_prefix {
        p += 2;
    }
    let first = p;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(d) = (at(p) as char).to_digit(base) {
        match magnitude
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(u64::from(d)))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        p += 1;
    }
    if p == first {
        return (0, false, 0);
    }
    if overflow {
        magnitude = u64::MAX;
    }
    (magnitude, negative, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[u8]) -> Vec<String> {
        split(line)
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect()
    }

    #[test]
    fn blanks_separate_words_and_backslashes_escape() {
        assert_eq!(
            words(b"  get \tweight  app/gw1 "),
            ["get", "weight", "app/gw1"]
        );
        assert_eq!(words(b"show\\ backend"), ["show backend"]);
        assert_eq!(words(b"app\\/gw1 a\\\\b end\\"), ["app/gw1", "a\\b", "end"]);
        assert_eq!(words(b"x\\;y"), ["x;y"]);
    }

    #[test]
    fn a_nul_ends_a_word_or_the_request() {
        assert_eq!(words(b"show\0backend"), ["show", "backend"]);
        assert_eq!(words(b"show \0backend"), ["show"]);
        assert!(words(b"\0\xff").is_empty());
    }

    #[test]
    fn the_payload_marker_ends_the_words() {
        assert_eq!(words(b"help <<"), ["help"]);
        assert_eq!(words(b"help << x"), ["help", "<<", "x"]);
        assert_eq!(words(b"a <<<"), ["a", "<<<"]);
    }

    #[test]
    fn at_most_64_words_are_read() {
        let line = "w ".repeat(100);
        assert_eq!(split(line.as_bytes()).len(), MAX_WORDS);
    }

    #[test]
    fn numbers_read_as_the_c_library_does() {
        let read = |text: &[u8], base| {
            let l = strtol(text, base);
            (l.value, l.used, l.overflow)
        };
        assert_eq!(read(b"  -12x", 10), (-12, 5, false));
        assert_eq!(read(b"+7", 10), (7, 2, false));
        assert_eq!(read(b"abc", 10), (0, 0, false));
        assert_eq!(read(b"-", 10), (0, 0, false));
        assert_eq!(read(b"99999999999999999999", 10), (i64::MAX, 20, true));
        assert_eq!(read(b"-99999999999999999999", 10), (i64::MIN, 21, true));
        assert_eq!(read(b"-9223372036854775808", 10), (i64::MIN, 20, false));
        assert_eq!(read(b"0755", 8), (0o755, 4, false));
        assert_eq!(atoi(b"4294967297"), 1);
        assert_eq!(atoi(b"-1"), -1);
        assert_eq!(atoi(b"5k"), 5);
        assert_eq!(strtoul(b"0x1aF"), 0x1af);
        assert_eq!(strtoul(b"010"), 8);
        assert_eq!(strtoul(b"12"), 12);
        assert_eq!(strtoul(b"0x"), 0);
        assert_eq!(strtoul(b"-1"), u64::MAX);
        assert_eq!(strtoul(b"zz"), 0);
    }
}
