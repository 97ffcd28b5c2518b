//! The runtime API and the metrics over real sockets: a stats-socket
//! client drains, maintains and re-enables a server while clients keep
//! connecting; no connection fails, and `show stat` agrees with what the
//! servers saw.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::kit::{Running, Scratch, cli, echo_backend, free_port, wait_until};

/// The `column` of row `px,sv` in `show stat`.
fn stat(port: u16, px: &str, sv: &str, column: &str) -> String {
    let text = cli(port, "show stat");
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let index = header.iter().position(|c| *c == column).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("{px},{sv},")))
        .unwrap_or_else(|| panic!("no {px}/{sv} in {text}"));
    row.split(',').nth(index).unwrap().to_owned()
}

/// One echoed exchange through weir; false if anything failed.
fn exchange(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    if stream.write_all(b"ping").is_err() || stream.shutdown(Shutdown::Write).is_err() {
        return false;
    }
    let mut back = Vec::new();
    stream.read_to_end(&mut back).is_ok() && back == b"ping"
}

#[test]
fn a_server_drained_and_maintained_at_run_time_loses_no_client() {
    let (s1, s2) = (echo_backend(), echo_backend());
    let (port, admin, pages) = (free_port(), free_port(), free_port());
    let scratch = Scratch::new();
    let config = scratch.file(
        "w.cfg",
        &format!(
            "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s1 127.0.0.1:{s1}\n server s2 127.0.0.1:{s2}\n\
             frontend pages\n mode http\n bind 127.0.0.1:{pages}\n \
             http-request use-service prometheus-exporter if {{ path /metrics }}\n"
        ),
    );
    let _weir = Running::quiet(&config, port);
    assert!(wait_until(
        || TcpStream::connect(("127.0.0.1", admin)).is_ok()
    ));

    // Clients connect one after another for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients = {
        let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
        thread::spawn(move || {
            for _ in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let counter = if exchange(port) { &done } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let progress = |n: usize| {
        let target = done.load(Ordering::Relaxed) + n;
        assert!(
            wait_until(|| done.load(Ordering::Relaxed) >= target),
            "clients stalled"
        );
    };
    progress(20);

    assert_eq!(cli(admin, "set server app/s1 state drain"), "\n");
    assert_eq!(stat(admin, "app", "s1", "status"), "DRAIN");
    let before = stat(admin, "app", "s1", "stot");
    progress(20);
    assert_eq!(
        stat(admin, "app", "s1", "stot"),
        before,
        "a drained server takes no session"
    );

    assert_eq!(cli(admin, "set server app/s1 state maint"), "\n");
    assert_eq!(stat(admin, "app", "s1", "status"), "MAINT");
    progress(20);
    assert_eq!(stat(admin, "app", "s1", "stot"), before);

    assert_eq!(cli(admin, "set server app/s1 state ready"), "\n");
    assert!(
        wait_until(|| {
            progress(2);
            stat(admin, "app", "s1", "stot") != before
        }),
        "s1 takes sessions again"
    );
    stop.store(true, Ordering::Relaxed);
    clients.join().unwrap();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no client saw a failure");

    // What the servers saw is what `show stat` says.
    let total: u64 = ["s1", "s2"]
        .iter()
        .map(|s| stat(admin, "app", s, "stot").parse::<u64>().unwrap())
        .sum();
    // Plus the connection `Running` made to see weir listen.
    assert_eq!(total, done.load(Ordering::Relaxed) as u64 + 1);

    // The same numbers through the metrics.
    let mut scrape = TcpStream::connect(("127.0.0.1", pages)).unwrap();
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut metrics = String::new();
    scrape.read_to_string(&mut metrics).unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    let line = format!("haproxy_backend_sessions_total{{proxy=\"app\"}} {total}");
    assert!(metrics.contains(&line), "{line} in {metrics}");
}
