//! The simulator in `cargo test`: a fixed sweep of seeds, the seeds that
//! found bugs in weir-core (replayed for ever; each bug also has a
//! regression test in core), and exact replay of a seed.
//!
//! Half the seeds of each sweep run weir on several event loops
//! (`nbthread 2` or `3`, see [`loops`]): the same runs, the same
//! invariants, for the process as a whole.
//!
//! A failure names its seed and loops; replay it with
//! `cargo run -p weir-sim -- --seed S --loops L --trace`.

use std::fs;

use weir_sim::{Scenario, run, run_scenario};

/// Seeds that found bugs, what each found, and the digest of the run it
/// draws (without runtime commands, which joined the schedule later and
/// are drawn last: `Scenario::without_commands` is that run). Each one fails on the core before its fix (the first four
/// checked by reverting the fix and running seeds 0..3000, which also shows
/// how often each bug shows: 31, 2, 4 and 19 seeds; the `ssl` ones were
/// found one after another, each on the core with the fixes before it).
/// The same runs, as tapes, are in the fuzz corpus
/// (`fuzz/corpus/simulation/seed-S`).
#[rustfmt::skip]
const FOUND_BUGS: &[(u64, &str, u64)] = &[
    (482, "shutdown kept the buffers of checks in flight", 0x1e6f_1097_c541_f22f),
    (566, "a retry went to a server marked DOWN during its pause", 0x5d9d_0d0a_2d24_74f7),
    (597, "after a hedge won, a retry moved the session mid-stream", 0xa071_4621_b818_c3ea),
    (82, "the server side timed out while a slow client read", 0x52f1_7177_e836_c05f),
    // With `ssl` servers (weir speaks TLS to them):
    (9, "close_notify went out ahead of the client's bytes", 0x2ca1_7684_7c92_5c1b),
    (26, "encrypt looped for ever during the handshake", 0x8098_1a32_17e9_31ef),
    (88, "the server's FIN cut the reply in rustls", 0x80d9_a233_2ab0_4db9),
    (179, "a server closing mid-handshake left a session", 0x4d78_0a25_804f_a8af),
    (2093, "no-check-ssl did not keep checks in clear", 0x86e7_00fa_e6f6_d761),
];

/// Seeds swept by each of the two sweep tests (they run in parallel).
const SWEEP: u64 = 250;

/// How many event loops a swept seed runs weir on: one for half of
/// them, two or three for the others.
fn loops(seed: u64) -> u32 {
    [1, 2, 1, 3][seed as usize % 4]
}

fn check(seeds: impl Iterator<Item = u64>) {
    let failures: Vec<String> = seeds
        .filter_map(|seed| {
            let scenario = Scenario::generate(seed).with_loops(loops(seed));
            let failure = run_scenario(scenario, false).result.err()?;
            Some(format!("seed {seed} --loops {} {failure}", loops(seed)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{failures:#?}\nreplay one with: cargo run -p weir-sim -- --seed S --loops L --trace"
    );
}

#[test]
fn seeds_that_found_bugs_pass() {
    let failures: Vec<String> = FOUND_BUGS
        .iter()
        .filter_map(|&(seed, _, _)| {
            let scenario = Scenario::generate(seed).without_commands();
            let failure = run_scenario(scenario, false).result.err()?;
            Some(format!("seed {seed} (without commands) {failure}"))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // And with their commands, on one loop.
    let failures: Vec<String> = FOUND_BUGS
        .iter()
        .filter_map(|&(seed, _, _)| Some(format!("seed {seed} {}", run(seed, false).result.err()?)))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_seeds_that_found_bugs_still_draw_the_same_runs() {
    for &(seed, bug, digest) in FOUND_BUGS {
        let scenario = Scenario::generate(seed).without_commands();
        let tape = fs::read(format!(
            "{}/../fuzz/corpus/simulation/seed-{seed}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the seed's tape is in the fuzz corpus");
        assert!(
            scenario.digest() == digest
                && described(&Scenario::from_tape(&tape).without_commands())
                    == described(&scenario),
            "the scenario generator changed: seed {seed} no longer draws the run that found \
             \"{bug}\" (digest {:#x}). Find a seed that does again: revert the fix, run \
             `weir-sim --seeds 3000`, and keep a seed that fails the same way, with its digest \
             and its tape (`weir-sim --seed S --save-tape fuzz/corpus/simulation/seed-S`)",
            scenario.digest()
        );
    }
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
    // Several loops too: who accepts, and when news arrives.
    let three = || run_scenario(Scenario::generate(16).with_loops(3), true);
    let (a, b) = (three(), three());
    assert!(
        a.trace.iter().any(|l| l.contains("weir loop 2")),
        "loop 2 did something"
    );
    assert_eq!(a.trace, b.trace);
}

/// A scenario's description without its first line (which names the seed,
/// or a tape's fingerprint).
fn described(scenario: &Scenario) -> String {
    let summary = scenario.summary();
    summary
        .split_once('\n')
        .map_or(summary.clone(), |(_, rest)| rest.to_string())
}

#[test]
fn roundrobin_shares_sessions_by_weight_after_weight_and_drain_commands() {
    let failures: Vec<String> = (0..8)
        .filter_map(|seed| {
            let scenario = Scenario::weighted(seed).with_loops(loops(seed));
            let failure = run_scenario(scenario, false).result.err()?;
            Some(format!(
                "weighted seed {seed} --loops {} {failure}",
                loops(seed)
            ))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn reloads_in_place_lose_no_session_and_send_removed_servers_nothing() {
    let failures: Vec<String> = (0..80)
        .filter_map(|seed| {
            let scenario = Scenario::generate(seed).with_reloads();
            assert!(!scenario.reloads.is_empty());
            let failure = run_scenario(scenario.with_loops(loops(seed)), false)
                .result
                .err()?;
            Some(format!(
                "seed {seed} --loops {} with reloads {failure}",
                loops(seed)
            ))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{failures:#?}\nreplay one with: cargo run -p weir-sim -- --seed S --reloads --loops L --trace"
    );
}

#[test]
fn roundrobin_shares_sessions_by_the_weights_reloads_and_commands_left() {
    let mut weights_changed = 0;
    let failures: Vec<String> = (0..8)
        .filter_map(|seed| {
            let scenario = Scenario::weighted(seed).with_reloads();
            let changes = scenario.reloads.iter().flat_map(|r| &r.what);
            weights_changed += changes.filter(|w| w.contains(" weight ")).count();
            let failure = run_scenario(scenario.with_loops(loops(seed)), false)
                .result
                .err()?;
            Some(format!(
                "weighted seed {seed} --loops {} with reloads {failure}",
                loops(seed)
            ))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        weights_changed > 0,
        "no reload of these seeds changed a weight"
    );
}

/// Found with reloads (seeds 1270, 1516, 1896, 2523, 2543, 2600 and 2880;
/// 219 with `--loops 3`): a server crashed after its reply and its FIN
/// while weir, not reading it (the client's buffer was full), wrote to
/// it; the failed write closed it with the reply's last bytes unread, and
/// the client got a clean FIN short of them (core's regression tests:
/// `proxy::tests::write_failed`). Seed 219 no longer draws a failed write
/// since `roundrobin` takes the process's turns; seed 14 with `--loops 3`
/// does.
#[test]
fn a_failed_write_to_a_crashed_server_loses_none_of_its_reply() {
    for (seed, loops) in [(1516, 1), (14, 3)] {
        let scenario = Scenario::generate(seed).with_reloads().with_loops(loops);
        let outcome = run_scenario(scenario, true);
        let failed_write = |l: &String| l.contains("write to") && l.ends_with(": reset");
        assert!(
            outcome.trace.iter().any(failed_write),
            "seed {seed} no longer draws a failed write to a server"
        );
        if let Err(failure) = outcome.result {
            panic!("seed {seed} --reloads --loops {loops} {failure}");
        }
    }
}
