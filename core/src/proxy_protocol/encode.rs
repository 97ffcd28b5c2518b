//! Writing the header weir sends first on a server connection.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::{
    AUTHORITY_MAX, TYPE_AUTHORITY, TYPE_CRC32C, TYPE_SSL, TYPE_UNIQUE_ID, V2_HEADER_LEN,
    V2_SIGNATURE, V2Options, Version, crc32c,
};

/// The longest header [`encode`] writes: version 2 over IPv6 with every
/// TLV, the authority at its longest (version 1 takes at most 107).
pub const MAX_ENCODED_LEN: usize =
    V2_HEADER_LEN + 36 + CRC_TLV_LEN + 3 + AUTHORITY_MAX + 3 + SSL_TLV_LEN;

const CRC_TLV_LEN: usize = 3 + 4;
/// Type, length, `client` flags, `verify` result.
const SSL_TLV_LEN: usize = 3 + 1 + 4;

/// A header in a fixed array, as [`encode`] wrote it.
#[derive(Clone)]
pub struct Encoded {
    bytes: [u8; MAX_ENCODED_LEN],
    len: usize,
}

impl Encoded {
    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push(&mut self, bytes: &[u8]) {
        // Callers stay within MAX_ENCODED_LEN; a longer write is cut, never
        // a panic.
        let end = (self.len + bytes.len()).min(MAX_ENCODED_LEN);
        let n = end - self.len;
        self.bytes[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }

    fn tlv(&mut self, kind: u8, value: &[u8]) {
        let len = value.len() as u16;
        self.push(&[kind]);
        self.push(&len.to_be_bytes());
        self.push(value);
    }
}

impl Write for Encoded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// The header for a connection from `addrs` (the client's source and the
/// address it reached), as HAProxy's `make_proxy_line` writes it: without
/// addresses (a health check), version 1 says `UNKNOWN` and version 2
/// `LOCAL`. `authority` is sent with the `authority` option; the unique id
/// (always empty: weir has no `unique-id-format`) only for a client's
/// connection, as HAProxy's.
pub fn encode(
    version: Version,
    addrs: Option<(SocketAddr, SocketAddr)>,
    authority: Option<&[u8]>,
) -> Encoded {
    let mut out = Encoded {
        bytes: [0; MAX_ENCODED_LEN],
        len: 0,
    };
    match version {
        Version::V1 => v1(&mut out, addrs),
        Version::V2(options) => v2(&mut out, addrs, authority, options),
    }
    out
}

fn v1(out: &mut Encoded, addrs: Option<(SocketAddr, SocketAddr)>) {
    let Some((src, dst)) = addrs else {
        out.push(b"PROXY UNKNOWN\r\n");
        return;
    };
    let written = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => write!(out, "PROXY TCP4 {s} {d} "),
        (s, d) => {
            out.push(b"PROXY TCP6 ");
            write_v6(out, to_v6(s))
                .and_then(|()| out.write_char(' '))
                .and_then(|()| write_v6(out, to_v6(d)))
                .and_then(|()| out.write_char(' '))
        }
    };
    let _ = written.and_then(|()| write!(out, "{} {}\r\n", src.port(), dst.port()));
}

/// An IPv4 address as IPv6 (`::ffff:a.b.c.d`), as HAProxy's `v4tov6`.
fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// An IPv6 address as glibc's `inet_ntop` writes it: as Rust's, except
/// that an address whose first 96 bits are zero (and the next 16 not)
/// ends in dotted IPv4 (`::1.2.3.4`).
fn write_v6(out: &mut Encoded, ip: Ipv6Addr) -> fmt::Result {
    let s = ip.segments();
    if s[..6].iter().all(|&x| x == 0) && s[6] != 0 {
        let [.., a, b, c, d] = ip.octets();
        return write!(out, "::{a}.{b}.{c}.{d}");
    }
    write!(out, "{ip}")
}

fn v2(
    out: &mut Encoded,
    addrs: Option<(SocketAddr, SocketAddr)>,
    authority: Option<&[u8]>,
    options: V2Options,
) {
    out.push(&V2_SIGNATURE);
    match addrs {
        None => out.push(&[0x20, 0x00, 0, 0]),
        Some((src, dst)) => match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out.push(&[0x21, 0x11, 0, 0]);
                out.push(&s.octets());
                out.push(&d.octets());
            }
            (s, d) => {
                out.push(&[0x21, 0x21, 0, 0]);
                out.push(&to_v6(s).octets());
                out.push(&to_v6(d).octets());
            }
        },
    }
    if let Some((src, dst)) = addrs {
        out.push(&src.port().to_be_bytes());
        out.push(&dst.port().to_be_bytes());
    }
    // HAProxy's order: crc32c, authority, unique-id, ssl.
    let crc_at = out.len + 3;
    if options.crc32c {
        out.tlv(TYPE_CRC32C, &[0; 4]);
    }
    if let Some(authority) = authority.filter(|_| options.authority) {
        out.tlv(
            TYPE_AUTHORITY,
            &authority[..authority.len().min(AUTHORITY_MAX)],
        );
    }
    if options.unique_id && addrs.is_some() {
        out.tlv(TYPE_UNIQUE_ID, &[]);
    }
    if options.ssl {
        // The client did not use TLS to weir: weir passes TLS through
        // and never terminates a client's, so `client` and `verify` are 0.
        out.tlv(TYPE_SSL, &[0; 5]);
    }
    let len = (out.len - V2_HEADER_LEN) as u16;
    out.bytes[14..16].copy_from_slice(&len.to_be_bytes());
    if options.crc32c {
        let crc = crc32c(out.as_bytes());
        out.bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    }
}
