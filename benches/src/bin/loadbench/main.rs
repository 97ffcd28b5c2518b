//! weir, weir-smol, HAProxy and nginx side by side on the loopback, with
//! the same TCP configuration: bulk throughput, new connections and
//! keep-alive requests per second, latency, CPU per request, memory per
//! idle connection, the CPU of many health checks, and weir's scaling with
//! `nbthread`. This process plays the clients and the servers (mio event
//! loops on its own threads) and starts and stops every balancer by
//! process id. It is a `[[bin]]`: `cargo test` never runs it.
//!
//! ```sh
//! cargo build --release -p weir-mio -p weir-smol
//! cargo run --release -p weir-bench --bin loadbench -- --out bench.md
//! ```

mod args;
mod backend;
mod balancer;
mod hist;
mod iperf;
mod load;
mod machine;
mod procs;
mod report;
mod scenarios;
mod tls;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use args::{Args, Test};
use balancer::{Kind, Product, Setup};
use report::{Results, Shape};
use scenarios::{Bench, Target};

/// The column of the baseline: the clients straight to the servers.
const DIRECT: &str = "direct (no balancer)";

fn main() {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) if msg == args::USAGE => {
            print!("{msg}");
            return;
        }
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let machine = machine::describe();
    for line in &machine {
        eprintln!("{line}");
    }
    let mut results = Results::default();
    // Clients, servers and the balancers (which inherit it) each hold
    // every idle connection.
    let want = (2 * args.idle.max(30_000) + args.check_servers + 2_000) as u64;
    let nofile = procs::raise_nofile(want);
    // A balancer needs two descriptors per proxied connection (HAProxy
    // refuses to start with a `maxconn` the limit cannot hold), and so
    // does this process (client and server side).
    let reserve = args.check_servers + 1_000;
    let maxconn = (usize::try_from(nofile)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserve)
        / 2)
    .clamp(100, args.idle.max(30_000));
    let idle = args.idle.min(maxconn.saturating_sub(100));
    if idle < args.idle {
        results.note(format!(
            "the descriptor limit is {nofile} and cannot be raised here (it needs root with \
             CAP_SYS_RESOURCE, or a higher `ulimit -Hn`): {} idle connections instead of {}, \
             maxconn {maxconn}",
            report::thousands(idle as f64),
            report::thousands(args.idle as f64)
        ));
    }
    if machine::tw_reuse() == Some(0) {
        results.note(
            "net.ipv4.tcp_tw_reuse is 0: new connections may run out of ports \
             (sysctl -w net.ipv4.tcp_tw_reuse=2)"
                .to_owned(),
        );
    }
    let products = find_products(&args, &mut results);
    let mut bench = Bench {
        args: &args,
        results,
        maxconn,
        nofile,
        idle,
    };
    let mut targets = vec![Target {
        column: DIRECT.to_owned(),
        product: None,
        nbthread: None,
    }];
    targets.extend(products.iter().map(|p| Target {
        column: p.name.clone(),
        product: Some(p),
        nbthread: None,
    }));
    for run in 1..=args.runs {
        eprintln!("run {run} of {}", args.runs);
        run_all(&mut bench, &targets, run);
    }
    let scaled = if args.wants(Test::Nbthread) {
        scaling(&mut bench, &products)
    } else {
        Vec::new()
    };
    let report = markdown(&bench, &machine, &products, &targets, &scaled);
    println!("{report}");
    if let Some(out) = &args.out {
        match std::fs::write(out, &report) {
            Ok(()) => eprintln!("report written to {}", out.display()),
            Err(e) => {
                eprintln!("{}: {e}", out.display());
                std::process::exit(1);
            }
        }
    }
}

/// One run of every figure asked for, every column.
fn run_all(bench: &mut Bench<'_>, targets: &[Target<'_>], run: usize) {
    let a = bench.args;
    let figures: &[(Test, &str)] = &[
        (Test::Bulk, "bulk"),
        (Test::Conn, "new connections"),
        (Test::KeepAlive, "keep-alive"),
        (Test::Idle, "idle connections"),
        (Test::Checks, "checks"),
        (Test::TlsChecks, "TLS checks"),
    ];
    for &(test, name) in figures {
        if !a.wants(test) {
            continue;
        }
        for t in targets {
            let done = match test {
                Test::Bulk => bench.bulk(t, 1).and_then(|()| bench.bulk(t, 4)),
                Test::Conn => bench.conn(t),
                Test::KeepAlive => bench.keep_alive(t),
                Test::Idle => bench.idle(t),
                Test::Checks => bench.checks(t),
                Test::TlsChecks => bench.tls_checks(t),
                Test::Nbthread => Ok(()),
            };
            if let Err(e) = done {
                bench
                    .results
                    .note(format!("{}, {name}, run {run}: {e}", t.column));
            }
        }
    }
}

/// weir alone at each `nbthread` (HAProxy too when `--scaling` names
/// it): the binaries that accept the keyword.
fn scaling<'p>(bench: &mut Bench<'_>, products: &'p [Product]) -> Vec<&'p Product> {
    let a = bench.args;
    let mut scaled = Vec::new();
    for p in products.iter().filter(|p| p.kind != Kind::Nginx) {
        if !a.scaling.contains(&p.name.to_ascii_lowercase()) {
            continue;
        }
        let probe = a.nbthread.iter().copied().find(|&n| n > 1).unwrap_or(2);
        let servers = [std::net::SocketAddr::from(([127, 0, 0, 1], 1))];
        let setup = Setup {
            servers: &servers,
            check: balancer::Check::None,
            nbthread: Some(probe),
            maxconn: bench.maxconn,
            nofile: bench.nofile,
        };
        if let Err(e) = p.check_config(&setup) {
            bench.results.note(format!(
                "{} refuses 'nbthread {probe}' ({e}): its nbthread table is skipped",
                p.name
            ));
            continue;
        }
        scaled.push(p);
        for run in 1..=a.runs {
            eprintln!("{} nbthread scaling, run {run} of {}", p.name, a.runs);
            for &n in &a.nbthread {
                let t = Target {
                    column: report::scaling_column(&p.name, n),
                    product: Some(p),
                    nbthread: Some(n),
                };
                let done = bench
                    .bulk(&t, 4)
                    .and_then(|()| bench.conn(&t))
                    .and_then(|()| bench.keep_alive(&t));
                if let Err(e) = done {
                    bench.results.note(format!("{}, run {run}: {e}", t.column));
                }
            }
        }
    }
    scaled
}

/// `target/release`, where this bench's own binary is.
fn release_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// The first non-empty line a command prints (stdout, then stderr).
fn first_line(path: &Path, arg: &str) -> String {
    Command::new(path)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The balancers installed or built here (and asked for); a note with
/// how to get each one that is missing.
fn find_products(a: &Args, results: &mut Results) -> Vec<Product> {
    let release = release_dir();
    let build = "build it: cargo build --release -p weir-mio -p weir-smol";
    let candidates = [
        (
            Kind::HAProxy,
            "HAProxy",
            a.haproxy.clone(),
            "install it: apt-get install -y haproxy (or --haproxy PATH)",
        ),
        (
            Kind::Nginx,
            "nginx",
            a.nginx.clone(),
            "install it: apt-get install -y nginx libnginx-mod-stream (or --nginx PATH)",
        ),
        (
            Kind::Weir,
            "weir",
            a.weir.clone().unwrap_or_else(|| release.join("weir")),
            build,
        ),
        (
            Kind::Weir,
            "weir-smol",
            a.weir_smol
                .clone()
                .unwrap_or_else(|| release.join("weir-smol")),
            build,
        ),
    ];
    let mut found = Vec::new();
    for (kind, name, path, how) in candidates {
        if a.only
            .as_ref()
            .is_some_and(|o| !o.contains(&name.to_ascii_lowercase()))
        {
            continue;
        }
        if !path.is_file() {
            results.note(format!(
                "{name} not found at {}: {how}; skipped",
                path.display()
            ));
            continue;
        }
        let mut module = None;
        if kind == Kind::Nginx {
            let so = PathBuf::from("/usr/lib/nginx/modules/ngx_stream_module.so");
            let built_in = {
                let v = Command::new(&path).arg("-V").output();
                v.map(|o| {
                    let t = String::from_utf8_lossy(&o.stderr);
                    t.contains("--with-stream ") && !t.contains("--with-stream=dynamic")
                })
                .unwrap_or(false)
            };
            if so.is_file() {
                module = Some(so);
            } else if !built_in {
                results.note(
                    "nginx has no stream module: install it: apt-get install -y \
                     libnginx-mod-stream; nginx skipped"
                        .to_owned(),
                );
                continue;
            }
        }
        let version = first_line(&path, "-v");
        found.push(Product {
            kind,
            name: name.to_owned(),
            path,
            module,
            version,
        });
    }
    found
}

/// The whole report.
fn markdown(
    bench: &Bench<'_>,
    machine: &[String],
    products: &[Product],
    targets: &[Target<'_>],
    scaled: &[&Product],
) -> String {
    let a = bench.args;
    let mut m = String::from("## Load benchmark: weir, HAProxy and nginx side by side\n\n");
    for line in machine {
        let _ = writeln!(m, "- {line}");
    }
    let _ = writeln!(
        m,
        "- load average after the run: {}",
        machine::load_average()
    );
    for p in products {
        let _ = writeln!(m, "- {}: `{}` ({})", p.name, p.path.display(), p.version);
    }
    let _ = writeln!(
        m,
        "\nLoopback; this process plays the clients and {} backend servers \
         (round robin) on the same CPUs as the balancer. Each balancer runs \
         with its own defaults for threads (HAProxy: one per CPU; nginx: \
         `worker_processes auto`; weir: its default), `mode tcp`, \
         `maxconn {}`, no logging. Medians of {} runs of {:.1} s each after \
         {:.1} s of warm-up; in brackets the ratio to HAProxy (↓: lower is \
         better). CPU is the balancer's utime + stime from /proc/PID/stat \
         over the measured window (100 % = one core); RSS is VmRSS (nginx: \
         master and workers added up).\n",
        a.servers,
        bench.maxconn,
        a.runs,
        a.duration.as_secs_f64(),
        a.warmup.as_secs_f64()
    );
    let _ = writeln!(
        m,
        "- bulk: the server writes without end, the client reads \
         (download), 1 or 4 connections{};\n\
         - new connection per request: {} connections in flight, each \
         connects, sends a {}-byte request, reads the {}-byte reply and \
         closes;\n\
         - keep-alive: {} connections, each sends its next request when \
         the reply to the last is read{};\n\
         - idle: RSS after start, then RSS growth per connection with {} \
         connections open through the balancer, each having carried one \
         request and reply (opened in two halves: the growth over the \
         second half is the cost of one more connection, without what the \
         first ones cost once);\n\
         - checks: {} servers on 127.0.x.y with `check inter 1s`, {}; \
         TLS checks: the same HTTP check with `check-ssl verify none`, \
         servers in TLS (rustls, a self-signed certificate, TLS 1.3, \
         session tickets) that count full and resumed handshakes. \
         Open-source nginx has no active checks.\n",
        if a.iperf3 {
            " (iperf3 -R through one server, when installed)"
        } else {
            ""
        },
        a.in_flight,
        backend::REQUEST.len(),
        backend::REPLY.len(),
        a.connections,
        if a.wrk { " (wrk when installed)" } else { "" },
        report::thousands(bench.idle as f64),
        report::thousands(a.check_servers as f64),
        if a.check_http {
            "HTTP checks (`option httpchk GET /healthcheck`, the servers answer 200 and \
             count the checks they answer)"
        } else {
            "TCP connect checks (the servers accept and close)"
        },
    );
    let shape = Shape {
        connections: a.connections,
        idle: bench.idle,
        check_servers: a.check_servers,
        check_http: a.check_http,
    };
    let columns: Vec<String> = targets.iter().map(|t| t.column.clone()).collect();
    m.push_str(&bench.results.main_table(&columns, &shape));
    for p in scaled {
        if let Some(t) = bench.results.scaling_table(&p.name, &a.nbthread) {
            let _ = writeln!(
                m,
                "\n{} alone at each `nbthread` (in brackets: the ratio to the first row):\n",
                p.name
            );
            m.push_str(&t);
        }
    }
    if !bench.results.notes.is_empty() {
        m.push_str("\nNotes:\n\n");
        for n in &bench.results.notes {
            let _ = writeln!(m, "- {n}");
        }
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        m,
        "\nCommand: `cargo run --release -p weir-bench --bin loadbench -- {}`",
        argv.join(" ")
    );
    m
}
