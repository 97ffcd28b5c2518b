//! The PROXY protocol on sessions: `send-proxy` headers on every server
//! connection, `accept-proxy` headers read from clients.

use std::time::Duration;

use super::{Harness, config, server};
use crate::action::{ConnError, Event};
use crate::config::{Config, Server};
use crate::proxy_protocol::{V2Options, Version};

/// The version 1 header of the harness's first client (10.0.0.1:40001 to
/// 127.0.0.1:9091).
const V1_FIRST: &[u8] = b"PROXY TCP4 10.0.0.1 127.0.0.1 40001 9091\r\n";

fn sending(name: &str, port: u16, version: Version) -> Server {
    Server {
        send_proxy: Some(version),
        ..server(name, port)
    }
}

/// Two servers sending version 1 headers.
fn two_v1() -> Config {
    config(vec![
        sending("s1", 8001, Version::V1),
        sending("s2", 8002, Version::V1),
    ])
}

#[test]
fn the_header_goes_first_then_the_clients_bytes() {
    let mut h = Harness::new(two_v1());
    let (client, server, _) = h.accept();
    h.peer_sends(client, b"early");
    assert!(h.lb.send_buf(server).is_none(), "nothing before connect");
    h.connected(server);
    assert!(h.interest(server).1, "the header waits to be written");
    assert_eq!(h.drain(server), [V1_FIRST, b"early"].concat());
    assert_eq!(h.peer_sends(client, b" late"), 5);
    assert_eq!(h.drain(server), b" late", "the header goes once");
}

#[test]
fn a_header_written_in_pieces_comes_out_whole_before_anything_else() {
    let mut cfg = config(vec![sending("s1", 8001, Version::V2(V2Options::default()))]);
    cfg.backends[0].servers[0].send_proxy = Some(Version::V2(V2Options {
        ssl: true,
        ..V2Options::default()
    }));
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.peer_sends(client, b"data");
    let mut out = Vec::new();
    while let Some(buf) = h.lb.send_buf(server) {
        out.push(buf[0]);
        h.lb.sent(h.now, server, 1);
        h.collect();
    }
    assert_eq!(out.len(), 16 + 12 + 8 + 4);
    assert_eq!(&out[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(&out[out.len() - 4..], b"data");
}

#[test]
fn a_client_that_closes_at_once_still_gets_its_header_before_the_fin() {
    let mut h = Harness::new(two_v1());
    let (client, server, _) = h.accept();
    h.event(Event::ReadClosed { conn: client });
    h.connected(server);
    assert!(!h.shut(server), "no FIN before the header");
    assert_eq!(h.drain(server), V1_FIRST);
    assert!(h.shut(server));
}

#[test]
fn a_retry_on_another_server_sends_the_header_again() {
    let mut h = Harness::new(two_v1());
    let (client, first, _) = h.accept();
    h.peer_sends(client, b"hello");
    h.take();
    h.event(Event::Connected {
        conn: first,
        result: Err(ConnError::Refused),
    });
    let connects = h.connects();
    assert_eq!(connects.len(), 1, "redispatched");
    let second = connects[0].0;
    h.connected(second);
    assert_eq!(h.drain(second), [V1_FIRST, b"hello"].concat());
}

#[test]
fn a_replay_sends_the_header_again_and_keeps_only_client_bytes() {
    let mut cfg = two_v1();
    cfg.backends[0].replay_until_response = Some(Duration::from_secs(2));
    let mut h = Harness::new(cfg);
    let (client, first) = h.session();
    h.peer_sends(client, b"request");
    assert_eq!(h.drain(first), [V1_FIRST, b"request"].concat());
    h.take();
    h.event(Event::ReadClosed { conn: first });
    let connects = h.connects();
    assert_eq!(connects.len(), 1, "replayed");
    h.connected(connects[0].0);
    assert_eq!(h.drain(connects[0].0), [V1_FIRST, b"request"].concat());
}

#[test]
fn a_hedge_that_wins_gets_the_header() {
    let mut cfg = two_v1();
    cfg.backends[0].connect_hedge = Some(Duration::from_millis(300));
    let mut h = Harness::new(cfg);
    let (client, first, _) = h.accept();
    h.peer_sends(client, b"hi");
    h.take();
    h.advance(Duration::from_millis(300));
    let second = h.connects()[0].0;
    h.connected(second);
    assert_eq!(h.drain(second), [V1_FIRST, b"hi"].concat());
    assert!(h.closed(first).is_some());
}

#[test]
fn each_server_gets_its_own_header_or_none() {
    let mut cfg = two_v1();
    cfg.backends[0].servers[1].send_proxy = None;
    let mut h = Harness::new(cfg);
    let (client, first, addr) = h.accept();
    h.peer_sends(client, b"x");
    h.event(Event::Connected {
        conn: first,
        result: Err(ConnError::Refused),
    });
    let (second, other) = *h.connects().last().expect("redispatched");
    assert_ne!(addr, other);
    h.connected(second);
    let expected = match other.port() {
        8001 => [V1_FIRST, b"x"].concat(),
        _ => b"x".to_vec(),
    };
    assert_eq!(h.drain(second), expected, "only s1 has send-proxy");
}

// ---- accept-proxy ----------------------------------------------------------

/// One server sending version 1 headers behind an `accept-proxy` bind.
fn behind_a_proxy() -> Harness {
    let mut cfg = config(vec![sending("s1", 8001, Version::V1)]);
    cfg.frontends[0].binds[0].accept_proxy = true;
    Harness::new(cfg)
}

/// Accepts a client and returns it; no server connect comes before its
/// header.
fn pending(h: &mut Harness) -> crate::id::ConnId {
    let client = h.try_accept().expect("accepted");
    assert!(h.connects().is_empty(), "no connect before the header");
    assert_eq!(h.interest(client), (true, false));
    client
}

/// The last log line, without its date.
fn last_log(h: &Harness) -> String {
    let logs = h.logs(crate::action::LogSink::Stdout);
    let line = logs.last().expect("a log line");
    let (peer, rest) = line.split_once(" [").expect("a date");
    let (_, rest) = rest.split_once("] ").expect("a date");
    format!("{peer} {rest}")
}

#[test]
fn a_v1_header_gives_the_session_its_client_and_the_rest_flows_on() {
    let mut h = behind_a_proxy();
    let client = pending(&mut h);
    h.peer_sends(client, b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 443\r\nhel");
    let (server, _) = h.connects()[0];
    h.peer_sends(client, b"lo");
    h.connected(server);
    let expected: &[u8] = b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 443\r\nhello";
    assert_eq!(h.drain(server), expected);
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn: server });
    let log = h.logs(crate::action::LogSink::Stdout).pop().unwrap();
    assert!(log.starts_with("192.0.2.7:5555 ["), "{log}");
    assert!(log.contains(" 0 -- "), "{log}");
}

#[test]
fn a_v2_header_in_pieces_is_read_and_v2_ipv6_addresses_go_on() {
    let mut h = behind_a_proxy();
    let client = pending(&mut h);
    let header = crate::proxy_protocol::encode(
        Version::V2(V2Options::default()),
        Some((
            "[2001:db8::7]:5555".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
        )),
        None,
    );
    for byte in header.as_bytes() {
        assert!(h.connects().is_empty());
        h.peer_sends(client, &[*byte]);
    }
    let (server, _) = h.connects()[0];
    h.connected(server);
    assert_eq!(
        h.drain(server),
        b"PROXY TCP6 2001:db8::7 2001:db8::1 5555 443\r\n"
    );
}

#[test]
fn local_and_unknown_headers_keep_the_connections_own_addresses() {
    let mut h = behind_a_proxy();
    let client = pending(&mut h);
    h.peer_sends(client, b"PROXY UNKNOWN\r\n");
    let (server, _) = h.connects()[0];
    h.connected(server);
    assert_eq!(h.drain(server), V1_FIRST);
}

#[test]
fn garbage_closes_that_connection_only_and_is_logged() {
    let mut h = behind_a_proxy();
    let good = pending(&mut h);
    let bad = pending(&mut h);
    h.peer_sends(bad, b"GET / HTTP/1.0\r\n");
    assert_eq!(h.closed(bad), Some(false));
    assert_eq!(
        last_log(&h),
        "10.0.0.1:40002 fe/1: Received something which does not look like a PROXY protocol header"
    );
    h.peer_sends(good, b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\n");
    assert_eq!(h.connects().len(), 1, "the other connection goes on");
    assert_eq!(h.lb.buffers_in_use(), 0);
}

#[test]
fn truncated_empty_reset_and_slow_headers_are_logged_as_haproxy() {
    let cases: [(&[u8], Option<bool>, &str); 4] = [
        (
            b"PROXY TCP4 1.2",
            Some(false),
            "Truncated PROXY protocol header received",
        ),
        (
            b"",
            Some(false),
            "Connection closed while waiting for PROXY protocol header",
        ),
        (
            b"PROXY",
            Some(true),
            "Connection error while waiting for PROXY protocol header",
        ),
        (
            b"PROXY TCP4 1.2",
            None,
            "Timeout while waiting for PROXY protocol header",
        ),
    ];
    for (sent, close, reason) in cases {
        let mut h = behind_a_proxy();
        let client = pending(&mut h);
        h.peer_sends(client, sent);
        match close {
            Some(false) => h.event(Event::ReadClosed { conn: client }),
            Some(true) => h.event(Event::Failed {
                conn: client,
                error: ConnError::Reset,
            }),
            None => {
                h.advance(Duration::from_millis(9999));
                assert!(h.closed(client).is_none(), "before timeout client");
                h.advance(Duration::from_millis(1));
            }
        }
        assert!(h.closed(client).is_some(), "{reason}");
        assert_eq!(last_log(&h), format!("10.0.0.1:40001 fe/1: {reason}"));
        assert_eq!(h.lb.buffers_in_use(), 0);
        assert_eq!(h.lb.active_sessions(), 0);
    }
}

#[test]
fn dontlognull_hides_connections_that_sent_nothing() {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.frontends[0].binds[0].accept_proxy = true;
    cfg.frontends[0].dontlognull = true;
    let mut h = Harness::new(cfg);
    let client = pending(&mut h);
    h.event(Event::ReadClosed { conn: client });
    assert!(h.logs(crate::action::LogSink::Stdout).is_empty());
}

// ---- check-send-proxy ------------------------------------------------------

#[test]
fn a_tcp_check_passes_once_its_v1_header_is_written() {
    let mut s1 = super::checked("s1", 8001);
    s1.check_send_proxy = Some(Version::V1);
    let mut h = Harness::new(config(vec![s1]));
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    assert!(h.closed(probe).is_none(), "not before the header is out");
    assert!(h.interest(probe).1, "the header waits to be written");
    assert_eq!(h.drain(probe), b"PROXY UNKNOWN\r\n");
    assert_eq!(h.closed(probe), Some(true), "L4OK");
}

#[test]
fn an_http_check_sends_a_v2_local_header_before_its_request() {
    let mut cfg = super::http_config(crate::config::HttpExpect::Default);
    cfg.backends[0].servers[0].check_send_proxy = Some(Version::V2(V2Options::default()));
    let mut h = Harness::new(cfg);
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
    assert_eq!(h.drain(probe), [&local[..], super::REQUEST].concat());
    h.peer_sends(probe, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.closed(probe), Some(true));
}
