//! `roundrobin` across event loops: one fwrr state per backend group for
//! the process, as HAProxy's threads share one under the backend's lock.
//!
//! Every loop keeps its own [`Fwrr`] (what it would pick alone). With
//! several loops, each group's state also lives in the limit pool
//! ([`SharedRr`], named by the backend, the reload that built its
//! balancing state and the group). Loop 0 leads it: it writes every
//! weight change there (its own state's, replayed on arrival), and the
//! loops pick through it under its lock, each refusing the servers it
//! sees unusable (they lose their turn, as full servers do). While no
//! loop 0 leads a state (a follower reloaded first, or loop 0 already
//! reloaded past it), a loop picks from its own state.
//!
//! Servers are named across loops by their place among the servers the
//! configuration lists (retired ones left out): slot indices are each
//! loop's own.

use std::sync::{Arc, Mutex, MutexGuard};

use super::fwrr::Fwrr;

/// One backend group's `roundrobin` state, shared by the loops.
#[derive(Debug)]
pub struct SharedRr {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Loop 0 writes its weights here.
    led: bool,
    fwrr: Fwrr,
}

impl SharedRr {
    /// A state no loop leads yet.
    pub(crate) fn new() -> Self {
        SharedRr {
            state: Mutex::new(State {
                led: false,
                fwrr: Fwrr::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A loop's way to a [`SharedRr`].
#[derive(Debug)]
struct Link {
    shared: Arc<SharedRr>,
    /// Local slot index → place in the shared state.
    to: Vec<Option<usize>>,
    /// Place in the shared state → local slot index.
    from: Vec<usize>,
    /// This loop writes the weights (loop 0).
    leads: bool,
}

impl Drop for Link {
    /// Loop 0 leaves the state (a reload built another): the loops still
    /// on it pick from their own.
    fn drop(&mut self) {
        if self.leads {
            self.shared.lock().led = false;
        }
    }
}

/// `roundrobin` for one group: the loop's own state, and the process's
/// when shared.
#[derive(Debug)]
pub(super) struct Rr {
    local: Fwrr,
    link: Option<Link>,
}

impl Rr {
    /// `servers` slot indices, all unusable.
    pub(super) fn new(servers: usize) -> Rr {
        Rr {
            local: Fwrr::new(servers),
            link: None,
        }
    }

    /// Whether the loop picks through a shared state.
    pub(super) fn shared(&self) -> bool {
        self.link.is_some()
    }

    /// Picks through `shared` from now on; `listed` holds the local slot
    /// index of each server the configuration lists, in its order. When
    /// `leads`, the shared state starts again from this loop's weights,
    /// given in that order (as a start gives them).
    pub(super) fn share(&mut self, shared: Arc<SharedRr>, listed: &[usize], leads: bool) {
        // Left first: leaving a state this loop led marks it unled.
        self.link = None;
        let mut to = vec![None; self.local.len()];
        for (p, &i) in listed.iter().enumerate() {
            if let Some(t) = to.get_mut(i) {
                *t = Some(p);
            }
        }
        if leads {
            let mut state = shared.lock();
            let mut fwrr = Fwrr::new(listed.len());
            for (p, &i) in listed.iter().enumerate() {
                fwrr.set_weight(p, self.local.weight(i));
            }
            state.fwrr = fwrr;
            state.led = true;
        }
        self.link = Some(Link {
            shared,
            to,
            from: listed.to_vec(),
            leads,
        });
    }

    /// Server `i` now has user weight `weight` (0: not usable): in the
    /// loop's state, and in the shared one when the loop leads it.
    pub(super) fn set_weight(&mut self, i: usize, weight: u32) {
        self.local.set_weight(i, weight);
        if let Some(link) = self.link.as_ref().filter(|l| l.leads) {
            if let Some(&Some(p)) = link.to.get(i) {
                link.shared.lock().fwrr.set_weight(p, weight);
            }
        }
    }

    /// The next server in turn that `allowed` accepts, among those this
    /// loop sees usable: the process's turn while loop 0 leads the shared
    /// state, else the loop's own.
    pub(super) fn pick(&mut self, allowed: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        let Some(link) = &self.link else {
            return self.local.pick(allowed);
        };
        let mut state = link.shared.lock();
        if !state.led {
            drop(state);
            return self.local.pick(allowed);
        }
        let (local, from) = (&self.local, &link.from);
        let mut open = |p: usize| {
            from.get(p)
                .is_some_and(|&i| local.weight(i) > 0 && allowed(i))
        };
        let p = state.fwrr.pick(&mut open)?;
        from.get(p).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Servers 0, 1, 2 weighing 3, 2, 1, at slot indices `slots`.
    fn weighted(slots: [usize; 3]) -> Rr {
        let mut rr = Rr::new(4);
        for (&i, w) in slots.iter().zip([3, 2, 1]) {
            rr.set_weight(i, w);
        }
        rr
    }

    #[test]
    fn two_loops_take_one_loops_turns_and_a_follower_falls_back_when_unled() {
        let shared = Arc::new(SharedRr::new());
        let mut one = weighted([0, 1, 2]);
        let mut lead = weighted([0, 1, 2]);
        // The follower's slots differ (a retired server holds slot 0).
        let mut follow = weighted([1, 2, 3]);
        follow.share(shared.clone(), &[1, 2, 3], false);
        lead.share(shared.clone(), &[0, 1, 2], true);
        // Sharing again (the same state) keeps loop 0 leading it.
        lead.share(shared.clone(), &[0, 1, 2], true);
        let yes = &mut |_| true;
        for n in 0..36 {
            let want = one.pick(yes);
            let got = match n % 3 {
                0 => lead.pick(yes),
                _ => follow.pick(yes).map(|i| i - 1),
            };
            assert_eq!(got, want, "pick {n}");
        }
        // Loop 0 leaves the state: the follower takes its own turns.
        drop(lead);
        let mut alone = weighted([1, 2, 3]);
        for n in 0..12 {
            assert_eq!(follow.pick(yes), alone.pick(yes), "own pick {n}");
        }
    }
}
