//! A server given by host name follows DNS at run time (`resolvers`): a
//! tiny name server on loopback UDP answers `gw.test` with one address,
//! then another; weir's traffic follows, and it logs the change as
//! HAProxy 2.6 does.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::Duration;

use super::WEIR;
use super::kit::{Running, Scratch, free_port, wait_until};

/// A server on `ip:port` that answers every connection with its name.
fn named_server(name: &'static str, ip: Ipv4Addr, port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind((ip, port))?;
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(name.as_bytes());
        }
    });
    Ok(())
}

/// The name of the server one connection through `port` reached (empty
/// when weir closed it without a server).
fn reached(port: u16) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut name = String::new();
    let _ = stream.read_to_string(&mut name);
    name
}

/// A name server answering A queries for `gw.test` with 127.0.0.`last`
/// (the current value), AAAA queries with no record, other names with
/// NXDOMAIN. Stops when `stop` is set.
fn name_server(last: Arc<AtomicU8>, stop: Arc<AtomicBool>) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if let Some(reply) = answer(&buf[..n], last.load(Ordering::Relaxed)) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    port
}

/// The reply to one query, built by hand: the question echoed, one A
/// record (name compressed to the question's) when it asks A for
/// `gw.test`.
fn answer(query: &[u8], last: u8) -> Option<Vec<u8>> {
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let qname = query.get(12..end)?;
    let question = query.get(12..end + 5)?;
    let qtype = u16::from_be_bytes([query[end + 1], query[end + 2]]);
    let known = qname.eq_ignore_ascii_case(b"\x02gw\x04test");
    let records = u16::from(known && qtype == 1);
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    let rcode = if known { 0 } else { 3 };
    out.extend_from_slice(&(0x8180u16 | rcode).to_be_bytes());
    for count in [1, records, 0, 0] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(question);
    if records == 1 {
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 127, 0, 0, last]);
    }
    Some(out)
}

#[test]
fn a_server_given_by_host_name_follows_dns_changes() {
    // Two servers on one port, at 127.0.0.2 and 127.0.0.3.
    let mut server_port = 0;
    for _ in 0..20 {
        let port = free_port();
        if named_server("first", Ipv4Addr::new(127, 0, 0, 2), port).is_ok()
            && named_server("second", Ipv4Addr::new(127, 0, 0, 3), port).is_ok()
        {
            server_port = port;
            break;
        }
    }
    assert_ne!(server_port, 0, "two servers bound");
    let last = Arc::new(AtomicU8::new(2));
    let stop = Arc::new(AtomicBool::new(false));
    let dns = name_server(last.clone(), stop.clone());
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let file = scratch.file(
        "w.cfg",
        &format!(
            "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             log stdout format raw local0\n\
             resolvers dns\n nameserver ns1 127.0.0.1:{dns}\n timeout resolve 200ms\n\
             timeout retry 200ms\n hold valid 1s\n\
             defaults\n mode tcp\n log global\n timeout connect 2s\n timeout client 10s\n\
             timeout server 10s\n\
             listen app\n bind 127.0.0.1:{port}\n\
             server gw gw.test:{server_port} resolvers dns resolve-prefer ipv4 init-addr none\n"
        ),
    );
    let out = std::fs::File::create(scratch.path("out.log")).unwrap();
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", file.to_str().unwrap()])
        .stdout(out)
        .stderr(Stdio::null());
    let _weir = Running::spawn(command, admin);
    assert!(
        wait_until(|| reached(port) == "first"),
        "traffic reaches 127.0.0.2 once gw.test resolves"
    );
    last.store(3, Ordering::Relaxed);
    assert!(
        wait_until(|| reached(port) == "second"),
        "traffic follows gw.test to 127.0.0.3"
    );
    stop.store(true, Ordering::Relaxed);
    let log = || std::fs::read_to_string(scratch.path("out.log")).unwrap_or_default();
    assert!(
        wait_until(
            || log().contains("app/gw changed its IP from 127.0.0.2 to 127.0.0.3 by dns/ns1.")
        ),
        "{}",
        log()
    );
    assert!(log().contains("app/gw changed its IP from (none) to 127.0.0.2 by dns/ns1."));
    assert!(log().contains("Server app/gw ('gw.test') is UP/READY (resolves again)."));
}
