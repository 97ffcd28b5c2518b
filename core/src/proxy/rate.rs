//! Accept rates: `rate-limit sessions` per frontend, `maxconnrate` and
//! `maxsessrate` over the process. As HAProxy 2.6 (src/freq_ctr.c,
//! listener.c): each rate is counted over a sliding one-second window;
//! when no event is left in it, accepting pauses (the connections wait in
//! the kernel's backlog) until the next one may come, then resumes.
//! Stats sockets are never limited.
//!
//! The counters are the process's, in the limit pool
//! ([`crate::limits`]), shared by the event loops: before an accept a
//! loop reserves an event of each rate ([`Balancer::admit`]), counts it
//! when the accept brings a connection and hands it back when it does
//! not. A loop that finds a rate full pauses until the next event may
//! come, or until another loop hands a reservation back.

use std::collections::HashMap;
use std::time::Duration;

use super::Balancer;
use crate::config::traffic::Rates;
use crate::id::FrontendId;
use crate::limits::{LimitKey, LimitSlot, Limits};
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// The rates' counters and the pauses they set.
pub(super) struct RateState {
    /// `maxconnrate`, `maxsessrate`.
    pub(super) limits: Rates,
    /// Their counters in the limit pool.
    conn: LimitSlot,
    sess: LimitSlot,
    /// The rates reserved for the admitted connection, until its accept.
    reserved: [Option<LimitSlot>; 3],
    /// Every traffic listener pauses until then.
    until: Option<Instant>,
    /// A frontend's listeners pause until then.
    frontend_until: HashMap<FrontendId, Instant>,
    /// Timer entry.
    queued: Option<Instant>,
}

impl RateState {
    /// No event counted yet, with these process-wide `limits` counted in
    /// `pool`.
    pub(super) fn new(limits: Rates, pool: &Limits) -> Self {
        RateState {
            limits,
            conn: pool.slot(&LimitKey::ConnRate),
            sess: pool.slot(&LimitKey::SessRate),
            reserved: [None; 3],
            until: None,
            frontend_until: HashMap::new(),
            queued: None,
        }
    }

    /// The process-wide rates' counters move to `pool`.
    pub(super) fn share(&mut self, pool: &Limits) {
        self.conn = pool.slot(&LimitKey::ConnRate);
        self.sess = pool.slot(&LimitKey::SessRate);
    }

    /// Whether frontend `fe`'s listeners pause for a rate.
    pub(super) fn paused(&self, fe: FrontendId) -> bool {
        self.until.is_some() || self.frontend_until.contains_key(&fe)
    }

    fn next(&self) -> Option<Instant> {
        self.until
            .into_iter()
            .chain(self.frontend_until.values().copied())
            .min()
    }
}

impl Balancer {
    /// The rates a connection on frontend `fe` counts in: the process's
    /// and the frontend's, with their limits (`None`: not limited, not
    /// counted).
    fn rates_of(&self, fe: FrontendId) -> [(Option<LimitSlot>, Option<u32>); 3] {
        let rates = &self.rates;
        let frontend = self.frontends.get(fe);
        [
            (Some(rates.conn), rates.limits.conn),
            (Some(rates.sess), rates.limits.sess),
            (
                frontend.and_then(|f| f.rate_slot),
                frontend.and_then(|f| f.config.traffic.rate_limit_sessions),
            ),
        ]
    }

    /// Before accepting a connection on a listener of frontend `fe`:
    /// reserves an event of each of its rates. When one has none left,
    /// the others go back and the listeners it limits pause until the
    /// next event may come (or another loop hands one back).
    pub(super) fn reserve_rates(&mut self, now: Instant, fe: FrontendId) -> bool {
        self.unreserve_rates();
        let rates = self.rates_of(fe);
        for (i, (slot, freq)) in rates.into_iter().enumerate() {
            let (Some(slot), Some(freq)) = (slot, freq) else {
                continue;
            };
            match self.limits.reserve(slot, now, freq) {
                Ok(()) => self.rates.reserved[i] = Some(slot),
                Err(delay) => {
                    self.unreserve_rates();
                    self.pause_rate(now, fe, i, delay);
                    self.schedule_rate_timer();
                    return false;
                }
            }
        }
        true
    }

    /// The accept after [`Balancer::reserve_rates`] found nothing: the
    /// events go back.
    pub(super) fn unreserve_rates(&mut self) {
        for slot in self.rates.reserved.iter_mut().filter_map(Option::take) {
            self.limits.unreserve(slot);
        }
    }

    /// Rate `i` of [`Balancer::rates_of`] for frontend `fe` allows no event
    /// for `delay`: the listeners it limits pause until then.
    fn pause_rate(&mut self, now: Instant, fe: FrontendId, i: usize, delay: Duration) {
        let at = now + delay;
        if i < 2 {
            self.rates.until = self.rates.until.max(Some(at));
        } else {
            let until = self.rates.frontend_until.entry(fe).or_insert(at);
            *until = (*until).max(at);
        }
    }

    /// A connection was accepted on a listener of frontend `fe`: its
    /// reserved events are counted; a rate that has no event left pauses
    /// accepting.
    pub(super) fn count_accept_rate(&mut self, now: Instant, fe: FrontendId) {
        for slot in self.rates.reserved.iter_mut().filter_map(Option::take) {
            self.limits.count(slot, now);
        }
        let rates = self.rates_of(fe);
        for (i, (slot, freq)) in rates.into_iter().enumerate() {
            let (Some(slot), Some(freq)) = (slot, freq) else {
                continue;
            };
            let delay = self.limits.rate_delay(slot, now, freq);
            if !delay.is_zero() {
                self.pause_rate(now, fe, i, delay);
            }
        }
        if self.rates.next().is_some() {
            self.schedule_rate_timer();
            self.refresh_listeners();
        }
    }

    /// A rate's pause is over: accepting resumes if the rate allows an
    /// event now, else the pause goes on (HAProxy's `listener_accept`).
    pub(super) fn on_rate_timer(&mut self, now: Instant, at: Instant) {
        popped(&mut self.rates.queued, at);
        self.recheck_rates(now, now);
    }

    /// Another loop handed back events this loop waited for: every pause
    /// ends whose rate allows an event now.
    pub(super) fn rates_freed(&mut self, now: Instant) {
        let (global, fe) = (self.rates.until, self.rates.frontend_until.values().max());
        if let Some(last) = global.max(fe.copied()) {
            self.recheck_rates(now, last);
        }
    }

    /// The pauses due by `due`: each ends if its rates allow an event at
    /// `now`, else goes on until they do.
    fn recheck_rates(&mut self, now: Instant, due: Instant) {
        let (conn, sess, limits) = (self.rates.conn, self.rates.sess, self.rates.limits);
        if self.rates.until.is_some_and(|u| u <= due) {
            let mut again = None;
            for (slot, freq) in [(conn, limits.conn), (sess, limits.sess)] {
                let delay = freq.map_or(Duration::ZERO, |f| self.limits.rate_delay(slot, now, f));
                if !delay.is_zero() {
                    again = again.max(Some(now + delay));
                }
            }
            self.rates.until = again;
        }
        let frontends = &self.frontends;
        let limits = &self.limits;
        self.rates.frontend_until.retain(|fe, until| {
            if *until > due {
                return true;
            }
            let frontend = frontends.get(*fe);
            let rate = frontend.and_then(|f| f.rate_slot);
            let freq = frontend.and_then(|f| f.config.traffic.rate_limit_sessions);
            let delay = match (rate, freq) {
                (Some(slot), Some(f)) => limits.rate_delay(slot, now, f),
                _ => Duration::ZERO,
            };
            *until = now + delay;
            !delay.is_zero()
        });
        self.schedule_rate_timer();
        self.refresh_listeners();
    }

    fn schedule_rate_timer(&mut self) {
        if let Some(at) = self.rates.next() {
            self.timers
                .schedule(&mut self.rates.queued, at, TimerKey::Rate);
        }
    }
}
