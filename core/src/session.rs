//! A session: one client connection spliced to one server connection.
//!
//! # Lifecycle
//!
//! ```text
//! accept ──> Connecting ──Connected Ok──> Established ──both FINs forwarded──> end "--"
//!               │  client bytes are read and held meanwhile       │
//!               ├─Connected Err / timeout connect──> end "SC"/"sC"  ├─RST either side──> end "CD"/"SD"
//!               └─client RST──> end "CC"                           └─inactivity──> end "cD"/"sD"
//! ```
//!
//! Each direction is a [`Pipe`]: bytes read from one side wait in its
//! buffer until written to the other; the reader stops (no read interest)
//! while the buffer is full, which is the backpressure. A FIN read from one
//! side is forwarded as a write shutdown to the other once the pipe is
//! empty; the other direction keeps flowing until its own FIN.

use std::net::SocketAddr;
use std::time::Duration;

use crate::buffer::{Buffer, Pool};
use crate::id::ConnId;
use crate::time::Instant;

/// One direction of a session.
#[derive(Default)]
pub(crate) struct Pipe {
    /// Bytes in flight; `None` while there are none.
    pub buf: Option<Buffer>,
    /// The source sent FIN.
    pub eof: bool,
    /// The FIN was forwarded to the sink.
    pub shut: bool,
    /// Bytes that went through.
    pub bytes: u64,
}

impl Pipe {
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.as_ref().is_none_or(Buffer::is_empty)
    }

    /// The reader may read: no FIN yet and room in the buffer.
    pub(crate) fn wants_read(&self) -> bool {
        !self.eof && !self.buf.as_ref().is_some_and(Buffer::is_full)
    }

    /// Space to read into, taking a buffer from the pool if needed.
    pub(crate) fn spare(&mut self, pool: &mut Pool) -> Option<&mut [u8]> {
        if !self.wants_read() {
            return None;
        }
        Some(self.buf.get_or_insert_with(|| pool.take()).spare())
    }

    pub(crate) fn filled(&self) -> Option<&[u8]> {
        self.buf
            .as_ref()
            .map(Buffer::filled)
            .filter(|b| !b.is_empty())
    }

    pub(crate) fn commit(&mut self, n: usize) {
        if let Some(buf) = &mut self.buf {
            buf.commit(n);
        }
    }

    pub(crate) fn consume(&mut self, n: usize) {
        if let Some(buf) = &mut self.buf {
            buf.consume(n);
            self.bytes += n as u64;
        }
    }

    /// Gives an empty buffer back to the pool: idle pipes hold none.
    pub(crate) fn release_if_empty(&mut self, pool: &mut Pool) {
        if self.buf.as_ref().is_some_and(Buffer::is_empty) {
            if let Some(buf) = self.buf.take() {
                pool.put(buf);
            }
        }
    }

    pub(crate) fn release(&mut self, pool: &mut Pool) {
        if let Some(buf) = self.buf.take() {
            pool.put(buf);
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the server connection (termination phase `C`).
    Connecting,
    /// Splicing bytes (termination phase `D`).
    Established,
}

/// A client spliced to a server.
pub(crate) struct Session {
    /// Generation of the session slot, for timer entries.
    pub generation: u32,
    pub client: ConnId,
    pub server: Option<ConnId>,
    pub frontend: usize,
    pub backend: usize,
    /// Index of the server in its backend.
    pub target: usize,
    pub phase: Phase,
    /// Client to server.
    pub up: Pipe,
    /// Server to client.
    pub down: Pipe,
    pub peer: SocketAddr,
    /// `timeout client` of the frontend.
    pub timeout_client: Option<Duration>,
    /// `timeout server` of the backend.
    pub timeout_server: Option<Duration>,
    pub accepted: Instant,
    pub connected: Option<Instant>,
    pub connect_deadline: Option<Instant>,
    pub client_deadline: Option<Instant>,
    pub server_deadline: Option<Instant>,
    /// Earliest entry this session has in the timer queue.
    pub queued: Option<Instant>,
}

impl Session {
    /// The earliest of the session's deadlines.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [
            self.connect_deadline,
            self.client_deadline,
            self.server_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Termination phase letter for the log.
    pub(crate) fn phase_letter(&self) -> char {
        match self.phase {
            Phase::Connecting => 'C',
            Phase::Established => 'D',
        }
    }
}
