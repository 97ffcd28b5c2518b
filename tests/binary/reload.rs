//! Reload in place over real sockets: clients keep connecting while weir
//! is sent SIGHUP with changed configurations (a server added, one
//! removed, a bad file in between): no connection is refused or reset,
//! the server that never changed never leaves UP, the bad file is
//! reported and the running configuration keeps serving. A `reload` on
//! the stats socket answers the result.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::WEIR;
use super::kit::{Running, Scratch, cli, echo_backend, free_port, wait_until};

/// One echoed exchange through weir; false if anything failed (refused,
/// reset, short).
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

/// The configuration with `servers` (name, port) in backend `app`.
fn config(port: u16, admin: u16, servers: &[(&str, u16)]) -> String {
    let mut text = format!(
        "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
         defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
         backend app\n option log-health-checks\n"
    );
    for (name, server) in servers {
        text.push_str(&format!(
            " server {name} 127.0.0.1:{server} check inter 200ms\n"
        ));
    }
    text
}

#[test]
fn reloads_under_load_refuse_nothing_and_keep_the_unchanged_server_up() {
    let (s1, s2, s3) = (echo_backend(), echo_backend(), echo_backend());
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let file = scratch.file("w.cfg", &config(port, admin, &[("s1", s1), ("s2", s2)]));
    let log = scratch.file("weir.log", "");
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let weir = Running::spawn(command, port);
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let count = |needle: &str| logged().matches(needle).count();
    let status = |server: &str| {
        let stat = cli(admin, "show stat");
        let row = stat
            .lines()
            .find(|l| l.starts_with(&format!("app,{server},")))
            .map(str::to_owned);
        row.map(|r| r.split(',').nth(17).unwrap_or_default().to_owned())
    };
    assert!(wait_until(|| status("s1").as_deref() == Some("UP")));

    // Clients connect in a bounded loop meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
        thread::spawn(move || {
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if exchange(port) {
                    done.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let progress = |from: usize| wait_until(|| done.load(Ordering::SeqCst) >= from + 50);
    // s3 added, s2 removed, a bad file (s1 alone, a typo), s2 back.
    let steps = [
        Some(vec![("s1", s1), ("s2", s2), ("s3", s3)]),
        Some(vec![("s1", s1), ("s3", s3)]),
        None,
        Some(vec![("s1", s1), ("s2", s2)]),
    ];
    let mut reloads = 0;
    for servers in steps {
        let next = match &servers {
            Some(servers) => config(port, admin, servers),
            None => config(port, admin, &[("s1", s1)])
                .replace(" default_backend", " bnd 127.0.0.1:1\n default_backend"),
        };
        std::fs::write(&file, next).unwrap();
        assert!(progress(done.load(Ordering::SeqCst)));
        weir.signal(libc::SIGHUP);
        if servers.is_none() {
            assert!(
                wait_until(|| count("Reload failed: the running configuration is kept.") == 1),
                "the bad file is reported: {}",
                logged()
            );
            assert!(logged().contains("unknown keyword 'bnd'"), "{}", logged());
            assert_eq!(status("s3").as_deref(), Some("UP"), "the old one runs");
        } else {
            reloads += 1;
            assert!(
                wait_until(|| count("Configuration reloaded: ") == reloads),
                "reload {reloads}: {}",
                logged()
            );
        }
        assert!(progress(done.load(Ordering::SeqCst)), "traffic goes on");
    }
    assert_eq!(status("s3"), None, "s3 is gone");
    assert!(wait_until(|| status("s2").as_deref() == Some("UP")));
    // Over the stats socket too.
    let answer = cli(admin, "reload");
    assert!(
        answer.starts_with("Success=1\n--\nConfiguration reloaded: "),
        "{answer}"
    );
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no refused or reset connection"
    );
    assert!(done.load(Ordering::SeqCst) >= 250);
    let said = logged();
    assert!(
        !said.contains("Server app/s1 is DOWN"),
        "s1 never left UP: {said}"
    );
    assert_eq!(status("s1").as_deref(), Some("UP"));
}
