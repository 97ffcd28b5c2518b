//! Splicing: when a direction of a session is handed to the kernel
//! ([`Action::Splice`]), and what core learns of the bytes it moves
//! ([`crate::Event::SplicedIn`], [`crate::Event::SplicedOut`]).
//!
//! A direction is handed over once core has no further use for its bytes:
//! the session is established, speaks no TLS to its server (weir encrypts
//! and decrypts those bytes), keeps no replay window (`option
//! replay-until-response` holds the client's bytes until the server's
//! first one), has no PROXY header still to send, no server reset being
//! delivered, its buffer is empty (bytes keep their order) and its source
//! has not sent its FIN. Then it is handed over at once with `option
//! splice-request` (client to server) or `option splice-response` (server
//! to client) on the frontend or the backend, or, with `splice-auto`
//! (weir's default), once its reads show a bulk stream (two reads in a row
//! of half a buffer or more). `nosplice`, or a driver that cannot splice,
//! turns it all off.
//!
//! Core keeps counting: bytes read into the pipe count as received (the
//! source's inactivity clock restarts, the frontend's `bytes_in` grows),
//! bytes written from it as sent (`%U`/`%B`, the sink's clock); a FIN is
//! forwarded once the pipe is empty; a pipe holding
//! [`crate::session::PIPE_FULL`] bytes stops the reads, as a full buffer
//! does, so timeouts stay HAProxy's.

use std::collections::VecDeque;

use super::Balancer;
use crate::action::Action;
use crate::config::traffic::Splice;
use crate::session::{Phase, Session};
use crate::time::Instant;

impl Balancer {
    /// The driver can splice (Linux): from now on core may hand directions
    /// over with [`Action::Splice`], unless the configuration says
    /// `nosplice`.
    pub fn enable_splice(&mut self) {
        self.splice = true;
    }

    /// The kernel moved `n` bytes of session `s`: read from (`read`) or
    /// written to its client (`client`) or server side.
    pub(super) fn on_spliced(
        &mut self,
        now: Instant,
        s: usize,
        client: bool,
        read: bool,
        n: usize,
    ) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let (f, b, t) = (session.frontend, session.backend, session.target);
        match (client, read) {
            (true, true) => {
                session.up.kernel_read(n);
                session.client_deadline = session.idle.0.map(|t| now + t);
                self.count_client_bytes(f, b, t, n as u64, 0);
            }
            (false, true) => {
                session.down.kernel_read(n);
                session.stop_replay();
                session.server_deadline = session.idle.1.map(|t| now + t);
            }
            (true, false) => {
                session.down.kernel_written(n);
                let indep = self.frontends[f].config.traffic.independent_streams;
                if !(indep && session.up.wants_read()) {
                    session.client_deadline = session.idle.0.map(|t| now + t);
                }
                self.counters.bytes_sent(now, n as u64);
                self.count_client_bytes(f, b, t, 0, n as u64);
            }
            (false, false) => {
                session.up.kernel_written(n);
                let indep = self.backends[b].config.traffic.independent_streams;
                if !(indep && session.down.wants_read()) {
                    session.server_deadline = session.idle.1.map(|t| now + t);
                }
                self.counters.bytes_sent(now, n as u64);
            }
        }
        self.reconcile(now, s);
    }
}

/// Hands the directions of `session` that core has no further use for to
/// the kernel (see the module's doc), given its frontend's and backend's
/// options.
pub(super) fn offer(
    session: &mut Session,
    frontend: &Splice,
    backend: &Splice,
    actions: &mut VecDeque<Action>,
) {
    if session.phase != Phase::Established
        || session.tls.is_some()
        || session.replay
        || session.ending.is_some()
    {
        return;
    }
    let Some(server) = session.server else {
        return;
    };
    let auto = auto(frontend, backend);
    let header = session.pending_header().is_some();
    let up = &mut session.up;
    if !up.kernel
        && !header
        && up.buf.is_none()
        && !up.eof
        && (frontend.request || backend.request || (auto && up.streaming()))
    {
        up.kernel = true;
        actions.push_back(Action::Splice {
            from: session.client,
            to: server,
        });
    }
    let down = &mut session.down;
    if !down.kernel
        && down.buf.is_none()
        && !down.eof
        && (frontend.response || backend.response || (auto && down.streaming()))
    {
        down.kernel = true;
        actions.push_back(Action::Splice {
            from: server,
            to: session.client,
        });
    }
}

/// `splice-auto` for a session: on when its frontend or backend turns it
/// on, off when one turns it off and neither on, else weir's default, on.
fn auto(frontend: &Splice, backend: &Splice) -> bool {
    match (frontend.auto, backend.auto) {
        (Some(true), _) | (_, Some(true)) => true,
        (Some(false), _) | (_, Some(false)) => false,
        (None, None) => true,
    }
}
