//! Servers' state saved by `show servers state` (format 1) and loaded at
//! start-up: HAProxy's `server-state-file` (2.6's `src/server_state.c`).
//!
//! [`parse`] reads a file strictly and within bounds; what it finds is
//! applied by `Balancer::load_server_states`, matched by backend and
//! server names as HAProxy matches them.

mod parse;

/// The largest state file weir reads (as large as a configuration).
pub const MAX_FILE_BYTES: u64 = crate::config::MAX_CONFIG_BYTES;

pub use parse::{FileError, MAX_LINE, StateFile, StateLine, StateValues, parse};

#[cfg(test)]
mod tests;
