//! Spliced sessions (`option splice-request`, `option splice-response`,
//! `splice-auto`): bytes moved by the kernel arrive whole, their count is
//! in the log line, half-closes and server resets behave as without
//! splicing; `nosplice` keeps every byte in weir. Whether weir spliced is
//! seen from outside by the pipes it holds (`/proc/PID/fd`): the pool
//! keeps a few once used.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

use super::kit::{Running, Scratch, Syslog, cli, client, free_port, wait_until};

/// Bytes sent each way through a session.
const BULK: usize = 8 << 20;

/// A configuration with a stats socket on `admin`, which tells when weir
/// is up without a connection through the proxy.
fn config(
    syslog: u16,
    (port, admin): (u16, u16),
    global: &str,
    proxy: &str,
    backend: u16,
) -> String {
    format!(
        "global\n log 127.0.0.1:{syslog} local0\n stats socket ipv4@127.0.0.1:{admin}\n{global}\
         defaults\n mode tcp\n log global\n option tcplog\n timeout connect 2s\n\
         timeout client 10s\n timeout server 10s\n\
         listen fe\n bind 127.0.0.1:{port}\n{proxy} server s1 127.0.0.1:{backend}\n"
    )
}

/// Kernel pipes weir holds now.
fn pipes(weir: &Running) -> usize {
    let dir = format!("/proc/{}/fd", weir.0.id());
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

/// `len` bytes that differ from one position to the next.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A backend that echoes one connection, then closes its side.
fn echo_once() -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = stream.try_clone().unwrap();
        let mut writer = stream;
        std::io::copy(&mut reader, &mut writer).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    (port, server)
}

/// Sends [`BULK`] bytes through weir on `port` to an echo, half-closes,
/// and checks they all come back, then the end of the stream.
fn echo_bulk(port: u16) {
    let data = pattern(BULK);
    let mut stream = client(port);
    let mut reader = stream.try_clone().unwrap();
    let receiver = thread::spawn(move || {
        let mut got = Vec::with_capacity(BULK);
        reader.read_to_end(&mut got).map(|_| got)
    });
    stream.write_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let got = receiver.join().unwrap().expect("a FIN after the echo");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes, whole and in order");
}

/// One echoed bulk session on a weir with `global` and `proxy` lines;
/// returns its log line and the pipes weir held before and after.
fn spliced_session(global: &str, proxy: &str) -> (String, usize, usize) {
    let (backend, server) = echo_once();
    let syslog = Syslog::new();
    let (port, admin) = (free_port(), free_port());
    let text = config(syslog.port(), (port, admin), global, proxy, backend);
    let scratch = Scratch::new();
    let weir = Running::quiet(&scratch.file("w.cfg", &text), admin);
    let before = pipes(&weir);
    echo_bulk(port);
    server.join().unwrap();
    let line = syslog.wait_for(&format!(" {BULK} "));
    (line, before, pipes(&weir))
}

#[test]
fn bulk_bytes_through_a_spliced_session_arrive_whole_and_are_logged() {
    let (line, before, after) =
        spliced_session("", " option splice-request\n option splice-response\n");
    assert!(line.contains(&format!(" {BULK} -- ")), "{line}");
    assert!(
        after > before,
        "spliced through pipes: {before} then {after}"
    );
}

#[test]
fn splice_auto_is_on_by_default_and_nosplice_turns_it_off() {
    let (line, before, after) = spliced_session("", "");
    assert!(line.contains(" -- "), "{line}");
    assert!(after > before, "bulk streams are spliced by default");
    let (line, before, after) = spliced_session(" nosplice\n", " option splice-auto\n");
    assert!(line.contains(" -- "), "{line}");
    assert_eq!(before, after, "nosplice: no pipe");
    let (_, before, after) = spliced_session(" maxpipes 4\n", " no option splice-auto\n");
    assert_eq!(before, after, "no option splice-auto: no pipe");
}

#[test]
fn show_info_counts_the_pipes_of_the_splice_pool() {
    let (backend, server) = echo_once();
    let syslog = Syslog::new();
    let (port, admin) = (free_port(), free_port());
    let text = config(syslog.port(), (port, admin), " maxpipes 6\n", "", backend);
    let scratch = Scratch::new();
    let weir = Running::quiet(&scratch.file("w.cfg", &text), admin);
    let info = cli(admin, "show info");
    assert!(info.contains("\nMaxpipes: 6\n"), "{info}");
    assert!(info.contains("\nPipesUsed: 0\nPipesFree: 0\n"), "{info}");
    echo_bulk(port);
    server.join().unwrap();
    syslog.wait_for(&format!(" {BULK} "));
    // Two descriptors a pipe; the pool keeps the session's pipes.
    let kept = pipes(&weir) / 2;
    assert!(kept > 0, "spliced");
    let free = format!("\nPipesUsed: 0\nPipesFree: {kept}\n");
    let mut info = String::new();
    let shown = wait_until(|| {
        info = cli(admin, "show info");
        info.contains(&free)
    });
    assert!(shown, "{kept} free pipes: {info}");
}

#[test]
fn a_server_that_resets_mid_splice_is_logged_sd_after_its_bytes() {
    let reply = pattern(4 << 20);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap().port();
    let sent = reply.clone();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 7];
        stream.read_exact(&mut request).unwrap();
        stream.write_all(&sent).unwrap();
        // An abortive close drops what the kernel has not sent yet.
        assert!(wait_until(|| unsent(&stream) == 0), "the reply left");
        reset(stream);
    });
    let syslog = Syslog::new();
    let (port, admin) = (free_port(), free_port());
    let proxy = " option splice-response\n";
    let text = config(syslog.port(), (port, admin), "", proxy, backend);
    let scratch = Scratch::new();
    let _weir = Running::quiet(&scratch.file("w.cfg", &text), admin);
    let mut stream = client(port);
    stream.write_all(b"request").unwrap();
    let mut got = Vec::new();
    let end = stream.read_to_end(&mut got);
    server.join().unwrap();
    assert!(end.is_ok(), "a FIN, not a reset: {end:?}");
    assert_eq!(got.len(), reply.len());
    assert!(got == reply, "the reply, whole and in order");
    let line = syslog.wait_for(" SD ");
    assert!(line.contains(&format!(" {} SD ", reply.len())), "{line}");
}

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

/// The pipe fills while the server reads slowly, the writes to it would
/// block, then it drains: the client's side is read again each time, to
/// the last byte.
#[test]
fn a_slow_server_gets_every_spliced_byte() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let (mut buf, mut got) = (vec![0u8; 16 * 1024], 0usize);
        loop {
            match stream.read(&mut buf).unwrap() {
                0 => break,
                n => got += n,
            }
            thread::sleep(Duration::from_micros(200));
        }
        stream.write_all(got.to_string().as_bytes()).unwrap();
    });
    let syslog = Syslog::new();
    let (port, admin) = (free_port(), free_port());
    let proxy = " option splice-request\n";
    let text = config(syslog.port(), (port, admin), "", proxy, backend);
    let scratch = Scratch::new();
    let _weir = Running::quiet(&scratch.file("w.cfg", &text), admin);
    let mut stream = client(port);
    stream.write_all(&pattern(BULK)).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    server.join().unwrap();
    assert_eq!(reply, BULK.to_string());
}
