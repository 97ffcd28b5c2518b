//! The engine's connections, indexed by their id's slot: core hands out
//! dense slots (a slab), so a vector indexed by slot finds a connection
//! without hashing, and the generation packed in the id tells a live
//! connection from an older one that had its slot.

use std::time::{Duration, Instant};

use weir_core::ConnId;

/// Room in the table kept whatever the load.
const LOW_WATER: usize = 64;
/// How long a peak of connections holds the table's room: a load that
/// comes back within it (health checks every second, in bursts) keeps
/// its room instead of shrinking and growing again each time.
const PEAK_PERIOD: Duration = Duration::from_secs(1);

/// Connections by [`ConnId::slot`].
pub(crate) struct Table<C> {
    slots: Vec<Option<(ConnId, C)>>,
    len: usize,
    /// The most connections held in the current period.
    peak: usize,
    /// The most held in the period before it.
    last_peak: usize,
    /// When the current period ends (`None`: not started).
    period_end: Option<Instant>,
}

impl<C> Default for Table<C> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
            peak: 0,
            last_peak: 0,
            period_end: None,
        }
    }
}

impl<C> Table<C> {
    /// Connection `id`, if it is the one in its slot.
    pub(crate) fn get(&self, id: ConnId) -> Option<&C> {
        match self.slots.get(id.slot())? {
            Some((held, c)) if *held == id => Some(c),
            _ => None,
        }
    }

    /// Connection `id`, if it is the one in its slot.
    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut C> {
        match self.slots.get_mut(id.slot())? {
            Some((held, c)) if *held == id => Some(c),
            _ => None,
        }
    }

    /// Puts `c` in `id`'s slot; an older connection left there is dropped.
    pub(crate) fn insert(&mut self, id: ConnId, c: C) {
        let slot = id.slot();
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        if self.slots[slot].replace((id, c)).is_none() {
            self.len += 1;
            self.peak = self.peak.max(self.len);
        }
    }

    /// Takes connection `id` out.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<C> {
        let entry = self.slots.get_mut(id.slot())?;
        if entry.as_ref().is_none_or(|(held, _)| *held != id) {
            return None;
        }
        self.len -= 1;
        let (_, c) = entry.take()?;
        // Trailing free slots go, so the table follows core's slab down.
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Some(c)
    }

    /// Connections held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots the table has room for without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// After a burst: once the connections of the last one to two
    /// periods ([`PEAK_PERIOD`]) peaked below an eighth of the table's
    /// room, the room shrinks to twice that peak (never below
    /// [`LOW_WATER`] or the highest slot in use). Returns the room asked
    /// for when the table shrank.
    pub(crate) fn ease(&mut self, now: Instant) -> Option<usize> {
        if self.period_end.is_none_or(|end| now >= end) {
            self.last_peak = std::mem::replace(&mut self.peak, self.len);
            self.period_end = Some(now + PEAK_PERIOD);
        }
        let recent = self.peak.max(self.last_peak);
        let room = self.slots.capacity();
        if room <= LOW_WATER || recent >= room / 8 {
            return None;
        }
        let keep = (recent * 2).max(LOW_WATER);
        self.slots.shrink_to(keep);
        (self.slots.capacity() < room).then_some(keep)
    }

    /// Takes every connection out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = C> + '_ {
        self.len = 0;
        self.slots.drain(..).flatten().map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: u64, generation: u64) -> ConnId {
        ConnId::from_u64((generation << 32) | slot)
    }

    #[test]
    fn a_stale_id_never_reaches_the_new_connection_of_its_slot() {
        let mut t = Table::default();
        t.insert(id(3, 1), "old");
        assert_eq!(t.remove(id(3, 1)), Some("old"));
        t.insert(id(3, 2), "new");
        assert_eq!(t.get(id(3, 1)), None);
        assert_eq!(t.remove(id(3, 1)), None);
        assert_eq!(t.get(id(3, 2)), Some(&"new"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn the_table_follows_the_highest_slot_down() {
        let mut t = Table::default();
        let start = Instant::now();
        for slot in 0..1000 {
            t.insert(id(slot, 0), slot);
        }
        for slot in (1..1000).rev() {
            t.remove(id(slot, 0));
        }
        assert_eq!((t.len(), t.slots.len()), (1, 1));
        // The burst's peak holds the room until its period is over.
        assert_eq!(t.ease(start), None);
        assert_eq!(t.ease(start + PEAK_PERIOD / 2), None);
        assert_eq!(t.ease(start + PEAK_PERIOD), Some(LOW_WATER));
        assert!(t.capacity() < 1000);
        assert_eq!(t.drain().collect::<Vec<_>>(), vec![0]);
        assert_eq!(t.len(), 0);
    }

    /// Bursts of 500 connections every period, each gone before the
    /// next: their room stays (no shrink and regrow per burst), and goes
    /// once the bursts stop.
    #[test]
    fn a_periodic_burst_keeps_its_room() {
        let mut t = Table::default();
        let start = Instant::now();
        let mut shrunk = Vec::new();
        for round in 0..10u32 {
            let now = start + PEAK_PERIOD * round;
            for slot in 0..500 {
                t.insert(id(slot, u64::from(round)), slot);
            }
            for slot in 0..500 {
                t.remove(id(slot, u64::from(round)));
                shrunk.extend(t.ease(now + PEAK_PERIOD / 2));
            }
        }
        assert!(shrunk.is_empty(), "{shrunk:?}");
        assert!(t.capacity() >= 500);
        let quiet = start + PEAK_PERIOD * 10;
        let eased: Vec<_> = (0..3)
            .filter_map(|i| t.ease(quiet + PEAK_PERIOD * i))
            .collect();
        assert_eq!(eased, vec![LOW_WATER]);
        assert!(t.capacity() < 500);
    }
}
