//! An incremental, bounded HTTP/1.x request reader.
//!
//! [`RequestReader::read`] looks at the bytes a connection has received so
//! far and says: wait for more, send `100 Continue`, here is a request, or
//! the bytes are not a request HAProxy would accept (answer
//! [`BAD_REQUEST`](super::BAD_REQUEST) and close). Each byte is scanned once
//! however the request trickles in, and a request that does not fit
//! HAProxy's buffer is refused, so a slow or huge client costs bounded time
//! and memory.

use std::ops::Range;

/// Most bytes of a request head: HAProxy's `tune.bufsize` (16384) less
/// `tune.maxrewrite` (1024). HAProxy's own bound is this less its internal
/// block overhead (a few dozen bytes); a longer head is a 400 there too.
pub const MAX_HEAD: usize = 16384 - 1024;

/// Most header lines of a request: HAProxy's `tune.http.maxhdr` (101)
/// counts the start line, so 100 headers pass and 101 are a 400.
pub const MAX_HEADERS: usize = 100;

/// Most bytes of a whole request (head and body) held in memory. A larger
/// body is not read: the request comes with [`Request::body`] `None`, and
/// the connection closes after the answer (HAProxy answers a stats POST
/// this large with `;st=EXCD` too).
pub const MAX_REQUEST: usize = 16384 - 1024;

/// Why bytes are not a request. Every case is answered with HAProxy's 400
/// and a close, as HAProxy 2.6 does (it has no 413, 414 or 431 for heads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The head did not end within [`MAX_HEAD`] bytes.
    #[error("request head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// More than [`MAX_HEADERS`] header lines.
    #[error("more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    /// Not `method SP target SP HTTP/x.y`, or bad characters in it.
    #[error("invalid request line")]
    RequestLine,
    /// A header line without a valid name and colon, or a bare CR.
    #[error("invalid header line")]
    Header,
    /// A `Content-Length` that is not a number, or several different ones.
    #[error("invalid Content-Length")]
    ContentLength,
    /// Several `Host` headers.
    #[error("several Host headers")]
    Host,
    /// A `Transfer-Encoding` header: weir reads `Content-Length` bodies only.
    #[error("Transfer-Encoding in a request")]
    TransferEncoding,
}

/// The request methods the services tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: the answer has no body.
    Head,
    /// `POST`.
    Post,
    /// Any other token (methods are case-sensitive: `get` is one).
    Other,
}

/// One request, borrowed from the connection's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'b> {
    /// The method.
    pub method: Method,
    /// The request target as sent (`/metrics?scope=server`,
    /// `http://host/stats`, `*`).
    pub target: &'b str,
    /// HTTP/1.1 or later; `false`: HTTP/1.0 (or 0.9) rules.
    pub http11: bool,
    /// Whether the connection stays open after the answer: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`,
    /// and never after a body too large to read.
    pub keep_alive: bool,
    /// The `Host` header's value.
    pub host: Option<&'b [u8]>,
    /// The `Authorization` header's value.
    pub authorization: Option<&'b [u8]>,
    /// The body (`Content-Length` bytes; empty without one); `None` when it
    /// is larger than [`MAX_REQUEST`] allows and was not read.
    pub body: Option<&'b [u8]>,
    /// How many bytes of the buffer the request took: drop them before
    /// reading the next (pipelined) request. A request without its body
    /// takes the head only; the connection must close after it.
    pub len: usize,
}

impl<'b> Request<'b> {
    /// The target without scheme and authority: `/stats;csv?scope=x` for
    /// both `/stats;csv?scope=x` and `http://h/stats;csv?scope=x`.
    pub fn path_and_query(&self) -> &'b str {
        let t = self.target;
        if t.starts_with('/') {
            return t;
        }
        match t.find("://") {
            Some(i) => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("", |j| &rest[j..])
            }
            None => t,
        }
    }

    /// The path, without the query string (HAProxy's `path`).
    pub fn path(&self) -> &'b str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&'b str> {
        self.path_and_query().split_once('?').map(|(_, q)| q)
    }
}

/// What [`RequestReader::read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read<'b> {
    /// The request is not complete: read more bytes (within the timeout).
    NeedMore,
    /// The head asks `Expect: 100-continue` and its body is still to come:
    /// send [`CONTINUE`](super::CONTINUE), then read more. Said once per
    /// request.
    Continue,
    /// A whole request.
    Request(Request<'b>),
}

/// Reads one request after another from a connection's bytes.
///
/// Give [`read`](Self::read) the connection's unread bytes (contiguous,
/// starting where the previous request ended) each time more arrive. Once
/// it returns a request, drop [`Request::len`] bytes from the front before
/// the next call; the reader is then ready for the next request.
#[derive(Debug, Clone, Default)]
pub struct RequestReader {
    /// Where the request line starts (after empty lines, which HAProxy skips).
    start: usize,
    /// Where the line being scanned starts.
    line: usize,
    /// How far the bytes were scanned for the end of the head.
    scanned: usize,
    /// The head, once complete.
    head: Option<Head>,
    /// `Read::Continue` was returned for this request.
    continued: bool,
}

/// A complete head, as positions in the buffer.
#[derive(Debug, Clone)]
struct Head {
    method: Method,
    target: Range<usize>,
    http11: bool,
    keep_alive: bool,
    expect_continue: bool,
    host: Option<Range<usize>>,
    authorization: Option<Range<usize>>,
    content_length: usize,
    /// Where the body starts.
    end: usize,
}

impl RequestReader {
    /// A reader waiting for a first request.
    pub fn new() -> RequestReader {
        RequestReader::default()
    }

    /// Looks at `buf`, the connection's unread bytes; see the type's docs.
    pub fn read<'b>(&mut self, buf: &'b [u8]) -> Result<Read<'b>, RequestError> {
        if self.head.is_none() {
            let Some(end) = self.scan(buf)? else {
                return Ok(Read::NeedMore);
            };
            self.head = Some(parse_head(&buf[self.start..end], self.start)?);
        }
        let Some(head) = &self.head else {
            return Ok(Read::NeedMore);
        };
        let fits = head.end + head.content_length <= MAX_REQUEST;
        let body = if !fits {
            None
        } else if let Some(body) = buf.get(head.end..head.end + head.content_length) {
            Some(body)
        } else if head.expect_continue && head.http11 && !self.continued {
            self.continued = true;
            return Ok(Read::Continue);
        } else {
            return Ok(Read::NeedMore);
        };
        let text = |r: &Range<usize>| &buf[r.clone()];
        let request = Request {
            method: head.method,
            // Checked to be ASCII by `parse_head`.
            target: std::str::from_utf8(text(&head.target)).unwrap_or_default(),
            http11: head.http11,
            keep_alive: head.keep_alive && fits,
            host: head.host.as_ref().map(text),
            authorization: head.authorization.as_ref().map(text),
            body,
            len: head.end + if fits { head.content_length } else { 0 },
        };
        *self = RequestReader::default();
        Ok(Read::Request(request))
    }

    /// Scans new bytes for the empty line ending the head; returns where
    /// the body starts once found.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, RequestError> {
        let limit = buf.len().min(MAX_HEAD);
        while self.scanned < limit {
            let pos = self.scanned;
            self.scanned += 1;
            if buf[pos] != b'\n' {
                continue;
            }
            let line = &buf[self.line..pos];
            let empty = line.is_empty() || line == b"\r";
            self.line = pos + 1;
            if empty && self.start + line.len() == pos {
                // An empty line before the request line: skipped.
                self.start = pos + 1;
            } else if empty {
                return Ok(Some(pos + 1));
            }
        }
        if self.scanned >= MAX_HEAD {
            return Err(RequestError::HeadTooLarge);
        }
        Ok(None)
    }
}

/// Parses a complete head (`head` starts at `offset` in the buffer).
fn parse_head(head: &[u8], offset: usize) -> Result<Head, RequestError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let (method, target, http11) = request_line(first)?;
    let at = |part: &[u8]| {
        let start = offset + (part.as_ptr() as usize - head.as_ptr() as usize);
        start..start + part.len()
    };
    let mut parsed = Head {
        method,
        target: at(target),
        http11,
        keep_alive: http11,
        expect_continue: false,
        host: None,
        authorization: None,
        content_length: 0,
        end: offset + head.len(),
    };
    let mut count = 0;
    let mut content_length: Option<usize> = None;
    let (mut close, mut keep) = (false, false);
    // Whether the previous header is one weir reads (a folded continuation
    // of it would change its value).
    let mut previous_read = None;
    for line in lines.filter(|l| !l.is_empty()) {
        if line.contains(&b'\r') {
            return Err(RequestError::Header);
        }
        if matches!(line[0], b' ' | b'\t') {
            // obs-fold: a continuation of the previous header's value.
            match previous_read {
                None => return Err(RequestError::Header),
                Some(true) => return Err(RequestError::Header),
                Some(false) => continue,
            }
        }
        count += 1;
        if count > MAX_HEADERS {
            return Err(RequestError::TooManyHeaders);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(RequestError::Header)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(RequestError::Header);
        }
        let value = line[colon + 1..].trim_ascii();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        previous_read = Some(true);
        if is("host") {
            if parsed.host.is_some() {
                return Err(RequestError::Host);
            }
            parsed.host = Some(at(value));
        } else if is("authorization") {
            parsed.authorization = Some(at(value));
        } else if is("content-length") {
            for part in value.split(|&b| b == b',') {
                let n = content_length_value(part.trim_ascii())?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(RequestError::ContentLength);
                }
                content_length = Some(n);
            }
        } else if is("transfer-encoding") {
            return Err(RequestError::TransferEncoding);
        } else if is("connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if is("expect") {
            parsed.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        } else {
            previous_read = Some(false);
        }
    }
    parsed.keep_alive = !close && (http11 || keep);
    parsed.content_length = content_length.unwrap_or(0);
    Ok(parsed)
}

/// `method SP+ target SP+ HTTP/d.d`.
fn request_line(line: &[u8]) -> Result<(Method, &[u8], bool), RequestError> {
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::RequestLine);
    };
    if !method.iter().all(|&b| is_tchar(b)) || !target.iter().all(|&b| (0x21..=0x7f).contains(&b)) {
        return Err(RequestError::RequestLine);
    }
    let http11 = match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (*major, *minor) >= (b'1', b'1')
        }
        _ => return Err(RequestError::RequestLine),
    };
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => Method::Other,
    };
    Ok((method, target, http11))
}

/// One decimal `Content-Length` value.
fn content_length_value(text: &[u8]) -> Result<usize, RequestError> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(RequestError::ContentLength);
    }
    text.iter()
        .try_fold(0usize, |n, &d| {
            n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
        })
        .ok_or(RequestError::ContentLength)
}

/// RFC 9110 token characters (method and header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Read<'_>, RequestError> {
        RequestReader::new().read(bytes)
    }

    fn request(bytes: &[u8]) -> Request<'_> {
        match one(bytes) {
            Ok(Read::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_get_is_read_whole() {
        let r = request(b"GET /metrics?scope=server HTTP/1.1\r\nHost: a:1\r\nAuthorization: Basic eDp5\r\n\r\nGET");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, "/metrics?scope=server");
        assert_eq!(r.path(), "/metrics");
        assert_eq!(r.query(), Some("scope=server"));
        assert!(r.http11 && r.keep_alive);
        assert_eq!(r.host, Some(&b"a:1"[..]));
        assert_eq!(r.authorization, Some(&b"Basic eDp5"[..]));
        assert_eq!(r.body, Some(&b""[..]));
        assert_eq!(r.len, 76);
    }

    #[test]
    fn absolute_targets_have_a_path() {
        let r = request(b"GET http://h:1/stats;csv?x HTTP/1.1\r\n\r\n");
        assert_eq!(r.path_and_query(), "/stats;csv?x");
        assert_eq!(r.path(), "/stats;csv");
        assert_eq!(request(b"GET http://h HTTP/1.1\r\n\r\n").path(), "");
        assert_eq!(request(b"OPTIONS * HTTP/1.1\r\n\r\n").path(), "*");
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let ka = |bytes: &[u8]| request(bytes).keep_alive;
        assert!(ka(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
        // HAProxy takes later versions as 1.1.
        assert!(request(b"GET / HTTP/2.0\r\n\r\n").http11);
        assert!(!request(b"GET / HTTP/0.9\r\n\r\n").http11);
    }

    #[test]
    fn bytes_may_come_one_at_a_time_and_in_pipelines() {
        let two = b"\r\nPOST /s HTTP/1.1\nContent-Length: 3\n\nb=xGET /n HTTP/1.0\r\n\r\n";
        let mut reader = RequestReader::new();
        let mut buf: &[u8] = two;
        let mut end = 0;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            end += 1;
            assert!(end <= buf.len() + 1, "no request in {buf:?}");
            if let Read::Request(r) = reader.read(&buf[..end.min(buf.len())]).unwrap() {
                seen.push((r.method, r.target.to_owned(), r.body.map(<[u8]>::to_vec)));
                buf = &buf[r.len..];
                end = 0;
            }
        }
        assert_eq!(seen[0], (Method::Post, "/s".into(), Some(b"b=x".to_vec())));
        assert_eq!(seen[1], (Method::Get, "/n".into(), Some(vec![])));
        assert!(buf.is_empty());
    }

    #[test]
    fn expect_continue_is_said_once_before_the_body() {
        let head = b"POST /s HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
        let mut reader = RequestReader::new();
        assert_eq!(reader.read(&head[..10]), Ok(Read::NeedMore));
        assert_eq!(reader.read(head), Ok(Read::Continue));
        assert_eq!(reader.read(head), Ok(Read::NeedMore));
        let whole = [&head[..], b"a=b"].concat();
        assert!(matches!(reader.read(&whole), Ok(Read::Request(r)) if r.body == Some(b"a=b")));
    }

    #[test]
    fn a_body_too_large_is_not_read_and_the_connection_closes() {
        let text = format!("POST /s HTTP/1.1\r\nContent-Length: {MAX_REQUEST}\r\n\r\n");
        let r = request(text.as_bytes());
        assert_eq!(r.body, None);
        assert!(!r.keep_alive);
        assert_eq!(r.len, text.len());
        let fits = MAX_REQUEST - 43;
        let text = format!("POST /s HTTP/1.1\r\nContent-Length: {fits}\r\n\r\n");
        assert_eq!(text.len() + fits, MAX_REQUEST);
        assert_eq!(one(text.as_bytes()), Ok(Read::NeedMore));
    }

    #[test]
    fn limits_are_haproxy_defaults() {
        let pad = "a".repeat(MAX_HEAD - 30);
        let at_limit = format!("GET / HTTP/1.1\r\nX: {pad}\r\n\r\n");
        assert!(at_limit.len() <= MAX_HEAD);
        assert!(matches!(one(at_limit.as_bytes()), Ok(Read::Request(_))));
        let over = format!("GET / HTTP/1.1\r\nX: {pad}aaaaaaaaaa\r\n\r\n");
        assert_eq!(one(over.as_bytes()), Err(RequestError::HeadTooLarge));
        // Never ending: refused once the limit is reached, not before.
        let endless = vec![b'a'; MAX_HEAD - 1];
        assert_eq!(one(&endless), Ok(Read::NeedMore));
        assert_eq!(
            one(&[endless, vec![b'a']].concat()),
            Err(RequestError::HeadTooLarge)
        );
        let headers = |n: usize| {
            let mut t = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                t.push_str(&format!("X{i}: y\r\n"));
            }
            t + "\r\n"
        };
        assert!(matches!(one(headers(100).as_bytes()), Ok(Read::Request(_))));
        assert_eq!(
            one(headers(101).as_bytes()),
            Err(RequestError::TooManyHeaders)
        );
    }

    #[test]
    fn what_haproxy_refuses_is_refused() {
        // Each was sent to HAProxy 2.6.12, which answered 400.
        for (bytes, error) in [
            (&b"GARBAGE\r\n\r\n"[..], RequestError::RequestLine),
            (b"GET /metrics HTTP/1\r\n\r\n", RequestError::RequestLine),
            (b"GET /metrics\r\n\r\n", RequestError::RequestLine),
            (b"GET /m HTTP/1.1 x\r\n\r\n", RequestError::RequestLine),
            (b"GET /m http/1.1\r\n\r\n", RequestError::RequestLine),
            (b"G@T /m HTTP/1.1\r\n\r\n", RequestError::RequestLine),
            (b"GET /m\x01 HTTP/1.1\r\n\r\n", RequestError::RequestLine),
            (
                b"GET /m\xc3\xa9 HTTP/1.1\r\n\r\n",
                RequestError::RequestLine,
            ),
            (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", RequestError::Header),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", RequestError::Header),
            (b"GET / HTTP/1.1\r\n: b\r\n\r\n", RequestError::Header),
            (b"GET / HTTP/1.1\r\nX\x01: b\r\n\r\n", RequestError::Header),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                RequestError::Host,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                RequestError::ContentLength,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                RequestError::ContentLength,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                RequestError::ContentLength,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                RequestError::ContentLength,
            ),
        ] {
            assert_eq!(one(bytes), Err(error), "{}", String::from_utf8_lossy(bytes));
        }
        // And these it accepted.
        for bytes in [
            &b"get /m HTTP/1.1\r\n\r\n"[..],
            b"GET  /m  HTTP/1.1\r\n\r\n",
            b"GET /m\x7f HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\x01\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab",
            b"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(one(bytes), Ok(Read::Request(_))),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn headers_weir_reads_cannot_be_folded_or_chunked() {
        assert_eq!(
            one(b"GET / HTTP/1.1\r\nContent-Length: 1\r\n 2\r\n\r\n"),
            Err(RequestError::Header)
        );
        assert_eq!(
            one(b"GET / HTTP/1.1\r\n folded\r\n\r\n"),
            Err(RequestError::Header)
        );
        assert_eq!(
            one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            Err(RequestError::TransferEncoding)
        );
        assert_eq!(
            one(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"),
            Err(RequestError::Header)
        );
    }
}
