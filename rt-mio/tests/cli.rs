//! The `weir` binary as a process: command line, exit codes, messages,
//! signals.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-cli-{}", std::process::id()));
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
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("weir version "));
    let out = weir(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-f FILE"));
    let out = weir(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("weir: unknown option '--frobnicate'"));
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
