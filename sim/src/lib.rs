//! weir-sim: deterministic simulation testing of `weir-core`.
//!
//! One `u64` seed draws a whole run ([`Scenario`]): a HAProxy-syntax
//! configuration, servers (echo or gateway, with TCP, TLS, HTTP or HTTPS
//! health endpoints; TLS by a real rustls server), clients sending
//! checkable byte streams, link latencies and windows, and server faults
//! (crash, hang, black hole, 503, resets, early half-close, slow reads,
//! flapping), runtime commands typed by an operator (drain, maintenance,
//! weights, forced health, shutdown of sessions), and sometimes a soft stop of weir itself (what a reload does
//! to the old process). [`run`] then drives the real `weir_core::Balancer` through a
//! simulated network and clock (no socket, no thread, no real time) and
//! checks the invariants listed in the `invariants` module after every
//! step and at the end. The same seed replays exactly the same run.
//!
//! A fuzzer drives it through [`fuzz_tape`]: its input is read as the
//! generator's draws, so it chooses the configuration, clients and fault
//! schedule, and the invariants are the oracle.
//!
//! With `nbthread N` ([`Scenario::with_loops`]) the world runs N
//! instances of weir, one per event loop, as the drivers do, and the
//! invariants hold for the process as a whole (see `loops`).
//!
//! Modules: `scenario` draws the run, `faults` the server faults,
//! `runtime` the operator's commands, `net` is
//! the network and event queue, `world` the event loop and weir's driver,
//! `loops` several instances of weir and what they tell each other,
//! `client` and `server` the peers, `payload` the checkable streams,
//! `invariants` the checks, `trace` the readable record.

#![forbid(unsafe_code)]

mod client;
mod faults;
mod invariants;
mod loops;
mod net;
mod payload;
mod reconfig;
mod reloads;
mod rng;
mod rotation;
mod runtime;
mod scenario;
mod server;
mod trace;
mod world;

pub use faults::{Fault, FaultKind};
pub use invariants::Failure;
pub use reloads::Reload;
pub use runtime::{Command, Health, Op};
pub use scenario::{Check, Scenario};
pub use world::Stats;

/// What one run gave.
#[derive(Debug)]
pub struct Outcome {
    /// The run's seed (a tape's fingerprint).
    pub seed: u64,
    /// Its counts, or the first invariant it broke.
    pub result: Result<Stats, Failure>,
    /// The trace, when asked for.
    pub trace: Vec<String>,
}

/// Runs the simulation of `seed`, keeping a trace when `trace` is set.
pub fn run(seed: u64, trace: bool) -> Outcome {
    run_scenario(Scenario::generate(seed), trace)
}

/// Runs the simulation a tape of draws makes (see [`Scenario::from_tape`]).
pub fn run_tape(tape: &[u8], trace: bool) -> Outcome {
    run_scenario(Scenario::from_tape(tape), trace)
}

/// The fuzz oracle: the run a fuzzer's input makes as a tape keeps every
/// invariant. Panics with the broken one.
pub fn fuzz_tape(tape: &[u8]) {
    if let Err(failure) = run_tape(tape, false).result {
        panic!("{failure}\nreplay: cargo run -p weir-sim -- --tape FILE --trace");
    }
}

/// Runs `scenario`, keeping a trace when `trace` is set.
pub fn run_scenario(scenario: Scenario, trace: bool) -> Outcome {
    let seed = scenario.seed;
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
