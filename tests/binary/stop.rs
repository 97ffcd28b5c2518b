//! What only the driver shows: a SIGUSR1 soft stop that lets a live
//! session finish, `hard-stop-after` cutting one, `option nolinger`
//! resetting a client, and SIGTERM heard while weir is busy.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{NAME, WEIR};
const PATIENCE: Duration = Duration::from_secs(30);

/// Kills the child by PID if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn signal(&self, signal: libc::c_int) {
        let pid = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) on the PID of a child this test spawned.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "weir did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

/// An echo server on a thread.
fn echo_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
                let _ = writer.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{NAME}-stop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts weir in front of an echo server; `extra` goes in `defaults`,
/// `global` in `global`. Returns weir and its port once it listens.
fn start(name: &str, global: &str, extra: &str) -> (Running, u16) {
    let port = free_port();
    let backend = echo_backend();
    let text = format!(
        "global\n{global}defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n \
         timeout server 10s\n{extra}frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{backend}\n"
    );
    let path = config_file(name, &text);
    let weir = Running(
        Command::new(WEIR)
            .args(["-f", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "weir never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    (weir, port)
}

fn echo(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

fn client(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Waits until connecting to `port` is refused: the listener is gone.
fn wait_refused(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "weir still accepts");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigusr1_stops_accepting_lets_the_live_session_finish_then_exits_zero() {
    let (mut weir, port) = start("soft.cfg", "", "");
    let mut live = client(port);
    echo(&mut live, b"before");
    weir.signal(libc::SIGUSR1);
    wait_refused(port);
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
    let (mut weir, port) = start("hard.cfg", " hard-stop-after 500ms\n", "");
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
    let (_weir, port) = start(
        "nolinger.cfg",
        "",
        " option nolinger\n timeout client 200ms\n",
    );
    let mut idle = client(port);
    let mut buf = [0; 16];
    let err = idle.read(&mut buf).expect_err("an RST, not a FIN");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);

    let (_weir, port) = start("linger.cfg", "", " timeout client 200ms\n");
    let mut idle = client(port);
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "a FIN");
}

#[test]
fn sigterm_stops_weir_while_it_is_busy_moving_bytes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let (mut weir, port) = start("busy.cfg", "", "");
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
    let deadline = Instant::now() + PATIENCE;
    while echoed.load(Ordering::Relaxed) < 16 << 20 {
        assert!(Instant::now() < deadline, "the clients' bytes never flowed");
        std::thread::sleep(Duration::from_millis(10));
    }
    weir.signal(libc::SIGTERM);
    assert!(weir.wait_exit().success());
}
