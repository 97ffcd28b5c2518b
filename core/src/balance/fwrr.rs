//! Weighted round robin (`roundrobin`): HAProxy 2.6's `lb_fwrr.c`.
//!
//! A group keeps three trees: `curr` (servers placed by their next
//! position in the current window), `init` (servers waiting for their
//! first turn, heaviest first) and `next` (servers whose position fell past
//! the window). A pick takes the first server of `curr` whose position
//! has come, else the first of `init`, switching `init` and `next` once
//! when both are empty. Positions, keys and tie-breaks (equal keys in
//! insertion order, as ebtree's duplicates) follow HAProxy, so the same
//! weights give the same sequence, and the first pick after a start goes
//! to the heaviest server, the first one listed among equals.

use std::collections::BTreeSet;

/// HAProxy's `BE_WEIGHT_SCALE`: effective weights are user weights × 16.
const WEIGHT_SCALE: i64 = 16;
/// HAProxy's `SRV_UWGHT_RANGE`.
const UWGHT_RANGE: i64 = 256;
/// HAProxy's `SRV_EWGHT_MAX`.
const EWGHT_MAX: i64 = 256 * WEIGHT_SCALE;

/// Which tree a server was last queued in (HAProxy's `lb_tree`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// `t0` or `t1` (init and next swap).
    T(usize),
    Curr,
}

/// A tree entry: key, insertion order, server index.
type Node = (i64, u64, usize);

#[derive(Debug, Clone, Default)]
struct Srv {
    /// Effective weight (0: not usable).
    eweight: i64,
    npos: i64,
    lpos: i64,
    rweight: i64,
    /// HAProxy's `lb_tree`: kept after the node leaves the tree.
    tree: Option<Tree>,
    /// The node while it is in `tree`.
    node: Option<Node>,
}

/// Weighted round-robin state of one group of servers.
#[derive(Debug, Clone)]
pub(super) struct Fwrr {
    srv: Vec<Srv>,
    /// `t0`, `t1`, `curr`.
    trees: [BTreeSet<Node>; 3],
    /// Which of `t0`/`t1` is `init`; the other is `next`.
    init: usize,
    curr_pos: i64,
    curr_weight: i64,
    next_weight: i64,
    /// Insertion counter (ebtree keeps equal keys in insertion order).
    seq: u64,
    /// No pick yet: servers that come up are queued as HAProxy's start
    /// does (`fwrr_init_server_groups`), in the order they come.
    fresh: bool,
    /// Scratch list of the servers a pick passed over.
    full: Vec<usize>,
}

impl Fwrr {
    /// `servers` indices, all unusable.
    pub(super) fn new(servers: usize) -> Fwrr {
        Fwrr {
            srv: vec![Srv::default(); servers],
            trees: Default::default(),
            init: 0,
            curr_pos: 0,
            curr_weight: 0,
            next_weight: 0,
            seq: 0,
            fresh: true,
            full: Vec::new(),
        }
    }

    /// How many server indices it has.
    pub(super) fn len(&self) -> usize {
        self.srv.len()
    }

    /// Server `i`'s user weight (0: not usable or unknown).
    pub(super) fn weight(&self, i: usize) -> u32 {
        self.srv
            .get(i)
            .map_or(0, |s| (s.eweight / WEIGHT_SCALE) as u32)
    }

    fn next_tree(&self) -> usize {
        1 - self.init
    }

    fn slot(tree: Tree) -> usize {
        match tree {
            Tree::T(t) => t,
            Tree::Curr => 2,
        }
    }

    fn insert(&mut self, tree: Tree, i: usize, key: i64, seq: u64) {
        let node = (key, seq, i);
        self.trees[Self::slot(tree)].insert(node);
        self.srv[i].tree = Some(tree);
        self.srv[i].node = Some(node);
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// `fwrr_dequeue_srv`: out of its tree, `tree` kept.
    fn dequeue(&mut self, i: usize) {
        if let (Some(tree), Some(node)) = (self.srv[i].tree, self.srv[i].node.take()) {
            self.trees[Self::slot(tree)].remove(&node);
        }
    }

    /// `fwrr_queue_by_weight`.
    fn queue_by_weight(&mut self, t: usize, i: usize) {
        let key = EWGHT_MAX - self.srv[i].eweight;
        let seq = self.next_seq();
        self.insert(Tree::T(t), i, key, seq);
    }

    /// `fwrr_queue_srv`.
    fn queue_srv(&mut self, i: usize) {
        let s = &self.srv[i];
        if s.eweight <= 0 {
            self.srv[i].tree = None;
        } else if s.npos >= 2 * self.curr_weight || s.npos >= self.curr_weight + self.next_weight {
            self.srv[i].npos -= self.curr_weight;
            self.queue_by_weight(self.next_tree(), i);
        } else {
            let key = UWGHT_RANGE * s.npos + (EWGHT_MAX + s.rweight - s.eweight) / WEIGHT_SCALE;
            let seq = self.next_seq();
            self.insert(Tree::Curr, i, key, seq);
        }
    }

    /// `fwrr_get_srv`.
    fn get_srv(&mut self, i: usize) {
        let (curr_pos, curr_weight, init) = (self.curr_pos, self.curr_weight, self.init);
        let s = &mut self.srv[i];
        match s.tree {
            Some(Tree::T(t)) if t == init => {
                s.npos = 0;
                s.rweight = 0;
            }
            Some(Tree::T(_)) => s.npos += curr_weight,
            None => s.npos = curr_pos,
            Some(Tree::Curr) => {}
        }
    }

    /// Server `i`'s place when it becomes usable (`fwrr_set_server_status_up`).
    fn place_new(&mut self, i: usize) {
        self.get_srv(i);
        let w = self.srv[i].eweight;
        let room = (self.next_weight + self.curr_weight - self.curr_pos).max(0);
        self.srv[i].npos = self.curr_pos + room / w;
        self.queue_srv(i);
    }

    /// Server `i` now has user weight `weight` (0: not usable).
    pub(super) fn set_weight(&mut self, i: usize, weight: u32) {
        let Some(s) = self.srv.get(i) else {
            return;
        };
        let old = s.eweight;
        let new = i64::from(weight) * WEIGHT_SCALE;
        if old == new {
            return;
        }
        self.next_weight += new - old;
        if self.fresh {
            // The start: every usable server in `init`, by weight then
            // server order; the window is the total weight.
            self.dequeue(i);
            self.srv[i] = Srv {
                eweight: new,
                ..Srv::default()
            };
            if new > 0 {
                self.queue_by_weight(self.init, i);
            }
            self.curr_pos = self.next_weight;
            self.curr_weight = self.next_weight;
            return;
        }
        if new == 0 {
            // fwrr_set_server_status_down
            self.dequeue(i);
            self.srv[i].eweight = 0;
            self.srv[i].tree = None;
            return;
        }
        self.srv[i].eweight = new;
        if old == 0 {
            self.place_new(i);
            return;
        }
        // fwrr_update_server_weight, the server staying usable.
        match self.srv[i].tree {
            Some(Tree::T(t)) if t == self.init => {
                self.dequeue(i);
                self.queue_by_weight(t, i);
            }
            None => {
                self.dequeue(i);
                self.place_new(i);
            }
            Some(_) => {
                self.get_srv(i);
                let step = self.next_weight / new;
                let curr_pos = self.curr_pos;
                let s = &mut self.srv[i];
                let prev_next = s.npos;
                s.npos = s.lpos + step;
                s.rweight = 0;
                if s.npos > prev_next {
                    s.npos = prev_next;
                }
                if s.npos < curr_pos + 2 {
                    s.npos = curr_pos + step;
                }
                self.dequeue(i);
                self.queue_srv(i);
            }
        }
    }

    /// `fwrr_get_server_from_group`.
    fn first_of_group(&mut self) -> Option<usize> {
        let first = self.trees[2].first().map(|n| n.2);
        if let Some(i) = first {
            let s = &self.srv[i];
            if s.eweight > 0 && s.npos <= self.curr_pos {
                return Some(i);
            }
        }
        if let Some(&(_, _, i)) = self.trees[self.init].first() {
            if self.srv[i].eweight > 0 {
                self.srv[i].npos = 0;
                self.srv[i].rweight = 0;
                return Some(i);
            }
        }
        first
    }

    /// `fwrr_update_position`.
    fn update_position(&mut self, i: usize) {
        let next_weight = self.next_weight;
        let curr_pos = self.curr_pos;
        let s = &mut self.srv[i];
        let w = s.eweight;
        if w <= 0 {
            return;
        }
        if s.npos == 0 {
            s.npos = curr_pos;
        }
        s.lpos = s.npos;
        s.npos += next_weight / w;
        s.rweight += next_weight % w;
        if s.rweight >= w {
            s.rweight -= w;
            s.npos += 1;
        }
    }

    /// `fwrr_switch_trees`.
    fn switch_trees(&mut self) {
        self.init = self.next_tree();
        self.curr_weight = self.next_weight;
        self.curr_pos = self.curr_weight;
    }

    /// `fwrr_get_next_server`: the next server in turn that `allowed`
    /// accepts. Servers refused lose their turn, as saturated servers do
    /// in HAProxy.
    pub(super) fn pick(&mut self, allowed: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        self.fresh = false;
        self.full.clear();
        let mut switched = false;
        let picked = 'search: loop {
            if self.curr_weight == 0 {
                self.curr_weight = self.next_weight;
                self.curr_pos = self.next_weight;
            }
            let i = loop {
                if let Some(i) = self.first_of_group() {
                    break i;
                }
                if switched {
                    break 'search None;
                }
                switched = true;
                self.switch_trees();
            };
            self.update_position(i);
            self.dequeue(i);
            self.curr_pos += 1;
            if allowed(i) {
                break Some(i);
            }
            self.full.push(i);
        };
        if let Some(i) = picked {
            self.queue_srv(i);
        }
        let full = std::mem::take(&mut self.full);
        for &j in &full {
            if switched {
                self.queue_by_weight(self.init, j);
            } else {
                self.queue_srv(j);
            }
        }
        self.full = full;
        picked
    }
}
