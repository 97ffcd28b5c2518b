//! Environment variables and conditional blocks as the binary reads them:
//! the driver passes its environment to core, with `HAPROXY_LOCALPEER`
//! set to the host name as HAProxy does.

use std::io::Read;
use std::process::{Command, Stdio};

use super::WEIR;
use super::kit::{Running, Scratch, client, echo, free_port};

const CONFIG: &str = "\
.if defined(WEIR_TEST_PORT) && !defined(WEIR_TEST_UNSET)
.notice \"port ${WEIR_TEST_PORT}, peer ${HAPROXY_LOCALPEER}, ${WEIR_TEST_UNSET-none}\"
.else
.alert \"WEIR_TEST_PORT is not set\"
.endif
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind \"127.0.0.1:${WEIR_TEST_PORT}\"
    server s1 \"127.0.0.1:${WEIR_TEST_BACKEND}\"
";

/// The machine's host name, as weir's driver reads it.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    assert_eq!(
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) },
        0
    );
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `weir -c` with `env` added to a cleared environment: exit code and
/// standard error.
fn check(config: &std::path::Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(WEIR);
    command
        .args(["-c", "-f", config.to_str().unwrap()])
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut running = Running(command.spawn().expect("weir starts"));
    let status = running.wait_exit();
    let mut stderr = String::new();
    if let Some(mut pipe) = running.0.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status.code(), stderr)
}

#[test]
fn variables_and_conditions_come_from_the_environment() {
    let scratch = Scratch::new();
    let path = scratch.file("env.cfg", CONFIG);
    let file = path.to_str().unwrap();
    // HAPROXY_LOCALPEER is the host name whatever the environment says.
    let env = [
        ("WEIR_TEST_PORT", "8080"),
        ("WEIR_TEST_BACKEND", "80"),
        ("HAPROXY_LOCALPEER", "ignored"),
    ];
    let (code, stderr) = check(&path, &env);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "[NOTICE] {file}:2: 'port 8080, peer {}, none'.\n",
            hostname()
        )
    );
    let (code, stderr) = check(&path, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "[ALERT] {file}:4: 'WEIR_TEST_PORT is not set'.\n[ALERT] Fatal errors found in \
             configuration.\n"
        )
    );
}

#[test]
fn a_port_from_the_environment_is_bound() {
    let scratch = Scratch::new();
    let path = scratch.file("env.cfg", CONFIG);
    let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_port = backend.local_addr().unwrap().port().to_string();
    let port = free_port();
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", path.to_str().unwrap()])
        .env("WEIR_TEST_PORT", port.to_string())
        .env("WEIR_TEST_BACKEND", &backend_port)
        .env_remove("WEIR_TEST_UNSET")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _weir = Running::spawn(command, port);
    // The readiness probe's connection comes first, empty: echo the
    // first connection that brings five bytes (a bounded number of tries).
    let server = std::thread::spawn(move || {
        for _ in 0..10 {
            let (mut conn, _) = backend.accept().unwrap();
            let mut buf = [0; 5];
            if conn.read_exact(&mut buf).is_ok() {
                std::io::Write::write_all(&mut conn, &buf).unwrap();
                return;
            }
        }
        panic!("no connection brought the payload");
    });
    echo(&mut client(port), b"hello");
    server.join().unwrap();
}
