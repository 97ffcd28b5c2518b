//! Weighted round robin on a virtual clock (`roundrobin`, `static-rr`).
//!
//! Each eligible server owns a slot of length `1/weight` on a virtual
//! clock and waits at the middle of its current slot. A pick takes the
//! server that waits earliest and moves it on by one slot. Over any cycle
//! of `W = sum of weights` picks from a common start, each server is picked
//! exactly `weight` times, interleaved with the others. Positions are exact
//! fractions compared by cross multiplication, so nothing drifts.
//!
//! A server that becomes eligible starts its slot at the clock's current
//! time (the position of the latest pick), so it neither waits behind a
//! backlog nor gets a burst to catch up. A weight change keeps the slot's
//! start and moves its middle, so it applies at the next pick. Servers
//! passed over because the caller refused them are moved up to the
//! current time, so they do not get a burst when accepted again.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// A point on the virtual clock: `num / den`, where `den` is twice the
/// server's weight (1 for the origin).
#[derive(Debug, Clone, Copy)]
struct Pos {
    num: u64,
    den: u64,
}

impl Pos {
    const ORIGIN: Pos = Pos { num: 0, den: 1 };

    /// This point in units of `1/den`, rounded up.
    fn in_units(self, den: u64) -> u64 {
        let n = (u128::from(self.num) * u128::from(den)).div_ceil(u128::from(self.den));
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

impl Ord for Pos {
    fn cmp(&self, other: &Self) -> Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl PartialOrd for Pos {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pos {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pos {}

/// A queued server: where it waits, its tie-break rank, its index.
type Entry = (Pos, usize, usize);

/// Round-robin state of one group of servers.
#[derive(Debug, Clone)]
pub(super) struct Rr {
    queue: BTreeSet<Entry>,
    /// Each server's position in `queue`; `None` while ineligible.
    pos: Vec<Option<Pos>>,
    /// The virtual clock: where the latest pick waited.
    now: Pos,
    /// Rank 0 among equal positions, so instances started together spread.
    start: usize,
    /// Scratch space for the servers a pick passes over.
    skipped: Vec<Entry>,
}

impl Rr {
    /// `servers` indices, all ineligible; ties start at `start`.
    pub(super) fn new(servers: usize, start: usize) -> Rr {
        Rr {
            queue: BTreeSet::new(),
            pos: vec![None; servers],
            now: Pos::ORIGIN,
            start: start.checked_rem(servers).unwrap_or(0),
            skipped: Vec::new(),
        }
    }

    fn rank(&self, i: usize) -> usize {
        let n = self.pos.len();
        (i + n - self.start) % n
    }

    /// Server `i` now has `weight` (0: ineligible).
    pub(super) fn set_weight(&mut self, i: usize, weight: u32) {
        let Some(&current) = self.pos.get(i) else {
            return;
        };
        let rank = self.rank(i);
        // Where the server's current slot starts.
        let slot_start = match current {
            Some(p) => {
                self.queue.remove(&(p, rank, i));
                Pos {
                    num: p.num.saturating_sub(1),
                    den: p.den,
                }
            }
            None => self.now,
        };
        self.pos[i] = None;
        if weight == 0 {
            return;
        }
        let den = 2 * u64::from(weight);
        let p = Pos {
            num: slot_start.in_units(den).saturating_add(1),
            den,
        };
        self.queue.insert((p, rank, i));
        self.pos[i] = Some(p);
    }

    /// The earliest waiting server that `allowed` accepts.
    pub(super) fn pick(&mut self, allowed: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        self.skipped.clear();
        let mut found = None;
        for &entry in &self.queue {
            if allowed(entry.2) {
                found = Some(entry);
                break;
            }
            self.skipped.push(entry);
        }
        let (p, rank, i) = found?;
        self.queue.remove(&(p, rank, i));
        self.now = p;
        let next = Pos {
            num: p.num.saturating_add(2),
            den: p.den,
        };
        self.queue.insert((next, rank, i));
        self.pos[i] = Some(next);
        for k in 0..self.skipped.len() {
            let (q, r, j) = self.skipped[k];
            self.queue.remove(&(q, r, j));
            let lifted = Pos {
                num: p.in_units(q.den),
                den: q.den,
            };
            self.queue.insert((lifted, r, j));
            self.pos[j] = Some(lifted);
        }
        Some(i)
    }
}
