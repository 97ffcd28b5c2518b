//! Least connections (`leastconn`): HAProxy 2.6's `lb_fwlc.c`.
//!
//! Servers sit in a tree keyed by `(load + 1) * 4096 / effective weight`
//! (0 while idle); a pick takes the first server of the tree, equal keys
//! in the order they were queued (as ebtree's duplicates). A server is
//! queued again, behind its equals, only when its key changes: when it
//! takes or drops a session, or its weight changes.

use std::collections::BTreeSet;

/// HAProxy's `BE_WEIGHT_SCALE`.
const WEIGHT_SCALE: u64 = 16;
/// HAProxy's `SRV_EWGHT_MAX`.
const EWGHT_MAX: u64 = 256 * WEIGHT_SCALE;

/// A queued server: its key, when it was queued, its index.
type Entry = (u64, u64, usize);

/// Least-connections state of one group of servers.
#[derive(Debug, Clone)]
pub(super) struct LeastConn {
    queue: BTreeSet<Entry>,
    /// Each server's entry in `queue`; `None` while not usable.
    entry: Vec<Option<Entry>>,
    /// Each server's effective weight (0: not usable).
    eweight: Vec<u64>,
    /// Each server's load, kept while not usable too.
    load: Vec<u32>,
    /// Order of the next queued server.
    seq: u64,
}

impl LeastConn {
    /// `servers` indices, all unusable.
    pub(super) fn new(servers: usize) -> LeastConn {
        LeastConn {
            queue: BTreeSet::new(),
            entry: vec![None; servers],
            eweight: vec![0; servers],
            load: vec![0; servers],
            seq: 0,
        }
    }

    /// HAProxy's key for server `i`.
    fn key(&self, i: usize) -> u64 {
        match self.load[i] {
            0 => 0,
            load => (u64::from(load) + 1) * EWGHT_MAX / self.eweight[i].max(1),
        }
    }

    /// Queues server `i` again, behind its equals (out of the tree when
    /// it has no weight).
    fn requeue(&mut self, i: usize) {
        if let Some(e) = self.entry[i].take() {
            self.queue.remove(&e);
        }
        if self.eweight[i] == 0 {
            return;
        }
        self.seq += 1;
        let e = (self.key(i), self.seq, i);
        self.queue.insert(e);
        self.entry[i] = Some(e);
    }

    /// Server `i` now has user weight `weight` (0: not usable).
    pub(super) fn set_weight(&mut self, i: usize, weight: u32) {
        let Some(w) = self.eweight.get_mut(i) else {
            return;
        };
        *w = u64::from(weight) * WEIGHT_SCALE;
        self.requeue(i);
    }

    /// Server `i` now has `load` (`fwlc_srv_reposition`).
    pub(super) fn set_load(&mut self, i: usize, load: u32) {
        let Some(slot) = self.load.get_mut(i) else {
            return;
        };
        *slot = load;
        if let Some((key, _, _)) = self.entry[i] {
            if key != self.key(i) {
                self.requeue(i);
            }
        }
    }

    /// The first server of the tree that `allowed` accepts.
    pub(super) fn pick(&mut self, allowed: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        self.queue.iter().map(|e| e.2).find(|&i| allowed(i))
    }
}
