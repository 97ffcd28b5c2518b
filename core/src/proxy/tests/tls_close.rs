//! How a TLS check ends: after its verdict the probe writes its last
//! records and `close_notify`, then closes cleanly (HAProxy's
//! `sc_conn_drain_and_shut`); a reset or a close during the handshake is
//! HAProxy's `SSL handshake failure`.

use std::io::Read;

use rustls::ServerConnection;

use super::tls_kit::{gateway, tls_config, today};
use super::*;

/// Moves the probe's records to `server` and the server's back, once.
fn exchange(h: &mut Harness, probe: ConnId, server: &mut ServerConnection) {
    let from_probe = h.drain(probe);
    server.read_tls(&mut &from_probe[..]).unwrap();
    server.process_new_packets().unwrap();
    let mut to_probe = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut to_probe).unwrap();
    }
    if !to_probe.is_empty() {
        h.peer_sends(probe, &to_probe);
    }
}

#[test]
fn a_passed_tls_check_writes_its_finished_and_close_notify_before_closing() {
    let gw = gateway("gw.example", 4000, false);
    let mut h = Harness::at(tls_config(&gw, None, false), today());
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    let mut server = ServerConnection::new(gw.config.clone()).unwrap();
    // ClientHello out, the server's flight back: the verdict is in.
    exchange(&mut h, probe, &mut server);
    assert!(server.is_handshaking());
    assert_eq!(h.closed(probe), None, "still writing its last records");
    assert!(
        h.lb.proxy_stats(h.now)[1].servers[0].check.desc.is_empty(),
        "L6OK has no text"
    );
    // The client's Finished and its close_notify reach the server.
    exchange(&mut h, probe, &mut server);
    assert!(!server.is_handshaking(), "the handshake completed");
    let mut rest = Vec::new();
    assert_eq!(
        server.reader().read_to_end(&mut rest).unwrap(),
        0,
        "close_notify"
    );
    assert_eq!(h.closed(probe), Some(false), "a clean close, no reset");
    assert_eq!(h.lb.buffers_in_use(), 0);
}

/// A TLS check whose server answers the ClientHello with a reset, or
/// with a FIN.
fn handshake_ended_by(reset: bool) -> Vec<String> {
    let gw = gateway("gw.example", 4000, false);
    let mut cfg = tls_config(&gw, None, false);
    cfg.backends[0].log_health_checks = true;
    let mut h = Harness::at(cfg, today());
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    assert!(!h.drain(probe).is_empty(), "a ClientHello went out");
    h.event(match reset {
        true => Event::Failed {
            conn: probe,
            error: ConnError::Reset,
        },
        false => Event::ReadClosed { conn: probe },
    });
    assert!(h.closed(probe).is_some());
    h.logs(LogSink::Stdout)
}

#[test]
fn a_reset_during_the_handshake_is_an_ssl_handshake_failure() {
    assert_eq!(
        handshake_ended_by(true)[0],
        "Health check for server app/s1 failed, reason: Layer6 invalid response, \
         info: \"SSL handshake failure\", check duration: 0ms, status: 0/2 DOWN."
    );
}

#[test]
fn a_close_during_the_handshake_is_an_ssl_handshake_failure() {
    assert!(handshake_ended_by(false)[0].contains(
        "reason: Layer6 invalid response, info: \"SSL handshake failure\", check duration"
    ));
}
