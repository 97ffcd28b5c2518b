//! A small load generator for profiling weir's byte path (or any TCP
//! proxy): it plays the backend and the clients, on the loopback; the
//! proxy under test runs on its own, so that `perf` and `strace` can be
//! pointed at its process.
//!
//! ```sh
//! # a proxy listening on :8000 with `server s1 127.0.0.1:9000`, then:
//! cargo run --release -p weir-bench --bin bytepath -- bulk 9000 8000 4 5
//! cargo run --release -p weir-bench --bin bytepath -- conn 9000 8000 5 4
//! cargo run --release -p weir-bench --bin bytepath -- keep 9000 8000 5 4
//! ```
//!
//! - `bulk BACKEND FRONTEND GIB RUNS`: one connection sends GIB GiB to a
//!   backend that discards them; prints Gbit/s per run and the median.
//! - `conn BACKEND FRONTEND SECS CLIENTS`: CLIENTS threads open a new
//!   connection per request (64 bytes up, 64 bytes back, the backend
//!   closes); prints requests per second.
//! - `keep BACKEND FRONTEND SECS CLIENTS`: CLIENTS threads each keep one
//!   connection and send requests on it (64 bytes up, 64 bytes back);
//!   prints requests per second.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Backend threads answering requests in `conn` mode.
const BACKEND_THREADS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("bulk") => bulk(
            num(1, 9000) as u16,
            num(2, 8000) as u16,
            num(3, 4),
            num(4, 5),
        ),
        Some("conn") => conn(
            num(1, 9000) as u16,
            num(2, 8000) as u16,
            num(3, 5),
            num(4, 4),
        ),
        Some("keep") => keep(
            num(1, 9000) as u16,
            num(2, 8000) as u16,
            num(3, 5),
            num(4, 4),
        ),
        _ => {
            eprintln!(
                "usage: bytepath bulk BACKEND FRONTEND GIB RUNS | conn|keep BACKEND FRONTEND SECS CLIENTS"
            );
            std::process::exit(2);
        }
    }
}

/// One stream of `gib` GiB through the proxy, `runs` times.
fn bulk(backend: u16, frontend: u16, gib: u64, runs: u64) {
    let listener = TcpListener::bind(("127.0.0.1", backend)).expect("backend binds");
    let total = gib << 30;
    let mut results = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let client = thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", frontend)).expect("connect");
            let chunk = vec![7u8; 256 * 1024];
            let mut left = total;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                s.write_all(&chunk[..n]).expect("write");
                left -= n as u64;
            }
            let _ = s.shutdown(Shutdown::Write);
            // Wait for the proxy to pass the backend's FIN back.
            let mut sink = [0u8; 64];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        });
        let (mut server, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        loop {
            match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        let elapsed = start.elapsed();
        drop(server);
        let _ = client.join();
        assert_eq!(got, total, "bytes lost");
        let gbps = got as f64 * 8.0 / elapsed.as_secs_f64() / 1e9;
        println!("bulk: {gbps:.2} Gbit/s");
        results.push(gbps);
    }
    println!("bulk median: {:.2} Gbit/s", median(&mut results));
}

/// New connection per request for `secs` seconds from `clients` threads.
fn conn(backend: u16, frontend: u16, secs: u64, clients: u64) {
    let listener = Arc::new(TcpListener::bind(("127.0.0.1", backend)).expect("backend binds"));
    for _ in 0..BACKEND_THREADS {
        let listener = listener.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((mut s, _)) = listener.accept() {
                if s.read_exact(&mut buf).is_ok() {
                    let _ = s.write_all(&buf);
                }
            }
        });
    }
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let run_for = Duration::from_secs(secs);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (done, failed) = (done.clone(), failed.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while start.elapsed() < run_for {
                    let ok = TcpStream::connect(("127.0.0.1", frontend)).and_then(|mut s| {
                        s.write_all(&[1u8; 64])?;
                        s.read_exact(&mut buf)?;
                        // The backend closed: wait for the FIN.
                        while s.read(&mut buf)? > 0 {}
                        Ok(())
                    });
                    let counter = if ok.is_ok() { &done } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (ok, bad) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "conn: {:.0} req/s ({ok} ok, {bad} failed)",
        ok as f64 / elapsed
    );
}

/// Requests on kept connections for `secs` seconds from `clients`
/// threads; the backend echoes each connection until it closes.
fn keep(backend: u16, frontend: u16, secs: u64, clients: u64) {
    let listener = TcpListener::bind(("127.0.0.1", backend)).expect("backend binds");
    thread::spawn(move || {
        while let Ok((mut s, _)) = listener.accept() {
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while s.read_exact(&mut buf).is_ok() && s.write_all(&buf).is_ok() {}
            });
        }
    });
    let done = Arc::new(AtomicU64::new(0));
    let run_for = Duration::from_secs(secs);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let done = done.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", frontend)).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                let mut buf = [0u8; 64];
                while start.elapsed() < run_for {
                    s.write_all(&[1u8; 64]).expect("write");
                    s.read_exact(&mut buf).expect("read");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!("keep: {:.0} req/s ({ok} ok)", ok as f64 / elapsed);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
