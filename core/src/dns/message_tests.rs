//! The codec against responses a real DNS implementation wrote (the
//! `dns_message` fuzz corpus: dnspython, and this machine's resolver for
//! `nxdomain-resolver`).

use super::*;

macro_rules! corpus {
    ($file:literal) => {
        include_bytes!(concat!("../../../fuzz/corpus/dns_message/", $file)).as_slice()
    };
}

fn name(host: &str) -> Name {
    Name::parse(host).expect("valid name")
}

fn addrs(data: &[u8], host: &str) -> Result<Vec<IpAddr>, ResponseError> {
    parse_response(data, &name(host), 1232).map(|r| r.addrs().collect())
}

#[test]
fn names_are_validated_and_lowered_like_haproxy() {
    assert_eq!(
        name("GW1.example.com.").wire(),
        b"\x03gw1\x07example\x03com"
    );
    assert_eq!(name("gw1.example.com").to_string(), "gw1.example.com");
    assert_eq!(Name::parse("a..b"), Err(NameError::InvalidCharacter));
    assert_eq!(Name::parse("a b"), Err(NameError::InvalidCharacter));
    assert_eq!(Name::parse(""), Err(NameError::InvalidCharacter));
    assert_eq!(Name::parse(&"a".repeat(64)), Err(NameError::LabelTooLong));
    assert_eq!(Name::parse(&"a.".repeat(128)), Err(NameError::TooLong));
    assert!(name("_http._tcp.example.com").is_srv());
    assert!(!name("gw1.example.com").is_srv());
}

#[test]
fn query_is_haproxys_with_edns() {
    let q = build_query(0x1234, QueryType::A, &name("gw1.example.com"), 1232);
    // dnspython's make_query(use_edns=0, payload=1232, id=0x1234), whose
    // flags are RD only, as HAProxy's.
    assert_eq!(q, corpus!("query-only"));
    let q6 = build_query(7, QueryType::Aaaa, &name("gw1.example.com"), 512);
    assert_eq!(&q6[q6.len() - 15..q6.len() - 11], &[0, 28, 0, 1]);
    assert_eq!(response_id(&q6), Some(7));
    assert_eq!(response_id(&q6[..11]), None);
}

#[test]
fn addresses_are_read_with_compression() {
    assert_eq!(
        addrs(corpus!("a-two"), "gw1.example.com"),
        Ok(vec![
            "127.0.0.2".parse().unwrap(),
            "127.0.0.3".parse().unwrap()
        ])
    );
    assert_eq!(
        addrs(corpus!("aaaa"), "gw1.example.com"),
        Ok(vec!["fd00::5".parse().unwrap(), "::1".parse().unwrap()])
    );
    let r = parse_response(corpus!("a-two"), &name("gw1.example.com"), 1232).unwrap();
    assert_eq!(r.id, 0x1234);
    assert!(matches!(r.records[0], Record::Addr { ttl: 300, .. }));
    // Names compare without case, as DNS names do.
    assert_eq!(
        addrs(corpus!("mixed-case"), "gw1.example.com"),
        Ok(vec!["10.0.0.1".parse().unwrap()])
    );
}

#[test]
fn cname_chains_are_followed_and_checked() {
    let r = parse_response(corpus!("cname-chain"), &name("www.example.com"), 1232).unwrap();
    assert_eq!(r.records[0], Record::Cname(name("edge.example.net")));
    assert_eq!(
        r.addrs().collect::<Vec<_>>(),
        ["192.0.2.7".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        addrs(corpus!("cname-dangling"), "www.example.com"),
        Err(ResponseError::CnameError)
    );
    assert_eq!(
        addrs(corpus!("cname-wrong-owner"), "www.example.com"),
        Err(ResponseError::CnameError)
    );
}

#[test]
fn errors_are_haproxys_causes() {
    let host = "gw1.example.com";
    assert_eq!(
        addrs(corpus!("nxdomain-resolver"), host),
        Err(ResponseError::NxDomain)
    );
    assert_eq!(
        addrs(corpus!("nxdomain-synth"), host),
        Err(ResponseError::NxDomain)
    );
    assert_eq!(addrs(corpus!("servfail"), host), Err(ResponseError::Error));
    assert_eq!(addrs(corpus!("refused"), host), Err(ResponseError::Refused));
    assert_eq!(
        addrs(corpus!("noerror-empty"), host),
        Err(ResponseError::AncountZero)
    );
    assert_eq!(
        addrs(corpus!("query-only"), host),
        Err(ResponseError::AncountZero)
    );
    assert_eq!(
        addrs(corpus!("truncated"), host),
        Err(ResponseError::Truncated)
    );
    assert_eq!(
        addrs(corpus!("wrong-name"), host),
        Err(ResponseError::WrongName)
    );
    assert_eq!(
        addrs(corpus!("pointer-loop"), host),
        Err(ResponseError::Invalid)
    );
    assert_eq!(
        addrs(corpus!("pointer-forward"), host),
        Err(ResponseError::Invalid)
    );
    // More answers than the announced payload size can hold.
    assert_eq!(
        parse_response(corpus!("a-two"), &name(host), 12 + 6),
        Err(ResponseError::Invalid)
    );
}

#[test]
fn every_truncation_of_a_response_is_refused_without_panic() {
    // The last 11 bytes are the OPT record, which is not read.
    let full = corpus!("cname-chain");
    for len in 0..full.len() - 11 {
        assert!(parse_response(&full[..len], &name("www.example.com"), 1232).is_err());
    }
}

#[test]
fn long_pointer_chains_end() {
    // A name made of 200 pointers each to the one before it, ending at a
    // label: reading terminates and keeps the bound on the name's length.
    let mut data = vec![1, b'a', 0];
    let mut prev = 0usize;
    for _ in 0..200 {
        let at = data.len();
        data.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
        prev = at;
    }
    let (n, next) = read_name(&data, prev).expect("chain resolves");
    assert_eq!(n.wire(), b"\x01a");
    assert_eq!(next, prev + 2);
}

#[test]
fn mutated_responses_never_panic() {
    let seeds = [
        corpus!("a-two"),
        corpus!("aaaa"),
        corpus!("cname-chain"),
        corpus!("pointer-loop"),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..5_000 {
        let mut data = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % data.len();
            data[at] = next() as u8;
        }
        crate::fuzzing::dns_message(&data);
    }
}
