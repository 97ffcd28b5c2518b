//! Accept rates: `rate-limit sessions` per frontend, `maxconnrate` and
//! `maxsessrate` over the process. As HAProxy 2.6 (src/freq_ctr.c,
//! listener.c): each rate is counted over a sliding one-second window;
//! when no event is left in it, accepting pauses (the connections wait in
//! the kernel's backlog) until the next one may come, then resumes.
//! Stats sockets are never limited.

use std::collections::HashMap;
use std::time::Duration;

use super::Balancer;
use crate::config::traffic::Rates;
use crate::id::FrontendId;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// HAProxy's period of a rate, in milliseconds.
const PERIOD_MS: u64 = 1000;

/// HAProxy's `freq_ctr` over one second: events of the current period and
/// of the one before.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FreqCtr {
    /// Start of the current period.
    start: Option<Instant>,
    curr: u32,
    prev: u32,
}

impl FreqCtr {
    /// Counts `inc` events at `now` (`update_freq_ctr`).
    pub(super) fn update(&mut self, now: Instant, inc: u32) {
        let period = Duration::from_millis(PERIOD_MS);
        let start = *self.start.get_or_insert(now);
        if now.saturating_duration_since(start) >= period {
            self.prev = self.curr;
            self.curr = 0;
            let mut next = start + period;
            if now.saturating_duration_since(next) >= period {
                // Two periods or more went by.
                self.prev = 0;
                next = now;
            }
            self.start = Some(next);
        }
        self.curr = self.curr.saturating_add(inc);
    }

    /// Events over the last second, scaled by the period
    /// (`freq_ctr_total` with no pending event).
    fn total(&self, now: Instant) -> u64 {
        let Some(start) = self.start else {
            return 0;
        };
        let elapsed = now.saturating_duration_since(start).as_millis() as i64;
        let mut remain = PERIOD_MS as i64 - elapsed;
        let (mut curr, mut past) = (u64::from(self.curr), u64::from(self.prev));
        if remain < 0 {
            remain += PERIOD_MS as i64;
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        past * remain.max(0) as u64 + curr * PERIOD_MS
    }

    /// How many more events `freq` per second allows now
    /// (`freq_ctr_remain`).
    pub(super) fn remain(&self, now: Instant, freq: u32) -> u32 {
        let avg = (self.total(now) / PERIOD_MS).min(u64::from(freq)) as u32;
        freq - avg
    }

    /// How long until the next event may come at `freq` per second; zero
    /// if it may now. HAProxy's `next_event_delay` answers 1 ms while the
    /// current second's own events fill the window, and its listener asks
    /// again every millisecond; this is the first millisecond at which
    /// HAProxy's answer is zero, found at once (the window only empties
    /// as time passes, so a binary search over the next two seconds).
    pub(super) fn next_event_delay(&self, now: Instant, freq: u32) -> Duration {
        let limit = u64::from(freq) * PERIOD_MS;
        let allows = |ms: u64| self.total(now + Duration::from_millis(ms)) < limit;
        if allows(0) {
            return Duration::ZERO;
        }
        let (mut lo, mut hi) = (1, 2 * PERIOD_MS);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if allows(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Duration::from_millis(lo)
    }
}

/// The rates' counters and the pauses they set.
#[derive(Default)]
pub(super) struct RateState {
    /// `maxconnrate`, `maxsessrate`.
    pub(super) limits: Rates,
    conn: FreqCtr,
    sess: FreqCtr,
    /// Sessions of the frontends with `rate-limit sessions`.
    frontends: HashMap<FrontendId, FreqCtr>,
    /// Every traffic listener pauses until then.
    until: Option<Instant>,
    /// A frontend's listeners pause until then.
    frontend_until: HashMap<FrontendId, Instant>,
    /// Timer entry.
    queued: Option<Instant>,
}

impl RateState {
    /// No event counted yet, with these process-wide `limits`.
    pub(super) fn new(limits: Rates) -> Self {
        RateState {
            limits,
            ..Default::default()
        }
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
    /// A connection was accepted on a listener of frontend `fe`: counted
    /// in the rates; a rate that has no event left pauses accepting.
    pub(super) fn count_accept_rate(&mut self, now: Instant, fe: FrontendId) {
        let lp = self.event_loop;
        let limit =
            (self.frontends[fe].config.traffic.rate_limit_sessions).map(|f| lp.rate_share(f));
        let rates = &mut self.rates;
        let limits = rates.limits;
        let mut until = None;
        for (ctr, freq) in [
            (&mut rates.conn, limits.conn),
            (&mut rates.sess, limits.sess),
        ] {
            ctr.update(now, 1);
            if let Some(freq) = freq.filter(|&f| ctr.remain(now, f) == 0) {
                let at = now + ctr.next_event_delay(now, freq);
                until = until.max(Some(at));
            }
        }
        if until.is_some() {
            rates.until = rates.until.max(until);
        }
        if let Some(freq) = limit {
            let ctr = rates.frontends.entry(fe).or_default();
            ctr.update(now, 1);
            if ctr.remain(now, freq) == 0 {
                let at = now + ctr.next_event_delay(now, freq);
                rates.frontend_until.insert(fe, at);
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
        let rates = &mut self.rates;
        popped(&mut rates.queued, at);
        if rates.until.is_some_and(|u| u <= now) {
            let limits = rates.limits;
            let mut again = None;
            for (ctr, freq) in [(&rates.conn, limits.conn), (&rates.sess, limits.sess)] {
                let delay = freq.map_or(Duration::ZERO, |f| ctr.next_event_delay(now, f));
                if !delay.is_zero() {
                    again = again.max(Some(now + delay));
                }
            }
            rates.until = again;
        }
        let frontends = &self.frontends;
        let lp = self.event_loop;
        let counters = &rates.frontends;
        rates.frontend_until.retain(|fe, until| {
            if *until > now {
                return true;
            }
            let freq = frontends
                .get(*fe)
                .and_then(|f| f.config.traffic.rate_limit_sessions)
                .map(|f| lp.rate_share(f));
            let delay = match (freq, counters.get(fe)) {
                (Some(f), Some(ctr)) => ctr.next_event_delay(now, f),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// HAProxy's window: 10/s allows 10 events in the first second, then
    /// the previous second's events fade out linearly.
    #[test]
    fn a_freq_ctr_counts_over_a_sliding_second_as_haproxys() {
        let t0 = crate::proxy::tests::epoch();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut ctr = FreqCtr::default();
        for _ in 0..10 {
            ctr.update(t0, 1);
        }
        assert_eq!(ctr.remain(t0, 10), 0);
        // All 10 in the current period: the next may come as soon as they
        // start to fade, 1 ms into the next period (the average is
        // rounded down, 9.99 is 9).
        assert_eq!(ctr.next_event_delay(t0, 10), Duration::from_millis(1001));
        assert_eq!(ctr.remain(ms(999), 10), 0);
        assert_eq!(ctr.remain(ms(1100), 10), 1);
        assert_eq!(ctr.next_event_delay(ms(1100), 10), Duration::ZERO);
        assert_eq!(ctr.remain(ms(1500), 10), 5);
        assert_eq!(ctr.remain(ms(2000), 10), 10);
        ctr.update(ms(1500), 1);
        assert_eq!(ctr.remain(ms(1500), 10), 4);
        // Two periods later nothing is left of them.
        ctr.update(ms(4000), 1);
        assert_eq!(ctr.remain(ms(4000), 10), 9);
    }
}
