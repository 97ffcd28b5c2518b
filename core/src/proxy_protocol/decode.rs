//! Reading the header a client's proxy sends first (`accept-proxy`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{
    AUTHORITY_MAX, TYPE_AUTHORITY, TYPE_CRC32C, TYPE_UNIQUE_ID, UNIQUE_ID_MAX, V2_HEADER_LEN,
    V2_SIGNATURE, crc32c_parts,
};

/// The longest version 1 header, CRLF included (the specification's).
pub const MAX_V1_LEN: usize = 107;
/// The longest version 2 header weir reads: what fits in one of its
/// buffers, as HAProxy reads it into one of its (`tune.bufsize`, 16 kB).
pub const MAX_V2_LEN: usize = crate::buffer::BUF_SIZE;

/// A header read from the front of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The client's source and the address it reached; `None` for
    /// `UNKNOWN`, `LOCAL` and families other than TCP over IPv4 or IPv6:
    /// the connection's own addresses stand.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// A version 2 `PP2_TYPE_AUTHORITY`, if there was one.
    pub authority: Option<&'a [u8]>,
    /// How many bytes the header took: the client's own bytes follow.
    pub len: usize,
}

/// Why a header is refused; the texts are HAProxy's log messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Neither `PROXY ` nor the version 2 signature.
    #[error("Received something which does not look like a PROXY protocol header")]
    NotHeader,
    /// A header that breaks the format.
    #[error("Received an invalid PROXY protocol header")]
    Invalid,
    /// A version 1 protocol other than `TCP4`, `TCP6`, `UNKNOWN`.
    #[error("Received an unhandled protocol in the PROXY protocol header")]
    UnhandledProtocol,
    /// A version 2 header longer than the cap.
    #[error("Received a PROXY protocol header longer than the {0} bytes accepted")]
    TooLong(usize),
}

/// Reads a header from `buf`, the first bytes of a connection: `Ok(None)`
/// while they are a valid beginning that needs more bytes, an error as
/// soon as they cannot be one. Version 1 is at most [`MAX_V1_LEN`] bytes;
/// version 2 is as long as its length field says, at most `max_v2`.
pub fn decode(buf: &[u8], max_v2: usize) -> Result<Option<Decoded<'_>>, DecodeError> {
    match buf.first() {
        None => Ok(None),
        Some(b'P') => v1(buf),
        Some(b'\r') => v2(buf, max_v2),
        Some(_) => Err(DecodeError::NotHeader),
    }
}

fn v1(buf: &[u8]) -> Result<Option<Decoded<'_>>, DecodeError> {
    const PREFIX: &[u8] = b"PROXY ";
    let n = buf.len().min(PREFIX.len());
    if buf[..n] != PREFIX[..n] {
        return Err(DecodeError::NotHeader);
    }
    let window = &buf[..buf.len().min(MAX_V1_LEN)];
    let Some(end) = window.iter().position(|&b| b == b'\n') else {
        if window.len() == MAX_V1_LEN || window.iter().any(|&b| !is_v1_byte(b)) {
            return Err(DecodeError::Invalid);
        }
        return Ok(None);
    };
    let line = &window[PREFIX.len()..end];
    let line = line.strip_suffix(b"\r").ok_or(DecodeError::Invalid)?;
    if !line.iter().all(|&b| is_v1_byte(b) && b != b'\r') {
        return Err(DecodeError::Invalid);
    }
    let line = std::str::from_utf8(line).map_err(|_| DecodeError::Invalid)?;
    let mut words = line.split(' ');
    let addrs = match words.next() {
        Some("UNKNOWN") => None,
        Some("TCP4") => Some(v1_addrs(&mut words, |s| {
            s.parse::<Ipv4Addr>().map(IpAddr::V4)
        })?),
        Some("TCP6") => Some(v1_addrs(&mut words, |s| {
            s.parse::<Ipv6Addr>().map(IpAddr::V6)
        })?),
        _ => return Err(DecodeError::UnhandledProtocol),
    };
    Ok(Some(Decoded {
        addrs,
        authority: None,
        len: end + 1,
    }))
}

/// Printable ASCII, and the CR before the LF.
fn is_v1_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || b == b'\r'
}

fn v1_addrs<'a, E>(
    words: &mut impl Iterator<Item = &'a str>,
    ip: impl Fn(&str) -> Result<IpAddr, E>,
) -> Result<(SocketAddr, SocketAddr), DecodeError> {
    let mut next = || words.next().ok_or(DecodeError::Invalid);
    let (src, dst) = (next()?, next()?);
    let (sport, dport) = (next()?, next()?);
    if words.next().is_some() {
        return Err(DecodeError::Invalid);
    }
    let ip = |s: &str| ip(s).map_err(|_| DecodeError::Invalid);
    Ok((
        SocketAddr::new(ip(src)?, v1_port(sport)?),
        SocketAddr::new(ip(dst)?, v1_port(dport)?),
    ))
}

fn v1_port(s: &str) -> Result<u16, DecodeError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::Invalid);
    }
    s.parse().map_err(|_| DecodeError::Invalid)
}

fn v2(buf: &[u8], max_v2: usize) -> Result<Option<Decoded<'_>>, DecodeError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(DecodeError::NotHeader);
    }
    let Some(head) = buf.get(..V2_HEADER_LEN) else {
        if buf.get(12).is_some_and(|v| v >> 4 != 2) {
            return Err(DecodeError::NotHeader);
        }
        return Ok(None);
    };
    let (ver_cmd, fam) = (head[12], head[13]);
    if ver_cmd >> 4 != 2 {
        return Err(DecodeError::NotHeader);
    }
    let total = V2_HEADER_LEN + usize::from(u16::from_be_bytes([head[14], head[15]]));
    if total > max_v2 {
        return Err(DecodeError::TooLong(max_v2));
    }
    let Some(header) = buf.get(..total) else {
        return Ok(None);
    };
    let body = &header[V2_HEADER_LEN..];
    match ver_cmd & 0x0f {
        // LOCAL: the connection's own addresses; TLVs are not read.
        0x00 => Ok(Some(Decoded {
            addrs: None,
            authority: None,
            len: total,
        })),
        0x01 => {
            let block = match fam >> 4 {
                0 => 0,
                1 => 12,
                2 => 36,
                3 => 216,
                _ => return Err(DecodeError::Invalid),
            };
            if body.len() < block {
                return Err(DecodeError::Invalid);
            }
            let addrs = match fam {
                0x11 => Some(v2_addrs(body, false)),
                0x21 => Some(v2_addrs(body, true)),
                _ => None,
            };
            let authority = tlvs(header, V2_HEADER_LEN + block)?;
            Ok(Some(Decoded {
                addrs,
                authority,
                len: total,
            }))
        }
        _ => Err(DecodeError::Invalid),
    }
}

/// The source and destination of an IPv4 (`v6` false) or IPv6 address
/// block; `body` holds at least the block.
fn v2_addrs(body: &[u8], v6: bool) -> (SocketAddr, SocketAddr) {
    let n = if v6 { 16 } else { 4 };
    let ip = |at: usize| -> IpAddr {
        let bytes = &body[at..at + n];
        match <[u8; 16]>::try_from(bytes) {
            Ok(v6) => IpAddr::from(v6),
            Err(_) => IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]]),
        }
    };
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    (
        SocketAddr::new(ip(0), port(2 * n)),
        SocketAddr::new(ip(n), port(2 * n + 2)),
    )
}

/// Checks the TLVs of `header` from `at` on (each within the header, the
/// CRC right, values within HAProxy's limits) and returns the authority.
fn tlvs(header: &[u8], mut at: usize) -> Result<Option<&[u8]>, DecodeError> {
    let mut authority = None;
    while at < header.len() {
        let Some(&[kind, hi, lo]) = header.get(at..at + 3) else {
            return Err(DecodeError::Invalid);
        };
        let start = at + 3;
        let end = start + usize::from(u16::from_be_bytes([hi, lo]));
        let value = header.get(start..end).ok_or(DecodeError::Invalid)?;
        match kind {
            TYPE_CRC32C => {
                let Ok(sent) = <[u8; 4]>::try_from(value) else {
                    return Err(DecodeError::Invalid);
                };
                let crc = crc32c_parts(&[&header[..start], &[0; 4], &header[end..]]);
                if crc != u32::from_be_bytes(sent) {
                    return Err(DecodeError::Invalid);
                }
            }
            TYPE_AUTHORITY if value.len() > AUTHORITY_MAX => return Err(DecodeError::Invalid),
            TYPE_AUTHORITY => authority = Some(value),
            TYPE_UNIQUE_ID if value.len() > UNIQUE_ID_MAX => return Err(DecodeError::Invalid),
            _ => {}
        }
        at = end;
    }
    Ok(authority)
}
