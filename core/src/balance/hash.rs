//! Hashing algorithms: the client-address key of `source`, the map of
//! `hash-type map-based` and the ring of `hash-type consistent` (also used
//! by `random`).
//!
//! The map is rebuilt lazily: a weight change (only to or from 0, as it
//! serves static weights) marks it stale, and the next pick rebuilds it
//! from the group's eligible servers. The ring changes in place.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// Points a ring aims at for its configured weights; each unit of
/// weight gets between [`MIN_POINTS`] and [`MAX_POINTS`] points.
const RING_BUDGET: u64 = 1 << 18;
/// Fewest points per unit of weight (HAProxy uses 16 for every unit).
const MIN_POINTS: u64 = 8;
/// Most points per unit of weight: more points, more even shares.
const MAX_POINTS: u64 = 64;

/// HAProxy's key for `balance source`: the address's 32-bit words xored
/// together, then mixed (Bob Jenkins' integer hash, HAProxy's
/// `full_hash`). IPv4-mapped IPv6 addresses hash as their IPv4 address.
pub(super) fn client_key(addr: IpAddr) -> u32 {
    let folded = match addr.to_canonical() {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .fold(0, |h, w| h ^ w),
    };
    full_hash(folded)
}

/// Bob Jenkins' 32-bit integer hash: every input bit affects every output
/// bit.
fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a
}

/// The `j`-th ring point of server `i`: fixed, so that a weight change
/// only adds or removes that server's last points.
fn point(i: usize, j: u64) -> u32 {
    // splitmix64's finalizer.
    let mut z = ((i as u64) << 32 | j).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 32) as u32
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The greatest common divisor of the non-zero `weights` (1 when none):
/// weights are divided by it to keep tables small.
pub(super) fn weight_unit(weights: impl Iterator<Item = u32>) -> u32 {
    weights.fold(0, gcd).max(1)
}

/// `hash-type map-based`: a table where each server appears in
/// proportion to its weight, interleaved; a key picks slot `key % len`.
#[derive(Debug, Clone, Default)]
pub(super) struct Map {
    table: Vec<u32>,
    stale: bool,
}

impl Map {
    /// The weights changed: rebuild before the next pick.
    pub(super) fn invalidate(&mut self) {
        self.stale = true;
    }

    /// Rebuilds the table if stale, from `(server, weight)` pairs.
    pub(super) fn refresh(&mut self, members: impl Iterator<Item = (usize, u32)> + Clone) {
        if !self.stale {
            return;
        }
        self.stale = false;
        let unit = weight_unit(members.clone().map(|(_, w)| w));
        // Slot k of server i sits at (k + 1/2) / w on a common cycle:
        // sorting by that spreads each server's slots evenly.
        let mut slots: Vec<(u64, u64, u32)> = members
            .flat_map(|(i, w)| {
                let w = u64::from(w / unit);
                (0..w).map(move |k| (2 * k + 1, 2 * w, i as u32))
            })
            .collect();
        slots.sort_by(|a, b| {
            (u128::from(a.0) * u128::from(b.1))
                .cmp(&(u128::from(b.0) * u128::from(a.1)))
                .then(a.2.cmp(&b.2))
        });
        self.table = slots.into_iter().map(|(_, _, i)| i).collect();
    }

    /// The server at `key`'s slot, or the first one after it that
    /// `accept` takes.
    pub(super) fn pick(&self, key: u32, accept: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        let len = self.table.len();
        let first = (key as usize).checked_rem(len)?;
        first_accepted(
            (0..len).map(|k| self.table[(first + k) % len] as usize),
            accept,
        )
    }
}

/// `hash-type consistent` (and `random`): points on a 32-bit ring, in
/// proportion to each server's weight; a key goes to the server of the
/// first point at or after it. A weight change adds or removes only that
/// server's points, in O(points changed × log points).
#[derive(Debug, Clone)]
pub(super) struct Ring {
    /// `(point, server)`.
    points: BTreeSet<(u32, u32)>,
    /// The unit of weight: the configured weights' common divisor, so
    /// that equal weights of 100 cost no more than weights of 1.
    unit: u32,
    /// Points per unit of weight, fixed for the ring's life so that a
    /// weight change only adds or removes the changed server's points.
    per_unit: u64,
}

impl Ring {
    /// An empty ring for a group of servers with `configured` weights.
    pub(super) fn new(configured: impl Iterator<Item = u32> + Clone) -> Ring {
        let unit = weight_unit(configured.clone());
        let units: u64 = configured.map(|w| u64::from(w / unit)).sum();
        Ring {
            points: BTreeSet::new(),
            unit,
            per_unit: (RING_BUDGET / units.max(1)).clamp(MIN_POINTS, MAX_POINTS),
        }
    }

    fn points_for(&self, weight: u32) -> u64 {
        (u64::from(weight) * self.per_unit).div_ceil(u64::from(self.unit))
    }

    /// Server `i`'s weight went from `old` to `new`.
    pub(super) fn set_weight(&mut self, i: usize, old: u32, new: u32) {
        let (had, has) = (self.points_for(old), self.points_for(new));
        for j in has..had {
            self.points.remove(&(point(i, j), i as u32));
        }
        for j in had..has {
            self.points.insert((point(i, j), i as u32));
        }
    }

    /// The server of the first point at or after `key` that `accept`
    /// takes, walking the ring once.
    pub(super) fn pick(&self, key: u32, accept: &mut impl FnMut(usize) -> bool) -> Option<usize> {
        let walk = self
            .points
            .range((key, 0)..)
            .chain(self.points.range(..(key, 0)));
        first_accepted(walk.map(|&(_, i)| i as usize), accept)
    }
}

/// The first server of `walk` that `accept` takes. The server refused
/// last is not asked again, so its run of slots costs one call.
fn first_accepted(
    mut walk: impl Iterator<Item = usize>,
    accept: &mut impl FnMut(usize) -> bool,
) -> Option<usize> {
    let mut refused = None;
    walk.find(|&i| {
        if refused == Some(i) {
            return false;
        }
        let ok = accept(i);
        if !ok {
            refused = Some(i);
        }
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_are_fixed_and_mixed() {
        let a = client_key(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(a, client_key(IpAddr::from([10, 0, 0, 1])));
        assert_ne!(a, client_key(IpAddr::from([10, 0, 0, 2])));
        // Neighbours land far apart.
        let b = client_key(IpAddr::from([10, 0, 0, 2]));
        assert!((a ^ b).count_ones() > 4);
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), a);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_ne!(client_key(v6), a);
        // The value is part of the contract (clients keep their server
        // across restarts and versions).
        assert_eq!(full_hash(0), 0x6b4e_d927);
    }

    #[test]
    fn weight_unit_is_the_common_divisor() {
        assert_eq!(weight_unit([100, 200, 50].into_iter()), 50);
        assert_eq!(weight_unit([7, 3].into_iter()), 1);
        assert_eq!(weight_unit(std::iter::empty()), 1);
    }
}
