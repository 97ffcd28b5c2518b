//! End-to-end: log lines reach syslog over UDP and UNIX datagram sockets,
//! once each, and a syslog nobody reads never holds traffic up.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weir_tests::{Backend, Behavior, Lb, PATIENCE, read_line};

/// A fresh directory for UNIX sockets.
fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("weir-syslog-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Datagrams received until one of each `needles` came (or patience ran out).
fn collect(recv: impl Fn(&mut [u8]) -> Option<usize>, needles: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut got: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline && !needles.iter().all(|n| got.iter().any(|g| g.contains(n))) {
        if let Some(n) = recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

fn one<'a>(lines: &'a [String], needle: &str) -> &'a str {
    let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
    assert_eq!(found.len(), 1, "{needle}: {lines:?}");
    found[0]
}

fn syslog_over_udp_and_unix_gets_tcplog_and_health_lines_once() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let dir = temp_dir();
    let path = dir.join("log.sock");
    let unix = UnixDatagram::bind(&path).unwrap();
    unix.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let up = Backend::start("up", Behavior::Greet);
    let (_refusing, down_port) = Backend::refusing_port();
    let text = format!(
        "global\n  log 127.0.0.1:{} local0\n  log unix@{} local1 notice\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
         frontend fe\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n  server up 127.0.0.1:{}\n\
         server down 127.0.0.1:{down_port} check inter 200ms\n",
        udp.local_addr().unwrap().port(),
        path.display(),
        up.port()
    );
    let lb = Lb::start(&text);
    let mut client = lb.connect();
    assert_eq!(read_line(&mut client).unwrap(), "up");
    drop(client);

    let pid = std::process::id();
    let down = "Server app/down is DOWN, reason: Layer4 connection problem";
    let lines = collect(|b| udp.recv(b).ok(), &[" fe app/up ", down]);
    // local0 (16): info is <134>, alert <129>; `weir[pid]: ` is the tag.
    let session = one(&lines, " fe app/up ");
    assert!(session.starts_with("<134>"), "{session}");
    assert!(
        session.contains(&format!(" weir[{pid}]: 127.0.0.1:")),
        "{session}"
    );
    assert!(
        session.ends_with(" 0/0\n"),
        "one datagram, one newline: {session:?}"
    );
    let health = one(&lines, down);
    assert!(health.starts_with("<129>"), "{health}");
    // The UNIX target takes notice and above: the DOWN line, not sessions.
    let lines = collect(|b| unix.recv(b).ok(), &[down]);
    assert!(one(&lines, down).starts_with("<137>"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains(" fe app/")), "{lines:?}");
    // A target took the DOWN line: no copy on the diagnostic log.
    assert!(
        !lb.logs().iter().any(|l| l.contains("is DOWN")),
        "{:?}",
        lb.logs()
    );
    drop(lb);
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_syslog_nobody_reads_never_holds_traffic_up() {
    let dir = temp_dir();
    // A bound socket nobody reads: its queue fills and lines are dropped.
    let full = UnixDatagram::bind(dir.join("full.sock")).unwrap();
    let echo = Backend::start("echo", Behavior::Greet);
    let text = format!(
        "global\n  log unix@{} local0\n  log unix@{} local0\n  log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n\
         timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
         frontend fe\n  bind 127.0.0.1:9091\n  default_backend app\n\
         backend app\n  server echo 127.0.0.1:{}\n",
        dir.join("full.sock").display(),
        dir.join("missing.sock").display(),
        echo.port()
    );
    let lb = Lb::start(&text);
    for _ in 0..200 {
        let mut client = lb.connect();
        assert_eq!(read_line(&mut client).unwrap(), "echo");
    }
    let ends = || {
        lb.logs()
            .iter()
            .filter(|l| l.contains(" fe app/echo "))
            .count()
    };
    assert!(weir_tests::wait_until(|| ends() == 200), "{}", ends());
    drop(full);
    drop(lb);
    let _ = std::fs::remove_dir_all(&dir);
}

weir_tests::on_both_drivers!(
    syslog_over_udp_and_unix_gets_tcplog_and_health_lines_once,
    a_syslog_nobody_reads_never_holds_traffic_up,
);
