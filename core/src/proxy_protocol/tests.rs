//! The codec against HAProxy 2.6.12's own headers (`testdata/`, captured
//! by `testdata/capture.sh`) and against malformed input.

use std::net::SocketAddr;

use super::*;

fn addrs(src: &str, dst: &str) -> Option<(SocketAddr, SocketAddr)> {
    Some((src.parse().unwrap(), dst.parse().unwrap()))
}

fn v2(options: V2Options) -> Version {
    Version::V2(options)
}

const SSL_CRC: V2Options = V2Options {
    ssl: true,
    unique_id: false,
    authority: false,
    crc32c: true,
};

#[test]
fn v1_matches_haproxy_ipv4_and_ipv6() {
    let ipv4 = encode(
        Version::V1,
        addrs("127.0.0.1:26101", "127.0.0.1:27101"),
        None,
    );
    assert_eq!(ipv4.as_bytes(), include_bytes!("testdata/v1_ipv4.bin"));
    let ipv6 = encode(Version::V1, addrs("[::1]:26102", "[::1]:27102"), None);
    assert_eq!(ipv6.as_bytes(), include_bytes!("testdata/v1_ipv6.bin"));
}

#[test]
fn v2_matches_haproxy_ipv4_and_ipv6() {
    let plain = v2(V2Options::default());
    let ipv4 = encode(plain, addrs("127.0.0.1:26103", "127.0.0.1:27103"), None);
    assert_eq!(ipv4.as_bytes(), include_bytes!("testdata/v2_ipv4.bin"));
    let ipv6 = encode(plain, addrs("[::1]:26104", "[::1]:27104"), None);
    assert_eq!(ipv6.as_bytes(), include_bytes!("testdata/v2_ipv6.bin"));
}

#[test]
fn v2_wins_over_v1_as_in_haproxy() {
    // `send-proxy send-proxy-v2` sends version 2; the parser keeps that.
    let both = encode(
        v2(V2Options::default()),
        addrs("127.0.0.1:26107", "127.0.0.1:27107"),
        None,
    );
    assert_eq!(both.as_bytes(), include_bytes!("testdata/v1_and_v2.bin"));
}

#[test]
fn v2_options_match_haproxy_for_a_client_without_tls() {
    // `ssl,unique-id,authority,crc32c`: no authority known, an empty
    // unique id (no `unique-id-format`), an SSL TLV saying "not TLS".
    let all = V2Options {
        ssl: true,
        unique_id: true,
        authority: true,
        crc32c: true,
    };
    let header = encode(v2(all), addrs("127.0.0.1:26105", "127.0.0.1:27105"), None);
    assert_eq!(header.as_bytes(), include_bytes!("testdata/v2_options.bin"));
    let header = encode(v2(SSL_CRC), addrs("[::1]:26106", "[::1]:27106"), None);
    assert_eq!(header.as_bytes(), include_bytes!("testdata/v2_ssl_crc.bin"));
}

#[test]
fn checks_send_local_in_v2_and_unknown_in_v1() {
    let crc = V2Options {
        crc32c: true,
        ..V2Options::default()
    };
    let local = encode(v2(crc), None, None);
    assert_eq!(local.as_bytes(), include_bytes!("testdata/check_v2.bin"));
    // HAProxy puts the check connection's own addresses in a TCP4 line;
    // weir does not know its source port and says UNKNOWN (see README).
    assert_eq!(
        encode(Version::V1, None, None).as_bytes(),
        b"PROXY UNKNOWN\r\n"
    );
    let haproxy = include_bytes!("testdata/check_v1.bin");
    let decoded = decode(haproxy, MAX_V2_LEN).unwrap().unwrap();
    assert_eq!(decoded.addrs.unwrap().1, "127.0.0.1:27208".parse().unwrap());
}

#[test]
fn mixed_families_become_tcp6_with_mapped_ipv4() {
    let header = encode(Version::V1, addrs("10.0.0.1:1", "[2001:db8::1]:2"), None);
    assert_eq!(
        header.as_bytes(),
        b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 1 2\r\n"
    );
    let header = encode(Version::V1, addrs("[::102:304]:1", "[::1]:2"), None);
    assert_eq!(header.as_bytes(), b"PROXY TCP6 ::1.2.3.4 ::1 1 2\r\n");
}

#[test]
fn authority_is_sent_when_known_and_read_back() {
    let options = V2Options {
        authority: true,
        crc32c: true,
        ..V2Options::default()
    };
    let header = encode(
        v2(options),
        addrs("192.0.2.1:5000", "192.0.2.2:443"),
        Some(b"gw.example"),
    );
    let decoded = decode(header.as_bytes(), MAX_V2_LEN).unwrap().unwrap();
    assert_eq!(decoded.authority, Some(&b"gw.example"[..]));
    assert_eq!(decoded.len, header.as_bytes().len());
}

#[test]
fn every_capture_decodes_to_its_addresses() {
    let cases: [(&[u8], &str, &str); 7] = [
        (
            include_bytes!("testdata/v1_ipv4.bin"),
            "127.0.0.1:26101",
            "127.0.0.1:27101",
        ),
        (
            include_bytes!("testdata/v1_ipv6.bin"),
            "[::1]:26102",
            "[::1]:27102",
        ),
        (
            include_bytes!("testdata/v2_ipv4.bin"),
            "127.0.0.1:26103",
            "127.0.0.1:27103",
        ),
        (
            include_bytes!("testdata/v2_ipv6.bin"),
            "[::1]:26104",
            "[::1]:27104",
        ),
        (
            include_bytes!("testdata/v2_options.bin"),
            "127.0.0.1:26105",
            "127.0.0.1:27105",
        ),
        (
            include_bytes!("testdata/v2_ssl_crc.bin"),
            "[::1]:26106",
            "[::1]:27106",
        ),
        (
            include_bytes!("testdata/v1_and_v2.bin"),
            "127.0.0.1:26107",
            "127.0.0.1:27107",
        ),
    ];
    for (bytes, src, dst) in cases {
        let mut stream = bytes.to_vec();
        stream.extend_from_slice(b"hello");
        let decoded = decode(&stream, MAX_V2_LEN).unwrap().unwrap();
        assert_eq!(decoded.addrs, addrs(src, dst));
        assert_eq!(decoded.len, bytes.len());
        // Every shorter prefix asks for more bytes.
        for n in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..n], MAX_V2_LEN),
                Ok(None),
                "{src} cut at {n}"
            );
        }
    }
    let local = decode(include_bytes!("testdata/check_v2.bin"), MAX_V2_LEN);
    assert_eq!(local.unwrap().unwrap().addrs, None);
}

#[test]
fn garbage_is_not_a_header() {
    for bytes in [
        &b"GET / HTTP/1.0\r\n"[..],
        b"\x16\x03\x01",
        b"PROXX",
        b"\r\n\r\n\0\r\nQUIX",
    ] {
        assert_eq!(decode(bytes, MAX_V2_LEN), Err(DecodeError::NotHeader));
    }
    let mut version_3 = include_bytes!("testdata/v2_ipv4.bin").to_vec();
    version_3[12] = 0x31;
    assert_eq!(decode(&version_3, MAX_V2_LEN), Err(DecodeError::NotHeader));
}

#[test]
fn malformed_v1_lines_are_refused() {
    let invalid = [
        &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 X\r\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY TCP4 1.2.3.4\x00",
    ];
    for line in invalid {
        assert_eq!(
            decode(line, MAX_V2_LEN),
            Err(DecodeError::Invalid),
            "{line:?}"
        );
    }
    let unhandled = decode(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", MAX_V2_LEN);
    assert_eq!(unhandled, Err(DecodeError::UnhandledProtocol));
    let unknown = decode(b"PROXY UNKNOWN ffff::1 ::1 1 2\r\nrest", MAX_V2_LEN);
    assert_eq!(unknown.unwrap().unwrap().len, 31);
}

#[test]
fn v1_stops_at_107_bytes() {
    let mut long = b"PROXY TCP6 ".to_vec();
    long.resize(MAX_V1_LEN - 1, b'1');
    assert_eq!(decode(&long, MAX_V2_LEN), Ok(None));
    long.push(b'1');
    assert_eq!(decode(&long, MAX_V2_LEN), Err(DecodeError::Invalid));
}

#[test]
fn malformed_v2_headers_are_refused() {
    let good = include_bytes!("testdata/v2_options.bin");
    // A TLV running past the end.
    let mut overflow = good.to_vec();
    overflow[28 + 2] = 9;
    let crc_broken = {
        let mut h = good.to_vec();
        h[21] ^= 1;
        h
    };
    for bytes in [overflow, crc_broken] {
        assert_eq!(decode(&bytes, MAX_V2_LEN), Err(DecodeError::Invalid));
    }
    // An address block shorter than its family's.
    let mut short = include_bytes!("testdata/v2_ipv4.bin")[..16].to_vec();
    short[15] = 4;
    short.extend_from_slice(&[0; 4]);
    assert_eq!(decode(&short, MAX_V2_LEN), Err(DecodeError::Invalid));
    // A command other than LOCAL and PROXY.
    let mut command = include_bytes!("testdata/v2_ipv4.bin").to_vec();
    command[12] = 0x22;
    assert_eq!(decode(&command, MAX_V2_LEN), Err(DecodeError::Invalid));
}

#[test]
fn v2_longer_than_the_cap_is_refused_before_it_arrives() {
    let mut head = include_bytes!("testdata/v2_ipv4.bin")[..16].to_vec();
    head[14..16].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(decode(&head, 512), Err(DecodeError::TooLong(512)));
    assert_eq!(decode(&head, MAX_V2_LEN), Ok(None));
}
