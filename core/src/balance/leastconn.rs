//! Least connections (`leastconn`): the server with the lowest load per
//! weight, round robin among equals.
//!
//! Servers sit in an ordered set keyed by `load / weight` (compared by
//! cross multiplication) and then by when they were last queued; a
//! server is queued again behind its equals whenever it is picked or its
//! load or weight changes, which makes ties go round.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// `load / weight`, weight never 0.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    load: u32,
    weight: u32,
}

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> Ordering {
        (u64::from(self.load) * u64::from(other.weight))
            .cmp(&(u64::from(other.load) * u64::from(self.weight)))
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ratio {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ratio {}

/// A queued server: its ratio, when it was queued, its index.
type Entry = (Ratio, u64, usize);

/// Least-connections state of one group of servers.
#[derive(Debug, Clone)]
pub(super) struct LeastConn {
    queue: BTreeSet<Entry>,
    /// Each server's entry in `queue`; `None` while ineligible.
    entry: Vec<Option<Entry>>,
    /// Each server's load, kept while ineligible too.
    load: Vec<u32>,
    /// Order of the next (re)queued server.
    seq: u64,
    start: usize,
}

impl LeastConn {
    /// `servers` indices, all ineligible; first ties start at `start`.
    pub(super) fn new(servers: usize, start: usize) -> LeastConn {
        LeastConn {
            queue: BTreeSet::new(),
            entry: vec![None; servers],
            load: vec![0; servers],
            // Below `servers`: first queueings, by rank.
            seq: servers as u64,
            start: start.checked_rem(servers).unwrap_or(0),
        }
    }

    /// Queues server `i` (again) with `weight`, behind its equals.
    fn requeue(&mut self, i: usize, weight: u32) {
        let Some(&current) = self.entry.get(i) else {
            return;
        };
        let seq = match current {
            Some(e) => {
                self.queue.remove(&e);
                self.seq += 1;
                self.seq
            }
            None => ((i + self.entry.len() - self.start) % self.entry.len()) as u64,
        };
        self.entry[i] = None;
        if weight == 0 {
            return;
        }
        let ratio = Ratio {
            load: self.load[i],
            weight,
        };
        let e = (ratio, seq, i);
        self.queue.insert(e);
        self.entry[i] = Some(e);
    }

    /// Server `i` now has `weight` (0: ineligible).
    pub(super) fn set_weight(&mut self, i: usize, weight: u32) {
        self.requeue(i, weight);
    }

    /// Server `i` now has `load`.
    pub(super) fn set_load(&mut self, i: usize, load: u32) {
        let Some(slot) = self.load.get_mut(i) else {
            return;
        };
        *slot = load;
        if let Some((ratio, _, _)) = self.entry[i] {
            if ratio.load != load {
                self.requeue(i, ratio.weight);
            }
        }
    }

    /// The least loaded server that `allowed` accepts.
    pub(super) fn pick(&mut self, allowed: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        let (ratio, _, i) = self.queue.iter().copied().find(|e| allowed(e.2))?;
        self.requeue(i, ratio.weight);
        Some(i)
    }
}
