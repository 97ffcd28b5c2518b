//! Demo helpers for `examples/basic.cfg`, so trying weir needs no other tool.
//!
//! `cargo run -p weir-tests --bin demo -- backends` starts three servers on
//! 127.0.0.1:9101..9103 that answer with their name (Ctrl-C stops them);
//! `cargo run -p weir-tests --bin demo -- client [ADDR] [N]` opens N
//! connections to weir (default 127.0.0.1:9091, 6) and prints who answered.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use weir_tests::{Backend, Behavior, read_line};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("backends") => backends(),
        Some("client") => {
            let addr = args.get(1).map_or("127.0.0.1:9091", String::as_str);
            let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(6);
            client(addr, n);
        }
        _ => eprintln!("usage: demo backends | demo client [ADDR] [N]"),
    }
}

fn backends() {
    let servers: Vec<Backend> = (1..=3)
        .map(|i| {
            let listener = TcpListener::bind(("127.0.0.1", 9100 + i)).expect("port 910x is free");
            Backend::serve(&format!("app{i}"), Behavior::Name, listener)
        })
        .collect();
    for s in &servers {
        println!("{} listening on {}", s.name, s.addr);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn client(addr: &str, n: usize) {
    let addr: SocketAddr = addr.parse().expect("an address such as 127.0.0.1:9091");
    for i in 1..=n {
        match TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            read_line(&mut s)
        }) {
            Ok(name) if !name.is_empty() => println!("connection {i}: answered by {name}"),
            Ok(_) => println!("connection {i}: closed without an answer"),
            Err(e) => println!("connection {i}: {e}"),
        }
    }
}
