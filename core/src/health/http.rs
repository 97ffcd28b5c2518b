//! HTTP check responses: an incremental, bounded parser and the verdict
//! rules of `http-check expect`.
//!
//! The parser is a pure function of the bytes received so far: it answers
//! "need more bytes", a complete response, or why the bytes are not one.
//! The caller bounds the bytes (the check buffer); a response that does not
//! fit is invalid, memory never grows.

use std::borrow::Cow;

/// What the bytes received so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parse<'a> {
    /// More bytes are needed.
    Incomplete,
    /// A whole response (headers, and the body when one was announced or
    /// the server closed).
    Complete(Response<'a>),
    /// Not an HTTP response, with HAProxy-style info text.
    Invalid(&'static str),
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response<'a> {
    pub status: u16,
    pub reason: &'a str,
    /// The body, de-chunked when it came `Transfer-Encoding: chunked`.
    pub body: Cow<'a, [u8]>,
}

/// Parses `buf`. `eof` says the server closed; `full` that the check buffer
/// has no room left, so no more bytes can come; without `need_body` the
/// response is complete once its headers are.
pub(crate) fn parse(buf: &[u8], eof: bool, full: bool, need_body: bool) -> Parse<'_> {
    let Some(line_end) = buf.iter().position(|&b| b == b'\n') else {
        return if eof || full {
            Parse::Invalid("no HTTP status line")
        } else {
            Parse::Incomplete
        };
    };
    let Some((status, reason)) = status_line(&buf[..line_end]) else {
        return Parse::Invalid("invalid HTTP status line");
    };
    let Some(head_end) = head_end(buf, line_end) else {
        return if full {
            Parse::Invalid("response headers too large")
        } else if eof {
            // Headers cut by the close: HAProxy's H1 parser fails them
            // (checked against haproxy 2.6.12).
            Parse::Invalid("truncated response headers")
        } else {
            Parse::Incomplete
        };
    };
    let headers = &buf[line_end + 1..head_end];
    let body = &buf[head_end..];
    let complete = |body| {
        Parse::Complete(Response {
            status,
            reason,
            body,
        })
    };
    if !need_body {
        return complete(Cow::Borrowed(body));
    }
    if chunked(headers) {
        return match dechunk(body) {
            Dechunked::Done(body) => complete(Cow::Owned(body)),
            Dechunked::Invalid => Parse::Invalid("invalid chunked body"),
            Dechunked::Partial if eof || full => Parse::Invalid("truncated response body"),
            Dechunked::Partial => Parse::Incomplete,
        };
    }
    match content_length(headers) {
        Some(Err(())) => Parse::Invalid("invalid Content-Length"),
        Some(Ok(len)) if body.len() >= len => complete(Cow::Borrowed(&body[..len])),
        Some(Ok(_)) if !eof && !full => Parse::Incomplete,
        Some(Ok(_)) => Parse::Invalid("truncated response body"),
        None if eof || full => complete(Cow::Borrowed(body)),
        None => Parse::Incomplete,
    }
}

/// A chunked body so far.
enum Dechunked {
    /// Up to and including the last (zero-size) chunk; trailers ignored.
    Done(Vec<u8>),
    /// More bytes are needed.
    Partial,
    /// Not chunked framing.
    Invalid,
}

/// Decodes `Transfer-Encoding: chunked` framing: `SIZE[;ext]\r\n DATA \r\n`
/// up to a zero size. The result is bounded by `body`'s length.
fn dechunk(mut body: &[u8]) -> Dechunked {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.iter().position(|&b| b == b'\n') else {
            return Dechunked::Partial;
        };
        let line = body[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&body[..line_end]);
        let digits = line.split(|&b| b == b';').next().unwrap_or(line);
        let size = std::str::from_utf8(digits)
            .ok()
            .map(str::trim)
            .filter(|d| !d.is_empty() && d.len() <= 8)
            .and_then(|d| usize::from_str_radix(d, 16).ok());
        let Some(size) = size else {
            return Dechunked::Invalid;
        };
        if size == 0 {
            return Dechunked::Done(out);
        }
        let data = &body[line_end + 1..];
        if data.len() < size {
            return Dechunked::Partial;
        }
        out.extend_from_slice(&data[..size]);
        body = match &data[size..] {
            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] => rest,
            [] | [b'\r'] => return Dechunked::Partial,
            _ => return Dechunked::Invalid,
        };
    }
}

/// Whether the headers say `Transfer-Encoding: chunked`.
fn chunked(headers: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(headers) else {
        return false;
    };
    text.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    })
}

/// Just past the first empty line (`\r\n` or a bare `\n`) after the
/// status line, which ends at `line_end`: where the headers end.
fn head_end(buf: &[u8], line_end: usize) -> Option<usize> {
    (line_end..buf.len())
        .filter(|&i| buf[i] == b'\n')
        .find_map(|i| match &buf[i + 1..] {
            [b'\n', ..] => Some(i + 2),
            [b'\r', b'\n', ..] => Some(i + 3),
            _ => None,
        })
}

/// `HTTP/1.x NNN reason`
fn status_line(line: &[u8]) -> Option<(u16, &str)> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let rest = line.strip_prefix("HTTP/")?;
    let (version, rest) = rest.split_once(' ')?;
    if !version.starts_with('1') && !version.starts_with('2') {
        return None;
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, reason))
}

fn content_length(headers: &[u8]) -> Option<Result<usize, ()>> {
    let text = std::str::from_utf8(headers).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().map_err(|_| ()))
    })
}

use crate::config::HttpExpect;

impl HttpExpect {
    /// Whether `response` matches the rule (`!` applied).
    pub(crate) fn passes(&self, response: &Response<'_>) -> bool {
        match self {
            HttpExpect::Default => (200..400).contains(&response.status),
            HttpExpect::Status { codes, negate } => {
                let hit = codes
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&response.status));
                hit != *negate
            }
            HttpExpect::RStatus { regex, negate } => {
                regex.0.is_match(response.status.to_string().as_bytes()) != *negate
            }
            HttpExpect::RString { regex, negate } => regex.0.is_match(&response.body) != *negate,
            HttpExpect::String { text, negate } => {
                let hit = text.is_empty()
                    || response
                        .body
                        .windows(text.len())
                        .any(|w| w == text.as_slice());
                hit != *negate
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpExpect;

    fn complete(p: Parse<'_>) -> Response<'_> {
        match p {
            Parse::Complete(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chunked_bodies_are_decoded_for_expect() {
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3;ext=1\r\nhea\r\n5\r\nlthy!\r\n0\r\n\r\n";
        assert_eq!(*complete(parse(buf, false, false, true)).body, *b"healthy!");
        // Split anywhere before the last chunk: more bytes are needed.
        let cut = buf.len() - 7;
        assert_eq!(parse(&buf[..cut], false, false, true), Parse::Incomplete);
        assert_eq!(
            parse(&buf[..cut], true, false, true),
            Parse::Invalid("truncated response body")
        );
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            parse(bad, false, false, true),
            Parse::Invalid("invalid chunked body")
        );
    }

    #[test]
    fn status_line_and_headers_make_a_response() {
        let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let r = complete(parse(buf, false, false, true));
        assert_eq!((r.status, r.reason, &*r.body), (200, "OK", &b"ok"[..]));
    }

    #[test]
    fn partial_bytes_need_more() {
        let full = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown";
        for cut in 0..full.len() {
            assert_eq!(
                parse(&full[..cut], false, false, true),
                Parse::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(complete(parse(full, false, false, true)).status, 503);
    }

    #[test]
    fn without_content_length_the_body_ends_at_close() {
        let buf = b"HTTP/1.0 200 OK\r\n\r\nhello";
        assert_eq!(parse(buf, false, false, true), Parse::Incomplete);
        assert_eq!(*complete(parse(buf, true, false, true)).body, *b"hello");
        assert_eq!(
            complete(parse(buf, false, false, false)).status,
            200,
            "status only"
        );
    }

    #[test]
    fn headers_end_at_the_first_empty_line() {
        // LF-only headers, then a body that holds a CRLF blank line.
        let buf = b"HTTP/1.1 200 OK\nContent-Length: 5\n\nab\r\n\r\n";
        assert_eq!(*complete(parse(buf, false, false, true)).body, *b"ab\r\n\r");
        let buf = b"HTTP/1.0 200 OK\n\nup\r\n\r\nmore";
        assert_eq!(
            *complete(parse(buf, true, false, true)).body,
            *b"up\r\n\r\nmore"
        );
        // A blank line of CRLF after LF-only headers.
        let buf = b"HTTP/1.1 200 OK\nContent-Length: 1\n\r\nx";
        assert_eq!(*complete(parse(buf, false, false, true)).body, *b"x");
    }

    #[test]
    fn garbage_and_oversize_are_invalid() {
        assert_eq!(
            parse(b"SSH-2.0-OpenSSH\r\n", false, false, true),
            Parse::Invalid("invalid HTTP status line")
        );
        assert_eq!(
            parse(b"HTTP/1.1 2000 X\r\n", false, false, true),
            Parse::Invalid("invalid HTTP status line")
        );
        assert_eq!(
            parse(b"HTTP/1.1 200", true, false, true),
            Parse::Invalid("no HTTP status line")
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nX: y", false, true, true),
            Parse::Invalid("response headers too large")
        );
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            parse(short, true, false, true),
            Parse::Invalid("truncated response body")
        );
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
        assert_eq!(
            parse(bad, false, false, true),
            Parse::Invalid("invalid Content-Length")
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let samples: [&[u8]; 6] = [
            b"",
            b"\n",
            b"HTTP/",
            b"HTTP/1.1 \xff\xfe\n\n",
            b"\r\n\r\n",
            b"HTTP/1.1 200 \xc3\n\n",
        ];
        for s in samples {
            for (eof, full) in [(false, false), (true, false), (false, true)] {
                let _ = parse(s, eof, full, true);
                let _ = parse(s, eof, full, false);
            }
        }
    }

    #[test]
    fn default_expectation_is_2xx_or_3xx() {
        let r = |status| Response {
            status,
            reason: "",
            body: Cow::Borrowed(b""),
        };
        assert!(HttpExpect::Default.passes(&r(200)));
        assert!(HttpExpect::Default.passes(&r(302)));
        assert!(!HttpExpect::Default.passes(&r(404)));
        assert!(!HttpExpect::Default.passes(&r(503)));
    }

    #[test]
    fn status_and_string_expectations() {
        let resp = Response {
            status: 204,
            reason: "",
            body: Cow::Borrowed(b"all good"),
        };
        let status = |codes: Vec<(u16, u16)>, negate| HttpExpect::Status { codes, negate };
        assert!(status(vec![(200, 299)], false).passes(&resp));
        assert!(!status(vec![(200, 200), (302, 302)], false).passes(&resp));
        assert!(status(vec![(500, 599)], true).passes(&resp));
        let string = |t: &[u8], negate| HttpExpect::String {
            text: t.to_vec(),
            negate,
        };
        assert!(string(b"good", false).passes(&resp));
        assert!(!string(b"bad", false).passes(&resp));
        assert!(string(b"bad", true).passes(&resp));
    }

    #[test]
    fn a_body_rule_fails_in_haproxys_words_not_as_a_wrong_status() {
        let resp = |body: &'static [u8]| Response {
            status: 200,
            reason: "OK",
            body: Cow::Borrowed(body),
        };
        let string = |t: &[u8], negate| HttpExpect::String {
            text: t.to_vec(),
            negate,
        };
        let rstring = |r: &str, negate| HttpExpect::RString {
            regex: crate::config::Pattern::new(r).unwrap(),
            negate,
        };
        use crate::health::CheckStatus;
        let words = |status: Option<CheckStatus>| {
            let status = status.expect("a failure");
            format!("{}{}", status.reason(), status.details())
        };
        let judge = |e: HttpExpect, r: &Response<'_>| {
            let rule = crate::config::HttpRule::new(crate::config::HttpStep::Expect(e), 1);
            crate::health::ruleset::http_judge(&rule, r)
        };
        let missing = "Layer7 invalid response, info: \"HTTP content check did not match\"";
        let unwanted = "Layer7 invalid response, info: \"HTTP check matched unwanted content\"";
        let no_body =
            "Layer7 invalid response, info: \"HTTP content check could not find a response body\"";
        assert_eq!(
            words(judge(string(b"healthy", false), &resp(b"up"))),
            missing
        );
        assert_eq!(words(judge(rstring("^heal", false), &resp(b"up"))), missing);
        assert_eq!(words(judge(string(b"up", true), &resp(b"up"))), unwanted);
        assert_eq!(words(judge(rstring("u", true), &resp(b"up"))), unwanted);
        assert_eq!(words(judge(string(b"up", true), &resp(b""))), no_body);
        assert_eq!(words(judge(string(b"up", false), &resp(b""))), no_body);
        assert!(judge(string(b"up", false), &resp(b"up")).is_none());
        assert!(judge(rstring("x", true), &resp(b"up")).is_none());
        let status = HttpExpect::Status {
            codes: vec![(204, 204)],
            negate: false,
        };
        assert_eq!(
            words(judge(status, &resp(b"up"))),
            "Layer7 wrong status, code: 200, info: \"OK\""
        );
    }
}
