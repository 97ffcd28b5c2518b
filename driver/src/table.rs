//! The engine's connections, indexed by their id's slot: core hands out
//! dense slots (a slab), so a vector indexed by slot finds a connection
//! without hashing, and the generation packed in the id tells a live
//! connection from an older one that had its slot.

use weir_core::ConnId;

/// Connections by [`ConnId::slot`].
pub(crate) struct Table<C> {
    slots: Vec<Option<(ConnId, C)>>,
    len: usize,
}

impl<C> Default for Table<C> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
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

    /// Gives room beyond `room` slots (and the highest slot in use) back.
    pub(crate) fn shrink_to(&mut self, room: usize) {
        self.slots.shrink_to(room);
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
        for slot in 0..100 {
            t.insert(id(slot, 0), slot);
        }
        for slot in (1..100).rev() {
            t.remove(id(slot, 0));
        }
        assert_eq!((t.len(), t.slots.len()), (1, 1));
        t.shrink_to(2);
        assert!(t.capacity() < 100);
        assert_eq!(t.drain().collect::<Vec<_>>(), vec![0]);
        assert_eq!(t.len(), 0);
    }
}
