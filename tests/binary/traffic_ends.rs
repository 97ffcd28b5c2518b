//! How sessions end on the wire, as HAProxy 2.6 ends them: a server that
//! resets after its reply has the reply delivered then a FIN (`SD`); a
//! client that closes while its session waits in the queue is aborted
//! (`CQ`), with bytes to send only under `option abortonclose`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use super::kit::{Running, Scratch, Syslog, cli, client, free_port, wait_until};

/// Bytes written to `stream` that its kernel has not sent yet.
fn unsent(stream: &TcpStream) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ on a socket this test owns, into a c_int.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    assert_eq!(rc, 0);
    n
}

/// Closes `stream` with an RST (`SO_LINGER` 0).
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this test owns, with a valid linger.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(stream);
}

fn config(syslog: u16, port: u16, admin: u16, proxies: &str) -> String {
    format!(
        "global\n log 127.0.0.1:{syslog} local0\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
         defaults\n mode tcp\n log global\n option tcplog\n timeout connect 2s\n\
         timeout client 10s\n timeout server 10s\n\
         listen fe\n bind 127.0.0.1:{port}\n{proxies}"
    )
}

#[test]
fn a_server_that_resets_after_its_reply_has_it_delivered_then_a_fin_logged_sd() {
    let reply: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap().port();
    let sent = reply.clone();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 7];
        stream.read_exact(&mut request).unwrap();
        stream.write_all(&sent).unwrap();
        // An abortive close drops what the kernel has not sent yet: wait
        // until every byte left (weir's buffers hold them all).
        assert!(
            wait_until(|| unsent(&stream) == 0),
            "the reply left the server"
        );
        reset(stream);
    });
    let syslog = Syslog::new();
    let (port, admin) = (free_port(), free_port());
    let text = config(
        syslog.port(),
        port,
        admin,
        &format!(" server s1 127.0.0.1:{backend}\n"),
    );
    let scratch = Scratch::new();
    let _weir = Running::quiet(&scratch.file("w.cfg", &text), admin);
    let mut stream = client(port);
    stream.write_all(b"request").unwrap();
    // A slow reader still gets every byte (most of them were in flight
    // when the server reset), then the end of the stream.
    thread::sleep(Duration::from_millis(300));
    let mut got = Vec::new();
    let end = stream.read_to_end(&mut got);
    server.join().unwrap();
    assert!(end.is_ok(), "a FIN, not a reset: {end:?}");
    assert_eq!(got.len(), reply.len());
    assert!(got == reply, "the reply, whole and in order");
    let line = syslog.wait_for(" fe/s1 ");
    assert!(line.contains(&format!(" {} SD ", reply.len())), "{line}");
}

#[test]
fn a_client_that_closes_after_bytes_while_queued_is_aborted_cq_under_abortonclose() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap().port();
    let (reached, first_reached) = std::sync::mpsc::channel();
    // Holds every connection it gets, so `maxconn 1` keeps the next queued.
    let held = thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        // The first connection, within a bound (no accept blocks for ever).
        let first = Instant::now() + Duration::from_secs(30);
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < first => {
                    thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("no connection reached the server: {e}"),
            }
        };
        reached.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut more = 0;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok(_) => more += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        }
        drop(stream);
        more
    });
    let syslog = Syslog::new();
    let (port, admin) = (free_port(), free_port());
    let text = config(
        syslog.port(),
        port,
        admin,
        &format!(
            " option abortonclose\n timeout queue 10s\n server s1 127.0.0.1:{backend} maxconn 1\n"
        ),
    );
    let scratch = Scratch::new();
    let _weir = Running::quiet(&scratch.file("w.cfg", &text), admin);
    let mut first = client(port);
    first.write_all(b"first").unwrap();
    // The first session holds the server before the second comes (with
    // several loops, the second could otherwise be connected first).
    first_reached
        .recv_timeout(Duration::from_secs(30))
        .expect("the first session reached the server");
    let mut second = client(port);
    second.write_all(b"second").unwrap();
    let queued = || {
        let text = cli(admin, "show stat");
        let header = text.lines().next().unwrap_or_default();
        let qcur = (header.trim_start_matches("# ").split(',')).position(|c| c == "qcur");
        let row = text.lines().find(|l| l.starts_with("fe,BACKEND,"));
        row.zip(qcur)
            .is_some_and(|(row, i)| row.split(',').nth(i) == Some("1"))
    };
    assert!(wait_until(queued), "the second session waits in the queue");
    second.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    assert!(
        second.read_to_end(&mut rest).is_ok(),
        "closed by weir at once"
    );
    let line = syslog.wait_for(" fe/<NOSRV> ");
    assert!(line.contains(" CQ "), "{line}");
    assert!(line.trim_end().ends_with(" 0/1"), "{line}");
    assert_eq!(
        held.join().unwrap(),
        0,
        "the aborted session never connected"
    );
    drop(first);
}
