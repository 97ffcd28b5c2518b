//! Micro-benchmark of server selection: nanoseconds per pick for each
//! `balance` algorithm with 10 and 1000 servers. A pick here is one new
//! session (a new client address) plus the load updates of it opening and
//! of an older one closing, with about two sessions open per server.
//!
//! `roundrobin (2 loops)` picks through the state the loops share (as
//! loop 0, under the lock, uncontended).
//!
//! Run: `cargo run --release -p weir-bench --bin lb-bench [-- NAME]`
//! (only the algorithms whose name contains NAME).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use weir_core::PickBench;
use weir_core::config::{self, Backend, Source};

const ALGORITHMS: &[(&str, &str)] = &[
    ("roundrobin", "balance roundrobin"),
    ("roundrobin (2 loops)", "balance roundrobin"),
    ("static-rr", "balance static-rr"),
    ("leastconn", "balance leastconn"),
    ("first", "balance first"),
    ("source (map-based)", "balance source"),
    (
        "source (consistent)",
        "balance source\n    hash-type consistent",
    ),
    (
        "source (consistent, bf 150)",
        "balance source\n    hash-type consistent\n    hash-balance-factor 150",
    ),
    ("random(2)", "balance random"),
    (
        "random(2), bf 150",
        "balance random\n    hash-balance-factor 150",
    ),
];

/// A backend with `servers` servers of weights 1..=4 and `balance`.
fn backend(balance: &str, servers: usize) -> Backend {
    let mut text = format!(
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
         timeout server 30s\nfrontend fe\n    bind 127.0.0.1:9091\n    default_backend app\n\
         backend app\n    {balance}\n"
    );
    for i in 0..servers {
        let _ = writeln!(
            text,
            "    server s{i} 10.{}.{}.{}:80 weight {}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff,
            1 + i % 4
        );
    }
    let parsed = config::parse(
        &[Source {
            name: "lb-bench.cfg",
            text: text.as_bytes(),
        }],
        &mut |_| None,
    )
    .expect("bench config parses");
    parsed
        .config
        .backends
        .into_iter()
        .next()
        .expect("a backend")
}

/// Nanoseconds per pick: the best of a few timed rounds after a warm-up.
/// `shared`: `roundrobin` takes the loops' shared turns.
fn ns_per_pick(backend: &Backend, shared: bool) -> f64 {
    const PICKS: u32 = 200_000;
    let mut bench = PickBench::new(backend, 1);
    if shared {
        bench.share_turns(backend);
    }
    black_box(bench.run(PICKS));
    (0..5)
        .map(|_| {
            let start = Instant::now();
            black_box(bench.run(black_box(PICKS)));
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::ZERO)
        .as_nanos() as f64
        / f64::from(PICKS)
}

fn main() {
    println!("weir-core server selection, ns per pick (incl. load updates)");
    println!(
        "  {:<28} {:>10} {:>12} {:>7}",
        "algorithm", "10 servers", "1000 servers", "ratio"
    );
    let only = std::env::args().nth(1).unwrap_or_default();
    for &(name, balance) in ALGORITHMS.iter().filter(|(n, _)| n.contains(&*only)) {
        let shared = name.contains("loops");
        let small = ns_per_pick(&backend(balance, 10), shared);
        let large = ns_per_pick(&backend(balance, 1000), shared);
        println!(
            "  {name:<28} {small:>10.1} {large:>12.1} {:>6.1}x",
            large / small
        );
    }
}
