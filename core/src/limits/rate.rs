//! Per-second rates shared by event loops: HAProxy's `freq_ctr`
//! (src/freq_ctr.c, include/haproxy/freq_ctr.h) in two atomic words.
//!
//! A rate counts events over a sliding second: those of the current
//! period and, fading out linearly, those of the one before. A loop
//! reserves an event before it accepts (the reservation counts as
//! HAProxy's pending events, so two loops never both take the last
//! one), then counts it or hands it back. Time is the loops' one
//! monotonic clock, passed in as microseconds since the pool first saw a
//! rate.
//!
//! The period's start and the counts live in two words; a new period
//! moves both. Whoever moves the start (a compare-and-swap) gives it the
//! next generation; the counts carry the generation they belong to, and
//! any loop that finds them one behind moves them (the same
//! compare-and-swap whoever does it), so no loop ever waits for another.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

/// HAProxy's period of a rate, in milliseconds.
const PERIOD_MS: u64 = 1000;
/// The period in microseconds.
const PERIOD_US: u64 = PERIOD_MS * 1000;
/// Most events a period counts (24 bits); rates at or above it never
/// bind.
const MAX_COUNT: u64 = (1 << 24) - 1;
/// Most reservations at once (8 bits; one per loop at most).
const MAX_PEND: u64 = (1 << 8) - 1;
/// Latest start the tick word holds (55 bits of microseconds).
pub(super) const MAX_MICROS: u64 = (1 << 55) - 1;

/// A rate's events as one read saw them: the current period's start
/// (microseconds; `None` before the first event), its events, the
/// previous period's and the reservations not yet counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    start: Option<u64>,
    curr: u64,
    prev: u64,
    pend: u64,
}

impl Window {
    /// Events over the last second at `now`, scaled by the period, the
    /// reservations included (`freq_ctr_total` with them pending).
    fn total(&self, now: u64) -> u64 {
        let Some(start) = self.start else {
            return self.pend * PERIOD_MS;
        };
        let elapsed = (now.saturating_sub(start) / 1000) as i64;
        let mut remain = PERIOD_MS as i64 - elapsed;
        let (mut curr, mut past) = (self.curr, self.prev);
        if remain < 0 {
            remain += PERIOD_MS as i64;
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        past * remain.max(0) as u64 + (curr + self.pend) * PERIOD_MS
    }

    /// Whether `freq` per second allows one more event at `now`
    /// (`freq_ctr_remain` above zero).
    pub(super) fn allows(&self, now: u64, freq: u32) -> bool {
        self.total(now) < u64::from(freq) * PERIOD_MS
    }

    /// How long until `freq` per second allows the next event; zero if
    /// it does now. HAProxy's `next_event_delay` answers 1 ms while the
    /// current second's own events fill the window, and its listener asks
    /// again every millisecond; this is the first millisecond at which
    /// HAProxy's answer is zero, found at once (the window only empties
    /// as time passes, so a binary search over the next two seconds).
    pub(super) fn next_event_delay(&self, now: u64, freq: u32) -> Duration {
        let allows = |ms: u64| self.allows(now + ms * 1000, freq);
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

    /// The start of the period an event at `now` falls in, and whether
    /// the previous period's events are forgotten, if that is a new
    /// period (`update_freq_ctr`'s rotation).
    fn rotation(&self, now: u64) -> Option<(u64, bool)> {
        let Some(start) = self.start else {
            return Some((now, true));
        };
        if now.saturating_sub(start) < PERIOD_US {
            return None;
        }
        let next = start + PERIOD_US;
        if now.saturating_sub(next) >= PERIOD_US {
            // Two periods or more went by.
            return Some((now, true));
        }
        Some((next, false))
    }
}

/// The tick word: start << 9 | forget-previous << 8 | generation; 0
/// before the first event.
fn tick_word(start: u64, forget: bool, generation: u64) -> u64 {
    (start.min(MAX_MICROS) << 9) | (u64::from(forget) << 8) | (generation & 0xff)
}

/// The counts word: generation << 56 | pending << 48 | current << 24 |
/// previous.
fn counts_word(generation: u64, pend: u64, curr: u64, prev: u64) -> u64 {
    ((generation & 0xff) << 56) | (pend << 48) | (curr << 24) | prev
}

fn generation(word: u64) -> u64 {
    word & 0xff
}

fn counts_generation(counts: u64) -> u64 {
    counts >> 56
}

fn pend(counts: u64) -> u64 {
    (counts >> 48) & 0xff
}

fn curr(counts: u64) -> u64 {
    (counts >> 24) & MAX_COUNT
}

fn prev(counts: u64) -> u64 {
    counts & MAX_COUNT
}

/// The counts of the period tick word `tick` started, from those of the
/// period before it.
fn rotated(tick: u64, counts: u64) -> u64 {
    let forget = tick & 0x100 != 0;
    let prev = if forget { 0 } else { curr(counts) };
    counts_word(generation(tick), pend(counts), 0, prev)
}

/// One rate, shared by the loops.
#[derive(Debug, Default)]
pub(super) struct Freq {
    tick: AtomicU64,
    counts: AtomicU64,
}

impl Freq {
    /// The tick and counts words of one moment; counts a new period left
    /// behind are moved first.
    fn read(&self) -> (u64, u64) {
        loop {
            let tick = self.tick.load(SeqCst);
            let counts = self.counts.load(SeqCst);
            let behind = generation(tick).wrapping_sub(counts_generation(counts)) & 0xff;
            match behind {
                0 => return (tick, counts),
                1 => {
                    // Whoever comes first moves them; the others fail.
                    let _ = (self.counts).compare_exchange(
                        counts,
                        rotated(tick, counts),
                        SeqCst,
                        SeqCst,
                    );
                }
                // The tick moved on since it was read: read again.
                _ => {}
            }
        }
    }

    /// The window words `tick` and `counts` describe.
    fn window((tick, counts): (u64, u64)) -> Window {
        Window {
            start: (tick != 0).then_some(tick >> 9),
            curr: curr(counts),
            prev: prev(counts),
            pend: pend(counts),
        }
    }

    /// The rate as it is now.
    pub(super) fn snapshot(&self) -> Window {
        Self::window(self.read())
    }

    /// Reserves an event at `now` if `freq` per second allows it.
    pub(super) fn reserve(&self, now: u64, freq: u32) -> bool {
        loop {
            let (tick, counts) = self.read();
            let w = Self::window((tick, counts));
            if !w.allows(now, freq) || w.pend >= MAX_PEND {
                return false;
            }
            let next = counts + (1 << 48);
            if (self.counts)
                .compare_exchange(counts, next, SeqCst, SeqCst)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Hands a reservation back, uncounted.
    pub(super) fn unreserve(&self) {
        let _ = (self.counts).fetch_update(SeqCst, SeqCst, |counts| {
            (pend(counts) > 0).then(|| counts - (1 << 48))
        });
    }

    /// Counts an event at `now` (`update_freq_ctr`), in place of a
    /// reservation if there is one.
    pub(super) fn count(&self, now: u64) {
        loop {
            let (tick, counts) = self.read();
            let w = Self::window((tick, counts));
            if let Some((start, forget)) = w.rotation(now) {
                let next = tick_word(start, forget, generation(tick) + 1);
                if (self.tick)
                    .compare_exchange(tick, next, SeqCst, SeqCst)
                    .is_ok()
                {
                    let _ = (self.counts).compare_exchange(
                        counts,
                        rotated(next, counts),
                        SeqCst,
                        SeqCst,
                    );
                }
                continue;
            }
            let (p, c) = (
                pend(counts).saturating_sub(1),
                (curr(counts) + 1).min(MAX_COUNT),
            );
            let next = counts_word(generation(tick), p, c, prev(counts));
            if (self.counts)
                .compare_exchange(counts, next, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    /// HAProxy's window: 10/s allows 10 events in the first second, then
    /// the previous second's events fade out linearly.
    #[test]
    fn a_rate_counts_over_a_sliding_second_as_haproxys() {
        let f = Freq::default();
        let t0 = 5 * MS;
        let at = |ms| t0 + ms * MS;
        for _ in 0..10 {
            assert!(f.reserve(t0, 10));
            f.count(t0);
        }
        let w = f.snapshot();
        assert!(!w.allows(t0, 10));
        assert!(!f.reserve(t0, 10), "the eleventh is refused");
        // All 10 in the current period: the next may come as soon as they
        // start to fade, 1 ms into the next period (the average is
        // rounded down, 9.99 is 9).
        assert_eq!(w.next_event_delay(t0, 10), Duration::from_millis(1001));
        assert!(!w.allows(at(999), 10));
        assert!(w.allows(at(1100), 10));
        assert_eq!(w.next_event_delay(at(1100), 10), Duration::ZERO);
        f.count(at(1500));
        // Rotated: 10 before, 1 now, half the period gone: 5 + 1.
        assert_eq!(f.snapshot().total(at(1500)), 10 * 500 + 1000);
        // Two periods later nothing is left of them.
        f.count(at(4000));
        assert_eq!(f.snapshot().total(at(4000)), 1000);
    }

    #[test]
    fn a_reservation_holds_the_last_event_until_counted_or_handed_back() {
        let f = Freq::default();
        assert!(f.reserve(0, 2));
        assert!(f.reserve(0, 2));
        assert!(!f.reserve(0, 2), "two reserved, none left");
        f.unreserve();
        assert!(f.reserve(0, 2), "handed back");
        f.count(0);
        f.count(0);
        assert_eq!(f.snapshot().pend, 0);
        assert_eq!(f.snapshot().curr, 2);
        assert!(!f.reserve(10 * MS, 2));
        // A new period keeps the reservations.
        assert!(f.reserve(1500 * MS, 2));
        f.count(1600 * MS);
        let w = f.snapshot();
        assert_eq!(
            (w.start, w.curr, w.prev, w.pend),
            (Some(1000 * MS), 1, 2, 0)
        );
    }

    /// Four threads race for the events of one rate: exactly the rate
    /// is taken, then exactly what the fading window allows, while they
    /// race to start the new period too.
    #[test]
    fn loops_taking_at_once_take_exactly_the_rate() {
        let f = Freq::default();
        let barrier = std::sync::Barrier::new(4);
        let race = || {
            let mut taken = [0u64; 2];
            for (phase, now) in [0, 1500 * MS].into_iter().enumerate() {
                barrier.wait();
                for _ in 0..1000 {
                    if f.reserve(now, 1000) {
                        f.count(now);
                        taken[phase] += 1;
                    }
                }
                barrier.wait();
            }
            taken
        };
        let mut taken = [0u64; 2];
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..4).map(|_| s.spawn(race)).collect();
            for t in threads {
                let [a, b] = t.join().unwrap();
                taken[0] += a;
                taken[1] += b;
            }
        });
        // Half the first second's 1000 still count 1.5 s on: 500 more.
        assert_eq!(taken, [1000, 500]);
        let w = f.snapshot();
        assert_eq!((w.curr, w.prev, w.pend), (500, 1000, 0));
    }
}
