//! `weir-diff`: runs scenarios through HAProxy and weir, one after the other,
//! and reports where they differ (logs, check traffic on the wire, server
//! states, what clients saw). A developer tool: it needs `/usr/sbin/haproxy`.
//!
//! ```text
//! weir-diff [--haproxy PATH] [--weir PATH] [--out FILE.md] [--verbose] [--keep] SCENARIO.toml|DIR...
//! ```

mod compare;
mod dns;
mod nameserver;
mod runner;
mod scenario;
mod servers;
mod syslog;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runner::Observation;

const USAGE: &str = "usage: weir-diff [--haproxy PATH] [--weir PATH] [--out FILE.md] [--verbose] \
                     [--keep] SCENARIO.toml|DIR...";

struct Args {
    haproxy: String,
    weir: String,
    out: Option<PathBuf>,
    verbose: bool,
    keep: bool,
    scenarios: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let default_weir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/weir");
    let mut args = Args {
        haproxy: "/usr/sbin/haproxy".into(),
        weir: default_weir.display().to_string(),
        out: None,
        verbose: false,
        keep: false,
        scenarios: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--haproxy" => args.haproxy = value("--haproxy")?,
            "--weir" => args.weir = value("--weir")?,
            "--out" => args.out = Some(value("--out")?.into()),
            "--verbose" | "-v" => args.verbose = true,
            "--keep" => args.keep = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
            _ => args.scenarios.extend(expand(Path::new(&a))?),
        }
    }
    if args.scenarios.is_empty() {
        return Err(USAGE.into());
    }
    Ok(args)
}

/// A file, or a directory's `*.toml` in name order.
fn expand(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Parse every scenario first: a typo fails before minutes of running.
    let mut scenarios = Vec::new();
    for path in &args.scenarios {
        match scenario::load(path) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let work = std::env::temp_dir().join(format!("weir-diff-{}", std::process::id()));
    let mut verdicts = Vec::new();
    for s in &scenarios {
        eprintln!("{}: running", s.name);
        let observe = |who: &str, argv: &str| -> Result<Observation, String> {
            let argv = vec![argv.to_owned()];
            let o = runner::run(s, &argv, &work.join(&s.name).join(who))?;
            if args.verbose {
                print_observation(&s.name, who, &o);
            }
            Ok(o)
        };
        let pair =
            observe("haproxy", &args.haproxy).and_then(|a| Ok((a, observe("weir", &args.weir)?)));
        match pair {
            Ok((a, b)) => {
                let dns = s.dns.is_some() && s.compare.dns;
                let v = compare::compare(&s.name, &s.description, &s.compare, dns, &a, &b);
                eprintln!(
                    "{}: {}",
                    s.name,
                    if v.equal() { "equal" } else { "different" }
                );
                verdicts.push(v);
            }
            Err(e) => {
                eprintln!("{}: {e}", s.name);
                return ExitCode::FAILURE;
            }
        }
    }
    if args.keep {
        eprintln!("runs kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    let report = compare::report(&verdicts);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, report) {
                eprintln!("{}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        None => print!("{report}"),
    }
    ExitCode::SUCCESS
}

fn print_observation(name: &str, who: &str, o: &Observation) {
    eprintln!("=== {name} / {who}");
    if let Some(e) = &o.failed_start {
        eprintln!("failed to start: {e}");
    }
    for l in &o.logs {
        eprintln!("log   {}", l.show());
    }
    for (server, conns) in &o.wire {
        for c in conns {
            let tls = c.tls.as_deref().unwrap_or("");
            eprintln!(
                "wire  {server}{}: \"{}\" -> {} {tls}",
                c.peer_text(),
                scenario::escape(&c.received),
                c.end
            );
        }
    }
    for (i, kind, text) in &o.steps {
        eprintln!("step  {i} {kind:?}: {text}");
    }
    for q in compare::distinct_queries(&o.dns) {
        let n = o.dns.iter().filter(|x| **x == q).count();
        eprintln!("dns   {q} (x{n})");
    }
    if !o.stderr.trim().is_empty() {
        eprintln!("stderr:\n{}", o.stderr.trim_end());
    }
}
