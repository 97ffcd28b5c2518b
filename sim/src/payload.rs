//! The byte streams clients and servers exchange, built so that the
//! receiving side can check every byte.
//!
//! A client sends a 12-byte request header (`WS`, its mode, its id, the
//! body length) and then a body whose `k`-th byte is a pseudo-random
//! function of the run seed, the client id and `k`. A server answers with a
//! 16-byte reply header (`WR`, the id of its own connection, the reply
//! length) and then either the client's body again (echo) or a body keyed
//! by its connection id (gateway). Who sent what is therefore readable from
//! the bytes alone, as a real splice must keep it.

use crate::rng::mix;

/// Length of a client's request header.
pub const REQUEST_HEADER: usize = 12;
/// Length of a server's reply header.
pub const REPLY_HEADER: usize = 16;

/// How a server answers a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sends the body back as it arrives.
    Echo,
    /// Reads the whole body, then answers with a reply of its own.
    Gateway,
}

/// What a request header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// How the server must answer.
    pub mode: Mode,
    /// The client's id.
    pub client: u32,
    /// Body length.
    pub len: u32,
}

/// What a reply header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The id of the server connection that answered.
    pub uid: u64,
    /// Body length.
    pub len: u32,
}

impl Request {
    /// The header bytes.
    pub fn header(&self) -> [u8; REQUEST_HEADER] {
        let mut h = [0; REQUEST_HEADER];
        h[..2].copy_from_slice(b"WS");
        h[2] = match self.mode {
            Mode::Echo => b'E',
            Mode::Gateway => b'G',
        };
        h[4..8].copy_from_slice(&self.client.to_le_bytes());
        h[8..12].copy_from_slice(&self.len.to_le_bytes());
        h
    }

    /// Reads a header, or says why it is not one.
    pub fn parse(h: &[u8]) -> Result<Request, String> {
        let mode = match (h.get(..2), h.get(2)) {
            (Some(b"WS"), Some(b'E')) => Mode::Echo,
            (Some(b"WS"), Some(b'G')) => Mode::Gateway,
            _ => {
                return Err(format!(
                    "not a request header: {:02x?}",
                    &h[..h.len().min(12)]
                ));
            }
        };
        let client = u32::from_le_bytes(h[4..8].try_into().map_err(|_| "short header")?);
        let len = u32::from_le_bytes(h[8..12].try_into().map_err(|_| "short header")?);
        Ok(Request { mode, client, len })
    }
}

impl Reply {
    /// The header bytes.
    pub fn header(&self) -> [u8; REPLY_HEADER] {
        let mut h = [0; REPLY_HEADER];
        h[..2].copy_from_slice(b"WR");
        h[4..12].copy_from_slice(&self.uid.to_le_bytes());
        h[12..16].copy_from_slice(&self.len.to_le_bytes());
        h
    }

    /// Reads a header, or says why it is not one.
    pub fn parse(h: &[u8]) -> Result<Reply, String> {
        if h.get(..2) != Some(b"WR") || h.len() < REPLY_HEADER {
            return Err(format!(
                "not a reply header: {:02x?}",
                &h[..h.len().min(16)]
            ));
        }
        let uid = u64::from_le_bytes(h[4..12].try_into().map_err(|_| "short header")?);
        let len = u32::from_le_bytes(h[12..16].try_into().map_err(|_| "short header")?);
        Ok(Reply { uid, len })
    }
}

/// The key of client `client`'s request body in run `run`.
pub fn request_key(run: u64, client: u32) -> u64 {
    mix(run ^ 0x5eed_0000_0000_0000 ^ u64::from(client))
}

/// The key of the gateway reply of server connection `uid` in run `run`.
pub fn reply_key(run: u64, uid: u64) -> u64 {
    mix(run ^ 0x7e91_0000_0000_0000 ^ uid.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The `k`-th byte of the body keyed `key`.
pub fn byte(key: u64, k: u64) -> u8 {
    (mix(key ^ (k / 8).wrapping_mul(0xd6e8_feb8_6659_fd93)) >> ((k % 8) * 8)) as u8
}

/// Appends `n` bytes of the body keyed `key`, from offset `from`.
pub fn fill(key: u64, from: u64, n: usize, out: &mut Vec<u8>) {
    out.extend((from..from + n as u64).map(|k| byte(key, k)));
}

/// Checks that `data` is the body keyed `key` from offset `from`; on a
/// mismatch, returns the offset of the first wrong byte.
pub fn verify(key: u64, from: u64, data: &[u8]) -> Result<(), u64> {
    match data.iter().zip(from..).find(|&(&b, k)| b != byte(key, k)) {
        Some((_, k)) => Err(k),
        None => Ok(()),
    }
}

/// Adds the start of `data` to `header` until it holds `len` bytes;
/// returns the bytes after the header, or `None` while it is incomplete.
pub fn take_header<'a>(header: &mut Vec<u8>, len: usize, data: &'a [u8]) -> Option<&'a [u8]> {
    let take = len.saturating_sub(header.len()).min(data.len());
    header.extend_from_slice(&data[..take]);
    (header.len() >= len).then(|| &data[take..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back() {
        let r = Request {
            mode: Mode::Gateway,
            client: 7,
            len: 123_456,
        };
        assert_eq!(Request::parse(&r.header()), Ok(r));
        let p = Reply { uid: 99, len: 5 };
        assert_eq!(Reply::parse(&p.header()), Ok(p));
        assert!(Request::parse(b"GET /healthch").is_err());
        assert!(Reply::parse(&r.header()).is_err());
    }

    #[test]
    fn verify_finds_the_first_wrong_byte() {
        let mut body = Vec::new();
        fill(42, 10, 100, &mut body);
        assert_eq!(verify(42, 10, &body), Ok(()));
        assert_eq!(verify(42, 11, &body[1..]), Ok(()));
        body[37] ^= 1;
        assert_eq!(verify(42, 10, &body), Err(47));
        assert!(verify(43, 10, &body[..8]).is_err());
    }
}
