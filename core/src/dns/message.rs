//! DNS messages as HAProxy 2.6's resolvers speak them (`src/resolvers.c`):
//! one A or AAAA question with an EDNS0 OPT record announcing the accepted
//! payload size, and responses read with the same checks as
//! `resolv_validate_dns_response` (one question echoing ours, answers whose
//! names follow the CNAME chain, rcodes, truncation).
//!
//! Pure and bounded: every read is checked against the datagram, a
//! compression pointer must point before itself (so following pointers
//! always ends), names are at most 255 bytes, and nothing here panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest name, in wire bytes without the root label (`DNS_MAX_NAME_SIZE`).
pub const MAX_NAME: usize = 255;
/// Longest label (`DNS_MAX_LABEL_SIZE`).
pub const MAX_LABEL: usize = 63;
/// Size of a DNS header.
pub const HEADER: usize = 12;
/// Smallest possible resource record (`DNS_MIN_RECORD_SIZE`).
const MIN_RECORD: usize = 1 + 1 + 2 + 2;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const FLAG_TRUNCATED: u16 = 0x0200;
const RCODE_MASK: u16 = 0x000f;
const RCODE_NX_DOMAIN: u16 = 3;
const RCODE_REFUSED: u16 = 5;

/// A host name in wire form (length-prefixed labels, lower case, without
/// the final root label), as `resolv_str_to_dn_label` builds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(Vec<u8>);

/// Why a host name cannot be resolved; the texts are HAProxy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than 255 characters.
    #[error("hostname too long")]
    TooLong,
    /// A label longer than 63 characters.
    #[error("one label too long")]
    LabelTooLong,
    /// Not a letter, digit, `-` or `_`; or an empty label.
    #[error("found an invalid character")]
    InvalidCharacter,
}

impl Name {
    /// Validates `host` as `resolv_hostname_validation` does and encodes it
    /// (a trailing dot is ignored).
    pub fn parse(host: &str) -> Result<Name, NameError> {
        if host.len() > MAX_NAME {
            return Err(NameError::TooLong);
        }
        let trimmed = host.strip_suffix('.').unwrap_or(host);
        if trimmed.is_empty() {
            return Err(NameError::InvalidCharacter);
        }
        let mut wire = Vec::with_capacity(trimmed.len() + 1);
        for label in trimmed.split('.') {
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
            let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            if label.is_empty() || !label.bytes().all(valid) {
                return Err(NameError::InvalidCharacter);
            }
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        Ok(Name(wire))
    }

    /// The wire bytes, without the root label.
    pub fn wire(&self) -> &[u8] {
        &self.0
    }

    /// Whether two names are the same, ignoring ASCII case.
    fn same(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// Whether the first label starts with `_` (an SRV name such as
    /// `_http._tcp.example.com`, which HAProxy queries for SRV records).
    pub fn is_srv(&self) -> bool {
        self.0.get(1) == Some(&b'_')
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0.as_slice();
        let mut first = true;
        while let Some((&len, tail)) = rest.split_first() {
            let (label, after) = tail.split_at(usize::from(len).min(tail.len()));
            if !first {
                f.write_str(".")?;
            }
            first = false;
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
            rest = after;
        }
        Ok(())
    }
}

/// The record type a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl QueryType {
    fn code(self) -> u16 {
        match self {
            QueryType::A => TYPE_A,
            QueryType::Aaaa => TYPE_AAAA,
        }
    }
}

/// A query as `resolv_build_query` forges it: recursion desired, one
/// question of class IN, and an OPT record announcing `payload_size`.
pub fn build_query(id: u16, qtype: QueryType, name: &Name, payload_size: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + name.0.len() + 1 + 4 + 11);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    for count in [1u16, 0, 0, 1] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(&name.0);
    out.push(0);
    out.extend_from_slice(&qtype.code().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type, payload size, extended rcode+flags, no data.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload_size.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out
}

/// The id of a datagram that is long enough to hold a DNS header.
pub fn response_id(data: &[u8]) -> Option<u16> {
    if data.len() < HEADER {
        return None;
    }
    Some(u16::from_be_bytes([data[0], data[1]]))
}

/// One answer record kept from a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An address (A or AAAA) with its TTL in seconds.
    Addr {
        /// The address.
        addr: IpAddr,
        /// Time to live, seconds.
        ttl: u32,
    },
    /// An alias the following records belong to.
    Cname(Name),
}

/// A response that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The query id it answers.
    pub id: u16,
    /// Answer records in order, without duplicates.
    pub records: Vec<Record>,
}

impl Response {
    /// The addresses of the answer, in order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.records.iter().filter_map(|r| match r {
            Record::Addr { addr, .. } => Some(*addr),
            Record::Cname(_) => None,
        })
    }
}

/// Why a response gives no address: HAProxy's `RSLV_RESP_*` causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ResponseError {
    /// Malformed (`RSLV_RESP_INVALID`).
    #[error("invalid response")]
    Invalid,
    /// An rcode other than NXDOMAIN or REFUSED, e.g. SERVFAIL.
    #[error("DNS error")]
    Error,
    /// NXDOMAIN.
    #[error("NX domain")]
    NxDomain,
    /// REFUSED.
    #[error("query refused")]
    Refused,
    /// No answer record.
    #[error("no answer")]
    AncountZero,
    /// The question is not the one asked.
    #[error("wrong name")]
    WrongName,
    /// A CNAME chain that does not end in an address.
    #[error("CNAME error")]
    CnameError,
    /// The TC flag: the answer did not fit.
    #[error("truncated response")]
    Truncated,
    /// Not exactly one question.
    #[error("query count error")]
    QueryCountError,
}

/// Cursor over a datagram; every read is bounds-checked.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, ResponseError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, ResponseError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], ResponseError> {
        let end = self.at.checked_add(n).ok_or(ResponseError::Invalid)?;
        let bytes = self.data.get(self.at..end).ok_or(ResponseError::Invalid)?;
        self.at = end;
        Ok(bytes)
    }

    fn name(&mut self) -> Result<Name, ResponseError> {
        let (name, next) = read_name(self.data, self.at)?;
        self.at = next;
        Ok(name)
    }
}

/// Reads a possibly compressed name at `at`; returns it and the offset
/// just after it in place. A pointer must point strictly before itself,
/// so following pointers always ends.
pub fn read_name(data: &[u8], at: usize) -> Result<(Name, usize), ResponseError> {
    let mut wire = Vec::new();
    let mut pos = at;
    let mut after = None;
    loop {
        let len = *data.get(pos).ok_or(ResponseError::Invalid)?;
        match len & 0xc0 {
            0xc0 => {
                let low = *data.get(pos + 1).ok_or(ResponseError::Invalid)?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                if target >= pos {
                    return Err(ResponseError::Invalid);
                }
                after.get_or_insert(pos + 2);
                pos = target;
            }
            0x00 if len == 0 => break,
            0x00 => {
                let len = usize::from(len);
                let label = data
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(ResponseError::Invalid)?;
                if wire.len() + 1 + len > MAX_NAME {
                    return Err(ResponseError::Invalid);
                }
                wire.push(len as u8);
                wire.extend_from_slice(label);
                pos += 1 + len;
            }
            _ => return Err(ResponseError::Invalid),
        }
    }
    Ok((Name(wire), after.unwrap_or(pos + 1)))
}

/// Validates a response to the question (`name`, `qtype`) as
/// `resolv_validate_dns_response` does. `payload_size` is the size the
/// query announced: more answers than it can hold are refused.
pub fn parse_response(
    data: &[u8],
    name: &Name,
    payload_size: u16,
) -> Result<Response, ResponseError> {
    let mut r = Reader { data, at: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    match flags & RCODE_MASK {
        0 => {}
        RCODE_NX_DOMAIN => return Err(ResponseError::NxDomain),
        RCODE_REFUSED => return Err(ResponseError::Refused),
        _ => return Err(ResponseError::Error),
    }
    if r.u16()? != 1 {
        return Err(ResponseError::QueryCountError);
    }
    let ancount = r.u16()?;
    if ancount == 0 {
        return Err(ResponseError::AncountZero);
    }
    let max_answers = usize::from(payload_size).saturating_sub(HEADER) / MIN_RECORD;
    if usize::from(ancount) > max_answers {
        return Err(ResponseError::Invalid);
    }
    let _nscount = r.u16()?;
    let _arcount = r.u16()?;
    let question = r.name()?;
    if !question.same(name) {
        return Err(ResponseError::WrongName);
    }
    let qtype = r.u16()?;
    let _qclass = r.u16()?;
    if qtype == TYPE_SRV {
        return Err(ResponseError::Invalid);
    }
    if flags & FLAG_TRUNCATED != 0 {
        return Err(ResponseError::Truncated);
    }
    let mut records: Vec<Record> = Vec::new();
    let mut expected = question;
    for i in 0..ancount {
        let owner = r.name()?;
        if !owner.same(&expected) {
            return Err(if i == 0 {
                ResponseError::Invalid
            } else {
                ResponseError::CnameError
            });
        }
        let rtype = r.u16()?;
        let _class = r.u16()?;
        let ttl = r.u32()?;
        let len = usize::from(r.u16()?);
        let start = r.at;
        let rdata = r.take(len)?;
        let record = match rtype {
            TYPE_A => {
                let octets: [u8; 4] = rdata.try_into().map_err(|_| ResponseError::Invalid)?;
                Record::Addr {
                    addr: IpAddr::V4(Ipv4Addr::from(octets)),
                    ttl,
                }
            }
            TYPE_AAAA => {
                let octets: [u8; 16] = rdata.try_into().map_err(|_| ResponseError::Invalid)?;
                Record::Addr {
                    addr: IpAddr::V6(Ipv6Addr::from(octets)),
                    ttl,
                }
            }
            TYPE_CNAME => {
                if i + 1 == ancount {
                    return Err(ResponseError::CnameError);
                }
                let (target, _) = read_name(data, start)?;
                expected = target.clone();
                Record::Cname(target)
            }
            _ => continue,
        };
        let duplicate = records.iter().any(|seen| match (seen, &record) {
            (Record::Addr { addr: a, .. }, Record::Addr { addr: b, .. }) => a == b,
            (Record::Cname(a), Record::Cname(b)) => a.same(b),
            _ => false,
        });
        if !duplicate {
            records.push(record);
        }
    }
    Ok(Response { id, records })
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
