//! The DNS messages the played name server reads and writes: a query with
//! one question (and at most an EDNS0 OPT record), and a response with the
//! question echoed, CNAME then A or AAAA answers and an OPT record when the
//! query had one (RFC 1035, RFC 6891).
//!
//! Strict and bounded: every read is checked against the datagram, a
//! question name may not be compressed (nothing precedes it to point to),
//! labels are at most 63 bytes and names 255, no byte may follow the last
//! record, and an answer never grows past the size the query allows.

use std::net::IpAddr;

/// Size of a DNS header.
const HEADER: usize = 12;
/// Longest name, in wire bytes with the root label (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;
/// Longest OPT record data the tool accepts (options are skipped).
const MAX_OPT_DATA: usize = 512;
/// The payload size the responder announces in its own OPT record.
const OWN_PAYLOAD: u16 = 1232;
/// A response's size limit without EDNS (RFC 1035 4.2.1).
const PLAIN_LIMIT: usize = 512;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const FLAG_QR: u16 = 0x8000;
const OPCODE_MASK: u16 = 0x7800;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;

/// A response code the responder sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR: the answers given (none: the name has no record of the type).
    NoError = 0,
    /// NXDOMAIN: no such name.
    NxDomain = 3,
}

/// A query that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The id to echo.
    pub id: u16,
    /// Recursion desired.
    pub rd: bool,
    /// The question's name in wire form (labels as sent, root label last).
    pub wire_name: Vec<u8>,
    /// The question's name, dotted, lower case.
    pub name: String,
    /// The question's type.
    pub qtype: u16,
    /// The question's class.
    pub qclass: u16,
    /// The payload size an OPT record announced, if there was one.
    pub edns: Option<u16>,
}

impl Query {
    /// One line for the comparison: `gw.test AAAA rd edns=512` (the id is
    /// random, left out).
    pub fn describe(&self) -> String {
        let mut out = format!("{} {}", self.name, type_name(self.qtype));
        if self.qclass != CLASS_IN {
            out.push_str(&format!(" class={}", self.qclass));
        }
        if self.rd {
            out.push_str(" rd");
        }
        if let Some(size) = self.edns {
            out.push_str(&format!(" edns={size}"));
        }
        out
    }

    /// Whether the question asks for the family of `addr` in class IN.
    pub fn wants(&self, addr: &IpAddr) -> bool {
        self.qclass == CLASS_IN
            && match addr {
                IpAddr::V4(_) => self.qtype == TYPE_A,
                IpAddr::V6(_) => self.qtype == TYPE_AAAA,
            }
    }
}

fn type_name(qtype: u16) -> String {
    match qtype {
        TYPE_A => "A".into(),
        TYPE_AAAA => "AAAA".into(),
        TYPE_CNAME => "CNAME".into(),
        33 => "SRV".into(),
        other => format!("TYPE{other}"),
    }
}

/// Bounds-checked cursor over a datagram.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let bytes = self
            .data
            .get(self.at..end)
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        self.at = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// An uncompressed name: its wire bytes (root label included) and its
    /// dotted lower-case text.
    fn name(&mut self) -> Result<(Vec<u8>, String), String> {
        let start = self.at;
        let mut text = String::new();
        loop {
            let len = self.u8()?;
            // The two top bits clear: a label of at most 63 bytes.
            if len & 0xc0 != 0 {
                return Err("compressed or extended label in a query".into());
            }
            if len == 0 {
                break;
            }
            let label = self.take(usize::from(len))?;
            if self.at - start > MAX_NAME {
                return Err("name longer than 255 bytes".into());
            }
            if !text.is_empty() {
                text.push('.');
            }
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    text.push(char::from(b.to_ascii_lowercase()));
                } else {
                    text.push_str(&format!("\\{b:03}"));
                }
            }
        }
        if self.at - start > MAX_NAME {
            return Err("name longer than 255 bytes".into());
        }
        Ok((self.data[start..self.at].to_vec(), text))
    }
}

/// Reads a query: QR clear, opcode QUERY, exactly one question, no answer
/// or authority record, at most one additional record which must be an OPT
/// record of the root name, and nothing after it.
pub fn parse_query(data: &[u8]) -> Result<Query, String> {
    let mut r = Reader { data, at: 0 };
    if data.len() < HEADER {
        return Err(format!("{} bytes: shorter than a header", data.len()));
    }
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & FLAG_QR != 0 {
        return Err("QR set: a response, not a query".into());
    }
    if flags & OPCODE_MASK != 0 {
        return Err(format!("opcode {}", (flags & OPCODE_MASK) >> 11));
    }
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    if counts[..3] != [1, 0, 0] || counts[3] > 1 {
        return Err(format!(
            "counts qd={} an={} ns={} ar={}: expected 1 question, at most one OPT",
            counts[0], counts[1], counts[2], counts[3]
        ));
    }
    let (wire_name, name) = r.name()?;
    let qtype = r.u16()?;
    let qclass = r.u16()?;
    let mut edns = None;
    if counts[3] == 1 {
        if r.u8()? != 0 {
            return Err("additional record: not the root name of an OPT".into());
        }
        if r.u16()? != TYPE_OPT {
            return Err("additional record: not OPT".into());
        }
        let size = r.u16()?;
        let _ttl = r.take(4)?;
        let len = usize::from(r.u16()?);
        if len > MAX_OPT_DATA {
            return Err("OPT data longer than 512 bytes".into());
        }
        r.take(len)?;
        edns = Some(size);
    }
    if r.at != data.len() {
        return Err(format!("{} bytes after the last record", data.len() - r.at));
    }
    Ok(Query {
        id,
        rd: flags & FLAG_RD != 0,
        wire_name,
        name,
        qtype,
        qclass,
        edns,
    })
}

/// The response to `query`: authoritative, recursion available, the
/// question echoed, then a CNAME record per name of `aliases` (the chain
/// from the question's name, each owner compressed to the previous name),
/// then one record per address of the asked family (owner: the last name),
/// all with `ttl`, and an OPT record when the query had one. Records that
/// do not fit the query's payload size (512 without EDNS) are left out and
/// TC is set. `aliases` are valid host names (labels of 1 to 63 bytes).
pub fn build_response(
    query: &Query,
    rcode: Rcode,
    aliases: &[String],
    addrs: &[IpAddr],
    ttl: u32,
) -> Vec<u8> {
    let limit = query
        .edns
        .map_or(PLAIN_LIMIT, |s| usize::from(s).max(PLAIN_LIMIT));
    let opt_len = if query.edns.is_some() { 11 } else { 0 };
    let room = limit - opt_len;
    let mut out = vec![0u8; HEADER];
    out.extend_from_slice(&query.wire_name);
    out.extend_from_slice(&query.qtype.to_be_bytes());
    out.extend_from_slice(&query.qclass.to_be_bytes());
    let mut owner = HEADER;
    let mut count: u16 = 0;
    let mut truncated = false;
    for target in aliases {
        // The target's name starts after owner (2), type, class, TTL and
        // length (10); a pointer reaches 14 bits.
        let at = out.len() + 12;
        if at > 0x3fff || !push_record(&mut out, owner, TYPE_CNAME, ttl, &wire(target), room) {
            truncated = true;
            break;
        }
        owner = at;
        count += 1;
    }
    for addr in addrs.iter().filter(|a| query.wants(a)) {
        if truncated {
            break;
        }
        let (rtype, rdata) = match addr {
            IpAddr::V4(a) => (TYPE_A, a.octets().to_vec()),
            IpAddr::V6(a) => (TYPE_AAAA, a.octets().to_vec()),
        };
        if !push_record(&mut out, owner, rtype, ttl, &rdata, room) {
            truncated = true;
            break;
        }
        count += 1;
    }
    let mut flags = FLAG_QR | FLAG_AA | FLAG_RA | rcode as u16;
    if query.rd {
        flags |= FLAG_RD;
    }
    if truncated {
        flags |= FLAG_TC;
    }
    let arcount = u16::from(query.edns.is_some());
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(&query.id.to_be_bytes());
    header.extend_from_slice(&flags.to_be_bytes());
    for n in [1, count, 0, arcount] {
        header.extend_from_slice(&n.to_be_bytes());
    }
    out[..HEADER].copy_from_slice(&header);
    if query.edns.is_some() {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&OWN_PAYLOAD.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    out
}

/// Appends a record whose owner is a pointer to `owner` if the message
/// stays within `room` bytes; whether it did. Every record here is
/// smaller than 300 bytes: the count of records and offsets stay far below
/// 16 bits within a UDP payload.
fn push_record(
    out: &mut Vec<u8>,
    owner: usize,
    rtype: u16,
    ttl: u32,
    rdata: &[u8],
    room: usize,
) -> bool {
    if out.len() + 12 + rdata.len() > room {
        return false;
    }
    out.extend_from_slice(&(0xc000 | owner as u16).to_be_bytes());
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    true
}

/// A dotted host name in wire form with its root label (labels of more
/// than 63 bytes, which a validated name has not, are cut).
fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
