//! Loading a large configuration: milliseconds to parse and validate a
//! backend of 100,000 servers (what `weir -c` does), and to build the
//! balancer from it (what starting does) for each `balance` algorithm;
//! then other large shapes (many `listen` sections, a long named
//! `defaults` section). Loading must grow linearly: the column ten times
//! smaller is there to show the ratio.
//!
//! Run: `cargo run --release -p weir-bench --bin config-bench`
//! (`CONFIG_BENCH_ONLY=roundrobin` for one algorithm only).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use weir_core::Balancer;
use weir_core::config::{self, Config, Source};

const ALGORITHMS: &[(&str, &str)] = &[
    ("roundrobin", "balance roundrobin"),
    ("static-rr", "balance static-rr"),
    ("leastconn", "balance leastconn"),
    ("first", "balance first"),
    ("source (map-based)", "balance source"),
    (
        "source (consistent)",
        "balance source\n    hash-type consistent",
    ),
    ("random(2)", "balance random"),
];

/// A configuration with one backend of `servers` checked servers of
/// weights 1..=4.
fn text(balance: &str, servers: usize) -> String {
    let mut text = format!(
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
         timeout server 30s\nfrontend fe\n    bind 127.0.0.1:9091\n    default_backend app\n\
         backend app\n    {balance}\n"
    );
    for i in 0..servers {
        let _ = writeln!(
            text,
            "    server s{i} 10.{}.{}.{}:80 check weight {}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff,
            1 + i % 4
        );
    }
    text
}

/// A configuration of size `n`.
type Shape = fn(usize) -> String;

/// `n` `listen` sections of one server each.
fn listens(n: usize) -> String {
    let mut text = String::from(
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
         timeout server 30s\n",
    );
    for i in 0..n {
        let _ = writeln!(
            text,
            "listen l{i}\n    bind 127.0.{}.{}:80\n    server s1 10.0.0.1:80",
            i >> 8,
            i & 0xff
        );
    }
    text
}

/// A named `defaults` section of `n` `tcp-check` lines, used by a backend.
fn long_defaults(n: usize) -> String {
    let mut text = String::from(
        "defaults base\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
         timeout server 30s\n    option tcp-check\n",
    );
    for i in 0..n {
        let _ = writeln!(text, "    tcp-check send x{i}");
    }
    text.push_str(
        "frontend fe\n    bind :80\n    default_backend be\nbackend be from base\n    \
         server s1 10.0.0.1:80\n",
    );
    text
}

fn parse(text: &str) -> Config {
    config::parse(&[Source::new("config-bench.cfg", text)], &mut |_| None)
        .expect("bench config parses")
        .config
}

/// The best of three runs of `f`, each on a fresh `input()` (not timed).
fn best<I, T>(input: impl Fn() -> I, f: impl Fn(I) -> T) -> Duration {
    (0..3)
        .map(|_| {
            let input = input();
            let start = Instant::now();
            black_box(f(input));
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    println!("loading a backend of N servers, ms (best of 3)");
    println!(
        "  {:<22} {:>14} {:>15} {:>14} {:>15}",
        "algorithm", "parse 10,000", "parse 100,000", "build 10,000", "build 100,000"
    );
    let only = std::env::var("CONFIG_BENCH_ONLY").ok();
    for &(name, balance) in ALGORITHMS
        .iter()
        .filter(|(n, _)| only.as_deref().is_none_or(|o| o == *n))
    {
        let small = text(balance, 10_000);
        let large = text(balance, 100_000);
        let (small_config, large_config) = (parse(&small), parse(&large));
        let build = |config: &Config| {
            best(
                || config.clone(),
                |config| Balancer::new(config, 1, Instant::now(), SystemTime::now(), 1),
            )
        };
        println!(
            "  {name:<22} {:>14} {:>15} {:>14} {:>15}",
            ms(best(|| (), |()| parse(&small))),
            ms(best(|| (), |()| parse(&large))),
            ms(build(&small_config)),
            ms(build(&large_config)),
        );
    }
    println!("parsing other shapes, ms (best of 3)");
    println!("  {:<36} {:>8} {:>8}", "shape", "N=2,000", "N=20,000");
    let shapes: [(&str, Shape); 2] = [
        ("N listen sections", listens),
        ("named defaults of N tcp-check lines", long_defaults),
    ];
    for (name, shape) in shapes {
        let (small, large) = (shape(2_000), shape(20_000));
        println!(
            "  {name:<36} {:>8} {:>8}",
            ms(best(|| (), |()| parse(&small))),
            ms(best(|| (), |()| parse(&large))),
        );
    }
}
