//! Demo helpers for `examples/`, so trying weir needs no other tool.
//!
//! `cargo run -p weir-tests --bin demo -- backends` starts three servers on
//! 127.0.0.1:9101..9103 that answer with their name; typing 1, 2 or 3 and
//! Enter stops or restarts that one, Ctrl-C stops all three.
//! `cargo run -p weir-tests --bin demo -- client [ADDR] [N]` opens N
//! connections to weir (default 127.0.0.1:9091, 6) and prints who answered.
//! `cargo run -p weir-tests --bin demo -- pki DIR` writes a throwaway CA to
//! DIR/ca.pem, the file the `seed-*` examples name.

use std::io::BufRead;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use weir_tests::gateway::Pki;
use weir_tests::{Backend, Behavior, read_line};

const USAGE: &str = "\
Usage: demo backends [PORT]      three servers, app1..app3, on 127.0.0.1:PORT..PORT+2
                                 (default 9101; 0: free ports); type 1, 2 or 3 and
                                 Enter to stop or restart one, Ctrl-C stops all
       demo client [ADDR] [N]    N connections to ADDR (default 127.0.0.1:9091, 6),
                                 printing which server answered each
       demo pki DIR              write a throwaway test CA to DIR/ca.pem (never
                                 overwrites), for examples/seed-*.cfg
       demo -h | --help          print this help";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Backends { first_port: u16 },
    Client { addr: SocketAddr, n: usize },
    Pki { dir: String },
    Help,
}

/// Parses the arguments after the program name.
fn parse_args(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["backends"] => Ok(Command::Backends { first_port: 9101 }),
        ["backends", port] => match port.parse() {
            Ok(first_port @ 0..=65533) => Ok(Command::Backends { first_port }),
            _ => Err(format!("'{port}' is not a port (0..65533)")),
        },
        ["client", rest @ ..] if rest.len() <= 2 => {
            let addr = rest.first().unwrap_or(&"127.0.0.1:9091");
            let n = rest.get(1).unwrap_or(&"6");
            Ok(Command::Client {
                addr: addr
                    .parse()
                    .map_err(|_| format!("'{addr}' is not an address such as 127.0.0.1:9091"))?,
                n: n.parse()
                    .map_err(|_| format!("'{n}' is not a number of connections"))?,
            })
        }
        ["pki", dir] => Ok(Command::Pki {
            dir: (*dir).to_owned(),
        }),
        ["-h" | "--help", ..] => Ok(Command::Help),
        [] => Err("missing command".into()),
        _ => Err(format!("unknown arguments '{}'", args.join(" "))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_args(&args) {
        Ok(Command::Backends { first_port }) => backends(first_port),
        Ok(Command::Client { addr, n }) => {
            client(addr, n);
            Ok(())
        }
        Ok(Command::Pki { dir }) => pki(Path::new(&dir)),
        Ok(Command::Help) => {
            println!("{USAGE}");
            Ok(())
        }
        Err(message) => {
            eprintln!("demo: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Serves app1..app3 until killed, toggling one per line read on stdin.
fn backends(first_port: u16) -> Result<(), String> {
    let mut servers = Vec::new();
    for i in 1..=3u16 {
        let port = if first_port == 0 {
            0
        } else {
            first_port + i - 1
        };
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        servers.push((
            Backend::serve(&format!("app{i}"), Behavior::Name, listener),
            true,
        ));
    }
    for (s, _) in &servers {
        println!("{} listening on {}", s.name, s.addr);
    }
    println!("type 1, 2 or 3 and Enter to stop or restart app1, app2 or app3; Ctrl-C stops all");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some((server, up)) = (match line.trim() {
            "1" => servers.get_mut(0),
            "2" => servers.get_mut(1),
            "3" => servers.get_mut(2),
            _ => None,
        }) else {
            println!("type 1, 2 or 3 and Enter");
            continue;
        };
        if *up {
            server.kill();
            println!("{} stopped", server.name);
        } else {
            server.restart();
            println!("{} listening on {} again", server.name, server.addr);
        }
        *up = !*up;
    }
    // No more input (stdin closed): serve until killed.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Opens `n` connections one after the other, printing who answered (or
/// how the connection ended, and after how long).
fn client(addr: SocketAddr, n: usize) {
    for i in 1..=n {
        let start = Instant::now();
        let answer = TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            read_line(&mut s)
        });
        let after = start.elapsed().as_secs_f64();
        match answer {
            Ok(name) if !name.is_empty() => println!("connection {i}: answered by {name}"),
            Ok(_) => println!("connection {i}: closed without an answer after {after:.1} s"),
            Err(e) => println!("connection {i}: {e} after {after:.1} s"),
        }
    }
}

/// Writes a new CA certificate to `dir/ca.pem`, creating `dir`.
fn pki(dir: &Path) -> Result<(), String> {
    let path = dir.join("ca.pem");
    let pki = Pki::new();
    let pem = std::fs::read(&pki.ca_file).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &pem))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {} (a test CA; its key is not kept)", path.display());
    Ok(())
}
