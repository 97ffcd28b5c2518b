//! What weir's drivers share. A driver (`weir-mio`, `weir-smol`) only
//! waits for socket readiness its own way; everything else is here: the
//! [`Engine`] that owns the balancer and the sockets, the command line and
//! configuration loading ([`cli`]), and socket set-up (TCP, and UNIX
//! for stats sockets).

mod activation;
pub mod cli;
mod daemon;
mod datagrams;
mod engine;
mod handover;
mod identity;
mod limits;
mod master;
pub mod notify;
mod pidfile;
mod reload;
mod server_states;
mod service;
mod sockets;
mod splice;
mod startup;
mod syslog;
mod table;
mod unix_socket;

pub use activation::{Bound, Inherited};
pub use daemon::Detached;
pub use engine::{Engine, Follower, Reactor, Ready, ShutdownHandle, Token, listener_token};
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
}

/// The binary weir runs as, and how it runs as a service.
#[derive(Debug, Default)]
pub struct Binary {
    /// Its name, for messages (`weir`, `weir-smol`).
    pub program: String,
    /// The configuration files, in order.
    pub files: Vec<String>,
    /// Where to write the pid (`-p`, else `pidfile`).
    pub pidfile: Option<String>,
    /// Listening sockets systemd passed (`LISTEN_FDS`) or the old process
    /// handed over (`-x`), taken in place of binding their addresses.
    pub inherited: Vec<activation::Inherited>,
    /// Set when weir detached (`daemon`, `-D`): tells the waiting parent
    /// that weir serves.
    pub detached: Option<daemon::Detached>,
    /// Processes to signal once listening (`-sf`, `-st`).
    pub old_pids: Vec<i32>,
    /// The signal for them: SIGUSR1 (`-sf`) or SIGTERM (`-st`).
    pub old_pids_signal: i32,
    /// The old process's `show servers state` (`-x`, when no state file
    /// is configured), applied at start.
    pub old_server_states: Option<Vec<u8>>,
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
