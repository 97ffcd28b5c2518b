use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use weir_core::dns::message::{
    Name, QueryType, ResponseError, build_query, parse_response, read_name,
};

use super::*;

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A query for `gw.test` A written by hand: id 0x1234, RD, no OPT.
const PLAIN_A: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
                         \x02gw\x04test\x00\x00\x01\x00\x01";

#[test]
fn a_hand_written_query_is_read() {
    let q = parse_query(PLAIN_A).unwrap();
    assert_eq!(
        (q.id, q.rd, q.qtype, q.qclass, q.edns),
        (0x1234, true, 1, 1, None)
    );
    assert_eq!(q.name, "gw.test");
    assert_eq!(q.describe(), "gw.test A rd");
}

#[test]
fn weirs_queries_are_read_with_their_opt_record() {
    let name = Name::parse("GW.Test").unwrap();
    let q = parse_query(&build_query(7, QueryType::Aaaa, &name, 512)).unwrap();
    assert_eq!(q.describe(), "gw.test AAAA rd edns=512");
    assert_eq!(q.id, 7);
}

#[test]
fn a_name_keeps_its_case_on_the_wire_and_reads_lower_case() {
    let mut bytes = PLAIN_A.to_vec();
    bytes[13] = b'G';
    let q = parse_query(&bytes).unwrap();
    assert_eq!(q.name, "gw.test");
    assert_eq!(&q.wire_name[..3], b"\x02Gw");
    let response = build_response(&q, Rcode::NoError, &[], &[v4(11)], 1);
    assert_eq!(
        &response[12..15],
        b"\x02Gw",
        "the question is echoed as sent"
    );
}

#[test]
fn the_response_bytes_are_exact() {
    let q = parse_query(PLAIN_A).unwrap();
    let got = build_response(
        &q,
        Rcode::NoError,
        &[],
        &[v4(11), "::1".parse().unwrap()],
        300,
    );
    let want: &[u8] = b"\x12\x34\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00\
                        \x02gw\x04test\x00\x00\x01\x00\x01\
                        \xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x7f\x00\x00\x0b";
    assert_eq!(got, want);
}

#[test]
fn weir_reads_the_answers_in_order_with_their_ttl() {
    let name = Name::parse("gw.test").unwrap();
    let q = parse_query(&build_query(9, QueryType::A, &name, 512)).unwrap();
    let addrs = [v4(12), v4(11), "::2".parse().unwrap()];
    let bytes = build_response(&q, Rcode::NoError, &[], &addrs, 42);
    let r = parse_response(&bytes, &name, 512).unwrap();
    assert_eq!(r.id, 9);
    assert_eq!(r.addrs().collect::<Vec<_>>(), vec![v4(12), v4(11)]);
    assert!(matches!(
        r.records[0],
        weir_core::dns::message::Record::Addr { ttl: 42, .. }
    ));
    // The OPT record closes the message: root name, type 41, own size.
    assert_eq!(
        &bytes[bytes.len() - 11..bytes.len() - 6],
        b"\x00\x00\x29\x04\xd0"
    );
}

#[test]
fn an_aaaa_question_gets_only_the_v6_addresses() {
    let name = Name::parse("gw.test").unwrap();
    let q = parse_query(&build_query(1, QueryType::Aaaa, &name, 512)).unwrap();
    let v6: IpAddr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5).into();
    let bytes = build_response(&q, Rcode::NoError, &[], &[v4(11), v6], 5);
    let r = parse_response(&bytes, &name, 512).unwrap();
    assert_eq!(r.addrs().collect::<Vec<_>>(), vec![v6]);
}

#[test]
fn no_address_of_the_family_is_an_empty_answer_and_nxdomain_an_rcode() {
    let name = Name::parse("gw.test").unwrap();
    let q = parse_query(&build_query(1, QueryType::Aaaa, &name, 512)).unwrap();
    let empty = build_response(&q, Rcode::NoError, &[], &[v4(11)], 5);
    assert_eq!(
        parse_response(&empty, &name, 512),
        Err(ResponseError::AncountZero)
    );
    let nx = build_response(&q, Rcode::NxDomain, &[], &[], 5);
    assert_eq!(nx[3] & 0x0f, 3);
    assert_eq!(
        parse_response(&nx, &name, 512),
        Err(ResponseError::NxDomain)
    );
}

#[test]
fn answers_past_the_payload_size_are_cut_and_tc_set() {
    let name = Name::parse("gw.test").unwrap();
    let q = parse_query(&build_query(1, QueryType::A, &name, 512)).unwrap();
    let many: Vec<IpAddr> = (0..=255)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
        .collect();
    let bytes = build_response(&q, Rcode::NoError, &[], &many, 5);
    assert!(bytes.len() <= 512, "{}", bytes.len());
    assert_ne!(bytes[2] & 0x02, 0, "TC");
    let count = u16::from_be_bytes([bytes[6], bytes[7]]);
    // 12 + 13 (question) + 16 per answer + 11 (OPT) <= 512.
    assert_eq!(count, (512 - 12 - 13 - 11) / 16);
    assert_eq!(
        parse_response(&bytes, &name, 512),
        Err(ResponseError::Truncated)
    );
    // A larger announced size holds them all.
    let q = parse_query(&build_query(1, QueryType::A, &name, 8192)).unwrap();
    let bytes = build_response(&q, Rcode::NoError, &[], &many, 5);
    assert_eq!(bytes[2] & 0x02, 0);
    assert_eq!(
        parse_response(&bytes, &name, 8192).unwrap().addrs().count(),
        256
    );
}

#[test]
fn the_answer_owner_points_at_the_question() {
    let q = parse_query(PLAIN_A).unwrap();
    let bytes = build_response(&q, Rcode::NoError, &[], &[v4(11)], 1);
    let (owner, _) = read_name(&bytes, 12 + q.wire_name.len() + 4).unwrap();
    assert_eq!(owner.to_string(), "gw.test");
}

#[test]
fn malformed_queries_are_refused_with_the_reason() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (PLAIN_A[..11].to_vec(), "shorter than a header"),
        (PLAIN_A[..20].to_vec(), "truncated"),
        ([PLAIN_A, b"\x00"].concat(), "after the last record"),
        (
            {
                let mut b = PLAIN_A.to_vec();
                b[2] |= 0x80;
                b
            },
            "QR set",
        ),
        (
            {
                let mut b = PLAIN_A.to_vec();
                b[5] = 2;
                b
            },
            "counts qd=2",
        ),
        (
            {
                let mut b = PLAIN_A.to_vec();
                b[12] = 0xc0;
                b
            },
            "compressed",
        ),
        (
            {
                // An additional record that is not OPT.
                let mut b = PLAIN_A.to_vec();
                b[11] = 1;
                b.extend_from_slice(b"\x00\x00\x01\x02\x00\x00\x00\x00\x00\x00\x00");
                b
            },
            "not OPT",
        ),
    ];
    for (bytes, reason) in cases {
        let err = parse_query(&bytes).unwrap_err();
        assert!(err.contains(reason), "{err} (wanted {reason})");
    }
}

#[test]
fn a_name_over_255_bytes_is_refused() {
    let mut b = PLAIN_A[..12].to_vec();
    for _ in 0..5 {
        b.push(63);
        b.extend_from_slice(&[b'a'; 63]);
    }
    b.extend_from_slice(b"\x00\x00\x01\x00\x01");
    assert!(parse_query(&b).unwrap_err().contains("longer than 255"));
    // Three labels of 63 and one of 61 are 255 bytes with the root label.
    let mut b = PLAIN_A[..12].to_vec();
    for len in [63u8, 63, 63, 61] {
        b.push(len);
        b.extend(std::iter::repeat_n(b'a', usize::from(len)));
    }
    b.extend_from_slice(b"\x00\x00\x01\x00\x01");
    assert_eq!(parse_query(&b).unwrap().wire_name.len(), 255);
}

#[test]
fn an_alias_chain_comes_first_and_weir_follows_it() {
    let name = Name::parse("www.test").unwrap();
    let q = parse_query(&build_query(3, QueryType::A, &name, 512)).unwrap();
    let chain = ["lb.test".to_owned(), "gw.test".to_owned()];
    let bytes = build_response(&q, Rcode::NoError, &chain, &[v4(11), v4(12)], 30);
    assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), 4);
    let r = parse_response(&bytes, &name, 512).unwrap();
    assert_eq!(r.addrs().collect::<Vec<_>>(), vec![v4(11), v4(12)]);
    let cname = |n: &str| weir_core::dns::message::Record::Cname(Name::parse(n).unwrap());
    assert_eq!(r.records[..2], [cname("lb.test"), cname("gw.test")]);
    // An alias to a name without addresses of the family: CNAME last,
    // which HAProxy and weir take for an error.
    let bytes = build_response(&q, Rcode::NoError, &chain[..1], &[], 30);
    assert_eq!(
        parse_response(&bytes, &name, 512),
        Err(ResponseError::CnameError)
    );
}

/// A bounded mutation loop in place of a fuzz target (the tool is a binary,
/// not a library fuzz/ can link): truncated, flipped and extended queries
/// never panic the codec, and an accepted one gets a response within its
/// size that echoes its id and question.
#[test]
fn mutated_queries_never_panic_and_accepted_ones_get_sized_answers() {
    let seeds = [
        PLAIN_A.to_vec(),
        build_query(1, QueryType::Aaaa, &Name::parse("gw.test").unwrap(), 512),
        build_query(2, QueryType::A, &Name::parse("a.b.c.test").unwrap(), 1232),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let v6: IpAddr = "fd00::1".parse().unwrap();
    let mut accepted = 0;
    for i in 0..20_000 {
        let mut m = seeds[i % seeds.len()].clone();
        for _ in 0..=next() % 3 {
            let at = (next() as usize) % m.len().max(1);
            match next() % 4 {
                0 => m.truncate(at),
                1 if !m.is_empty() => m[at] = next() as u8,
                2 => m.extend((0..next() % 8).map(|_| next() as u8)),
                _ if !m.is_empty() => m[at] ^= 1 << (next() % 8),
                _ => {}
            }
        }
        let Ok(q) = parse_query(&m) else { continue };
        accepted += 1;
        let chain = ["x.test".to_owned()];
        let bytes = build_response(&q, Rcode::NoError, &chain, &[v4(1), v6], 7);
        let limit = q.edns.map_or(512, |s| usize::from(s).max(512));
        assert!(bytes.len() <= limit, "{} > {limit}", bytes.len());
        assert_eq!(bytes[..2], m[..2]);
        assert_eq!(bytes[12..12 + q.wire_name.len()], q.wire_name[..]);
    }
    // Flipped bits in the id, flags, class or type keep many valid.
    assert!(accepted > 1000, "{accepted}");
}
