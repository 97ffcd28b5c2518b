//! The simulator's only randomness: splitmix64, seeded from the run's seed,
//! or the bytes of a fuzzer's input (a tape) read as the random draws.

use std::time::Duration;

/// Bytes of tape each draw takes.
const DRAW: usize = 8;

/// A small seeded PRNG (splitmix64, the same algorithm core uses), which
/// can first play a tape of draws and record the draws it makes.
#[derive(Debug, Clone, Default)]
pub struct Rng {
    state: u64,
    /// Draws to return first, 8 little-endian bytes each (the last one
    /// padded with zeros); splitmix64 goes on after them.
    tape: Vec<u8>,
    /// Every draw made so far, as a tape, when recording.
    record: Option<Vec<u8>>,
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed,
            ..Rng::default()
        }
    }

    /// A generator that returns the draws of `tape`, then goes on from a
    /// seed taken from the tape.
    pub fn from_tape(tape: &[u8]) -> Self {
        Rng {
            state: fingerprint(tape),
            tape: tape.iter().rev().copied().collect(),
            record: None,
        }
    }

    /// A generator of `seed` that records its draws (see [`Rng::tape`]).
    pub fn recording(seed: u64) -> Self {
        Rng {
            record: Some(Vec::new()),
            ..Rng::new(seed)
        }
    }

    /// The draws made so far by a recording generator: the tape that makes
    /// [`Rng::from_tape`] draw the same.
    pub fn tape(&self) -> &[u8] {
        self.record.as_deref().unwrap_or_default()
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let value = if self.tape.is_empty() {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix(self.state)
        } else {
            let mut bytes = [0; DRAW];
            for byte in &mut bytes {
                *byte = self.tape.pop().unwrap_or(0);
            }
            u64::from_le_bytes(bytes)
        };
        if let Some(record) = &mut self.record {
            record.extend_from_slice(&value.to_le_bytes());
        }
        value
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo + 1)
        }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// A duration between `lo` and `hi` milliseconds, to the microsecond.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(self.range(lo * 1000, hi * 1000))
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

/// A 64-bit digest of `bytes` (FNV-1a, then mixed).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let fnv = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    mix(fnv)
}

/// splitmix64's finalizer: a good 64-bit mix of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let n = a.range(3, 7);
            assert!((3..=7).contains(&n));
            b.range(3, 7);
        }
        assert_eq!(a.range(5, 5), 5);
        assert_eq!(a.range(5, 1), 5);
        assert!(a.millis(2, 3) >= Duration::from_millis(2));
    }

    #[test]
    fn a_recorded_tape_replays_the_same_draws_then_goes_on() {
        let mut recorder = Rng::recording(5);
        let drawn: Vec<u64> = (0..10).map(|_| recorder.range(0, 1000)).collect();
        let mut player = Rng::from_tape(recorder.tape());
        let played: Vec<u64> = (0..10).map(|_| player.range(0, 1000)).collect();
        assert_eq!(drawn, played);
        let after: Vec<u64> = (0..4).map(|_| player.next_u64()).collect();
        assert!(after.iter().any(|&x| x != 0), "splitmix goes on: {after:?}");
        // A short tape pads its last draw with zeros.
        assert_eq!(Rng::from_tape(&[7]).next_u64(), 7);
    }
}
