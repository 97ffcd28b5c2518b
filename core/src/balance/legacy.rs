//! The round robin the proxy uses until it moves to [`super::Lb`].
//!
//! `roundrobin` is smooth weighted round robin: every pick adds each
//! eligible server's weight to its credit, takes the server with the most
//! credit and charges it the total weight. Over a cycle each server gets
//! exactly its share, interleaved rather than in bursts, and a weight
//! change takes effect at the next pick (HAProxy's dynamic round robin).

/// Round-robin state of one backend.
#[derive(Debug, Clone)]
pub(crate) struct RoundRobin {
    credit: Vec<i64>,
    /// Where ties start, so that instances started together spread out.
    start: usize,
}

impl RoundRobin {
    pub(crate) fn new(servers: usize, start: usize) -> Self {
        RoundRobin {
            credit: vec![0; servers],
            start: if servers == 0 { 0 } else { start % servers },
        }
    }

    /// Picks a server. `weight(i)` is server `i`'s current weight, 0 when
    /// it must not be picked (down, in maintenance, already tried).
    pub(crate) fn pick(&mut self, weight: impl Fn(usize) -> u32) -> Option<usize> {
        let n = self.credit.len();
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for k in 0..n {
            let i = (self.start + k) % n;
            let w = i64::from(weight(i));
            if w == 0 {
                self.credit[i] = 0;
                continue;
            }
            self.credit[i] += w;
            total += w;
            if best.is_none_or(|b| self.credit[i] > self.credit[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        self.credit[best] -= total;
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(rr: &mut RoundRobin, weights: &[u32], n: usize) -> Vec<usize> {
        (0..n).map(|_| rr.pick(|i| weights[i]).unwrap()).collect()
    }

    #[test]
    fn equal_weights_alternate() {
        let mut rr = RoundRobin::new(3, 0);
        assert_eq!(picks(&mut rr, &[1, 1, 1], 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn weights_give_exact_shares_interleaved() {
        let mut rr = RoundRobin::new(3, 0);
        let got = picks(&mut rr, &[5, 1, 1], 7);
        assert_eq!(got, [0, 0, 1, 0, 2, 0, 0]);
        let mut rr = RoundRobin::new(2, 0);
        let got = picks(&mut rr, &[3, 1], 400);
        assert_eq!(got.iter().filter(|&&i| i == 0).count(), 300);
    }

    #[test]
    fn zero_weight_servers_are_never_picked() {
        let mut rr = RoundRobin::new(3, 0);
        assert!(picks(&mut rr, &[1, 0, 1], 10).iter().all(|&i| i != 1));
        assert_eq!(rr.pick(|_| 0), None);
    }

    #[test]
    fn start_offset_rotates_the_first_pick() {
        let mut rr = RoundRobin::new(3, 4);
        assert_eq!(picks(&mut rr, &[1, 1, 1], 3), [1, 2, 0]);
    }

    #[test]
    fn empty_backend_picks_nothing() {
        assert_eq!(RoundRobin::new(0, 7).pick(|_| 1), None);
    }
}
