//! One ordered queue of deadlines with lazy deletion.
//!
//! Owners (sessions, checks) keep their own deadlines and remember the
//! earliest entry they have in the queue. Moving a deadline later (an
//! inactivity timer refreshed on every read) costs nothing: when the old
//! entry pops, the owner sees its deadline is not due and queues it again.
//! Entries of owners that are gone are dropped when they pop.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::id::{BackendId, ServerId};
use crate::time::Instant;

/// What a queue entry wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A session's connect or inactivity timer (slab index, generation).
    Session(usize, u32),
    /// A server's health check.
    Check(BackendId, ServerId),
    /// A server's agent check.
    Agent(BackendId, ServerId),
    /// The next step of a server's `slowstart` ramp.
    WarmUp(BackendId, ServerId),
    /// The end of an accept pause or of a shortage of descriptors.
    Shortage,
    /// The end of an accept pause for a rate (`rate-limit sessions`,
    /// `maxconnrate`, `maxsessrate`).
    Rate,
    /// `hard-stop-after` ran out during a soft stop.
    HardStop,
    /// A stats-socket connection's `stats timeout` (slot, generation).
    Cli(usize, u32),
    /// A `mode http` connection's request or keep-alive timeout.
    Page(usize, u32),
    /// An `accept-proxy` connection's wait for its header (slot, generation).
    Pending(usize, u32),
    /// The resolutions of a `resolvers` section (its index).
    Dns(usize),
}

#[derive(Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl TimerQueue {
    /// Makes sure `key` wakes up no later than `at`. `queued` is the owner's
    /// record of its earliest entry.
    pub(crate) fn schedule(&mut self, queued: &mut Option<Instant>, at: Instant, key: TimerKey) {
        if queued.is_none_or(|q| at < q) {
            self.heap.push(Reverse((at, key)));
            *queued = Some(at);
        }
    }

    /// The earliest entry, which may belong to a deadline that moved.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest entry and its key.
    pub(crate) fn peek(&self) -> Option<(Instant, TimerKey)> {
        self.heap.peek().map(|Reverse(e)| *e)
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) {
        self.heap.pop();
    }

    /// Removes and returns an entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }

    /// Drops the entries whose owner is gone (`keep` says no) and the room
    /// above `floor` entries: after a burst, the heap holds no peak's worth
    /// of dead deadlines. O(n): for rare calls only.
    pub(crate) fn purge(&mut self, mut keep: impl FnMut(TimerKey) -> bool, floor: usize) {
        self.heap.retain(|Reverse((_, key))| keep(*key));
        self.heap.shrink_to(floor);
    }

    /// Room for entries, for tests of memory use.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.heap.capacity()
    }
}

/// The owner's side of a popped entry: forget it if it was the recorded one.
pub(crate) fn popped(queued: &mut Option<Instant>, at: Instant) {
    if *queued == Some(at) {
        *queued = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_pop_in_deadline_order_only_when_due() {
        let t0 = crate::proxy::tests::epoch();
        let mut q = TimerQueue::default();
        let (mut a, mut b) = (None, None);
        q.schedule(&mut a, t0 + Duration::from_secs(2), TimerKey::Session(0, 0));
        q.schedule(&mut b, t0 + Duration::from_secs(1), TimerKey::Session(1, 0));
        assert_eq!(q.next(), Some(t0 + Duration::from_secs(1)));
        assert!(q.pop_due(t0).is_none());
        let (at, key) = q.pop_due(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(
            (at, key),
            (t0 + Duration::from_secs(1), TimerKey::Session(1, 0))
        );
        assert_eq!(
            q.pop_due(t0 + Duration::from_secs(5)).unwrap().1,
            TimerKey::Session(0, 0)
        );
    }

    #[test]
    fn later_deadline_adds_no_entry_earlier_one_does() {
        let t0 = crate::proxy::tests::epoch();
        let mut q = TimerQueue::default();
        let mut queued = None;
        q.schedule(&mut queued, t0 + Duration::from_secs(5), TimerKey::Shortage);
        q.schedule(&mut queued, t0 + Duration::from_secs(9), TimerKey::Shortage);
        assert_eq!(q.heap.len(), 1);
        q.schedule(&mut queued, t0 + Duration::from_secs(1), TimerKey::Shortage);
        assert_eq!(q.heap.len(), 2);
        assert_eq!(queued, Some(t0 + Duration::from_secs(1)));
    }
}
