//! `nbthread 2`: two event loops, one behaviour. Traffic flows through
//! both, a server that dies goes DOWN on every loop (with no retry nor
//! redispatch to hide a loop that did not hear of it), `show stat` adds
//! the loops up, the server's and the global `maxconn` hold across loops
//! exactly (tokens of one pool), passive checks count every loop's
//! failed connections, `roundrobin`'s weights hold connection by
//! connection, a reload reaches every loop, and without
//! `nbthread` weir runs one loop per CPU it may run on.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::WEIR;
use super::kit::{PATIENCE, Running, Scratch, cli, free_port, wait_until};

/// Field `field` (0-based) of `show stat`'s row `proxy,name`.
fn stat(admin: u16, proxy: &str, name: &str, field: usize) -> Option<String> {
    let stat = cli(admin, "show stat");
    let row = stat
        .lines()
        .find(|l| l.starts_with(&format!("{proxy},{name},")))?;
    row.split(',').nth(field).map(str::to_owned)
}

/// A server that answers every connection with `tag` then closes,
/// until `dead` is set (its socket closes: connects are refused).
fn tagged(tag: &'static [u8]) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dead = Arc::new(AtomicBool::new(false));
    let flag = dead.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(mut stream) = stream {
                let _ = stream.write_all(tag);
            }
        }
    });
    (port, dead)
}

/// Kills a [`tagged`] server: its socket closes.
fn kill(port: u16, dead: &AtomicBool) {
    dead.store(true, Ordering::SeqCst);
    // Wakes its accept so that it sees the flag and drops the socket.
    let _ = TcpStream::connect(("127.0.0.1", port));
    assert!(
        wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_err()),
        "the server died"
    );
}

/// What one connection through weir got back.
fn fetch(port: u16) -> Vec<u8> {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return b"refused".to_vec();
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

fn spawn(file: &std::path::Path, port: u16, log: &std::path::Path) -> Running {
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    Running::spawn(command, port)
}

#[test]
fn two_loops_share_traffic_health_and_counters() {
    let ((a, a_dead), (b, _b_dead)) = (tagged(b"A"), tagged(b"B"));
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n nbthread 2\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n \
             timeout server 10s\n retries 0\n no option redispatch\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server a 127.0.0.1:{a} check inter 100ms fall 1\n \
             server b 127.0.0.1:{b} check inter 100ms\n"
        ),
    );
    let log = scratch.path("weir.log");
    let _weir = spawn(&file, port, &log);
    let info = cli(admin, "show info");
    assert!(info.contains("Nbthread: 2\n"), "{info}");

    // The one connection of weir's readiness probe (`Running::spawn`).
    assert!(wait_until(
        || stat(admin, "fe", "FRONTEND", 7).as_deref() == Some("1")
    ));
    let before = 1;
    let mut tags = [0usize; 2];
    for _ in 0..200 {
        match fetch(port).as_slice() {
            b"A" => tags[0] += 1,
            b"B" => tags[1] += 1,
            other => panic!("unexpected {:?}", String::from_utf8_lossy(other)),
        }
    }
    assert!(tags[0] > 0 && tags[1] > 0, "both servers serve: {tags:?}");
    // `stot` adds up both loops' sessions (followers report every 250 ms).
    let total = before + 200;
    assert!(
        wait_until(|| stat(admin, "fe", "FRONTEND", 7) == Some(total.to_string())),
        "fe stot {:?}, want {total}",
        stat(admin, "fe", "FRONTEND", 7)
    );
    assert!(wait_until(|| {
        let (sa, sb) = (stat(admin, "app", "a", 7), stat(admin, "app", "b", 7));
        let sum = |x: Option<String>| x.and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        sum(sa) + sum(sb) >= 200
    }));

    kill(a, &a_dead);
    assert!(
        wait_until(|| stat(admin, "app", "a", 17).as_deref() == Some("DOWN")),
        "a goes DOWN"
    );
    // Every loop heard of it: no connection goes to a (it would be
    // refused, and neither retries nor redispatch would hide it).
    for i in 0..200 {
        assert_eq!(fetch(port), b"B", "connection {i}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.matches("Server app/a is DOWN").count(),
        1,
        "one check, one line: {logged}"
    );
}

/// `observe layer4 error-limit 6`: six refused connections in a row,
/// whichever loops accepted them, mark the server DOWN (loop 0 counts
/// what the other loop reports). Counting loop 0's alone, the server
/// would stay UP unless all six landed there.
#[test]
fn passive_checks_count_every_loops_failed_connections() {
    let check = super::kit::echo_backend();
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n nbthread 2\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n \
             timeout server 10s\n retries 0\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s1 127.0.0.1:1 check port {check} inter 10s \
             observe layer4 error-limit 6 on-error mark-down\n"
        ),
    );
    let log = scratch.path("weir.log");
    // Ready once the stats socket answers: no probe through `fe`.
    let _weir = spawn(&file, admin, &log);
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    for i in 0..6 {
        assert!(
            !logged().contains("is DOWN"),
            "before connection {i}: {}",
            logged()
        );
        // Refused by the server: weir closes the client with nothing.
        assert_eq!(fetch(port), b"", "connection {i}");
    }
    assert!(
        wait_until(|| logged().contains("Server app/s1 is DOWN")),
        "six errors in a row over both loops: {}",
        logged()
    );
    assert!(
        logged().contains(
            "Server app/s1 is DOWN, reason: Health analyze, info: \"Detected 6 consecutive \
             errors, last one was: L4 unsuccessful connection\""
        ),
        "{}",
        logged()
    );
    // `hanafail`: the limit was reached once.
    assert_eq!(stat(admin, "app", "s1", 45).as_deref(), Some("1"));
}

/// `roundrobin` with weights 2:1 over two loops takes the process's
/// turns: connections one after the other, whichever loop accepts each,
/// go A, B, A, A, B, A, … (HAProxy's order), so 60 of them are exactly
/// 40 and 20, with B every third. Turns of each loop's own would pair
/// up As or Bs whenever the accepting loop changes out of step.
#[test]
fn roundrobin_weights_hold_across_loops_connection_by_connection() {
    let ((a, _a_dead), (b, _b_dead)) = (tagged(b"A"), tagged(b"B"));
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n nbthread 2\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n \
             timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n balance roundrobin\n server a 127.0.0.1:{a} weight 2\n \
             server b 127.0.0.1:{b} weight 1\n"
        ),
    );
    let _weir = spawn(&file, port, &scratch.path("weir.log"));
    // The readiness probe's session took its turn first.
    assert!(wait_until(
        || stat(admin, "fe", "FRONTEND", 7).as_deref() == Some("1")
    ));
    let mut order = String::new();
    for _ in 0..60 {
        match fetch(port).as_slice() {
            b"A" => order.push('A'),
            b"B" => order.push('B'),
            other => panic!("unexpected {:?}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!(order.matches('A').count(), 40, "{order}");
    let first = order.find('B').expect("b serves");
    for (i, c) in order.char_indices() {
        assert_eq!(c == 'B', i % 3 == first % 3, "turn {i}: {order}");
    }
}

/// A backend that echoes, holding each connection a little, and records
/// how many it held at once at most.
fn counting() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, m) = (now.clone(), most.clone());
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (n, m) = (n.clone(), m.clone());
            thread::spawn(move || {
                let held = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(held, Ordering::SeqCst);
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(PATIENCE));
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).is_ok() {
                    thread::sleep(Duration::from_millis(30));
                    n.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.write_all(&byte);
                } else {
                    n.fetch_sub(1, Ordering::SeqCst);
                }
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    (port, now, most)
}

/// Runs weir with `nbthread 2` in front of a [`counting`] server, with
/// `global` and `server` settings, sends it `clients` clients at once
/// and returns how many were served and how many connections the server
/// held at once at most.
fn crowd(global: &str, server: &str, clients: usize) -> (usize, usize) {
    let (backend, _, most) = counting();
    let port = free_port();
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n nbthread 2\n{global}\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 20s\n \
             timeout server 20s\n timeout queue 20s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s 127.0.0.1:{backend} {server}\n"
        ),
    );
    let _weir = spawn(&file, port, &scratch.path("weir.log"));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..clients)
        .map(|_| {
            let served = served.clone();
            thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                stream.write_all(b"x").unwrap();
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).is_ok() && byte == *b"x" {
                    served.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    (served.load(Ordering::SeqCst), most.load(Ordering::SeqCst))
}

#[test]
fn a_servers_maxconn_holds_across_loops() {
    let (served, most) = crowd("", "maxconn 2", 16);
    assert_eq!(served, 16, "every client served");
    assert!((1..=2).contains(&most), "at most maxconn at once: {most}");
}

/// `maxconn 1` is below the loops' count: whichever loop accepted a
/// client, it is served as soon as the server is free (a split of the
/// limit would leave one loop's clients queued until `timeout queue`).
#[test]
fn a_server_with_maxconn_1_serves_every_loops_clients_one_at_a_time() {
    let (served, most) = crowd("", "maxconn 1", 40);
    assert_eq!(served, 40, "every client served");
    assert_eq!(most, 1, "one connection at a time");
}

#[test]
fn the_global_maxconn_holds_across_loops() {
    let (served, most) = crowd(" maxconn 3\n", "", 24);
    assert_eq!(served, 24, "every client served");
    assert!((1..=3).contains(&most), "at most maxconn at once: {most}");
}

#[test]
fn a_reload_reaches_every_loop() {
    let ((a, _a_dead), (b, _b_dead)) = (tagged(b"A"), tagged(b"B"));
    let (port, admin, second) = (free_port(), free_port(), free_port());
    let config = |server: u16, extra: &str| {
        format!(
            "global\n nbthread 2\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n \
             timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s 127.0.0.1:{server}\n{extra}"
        )
    };
    let scratch = Scratch::new();
    let file = scratch.file("w.cfg", &config(a, ""));
    let log = scratch.path("weir.log");
    let weir = spawn(&file, port, &log);
    assert!((0..20).all(|_| fetch(port) == b"A"));
    // The server moves, and a second frontend comes.
    let extra = format!("frontend fe2\n bind 127.0.0.1:{second}\n default_backend app\n");
    std::fs::write(&file, config(b, &extra)).unwrap();
    weir.signal(libc::SIGHUP);
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(|| logged().matches("Configuration reloaded: ").count() == 1),
        "{}",
        logged()
    );
    // Every loop runs the new configuration: both listeners, the new
    // address, whichever loop accepts.
    for i in 0..100 {
        assert_eq!(fetch(port), b"B", "fe, connection {i}");
        assert_eq!(fetch(second), b"B", "fe2, connection {i}");
    }
    let stot = |name| stat(admin, name, "FRONTEND", 7);
    assert!(wait_until(|| stot("fe2").as_deref() == Some("100")));
    // A stop stops every loop.
    let mut weir = weir;
    weir.signal(libc::SIGTERM);
    assert!(weir.wait_exit().success());
}

#[test]
fn a_soft_stop_reaches_every_loop() {
    let echo = super::kit::echo_backend();
    let port = free_port();
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n nbthread 2\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 20s\n \
             timeout server 20s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s 127.0.0.1:{echo}\n"
        ),
    );
    let mut weir = spawn(&file, port, &scratch.path("weir.log"));
    // Sessions held open, on whichever loops accepted them.
    let mut held: Vec<TcpStream> = (0..8).map(|_| super::kit::client(port)).collect();
    for stream in &mut held {
        super::kit::echo(stream, b"ping");
    }
    weir.signal(libc::SIGUSR1);
    // Every loop stops accepting: the one socket closes once every loop
    // let go of it.
    assert!(
        wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_err()),
        "a loop still accepts"
    );
    assert!(weir.running(), "sessions are left");
    for stream in &mut held {
        super::kit::echo(stream, b"still");
    }
    drop(held);
    assert!(weir.wait_exit().success());
}

/// The CPUs this process may run on, as weir counts them by default.
fn cpus_enabled() -> usize {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set, filled by the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        libc::CPU_COUNT(&set) as usize
    }
}

/// `show info`'s `Nbthread` of weir started without `nbthread`, limited to
/// the first CPU it may run on when `one_cpu`.
fn default_nbthread(one_cpu: bool) -> String {
    use std::os::unix::process::CommandExt;
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n \
             timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s 127.0.0.1:1\n"
        ),
    );
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if one_cpu {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
                let first = (0..libc::CPU_SETSIZE as usize)
                    .find(|&c| libc::CPU_ISSET(c, &set))
                    .unwrap_or(0);
                libc::CPU_ZERO(&mut set);
                libc::CPU_SET(first, &mut set);
                match libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    }
    let _weir = Running::spawn(command, admin);
    let info = cli(admin, "show info");
    let line = info.lines().find(|l| l.starts_with("Nbthread: "));
    line.expect("Nbthread in show info").to_owned()
}

#[test]
fn nbthread_defaults_to_the_cpus_weir_may_run_on() {
    let cpus = cpus_enabled().min(64);
    assert_eq!(default_nbthread(false), format!("Nbthread: {cpus}"));
    assert_eq!(
        default_nbthread(true),
        "Nbthread: 1",
        "as taskset -c 0 runs it"
    );
}
