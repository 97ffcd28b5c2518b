//! Master-worker mode (`-W`), as HAProxy's: a master process holds the
//! listening sockets and runs one worker (weir itself, in the
//! foreground) that serves on them. On SIGUSR2 the master reads the
//! configuration again and starts a new worker from the binary on disk,
//! so an upgraded package takes over; once the new worker says it is
//! ready, the old one is asked to finish (SIGUSR1) and serves its
//! sessions to their end. Both accept from the same sockets meanwhile:
//! not one connection is refused. SIGHUP goes to the worker (a reload in
//! place); SIGTERM, SIGINT and SIGUSR1 go to every worker, and the master
//! exits with the last one.
//!
//! The sockets reach a worker as systemd's do (`LISTEN_FDS` from
//! descriptor 3, see [`crate::activation`]); the worker says it is ready
//! over `NOTIFY_SOCKET` (see [`crate::notify`]), here a datagram socket
//! of the master's.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use weir_core::config::{BindOptions, Config, StatsAddr};

use crate::cli;
use crate::sockets::listen;

/// The variable that tells weir it runs as the master's worker.
pub(crate) const WORKER: &str = "WEIR_MASTER_PID";

/// How long a new worker may take to say it is ready.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// Where the listening sockets wait before a worker gets them: above the
/// descriptors 3.. a worker receives them at.
const PARKED_FDS: RawFd = 1024;

/// The signals the master takes in turn.
const SIGNALS: [i32; 6] = [
    libc::SIGCHLD,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGINT,
];

/// The listening sockets, by address.
type Sockets = Vec<(SocketAddr, OwnedFd)>;

/// Runs the master: `files` are the `-f` arguments, `worker_args` the
/// command line a worker gets; once the first worker serves, the `old`
/// processes (`-sf`/`-st`: signal, pids) are signalled. Returns when the
/// last worker has exited.
pub(crate) fn run(
    config: &Config,
    files: &[String],
    worker_args: &[String],
    old: (i32, Vec<i32>),
) -> ExitCode {
    let mut sockets = match bind(config, Vec::new()) {
        Ok(sockets) => sockets,
        Err(e) => {
            eprintln!("[ALERT] master: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mask = block_signals();
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("[ALERT] master: cannot find its own binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = format!("weir-master-{}", std::process::id());
    let notify = UnixAddr::from_abstract_name(name.as_bytes())
        .and_then(|addr| UnixDatagram::bind_addr(&addr))
        .and_then(|socket| {
            socket.set_read_timeout(Some(Duration::from_millis(100)))?;
            Ok(socket)
        });
    let notify = match notify {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("[ALERT] master: cannot make its notification socket: {e}");
            return ExitCode::FAILURE;
        }
    };
    let master = Master {
        exe,
        worker_args: worker_args.to_vec(),
        mask,
        notify,
        notify_name: format!("@{name}"),
    };
    let mut current = match master.start(&sockets) {
        Ok(child) => child,
        Err(e) => {
            eprintln!("[ALERT] master: the worker did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "master {}: worker {} serves",
        std::process::id(),
        current.id()
    );
    let (old_signal, old_pids) = old;
    for pid in old_pids {
        signal(pid as u32, old_signal);
    }
    let mut old: HashMap<u32, Child> = HashMap::new();
    loop {
        let Some(received) = wait_signal(&mask) else {
            master.drain_notifications();
            continue;
        };
        match received {
            libc::SIGCHLD => {
                old.retain(|_, child| !matches!(child.try_wait(), Ok(Some(_))));
                if let Ok(Some(status)) = current.try_wait() {
                    log::info!("master: worker {} exited ({status})", current.id());
                    // Workers still finishing their sessions end on their own.
                    for (_, mut child) in old.drain() {
                        let _ = child.wait();
                    }
                    return if status.success() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    };
                }
            }
            libc::SIGHUP => signal(current.id(), libc::SIGHUP),
            libc::SIGUSR2 => {
                let (loaded, _) = cli::read_config(files);
                let next = loaded
                    .map_err(|errors| errors.join("; "))
                    .and_then(|config| {
                        let kept = std::mem::take(&mut sockets);
                        bind(&config, kept).map_err(|e| e.to_string())
                    });
                match next {
                    Ok(bound) => sockets = bound,
                    Err(e) => {
                        log::error!("master: reload failed, the worker serves on: {e}");
                        continue;
                    }
                }
                match master.start(&sockets) {
                    Ok(child) => {
                        log::info!(
                            "master: worker {} serves; worker {} finishes",
                            child.id(),
                            current.id()
                        );
                        signal(current.id(), libc::SIGUSR1);
                        let previous = std::mem::replace(&mut current, child);
                        old.insert(previous.id(), previous);
                    }
                    Err(e) => log::error!("master: the new worker did not start: {e}"),
                }
            }
            stop => {
                signal(current.id(), stop);
                for child in old.values() {
                    signal(child.id(), stop);
                }
            }
        }
    }
}

/// How the master starts workers.
struct Master {
    exe: std::path::PathBuf,
    worker_args: Vec<String>,
    /// The signals the master blocks (a worker starts with none blocked).
    mask: libc::sigset_t,
    /// Where workers say they are ready (their `NOTIFY_SOCKET`).
    notify: UnixDatagram,
    notify_name: String,
}

impl Master {
    /// Starts a worker on `sockets` and waits until it says it is ready.
    fn start(&self, sockets: &Sockets) -> io::Result<Child> {
        self.drain_notifications();
        let fds: Vec<RawFd> = sockets.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        let env = [
            ("LISTEN_FDS", fds.len().to_string()),
            ("NOTIFY_SOCKET", self.notify_name.clone()),
            (WORKER, std::process::id().to_string()),
        ]
        .map(|(k, v)| (CString::new(k).unwrap(), CString::new(v).unwrap()));
        let listen_pid = CString::new("LISTEN_PID").unwrap();
        let mask = self.mask;
        let mut command = Command::new(&self.exe);
        command.args(&self.worker_args);
        // SAFETY: runs in the child between fork and exec, while the
        // master has a single thread: dup2, setenv, sigprocmask and
        // getpid on memory prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                for (i, &fd) in fds.iter().enumerate() {
                    if libc::dup2(fd, 3 + i as RawFd) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                for (key, value) in &env {
                    libc::setenv(key.as_ptr(), value.as_ptr(), 1);
                }
                let pid = CString::new(libc::getpid().to_string()).unwrap_or_default();
                libc::setenv(listen_pid.as_ptr(), pid.as_ptr(), 1);
                libc::sigprocmask(libc::SIG_UNBLOCK, &mask, std::ptr::null_mut());
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let deadline = Instant::now() + START_PATIENCE;
        let mut word = [0u8; 1024];
        let pid = format!("MAINPID={}", child.id());
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut word) {
                let says = |line: &[u8]| word[..n].split(|&b| b == b'\n').any(|l| l == line);
                if says(b"READY=1") && says(pid.as_bytes()) {
                    return Ok(child);
                }
            }
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("it exited ({status})")));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(io::Error::other("it did not say it was ready in time"))
    }
}

impl Master {
    /// Reads and forgets what workers said since (stopping, reloading):
    /// their notifications never wait on a full socket.
    fn drain_notifications(&self) {
        let mut word = [0u8; 1024];
        let _ = self.notify.set_nonblocking(true);
        for _ in 0..10_000 {
            if self.notify.recv(&mut word).is_err() {
                break;
            }
        }
        let _ = self.notify.set_nonblocking(false);
    }
}

/// The TCP sockets `config` listens on (frontends' binds, TCP stats
/// sockets): those of `kept` at the same address, the others bound now;
/// the rest of `kept` is closed. UNIX stats sockets are each worker's.
fn bind(config: &Config, mut kept: Sockets) -> io::Result<Sockets> {
    let binds = config
        .frontends
        .iter()
        .flat_map(|f| &f.binds)
        .map(|b| (b.addr, b.options.clone()));
    let stats = (config.global.runtime_api.sockets.iter()).filter_map(|s| match s.addr {
        StatsAddr::Tcp(addr) => Some((addr, BindOptions::default())),
        StatsAddr::Unix(_) => None,
    });
    let mut sockets = Vec::new();
    for (addr, options) in binds.chain(stats) {
        if sockets.iter().any(|(a, _)| *a == addr) {
            continue;
        }
        let fd = match kept.iter().position(|(a, _)| *a == addr) {
            Some(i) => kept.swap_remove(i).1,
            None => park(listen(addr, &options).map_err(|e| bind_error(addr, e))?)?,
        };
        sockets.push((addr, fd));
    }
    Ok(sockets)
}

fn bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot bind {addr}: {e}"))
}

/// Moves a listener's descriptor above [`PARKED_FDS`], close-on-exec.
fn park(listener: TcpListener) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own gives a new one.
    let fd = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PARKED_FDS) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just made and is owned here alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Blocks [`SIGNALS`] so that they wait for [`wait_signal`]; returns the
/// set.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset operations on a set we own; sigprocmask on this
    // single-threaded process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// The next of the blocked signals; `None` after a second without one.
fn wait_signal(set: &libc::sigset_t) -> Option<i32> {
    let timeout = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    // SAFETY: sigtimedwait(2) reads the set and the timeout we own.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
    (signal > 0).then_some(signal)
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a worker this master started.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}
