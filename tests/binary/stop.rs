//! What only the driver shows: a SIGUSR1 soft stop that lets a live
//! session finish, `hard-stop-after` cutting one, `option nolinger`
//! resetting a client, SIGTERM heard while weir is busy and logging the
//! sessions it ends, one set of stop lines for several event loops.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::WEIR;
use super::kit::{
    PATIENCE, Running, Scratch, cli, client, echo, echo_backend, free_port, wait_until,
};

/// Starts weir in front of an echo server; `extra` goes in `defaults`,
/// `global` in `global`. Returns weir and its port once it listens.
fn start(scratch: &Scratch, global: &str, extra: &str) -> (Running, u16) {
    let port = free_port();
    let backend = echo_backend();
    let text = format!(
        "global\n{global}defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n \
         timeout server 10s\n{extra}frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{backend}\n"
    );
    let path = scratch.file("weir.cfg", &text);
    (Running::quiet(&path, port), port)
}

#[test]
fn sigusr1_stops_accepting_lets_the_live_session_finish_then_exits_zero() {
    let scratch = Scratch::new();
    let (mut weir, port) = start(&scratch, "", "");
    let mut live = client(port);
    echo(&mut live, b"before");
    weir.signal(libc::SIGUSR1);
    assert!(
        wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_err()),
        "weir still accepts"
    );
    echo(&mut live, b"during the soft stop");
    assert!(weir.running(), "a session is still open");
    live.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    live.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(weir.wait_exit().success());
}

#[test]
fn hard_stop_after_cuts_the_session_left_and_exits_zero() {
    let scratch = Scratch::new();
    let (mut weir, port) = start(&scratch, " hard-stop-after 500ms\n", "");
    let mut live = client(port);
    echo(&mut live, b"idle from now on");
    let signalled = Instant::now();
    weir.signal(libc::SIGUSR1);
    let mut buf = [0; 16];
    let ended = live.read(&mut buf);
    assert!(
        matches!(ended, Ok(0)) || ended.is_err(),
        "the session was cut: {ended:?}"
    );
    assert!(weir.wait_exit().success());
    assert!(signalled.elapsed() >= Duration::from_millis(500));
}

#[test]
fn nolinger_resets_the_client_instead_of_closing_it() {
    let scratch = Scratch::new();
    let (_weir, port) = start(&scratch, "", " option nolinger\n timeout client 200ms\n");
    let mut idle = client(port);
    let mut buf = [0; 16];
    let err = idle.read(&mut buf).expect_err("an RST, not a FIN");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);

    let scratch = Scratch::new();
    let (_weir, port) = start(&scratch, "", " timeout client 200ms\n");
    let mut idle = client(port);
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "a FIN");
}

#[test]
fn sigterm_stops_weir_while_it_is_busy_moving_bytes() {
    let scratch = Scratch::new();
    let (mut weir, port) = start(&scratch, "", "");
    // Four clients stream through the echo server as fast as they can, so
    // weir always has IO left to do when a turn ends; they stop when weir
    // closes their connections.
    let echoed = Arc::new(AtomicU64::new(0));
    for _ in 0..4 {
        let mut writer = client(port);
        writer.set_write_timeout(Some(PATIENCE)).unwrap();
        let mut reader = writer.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![7u8; 64 * 1024];
            while writer.write_all(&chunk).is_ok() {}
        });
        let echoed = echoed.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                echoed.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }
    assert!(
        wait_until(|| echoed.load(Ordering::Relaxed) >= 16 << 20),
        "the clients' bytes never flowed"
    );
    weir.signal(libc::SIGTERM);
    assert!(weir.wait_exit().success());
}

#[test]
fn sigterm_logs_every_session_it_ends() {
    let scratch = Scratch::new();
    let port = free_port();
    let backend = echo_backend();
    let text = format!(
        "global\n log stdout format raw local0\ndefaults\n mode tcp\n log global\n \
         option tcplog\n timeout connect 1s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{backend}\n"
    );
    let path = scratch.file("weir.cfg", &text);
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut weir = Running::spawn(command, port);
    let mut live: Vec<TcpStream> = (0..3).map(|_| client(port)).collect();
    for stream in &mut live {
        echo(stream, b"alive");
    }
    let peers: Vec<String> = live
        .iter()
        .map(|s| format!("{} ", s.local_addr().unwrap()))
        .collect();
    weir.signal(libc::SIGTERM);
    assert!(weir.wait_exit().success());
    let mut out = String::new();
    let mut stdout = weir.0.stdout.take().unwrap();
    stdout.read_to_string(&mut out).unwrap();
    // (The probe connection of `spawn` has a line of its own.)
    for peer in peers {
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with(&peer)).collect();
        assert!(
            lines.len() == 1 && lines[0].contains(" KD "),
            "one KD line for {peer}:\n{out}"
        );
    }
}

#[test]
fn two_loops_write_one_set_of_stop_lines_for_the_process() {
    let scratch = Scratch::new();
    let (port, admin) = (free_port(), free_port());
    let backend = echo_backend();
    let text = format!(
        "global\n nbthread 2\n hard-stop-after 300ms\n \
         stats socket ipv4@127.0.0.1:{admin} level admin\n\
         defaults\n mode tcp\n timeout connect 1s\n timeout client 20s\n \
         timeout server 20s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{backend}\n"
    );
    let path = scratch.file("weir.cfg", &text);
    let log = scratch.path("weir.log");
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut weir = Running::spawn(command, port);
    // Sessions on whichever loops accepted them; the probe of `spawn`
    // has ended once the process counts exactly these.
    let mut held: Vec<TcpStream> = (0..8).map(|_| client(port)).collect();
    for stream in &mut held {
        echo(stream, b"held");
    }
    assert!(
        wait_until(|| cli(admin, "show info").contains("\nCurrConns: 8\n")),
        "weir holds the 8 sessions"
    );
    weir.signal(libc::SIGUSR1);
    assert!(weir.wait_exit().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines =
        |needle: &str| -> Vec<&str> { text.lines().filter(|l| l.contains(needle)).collect() };
    let stopping = lines("listeners closed");
    assert_eq!(stopping.len(), 1, "one line for the process:\n{text}");
    assert!(
        stopping[0].contains("waiting for 8 sessions"),
        "every loop's sessions:\n{text}"
    );
    let killed = lines("hard-stop-after expired");
    assert_eq!(killed.len(), 1, "one line for the process:\n{text}");
    assert!(killed[0].contains("killing 8 sessions."), "{text}");
    assert_eq!(lines("stopping: closing").len(), 1, "{text}");
    for stream in &mut held {
        let mut buf = [0; 8];
        let ended = stream.read(&mut buf);
        assert!(matches!(ended, Ok(0)) || ended.is_err(), "cut: {ended:?}");
    }
}
