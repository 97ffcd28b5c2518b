//! A client that closes (FIN) before its session reached a server: HAProxy
//! 2.6's `back_may_abort_req` and `back_handle_st_con` in TCP mode, as
//! 2.6.12 logs them.
//!
//! Queued, in the pause before a retry, or during a connect, a session
//! whose client sent its FIN is aborted (`CQ`, `CC` with `%Tc` -1; a
//! pending connect is closed with an RST) when the client sent nothing
//! still to forward, or with `option abortonclose` whatever it sent;
//! otherwise it goes on, sends the bytes, then the FIN.
//!
//! A FIN read with the accept itself (HAProxy reads it while it sets the
//! session up and starts the connect) does not abort a connect in flight
//! without `option abortonclose`: HAProxy looks at it again only once the
//! connect is over. (HAProxy races there: now and then it logs such a
//! session `--`, or aborts the connect.)

use super::Balancer;
use crate::session::Phase;
use crate::time::Instant;

impl Balancer {
    /// Ends session `s` if its client sent its FIN and HAProxy would give
    /// the session up where it is now (checked whenever the session's
    /// state changes, as HAProxy re-checks at each pass). Returns whether
    /// it did.
    pub(super) fn abort_on_close(&mut self, now: Instant, s: usize) -> bool {
        let Some(session) = self.sessions.get_mut(s) else {
            return false;
        };
        if !session.up.eof || session.phase == Phase::Established {
            return false;
        }
        let option = self.backends[session.backend].config.traffic.abortonclose;
        let nothing_to_send = session.up.is_empty();
        let in_flight = session.phase == Phase::Connecting && session.retry_at.is_none();
        let termination = match session.phase {
            _ if !(nothing_to_send || option) => return false,
            _ if in_flight && session.early_fin && !option => return false,
            Phase::Queued => ['C', 'Q'],
            _ => ['C', 'C'],
        };
        // HAProxy gives the pending connect up with `SC_FL_NOLINGER`.
        if let Some(conn) = session.server.take() {
            self.close(conn, true);
        }
        self.end(now, s, termination, false);
        true
    }
}
