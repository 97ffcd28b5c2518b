//! weir-sim: deterministic simulation testing of `weir-core`.
//!
//! One `u64` seed draws a whole run ([`Scenario`]): a HAProxy-syntax
//! configuration, servers (echo or gateway, with TCP, TLS, HTTP or HTTPS
//! health endpoints; TLS by a real rustls server), clients sending
//! checkable byte streams, link latencies and windows, and server faults
//! (crash, hang, black hole, 503, resets, early half-close, slow reads,
//! flapping). [`run`] then drives the real `weir_core::Balancer` through a
//! simulated network and clock (no socket, no thread, no real time) and
//! checks the invariants listed in the `invariants` module after every
//! step and at the end. The same seed replays exactly the same run.
//!
//! Modules: `scenario` draws the run, `faults` the server faults, `net` is
//! the network and event queue, `world` the event loop and weir's driver,
//! `client` and `server` the peers, `payload` the checkable streams,
//! `invariants` the checks, `trace` the readable record.

mod client;
mod faults;
mod invariants;
mod net;
mod payload;
mod rng;
mod scenario;
mod server;
mod trace;
mod world;

pub use faults::{Fault, FaultKind};
pub use invariants::Failure;
pub use scenario::{Check, Scenario};
pub use world::Stats;

/// What one run gave.
#[derive(Debug)]
pub struct Outcome {
    /// The run's seed.
    pub seed: u64,
    /// Its counts, or the first invariant it broke.
    pub result: Result<Stats, Failure>,
    /// The trace, when asked for.
    pub trace: Vec<String>,
}

/// Runs the simulation of `seed`, keeping a trace when `trace` is set.
pub fn run(seed: u64, trace: bool) -> Outcome {
    let scenario = Scenario::generate(seed);
    let mut world = match world::World::new(scenario, trace) {
        Ok(world) => world,
        Err(failure) => {
            return Outcome {
                seed,
                result: Err(failure),
                trace: Vec::new(),
            };
        }
    };
    let result = world.run();
    world.stats.sim_time = world.now;
    let stats = world.stats.clone();
    Outcome {
        seed,
        result: result.map(|()| stats),
        trace: world.trace.into_lines(),
    }
}
