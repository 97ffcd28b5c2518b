//! Servers following DNS (`resolvers`): an address that changes, a name
//! that stops resolving (maintenance after `hold`) and comes back, and a
//! `server-template`'s servers sharing the answer, with HAProxy 2.6's
//! lines.

use std::net::IpAddr;

use super::*;
use crate::config::Host;
use crate::config::dns::{Family, Nameserver, Resolvers, ServerDns};
use crate::dns::resolver::tests::{answer, qtype};
use crate::stats::OpState;

const NS: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(127, 0, 0, 1),
    5353,
));

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn by_name(name: &str, port: u16, at: Option<&str>) -> Server {
    let addr = at.map_or(IpAddr::from([0, 0, 0, 0]), ip);
    Server {
        addr: SocketAddr::new(addr, port),
        host: Some(Host {
            name: "gw.test".into(),
            dns: Some(ServerDns {
                hostname: "gw.test".into(),
                resolvers: "dns".into(),
                prefer: Family::V4,
                nets: Vec::new(),
                allow_dup_ip: false,
            }),
            unresolved: at.is_none(),
            last_first: false,
        }),
        ..server(name, port)
    }
}

fn harness(servers: Vec<Server>) -> Harness {
    Harness::new(dns_config(servers))
}

/// `config(servers)` with resolvers `dns` (name server `ns1`).
fn dns_config(servers: Vec<Server>) -> Config {
    let mut cfg = config(servers);
    let mut dns = Resolvers::new("dns", origin());
    dns.nameservers.push(Nameserver {
        name: "ns1".into(),
        addr: NS,
    });
    dns.hold.nx = Duration::from_secs(3);
    cfg.global.resolvers = vec![dns];
    cfg
}

/// The queries sent since the last call.
fn queries(h: &mut Harness) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    h.actions.retain(|a| match a {
        Action::SendDatagram { to, data } => {
            assert_eq!(*to, NS);
            out.push(data.clone());
            false
        }
        _ => true,
    });
    out
}

/// The queries sent and not answered yet.
fn peek(h: &Harness) -> Vec<Vec<u8>> {
    (h.actions.iter())
        .filter_map(|a| match a {
            Action::SendDatagram { data, .. } => Some(data.clone()),
            _ => None,
        })
        .collect()
}

/// Answers the one query pending with `addrs` (and `rcode`).
fn reply(h: &mut Harness, addrs: &[&str], rcode: u8) -> Vec<String> {
    let q = queries(h);
    assert_eq!(q.len(), 1, "one query pending");
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
    h.take();
    h.lb.handle_datagram(h.now, NS, &answer(&q[0], &addrs, rcode));
    h.collect();
    h.logs(LogSink::Stdout)
}

fn state(h: &Harness, name: &str) -> (SocketAddr, bool, OpState) {
    let backend = h.lb.backends.values().next().unwrap();
    let s = (backend.servers.values())
        .find(|s| s.config.name == name)
        .unwrap();
    (s.config.addr, s.admin.resolv_maint, s.op)
}

#[test]
fn a_changed_address_takes_new_sessions_and_is_logged() {
    let mut h = harness(vec![by_name("s1", 8080, Some("10.0.0.1"))]);
    assert_eq!(qtype(&peek(&h)[0]), 1);
    // The same address: nothing to say.
    assert!(reply(&mut h, &["10.0.0.1"], 0).is_empty());
    let (client, server) = h.session();
    h.advance(Duration::from_secs(1));
    let logs = reply(&mut h, &["10.0.0.2"], 0);
    assert_eq!(
        logs,
        ["app/s1 changed its IP from 10.0.0.1 to 10.0.0.2 by dns/ns1."]
    );
    let (_, _, addr) = h.accept();
    assert_eq!(addr, SocketAddr::from(([10, 0, 0, 2], 8080)));
    // The session opened before goes on.
    assert_eq!(h.peer_sends(client, b"more"), 4);
    assert_eq!(h.drain(server), b"more");
}

#[test]
fn a_follower_takes_a_changed_address_without_logging_it_again() {
    let mut config = dns_config(vec![by_name("s1", 8080, Some("10.0.0.1"))]);
    config.global.event_loop = crate::loops::EventLoop { index: 1, count: 2 };
    let h = &mut Harness::new(config);
    assert!(reply(h, &["10.0.0.1"], 0).is_empty());
    h.advance(Duration::from_secs(1));
    assert!(reply(h, &["10.0.0.2"], 0).is_empty(), "loop 0 logs it");
    assert_eq!(state(h, "s1").0, SocketAddr::from(([10, 0, 0, 2], 8080)));
}

#[test]
fn a_name_gone_for_longer_than_hold_nx_puts_the_server_in_maintenance_until_it_resolves() {
    let mut h = harness(vec![by_name("s1", 8080, Some("10.0.0.1"))]);
    assert!(reply(&mut h, &["10.0.0.1"], 0).is_empty());
    let t0 = h.now;
    let mut lines = Vec::new();
    // NXDOMAIN for A, then for AAAA, three tries one second apart.
    for _ in 0..20 {
        h.advance(Duration::from_secs(1));
        while !peek(&h).is_empty() {
            lines.extend(reply(&mut h, &[], 3));
        }
        if !lines.is_empty() {
            break;
        }
    }
    assert_eq!(
        lines,
        [
            "Server app/s1 is going DOWN for maintenance (DNS NX status). 0 active and 0 backup \
          servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "backend app has no server available!"
        ]
    );
    assert_eq!(h.now - t0, Duration::from_secs(3), "hold nx 3s");
    assert_eq!(
        state(&h, "s1"),
        (
            SocketAddr::from(([0, 0, 0, 0], 8080)),
            true,
            OpState::Stopped
        )
    );
    let csv =
        h.lb.handle_command(h.now, "show stat", crate::runtime_api::Level::Admin);
    assert!(csv.contains(",MAINT (resolution),"), "{csv}");
    // No traffic meanwhile.
    let client = h.try_accept().expect("accepted, queued");
    assert!(h.connects().iter().all(|(c, _)| *c != client));
    h.advance(Duration::from_secs(1));
    let logs = reply(&mut h, &["10.0.0.3"], 0);
    assert_eq!(
        logs,
        [
            "app/s1 changed its IP from (none) to 10.0.0.3 by dns/ns1.",
            "Server app/s1 ('gw.test') is UP/READY (resolves again).",
            "Server app/s1 administratively READY thanks to valid DNS answer."
        ]
    );
    assert_eq!(
        state(&h, "s1"),
        (
            SocketAddr::from(([10, 0, 0, 3], 8080)),
            false,
            OpState::Running
        )
    );
}

#[test]
fn template_servers_share_the_answer_and_those_left_without_address_stay_in_maintenance() {
    let servers = (1..=3)
        .map(|i| by_name(&format!("web{i}"), 8080, None))
        .collect();
    let mut h = harness(servers);
    for i in 1..=3 {
        assert!(state(&h, &format!("web{i}")).1, "init-addr none");
    }
    let logs = reply(&mut h, &["10.0.0.1", "10.0.0.2"], 0);
    assert_eq!(
        logs,
        [
            "app/web1 changed its IP from (none) to 10.0.0.1 by dns/ns1.",
            "Server app/web1 ('gw.test') is UP/READY (resolves again).",
            "Server app/web1 administratively READY thanks to valid DNS answer.",
            "app/web2 changed its IP from (none) to 10.0.0.2 by DNS cache.",
            "Server app/web2 ('gw.test') is UP/READY (resolves again).",
            "Server app/web2 administratively READY thanks to valid DNS answer.",
        ]
    );
    assert!(state(&h, "web3").1);
    let csv = h.lb.handle_command(
        h.now,
        "show servers state",
        crate::runtime_api::Level::Admin,
    );
    assert!(csv.contains("web3 - 0 32 "), "{csv}");
    // 10.0.0.2 leaves the answer: web2 has no address left.
    h.advance(Duration::from_secs(1));
    let logs = reply(&mut h, &["10.0.0.1"], 0);
    assert_eq!(
        logs,
        [
            "Server app/web2 is going DOWN for maintenance (No IP for server ). 1 active and 0 \
          backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        ]
    );
    assert_eq!(state(&h, "web1").0.ip(), ip("10.0.0.1"));
}

#[test]
fn a_reload_keeps_the_address_dns_gave_and_resolves_again() {
    let servers = vec![by_name("s1", 8080, Some("10.0.0.1"))];
    let mut h = harness(servers.clone());
    reply(&mut h, &["10.0.0.2"], 0);
    let mut cfg = config(servers);
    let mut dns = Resolvers::new("dns", origin());
    dns.nameservers.push(Nameserver {
        name: "ns1".into(),
        addr: NS,
    });
    cfg.global.resolvers = vec![dns];
    h.take();
    let report = h.lb.reload(h.now, cfg);
    h.collect();
    assert_eq!(report.servers.kept, 1, "{report:?}");
    assert_eq!(state(&h, "s1").0, SocketAddr::from(([10, 0, 0, 2], 8080)));
    // Asked again at once; the same answer changes nothing.
    assert!(reply(&mut h, &["10.0.0.2"], 0).is_empty());
    let (_, _, addr) = h.accept();
    assert_eq!(addr, SocketAddr::from(([10, 0, 0, 2], 8080)));
}
