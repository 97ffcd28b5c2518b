//! Resolutions against a scripted name server: queries, retries, the
//! A/AAAA fallback, answers matched by id and name, timeouts.

use std::time::Duration;

use super::*;
use crate::config::Origin;
use crate::config::dns::Nameserver;

/// A name server's answer to `query`: the addresses of the family the
/// query asks for (all of them as answer records), with `rcode`.
pub(crate) fn answer(query: &[u8], addrs: &[IpAddr], rcode: u8) -> Vec<u8> {
    let question = &query[12..query.len() - 11];
    let qtype = u16::from_be_bytes([question[question.len() - 4], question[question.len() - 3]]);
    let wanted: Vec<&IpAddr> = (addrs.iter())
        .filter(|a| a.is_ipv4() == (qtype == 1))
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&(0x8180u16 | u16::from(rcode)).to_be_bytes());
    for n in [1, wanted.len() as u16, 0, 0] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(question);
    for addr in wanted {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
        match addr {
            IpAddr::V4(v4) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&v6.octets());
            }
        }
    }
    out
}

/// The query type of a query (1: A, 28: AAAA).
pub(crate) fn qtype(query: &[u8]) -> u16 {
    let q = &query[..query.len() - 11];
    u16::from_be_bytes([q[q.len() - 4], q[q.len() - 3]])
}

fn ns(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn section(nameservers: &[u16]) -> Resolver {
    let mut config = Resolvers::new("dns", Origin::default());
    for (i, port) in nameservers.iter().enumerate() {
        config.nameservers.push(Nameserver {
            name: format!("ns{}", i + 1),
            addr: ns(*port),
        });
    }
    Resolver::new(config)
}

fn who() -> Requester {
    use crate::arena::Key;
    (
        <crate::id::BackendId as Key>::new(0, 0),
        <crate::id::ServerId as Key>::new(0, 0),
    )
}

fn sent(out: &mut VecDeque<Action>) -> Vec<(SocketAddr, Vec<u8>)> {
    out.drain(..)
        .filter_map(|a| match a {
            Action::SendDatagram { to, data } => Some((to, data)),
            _ => None,
        })
        .collect()
}

/// One resolution round of `r`'s first resolution at `now`: its query
/// goes to the name server at port 5301, which answers `addrs`; returns
/// the resolution's addresses after the answer.
fn round(r: &mut Resolver, rng: &mut Rng, now: Instant, addrs: &[IpAddr]) -> Vec<IpAddr> {
    let mut out = VecDeque::new();
    r.poll(now, rng, &mut out);
    let q = sent(&mut out).remove(0).1;
    r.on_datagram(now, ns(5301), &answer(&q, addrs, 0), &mut out);
    (r.resolutions[0].items.iter()).map(|i| i.addr).collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_resolution_queries_every_nameserver_and_takes_a_valid_answer() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301, 5302]);
    let mut rng = Rng::new(7);
    let mut out = VecDeque::new();
    r.attach(t0, "gw.test", Family::V4, who()).unwrap();
    assert_eq!(r.next_deadline(), Some(t0));
    assert!(r.poll(t0, &mut rng, &mut out).is_empty());
    let queries = sent(&mut out);
    assert_eq!(queries.len(), 2);
    assert_eq!((queries[0].0, queries[1].0), (ns(5301), ns(5302)));
    assert_eq!(qtype(&queries[0].1), 1);
    let reply = answer(&queries[0].1, &[ip("10.0.0.1"), ip("10.0.0.2")], 0);
    // Not from a nameserver of the section, or a stale id: ignored.
    assert_eq!(r.on_datagram(t0, ns(9), &reply, &mut out), None);
    let mut stale = reply.clone();
    stale[0] ^= 0xff;
    assert_eq!(r.on_datagram(t0, ns(5301), &stale, &mut out), None);
    let outcome = r.on_datagram(t0, ns(5302), &reply, &mut out);
    assert_eq!(
        outcome,
        Some(Outcome::Valid {
            resolution: 0,
            nameserver: 1
        })
    );
    let items: Vec<IpAddr> = r.resolutions[0].items.iter().map(|i| i.addr).collect();
    assert_eq!(items, [ip("10.0.0.1"), ip("10.0.0.2")]);
    // The second nameserver's answer to the same query comes too late.
    assert_eq!(r.on_datagram(t0, ns(5301), &reply, &mut out), None);
    // The next resolution after `timeout resolve`, with a new id.
    assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(1)));
    let t1 = t0 + Duration::from_secs(1);
    r.poll(t1, &mut rng, &mut out);
    let again = sent(&mut out);
    assert_eq!(again.len(), 2);
    assert_ne!(again[0].1[..2], queries[0].1[..2]);
}

#[test]
fn an_answer_for_another_name_is_invalid() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301]);
    let mut rng = Rng::new(1);
    let mut out = VecDeque::new();
    r.attach(t0, "gw.test", Family::V4, who()).unwrap();
    r.poll(t0, &mut rng, &mut out);
    let query = sent(&mut out).remove(0).1;
    let mut other = section(&[5301]);
    other.attach(t0, "other.test", Family::V4, who()).unwrap();
    other.resolutions[0].query_id = u16::from_be_bytes([query[0], query[1]]);
    other.resolutions[0].running = true;
    other.send(0, t0, &mut out);
    let wrong = answer(&sent(&mut out).remove(0).1, &[ip("10.0.0.9")], 0);
    // Invalid: the preferred family's query failed, the other is asked.
    assert_eq!(r.on_datagram(t0, ns(5301), &wrong, &mut out), None);
    assert_eq!(r.resolutions[0].status, Status::Invalid);
    let fallback = sent(&mut out);
    assert_eq!(qtype(&fallback[0].1), 28);
}

#[test]
fn ipv6_first_falls_back_to_a_records() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301]);
    let mut rng = Rng::new(3);
    let mut out = VecDeque::new();
    r.attach(t0, "gw.test", Family::V6, who()).unwrap();
    r.poll(t0, &mut rng, &mut out);
    let aaaa = sent(&mut out).remove(0).1;
    assert_eq!(qtype(&aaaa), 28);
    // No AAAA record: the A query follows at once, same id.
    let empty = answer(&aaaa, &[ip("10.0.0.1")], 0);
    assert_eq!(r.on_datagram(t0, ns(5301), &empty, &mut out), None);
    let a = sent(&mut out).remove(0).1;
    assert_eq!(qtype(&a), 1);
    assert_eq!(a[..2], aaaa[..2]);
    let reply = answer(&a, &[ip("10.0.0.1")], 0);
    assert!(matches!(
        r.on_datagram(t0, ns(5301), &reply, &mut out),
        Some(Outcome::Valid { .. })
    ));
}

#[test]
fn nx_after_the_fallback_and_the_retries_fails_the_resolution() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301]);
    let mut rng = Rng::new(5);
    let mut out = VecDeque::new();
    r.attach(t0, "gw.test", Family::V4, who()).unwrap();
    let mut now = t0;
    let mut failed = None;
    // resolve_retries 3: three rounds of A then AAAA, each 1 s apart.
    for round in 0..3 {
        r.poll(now, &mut rng, &mut out);
        let a = sent(&mut out).remove(0).1;
        assert_eq!(qtype(&a), 1, "round {round}");
        assert_eq!(
            r.on_datagram(now, ns(5301), &answer(&a, &[], 3), &mut out),
            None
        );
        let aaaa = sent(&mut out).remove(0).1;
        assert_eq!(qtype(&aaaa), 28);
        failed = r.on_datagram(now, ns(5301), &answer(&aaaa, &[], 3), &mut out);
        if failed.is_some() {
            assert_eq!(round, 2);
            break;
        }
        now += Duration::from_secs(1);
    }
    assert_eq!(failed, Some(Outcome::Failed { resolution: 0 }));
    assert_eq!(r.resolutions[0].status, Status::Nx);
}

#[test]
fn silence_times_out_after_the_retries() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301]);
    let mut rng = Rng::new(9);
    let mut out = VecDeque::new();
    r.attach(t0, "gw.test", Family::V4, who()).unwrap();
    assert!(r.poll(t0, &mut rng, &mut out).is_empty());
    let mut now = t0;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        now = r.next_deadline().unwrap();
        outcomes = r.poll(now, &mut rng, &mut out);
        if !outcomes.is_empty() {
            break;
        }
    }
    assert_eq!(outcomes, [Outcome::Failed { resolution: 0 }]);
    assert_eq!(r.resolutions[0].status, Status::Timeout);
    // Three queries in all (resolve_retries 3), one per `timeout retry`.
    assert_eq!(sent(&mut out).len(), 3);
    assert_eq!(now, t0 + Duration::from_secs(3));
}

#[test]
fn addresses_missing_from_an_answer_go_after_hold_obsolete() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301]);
    r.config.hold.obsolete = Duration::from_secs(5);
    let mut rng = Rng::new(11);
    r.attach(t0, "gw.test", Family::V4, who()).unwrap();
    let both = [ip("10.0.0.1"), ip("10.0.0.2")];
    assert_eq!(round(&mut r, &mut rng, t0, &both), both);
    let t1 = t0 + Duration::from_secs(3);
    assert_eq!(round(&mut r, &mut rng, t1, &both[1..]), both);
    let t2 = t0 + Duration::from_secs(6);
    assert_eq!(round(&mut r, &mut rng, t2, &both[1..]), both[1..]);
}

#[test]
fn addresses_are_kept_in_haproxys_key_order_whatever_the_answers_order() {
    let t0 = crate::proxy::tests::epoch();
    let mut r = section(&[5301]);
    let mut rng = Rng::new(5);
    r.attach(t0, "gw.test", Family::V4, who()).unwrap();
    // XXH32 keys (seed 1, the A type): .13 0x0e60fb4e < .12 0x26c40711 <
    // .11 0xa28ecef4; HAProxy 2.6.12 gives the first server .12 for the
    // answer [.11, .12].
    let (a, b, c) = (ip("127.0.0.11"), ip("127.0.0.12"), ip("127.0.0.13"));
    assert_eq!(round(&mut r, &mut rng, t0, &[a, b]), [b, a]);
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(round(&mut r, &mut rng, t1, &[a, c, b]), [c, b, a]);
}
