//! Reading a client's TLS ClientHello to decide whether its first bytes
//! may be sent to a second server (`option replay-until-response`).
//!
//! A TLS server cannot act on application data before it has answered the
//! ClientHello, so a ClientHello that got no answer is safe to replay,
//! unless it carries 0-RTT early data (the `early_data` extension), which a
//! server may act on at once. Anything that is not a complete, well-formed
//! ClientHello is refused when it starts like TLS.

/// TLS record type of handshake messages.
const HANDSHAKE: u8 = 0x16;
/// Handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Extension number of `early_data` (RFC 8446 §4.2.10).
pub(crate) const EARLY_DATA: u16 = 42;

/// Whether `stream`, the first bytes a client sent, may be sent again to
/// another server: plain (non-TLS) bytes may (the operator opted in); TLS
/// only as a complete ClientHello without 0-RTT early data.
pub(crate) fn replay_is_safe(stream: &[u8]) -> bool {
    match stream.first() {
        Some(&HANDSHAKE) => client_hello(stream).is_some_and(|hello| !offers_early_data(hello)),
        _ => true,
    }
}

/// The ClientHello body (after its 4-byte header), reassembled from the
/// handshake records at the start of `stream`; `None` when incomplete or
/// malformed.
fn client_hello(mut stream: &[u8]) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    loop {
        let (&kind, rest) = stream.split_first()?;
        let length = usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
        let payload = rest.get(4..4 + length)?;
        if kind != HANDSHAKE || length == 0 {
            return None;
        }
        message.extend_from_slice(payload);
        stream = &rest[4 + length..];
        if message.len() >= 4 {
            if message[0] != CLIENT_HELLO {
                return None;
            }
            let body = usize::from(message[1]) << 16
                | usize::from(message[2]) << 8
                | usize::from(message[3]);
            if message.len() >= 4 + body {
                message.truncate(4 + body);
                message.drain(..4);
                return Some(message);
            }
        }
    }
}

/// Whether a ClientHello body lists the `early_data` extension. A body
/// that cannot be read counts as offering it.
fn offers_early_data(body: Vec<u8>) -> bool {
    extensions(&body).is_none_or(|types| types.contains(&EARLY_DATA))
}

/// The extension types of a ClientHello body, in order.
fn extensions(body: &[u8]) -> Option<Vec<u16>> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    let session_id = usize::from(r.u8()?);
    r.take(session_id)?;
    let suites = usize::from(r.u16()?);
    r.take(suites)?;
    let compression = usize::from(r.u8()?);
    r.take(compression)?;
    if r.0.is_empty() {
        return Some(Vec::new());
    }
    let length = usize::from(r.u16()?);
    let mut list = Reader(r.take(length)?);
    let mut types = Vec::new();
    while !list.0.is_empty() {
        types.push(list.u16()?);
        let length = usize::from(list.u16()?);
        list.take(length)?;
    }
    Some(types)
}

/// A cursor over bytes that fails instead of reading past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// A ClientHello with the given extensions, in records of at most
/// `record` payload bytes (for tests and the fuzz oracles).
pub(crate) fn hello(extensions: &[(u16, &[u8])], record: usize) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([7; 32]);
    body.extend([0]); // no session id
    body.extend([0, 2, 0x13, 0x01]); // one suite
    body.extend([1, 0]); // null compression
    let mut list = Vec::new();
    for (kind, data) in extensions {
        list.extend(kind.to_be_bytes());
        list.extend((data.len() as u16).to_be_bytes());
        list.extend(*data);
    }
    body.extend((list.len() as u16).to_be_bytes());
    body.extend(list);
    let mut message = vec![CLIENT_HELLO];
    message.extend(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend(body);
    let mut stream = Vec::new();
    for chunk in message.chunks(record) {
        stream.extend([HANDSHAKE, 3, 1]);
        stream.extend((chunk.len() as u16).to_be_bytes());
        stream.extend(chunk);
    }
    stream
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_client_hello_may_be_replayed() {
        let stream = hello(&[(0, b"\x00\x00"), (43, b"\x02\x03\x04")], 1000);
        assert!(replay_is_safe(&stream));
        // Followed by more records (a ChangeCipherSpec): still one hello.
        let mut more = stream.clone();
        more.extend([0x14, 3, 3, 0, 1, 1]);
        assert!(replay_is_safe(&more));
    }

    #[test]
    fn early_data_is_never_replayed() {
        assert!(!replay_is_safe(&hello(
            &[(0, b""), (EARLY_DATA, b"")],
            1000
        )));
    }

    #[test]
    fn a_hello_split_over_records_is_reassembled() {
        assert!(replay_is_safe(&hello(&[(0, b"abc")], 10)));
        assert!(!replay_is_safe(&hello(&[(EARLY_DATA, b"")], 7)));
    }

    #[test]
    fn incomplete_or_malformed_tls_is_not_replayed() {
        let stream = hello(&[(0, b"abc")], 1000);
        for cut in 0..stream.len() {
            assert!(!replay_is_safe(&stream[..cut.max(1)]), "cut at {cut}");
        }
        let mut bad = stream.clone();
        bad[5] = 2; // a ServerHello
        assert!(!replay_is_safe(&bad));
        let mut bad = stream;
        let last = bad.len() - 1;
        bad[last - 4] = 0xff; // an extension longer than the list
        assert!(!replay_is_safe(&bad));
    }

    #[test]
    fn plain_protocols_are_the_operators_choice() {
        assert!(replay_is_safe(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(replay_is_safe(b""));
    }
}
