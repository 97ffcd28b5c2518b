//! `source`: the server sees weir's connections (traffic and checks)
//! come from the configured address, port or port range; a source that
//! is not local fails the connection with HAProxy 2.6's alert and check
//! text.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use super::kit::{Running, Scratch, Syslog, client, free_port, wait_until};

/// A server on 127.0.0.1 that records the peer address of every
/// connection and echoes what it reads, until the test ends.
struct Recorder {
    port: u16,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                if let Ok(peer) = stream.peer_addr() {
                    seen.lock().unwrap().push(peer);
                }
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        if stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Recorder { port, peers }
    }

    fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap().clone()
    }
}

/// Runs weir with `proxy` (the lines of `listen fe`, whose `bind` is
/// given); returns it and the frontend's port. It is waited for on its
/// stats socket, so that no connection goes through it before the test's.
fn weir(scratch: &Scratch, syslog: u16, proxy: &str) -> (Running, u16) {
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        "global\n log 127.0.0.1:{syslog} local0\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
         defaults\n mode tcp\n log global\n option tcplog\n option log-health-checks\n \
         timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen fe\n bind 127.0.0.1:{port}\n{proxy}"
    );
    let running = Running::quiet(&scratch.file("w.cfg", &text), admin);
    (running, port)
}

fn echo_through(port: u16, msg: &[u8]) -> TcpStream {
    let mut stream = client(port);
    stream.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
    stream
}

/// A port free on `ip` now.
fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn traffic_and_checks_come_from_the_source_address() {
    let (traffic, checks) = (Recorder::start(), Recorder::start());
    let scratch = Scratch::new();
    let syslog = Syslog::new();
    let (_weir, port) = weir(
        &scratch,
        syslog.port(),
        &format!(
            // A check that sends: a connect-only one is reset before the
            // handshake's last ACK, and the server would never accept it.
            " source 127.0.0.2\n option tcp-check\n tcp-check send hi\\n\n \
             server s1 127.0.0.1:{} check port {} inter 100ms\n",
            traffic.port, checks.port
        ),
    );
    let _stream = echo_through(port, b"hello");
    assert!(
        wait_until(|| checks.peers().len() >= 2),
        "checks reach the server"
    );
    let (traffic, checks) = (traffic.peers(), checks.peers());
    assert_eq!(traffic.len(), 1, "{traffic:?}");
    for peer in traffic.iter().chain(&checks) {
        assert_eq!(peer.ip().to_string(), "127.0.0.2", "{traffic:?} {checks:?}");
    }
}

#[test]
fn a_servers_source_with_a_port_wins_over_the_backends() {
    let server = Recorder::start();
    let scratch = Scratch::new();
    let syslog = Syslog::new();
    let source_port = free_port_on("127.0.0.3");
    let (_weir, port) = weir(
        &scratch,
        syslog.port(),
        &format!(
            " source 127.0.0.2\n server s1 127.0.0.1:{} source 127.0.0.3:{source_port}\n",
            server.port
        ),
    );
    let _stream = echo_through(port, b"hello");
    let want: SocketAddr = format!("127.0.0.3:{source_port}").parse().unwrap();
    assert_eq!(server.peers(), [want]);
}

#[test]
fn a_port_range_gives_each_connection_the_next_free_port() {
    let server = Recorder::start();
    let scratch = Scratch::new();
    let syslog = Syslog::new();
    // Two neighbouring ports free on 127.0.0.4.
    let low = (0..50)
        .map(|_| free_port_on("127.0.0.4"))
        .find(|&p| p < u16::MAX && TcpListener::bind(("127.0.0.4", p + 1)).is_ok())
        .expect("two free ports");
    let (_weir, port) = weir(
        &scratch,
        syslog.port(),
        &format!(
            " server s1 127.0.0.1:{} source 127.0.0.4:{low}-{}\n",
            server.port,
            low + 1
        ),
    );
    let _first = echo_through(port, b"one");
    let _second = echo_through(port, b"two");
    let ports: Vec<u16> = server.peers().iter().map(SocketAddr::port).collect();
    assert_eq!(ports, [low, low + 1]);
    // Both held: a third connection finds no port and is closed.
    let mut third = client(port);
    third.write_all(b"three").unwrap();
    let mut rest = Vec::new();
    let _ = third.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let line = syslog.wait_for("Cannot bind to source address before connect() for backend fe.");
    assert!(line.contains("<128>"), "emerg, local0: {line}");
    assert_eq!(server.peers().len(), 2);
}

#[test]
fn a_source_that_is_not_local_fails_traffic_and_checks_as_haproxy_says() {
    let server = Recorder::start();
    let scratch = Scratch::new();
    let syslog = Syslog::new();
    let (_weir, _) = weir(
        &scratch,
        syslog.port(),
        &format!(
            " source 192.0.2.1\n server s1 127.0.0.1:{} check inter 100ms rise 1 fall 1\n",
            server.port
        ),
    );
    syslog.wait_for("Cannot bind to source address before connect() for backend fe.");
    let line = syslog.wait_for("Health check for server fe/s1 failed");
    assert!(
        line.contains(
            "reason: Layer4 connection problem, info: \"Can't bind to source address (Cannot \
             assign requested address)\""
        ),
        "{line}"
    );
    assert!(server.peers().is_empty());
}
