//! The balancing algorithms as the proxy uses them: loads follow
//! sessions, `balance source` server queues and `maxqueue`, `slowstart`,
//! weight 0 and backups.

use std::time::Duration;

use super::super::Role;
use super::{Harness, checked, config, limited, server};
use crate::action::{ConnError, Event, LogSink};
use crate::config::{Balance, Config, Server};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn with(balance: Balance, servers: Vec<Server>) -> Config {
    let mut cfg = config(servers);
    cfg.backends[0].balance = balance;
    cfg.backends[0].timeout_queue = Some(secs(10));
    cfg
}

/// A server that holds one connection, with `maxqueue`.
fn full(name: &str, port: u16, maxqueue: u32) -> Server {
    Server {
        maxconn: 1,
        minconn: 1,
        maxqueue,
        ..server(name, port)
    }
}

#[test]
fn leastconn_sends_a_new_connection_to_the_least_loaded_server() {
    let mut h = Harness::new(with(
        Balance::LeastConn,
        vec![server("s1", 8001), server("s2", 8002)],
    ));
    let (a, _, first) = h.accept();
    let (_, _, second) = h.accept();
    assert_ne!(first, second, "one session each");
    h.event(Event::Failed {
        conn: a,
        error: ConnError::Reset,
    });
    for _ in 0..3 {
        let (_, _, addr) = h.accept();
        assert_eq!(
            addr, first,
            "the server that lost its session is least loaded"
        );
        let (_, _, addr) = h.accept();
        assert_eq!(addr, second);
    }
}

#[test]
fn first_fills_a_server_to_its_maxconn_before_the_next() {
    let mut h = Harness::new(with(
        Balance::First,
        vec![limited(2, 2), server("s2", 8002)],
    ));
    let ports: Vec<u16> = (0..4).map(|_| h.accept().2.port()).collect();
    assert_eq!(ports, [8001, 8001, 8002, 8002]);
}

#[test]
fn source_queues_for_its_own_full_server_while_another_has_room() {
    let mut h = Harness::new(with(
        Balance::Source,
        vec![full("s1", 8001, 0), full("s2", 8002, 0)],
    ));
    // Every test client comes from 10.0.0.1: one server is theirs.
    let (first, _, mine) = h.accept();
    let queued = h.try_accept().expect("queued for its server");
    assert_eq!(h.connects().len(), 1, "no connect while its server is full");
    h.event(Event::Failed {
        conn: first,
        error: ConnError::Reset,
    });
    let (_, addr) = *h.connects().last().unwrap();
    assert_eq!(addr, mine, "the freed slot goes to the queued client");
    assert!(h.closed(queued).is_none());
}

#[test]
fn beyond_maxqueue_source_redispatches_or_refuses() {
    let servers = || vec![full("s1", 8001, 1), full("s2", 8002, 1)];
    let mut h = Harness::new(with(Balance::Source, servers()));
    let (_, _, mine) = h.accept();
    h.try_accept().expect("first in its server's queue");
    let (_, _, other) = h.accept();
    assert_ne!(other, mine, "the queue is at maxqueue: another server");

    let mut cfg = with(Balance::Source, servers());
    cfg.backends[0].redispatch = false;
    let mut h = Harness::new(cfg);
    h.accept();
    h.try_accept().expect("first in its server's queue");
    assert!(h.try_accept().is_none(), "refused without redispatch");
    let logs = h.logs(LogSink::Stdout);
    assert!(logs.last().unwrap().contains(" sQ "), "{logs:?}");
}

#[test]
fn a_server_queue_moves_on_when_its_server_goes_down() {
    let servers = vec![
        Server {
            check: true,
            ..full("s1", 8001, 0)
        },
        Server {
            check: true,
            ..full("s2", 8002, 0)
        },
    ];
    let mut h = Harness::new(with(Balance::Source, servers));
    let (_, _, mine) = h.accept();
    let queued = h.try_accept().expect("queued for its server");
    // Its server's first check is refused: DOWN at once.
    let mut probe = None;
    for _ in 0..10 {
        probe = h
            .connects()
            .into_iter()
            .find(|&(c, addr)| addr == mine && matches!(h.lb.role(c), Some(Role::Check(..))));
        if probe.is_some() {
            break;
        }
        h.advance(Duration::from_millis(500));
    }
    let (probe, _) = probe.expect("a check of the client's server");
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    let (_, addr) = *h.connects().last().unwrap();
    assert_ne!(addr, mine, "the queued client goes to the other server");
    assert!(h.closed(queued).is_none());
}

#[test]
fn slowstart_ramps_weight_and_maxconn_as_haproxy() {
    let mut s = checked("s1", 8001);
    s.weight = 16;
    s.maxconn = 10;
    s.minconn = 10;
    s.slowstart = Some(secs(10));
    let mut h = Harness::new(config(vec![s]));
    let start = h.now;
    let server =
        h.lb.backends
            .values_mut()
            .next()
            .unwrap()
            .servers
            .values_mut()
            .next()
            .unwrap();
    assert_eq!(server.lb_weight(start), 16, "no ramp at start-up");
    server.warm_since = Some(start);
    let weights: Vec<u32> = [0, 5, 9, 10]
        .iter()
        .map(|&t| server.lb_weight(start + secs(t)))
        .collect();
    assert_eq!(weights, [1, 9, 15, 16], "from 1/16 up, rounded up");
    let room = |t: u64, active: u32| active < server.limit(0, 1, start + secs(t)).unwrap();
    assert!(room(0, 0) && !room(0, 1), "one connection at the start");
    assert!(room(5, 4) && !room(5, 5), "half of maxconn half-way");
    assert!(room(10, 9) && !room(10, 10));
}

#[test]
fn a_server_back_up_gets_a_growing_share_over_slowstart() {
    let mut s1 = checked("s1", 8001);
    s1.slowstart = Some(secs(20));
    s1.weight = 16;
    let mut s2 = server("s2", 8002);
    s2.weight = 16;
    let mut h = Harness::new(config(vec![s1, s2]));
    let (probe, _) = h.connects()[0];
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    // Two passing checks (rise 2) bring s1 back UP, at 1/16 of its weight.
    for _ in 0..2 {
        h.advance(secs(2));
        let (probe, _) = *h.connects().last().unwrap();
        h.connected(probe);
    }
    assert!(h.lb.poll_timeout().is_some());
    let share = |h: &mut Harness| {
        (0..64)
            .filter(|_| {
                let (client, _, addr) = h.accept();
                h.event(Event::Failed {
                    conn: client,
                    error: ConnError::Reset,
                });
                addr.port() == 8001
            })
            .count()
    };
    let early = share(&mut h);
    assert!(early <= 4, "s1 took {early} of 64 just after coming back");
    h.advance(secs(20));
    let late = share(&mut h);
    // Smooth round robin carries some credit over from the ramp.
    assert!(
        (28..=36).contains(&late),
        "s1 took {late} of 64 at full weight"
    );
    let server =
        h.lb.backends
            .values()
            .next()
            .unwrap()
            .servers
            .values()
            .next()
            .unwrap();
    assert!(server.warm_since.is_none());
}

#[test]
fn backups_take_over_when_every_active_server_has_weight_0() {
    let mut s1 = server("s1", 8001);
    s1.weight = 0;
    let mut b = server("b", 8009);
    b.backup = true;
    let mut h = Harness::new(config(vec![s1, b]));
    for _ in 0..3 {
        assert_eq!(h.accept().2.port(), 8009);
    }
}
