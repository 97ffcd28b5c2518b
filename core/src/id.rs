//! Handles for connections and listeners.

use std::fmt;

/// A connection core knows about: a client side, a server side or a health
/// probe. Packs a slab index (low 32 bits) and a generation (high 32 bits),
/// so a stale id never reaches a reused slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    pub(crate) fn new(index: usize, generation: u32) -> Self {
        ConnId(((generation as u64) << 32) | (index as u32 as u64))
    }

    pub(crate) fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The slot of the id: unique among live connections and dense (core
    /// reuses freed slots), for drivers' tables indexed by connection.
    pub fn slot(self) -> usize {
        self.index()
    }

    /// The id as one integer, e.g. for an event-loop token.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// The id back from [`ConnId::to_u64`].
    pub fn from_u64(raw: u64) -> Self {
        ConnId(raw)
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index(), self.generation())
    }
}

/// A listening address: the index of a bind in [`crate::Balancer::listeners`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub u32);

/// Declares a typed arena id (index and generation).
macro_rules! arena_id {
    ($(#[$doc:meta])* $name:ident, $tag:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            index: u32,
            generation: u32,
        }

        impl crate::arena::Key for $name {
            fn new(index: usize, generation: u32) -> Self {
                $name {
                    index: index as u32,
                    generation,
                }
            }

            fn index(self) -> usize {
                self.index as usize
            }

            fn generation(self) -> u32 {
                self.generation
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($tag, "#{}.{}"), self.index, self.generation)
            }
        }
    };
}

arena_id!(
    /// A frontend (or the frontend half of a `listen` section).
    FrontendId,
    "frontend"
);
arena_id!(
    /// A backend (or the backend half of a `listen` section).
    BackendId,
    "backend"
);
arena_id!(
    /// A server of a backend. Stays the same while the server lives, so
    /// timers, sessions and probes hold it safely across a reload.
    ServerId,
    "server"
);
