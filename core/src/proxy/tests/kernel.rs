//! Splicing: when core hands a direction to the kernel
//! ([`Action::Splice`]) and when it keeps it, and how it goes on counting
//! what the kernel moves.

use std::time::Duration;

use super::{Harness, config, server};
use crate::action::{Action, ConnError, Event, LogSink};
use crate::buffer::BUF_SIZE;
use crate::config::{Config, traffic::Splice};
use crate::id::ConnId;
use crate::proxy_protocol::Version;

/// `option splice-request` and `option splice-response` on the frontend,
/// tcplog on stdout.
fn both_ways() -> Config {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.frontends[0].traffic.splice = Splice {
        auto: None,
        request: true,
        response: true,
    };
    cfg
}

/// A harness whose driver can splice.
fn splicing(cfg: Config) -> Harness {
    let mut h = Harness::new(cfg);
    h.lb.enable_splice();
    h
}

/// The directions handed over so far, as (from, to).
fn spliced(h: &Harness) -> Vec<(ConnId, ConnId)> {
    h.actions
        .iter()
        .filter_map(|a| match a {
            Action::Splice { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn splice_request_and_response_hand_both_directions_over_once_connected() {
    let mut h = splicing(both_ways());
    let (client, server, _) = h.accept();
    assert!(spliced(&h).is_empty(), "not before the server is connected");
    h.connected(server);
    assert_eq!(spliced(&h), [(client, server), (server, client)]);
    // Once only.
    h.event(Event::SplicedIn {
        conn: client,
        bytes: 10,
    });
    assert_eq!(spliced(&h).len(), 2);
}

#[test]
fn no_splice_without_a_driver_that_splices_or_with_nosplice() {
    let mut h = Harness::new(both_ways());
    h.session();
    assert!(spliced(&h).is_empty(), "the driver never enabled it");
    let mut cfg = both_ways();
    cfg.global.splice.disabled = true;
    let mut h = splicing(cfg);
    h.session();
    assert!(spliced(&h).is_empty(), "nosplice");
}

#[test]
fn bytes_moved_by_the_kernel_are_counted_and_the_fin_waits_for_the_pipe() {
    let mut h = splicing(both_ways());
    let (client, server) = h.session();
    h.event(Event::SplicedIn {
        conn: client,
        bytes: 70_000,
    });
    assert!(h.interest(server).1, "the pipe is to be written");
    assert!(!h.interest(client).0, "a full pipe stops the reads");
    h.event(Event::ReadClosed { conn: client });
    assert!(!h.shut(server), "the FIN waits for the bytes in the pipe");
    h.event(Event::SplicedOut {
        conn: server,
        bytes: 70_000,
    });
    assert!(h.shut(server), "the pipe is empty: FIN forwarded");
    assert!(!h.interest(server).1);
    h.event(Event::SplicedIn {
        conn: server,
        bytes: 5,
    });
    h.event(Event::SplicedOut {
        conn: client,
        bytes: 5,
    });
    h.event(Event::ReadClosed { conn: server });
    assert!(h.shut(client));
    let logs = h.logs(LogSink::Stdout);
    assert_eq!(logs.len(), 1, "{logs:?}");
    // tcplog's bytes are %B, those the client got.
    assert!(logs[0].contains(" 5 --"), "{}", logs[0]);
    let stats = h.lb.proxy_stats(h.now);
    let fe = &stats[0].frontend.as_ref().expect("a frontend").counters;
    assert_eq!((fe.bytes_in, fe.bytes_out), (70_000, 5));
    assert_eq!(h.lb.buffers_in_use(), 0);
}

#[test]
fn a_server_reset_mid_splice_still_delivers_the_pipe_and_logs_sd() {
    let mut h = splicing(both_ways());
    let (client, server) = h.session();
    h.event(Event::SplicedIn {
        conn: server,
        bytes: 1000,
    });
    h.event(Event::Failed {
        conn: server,
        error: ConnError::Reset,
    });
    assert_eq!(h.closed(server), Some(false));
    assert!(!h.shut(client), "the bytes in the pipe go first");
    assert!(h.interest(client).1);
    h.event(Event::SplicedOut {
        conn: client,
        bytes: 1000,
    });
    assert!(h.shut(client));
    let logs = h.logs(LogSink::Stdout);
    assert!(logs[0].contains(" 1000 SD"), "{}", logs[0]);
}

#[test]
fn splice_auto_is_the_default_and_waits_for_a_bulk_stream() {
    let mut h = splicing(config(vec![server("s1", 8001)]));
    let (client, server) = h.session();
    // Short requests and replies stay in core.
    for _ in 0..4 {
        h.peer_sends(client, b"ping");
        h.drain(server);
        h.peer_sends(server, b"pong");
        h.drain(client);
    }
    assert!(spliced(&h).is_empty());
    // Two reads of a whole buffer in a row: a bulk stream, handed over
    // once core's buffer is drained.
    let bulk = vec![7u8; BUF_SIZE];
    h.peer_sends(client, &bulk);
    h.drain(server);
    assert!(spliced(&h).is_empty(), "one full read is not a stream");
    h.peer_sends(client, &bulk);
    assert!(spliced(&h).is_empty(), "not while core holds bytes");
    assert_eq!(h.drain(server).len(), BUF_SIZE);
    assert_eq!(spliced(&h), [(client, server)], "the reply stays in core");
}

#[test]
fn no_option_splice_auto_keeps_bulk_streams_in_core() {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.backends[0].traffic.splice.auto = Some(false);
    let mut h = splicing(cfg);
    let (client, srv) = h.session();
    for _ in 0..4 {
        h.peer_sends(client, &vec![7u8; BUF_SIZE]);
        h.drain(srv);
    }
    assert!(spliced(&h).is_empty());
    // `option splice-auto` on the other side wins.
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.backends[0].traffic.splice.auto = Some(false);
    cfg.frontends[0].traffic.splice.auto = Some(true);
    let mut h = splicing(cfg);
    let (client, server) = h.session();
    for _ in 0..2 {
        h.peer_sends(client, &vec![7u8; BUF_SIZE]);
        h.drain(server);
    }
    assert_eq!(spliced(&h), [(client, server)]);
}

#[test]
fn bytes_core_holds_go_before_the_direction_is_handed_over() {
    let mut h = splicing(both_ways());
    let (client, server, _) = h.accept();
    h.peer_sends(client, b"early");
    h.connected(server);
    assert_eq!(
        spliced(&h),
        [(server, client)],
        "the early bytes are core's"
    );
    assert_eq!(h.drain(server), b"early");
    assert_eq!(spliced(&h), [(server, client), (client, server)]);
}

#[test]
fn a_replay_window_keeps_the_client_bytes_until_the_server_answers() {
    let mut cfg = both_ways();
    cfg.backends[0].replay_until_response = Some(Duration::from_secs(2));
    let mut h = splicing(cfg);
    let (client, server) = h.session();
    h.peer_sends(client, b"hello");
    h.drain(server);
    assert!(spliced(&h).is_empty(), "the bytes are kept for a replay");
    h.peer_sends(server, b"hi");
    h.drain(client);
    assert_eq!(spliced(&h).len(), 2, "the server answered: no replay");
}

#[test]
fn a_proxy_header_is_sent_before_the_direction_is_handed_over() {
    let mut cfg = both_ways();
    cfg.backends[0].servers[0].send_proxy = Some(Version::V1);
    let mut h = splicing(cfg);
    let (client, server) = h.session();
    assert_eq!(spliced(&h), [(server, client)], "the header is core's");
    assert!(h.drain(server).starts_with(b"PROXY TCP4 "));
    assert_eq!(spliced(&h), [(server, client), (client, server)]);
}

#[test]
fn tls_to_the_server_is_never_spliced() {
    let mut cfg = both_ways();
    cfg.backends[0].servers[0].tls = Some(crate::config::CheckTls {
        verify: Some(false),
        ..Default::default()
    });
    let mut h = Harness::at(cfg, super::tls_kit::today());
    h.lb.enable_splice();
    let (client, server) = h.session();
    h.peer_sends(client, b"plaintext for TLS");
    h.drain(server);
    assert!(spliced(&h).is_empty());
}
