//! When the first checks run after a start: HAProxy's `start_checks` and
//! `start_check_task` (src/check.c).

use std::time::Duration;

/// Intervals below this one do not set the spread of the others
/// (HAProxy's `SRV_CHK_INTER_THRES`).
const INTER_THRESHOLD: Duration = Duration::from_secs(1);

/// The offsets from the start at which the first of `inters.len()` checks
/// (health checks and agents together, in configuration order) run: the
/// check at position `pos` of `n` waits `max(mininter, its interval) *
/// pos / n`, `mininter` being the smallest interval of at least 1 s (0
/// when none is), so the first runs at once and short intervals do not
/// squeeze the spread of long ones.
pub(super) fn first_offsets(inters: &[Duration]) -> Vec<Duration> {
    let mininter = (inters.iter().copied())
        .filter(|&i| i >= INTER_THRESHOLD)
        .min()
        .unwrap_or(Duration::ZERO);
    let n = inters.len().max(1) as u32;
    (0u32..)
        .zip(inters)
        .map(|(pos, &inter)| {
            // In whole milliseconds, as HAProxy's ticks.
            let ms = mininter.max(inter).as_millis() * u128::from(pos) / u128::from(n);
            Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn short_intervals_spread_over_themselves() {
        assert_eq!(first_offsets(&ms(&[300, 300, 300])), ms(&[0, 100, 200]));
        assert_eq!(first_offsets(&ms(&[100, 400])), ms(&[0, 200]));
    }

    #[test]
    fn the_smallest_interval_of_a_second_or_more_sets_the_spread() {
        // A 300 ms check, then an agent at HAProxy's default 2 s: the
        // agent waits 2000 * 1 / 2 (captured from haproxy 2.6.12).
        assert_eq!(first_offsets(&ms(&[300, 2000])), ms(&[0, 1000]));
        assert_eq!(first_offsets(&ms(&[2000, 3000, 300])), ms(&[0, 1000, 1333]));
        assert!(first_offsets(&[]).is_empty());
    }
}
