//! A weir binary as a process: command line, exit codes, messages,
//! signals.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::kit::{Running, Scratch, echo_backend, free_port, wait_until};
use super::{NAME, WEIR};

fn weir(args: &[&str]) -> Output {
    Command::new(WEIR).args(args).output().expect("weir runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const VALID: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
                     frontend fe\n bind 127.0.0.1:PORT\n default_backend be\n\
                     backend be\n server s1 127.0.0.1:1\n";

#[test]
fn check_mode_accepts_a_valid_configuration() {
    let scratch = Scratch::new();
    let path = scratch.file("valid.cfg", &VALID.replace("PORT", "9"));
    let out = weir(&["-c", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Configuration file is valid\n"
    );
}

#[test]
fn check_mode_lists_every_error_with_file_and_line() {
    let text = VALID
        .replace("PORT", "9")
        .replace("127.0.0.1:1", "127.0.0.1:1 chek")
        + " mode http\n";
    let scratch = Scratch::new();
    let path = scratch.file("bad.cfg", &text);
    let file = path.to_str().unwrap();
    let out = weir(&["-c", "-f", file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "[ALERT] {file}:10: unknown keyword 'chek' in server line (did you mean 'check'?)"
            ),
            format!(
                "[ALERT] {file}:11: backend 'be' is in 'mode http' with servers to proxy to: weir \
                 is a layer-4 balancer: mode http is accepted only for a stats/metrics frontend; \
                 set 'mode tcp' to proxy TCP"
            ),
            "[ALERT] Fatal errors found in configuration.".to_owned(),
        ]
    );
}

#[test]
fn missing_file_is_an_error() {
    let out = weir(&["-c", "-f", "/nonexistent/weir.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "[ALERT] Cannot open configuration file/directory /nonexistent/weir.cfg : No such file"
        ),
        "HAProxy 2.6.12's wording"
    );
}

#[test]
fn version_help_and_bad_options() {
    let out = weir(&["-v"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("{NAME} version ")));
    let out = weir(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-f FILE"));
    let out = weir(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with(&format!("{NAME}: unknown option '--frobnicate'")));
    let out = weir(&[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn dash_vv_prints_how_weir_was_built() {
    let out = weir(&["-vv"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let driver = if NAME == "weir" { "mio" } else { "smol" };
    for needle in [
        format!("{NAME} version {}\n", env!("CARGO_PKG_VERSION")),
        format!("\n  DRIVER  = {driver} "),
        "\nBuilt with rustls 0.".to_owned(),
        ", crypto provider ring 0.".to_owned(),
        "\nBuilt with regex 1.".to_owned(),
        "\nBuilt with multi-threading support (MAX_THREADS=64, default=".to_owned(),
        "\nFeature list : +EPOLL ".to_owned(),
        " +THREAD -CPU_AFFINITY ".to_owned(),
        "\nBuilt without CPU pinning (-CPU_AFFINITY: no 'cpu-map'); the default counts the \
         CPUs of the process's affinity mask.\n"
            .to_owned(),
        "\nDescriptor limit : ".to_owned(),
    ] {
        assert!(text.contains(&needle), "no '{needle}' in:\n{text}");
    }
}

#[test]
fn weir_says_what_it_started_with() {
    let scratch = Scratch::new();
    let log = scratch.file("weir.log", "");
    let stderr = std::fs::File::create(&log).unwrap();
    let checked = |t: String| t.trim_end().to_owned() + " check\n";
    let (_weir, port) = start(&scratch, checked, |command| {
        command.stdout(Stdio::null()).stderr(stderr);
    });
    let config = scratch.path("weir.cfg");
    let expected = format!(
        "{NAME} {} started: config {}; listening on 127.0.0.1:{port} (fe); checking 1 server \
         in 1 backend; maxconn ",
        env!("CARGO_PKG_VERSION"),
        config.display()
    );
    let said = || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(&expected));
    assert!(wait_until(said), "no start-up line '{expected}'");
}

/// Starts weir in front of an echo server on a free port, with `VALID`
/// (changed by `edit`) as its configuration; `output` sets up the rest of
/// the command (its output, its limits).
fn start(
    scratch: &Scratch,
    edit: impl FnOnce(String) -> String,
    output: impl FnOnce(&mut Command),
) -> (Running, u16) {
    let port = free_port();
    let text = VALID
        .replace("127.0.0.1:1\n", &format!("127.0.0.1:{}\n", echo_backend()))
        .replace("PORT", &port.to_string());
    let path = scratch.file("weir.cfg", &edit(text));
    let mut command = Command::new(WEIR);
    command.args(["-f", path.to_str().unwrap()]);
    output(&mut command);
    (Running::spawn(command, port), port)
}

fn quiet(command: &mut Command) {
    command.stdout(Stdio::null()).stderr(Stdio::null());
}

/// One round trip through weir.
fn ping(port: u16) -> std::io::Result<[u8; 4]> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(b"ping")?;
    let mut buf = [0; 4];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

#[test]
fn sigterm_and_sigint_stop_weir_with_status_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let (scratch, port) = (Scratch::new(), free_port());
        let path = scratch.file("weir.cfg", &VALID.replace("PORT", &port.to_string()));
        let mut weir = Running::quiet(&path, port);
        weir.signal(signal);
        let status = weir.wait_exit();
        assert!(status.success(), "{status:?}");
    }
}

/// Runs weir with at most `fds` descriptors (soft and hard limit), its
/// standard error to `log`.
fn low_fd_limit(command: &mut Command, fds: libc::rlim_t, log: &std::path::Path) {
    let stderr = std::fs::File::create(log).unwrap();
    command.stdout(Stdio::null()).stderr(stderr);
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's
    // descriptor limit before exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: fds,
                rlim_max: fds,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_wedges_weir() {
    let scratch = Scratch::new();
    let log = scratch.file("weir.log", "");
    // A `maxconn` the descriptors cannot hold: weir warns, then runs out.
    let (mut weir, port) = start(
        &scratch,
        |t| format!("global\n maxconn 1000\n{t}"),
        |command| low_fd_limit(command, 48, &log),
    );
    let said = |needle: &str| std::fs::read_to_string(&log).is_ok_and(|l| l.contains(needle));
    assert!(
        wait_until(|| said("FD limit (48) too low for maxconn=1000/maxsock=")),
        "no warning about maxconn"
    );
    // Far more connections than weir has descriptors for.
    let flood: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    // weir says it ran out, once, and pauses accepting instead of spinning.
    assert!(
        wait_until(|| said("reached the process FD limit")),
        "no FD-limit message"
    );
    drop(flood);
    // Once descriptors are free again, weir serves new clients.
    assert!(
        wait_until(|| ping(port).is_ok_and(|b| &b == b"ping")),
        "weir never recovered"
    );
    assert!(weir.running(), "weir is still running");
}

#[test]
fn without_maxconn_a_low_descriptor_limit_keeps_checks_up_and_makes_clients_wait() {
    let scratch = Scratch::new();
    let log = scratch.file("weir.log", "");
    let second = echo_backend();
    let checked = |t: String| {
        t.trim_end().to_owned()
            + &format!(" check inter 1s\n server s2 127.0.0.1:{second} check inter 1s\n")
    };
    let (mut weir, port) = start(&scratch, checked, |command| low_fd_limit(command, 64, &log));
    let said = |needle: &str| std::fs::read_to_string(&log).is_ok_and(|l| l.contains(needle));
    // A maxconn that leaves descriptors for weir, its listener and its
    // two checks (how many weir itself holds depends on the driver).
    assert!(
        wait_until(|| said("started: config") && said("(from the descriptor limit 64)")),
        "no start-up line with the derived maxconn"
    );
    // 200 clients at once, each holding its session a little: those past
    // maxconn wait to be accepted while the checks go on.
    let clients: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut s = TcpStream::connect(("127.0.0.1", port))?;
                s.set_read_timeout(Some(Duration::from_secs(60)))?;
                let msg = format!("client {i:03}\n");
                s.write_all(msg.as_bytes())?;
                let mut got = vec![0; msg.len()];
                s.read_exact(&mut got)?;
                assert_eq!(got, msg.as_bytes());
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let served = client.join().expect("client thread");
        assert!(served.is_ok(), "client {i}: {served:?}");
    }
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.contains("is DOWN"),
        "a healthy server went DOWN:\n{logs}"
    );
    assert!(
        !logs.contains("FD limit"),
        "weir ran out of descriptors:\n{logs}"
    );
    assert!(weir.running(), "weir is still running");
}

#[test]
fn a_burst_larger_than_one_accept_batch_is_served_without_new_arrivals() {
    let scratch = Scratch::new();
    let (mut weir, port) = start(&scratch, |t| t, quiet);
    // Frozen, weir cannot accept: the kernel completes every handshake and
    // queues the connections, so weir wakes up once to a backlog of 200 and
    // no later arrival prods it again (readiness is edge-triggered).
    weir.signal(libc::SIGSTOP);
    let mut clients: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    weir.signal(libc::SIGCONT);
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let msg = format!("client {i:03}\n");
        client.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0; msg.len()];
        client
            .read_exact(&mut got)
            .unwrap_or_else(|e| panic!("client {i} was never served: {e}"));
        assert_eq!(got, msg.as_bytes());
    }
    assert!(weir.running(), "weir is still running");
}

#[test]
fn nobody_reading_the_traffic_log_does_not_stop_weir() {
    let scratch = Scratch::new();
    let logged = |text: String| {
        format!(
            "global\n log stdout format raw local0\n{}",
            text.replace("defaults\n", "defaults\n log global\n option tcplog\n")
        )
    };
    let (mut weir, port) = start(&scratch, logged, |command| {
        command.stdout(Stdio::piped()).stderr(Stdio::null());
    });
    // Whoever read weir's stdout is gone: writes fail with EPIPE.
    drop(weir.0.stdout.take());
    assert!(wait_until(|| ping(port).is_ok()), "weir never served");
    // Each session ends with a tcplog line weir cannot write.
    for _ in 0..20 {
        assert_eq!(&ping(port).expect("weir still serves"), b"ping");
    }
    assert!(weir.running(), "weir is still running");
}
