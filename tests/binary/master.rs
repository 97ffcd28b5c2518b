//! Master-worker mode (`-W`): the master holds the listeners and starts a
//! new worker on SIGUSR2 (the binary on disk, the files read again); the
//! old worker finishes. Agents connecting meanwhile see nothing refused,
//! a bad file keeps the running worker, and SIGTERM ends them all.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::WEIR;
use super::kit::{Agents, Running, Scratch, echo_backend, free_port, wait_until};

fn config(port: u16, admin: u16, server: u16) -> String {
    format!(
        "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
         defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
         backend app\n server s1 127.0.0.1:{server}\n"
    )
}

/// The pid of the worker answering on the stats socket at `admin`.
fn worker_pid(admin: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", admin)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(b"show info\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .lines()
        .find_map(|l| l.strip_prefix("Pid: ")?.parse().ok())
}

fn alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[test]
fn new_workers_take_over_on_sigusr2_and_nothing_is_refused() {
    let scratch = Scratch::new();
    let (port, admin, server) = (free_port(), free_port(), echo_backend());
    let file = scratch.file("w.cfg", &config(port, admin, server));
    let log = scratch.path("weir.log");
    let mut command = Command::new(WEIR);
    command
        .args(["-W", "-f", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut master = Running::spawn(command, port);
    let mut worker = None;
    assert!(wait_until(|| {
        worker = worker_pid(admin);
        worker.is_some()
    }));
    let first = worker.unwrap();
    assert_ne!(first, master.0.id(), "a worker serves, not the master");
    let agents = Agents::start(port);
    agents.wait_for_more(20);
    let mut workers = vec![first];
    for _ in 0..3 {
        master.signal(libc::SIGUSR2);
        let previous = *workers.last().unwrap();
        assert!(wait_until(
            || worker_pid(admin).is_some_and(|p| p != previous)
        ));
        workers.push(worker_pid(admin).unwrap());
        agents.wait_for_more(20);
    }
    // A file with an error: the master says so and the worker serves on.
    std::fs::write(&file, "frontend fe\n bnd x\n").unwrap();
    let serving = *workers.last().unwrap();
    master.signal(libc::SIGUSR2);
    assert!(
        wait_until(|| logged().contains("master: reload failed, the worker serves on")),
        "{}",
        logged()
    );
    agents.wait_for_more(20);
    assert_eq!(worker_pid(admin), Some(serving));
    let done = agents.finish();
    assert!(done >= 110, "{done} connections");
    assert!(
        wait_until(|| workers[..3].iter().all(|&p| !alive(p))),
        "the old workers finished"
    );
    master.signal(libc::SIGTERM);
    assert!(master.wait_exit().success());
    assert!(!alive(serving), "the last worker ended with the master");
}
