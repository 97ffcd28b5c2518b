//! What the process tests share: a scratch directory per test, removed
//! when the test ends; weir processes, stopped by their PID when a test
//! ends early; an echo server; bounded waits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
