//! `option independent-streams`: each direction has its own timeout, as
//! HAProxy's read timeout of a side that is not refreshed by writes to
//! it (`SC_FL_INDEP_STR`).
//!
//! The side's timeout is refreshed by reads from it only while weir reads
//! from it (see `on_sent`). When it runs out while weir was reading that
//! side, HAProxy shuts that direction only (`shutr`): weir stops reading
//! it and forwards a FIN to the other side once its bytes are written,
//! while the other direction goes on to its own end. The session is
//! logged `cD` (`sD`) whatever ends it then.

use super::Balancer;
use crate::session::Phase;
use crate::time::Instant;

impl Balancer {
    /// A side of established session `s` whose read timeout ran out under
    /// `option independent-streams` is shut for reading. Returns whether
    /// that is what the session's timer was for.
    pub(super) fn read_timed_out(&mut self, now: Instant, s: usize) -> bool {
        let Some(session) = self.sessions.get_mut(s) else {
            return false;
        };
        if session.phase != Phase::Established {
            return false;
        }
        let due = |deadline: Option<Instant>| deadline.is_some_and(|d| d <= now);
        let frontend = &self.frontends[session.frontend].config;
        let backend = &self.backends[session.backend].config;
        let client = due(session.client_deadline)
            && frontend.traffic.independent_streams
            && session.up.wants_read();
        let server = !client
            && due(session.server_deadline)
            && backend.traffic.independent_streams
            && session.down.wants_read()
            && session.tls.is_none();
        if !(client || server) {
            return false;
        }
        let who = if client { 'c' } else { 's' };
        session.ending.get_or_insert([who, 'D']);
        if client {
            session.up.eof = true;
            session.client_deadline = None;
        } else {
            session.down.eof = true;
            session.server_deadline = None;
        }
        self.reconcile(now, s);
        true
    }
}
