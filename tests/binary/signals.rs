//! Signals an operator may send that are not stops: weir reloads on
//! SIGHUP and SIGUSR2, logs the others, and keeps serving, its sessions
//! untouched.

use std::process::{Command, Stdio};

use super::WEIR;
use super::kit::{Running, Scratch, client, echo, echo_backend, free_port, wait_until};

#[test]
fn reloads_and_other_signals_are_logged_while_sessions_go_on() {
    let scratch = Scratch::new();
    let port = free_port();
    let text = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{}\n",
        echo_backend()
    );
    let config = scratch.file("weir.cfg", &text);
    let log = scratch.file("weir.log", "");
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut weir = Running::spawn(command, port);
    let count =
        |needle: &str| std::fs::read_to_string(&log).map_or(0, |l| l.matches(needle).count());
    let mut live = client(port);
    echo(&mut live, b"before");
    let signals = [
        (libc::SIGHUP, "Configuration reloaded: ", 1),
        (libc::SIGUSR2, "Configuration reloaded: ", 2),
        (libc::SIGQUIT, "SIGQUIT received", 1),
        (libc::SIGTTOU, "SIGTTOU received", 1),
        (libc::SIGTTIN, "SIGTTIN received", 1),
        (libc::SIGALRM, "SIGALRM received", 1),
    ];
    for (signal, line, times) in signals {
        weir.signal(signal);
        assert!(wait_until(|| count(line) >= times), "no line '{line}'");
        assert!(weir.running(), "signal {signal} stopped weir");
        echo(&mut live, format!("after signal {signal}").as_bytes());
        echo(&mut client(port), b"a new session");
    }
    // Writing past the file-size limit fails the write, not weir.
    weir.signal(libc::SIGXFSZ);
    echo(&mut live, b"after SIGXFSZ");
    assert!(weir.running(), "SIGXFSZ stopped weir");
}
