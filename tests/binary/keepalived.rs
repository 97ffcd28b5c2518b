//! keepalived's check script (`contrib/keepalived/check_weir.sh`) against
//! a running weir: it passes while weir serves and the backends named are
//! UP, and fails when a backend is down, when weir stops, and when it is
//! gone, so that keepalived moves the virtual address. Over a TCP stats
//! socket it needs bash alone; the UNIX-path case runs where socat is.

use std::path::Path;
use std::process::{Command, Stdio};

use super::kit::{Running, Scratch, client, echo, echo_backend, free_port, wait_until};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contrib/keepalived/check_weir.sh"
);

/// The script's verdict for `args`: true when it exits 0.
fn check(args: &[&str]) -> bool {
    let status = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("bash runs the script");
    status.success()
}

fn config(port: u16, admin: u16, sock: &Path, up: u16, down: u16) -> String {
    format!(
        "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n stats socket {} level admin\n\
         defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
         backend app\n server s1 127.0.0.1:{up} check inter 100ms\n\
         backend gone\n server g1 127.0.0.1:{down} check inter 100ms fall 1\n",
        sock.display()
    )
}

#[test]
fn the_check_follows_weir_and_its_backends() {
    let scratch = Scratch::new();
    let (port, admin, down) = (free_port(), free_port(), free_port());
    let sock = scratch.path("admin.sock");
    let file = scratch.file("w.cfg", &config(port, admin, &sock, echo_backend(), down));
    let mut weir = Running::quiet(&file, port);
    let tcp = format!("127.0.0.1:{admin}");
    assert!(wait_until(|| check(&[&tcp])), "weir serves");
    assert!(check(&[&tcp, "app"]), "app is UP");
    assert!(wait_until(|| !check(&[&tcp, "gone"])), "gone is DOWN");
    assert!(
        !check(&[&tcp, "app", "gone"]),
        "every backend named must be UP"
    );
    assert!(!check(&[&tcp, "nosuch"]), "an unknown backend fails");
    assert!(!check(&["not-a-socket"]), "a bad argument fails");
    let socat = Command::new("socat")
        .arg("-V")
        .stdout(Stdio::null())
        .status();
    if socat.is_ok_and(|s| s.success()) {
        assert!(wait_until(|| sock.exists()));
        assert!(
            check(&[sock.to_str().unwrap(), "app"]),
            "over the UNIX socket"
        );
    }
    // A soft stop with a session still open: weir runs, but must not
    // hold the address.
    let mut session = client(port);
    echo(&mut session, b"established");
    weir.signal(libc::SIGUSR1);
    assert!(wait_until(|| !check(&[&tcp])), "a stopping weir fails");
    assert!(weir.running(), "the session keeps it running");
    drop(session);
    assert!(weir.wait_exit().success());
    assert!(!check(&[&tcp]), "weir is gone");
}
