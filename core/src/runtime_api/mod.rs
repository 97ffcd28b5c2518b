//! The runtime API: HAProxy's stats socket CLI (`stats socket` in
//! `global`), as pure state machines.
//!
//! * [`CliConn`] is one connection: bytes in, answers out, HAProxy 2.6's
//!   framing (one request per connection, `;`-separated requests,
//!   `prompt` mode, `quit`, payloads, line limits) and its deadline.
//! * [`parse`] turns one request line into a [`Request`]: a [`Command`] on
//!   the balancer, a command on the connection, or an unknown one.
//! * [`execute`] runs a [`Command`] through the [`Control`] trait the
//!   balancer implements, and gives HAProxy's exact answer.
//!
//! Every answer, error and help line is HAProxy 2.6's, checked against
//! haproxy 2.6.12 (see the golden transcripts in `golden/`).

mod agent;
mod command;
mod conn;
mod execute;
mod usage;
mod words;

pub use agent::{AgentAction, AgentChange};
pub use command::{
    AdminState, Command, ForcedHealth, InfoOptions, OutputFormat, Request, ServerAction,
    ServerPath, SessTarget, SessionCommand, StatDomain, StatOptions, StatRequest, Weight, parse,
};
pub use conn::{CliConn, MAX_REQUEST};
pub use execute::{Control, Key, StatFilter, Weights, execute};

/// What a stats socket lets its clients do (`level`), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// `user`: only `show` commands.
    User,
    /// `operator` (HAProxy's default): also `show sess`, `clear counters`.
    #[default]
    Operator,
    /// `admin`: everything, server state and weight changes included.
    Admin,
}

#[cfg(test)]
mod tests;
