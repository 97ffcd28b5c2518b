//! Health-check requests as the servers see them: the bytes of
//! `option httpchk` / `http-check send` between `defaults` and backends,
//! and of `option redis-check`, equal those haproxy 2.6.12 sent for the
//! same lines (recorded on the wire).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use super::kit::{PATIENCE, Running, Scratch, free_port};

/// A server on `listener` that sends back the first request of its first
/// connection once `complete` says it is whole, answering `reply`.
fn recorder(
    listener: TcpListener,
    complete: fn(&[u8]) -> bool,
    reply: &'static [u8],
) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        let Ok((mut tcp, _)) = listener.accept() else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !complete(&got) {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tcp.write_all(reply);
        let _ = tx.send(got);
    });
    rx
}

/// A backend's lines, when its request is whole, the reply, the bytes
/// haproxy sent.
type Case = (&'static str, fn(&[u8]) -> bool, &'static [u8], &'static str);

fn http_head(got: &[u8]) -> bool {
    got.windows(4).any(|w| w == b"\r\n\r\n")
}

fn redis_ping(got: &[u8]) -> bool {
    got.len() >= 14
}

#[test]
fn check_requests_are_haproxys_bytes() {
    let cases: [Case; 4] = [
        (
            "",
            http_head,
            b"HTTP/1.0 200 OK\r\n\r\n",
            "GET /status HTTP/1.1\r\nx-def: def\r\nconnection: close\r\n\r\n",
        ),
        (
            " option httpchk",
            http_head,
            b"HTTP/1.0 200 OK\r\n\r\n",
            "OPTIONS / HTTP/1.0\r\n\r\n",
        ),
        (
            " option httpchk HEAD /old HTTP/1.1\\r\\nX-A:\\ a\n http-check send hdr X-B b",
            http_head,
            b"HTTP/1.0 200 OK\r\n\r\n",
            "HEAD /old HTTP/1.1\r\nx-b: b\r\nconnection: close\r\n\r\n",
        ),
        (
            " option redis-check",
            redis_ping,
            b"+PONG\r\n",
            "*1\r\n$4\r\nPING\r\n",
        ),
    ];
    let mut backends = String::new();
    let mut recorded = Vec::new();
    for (i, (lines, complete, reply, expected)) in cases.iter().enumerate() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap().port();
        recorded.push((recorder(listener, *complete, reply), *expected));
        backends.push_str(&format!(
            "backend b{i}\n{lines}\n server s 127.0.0.1:{server} check inter 200\n"
        ));
    }
    let port = free_port();
    // The frontend's traffic (weir's readiness probe) goes elsewhere.
    let sink = free_port();
    let scratch = Scratch::new();
    let config = scratch.file(
        "w.cfg",
        &format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n \
             timeout server 5s\n option httpchk GET /status HTTP/1.1\\r\\nX-Old:\\ yes\n \
             http-check send hdr X-Def def\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend elsewhere\n\
             backend elsewhere\n server s 127.0.0.1:{sink}\n{backends}"
        ),
    );
    let _weir = Running::quiet(&config, port);
    let deadline = Instant::now() + PATIENCE;
    for (i, (rx, expected)) in recorded.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = rx.recv_timeout(left).expect("a check came");
        assert_eq!(String::from_utf8_lossy(&got), *expected, "backend b{i}");
    }
}
