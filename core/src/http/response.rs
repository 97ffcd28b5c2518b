//! Answers, byte for byte as HAProxy 2.6 sends them (checked against
//! `haproxy` with curl; samples in `golden/`).
//!
//! HAProxy sends the messages of its HTTP parser (400, 408) as raw text,
//! header names capitalised; everything else goes through its HTX layer,
//! which writes header names in lower case and adds `connection:` and the
//! framing last. Bodies of 200 answers go out in one chunk to HTTP/1.1
//! clients (`transfer-encoding: chunked`, as HAProxy's) and with a
//! `content-length` to HTTP/1.0 clients (HAProxy sends those chunks too,
//! which HTTP/1.0 does not have).

use std::fmt::Write as _;

use super::request::{Method, Request};

/// HAProxy's answer to bytes that are not a request (`http_err_msgs`),
/// sent as is; the connection closes after it.
pub const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad request\r\n\
Content-length: 90\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";

/// HAProxy's answer when the first request of a connection (even one that
/// sent nothing yet) is not complete within `timeout http-request` (else
/// `timeout client`); sent as is, then the connection closes. A connection
/// idle after an answer is closed silently (`timeout http-keep-alive`).
pub const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Time-out\r\n\
Content-length: 110\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An answer to write, and whether to close the connection once it is
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The whole answer: status line, headers, body.
    pub bytes: Vec<u8>,
    /// Close the connection after writing it (read nothing more).
    pub close: bool,
}

/// One of HAProxy's error messages, sent through its HTX layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Canned {
    status: u16,
    reason: &'static str,
    body: &'static str,
    /// The message itself says `Connection: close` (HAProxy's 400 does).
    closes: bool,
}

/// `http_err_msgs[HTTP_ERR_400]`.
pub(super) const ERR_400: Canned = Canned {
    status: 400,
    reason: "Bad request",
    body: "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n",
    closes: true,
};

/// `http_err_msgs[HTTP_ERR_401]`.
pub(super) const ERR_401: Canned = Canned {
    status: 401,
    reason: "Unauthorized",
    body: "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
    closes: false,
};

/// `http_err_msgs[HTTP_ERR_503]`: HAProxy's answer to a request no rule
/// serves in a frontend without a backend.
pub(super) const ERR_503: Canned = Canned {
    status: 503,
    reason: "Service Unavailable",
    body: "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
    closes: false,
};

/// Status line and headers being written.
struct Head {
    text: String,
    http11: bool,
    keep_alive: bool,
}

impl Head {
    fn new(req: &Request<'_>, status: u16, reason: &str) -> Head {
        Head {
            text: format!("HTTP/1.1 {status} {reason}\r\n"),
            http11: req.http11,
            keep_alive: req.keep_alive,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Head {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// Ends the head with the `connection` header HAProxy's H1 layer adds:
    /// `close` to an HTTP/1.1 client that asked it (or when the message
    /// says it), and to an HTTP/1.0 client whose connection closes;
    /// `keep-alive` to one whose connection stays. `close`: the connection
    /// closes after this answer.
    fn finish(self, says_close: bool, close: bool, body: &[u8]) -> Reply {
        let close = close || says_close || !self.keep_alive;
        let connection = match (self.http11, close) {
            (true, _) if says_close || !self.keep_alive => Some("close"),
            (true, _) => None,
            (false, true) => Some("close"),
            (false, false) => Some("keep-alive"),
        };
        let head = match connection {
            Some(value) => self.header("connection", value),
            None => self,
        };
        let mut bytes = head.text.into_bytes();
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        Reply { bytes, close }
    }
}

impl Reply {
    /// One of HAProxy's messages as its HTX layer sends it. `close`: the
    /// connection closes after it even if the request allows more (HAProxy
    /// closes after a 401).
    pub(super) fn canned(
        req: &Request<'_>,
        message: Canned,
        close: bool,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut head = Head::new(req, message.status, message.reason)
            .header("content-length", &message.body.len().to_string())
            .header("cache-control", "no-cache")
            .header("content-type", "text/html");
        for (name, value) in extra {
            head = head.header(name, value);
        }
        let body = if req.method == Method::Head {
            &b""[..]
        } else {
            message.body.as_bytes()
        };
        head.finish(message.closes, close, body)
    }

    /// A 200 with `headers` and `body`: one chunk to an HTTP/1.1 client, a
    /// `content-length` to an HTTP/1.0 one, no body to a HEAD (with the
    /// `transfer-encoding` header if `chunked_head`, as HAProxy's exporter
    /// sends it and its stats page does not).
    pub(super) fn ok(
        req: &Request<'_>,
        headers: &[(&str, &str)],
        body: &[u8],
        chunked_head: bool,
    ) -> Reply {
        let mut head = Head::new(req, 200, "OK");
        for (name, value) in headers {
            head = head.header(name, value);
        }
        if req.method == Method::Head {
            if chunked_head && req.http11 {
                head = head.header("transfer-encoding", "chunked");
            }
            return head.finish(false, false, b"");
        }
        if !req.http11 {
            let head = head.header("content-length", &body.len().to_string());
            return head.finish(false, false, body);
        }
        let head = head.header("transfer-encoding", "chunked");
        let mut framed = Vec::with_capacity(body.len() + 16);
        if !body.is_empty() {
            framed.extend_from_slice(format!("{:X}\r\n", body.len()).as_bytes());
            framed.extend_from_slice(body);
            framed.extend_from_slice(b"\r\n");
        }
        framed.extend_from_slice(b"0\r\n\r\n");
        head.finish(false, false, &framed)
    }

    /// HAProxy's redirect after a stats page POST: `303 See Other` to
    /// `location`, no body.
    pub(super) fn see_other(req: &Request<'_>, location: &str) -> Reply {
        Head::new(req, 303, "See Other")
            .header("cache-control", "no-cache")
            .header("content-type", "text/plain")
            .header("content-length", "0")
            .header("location", location)
            .finish(false, false, b"")
    }
}
