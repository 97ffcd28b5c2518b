//! Debian's packaged `/etc/haproxy/haproxy.cfg` (HAProxy 2.6.12), with its
//! proxy sections in `mode tcp` and a `listen` added, as an operator
//! would start from it: weir checks it with HAProxy's warnings and runs it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

use super::WEIR;
use super::kit::{Running, Scratch, client, echo, free_port};

const PACKAGED: &str = include_str!("testdata/debian-haproxy.cfg");

/// The packaged file in `mode tcp`, without the process keywords a test
/// cannot use (`chroot`, `user`, `group`, `daemon`), its stats socket in
/// `dir`, and a `listen` on `port` to `server`.
fn packaged(dir: &str, port: u16, server: u16) -> String {
    let kept: Vec<String> = PACKAGED
        .lines()
        .filter(|l| {
            let word = l.split_whitespace().next().unwrap_or("");
            !["chroot", "user", "group", "daemon"].contains(&word)
        })
        .map(|l| {
            l.replace("mode\thttp", "mode\ttcp")
                .replace("/run/haproxy/admin.sock", &format!("{dir}/admin.sock"))
        })
        .collect();
    format!(
        "{}\nlisten app\n\tbind 127.0.0.1:{port}\n\tserver s1 127.0.0.1:{server}\n",
        kept.join("\n")
    )
}

/// A server echoing each connection's bytes back, on a free port.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn the_packaged_configuration_in_tcp_mode_checks_with_haproxys_warnings() {
    let scratch = Scratch::new();
    let dir = scratch.path("");
    let text = packaged(dir.to_str().unwrap(), 9, 10);
    let config = scratch.file("haproxy.cfg", &text);
    let output = Command::new(WEIR)
        .args(["-c", "-f", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("weir runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "'option httplog' not usable with proxy 'app' (needs 'mode http'). Falling back \
             to 'option tcplog'."
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("ALERT"), "{stderr}");
}

#[test]
fn the_packaged_configuration_in_tcp_mode_carries_traffic() {
    let scratch = Scratch::new();
    let dir = scratch.path("");
    let port = free_port();
    let text = packaged(dir.to_str().unwrap(), port, echo_server());
    let config = scratch.file("haproxy.cfg", &text);
    let _weir = Running::quiet(&config, port);
    let mut stream = client(port);
    echo(&mut stream, b"through the packaged configuration");
}
