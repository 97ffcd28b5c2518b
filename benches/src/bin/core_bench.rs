//! Micro-benchmarks of weir-core with no sockets: what the balancer itself
//! costs per session, per byte and per idle connection.
//!
//! Run: `cargo run --release -p weir-bench --bin core-bench`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use weir_core::config::{self, Source};
use weir_core::{Action, Balancer, ConnId, Event, ListenerId};

/// Counts live heap bytes, to measure memory per idle session.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONFIG: &str = "
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:9091
    default_backend app
backend app
    server s1 127.0.0.1:8001
    server s2 127.0.0.1:8002
    server s3 127.0.0.1:8003
";

fn balancer(now: Instant) -> Balancer {
    let parsed = config::parse(
        &[Source {
            name: "bench.cfg",
            text: CONFIG.as_bytes(),
        }],
        &mut |_| None,
    )
    .expect("bench config parses");
    Balancer::new(parsed.config, 1, now, SystemTime::now(), 1)
}

fn drain(lb: &mut Balancer) -> Option<ConnId> {
    let mut server = None;
    while let Some(action) = lb.poll_action() {
        if let Action::Connect { conn, .. } = action {
            server = Some(conn);
        }
    }
    server
}

fn open(lb: &mut Balancer, now: Instant, port: u16) -> (ConnId, ConnId) {
    let peer = SocketAddr::from(([10, 0, 0, 1], port));
    let local = SocketAddr::from(([127, 0, 0, 1], 9091));
    let client = lb
        .accept(now, ListenerId(0), peer, local)
        .expect("accepted");
    let server = drain(lb).expect("connect");
    lb.handle_event(
        now,
        Event::Connected {
            conn: server,
            result: Ok(()),
        },
    );
    drain(lb);
    (client, server)
}

/// Sessions opened, established and closed per second.
fn sessions_per_second() -> f64 {
    let now = Instant::now();
    let mut lb = balancer(now);
    drain(&mut lb);
    let n = 200_000u32;
    let start = Instant::now();
    for i in 0..n {
        let (client, server) = open(&mut lb, now, (i % 60000) as u16 + 1);
        lb.handle_event(now, Event::ReadClosed { conn: client });
        lb.handle_event(now, Event::ReadClosed { conn: server });
        drain(&mut lb);
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// Core's cost of one 16 KiB read-then-write cycle through a session, in
/// nanoseconds (the bytes themselves are not copied: the driver reads into
/// and writes from core's buffer).
fn splice_cycle_ns() -> f64 {
    let now = Instant::now();
    let mut lb = balancer(now);
    drain(&mut lb);
    let (client, server) = open(&mut lb, now, 1);
    let cycles = 2_000_000u32;
    let total = u64::from(cycles) * 16 * 1024;
    let mut moved = 0u64;
    let start = Instant::now();
    while moved < total {
        let Some(buf) = lb.recv_buf(client) else {
            break;
        };
        let n = buf.len();
        black_box(&mut buf[..n]);
        lb.received(now, client, n);
        while let Some(out) = lb.send_buf(server) {
            let n = black_box(out).len();
            lb.sent(now, server, n);
            moved += n as u64;
        }
        drain(&mut lb);
    }
    assert_eq!(moved, total);
    start.elapsed().as_nanos() as f64 / f64::from(cycles)
}

/// Heap bytes per established, idle session.
fn idle_session_bytes() -> f64 {
    let now = Instant::now();
    let mut lb = balancer(now);
    drain(&mut lb);
    // Warm up so slab and queue growth is amortised as in a running process.
    let n = 50_000u32;
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..n {
        open(&mut lb, now, (i % 60000) as u16 + 1);
    }
    lb.handle_timeout(now + Duration::from_millis(1));
    drain(&mut lb);
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(lb.buffers_in_use(), 0, "idle sessions hold no buffer");
    (after - before) as f64 / f64::from(n)
}

fn main() {
    println!("weir-core micro-benchmarks (no sockets)");
    println!(
        "  sessions opened+closed : {:>10.0} /s",
        sessions_per_second()
    );
    println!("  16 KiB splice cycle    : {:>10.1} ns", splice_cycle_ns());
    println!(
        "  heap per idle session  : {:>10.0} bytes",
        idle_session_bytes()
    );
}
