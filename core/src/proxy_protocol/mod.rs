//! The PROXY protocol (versions 1 and 2, HAProxy's `doc/proxy-protocol.txt`):
//! the header a proxy puts before a connection's bytes to pass on the
//! client's address. Pure functions: [`encode`] writes a header into a
//! fixed array (no allocation), [`decode`] reads one, strictly and within
//! bounds, from the first bytes of a connection.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::{DecodeError, Decoded, MAX_V1_LEN, MAX_V2_LEN, decode};
pub use encode::{Encoded, MAX_ENCODED_LEN, encode};

/// The 12 bytes a version 2 header starts with.
pub(crate) const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version and command, family, length.
pub(crate) const V2_HEADER_LEN: usize = 16;
/// The longest `PP2_TYPE_AUTHORITY` value (HAProxy's `PP2_AUTHORITY_MAX`).
pub const AUTHORITY_MAX: usize = 255;
/// The longest `PP2_TYPE_UNIQUE_ID` value (HAProxy's `UNIQUEID_LEN`).
pub(crate) const UNIQUE_ID_MAX: usize = 128;

/// `PP2_TYPE_AUTHORITY`: the host name the client asked for.
pub(crate) const TYPE_AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_CRC32C`: a checksum of the whole header.
pub(crate) const TYPE_CRC32C: u8 = 0x03;
/// `PP2_TYPE_UNIQUE_ID`: the session's unique id.
pub(crate) const TYPE_UNIQUE_ID: u8 = 0x05;
/// `PP2_TYPE_SSL`: how the client connection used TLS.
pub(crate) const TYPE_SSL: u8 = 0x20;

/// Which header a server gets (`send-proxy`, `send-proxy-v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text header (`send-proxy`).
    V1,
    /// The binary header (`send-proxy-v2`), with its TLVs.
    V2(V2Options),
}

/// The TLVs a version 2 header carries (`proxy-v2-options`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V2Options {
    /// `ssl`: `PP2_TYPE_SSL`, saying whether the client used TLS to weir.
    pub ssl: bool,
    /// `unique-id`: `PP2_TYPE_UNIQUE_ID`.
    pub unique_id: bool,
    /// `authority`: `PP2_TYPE_AUTHORITY`, when one is known.
    pub authority: bool,
    /// `crc32c`: `PP2_TYPE_CRC32C`.
    pub crc32c: bool,
}

/// CRC-32C (Castagnoli), as the `PP2_TYPE_CRC32C` TLV carries it.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    crc32c_parts(&[bytes])
}

/// CRC-32C of `parts` one after the other.
pub(crate) fn crc32c_parts(parts: &[&[u8]]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !parts.iter().flat_map(|p| p.iter()).fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}
