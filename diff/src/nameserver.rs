//! The name server the tool plays: a UDP responder on 127.0.0.1 answering
//! A and AAAA questions from a zone that steps change (aliases answered
//! with their CNAME chain), NXDOMAIN for names not in it, and recording
//! every query it got.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::dns::{Rcode, build_response, parse_query};
use crate::scenario::DnsSpec;

/// Longest CNAME chain answered (a loop ends there).
const MAX_CHAIN: usize = 8;

/// At most this many queries are recorded (a balancer querying in a loop
/// is shown by the count, not by a list without end).
const MAX_RECORDED: usize = 10_000;

/// The answers and the queries so far.
struct Zone {
    /// Lower-case name -> its addresses, in answer order.
    names: BTreeMap<String, Vec<IpAddr>>,
    /// Lower-case alias -> the name it stands for.
    aliases: BTreeMap<String, String>,
    /// TTL of every answer record.
    ttl: u32,
    /// Queries are recorded but not answered.
    silent: bool,
    /// Bumped by every change.
    generation: u64,
    /// Each query as (zone generation it was answered in, None when not
    /// answered; lower-case name or "" when malformed; description).
    queries: Vec<(Option<u64>, String, String)>,
    /// Queries beyond [`MAX_RECORDED`].
    dropped: usize,
}

/// A running responder.
pub struct NameServer {
    /// The UDP port on 127.0.0.1.
    pub port: u16,
    zone: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NameServer {
    /// Binds a kernel-chosen port and answers from `spec`.
    pub fn start(spec: &DnsSpec) -> io::Result<NameServer> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let port = socket.local_addr()?.port();
        let zone = Arc::new(Mutex::new(Zone {
            names: spec.names.clone(),
            aliases: spec.aliases.clone(),
            ttl: spec.ttl,
            silent: false,
            generation: 0,
            queries: Vec::new(),
            dropped: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (z, s) = (zone.clone(), stop.clone());
        let thread = thread::spawn(move || serve(&socket, &z, &s));
        Ok(NameServer {
            port,
            zone,
            stop,
            thread: Some(thread),
        })
    }

    /// Answers `name` with `addrs` from now on (none: an empty answer);
    /// an alias of that name is no more.
    pub fn set(&self, name: &str, addrs: &[IpAddr]) {
        let mut z = lock(&self.zone);
        z.aliases.remove(name);
        z.names.insert(name.to_owned(), addrs.to_vec());
        z.generation += 1;
    }

    /// Answers NXDOMAIN for `name` (a name or an alias) from now on.
    pub fn remove(&self, name: &str) {
        let mut z = lock(&self.zone);
        z.aliases.remove(name);
        z.names.remove(name);
        z.generation += 1;
    }

    /// Stops (`true`) or resumes answering.
    pub fn silent(&self, silent: bool) {
        let mut z = lock(&self.zone);
        z.silent = silent;
        z.generation += 1;
    }

    /// Whether a query for `name` got an answer since the last change.
    pub fn answered_since_change(&self, name: &str) -> bool {
        let z = lock(&self.zone);
        z.queries
            .iter()
            .any(|(g, n, _)| *g == Some(z.generation) && n == name)
    }

    /// How many queries for `name` arrived so far.
    pub fn queries_for(&self, name: &str) -> usize {
        lock(&self.zone)
            .queries
            .iter()
            .filter(|(_, n, _)| n == name)
            .count()
    }

    /// Stops answering and returns every query's description in arrival
    /// order, with a last line counting those not recorded.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let z = lock(&self.zone);
        let mut out: Vec<String> = z.queries.iter().map(|(_, _, d)| d.clone()).collect();
        if z.dropped > 0 {
            out.push(format!("({} more queries not recorded)", z.dropped));
        }
        out
    }
}

impl Zone {
    /// The names `name` leads to through aliases, in order (at most
    /// [`MAX_CHAIN`]).
    fn chain(&self, name: &str) -> Vec<String> {
        let mut chain: Vec<String> = Vec::new();
        let mut at = name;
        while let Some(target) = self.aliases.get(at) {
            if chain.len() == MAX_CHAIN {
                break;
            }
            chain.push(target.clone());
            at = target;
        }
        chain
    }
}

fn lock(m: &Mutex<Zone>) -> MutexGuard<'_, Zone> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Answers until `stop`; each datagram is read whole (a larger one than
/// the buffer is cut and then refused as malformed).
fn serve(socket: &UdpSocket, zone: &Mutex<Zone>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let reply = {
            let mut z = lock(zone);
            let (record, reply) = match parse_query(&buf[..n]) {
                Err(e) => ((None, String::new(), format!("malformed: {e}")), None),
                Ok(q) if z.silent => ((None, q.name.clone(), q.describe()), None),
                Ok(q) => {
                    let chain = z.chain(&q.name);
                    let last = chain.last().unwrap_or(&q.name);
                    let reply = match z.names.get(last) {
                        Some(addrs) => build_response(&q, Rcode::NoError, &chain, addrs, z.ttl),
                        None => build_response(&q, Rcode::NxDomain, &chain, &[], z.ttl),
                    };
                    (
                        (Some(z.generation), q.name.clone(), q.describe()),
                        Some(reply),
                    )
                }
            };
            if z.queries.len() < MAX_RECORDED {
                z.queries.push(record);
            } else {
                z.dropped += 1;
            }
            reply
        };
        if let Some(reply) = reply {
            let _ = socket.send_to(&reply, peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(port: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut q = vec![0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        s.send_to(&q, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 1024];
        s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    }

    #[test]
    fn answers_follow_the_changes_and_every_query_is_recorded() {
        let spec = DnsSpec {
            names: BTreeMap::from([("gw.test".to_owned(), vec!["127.0.0.11".parse().unwrap()])]),
            aliases: BTreeMap::from([("www.test".to_owned(), "gw.test".to_owned())]),
            ttl: 60,
        };
        let ns = NameServer::start(&spec).unwrap();
        let got = ask(ns.port, "gw.test", 1).unwrap();
        assert_eq!((got[3] & 0x0f, got[7]), (0, 1));
        assert_eq!(&got[got.len() - 4..], &[127, 0, 0, 11]);
        assert!(ns.answered_since_change("gw.test"));
        // An alias: its CNAME, then the target's address.
        let got = ask(ns.port, "www.test", 1).unwrap();
        assert_eq!((got[3] & 0x0f, got[7]), (0, 2));
        assert_eq!(&got[got.len() - 4..], &[127, 0, 0, 11]);
        ns.set("gw.test", &["127.0.0.12".parse().unwrap()]);
        assert!(!ns.answered_since_change("gw.test"));
        let got = ask(ns.port, "GW.test", 1).unwrap();
        assert_eq!(&got[got.len() - 4..], &[127, 0, 0, 12]);
        ns.remove("gw.test");
        assert_eq!(ask(ns.port, "gw.test", 28).unwrap()[3] & 0x0f, 3);
        assert_eq!(ask(ns.port, "other.test", 1).unwrap()[3] & 0x0f, 3);
        ns.silent(true);
        assert_eq!(ask(ns.port, "gw.test", 1), None);
        // Recorded when it arrived, before the client gave up.
        assert_eq!(ns.queries_for("gw.test"), 4);
        assert_eq!(
            ns.finish(),
            [
                "gw.test A rd",
                "www.test A rd",
                "gw.test A rd",
                "gw.test AAAA rd",
                "other.test A rd",
                "gw.test A rd"
            ]
        );
    }

    #[test]
    fn a_malformed_query_is_recorded_and_not_answered() {
        let ns = NameServer::start(&DnsSpec {
            names: BTreeMap::new(),
            aliases: BTreeMap::new(),
            ttl: 1,
        })
        .unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.send_to(b"\x00\x01", ("127.0.0.1", ns.port)).unwrap();
        let mut buf = [0u8; 64];
        assert!(s.recv(&mut buf).is_err());
        let queries = ns.finish();
        assert_eq!(queries.len(), 1);
        assert!(queries[0].starts_with("malformed: 2 bytes"), "{queries:?}");
    }
}
