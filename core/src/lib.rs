//! weir-core: the whole TCP load balancer as pure state machines.
//!
//! Nothing here touches a socket, a clock, a thread, a file or a random
//! source. A driver (`weir-mio`, `weir-smol`) owns the sockets and feeds
//! [`Balancer`] with what happened; the balancer answers with [`Action`]s.
//!
//! # Driving contract
//!
//! ```text
//! let mut lb = Balancer::new(config, seed, now, wall_clock, pid);
//! for (listener, addr) in lb.listeners() { bind(addr) }      // TCP, or a UNIX stats socket
//! loop {
//!     wait for readiness, at most until lb.poll_timeout()
//!     for each ready listener:  while accept() -> lb.accept(now, listener, peer, local)
//!                               (a UNIX stats socket: lb.accept_unix(now, listener))
//!     for each ready socket:    read into lb.recv_buf(conn), then lb.received(now, conn, n)
//!                               (0 bytes: Event::ReadClosed; error: Event::Failed)
//!                               write from lb.send_buf(conn), then lb.sent(now, conn, n)
//!                               (error: Event::WriteFailed)
//!     a pending connect became writable: Event::Connected { result }
//!     lb.handle_timeout(now)
//!     after EVERY call above: while let Some(a) = lb.poll_action() { carry it out }
//! }
//! ```
//!
//! * Every input takes `now`; `now` never goes backwards.
//! * Core assigns every [`ConnId`]: client sides ([`Balancer::accept`]),
//!   server sides and health probes ([`Action::Connect`]). An id carries a
//!   generation, so input for a connection core has closed is ignored.
//!   A connect's `source` (the server's `source` line) is bound before
//!   connecting; a failure to bind is reported as
//!   [`ConnError::CantBind`] in [`Event::Connected`].
//! * [`Action::Interest`] says whether core wants to read and/or write a
//!   connection. Readiness is edge-like: when interest comes back on, the
//!   driver tries the operation at once (the socket may already be ready).
//! * Buffers belong to core. The driver reads straight into
//!   [`Balancer::recv_buf`] and writes straight from [`Balancer::send_buf`]:
//!   no copy, no allocation per read, and an idle connection holds none.
//! * [`Action::Close`] ends a connection for good; core forgets the id.
//! * Stopping: [`Balancer::shutdown`] closes everything at once (SIGTERM);
//!   [`Balancer::soft_stop`] (SIGUSR1) unbinds the listeners and lets the
//!   sessions end, killing those left after `hard-stop-after`. Once
//!   [`Balancer::is_stopped`] says so, the driver calls `shutdown` (which
//!   closes the health probes) and exits.
//!
//! # Modules
//!
//! [`config`] parses HAProxy's language; `balance` picks servers; `health`
//! runs checks and rise/fall hysteresis; `session` splices a client to a
//! server; `proxy` holds the [`Balancer`] itself; `logging` frames log
//! lines (targets, `log-format`, syslog headers, local dates);
//! [`runtime_api`] speaks HAProxy's stats socket protocol; [`loops`] says
//! how several event loops (`nbthread`), each with its own `Balancer`,
//! share health, limits and counters.

#![forbid(unsafe_code)]

pub mod config;
/// DNS messages and resolution of server host names.
pub mod dns;
/// Oracles of the cargo-fuzz targets, for fuzz targets and their corpus
/// replay tests only: not part of weir-core's API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod limits;
pub mod loops;
pub mod runtime_api;

mod action;
mod arena;
mod balance;
mod buffer;
mod health;
mod hello;
mod id;
mod logging;
mod proxy;
pub mod proxy_protocol;
mod rng;
pub mod server_state;
mod session;
pub mod stats;
mod time;
mod timer;
mod tls;
mod tls_client;

pub use action::{Action, ConnError, Event, LogLine, LogSink, SourceBind};
#[doc(hidden)]
pub use balance::PickBench;
pub use id::{BackendId, ConnId, FrontendId, ListenerId, ServerId};
pub use logging::LineFormat;
pub use proxy::{
    BackendStates, Balancer, HealthVerdict, ListenAddr, NoSuchServer, ReloadReport, Tally,
};
pub use time::Instant;
