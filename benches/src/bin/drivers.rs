//! `weir` (mio) and `weir-smol` side by side, as processes on the
//! loopback: throughput of one long transfer, new connections per second,
//! memory per idle connection, and binary size.
//!
//! Run:
//! ```sh
//! cargo build --release -p weir-mio -p weir-smol
//! cargo run --release -p weir-bench --bin drivers
//! ```
//!
//! The bench process plays clients and an echo backend on threads; the
//! numbers include their cost, the same for both binaries.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes sent through weir for the throughput figure.
const TRANSFER: usize = 1 << 30;
/// How long connections are opened for the connections-per-second figure.
const CONNECT_FOR: Duration = Duration::from_secs(3);
/// Client threads opening connections.
const CONNECTORS: usize = 4;
/// Idle connections held open for the memory figure.
const IDLE: usize = 2000;

fn main() {
    let dir = release_dir();
    println!("weir drivers side by side (loopback, this machine)");
    println!(
        "  {:<10} {:>12} {:>12} {:>16} {:>12}",
        "binary", "MB/s", "conn/s", "KiB per idle", "size KiB"
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
        let size = std::fs::metadata(&bin).map_or(0, |m| m.len()) / 1024;
        let echo = echo_backend();
        let weir = Weir::start(&bin, echo);
        let mbps = throughput(weir.port);
        let cps = connections_per_second(weir.port);
        let idle = idle_kib(&weir);
        println!("  {name:<10} {mbps:>12.0} {cps:>12.0} {idle:>16.2} {size:>12}");
    }
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
    fn start(bin: &Path, backend: u16) -> Weir {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "defaults\n mode tcp\n timeout connect 5s\n timeout client 60s\n timeout server 60s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
             backend be\n server s1 127.0.0.1:{backend}\n"
        );
        let path = std::env::temp_dir().join(format!("weir-drivers-{}.cfg", std::process::id()));
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

    /// Resident memory of the weir process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
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

/// MB/s of one connection echoing [`TRANSFER`] bytes through weir.
fn throughput(port: u16) -> f64 {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut reader = stream.try_clone().expect("clone");
    let start = Instant::now();
    let sender = thread::spawn(move || {
        let mut writer = stream;
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..TRANSFER / chunk.len() {
            writer.write_all(&chunk)?;
        }
        writer.shutdown(Shutdown::Write)
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < TRANSFER {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let _ = sender.join();
    got as f64 / start.elapsed().as_secs_f64() / 1e6
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

/// KiB of weir's resident memory per idle, established connection.
fn idle_kib(weir: &Weir) -> f64 {
    // Let the connections of the previous figures close.
    thread::sleep(Duration::from_millis(500));
    let before = weir.rss_kib();
    let mut held = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", weir.port)) else {
            break;
        };
        // One round trip: the server side is connected, then all is idle.
        let mut byte = [1u8];
        if s.write_all(&byte).is_ok() && s.read_exact(&mut byte).is_ok() {
            held.push(s);
        }
    }
    let after = weir.rss_kib();
    after.saturating_sub(before) as f64 / held.len().max(1) as f64
}
