//! A log-linear latency histogram: 32 buckets per power of two (about 3 %
//! precision), fixed size, no allocation while recording.

/// Buckets: 64 exact ones below 64 ns, then 32 per power of two.
const BUCKETS: usize = 64 + 58 * 32;

/// Latencies in nanoseconds.
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    /// Records one latency.
    pub fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.total += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The latency below which a fraction `q` (0 to 1) of the samples
    /// fall, in nanoseconds (the middle of its bucket); `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let target = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(middle(i));
            }
        }
        None
    }
}

/// The bucket of a value.
fn index(v: u64) -> usize {
    if v < 64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - 5;
    64 + (shift as usize - 1) * 32 + ((v >> shift) - 32) as usize
}

/// The middle value of a bucket.
fn middle(i: usize) -> f64 {
    if i < 64 {
        return i as f64;
    }
    let k = i - 64;
    let shift = k / 32 + 1;
    let sub = (k % 32 + 32) as f64;
    (sub + 0.5) * (1u64 << shift) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_precise() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            63,
            64,
            65,
            127,
            128,
            1000,
            1 << 20,
            1 << 40,
            u64::MAX,
        ] {
            let i = index(v);
            assert!(i >= last && i < BUCKETS, "{v} -> {i}");
            last = i;
            if v >= 64 {
                let m = middle(i);
                assert!((m - v as f64).abs() / (v as f64) < 0.04, "{v} ~ {m}");
            }
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).expect("samples");
        let p99 = h.quantile(0.99).expect("samples");
        assert!((p50 - 500_000.0).abs() < 20_000.0, "{p50}");
        assert!((p99 - 990_000.0).abs() < 40_000.0, "{p99}");
        assert_eq!(Histogram::new().quantile(0.5), None);
    }
}
