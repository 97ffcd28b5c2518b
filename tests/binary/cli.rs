//! A weir binary as a process: command line, exit codes, messages,
//! signals.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{NAME, WEIR};

fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{NAME}-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

fn weir(args: &[&str]) -> Output {
    Command::new(WEIR).args(args).output().expect("weir runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const VALID: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
                     frontend fe\n bind 127.0.0.1:PORT\n default_backend be\n\
                     backend be\n server s1 127.0.0.1:1\n";

#[test]
fn check_mode_accepts_a_valid_configuration() {
    let path = write_config("valid.cfg", &VALID.replace("PORT", "9"));
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
    let path = write_config("bad.cfg", &text);
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
                "[ALERT] {file}:11: 'mode http': weir is a TCP load balancer: only 'mode tcp' is supported"
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
        stderr(&out).starts_with("[ALERT] Could not open configuration file /nonexistent/weir.cfg")
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

/// Kills the child by PID if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn start(port: u16) -> Running {
    let path = write_config(
        &format!("run-{port}.cfg"),
        &VALID.replace("PORT", &port.to_string()),
    );
    let child = Command::new(WEIR)
        .args(["-db", "-f", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "weir never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    Running(child)
}

#[test]
fn sigterm_and_sigint_stop_weir_with_status_zero() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut weir = start(free_port());
        let pid = weir.0.id() as libc::pid_t;
        // SAFETY: kill(2) on the PID of a child this test spawned.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = wait_exit(&mut weir.0).expect("weir exits");
        assert!(status.success(), "{status:?}");
    }
}

/// An echo server on a thread, for the descriptor-exhaustion test.
fn echo_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
            });
        }
    });
    port
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_wedges_weir() {
    use std::io::{Read, Write as _};
    use std::os::unix::process::CommandExt;

    let backend = echo_backend();
    let port = free_port();
    let text = VALID
        .replace("PORT", &port.to_string())
        .replace("127.0.0.1:1", &format!("127.0.0.1:{backend}"));
    let path = write_config(&format!("fds-{port}.cfg"), &text);
    let log_path = path.with_extension("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = Command::new(WEIR);
    command
        .args(["-f", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's
    // descriptor limit before exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut weir = Running(command.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "weir never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Far more connections than weir has descriptors for.
    let flood: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    // weir says it ran out, once, and pauses accepting instead of spinning.
    let deadline = Instant::now() + Duration::from_secs(30);
    let said = |needle: &str| std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains(needle));
    while !said("reached the process FD limit") {
        assert!(Instant::now() < deadline, "no FD-limit message");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(flood);
    // Once descriptors are free again, weir serves new clients.
    let deadline = Instant::now() + Duration::from_secs(30);
    let served = loop {
        assert!(Instant::now() < deadline, "weir never recovered");
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"ping")?;
            let mut buf = [0; 4];
            s.read_exact(&mut buf)?;
            Ok(buf)
        });
        if let Ok(buf) = attempt {
            break buf;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(&served, b"ping");
    assert!(
        weir.0.try_wait().unwrap().is_none(),
        "weir is still running"
    );
}

#[test]
fn a_burst_larger_than_one_accept_batch_is_served_without_new_arrivals() {
    use std::io::{Read, Write as _};

    let backend = echo_backend();
    let port = free_port();
    let text = VALID
        .replace("PORT", &port.to_string())
        .replace("127.0.0.1:1", &format!("127.0.0.1:{backend}"));
    let path = write_config(&format!("burst-{port}.cfg"), &text);
    let mut weir = Running(
        Command::new(WEIR)
            .args(["-f", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "weir never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Frozen, weir cannot accept: the kernel completes every handshake and
    // queues the connections, so weir wakes up once to a backlog of 200 and
    // no later arrival prods it again (readiness is edge-triggered).
    let pid = weir.0.id() as libc::pid_t;
    // SAFETY: kill(2) on the PID of a child this test spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let mut clients: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
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
    assert!(
        weir.0.try_wait().unwrap().is_none(),
        "weir is still running"
    );
}

#[test]
fn nobody_reading_the_traffic_log_does_not_stop_weir() {
    use std::io::{Read, Write as _};

    let backend = echo_backend();
    let port = free_port();
    let text = format!(
        "global\n log stdout format raw local0\n{}",
        VALID
            .replace("PORT", &port.to_string())
            .replace("127.0.0.1:1", &format!("127.0.0.1:{backend}"))
            .replace("defaults\n", "defaults\n log global\n option tcplog\n")
    );
    let path = write_config(&format!("stdout-{port}.cfg"), &text);
    let mut child = Command::new(WEIR)
        .args(["-f", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Whoever read weir's stdout is gone: writes fail with EPIPE.
    drop(child.stdout.take());
    let mut weir = Running(child);
    let echo_once = || {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(b"ping")?;
        let mut buf = [0; 4];
        s.read_exact(&mut buf)?;
        assert_eq!(&buf, b"ping");
        Ok::<_, std::io::Error>(())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while echo_once().is_err() {
        assert!(Instant::now() < deadline, "weir never served");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Each session ends with a tcplog line weir cannot write.
    for _ in 0..20 {
        echo_once().expect("weir still serves");
    }
    assert!(
        weir.0.try_wait().unwrap().is_none(),
        "weir is still running"
    );
}
