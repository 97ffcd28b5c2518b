//! Static weighted round robin (`static-rr`): HAProxy 2.6's `lb_map.c`.
//!
//! The usable servers fill a table of `sum of weights` slots (weights
//! divided by the greatest common divisor of the configured ones), built
//! by HAProxy's `recalc_server_map`: each slot goes to the server whose
//! accumulated score is the highest, the first listed among equals. Picks
//! walk the table from where the previous one stopped. The table is built
//! again (lazily, at the next pick) whenever a server comes or goes; the
//! walk's position is kept. With several event loops the position is the
//! process's ([`Position`]): every loop builds the same table from the
//! same weights, so the loops walk one table together, as HAProxy's
//! threads do under the backend's lock; a loop whose table briefly
//! differs (news of a server not yet applied) walks its own, so it never
//! picks a server it sees down.

use crate::limits::Position;

/// The slot table of one group of servers.
#[derive(Debug, Clone)]
pub(super) struct StaticMap {
    /// Each server's weight divided by the common divisor; 0: not usable.
    eweight: Vec<i64>,
    /// The configured weights' greatest common divisor.
    divisor: u32,
    table: Vec<usize>,
    /// The table no longer matches `eweight`.
    stale: bool,
    /// Where the next pick starts (HAProxy's `rr_idx`), or the process's
    /// when shared.
    rr_idx: usize,
    shared: Option<Position>,
}

impl StaticMap {
    /// `servers` indices, all unusable; weights are divided by `divisor`.
    pub(super) fn new(servers: usize, divisor: u32) -> StaticMap {
        StaticMap {
            eweight: vec![0; servers],
            divisor: divisor.max(1),
            table: Vec::new(),
            stale: false,
            rr_idx: 0,
            shared: None,
        }
    }

    /// The walk's position is `position`, shared by the loops.
    pub(super) fn share(&mut self, position: Position) {
        self.shared = Some(position);
    }

    /// Whether the walk's position is shared.
    pub(super) fn shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Server `i` now has configured weight `weight` (0: not usable).
    pub(super) fn set_weight(&mut self, i: usize, weight: u32) {
        if let Some(w) = self.eweight.get_mut(i) {
            let new = i64::from(weight.div_ceil(self.divisor));
            self.stale |= *w != new;
            *w = new;
        }
    }

    /// `recalc_server_map`.
    fn rebuild(&mut self) {
        self.stale = false;
        self.table.clear();
        let tot: i64 = self.eweight.iter().sum();
        if tot <= 0 {
            return;
        }
        let mut score = vec![0i64; self.eweight.len()];
        for _ in 0..tot {
            let mut best: Option<usize> = None;
            let mut max = 0;
            for (i, &w) in self.eweight.iter().enumerate() {
                if w <= 0 {
                    continue;
                }
                if tot == 1 {
                    best = Some(i);
                    break;
                }
                score[i] += w;
                let v = (score[i] + tot) / tot;
                if best.is_none() || v > max {
                    max = v;
                    best = Some(i);
                }
            }
            if let Some(b) = best {
                self.table.push(b);
                score[b] -= tot;
            }
        }
    }

    /// `map_get_server_rr`: the next server of the table that `allowed`
    /// accepts.
    pub(super) fn pick(&mut self, allowed: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        if self.stale {
            self.rebuild();
        }
        let tot = self.table.len();
        if tot == 0 {
            return None;
        }
        loop {
            let from = self.shared.as_ref().map_or(self.rr_idx, Position::get);
            let start = if from >= tot { 0 } else { from };
            let (i, idx) = self.walk(start, allowed)?;
            match &self.shared {
                None => {
                    self.rr_idx = idx;
                    return Some(i);
                }
                // Another loop picked meanwhile: walk again from there.
                Some(p) if p.advance(from, idx) => return Some(i),
                Some(_) => {}
            }
        }
    }

    /// From `start`, the first server of the table `allowed` accepts, and
    /// where the next walk starts.
    fn walk(
        &self,
        start: usize,
        allowed: &mut impl FnMut(usize) -> bool,
    ) -> Option<(usize, usize)> {
        let tot = self.table.len();
        let mut idx = start;
        loop {
            let i = *self.table.get(idx)?;
            idx += 1;
            if allowed(i) {
                return Some((i, idx));
            }
            if idx == tot {
                idx = 0;
            }
            if idx == start {
                return None;
            }
        }
    }
}
