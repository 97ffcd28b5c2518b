//! A weir binary reading its configuration: what it refuses to read, and
//! how its errors name files, lines and frontends.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::WEIR;
use super::kit::{Running, Scratch};

const VALID: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
                     frontend fe\n bind 127.0.0.1:PORT\n default_backend be\n\
                     backend be\n server s1 127.0.0.1:1\n";

/// Runs weir with `args` and at most 1 GiB of address space (so that a
/// read without bound fails fast instead of filling the machine); returns
/// its exit code and standard error once it exited.
fn weir(args: &[&str]) -> (Option<i32>, String) {
    let mut command = Command::new(WEIR);
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's
    // address-space limit before exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut running = Running(command.spawn().expect("weir starts"));
    let status = running.wait_exit();
    let mut stderr = String::new();
    if let Some(mut pipe) = running.0.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status.code(), stderr)
}

#[test]
fn a_device_is_not_read_as_a_configuration_file() {
    for device in ["/dev/zero", "/dev/urandom"] {
        let (code, stderr) = weir(&["-c", "-f", device]);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "[ALERT] Could not open configuration file {device} : not a regular file (a \
                 character device)\n"
            )
        );
    }
}

#[test]
fn a_device_is_not_read_as_a_ca_file_or_certificate() {
    let scratch = Scratch::new();
    let text = VALID.replace("PORT", "9").replace(
        "127.0.0.1:1\n",
        "127.0.0.1:1 check check-ssl ca-file /dev/zero\n server s2 127.0.0.1:2 check \
         check-ssl verify none crt /dev/urandom\n",
    );
    let path = scratch.file("tls.cfg", &text);
    let file = path.to_str().unwrap();
    let (code, stderr) = weir(&["-c", "-f", file]);
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "[ALERT] {file}:10: unable to load CA file '/dev/zero': not a regular file (a \
                 character device)"
            ),
            format!(
                "[ALERT] {file}:11: unable to load certificate file '/dev/urandom': not a \
                 regular file (a character device)"
            ),
            "[ALERT] Fatal errors found in configuration.".to_owned(),
        ]
    );
}

#[test]
fn a_latin1_comment_is_accepted_and_a_latin1_word_named() {
    let scratch = Scratch::new();
    let text = format!("# caf\u{e9}\n{}", VALID.replace("PORT", "9"));
    let latin1: Vec<u8> = text.chars().map(|c| c as u8).collect();
    let path = scratch.file("latin1.cfg", "");
    std::fs::write(&path, &latin1).unwrap();
    let (code, stderr) = weir(&["-c", "-f", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    std::fs::write(
        &path,
        [&latin1[..], b" server caf\xe9 127.0.0.1:2\n"].concat(),
    )
    .unwrap();
    let (code, stderr) = weir(&["-c", "-f", path.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "[ALERT] {}:12: invalid UTF-8 (byte \\xe9) at column 12:",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn an_empty_configuration_names_its_file() {
    let scratch = Scratch::new();
    let path = scratch.file("empty.cfg", "# nothing yet\n");
    let file = path.to_str().unwrap();
    let (code, stderr) = weir(&["-c", "-f", file]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "[ALERT] no listener: {file} holds no statement (empty, or only comments)"
        )),
        "{stderr}"
    );
}

#[test]
fn a_bind_that_fails_at_start_names_its_line_and_frontend() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let scratch = Scratch::new();
    let path = scratch.file("weir.cfg", &VALID.replace("PORT", &port.to_string()));
    let file = path.to_str().unwrap();
    let (code, stderr) = weir(&["-f", file]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "[ALERT] {file}:7: frontend 'fe': cannot bind 127.0.0.1:{port}: Address already in \
             use (os error 98)\n"
        )),
        "{stderr}"
    );
}

#[test]
fn two_frontends_on_one_address_are_refused_by_the_check() {
    let scratch = Scratch::new();
    let text =
        VALID.replace("PORT", "9") + "frontend fe2\n bind 127.0.0.1:9\n default_backend be\n";
    let path = scratch.file("twice.cfg", &text);
    let file = path.to_str().unwrap();
    let (code, stderr) = weir(&["-c", "-f", file]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "[ALERT] {file}:12: frontend 'fe2': cannot listen on 127.0.0.1:9: frontend 'fe' \
             already listens on 127.0.0.1:9 ({file}:7)"
        )),
        "{stderr}"
    );
}
