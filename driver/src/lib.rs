//! What weir's drivers share. A driver (`weir-mio`, `weir-smol`) only
//! waits for socket readiness its own way; everything else is here: the
//! [`Engine`] that owns the balancer and the sockets, the command line and
//! configuration loading ([`cli`]), and socket set-up (TCP, and UNIX
//! for stats sockets).

pub mod cli;
mod engine;
pub mod handover;
mod limits;
mod reload;
mod sockets;
mod startup;
mod syslog;
mod unix_socket;

pub use engine::{Engine, Reactor, ShutdownHandle, Token, listener_token};
pub use sockets::{ListenSocket, Socket};

use weir_core::LogLine;

/// Receives log lines in place of weir's own output.
pub type LogHook = Box<dyn FnMut(&LogLine) + Send>;

/// How to run weir.
#[derive(Default)]
pub struct Options {
    /// Seed of core's PRNG; `None` derives one from the clock and the pid.
    pub seed: Option<u64>,
    /// Stop on SIGTERM and SIGINT, soft-stop on SIGUSR1, reload on SIGHUP
    /// and SIGUSR2, log and ignore the other [`SIGNALS`] (the binaries set
    /// it; embedders may not).
    pub handle_signals: bool,
    /// Receives the log lines for stdout, stderr and the diagnostic
    /// logger instead of them (embedders route them; tests wait on
    /// them). Lines for syslog targets (`log /dev/log`, `log host:port`)
    /// always go to their sockets.
    pub log_hook: Option<LogHook>,
    /// Set by the binaries, where weir owns the process: `maxconn` is
    /// sized to the descriptor limit (raised as far as the hard limit
    /// allows), and a start-up line is logged once every listener is bound.
    pub binary: Option<Binary>,
    /// Listening sockets taken from a running process (`-x`): a bind on
    /// one's address uses it instead of binding anew.
    pub inherited: handover::Inherited,
}

/// The binary weir runs as.
#[derive(Debug, Clone, Default)]
pub struct Binary {
    /// Its name, for messages (`weir`, `weir-smol`).
    pub program: String,
    /// The configuration files, in order.
    pub files: Vec<String>,
    /// Processes to signal once listening (`-sf`, `-st`).
    pub old_pids: Vec<i32>,
    /// The signal for them: SIGUSR1 (`-sf`) or SIGTERM (`-st`).
    pub old_pids_signal: i32,
}

/// The signals a driver handles when [`Options::handle_signals`] is set:
/// the stops (SIGTERM, SIGINT, SIGUSR1), the reloads (SIGHUP, SIGUSR2),
/// then those whose default action would kill or suspend weir, which it
/// logs and ignores (see
/// [`Engine::on_signal`]).
pub const SIGNALS: [i32; 9] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGHUP,
    libc::SIGUSR2,
    libc::SIGQUIT,
    libc::SIGTTOU,
    libc::SIGTTIN,
    libc::SIGALRM,
];
