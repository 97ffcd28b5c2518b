//! Server faults: what they are, when they happen (drawn from the seed),
//! and what starting and ending one does to a simulated server.
//!
//! Client faults (vanishing, reading slowly) are part of each client's
//! [`crate::scenario::ClientSpec`].

use std::time::Duration;

use crate::net::Side;
use crate::rng::Rng;
use crate::server::Process;
use crate::trace::trace;
use crate::world::World;

/// What goes wrong with a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The process dies: its sockets close, connects are refused.
    Crash,
    /// The process stops: the kernel still accepts and buffers, nothing is
    /// read or answered.
    Hang,
    /// The network drops everything: connects and bytes wait until the end.
    BlackHole,
    /// The health endpoint answers 503; traffic is served.
    Health503,
    /// Traffic connections are reset: those open at once, new ones after a
    /// few bytes.
    ResetStreams,
    /// New traffic connections are half-closed by the server early: it
    /// sends its FIN after a few bytes and keeps reading.
    HalfClose,
    /// The server reads slowly (backpressure towards weir).
    SlowRead,
}

/// A fault of one server over a time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The server's index.
    pub server: usize,
    /// What happens.
    pub kind: FaultKind,
    /// When it starts.
    pub from: Duration,
    /// When it ends (the server is healthy again).
    pub until: Duration,
}

impl Fault {
    /// Whether the window is open at `t`.
    pub fn covers(&self, t: Duration) -> bool {
        self.from <= t && t < self.until
    }
}

/// Draws up to four faults (sometimes none), or a flapping series, over
/// the first `active` of the run. Faults of one server never overlap.
pub fn schedule(rng: &mut Rng, servers: usize, active: Duration) -> Vec<Fault> {
    let count = *rng.pick(&[0, 0, 1, 1, 2, 2, 3, 4]);
    let mut faults: Vec<Fault> = Vec::new();
    for _ in 0..count {
        let server = rng.range(0, servers as u64 - 1) as usize;
        let from = rng.millis(0, active.as_millis() as u64);
        let kinds = [
            FaultKind::Crash,
            FaultKind::Crash,
            FaultKind::Hang,
            FaultKind::BlackHole,
            FaultKind::Health503,
            FaultKind::ResetStreams,
            FaultKind::HalfClose,
            FaultKind::SlowRead,
        ];
        let windows = if rng.chance(12) {
            // Flapping: short outages in a row.
            let kind = *rng.pick(&[FaultKind::Crash, FaultKind::Health503]);
            let mut t = from;
            (0..rng.range(3, 6))
                .map(|_| {
                    let start = t;
                    let end = start + rng.millis(100, 1500);
                    t = end + rng.millis(100, 1500);
                    (kind, start, end)
                })
                .collect()
        } else {
            vec![(*rng.pick(&kinds), from, from + rng.millis(100, 8000))]
        };
        for (kind, from, until) in windows {
            let fault = Fault {
                server,
                kind,
                from,
                until,
            };
            let clash = faults
                .iter()
                .any(|f| f.server == server && f.from < until && from < f.until);
            if !clash {
                faults.push(fault);
            }
        }
    }
    faults.sort_by_key(|f| (f.from, f.server));
    faults
}

impl World {
    /// Fault `i` starts.
    pub(crate) fn fault_starts(&mut self, i: usize) {
        let fault = self.scenario.faults[i];
        let s = fault.server;
        trace!(self, self.server_name(s), "fault starts: {:?}", fault.kind);
        match fault.kind {
            FaultKind::Crash => {
                self.servers[s].process = Process::Crashed;
                // The kernel closes every socket of the dead process.
                for link in self.servers[s].conns.clone() {
                    self.server_close(link, false);
                }
            }
            FaultKind::Hang => self.servers[s].process = Process::Hung,
            FaultKind::BlackHole => self.servers[s].black_hole = Some(fault.until),
            FaultKind::Health503 => self.servers[s].health_503 = true,
            FaultKind::ResetStreams => {
                self.servers[s].reset_streams = true;
                for link in self.servers[s].conns.clone() {
                    if self.is_traffic(link) {
                        self.server_close(link, true);
                    }
                }
            }
            FaultKind::HalfClose => self.servers[s].half_close = true,
            FaultKind::SlowRead => {
                let pace = (self.rng.range(64, 2048) as usize, self.rng.millis(5, 200));
                self.servers[s].slow_read = Some(pace);
            }
        }
    }

    /// Fault `i` ends: the server is healthy again.
    pub(crate) fn fault_ends(&mut self, i: usize) {
        let fault = self.scenario.faults[i];
        let s = fault.server;
        trace!(self, self.server_name(s), "fault ends: {:?}", fault.kind);
        let server = &mut self.servers[s];
        match fault.kind {
            FaultKind::Crash | FaultKind::Hang => server.process = Process::Running,
            FaultKind::BlackHole => server.black_hole = None,
            FaultKind::Health503 => server.health_503 = false,
            FaultKind::ResetStreams => server.reset_streams = false,
            FaultKind::HalfClose => server.half_close = false,
            FaultKind::SlowRead => server.slow_read = None,
        }
        for link in self.servers[s].conns.clone() {
            self.net.touch(link, Side::Peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_of_one_server_never_overlap() {
        for seed in 0..500 {
            let faults = schedule(&mut Rng::new(seed), 2, Duration::from_secs(5));
            for (i, a) in faults.iter().enumerate() {
                for b in &faults[i + 1..] {
                    let overlap = a.from < b.until && b.from < a.until;
                    assert!(a.server != b.server || !overlap, "seed {seed}: {a:?} {b:?}");
                }
            }
        }
    }
}
