//! The guide's scenario on the loopback, in one process: a CA, three HTTPS
//! gateways, weir in front of them with the guide's configuration (TLS
//! pass-through with HTTPS health checks), agents uploading payloads, and
//! a gateway crash in the middle. Prints a status line a second and a
//! summary; exits 0 when no payload was lost.
//!
//! `cargo run --release -p weir-tests --bin weir-demo`
//!
//! With `--all-faults`, weir also gets its two failover extensions
//! (`option connect-hedge`, `option replay-until-response`) and the drill
//! goes on: a gateway hangs (accepts, never answers), then another one
//! black-holes (connection attempts get no answer).
//!
//! With `--smol`, weir runs on the smol driver (`weir-smol`'s) instead of
//! mio. `--help` prints the usage; any other argument is refused (exit 2).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use weir_tests::gateway::{Attempt, Gateway, Pki, audit, upload};
use weir_tests::{Driver, Lb};

const AGENTS: usize = 8;

/// What happens to a gateway during the drill.
#[derive(Clone, Copy)]
enum Fault {
    Crash,
    Hang,
    BlackHole,
}

/// (when, gateway index, fault, on or off).
type Step = (u64, usize, Fault, bool);

const CRASH_DRILL: &[Step] = &[(4, 1, Fault::Crash, true), (9, 1, Fault::Crash, false)];
const MORE_FAULTS: &[Step] = &[
    (11, 2, Fault::Hang, true),
    (15, 2, Fault::Hang, false),
    (17, 0, Fault::BlackHole, true),
    (21, 0, Fault::BlackHole, false),
];

const USAGE: &str = "\
Usage: weir-demo [--all-faults] [--smol]
  Runs three HTTPS gateways, weir and eight agents on the loopback, crashes
  a gateway at 4 s and restarts it at 9 s; ends after 14 s with a summary,
  exit 0 when no payload was lost.
  --all-faults  add option connect-hedge and replay-until-response, then a
                gateway hangs (11-15 s) and another black-holes (17-21 s);
                ends after 26 s
  --smol        run weir on its smol driver instead of mio
  -h, --help    print this help";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run { all_faults: bool, driver: Driver },
    Help,
}

/// Parses the arguments after the program name.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let (mut all_faults, mut driver) = (false, Driver::Mio);
    for arg in args {
        match arg.as_str() {
            "--all-faults" => all_faults = true,
            "--smol" => driver = Driver::Smol,
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(Command::Run { all_faults, driver })
}

fn main() -> ExitCode {
    let (all_faults, driver) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run { all_faults, driver }) => (all_faults, driver),
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("weir-demo: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut drill = CRASH_DRILL.to_vec();
    if all_faults {
        drill.extend_from_slice(MORE_FAULTS);
    }
    let end_at = Duration::from_secs(drill.last().map_or(0, |s| s.0) + 5);
    let pki = Pki::new();
    let mut gateways: Vec<Gateway> = (1..=3)
        .map(|i| Gateway::start(&format!("app{i}"), &pki))
        .collect();
    let mut config = String::from(
        "global\n    log stdout format raw local0\n\
         defaults\n    mode tcp\n    log global\n    timeout connect 2s\n    \
         timeout client 30s\n    timeout server 30s\n\n\
         frontend localnodes\n    bind *:9091\n    option tcplog\n    default_backend app\n\n\
         backend app\n    option httpchk GET /healthcheck\n",
    );
    if all_faults {
        config.push_str("    option connect-hedge 500ms\n    option replay-until-response 1s\n");
    }
    for g in &gateways {
        config.push_str(&format!(
            "    server {} 127.0.0.1:{} check check-ssl ca-file {} inter 500ms fall 2 rise 2\n",
            g.name,
            g.port(),
            pki.ca_file.display()
        ));
    }
    println!(
        "weir demo: 3 HTTPS gateways, {AGENTS} agents, weir (driver: {driver:?}) configured with:\n"
    );
    println!("{config}");
    let lb = Lb::start_on(driver, &config);
    println!(
        "weir listens on {} (bind *:9091 moved to a free port)",
        lb.addr
    );
    println!("status: per gateway, its state as weir logged it, connections (c), payloads (p)\n");

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let agents: Vec<_> = (0..AGENTS)
        .map(|a| {
            let (stop, sent, failures) = (stop.clone(), sent.clone(), failures.clone());
            let client = pki.client_config();
            let addr = lb.addr;
            thread::spawn(move || {
                let mut seq = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("agent{a}-{seq}");
                    seq += 1;
                    sent.lock().unwrap().push(id.clone());
                    // A real agent retries a failed send.
                    for _ in 0..10 {
                        match upload(addr, &client, &id) {
                            Attempt::Delivered(_) => break,
                            Attempt::Failed(_) => {
                                failures.fetch_add(1, Ordering::SeqCst);
                                thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();

    let start = Instant::now();
    let (mut crashed, mut restarted) = (None, None);
    let mut second = 1;
    let mut steps = drill.iter().peekable();
    while start.elapsed() < end_at {
        thread::sleep(Duration::from_millis(50));
        while let Some(&&(at, g, fault, on)) = steps.peek() {
            if start.elapsed() < Duration::from_secs(at) {
                break;
            }
            steps.next();
            let gateway = &mut gateways[g];
            let what = match (fault, on) {
                (Fault::Crash, true) => "crashing",
                (Fault::Crash, false) => "restarting",
                (Fault::Hang, true) => "hanging",
                (Fault::Hang, false) => "un-hanging",
                (Fault::BlackHole, true) => "black-holing",
                (Fault::BlackHole, false) => "reopening",
            };
            println!("-- {what} gateway {}", gateway.name);
            match fault {
                Fault::Crash if on => gateway.kill(),
                Fault::Crash => gateway.restart(),
                Fault::Hang => gateway.set_hang(on),
                Fault::BlackHole => gateway.set_black_hole(on),
            }
            if g == 1 && matches!(fault, Fault::Crash) {
                *(if on { &mut crashed } else { &mut restarted }) = Some(Instant::now());
            }
        }
        if start.elapsed() >= Duration::from_secs(second) {
            second += 1;
            status_line(start, &lb, &gateways, &sent, &failures);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for agent in agents {
        let _ = agent.join();
    }

    let ids = sent.lock().unwrap().clone();
    let refs: Vec<&Gateway> = gateways.iter().collect();
    let (lost, duplicated) = audit(&ids, &refs);
    let detect = lb.first_seen("Server app/app2 is DOWN").zip(crashed);
    let recover = lb.first_seen("Server app/app2 is UP").zip(restarted);
    println!("\nsummary");
    println!("  payloads sent        {}", ids.len());
    println!("  delivered            {}", ids.len() - lost.len());
    println!("  lost                 {}", lost.len());
    println!("  delivered twice      {}", duplicated.len());
    println!(
        "  failed attempts      {} (retried by the agents)",
        failures.load(Ordering::SeqCst)
    );
    if let Some((seen, at)) = detect {
        println!(
            "  time to detect crash {} ms",
            seen.saturating_duration_since(at).as_millis()
        );
    }
    if let Some((seen, at)) = recover {
        println!(
            "  time to recover      {} ms",
            seen.saturating_duration_since(at).as_millis()
        );
    }
    drop(lb);
    if lost.is_empty() && duplicated.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One line: each gateway's state as weir last logged it and its payloads.
fn status_line(
    start: Instant,
    lb: &Lb,
    gateways: &[Gateway],
    sent: &Mutex<Vec<String>>,
    failures: &AtomicU64,
) {
    let logs = lb.logs();
    let mut line = format!("t={:>2}s", start.elapsed().as_secs());
    for g in gateways {
        let down = format!("Server app/{} is DOWN", g.name);
        let up = format!("Server app/{} is UP", g.name);
        let state = logs
            .iter()
            .rev()
            .find_map(|l| {
                if l.starts_with(&down) {
                    Some("DOWN")
                } else if l.starts_with(&up) {
                    Some("UP")
                } else {
                    None
                }
            })
            .unwrap_or("UP");
        let tag = format!(" app/{} ", g.name);
        let conns = logs.iter().filter(|l| l.contains(&tag)).count();
        line.push_str(&format!(
            "  {} {:<4} {:>5}c {:>5}p",
            g.name,
            state,
            conns,
            g.uploads().len()
        ));
    }
    line.push_str(&format!(
        "  | sent {:>5}  failed attempts {}",
        sent.lock().unwrap().len(),
        failures.load(Ordering::SeqCst)
    ));
    println!("{line}");
}
