//! What weir's drivers share. A driver (`weir-mio`, `weir-smol`) only
//! waits for socket readiness its own way; everything else is here: the
//! [`Engine`] that owns the balancer and the sockets, the command line and
//! configuration loading ([`cli`]), and socket set-up.

pub mod cli;
mod engine;
mod sockets;

pub use engine::{Engine, Reactor, ShutdownHandle, Token, listener_token};

use weir_core::LogLine;

/// Receives log lines in place of weir's own output.
pub type LogHook = Box<dyn FnMut(&LogLine) + Send>;

/// How to run weir.
#[derive(Default)]
pub struct Options {
    /// Seed of core's PRNG; `None` derives one from the clock and the pid.
    pub seed: Option<u64>,
    /// Stop on SIGTERM and SIGINT, soft-stop on SIGUSR1 (the binaries set
    /// it; embedders may not).
    pub handle_signals: bool,
    /// Receives every log line instead of stdout, stderr and the
    /// diagnostic logger (embedders route them; tests wait on them).
    pub log_hook: Option<LogHook>,
}

/// The signals a driver handles when [`Options::handle_signals`] is set.
pub const SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1];
