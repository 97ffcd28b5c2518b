//! What the process tests share: a scratch directory per test, removed
//! when the test ends; weir processes, stopped by their PID when a test
//! ends early; an echo server; bounded waits.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::{NAME, WEIR};

pub use weir_tests::{PATIENCE, echo_server as echo_backend, wait_until};

/// A directory of its own for one test (configurations, logs), removed
/// with everything in it when the test ends.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{NAME}-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` to the file `name` in the directory.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The path of the file `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A weir process, killed by its PID if the test ends before it exits.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Spawns `command` and waits until weir accepts on `port`.
    pub fn spawn(mut command: Command, port: u16) -> Running {
        let running = Running(command.spawn().expect("weir starts"));
        assert!(
            wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "weir never listened"
        );
        running
    }

    /// Runs weir on `config` with its output discarded, once it listens
    /// on `port`.
    pub fn quiet(config: &std::path::Path, port: u16) -> Running {
        let mut command = Command::new(WEIR);
        command
            .args(["-db", "-f", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Running::spawn(command, port)
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) on the PID of a child this test spawned.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        assert!(
            wait_until(|| {
                status = self.0.try_wait().unwrap();
                status.is_some()
            }),
            "weir did not exit"
        );
        status.unwrap()
    }

    pub fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

/// One stats-socket request on TCP `port`, its whole answer.
pub fn cli(port: u16, line: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("stats socket");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("an answer, then a close");
    answer
}

/// A port no socket holds on 127.0.0.1, below the kernel's ephemeral
/// range: the port is free again when weir binds it, and no connection of
/// a test running alongside can take it meanwhile as its source port (a
/// port the kernel handed out for `:0` could be, and weir would then
/// never listen).
pub fn free_port() -> u16 {
    const LOWEST: usize = 10_000;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    let span = ephemeral.saturating_sub(LOWEST).max(1);
    // Test binaries of one run start apart, so their walks do too.
    let start = std::process::id() as usize * 7_919;
    for _ in 0..span {
        let port = LOWEST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        if let Ok(port) = u16::try_from(port)
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port from {LOWEST} to {ephemeral}")
}

/// Sends `msg` on `stream` and checks it comes back whole.
pub fn echo(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

/// A client of weir's frontend on `port`, patient on reads.
pub fn client(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Agents: a few threads, each making one connection after another that
/// echoes a payload, until told to stop; the count of those that went
/// through, and each thread's first failure.
pub struct Agents {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    workers: Vec<thread::JoinHandle<Result<(), String>>>,
}

impl Agents {
    pub fn start(port: u16) -> Agents {
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

    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits for `n` more connections to go through (or an agent to fail).
    pub fn wait_for_more(&self, n: usize) {
        let target = self.done() + n;
        let failed = || self.workers.iter().any(|w| w.is_finished());
        assert!(wait_until(|| self.done() >= target || failed()));
    }

    pub fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.join().unwrap().expect("no agent saw an error");
        }
        self.done.load(Ordering::Relaxed)
    }
}

pub fn one_agent(port: u16, n: u64) -> std::io::Result<()> {
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

/// A syslog target weir logs to; its lines are read as they come.
pub struct Syslog(std::net::UdpSocket);

impl Syslog {
    pub fn new() -> Syslog {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Syslog(socket)
    }

    pub fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// The first line that contains `needle`, within the patience.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 2048];
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(n) = self.0.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                if line.contains(needle) {
                    return line;
                }
                seen.push(line);
            }
        }
        panic!("no log line with {needle:?}; saw {seen:?}");
    }
}
