//! A write to a server fails (it reset: a crash, or a close with weir's
//! bytes unread) while what it sent before still waits, unread, in weir's
//! socket: Linux keeps those bytes readable, so they reach the client
//! before its FIN. Found by the simulator (weir-sim `--reloads` seeds
//! 1270, 1516, 1896, 2523, 2543, 2600, 2880; seed 219 with `--loops 3`):
//! a crashed server's client got a clean FIN 4 bytes short of the reply.

use std::io::Write;

use rustls::ServerConnection;

use super::ssl::{pump, ssl_config};
use super::tls_kit::{gateway, today};
use super::*;

/// The simulator's sequence: the server's reply fills the client's
/// buffer (weir stops reading the server), the server crashes after its
/// last bytes and its FIN, and weir's next write of the request gets the
/// reset.
#[test]
fn a_failed_write_still_delivers_what_the_server_sent_then_a_fin() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, server) = h.session();
    let reply = pattern(BUF_SIZE + 4);
    let taken = h.peer_sends(server, &reply);
    assert_eq!(taken, BUF_SIZE, "the client's buffer is full");
    assert!(!h.interest(server).0, "the server is not read meanwhile");
    h.peer_sends(client, b"more of the request");
    assert!(h.interest(server).1, "weir writes to the server");
    h.event(Event::WriteFailed {
        conn: server,
        error: ConnError::Reset,
    });
    assert_eq!(h.closed(server), None, "its last bytes are still unread");
    assert!(h.lb.send_buf(server).is_none(), "nothing more is written");
    assert!(
        h.lb.recv_buf(client).is_none(),
        "the client is read no more"
    );
    let mut got = h.drain(client);
    assert!(!h.shut(client), "no FIN before the server's last bytes");
    assert_eq!(
        h.interest(server),
        (true, false),
        "read on, once there is room"
    );
    assert_eq!(h.peer_sends(server, &reply[taken..]), 4);
    h.event(Event::ReadClosed { conn: server });
    got.extend(h.drain(client));
    assert!(got == reply, "every byte of the reply, in order");
    assert!(h.shut(client));
    assert_eq!(h.closed(client), Some(false));
    assert_eq!(h.closed(server), Some(false));
    let line = &h.logs(LogSink::Stdout)[0];
    assert!(line.contains(&format!(" {} SD ", reply.len())), "{line}");
    assert_eq!(h.lb.active_sessions(), 0);
    assert_eq!(h.lb.buffers_in_use(), 0);
}

/// A read after the failed write may report the reset itself: the bytes
/// read before it still reach the client, then a FIN.
#[test]
fn a_reset_read_after_a_failed_write_ends_with_a_fin_after_the_bytes() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, server) = h.session();
    h.peer_sends(client, b"request");
    h.event(Event::WriteFailed {
        conn: server,
        error: ConnError::Reset,
    });
    h.peer_sends(server, b"reply");
    h.event(Event::Failed {
        conn: server,
        error: ConnError::Reset,
    });
    assert_eq!(h.closed(server), Some(false));
    assert_eq!(h.drain(client), b"reply");
    assert!(h.shut(client));
    assert!(h.logs(LogSink::Stdout)[0].contains(" 5 SD "));
    assert_eq!(h.lb.active_sessions(), 0);
}

/// Once the server's FIN was read there is nothing left to read: the
/// server side closes at once, as after a read's reset.
#[test]
fn a_failed_write_after_the_servers_fin_closes_the_server_at_once() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, server) = h.session();
    h.peer_sends(server, b"reply");
    h.event(Event::ReadClosed { conn: server });
    h.peer_sends(client, b"request");
    h.event(Event::WriteFailed {
        conn: server,
        error: ConnError::Reset,
    });
    assert_eq!(h.closed(server), Some(false));
    assert_eq!(h.drain(client), b"reply");
    assert!(h.shut(client));
    assert!(h.logs(LogSink::Stdout)[0].contains(" SD "));
}

/// A failed write to a client is its reset, as a failed read.
#[test]
fn a_failed_write_to_a_client_resets_the_server() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, server) = h.session();
    h.peer_sends(server, b"reply");
    h.event(Event::WriteFailed {
        conn: client,
        error: ConnError::Reset,
    });
    assert_eq!(h.closed(server), Some(true));
    assert!(h.logs(LogSink::Stdout)[0].contains(" CD "));
}

/// With `ssl`, the records still unread are decrypted and delivered too,
/// and nothing more (not even `close_notify`) is written to the server.
#[test]
fn a_failed_write_to_a_tls_server_still_delivers_its_last_records() {
    let gw = gateway("gw.example", 4000, false);
    let mut h = Harness::at(ssl_config(&gw), today());
    let (client, server) = h.session();
    let mut peer = ServerConnection::new(gw.config.clone()).unwrap();
    h.peer_sends(client, b"request");
    pump(&mut h, server, &mut peer);
    peer.writer().write_all(b"first ").unwrap();
    pump(&mut h, server, &mut peer);
    h.peer_sends(client, b"more");
    h.event(Event::ReadClosed { conn: client });
    assert!(h.lb.send_buf(server).is_some(), "records to write");
    h.event(Event::WriteFailed {
        conn: server,
        error: ConnError::Reset,
    });
    assert_eq!(h.closed(server), None);
    assert!(h.lb.send_buf(server).is_none(), "nothing more is written");
    peer.writer().write_all(b"last").unwrap();
    peer.send_close_notify();
    let mut records = Vec::new();
    while peer.wants_write() {
        peer.write_tls(&mut records).unwrap();
    }
    h.peer_sends(server, &records);
    h.event(Event::ReadClosed { conn: server });
    assert_eq!(h.drain(client), b"first last");
    assert!(h.shut(client));
    assert!(!h.shut(server), "no FIN was forwarded to the server");
    assert_eq!(h.closed(server), Some(false));
    assert!(h.logs(LogSink::Stdout)[0].contains(" SD "));
    assert_eq!(h.lb.buffers_in_use(), 0);
}
