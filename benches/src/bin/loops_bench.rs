//! `nbthread 1` against `nbthread 2` (or the counts given), for `weir`
//! and `weir-smol`, as processes on the loopback: bulk throughput of 4
//! echoing streams at once, and new connections per second (each sends a
//! byte and reads it back), medians of 3 runs.
//!
//! Run:
//! ```sh
//! cargo build --release -p weir-mio -p weir-smol
//! cargo run --release -p weir-bench --bin loops-bench [-- 1 2 4]
//! ```
//!
//! The bench process plays the clients and the echo backend on threads:
//! on a small machine they compete with weir's loops for the cores, so
//! the figures say how weir scales there, not what it could do alone.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes each bulk stream echoes.
const PER_STREAM: usize = 256 << 20;
/// Bulk streams at once.
const STREAMS: usize = 4;
/// How long connections are opened for the connections-per-second figure.
const CONNECT_FOR: Duration = Duration::from_secs(3);
/// Client threads opening connections.
const CONNECTORS: usize = 4;
/// Runs per figure (the median is shown).
const RUNS: usize = 3;

fn main() {
    let counts: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1, 2]
    } else {
        counts
    };
    let dir = release_dir();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!("weir event loops (loopback, {cpus} CPUs, medians of {RUNS})");
    println!(
        "  {:<10} {:>8} {:>22} {:>12}",
        "binary", "nbthread", "bulk x4 Gbit/s", "conn/s"
    );
    for name in ["weir", "weir-smol"] {
        let bin = dir.join(name);
        if !bin.exists() {
            eprintln!(
                "{} not built: cargo build --release -p weir-mio -p weir-smol",
                bin.display()
            );
            std::process::exit(1);
        }
        for &n in &counts {
            let echo = echo_backend();
            let weir = Weir::start(&bin, echo, n);
            let gbps = median((0..RUNS).map(|_| bulk(weir.port)).collect());
            let cps = median(
                (0..RUNS)
                    .map(|_| connections_per_second(weir.port))
                    .collect(),
            );
            println!("  {name:<10} {n:>8} {gbps:>22.2} {cps:>12.0}");
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `target/release`, next to this bench's own binary.
fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent().expect("target dir").to_path_buf()
}

/// A weir process in front of the echo backend, killed when dropped.
struct Weir {
    child: Child,
    port: u16,
}

impl Weir {
    fn start(bin: &Path, backend: u16, nbthread: u32) -> Weir {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "global\n nbthread {nbthread}\n\
             defaults\n mode tcp\n timeout connect 5s\n timeout client 60s\n timeout server 60s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
             backend be\n server s1 127.0.0.1:{backend}\n"
        );
        let path = std::env::temp_dir().join(format!("weir-loops-{}.cfg", std::process::id()));
        std::fs::write(&path, config).expect("config written");
        let child = Command::new(bin)
            .args(["-f", path.to_str().expect("utf-8 path")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weir starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "weir never listened");
            thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(path);
        Weir { child, port }
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An echo server: a thread per connection.
fn echo_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("backend binds");
    let port = listener.local_addr().expect("backend port").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = stream.try_clone()?;
                let mut writer = stream;
                io::copy(&mut reader, &mut writer)?;
                writer.shutdown(Shutdown::Write)
            });
        }
    });
    port
}

/// Gbit/s through weir of [`STREAMS`] connections at once, each echoing
/// [`PER_STREAM`] bytes (counted once, as received back).
fn bulk(port: u16) -> f64 {
    let start = Instant::now();
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            thread::spawn(move || {
                let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let mut reader = stream.try_clone().expect("clone");
                let sender = thread::spawn(move || {
                    let mut writer = stream;
                    let chunk = vec![7u8; 64 * 1024];
                    for _ in 0..PER_STREAM / chunk.len() {
                        writer.write_all(&chunk)?;
                    }
                    writer.shutdown(Shutdown::Write)
                });
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0;
                while got < PER_STREAM {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                let _ = sender.join();
                got
            })
        })
        .collect();
    let got: usize = streams.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    got as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9
}

/// New connections per second, each sending a byte and reading it back.
fn connections_per_second(port: u16) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..CONNECTORS)
        .map(|_| {
            thread::spawn(move || {
                let mut done = 0u64;
                while start.elapsed() < CONNECT_FOR {
                    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    let mut byte = [1u8];
                    if s.write_all(&byte).is_ok() && s.read_exact(&mut byte).is_ok() {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let done: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    done as f64 / start.elapsed().as_secs_f64()
}
