//! Binary upgrade as HAProxy's `-x`/`-sf`: a new process takes the
//! listening sockets of the running one over its stats socket (`expose-fd
//! listeners`), then asks it to finish. Agents connecting all along see no
//! refused, reset or cut connection.

use std::path::Path;
use std::process::{Command, Stdio};

use super::WEIR;
use super::kit::{Agents, Running, Scratch, echo_backend, free_port, one_agent, wait_until};

/// A frontend on `port` to an echo server, and an admin stats socket at
/// `socket` that hands its listeners over when `expose` is set.
fn config(scratch: &Scratch, port: u16, socket: &Path, expose: bool) -> std::path::PathBuf {
    let expose = if expose { " expose-fd listeners" } else { "" };
    scratch.file(
        "w.cfg",
        &format!(
            "global\n stats socket {} level admin{expose}\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s1 127.0.0.1:{}\n",
            socket.display(),
            echo_backend()
        ),
    )
}

/// weir on `config`, taking over from `old` (`-x SOCKET -sf PID`).
fn take_over(config: &Path, socket: &Path, old: u32) -> Running {
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", config.to_str().unwrap(), "-x"])
        .arg(socket)
        .args(["-sf", &old.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Running(command.spawn().expect("weir starts"))
}

#[test]
fn upgrades_under_load_refuse_no_connection() {
    let scratch = Scratch::new();
    let port = free_port();
    let socket = scratch.path("admin.sock");
    let config = config(&scratch, port, &socket, true);
    let mut current = Running::quiet(&config, port);
    assert!(wait_until(|| socket.exists()), "the stats socket is made");
    let agents = Agents::start(port);
    agents.wait_for_more(20);
    for _ in 0..5 {
        let next = take_over(&config, &socket, current.0.id());
        assert!(current.wait_exit().success(), "the old process finishes");
        current = next;
        assert!(current.running(), "the new process serves");
        agents.wait_for_more(20);
    }
    let done = agents.finish();
    assert!(done >= 120, "{done} connections");
}

#[test]
fn without_expose_fd_the_new_process_stops_and_the_old_one_serves_on() {
    let scratch = Scratch::new();
    let port = free_port();
    let socket = scratch.path("admin.sock");
    let config = config(&scratch, port, &socket, false);
    let mut old = Running::quiet(&config, port);
    assert!(wait_until(|| socket.exists()), "the stats socket is made");
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", config.to_str().unwrap(), "-x"])
        .arg(&socket)
        .args(["-sf", &old.0.id().to_string()])
        .stdout(Stdio::null());
    let output = command.output().expect("weir runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Failed to get the sockets from the old process")
            && stderr.contains("expose-fd listeners"),
        "{stderr}"
    );
    one_agent(port, 0).expect("the old process still serves");
    assert!(old.running(), "the old process was not told to stop");
}
