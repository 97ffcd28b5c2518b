//! `accept-proxy`: a client connection's PROXY protocol header is read
//! before it becomes a session.
//!
//! # Lifecycle
//!
//! ```text
//! accept ──> Pending (reading, within `timeout client`)
//!              ├─header decoded──> a session, with the header's addresses
//!              │                   and the bytes that followed it
//!              └─malformed / truncated / closed / reset / timeout──> closed, logged
//! ```
//!
//! The header is read into a buffer from the pool, taken on the first read
//! as a session's, and handed to the session with what follows it. A
//! connection whose header is bad is closed alone; the log line is
//! HAProxy's (`<addr>:<port> [<date>] <frontend>/<bind>: <reason>`).

use std::net::SocketAddr;

use super::traffic::Adopted;
use super::{Balancer, LogTargets, Role};
use crate::config::Severity;
use crate::id::{ConnId, FrontendId};
use crate::proxy_protocol::{self, DecodeError};
use crate::session::Pipe;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// A client connection whose PROXY header is not read yet.
pub(super) struct Pending {
    pub(super) conn: ConnId,
    pub(super) generation: u32,
    frontend: FrontendId,
    /// The bind's number in its frontend (HAProxy's listener `luid`).
    bind: usize,
    peer: SocketAddr,
    local: SocketAddr,
    /// What the client sent so far.
    pub(super) input: Pipe,
    accepted: Instant,
    deadline: Option<Instant>,
    /// Earliest entry in the timer queue.
    queued: Option<Instant>,
}

/// Why a pending connection is closed, in HAProxy's words.
enum Failure {
    Header(DecodeError),
    Empty,
    Truncated,
    Abort,
    Timeout,
}

impl Failure {
    fn reason(&self) -> String {
        match self {
            Failure::Header(e) => e.to_string(),
            Failure::Empty => "Connection closed while waiting for PROXY protocol header".into(),
            Failure::Truncated => "Truncated PROXY protocol header received".into(),
            Failure::Abort => "Connection error while waiting for PROXY protocol header".into(),
            Failure::Timeout => "Timeout while waiting for PROXY protocol header".into(),
        }
    }
}

impl Balancer {
    /// Accepts a connection on an `accept-proxy` bind: it waits for its
    /// header, within its frontend's `timeout client`.
    pub(super) fn accept_pending(
        &mut self,
        now: Instant,
        fe: FrontendId,
        bind: usize,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> ConnId {
        let p = self.pending.vacant_key();
        let generation = self.next_generation();
        let conn = self.open_conn(Role::Pending(p));
        let deadline = self.frontends[fe].config.timeout_client.map(|t| now + t);
        let mut pending = Pending {
            conn,
            generation,
            frontend: fe,
            bind,
            peer,
            local,
            input: Pipe::default(),
            accepted: now,
            deadline,
            queued: None,
        };
        if let Some(at) = deadline {
            let key = TimerKey::Pending(p, generation);
            self.timers.schedule(&mut pending.queued, at, key);
        }
        self.pending.insert(pending);
        self.set_interest(conn, true, false);
        self.refresh_listeners();
        conn
    }

    /// Space for the client's next bytes, while the header is incomplete.
    pub(super) fn pending_recv_buf(&mut self, p: usize) -> Option<&mut [u8]> {
        let pending = self.pending.get_mut(p)?;
        self.lent_pending = Some(p);
        pending
            .input
            .spare(&mut self.pool)
            .filter(|b| !b.is_empty())
    }

    /// Takes back the buffer lent for a read that brought nothing.
    pub(super) fn settle_pending(&mut self) {
        if let Some(p) = self.lent_pending.take() {
            if let Some(pending) = self.pending.get_mut(p) {
                pending.input.release_if_empty(&mut self.pool);
            }
        }
    }

    /// The client sent `n` more bytes: the header is tried again.
    pub(super) fn on_pending_received(&mut self, now: Instant, p: usize, n: usize) {
        let Some(pending) = self.pending.get_mut(p) else {
            return;
        };
        pending.input.commit(n);
        let bytes = pending.input.stream_start();
        let decoded = match proxy_protocol::decode(bytes, proxy_protocol::MAX_V2_LEN) {
            Ok(None) => return,
            Err(e) => return self.fail_pending(now, p, Failure::Header(e)),
            Ok(Some(header)) => header,
        };
        let (peer, local) = decoded.addrs.unwrap_or((pending.peer, pending.local));
        let authority = decoded.authority.map(Box::<[u8]>::from);
        let len = decoded.len;
        let mut pending = self.pending.remove(p);
        if let Some(buf) = &mut pending.input.buf {
            buf.consume(len);
        }
        pending.input.release_if_empty(&mut self.pool);
        let conn = pending.conn;
        let adopted = Adopted {
            conn,
            input: pending.input,
            accepted: pending.accepted,
            authority,
        };
        let started = self.start_session(now, pending.frontend, peer, local, Some(adopted));
        if started.is_none() {
            self.give_client(pending.frontend);
        }
        self.refresh_listeners();
        if started.is_none() {
            self.counters.connection_closed();
            self.close(conn, false);
        }
    }

    /// The client closed (`reset`: broke) its connection before its header
    /// was complete.
    pub(super) fn on_pending_closed(&mut self, now: Instant, p: usize, reset: bool) {
        let Some(pending) = self.pending.get(p) else {
            return;
        };
        let failure = match (reset, pending.input.is_empty()) {
            (true, _) => Failure::Abort,
            (false, true) => Failure::Empty,
            (false, false) => Failure::Truncated,
        };
        self.fail_pending(now, p, failure);
    }

    pub(super) fn on_pending_timer(
        &mut self,
        now: Instant,
        at: Instant,
        p: usize,
        generation: u32,
    ) {
        let Some(pending) = self
            .pending
            .get_mut(p)
            .filter(|x| x.generation == generation)
        else {
            return;
        };
        popped(&mut pending.queued, at);
        match pending.deadline {
            Some(deadline) if deadline <= now => self.fail_pending(now, p, Failure::Timeout),
            Some(deadline) => {
                let key = TimerKey::Pending(p, generation);
                self.timers.schedule(&mut pending.queued, deadline, key);
            }
            None => {}
        }
    }

    /// Closes pending connection `p`, logged as HAProxy logs a failed
    /// handshake (with `option dontlognull`, not when nothing came).
    fn fail_pending(&mut self, now: Instant, p: usize, failure: Failure) {
        let mut pending = self.pending.remove(p);
        pending.input.release(&mut self.pool);
        self.give_client(pending.frontend);
        let reset = matches!(failure, Failure::Abort);
        self.close(pending.conn, reset);
        self.counters.connection_closed();
        self.refresh_listeners();
        let frontend = &self.frontends[pending.frontend].config;
        let silent = matches!(failure, Failure::Empty | Failure::Abort) && frontend.dontlognull;
        if !frontend.tcplog || frontend.logs.is_empty() || silent {
            return;
        }
        let mut line = format!("{}:{} [", pending.peer.ip(), pending.peer.port());
        self.clock.write_accept_date(pending.accepted, &mut line);
        let frontend = &self.frontends[pending.frontend].config;
        line.push_str(&format!(
            "] {}/{}: {}",
            frontend.name,
            pending.bind + 1,
            failure.reason()
        ));
        let fe = LogTargets::Frontend(pending.frontend);
        self.log(now, fe, Severity::Info, &line, None);
    }

    /// Forgets every pending connection (their ids are closed with the
    /// rest at a hard stop).
    pub(super) fn drop_pending(&mut self) {
        for mut pending in self.pending.drain() {
            pending.input.release(&mut self.pool);
            self.limits.give(self.global_slot);
            if let Some(slot) = self.frontends.get(pending.frontend).and_then(|f| f.slot) {
                self.limits.give(slot);
            }
        }
        self.lent_pending = None;
    }

    /// Pending connections (they hold global `maxconn` tokens).
    pub(super) fn pending_count(&self) -> u32 {
        self.pending.len() as u32
    }

    /// Pending connections of frontend `fe`.
    #[cfg(debug_assertions)]
    pub(super) fn pending_of(&self, fe: FrontendId) -> u32 {
        self.pending
            .iter()
            .filter(|(_, p)| p.frontend == fe)
            .count() as u32
    }
}
