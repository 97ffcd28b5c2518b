//! Connection limits and accept rates shared by event loops as tokens
//! (see [`crate::loops`] for the design).
//!
//! A [`LimitPool`] holds one count per limit, and one per-second counter
//! per accept rate (HAProxy's `freq_ctr`), for the whole process; each
//! loop reaches it through its own [`Limits`] handle, which knows the
//! loop's index (its bit in the waiting masks) and collects the loops its
//! gives (and handed-back reservations) should wake. Counts live in slots
//! reached without locks; names ([`LimitKey`]) are resolved to slots under
//! a lock, when a loop builds or reloads.
//!
//! The pool also counts each loop's client connections, for the accept
//! balance ([`crate::loops::yields`]): a loop holding clearly more than
//! another stops accepting ([`Limits::yields`]) until the others catch up,
//! and whoever changes its count wakes the loops that may accept again.

mod rate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::balance::SharedRr;
use crate::time::Instant;

/// A limit as every loop names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// The global `maxconn`: client connections of the process.
    Global,
    /// A frontend's `maxconn`; `epoch` is the reload that made it.
    Frontend {
        /// Its name.
        name: String,
        /// How many reloads came before the one that made it.
        epoch: u32,
    },
    /// A backend's sessions: the load `minconn` and `fullconn` scale a
    /// server's limit with (counted, never limited).
    Backend {
        /// Its name.
        name: String,
        /// How many reloads came before the one that made it.
        epoch: u32,
    },
    /// A server's `maxconn` (sessions connecting or established).
    Server {
        /// Its backend's name.
        backend: String,
        /// Its name.
        server: String,
        /// How many reloads came before the one that made it.
        epoch: u32,
    },
    /// A server's `maxqueue` (sessions in its own queue).
    Queue {
        /// Its backend's name.
        backend: String,
        /// Its name.
        server: String,
        /// How many reloads came before the one that made it.
        epoch: u32,
    },
    /// `maxconnrate`: the process's connections per second.
    ConnRate,
    /// `maxsessrate`: the process's sessions per second.
    SessRate,
    /// A frontend's `rate-limit sessions`: its sessions per second.
    SessionRate {
        /// The frontend's name.
        name: String,
        /// How many reloads came before the one that made it.
        epoch: u32,
    },
    /// Where a backend group's `static-rr` walk stands (not a count).
    Position(GroupKey),
}

/// A backend's group of servers in one reload's balancing state, as
/// every loop names it: where its `static-rr` walk stands
/// ([`LimitKey::Position`]), its `roundrobin` turns ([`LimitPool::turns`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    /// The backend's name.
    pub backend: String,
    /// The reload that built its balancing state.
    pub epoch: u32,
    /// Active servers (0) or backups (1).
    pub group: u8,
}

/// A server's `source` port range, as every loop names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortsKey {
    /// The backend's name.
    pub backend: String,
    /// The server's name.
    pub server: String,
    /// How many reloads came before the one that made the server.
    pub epoch: u32,
    /// The range's first and last port.
    pub range: (u16, u16),
}

/// Which ports of a `source` port range the loops hold: each loop hands
/// out its ports in its own order, and takes a port only when no other
/// loop holds it.
#[derive(Debug)]
pub struct PortSet {
    first: u16,
    len: usize,
    words: Box<[AtomicU64]>,
}

impl PortSet {
    /// An empty set for tests of its users.
    #[cfg(test)]
    pub(crate) fn for_tests(range: (u16, u16)) -> Self {
        Self::new(range)
    }

    fn new((first, last): (u16, u16)) -> Self {
        let len = usize::from(last.saturating_sub(first)) + 1;
        PortSet {
            first,
            len,
            words: (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bit(&self, port: u16) -> Option<(&AtomicU64, u64)> {
        let i = usize::from(port.checked_sub(self.first)?);
        if i >= self.len {
            return None;
        }
        Some((self.words.get(i / 64)?, 1 << (i % 64)))
    }

    /// Takes `port` if no loop holds it.
    pub fn claim(&self, port: u16) -> bool {
        self.bit(port)
            .is_some_and(|(word, bit)| word.fetch_or(bit, SeqCst) & bit == 0)
    }

    /// Gives `port` back.
    pub fn release(&self, port: u16) {
        if let Some((word, bit)) = self.bit(port) {
            word.fetch_and(!bit, SeqCst);
        }
    }
}

/// Where a limit's count lives in a [`LimitPool`]: the same for every
/// loop of the pool, and never reused for another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitSlot(u32);

/// One limit's count (or one rate's counter) and the loops waiting for
/// room in it, on a cache line of its own (loops take different limits
/// without false sharing).
#[derive(Default)]
#[repr(align(64))]
struct Slot {
    held: AtomicU32,
    /// Bit `i`: loop `i` found the limit full since the last give.
    waiting: AtomicU64,
    /// A rate's events (rate keys only).
    freq: rate::Freq,
}

/// One loop's client connections, on a cache line of its own.
#[derive(Default)]
#[repr(align(64))]
struct Load(AtomicU32);

/// Most loops a pool serves (one bit each in its masks).
const MAX_LOOPS: usize = 64;

/// Slots in the first segment; segment `k` holds `FIRST << k`.
const FIRST: u32 = 16;
/// Enough segments for every `u32` slot index.
const SEGMENTS: usize = 29;

/// The process's limits: one count per [`LimitKey`], shared by every
/// loop (at most 64).
pub struct LimitPool {
    names: Mutex<HashMap<LimitKey, u32>>,
    ports: Mutex<HashMap<PortsKey, Arc<PortSet>>>,
    turns: Mutex<HashMap<GroupKey, Arc<SharedRr>>>,
    segments: [OnceLock<Box<[Slot]>>; SEGMENTS],
    /// Gives without a token held (a bug, counted for the tests).
    underflows: AtomicU32,
    /// The rates' time zero: the first moment a loop used one.
    base: OnceLock<Instant>,
    /// Each loop's client connections.
    loads: [Load; MAX_LOOPS],
    /// Bit `i`: loop `i` counts its load here (it has a [`Limits`]).
    joined: AtomicU64,
    /// Bit `i`: loop `i` yields its accepts to lighter loops.
    yielding: AtomicU64,
}

impl Default for LimitPool {
    fn default() -> Self {
        LimitPool {
            names: Mutex::default(),
            ports: Mutex::default(),
            turns: Mutex::default(),
            segments: std::array::from_fn(|_| OnceLock::new()),
            underflows: AtomicU32::new(0),
            base: OnceLock::new(),
            loads: std::array::from_fn(|_| Load::default()),
            joined: AtomicU64::new(0),
            yielding: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for LimitPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitPool").finish_non_exhaustive()
    }
}

/// Segment and offset of slot index `i`.
fn place(i: u32) -> (usize, usize) {
    let j = u64::from(i) + u64::from(FIRST);
    let segment = j.ilog2() - FIRST.ilog2();
    let offset = j - (u64::from(FIRST) << segment);
    (segment as usize, offset as usize)
}

impl LimitPool {
    /// A pool with no limit known yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The slot of `key`, made on first use.
    pub fn slot(&self, key: &LimitKey) -> LimitSlot {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let next = names.len() as u32;
        let i = *names.entry(key.clone()).or_insert(next);
        let (segment, _) = place(i);
        let size = (FIRST as usize) << segment;
        self.segments[segment].get_or_init(|| (0..size).map(|_| Slot::default()).collect());
        LimitSlot(i)
    }

    /// The ports of range `key` the loops hold, made on first use.
    pub fn ports(&self, key: &PortsKey) -> Arc<PortSet> {
        let mut ports = self.ports.lock().unwrap_or_else(|e| e.into_inner());
        (ports.entry(key.clone()))
            .or_insert_with(|| Arc::new(PortSet::new(key.range)))
            .clone()
    }

    /// The `roundrobin` turns of `key`, made on first use; those no loop
    /// holds any longer (reloads made others) are forgotten then.
    pub(crate) fn turns(&self, key: &GroupKey) -> Arc<SharedRr> {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        turns.retain(|_, t| Arc::strong_count(t) > 1);
        (turns.entry(key.clone()))
            .or_insert_with(|| Arc::new(SharedRr::new()))
            .clone()
    }

    /// How many `roundrobin` turns the pool keeps.
    #[cfg(test)]
    pub(crate) fn turns_held(&self) -> usize {
        self.turns.lock().map_or(0, |t| t.len())
    }

    fn get(&self, slot: LimitSlot) -> Option<&Slot> {
        let (segment, offset) = place(slot.0);
        self.segments.get(segment)?.get()?.get(offset)
    }

    /// How many tokens of `slot` the loops hold.
    pub fn held(&self, slot: LimitSlot) -> u32 {
        self.get(slot).map_or(0, |s| s.held.load(SeqCst))
    }

    /// How many tokens of `key` the loops hold (0 for an unknown key).
    pub fn held_by_key(&self, key: &LimitKey) -> u32 {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let slot = names.get(key).copied();
        drop(names);
        slot.map_or(0, |i| self.held(LimitSlot(i)))
    }

    /// Every token given back without one held, since the start.
    pub fn underflows(&self) -> u32 {
        self.underflows.load(SeqCst)
    }

    /// Takes a token of `slot` if fewer than `limit` are held; if not,
    /// loop bit `me` waits on it (when `wait`).
    fn take(&self, slot: LimitSlot, limit: u32, me: u64, wait: bool) -> bool {
        let Some(s) = self.get(slot) else {
            return true;
        };
        let mut held = s.held.load(SeqCst);
        let mut marked = false;
        loop {
            if held >= limit {
                if marked || !wait {
                    return false;
                }
                // Marked first, read again: a give after the mark wakes us.
                s.waiting.fetch_or(me, SeqCst);
                marked = true;
                held = s.held.load(SeqCst);
                continue;
            }
            match s.held.compare_exchange_weak(held, held + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
    }

    /// Whether `limit` tokens or more of `slot` are held; if so, loop bit
    /// `me` waits on it.
    fn full(&self, slot: LimitSlot, limit: u32, me: u64) -> bool {
        let Some(s) = self.get(slot) else {
            return false;
        };
        if s.held.load(SeqCst) < limit {
            return false;
        }
        s.waiting.fetch_or(me, SeqCst);
        s.held.load(SeqCst) >= limit
    }

    /// Gives a token of `slot` back; returns the loops that waited on it.
    fn give(&self, slot: LimitSlot) -> u64 {
        let Some(s) = self.get(slot) else {
            return 0;
        };
        let given = s.held.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        if given.is_err() {
            self.underflows.fetch_add(1, SeqCst);
        }
        Self::wake(s)
    }

    /// The loops waiting on `s`, no longer waiting.
    fn wake(s: &Slot) -> u64 {
        match s.waiting.load(SeqCst) {
            0 => 0,
            _ => s.waiting.swap(0, SeqCst),
        }
    }

    /// `now` on the rates' clock: microseconds since the first moment a
    /// loop used a rate (an earlier moment of another loop counts as it).
    fn micros(&self, now: Instant) -> u64 {
        let base = *self.base.get_or_init(|| now);
        let micros = now.saturating_duration_since(base).as_micros();
        micros.min(u128::from(rate::MAX_MICROS)) as u64
    }

    /// Reserves an event of rate `slot` at `now` if `freq` per second
    /// allows it; if not, loop bit `me` waits on it and the answer is how
    /// long until the next event may come.
    fn reserve(&self, slot: LimitSlot, now: Instant, freq: u32, me: u64) -> Result<(), Duration> {
        let Some(s) = self.get(slot) else {
            return Ok(());
        };
        let now = self.micros(now);
        if s.freq.reserve(now, freq) {
            return Ok(());
        }
        // Marked first, read again: a reservation handed back after the
        // mark wakes us.
        s.waiting.fetch_or(me, SeqCst);
        if s.freq.reserve(now, freq) {
            return Ok(());
        }
        Err(s
            .freq
            .snapshot()
            .next_event_delay(now, freq)
            .max(Duration::from_millis(1)))
    }

    /// How long until rate `slot` allows an event at `freq` per second
    /// after `now`: zero if it does now; if not, loop bit `me` waits on it.
    fn rate_delay(&self, slot: LimitSlot, now: Instant, freq: u32, me: u64) -> Duration {
        let Some(s) = self.get(slot) else {
            return Duration::ZERO;
        };
        let now = self.micros(now);
        if s.freq.snapshot().allows(now, freq) {
            return Duration::ZERO;
        }
        s.waiting.fetch_or(me, SeqCst);
        s.freq.snapshot().next_event_delay(now, freq)
    }

    /// Whether loop `index` holds clearly more client connections than
    /// another loop of the pool ([`crate::loops::yields`]).
    fn heavy(&self, index: usize) -> bool {
        let others = self.joined.load(SeqCst) & !(1 << index);
        let load = |i: usize| self.loads.get(i).map_or(0, |l| l.0.load(SeqCst));
        let least = (0..MAX_LOOPS)
            .filter(|i| others & 1 << i != 0)
            .map(load)
            .min();
        least.is_some_and(|least| crate::loops::yields(load(index), least))
    }

    /// The yielding loops other than `index` that may accept again.
    fn unyielded(&self, index: usize) -> u64 {
        let yielding = self.yielding.load(SeqCst) & !(1 << index);
        let mut woken = 0;
        for i in (0..MAX_LOOPS).filter(|i| yielding & 1 << i != 0) {
            if !self.heavy(i) && self.yielding.fetch_and(!(1 << i), SeqCst) & 1 << i != 0 {
                woken |= 1 << i;
            }
        }
        woken
    }
}

/// One loop's way to a [`LimitPool`].
#[derive(Debug)]
pub struct Limits {
    pool: Arc<LimitPool>,
    /// This loop's index (at most 63).
    index: usize,
    /// This loop's bit.
    me: u64,
    /// The other loops this loop's gives found waiting, until
    /// [`Limits::take_freed`].
    freed: AtomicU64,
}

impl Limits {
    /// Loop `index`'s handle on `pool` (indexes above 63 share bit 63).
    pub fn new(pool: Arc<LimitPool>, index: u32) -> Self {
        let index = index.min(MAX_LOOPS as u32 - 1) as usize;
        pool.joined.fetch_or(1 << index, SeqCst);
        Limits {
            pool,
            index,
            me: 1 << index,
            freed: AtomicU64::new(0),
        }
    }

    /// A pool of the loop's own (one loop).
    pub fn local() -> Self {
        Self::new(LimitPool::new(), 0)
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<LimitPool> {
        &self.pool
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &LimitKey) -> LimitSlot {
        self.pool.slot(key)
    }

    /// Takes a token if fewer than `limit` are held; this loop waits on
    /// the limit when it cannot.
    pub fn take(&self, slot: LimitSlot, limit: u32) -> bool {
        self.pool.take(slot, limit, self.me, true)
    }

    /// Takes a token if fewer than `limit` are held, without waiting on
    /// the limit (nothing of this loop waits for room there).
    pub fn try_take(&self, slot: LimitSlot, limit: u32) -> bool {
        self.pool.take(slot, limit, self.me, false)
    }

    /// Whether the limit is reached; this loop then waits on it.
    pub fn full(&self, slot: LimitSlot, limit: u32) -> bool {
        self.pool.full(slot, limit, self.me)
    }

    /// Gives a token back; the other loops waiting on it are collected.
    pub fn give(&self, slot: LimitSlot) {
        let waiting = self.pool.give(slot) & !self.me;
        if waiting != 0 {
            self.freed.fetch_or(waiting, SeqCst);
        }
    }

    /// How many tokens of `slot` the loops hold.
    pub fn held(&self, slot: LimitSlot) -> u32 {
        self.pool.held(slot)
    }

    /// Reserves an event of rate `slot` at `now`, before an accept, if
    /// `freq` per second allows it; if not, this loop waits on the rate
    /// (a reservation handed back wakes it) and the answer is how long
    /// until the next event may come anyway.
    pub fn reserve(&self, slot: LimitSlot, now: Instant, freq: u32) -> Result<(), Duration> {
        self.pool.reserve(slot, now, freq, self.me)
    }

    /// Hands a reservation of rate `slot` back (the accept found
    /// nothing); the other loops waiting on the rate are collected.
    pub fn unreserve(&self, slot: LimitSlot) {
        let Some(s) = self.pool.get(slot) else {
            return;
        };
        s.freq.unreserve();
        let waiting = LimitPool::wake(s) & !self.me;
        if waiting != 0 {
            self.freed.fetch_or(waiting, SeqCst);
        }
    }

    /// Counts an event of rate `slot` at `now`, in place of this loop's
    /// reservation.
    pub fn count(&self, slot: LimitSlot, now: Instant) {
        if let Some(s) = self.pool.get(slot) {
            s.freq.count(self.pool.micros(now));
        }
    }

    /// How long until rate `slot` allows an event at `freq` per second
    /// after `now`: zero if it does now; if not, this loop waits on it.
    pub fn rate_delay(&self, slot: LimitSlot, now: Instant, freq: u32) -> Duration {
        self.pool.rate_delay(slot, now, freq, self.me)
    }

    /// This loop holds one client connection more (`more`) or one less;
    /// the loops that yielded their accepts and may take them again now
    /// are collected as the gives' are.
    pub fn load(&self, more: bool) {
        let Some(load) = self.pool.loads.get(self.index) else {
            return;
        };
        if more {
            load.0.fetch_add(1, SeqCst);
        } else if load
            .0
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            self.pool.underflows.fetch_add(1, SeqCst);
        }
        let woken = self.pool.unyielded(self.index);
        if woken != 0 {
            self.freed.fetch_or(woken, SeqCst);
        }
    }

    /// Whether this loop leaves its next accepts to the others of the
    /// pool: it holds clearly more client connections than one of them
    /// ([`crate::loops::yields`]). While it does, the loop whose count
    /// change lets it accept again wakes it (as a give does). Marked
    /// first, read again: a change after the mark is never missed.
    pub fn yields(&self) -> bool {
        let pool = &self.pool;
        if pool.heavy(self.index) {
            pool.yielding.fetch_or(self.me, SeqCst);
            if pool.heavy(self.index) {
                return true;
            }
        }
        if pool.yielding.load(SeqCst) & self.me != 0 {
            pool.yielding.fetch_and(!self.me, SeqCst);
        }
        false
    }

    /// The loops (bit `i`: loop `i`) to wake since the last call.
    pub fn take_freed(&self) -> u64 {
        match self.freed.load(SeqCst) {
            0 => 0,
            _ => self.freed.swap(0, SeqCst),
        }
    }
}

/// A position shared by the loops: where a backend's `static-rr` walk
/// stands in the process (HAProxy's `rr_idx`, one per backend).
#[derive(Debug, Clone)]
pub struct Position {
    limits: Arc<Limits>,
    slot: LimitSlot,
}

impl Position {
    /// Position `slot` of `limits`' pool.
    pub fn new(limits: Arc<Limits>, slot: LimitSlot) -> Self {
        Position { limits, slot }
    }

    /// Where the walk stands.
    pub fn get(&self) -> usize {
        self.limits.held(self.slot) as usize
    }

    /// Moves the walk from `from` to `to`, unless another loop moved it
    /// since `from` was read.
    pub fn advance(&self, from: usize, to: usize) -> bool {
        let Some(s) = self.limits.pool.get(self.slot) else {
            return true;
        };
        let (from, to) = (from as u32, to as u32);
        s.held.compare_exchange(from, to, SeqCst, SeqCst).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_placed_without_overlap() {
        assert_eq!(place(0), (0, 0));
        assert_eq!(place(15), (0, 15));
        assert_eq!(place(16), (1, 0));
        assert_eq!(place(47), (1, 31));
        assert_eq!(place(48), (2, 0));
        assert_eq!(place(u32::MAX).0, SEGMENTS - 1);
        let pool = LimitPool::new();
        let slots: Vec<_> = (0..200)
            .map(|i| {
                pool.slot(&LimitKey::Frontend {
                    name: format!("f{i}"),
                    epoch: 0,
                })
            })
            .collect();
        let a = Limits::new(pool.clone(), 0);
        for (i, &slot) in slots.iter().enumerate() {
            for _ in 0..i % 3 {
                assert!(a.take(slot, 10));
            }
        }
        for (i, &slot) in slots.iter().enumerate() {
            assert_eq!(pool.held(slot), (i % 3) as u32);
        }
    }

    #[test]
    fn a_limit_holds_across_loops_and_a_give_wakes_the_waiting() {
        let pool = LimitPool::new();
        let (a, b) = (Limits::new(pool.clone(), 0), Limits::new(pool.clone(), 1));
        let slot = a.slot(&LimitKey::Global);
        assert_eq!(b.slot(&LimitKey::Global), slot);
        assert!(a.take(slot, 1));
        assert!(!b.take(slot, 1));
        assert!(b.full(slot, 1));
        a.give(slot);
        assert_eq!(a.take_freed(), 0b10);
        assert_eq!(a.take_freed(), 0);
        assert!(b.take(slot, 1));
        // Nobody waits now: a give wakes no one.
        b.give(slot);
        assert_eq!(b.take_freed(), 0);
        assert!(!b.try_take(slot, 0));
        a.give(slot);
        assert_eq!(pool.underflows(), 1);
    }

    #[test]
    fn a_heavy_loop_yields_until_the_others_catch_up_and_is_woken_then() {
        let pool = LimitPool::new();
        let a = Limits::new(pool.clone(), 0);
        assert!(!a.yields(), "alone in its pool: never");
        for _ in 0..5 {
            a.load(true);
        }
        assert!(!a.yields());
        let b = Limits::new(pool.clone(), 1);
        assert!(a.yields(), "5 against 0");
        assert!(!b.yields());
        for _ in 0..3 {
            b.load(true);
        }
        assert_eq!(b.take_freed(), 0, "5 against 3: still too many");
        b.load(true);
        assert_eq!(b.take_freed(), 0b01, "5 against 4: loop 0 is woken");
        assert!(!a.yields());
        b.load(false);
        assert_eq!(b.take_freed(), 0, "loop 0 is not waiting");
        assert!(a.yields());
        // Loop 0's own closes bring it back: nobody else is woken.
        a.load(false);
        assert!(!a.yields());
        assert_eq!(a.take_freed(), 0);
        assert_eq!(pool.underflows(), 0);
    }

    #[test]
    fn a_port_is_held_by_one_loop_at_a_time() {
        let pool = LimitPool::new();
        let key = PortsKey {
            backend: "b".into(),
            server: "s".into(),
            epoch: 0,
            range: (1000, 1100),
        };
        let (a, b) = (pool.ports(&key), pool.ports(&key));
        assert!(a.claim(1000) && !b.claim(1000));
        assert!(b.claim(1100) && !a.claim(1100));
        assert!(!a.claim(999) && !a.claim(1101), "outside the range");
        a.release(1000);
        assert!(b.claim(1000));
    }
}
