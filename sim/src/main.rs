//! `weir-sim`: runs simulation campaigns, or replays one seed with a trace.
//!
//! ```text
//! weir-sim [--from N] [--seeds M] [--jobs J]   run seeds N..N+M (default 0, 1000)
//! weir-sim --seed S [--trace]                  replay one seed (with its trace)
//! weir-sim --seed S --save-tape FILE            write seed S's scenario as a tape
//! weir-sim --tape FILE [--trace]                replay a tape (a fuzzer's input)
//! weir-sim ... --loops L                        weir on L event loops (nbthread L)
//! ```
//!
//! `--reloads` runs the seeds' scenarios with reloads in place at random
//! times (servers removed, added, renamed, moved to a new port, retuned;
//! `balance` and timeouts changed), runtime commands included.
//!
//! `--loops N` runs them with `nbthread N`: N instances of weir, one per
//! event loop, in one world (as `cargo test` runs some seeds).

use std::cell::Cell;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const USAGE: &str = "usage: weir-sim [--from N] [--seeds M] [--jobs J] [--reloads] [--loops L]
       weir-sim --seed S [--reloads] [--loops L] [--trace | --save-tape FILE]
       weir-sim --tape FILE [--loops L] [--trace]";

thread_local! {
    /// The seed this thread is running, for the panic message.
    static CURRENT: Cell<Option<u64>> = const { Cell::new(None) };
}

struct Args {
    from: u64,
    seeds: u64,
    jobs: u64,
    seed: Option<u64>,
    tape: Option<String>,
    save_tape: Option<String>,
    trace: bool,
    reloads: bool,
    loops: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        from: 0,
        seeds: 1000,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        seed: None,
        tape: None,
        save_tape: None,
        trace: false,
        reloads: false,
        loops: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a number\n{USAGE}"))
        };
        match flag.as_str() {
            "--from" => args.from = number("--from")?,
            "--seeds" => args.seeds = number("--seeds")?,
            "--jobs" => args.jobs = number("--jobs")?.max(1),
            "--seed" => args.seed = Some(number("--seed")?),
            "--tape" => args.tape = Some(path(&mut it, "--tape")?),
            "--save-tape" => args.save_tape = Some(path(&mut it, "--save-tape")?),
            "--trace" => args.trace = true,
            "--reloads" => args.reloads = true,
            "--loops" => match number("--loops")? {
                n @ 1..=64 => args.loops = n as u32,
                _ => return Err(format!("--loops takes 1 to 64 event loops\n{USAGE}")),
            },
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.save_tape.is_some() && args.seed.is_none() {
        return Err(format!("--save-tape needs --seed\n{USAGE}"));
    }
    Ok(args)
}

fn path(it: &mut impl Iterator<Item = String>, name: &str) -> Result<String, String> {
    it.next()
        .ok_or_else(|| format!("{name} needs a file name\n{USAGE}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(seed) = CURRENT.with(Cell::get) {
            eprintln!("FAIL seed {seed}: panicked (replay: weir-sim --seed {seed} --trace)");
        }
        default_hook(info);
    }));
    let (reloads, loops) = (args.reloads, args.loops);
    match (args.seed, args.tape) {
        (Some(seed), _) => match args.save_tape {
            Some(file) => save_tape(seed, &file),
            None => replay(scenario(seed, reloads, loops), args.trace),
        },
        (None, Some(file)) => match std::fs::read(&file) {
            Ok(tape) => {
                let scenario = weir_sim::Scenario::from_tape(&tape).with_loops(loops);
                replay(scenario, args.trace)
            }
            Err(e) => {
                eprintln!("{file}: {e}");
                ExitCode::from(2)
            }
        },
        (None, None) => campaign(args.from, args.seeds, args.jobs, |seed| {
            scenario(seed, reloads, loops)
        }),
    }
}

/// Writes the tape of `seed`'s scenario to `file` (a fuzz corpus entry).
fn save_tape(seed: u64, file: &str) -> ExitCode {
    match std::fs::write(file, weir_sim::Scenario::tape(seed)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{file}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one scenario, printing it, its trace if asked, and its result
/// (stopping quietly if the reader goes away, as `head` does).
fn replay(scenario: weir_sim::Scenario, trace: bool) -> ExitCode {
    let (seed, summary) = (scenario.seed, scenario.summary());
    CURRENT.with(|c| c.set(Some(seed)));
    let outcome = weir_sim::run_scenario(scenario, trace);
    let (verdict, code) = match &outcome.result {
        Ok(stats) => (format!("seed {seed}: ok {stats:?}"), ExitCode::SUCCESS),
        Err(failure) => (format!("FAIL seed {seed} {failure}"), ExitCode::FAILURE),
    };
    let mut out = std::io::stdout().lock();
    let lines = std::iter::once(&summary)
        .chain(&outcome.trace)
        .chain(std::iter::once(&verdict));
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    code
}

/// Seed `seed`'s scenario, with reloads if asked, on `loops` loops.
fn scenario(seed: u64, reloads: bool, loops: u32) -> weir_sim::Scenario {
    let scenario = weir_sim::Scenario::generate(seed);
    let scenario = if reloads {
        scenario.with_reloads()
    } else {
        scenario
    };
    scenario.with_loops(loops)
}

/// Runs the scenarios of seeds `from..from + seeds` on `jobs` threads.
fn campaign(
    from: u64,
    seeds: u64,
    jobs: u64,
    scenario: impl Fn(u64) -> weir_sim::Scenario + Sync,
) -> ExitCode {
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for job in 0..jobs {
            let (done, failures, scenario) = (&done, &failures, &scenario);
            scope.spawn(move || {
                for seed in (from + job..from + seeds).step_by(jobs as usize) {
                    CURRENT.with(|c| c.set(Some(seed)));
                    let outcome = weir_sim::run_scenario(scenario(seed), false);
                    if let Err(failure) = outcome.result {
                        println!("FAIL seed {seed} {failure}");
                        failures
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(seed);
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 1000 == 0 {
                        let rate = n as f64 / started.elapsed().as_secs_f64();
                        eprintln!("{n} seeds, {rate:.0} seeds/s");
                    }
                }
            });
        }
    });
    let mut failed = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failed.sort_unstable();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{seeds} seeds ({from}..{}) in {secs:.1}s: {:.0} seeds/s, {} failed{}",
        from + seeds,
        seeds as f64 / secs,
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {failed:?}")
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
