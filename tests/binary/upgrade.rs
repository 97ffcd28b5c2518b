//! Binary upgrade as HAProxy's `-x`/`-sf`: a new process takes the
//! listening sockets of the running one over its stats socket (`expose-fd
//! listeners`), then asks it to finish. Agents connecting all along see no
//! refused, reset or cut connection.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use super::WEIR;
use super::kit::{PATIENCE, Running, Scratch, echo_backend, free_port, wait_until};

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

/// Agents: a few threads, each making one connection after another that
/// echoes a payload, until told to stop; the count of those that went
/// through, and each thread's first failure.
struct Agents {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    workers: Vec<thread::JoinHandle<Result<(), String>>>,
}

impl Agents {
    fn start(port: u16) -> Agents {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let workers = (0..4)
            .map(|_| {
                let (flag, count) = (stop.clone(), done.clone());
                thread::spawn(move || {
                    // Bounded: the test stops it, and it gives up on its
                    // own after a while whatever happens.
                    let deadline = Instant::now() + 4 * PATIENCE;
                    let mut n = 0u64;
                    while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                        one_agent(port, n).map_err(|e| format!("connection {n}: {e}"))?;
                        count.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        Agents {
            stop,
            done,
            workers,
        }
    }

    fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits for `n` more connections to go through (or an agent to fail).
    fn wait_for_more(&self, n: usize) {
        let target = self.done() + n;
        let failed = || self.workers.iter().any(|w| w.is_finished());
        assert!(wait_until(|| self.done() >= target || failed()));
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.join().unwrap().expect("no agent saw an error");
        }
        self.done.load(Ordering::Relaxed)
    }
}

fn one_agent(port: u16, n: u64) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    let payload = format!("payload {n}\n").repeat(20);
    stream.write_all(payload.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut got = Vec::new();
    stream.read_to_end(&mut got)?;
    if got != payload.as_bytes() {
        return Err(std::io::Error::other(format!(
            "{} bytes back of {}",
            got.len(),
            payload.len()
        )));
    }
    Ok(())
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
