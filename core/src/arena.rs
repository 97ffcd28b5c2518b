//! Slots with generations: an id given out for a slot never reaches the
//! value that takes the slot after it is freed. Backends, servers and
//! frontends live in arenas so that a reload can add and remove them while
//! timers, sessions and probes still hold ids of the old ones.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use slab::Slab;

/// An id of an arena's slot: its index and the generation it was given.
pub(crate) trait Key: Copy {
    fn new(index: usize, generation: u32) -> Self;
    fn index(self) -> usize;
    fn generation(self) -> u32;
}

/// Values addressed by typed, generation-checked ids.
pub(crate) struct Arena<K, T> {
    slots: Slab<(u32, T)>,
    generation: u32,
    key: PhantomData<fn() -> K>,
}

impl<K: Key, T> Default for Arena<K, T> {
    fn default() -> Self {
        Arena {
            slots: Slab::new(),
            generation: 0,
            key: PhantomData,
        }
    }
}

impl<K: Key, T> Arena<K, T> {
    /// Stores `value` and returns its new id.
    pub(crate) fn insert(&mut self, value: T) -> K {
        self.generation = self.generation.wrapping_add(1);
        let index = self.slots.insert((self.generation, value));
        K::new(index, self.generation)
    }

    /// The value of `id`, unless it was removed.
    pub(crate) fn get(&self, id: K) -> Option<&T> {
        self.slots
            .get(id.index())
            .filter(|(g, _)| *g == id.generation())
            .map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, id: K) -> Option<&mut T> {
        self.slots
            .get_mut(id.index())
            .filter(|(g, _)| *g == id.generation())
            .map(|(_, v)| v)
    }

    /// Takes out the value of `id`; its id never reaches a value again.
    pub(crate) fn remove(&mut self, id: K) -> Option<T> {
        self.get(id)?;
        Some(self.slots.remove(id.index()).1)
    }

    /// The id of the value in slot `index`, if one lives there.
    pub(crate) fn id_at(&self, index: usize) -> Option<K> {
        self.slots.get(index).map(|(g, _)| K::new(index, *g))
    }

    /// The ids, in slot order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = K> + '_ {
        self.slots.iter().map(|(i, (g, _))| K::new(i, *g))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every value with its id, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        self.slots.iter().map(|(i, (g, v))| (K::new(i, *g), v))
    }

    /// The values, in slot order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|(_, (_, v))| v)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().map(|(_, (_, v))| v)
    }
}

/// Indexing is for ids the balancer holds by construction (a session's
/// backend, a backend's servers): one that is gone is a bug in core.
impl<K: Key, T> Index<K> for Arena<K, T> {
    type Output = T;

    fn index(&self, id: K) -> &T {
        self.get(id)
            .expect("an id core holds refers to a live value")
    }
}

impl<K: Key, T> IndexMut<K> for Arena<K, T> {
    fn index_mut(&mut self, id: K) -> &mut T {
        self.get_mut(id)
            .expect("an id core holds refers to a live value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ServerId;

    #[test]
    fn an_id_of_a_removed_value_never_reaches_its_successor() {
        let mut arena: Arena<ServerId, &str> = Arena::default();
        let a = arena.insert("a");
        assert_eq!(arena.get(a), Some(&"a"));
        assert_eq!(arena.remove(a), Some("a"));
        assert_eq!(arena.remove(a), None);
        let b = arena.insert("b");
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_eq!(arena.get(a), None);
        assert_eq!(arena[b], "b");
    }
}
