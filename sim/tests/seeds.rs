//! The simulator in `cargo test`: a fixed sweep of seeds, the seeds that
//! found bugs in weir-core (replayed for ever; each bug also has a
//! regression test in core), and exact replay of a seed.
//!
//! A failure names its seed; replay it with
//! `cargo run -p weir-sim -- --seed S --trace`.

use weir_sim::run;

/// Seeds that found bugs, and what each found. Each one fails on the core
/// before its fix (checked by reverting the fix and running seeds 0..3000,
/// which also shows how often the bug shows: 31, 2, 4 and 19 seeds). A
/// change to the scenario generator changes what every seed draws, so it
/// must come with this search again. The same runs, as tapes, are in the
/// fuzz corpus (`fuzz/corpus/simulation/seed-S`).
const FOUND_BUGS: &[(u64, &str)] = &[
    (482, "shutdown kept the buffers of checks in flight"),
    (566, "a retry went to a server marked DOWN during its pause"),
    (
        597,
        "after a hedge won, a retry moved the session mid-stream",
    ),
    (82, "the server side timed out while a slow client read"),
];

/// Seeds swept by each of the two sweep tests (they run in parallel).
const SWEEP: u64 = 250;

fn check(seeds: impl Iterator<Item = u64>) {
    let failures: Vec<String> = seeds
        .filter_map(|seed| {
            let failure = run(seed, false).result.err()?;
            Some(format!("seed {seed} {failure}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{failures:#?}\nreplay one with: cargo run -p weir-sim -- --seed S --trace"
    );
}

#[test]
fn seeds_that_found_bugs_pass() {
    check(FOUND_BUGS.iter().map(|&(seed, _)| seed));
}

#[test]
fn a_sweep_of_seeds_passes_first_half() {
    check(0..SWEEP);
}

#[test]
fn a_sweep_of_seeds_passes_second_half() {
    check(SWEEP..2 * SWEEP);
}

#[test]
fn a_seed_replays_exactly_the_same_run() {
    // Seed 13 has HTTPS checks: TLS handshakes replay too.
    let (a, b) = (run(13, true), run(13, true));
    assert!(a.trace.len() > 1000, "a real run: {} lines", a.trace.len());
    assert_eq!(a.trace, b.trace);
    assert_eq!(format!("{:?}", a.result), format!("{:?}", b.result));
}
