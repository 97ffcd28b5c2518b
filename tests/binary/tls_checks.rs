//! TLS health checks (`check check-ssl`) as the server sees them: every
//! check completes the handshake and ends with `close_notify`, as
//! HAProxy's do, so a gateway logs no TLS error per check.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use weir_tests::gateway::Pki;
use weir_tests::rustls::{ServerConfig, ServerConnection, Stream};

use super::kit::{PATIENCE, Running, Scratch, free_port};

/// How a check connection ended, seen from the TLS server.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Handshake done, then the client's `close_notify`.
    Clean,
    /// Anything else, and what.
    Broken(String),
}

/// A TLS server on `listener` that reports how each of its first `max`
/// connections ended.
fn tls_server(listener: TcpListener, config: Arc<ServerConfig>, max: usize) -> Receiver<Ending> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut tcp) = stream else { return };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let ending = serve(&mut tcp, config.clone());
            if tx.send(ending).is_err() {
                return;
            }
        }
    });
    rx
}

fn serve(tcp: &mut TcpStream, config: Arc<ServerConfig>) -> Ending {
    let mut tls = ServerConnection::new(config).unwrap();
    while tls.is_handshaking() {
        if let Err(e) = tls.complete_io(tcp) {
            return Ending::Broken(format!("handshake: {e}"));
        }
    }
    let mut rest = Vec::new();
    match Stream::new(&mut tls, tcp).read_to_end(&mut rest) {
        // rustls ends a read cleanly only after `close_notify`.
        Ok(_) => Ending::Clean,
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
            Ending::Broken("EOF without close_notify".into())
        }
        Err(e) => Ending::Broken(format!("after the handshake: {e}")),
    }
}

#[test]
fn tls_checks_finish_the_handshake_and_close_with_close_notify() {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let gw = listener.local_addr().unwrap().port();
    let endings = tls_server(listener, pki.server_config(&["gw.example"]), 4);
    let port = free_port();
    // The frontend's traffic (weir's readiness probe) goes elsewhere.
    let sink = free_port();
    let scratch = Scratch::new();
    let config = scratch.file(
        "w.cfg",
        &format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n \
             timeout server 5s\n timeout check 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend elsewhere\n\
             backend elsewhere\n server s 127.0.0.1:{sink}\n\
             backend app\n server gw 127.0.0.1:{gw} check check-ssl verify none inter 200\n"
        ),
    );
    let _weir = Running::quiet(&config, port);
    let deadline = Instant::now() + PATIENCE;
    for n in 0..3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let ending = endings.recv_timeout(left).expect("a check came");
        assert_eq!(ending, Ending::Clean, "check {n}");
    }
}
