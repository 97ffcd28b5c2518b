//! Traffic as HAProxy 2.6 sends it, over real sockets: the order in which
//! `roundrobin` and `static-rr` pick servers (captured from haproxy), from
//! the first connection after a start and again after a reload. The order
//! is each event loop's (HAProxy's threads share one): one loop here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use super::kit::{Running, Scratch, cli, free_port};

/// A server that answers every connection with its name and closes.
fn named_server(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(name.as_bytes());
        }
    });
    port
}

/// The name of the server one connection through `port` reached.
fn reached(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("weir accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut name = String::new();
    stream.read_to_string(&mut name).expect("an answer");
    name
}

/// `n` connections one after the other through `port`.
fn sequence(port: u16, n: usize) -> Vec<String> {
    (0..n).map(|_| reached(port)).collect()
}

#[test]
fn roundrobin_and_static_rr_pick_in_haproxy_order_from_the_start_and_after_a_reload() {
    let servers = [
        ("s1", named_server("s1"), 1),
        ("s2", named_server("s2"), 2),
        ("s3", named_server("s3"), 3),
    ];
    let (rr, st, admin) = (free_port(), free_port(), free_port());
    let mut text = format!(
        "global\n nbthread 1\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
         defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n"
    );
    for (name, port, balance) in [("rr", rr, "roundrobin"), ("st", st, "static-rr")] {
        text.push_str(&format!(
            "listen {name}\n bind 127.0.0.1:{port}\n balance {balance}\n"
        ));
        for (server, server_port, weight) in servers {
            text.push_str(&format!(
                " server {server} 127.0.0.1:{server_port} weight {weight}\n"
            ));
        }
    }
    let scratch = Scratch::new();
    let file = scratch.file("w.cfg", &text);
    // Ready once the stats socket accepts: no probe through the proxies.
    let _weir = Running::quiet(&file, admin);
    // haproxy 2.6: `s3 s2 s3 s1 s3 s2` and `s1 s3 s2 s3 s2 s3`.
    let want_rr = ["s3", "s2", "s3", "s1", "s3", "s2"];
    let want_st = ["s1", "s3", "s2", "s3", "s2", "s3"];
    assert_eq!(sequence(rr, 6), want_rr);
    assert_eq!(sequence(st, 6), want_st);
    // Half a cycle, then a reload: the cycle starts again from the top.
    assert_eq!(sequence(rr, 3), want_rr[..3]);
    assert_eq!(sequence(st, 2), want_st[..2]);
    let answer = cli(admin, "reload");
    assert!(answer.starts_with("Success=1\n"), "{answer}");
    assert_eq!(sequence(rr, 6), want_rr);
    assert_eq!(sequence(st, 6), want_st);
}
