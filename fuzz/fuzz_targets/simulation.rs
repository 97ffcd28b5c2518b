//! Fault schedules for the simulator: the input is a tape of the scenario
//! generator's draws (configuration, clients, faults), and weir-sim's
//! invariants are the oracle; see `weir_sim::fuzz_tape`. A crashing input
//! replays with `cargo run -p weir-sim -- --tape FILE --trace`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_sim::fuzz_tape(data));
