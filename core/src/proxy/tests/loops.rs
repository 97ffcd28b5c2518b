//! Several event loops: loop 0 checks and publishes, a follower applies
//! its news through its own transition path; limits are tokens of one
//! pool.

use super::*;
use std::sync::Arc;

use crate::limits::{LimitKey, LimitPool};
use crate::loops::{EventLoop, LoopNews, share};
use crate::rng::Rng;
use crate::runtime_api::Level;

/// Loop `index` of `count` for `cfg`.
fn instance(mut cfg: Config, index: u32, count: u32) -> Harness {
    cfg.global.event_loop = EventLoop { index, count };
    Harness::new(cfg)
}

/// Hands every piece of loop 0's news to the follower.
fn forward(leader: &mut Harness, follower: &mut Harness) -> usize {
    let mut n = 0;
    while let Some(news) = leader.lb.poll_news() {
        follower.now = follower.now.max(leader.now);
        follower.lb.apply_news(follower.now, &news);
        follower.collect();
        n += 1;
    }
    n
}

#[test]
fn shares_add_up_to_the_limit() {
    for count in 1..6 {
        for limit in 0..20 {
            let sum: u32 = (0..count).map(|i| share(limit, i, count)).sum();
            assert_eq!(sum, limit, "limit {limit} over {count}");
        }
    }
    assert_eq!((share(3, 0, 2), share(3, 1, 2)), (2, 1));
    assert_eq!((share(1, 0, 2), share(1, 1, 2)), (1, 0));
}

#[test]
fn only_loop_0_checks_and_a_followers_server_goes_down_with_its_verdict() {
    let cfg = config(vec![checked("s1", 8001), server("s2", 8002)]);
    let mut leader = instance(cfg.clone(), 0, 2);
    let mut follower = instance(cfg, 1, 2);
    assert_eq!(leader.connects().len(), 1, "loop 0 checks s1");
    assert!(follower.connects().is_empty(), "a follower never checks");
    follower.advance(Duration::from_secs(10));
    assert!(follower.connects().is_empty());
    let (probe, _) = leader.connects()[0];
    leader.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    assert_eq!(leader.logs(LogSink::Stdout).len(), 1, "loop 0 logs DOWN");
    assert!(forward(&mut leader, &mut follower) >= 1);
    assert!(
        follower.logs(LogSink::Stdout).is_empty(),
        "the state line is loop 0's alone"
    );
    for _ in 0..4 {
        assert_eq!(follower.accept().2.port(), 8002, "DOWN on the follower too");
    }
    let answer = follower
        .lb
        .handle_command(follower.now, "show servers state", Level::Admin);
    let s1 = answer.lines().find(|l| l.contains(" s1 ")).unwrap();
    // srv_op_state 0: stopped.
    assert_eq!(s1.split(' ').nth(5), Some("0"), "{s1}");
    // Idempotent: the same news again changes nothing.
    let (b, s) = {
        let (b, backend) = leader.lb.backends.iter().next().unwrap();
        (b, backend.servers.iter().next().unwrap().0)
    };
    leader.lb.publish_server(b, s);
    let again = leader.lb.poll_news().expect("news");
    assert!(matches!(&again, LoopNews::Server(n) if n.server == "s1"));
    follower.lb.apply_news(follower.now, &again);
    follower.collect();
    assert_eq!(follower.accept().2.port(), 8002);
}

#[test]
fn runtime_commands_on_loop_0_reach_the_followers() {
    let cfg = config(vec![server("s1", 8001), server("s2", 8002)]);
    let mut leader = instance(cfg.clone(), 0, 2);
    let mut follower = instance(cfg, 1, 2);
    let now = leader.now;
    let answer = leader
        .lb
        .handle_command(now, "set server app/s1 state maint", Level::Admin);
    assert_eq!(answer, "\n");
    leader.collect();
    forward(&mut leader, &mut follower);
    for _ in 0..4 {
        assert_eq!(follower.accept().2.port(), 8002, "maintenance everywhere");
    }
    leader
        .lb
        .handle_command(now, "set server app/s1 state ready", Level::Admin);
    leader
        .lb
        .handle_command(now, "set server app/s2 weight 0", Level::Admin);
    leader.collect();
    forward(&mut leader, &mut follower);
    for _ in 0..4 {
        assert_eq!(follower.accept().2.port(), 8001, "s2 weighs 0 everywhere");
    }
    leader
        .lb
        .handle_command(now, "set maxconn global 2", Level::Admin);
    leader.collect();
    assert_eq!(
        forward(&mut leader, &mut follower),
        1,
        "one piece of news: the limit"
    );
}

#[test]
fn a_single_loop_publishes_nothing() {
    let mut h = Harness::new(config(vec![checked("s1", 8001)]));
    let (probe, _) = h.connects()[0];
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    assert_eq!(h.lb.poll_news(), None);
}

/// Loops 0 and 1 of two for `cfg`, sharing one limit pool.
fn pair(cfg: Config) -> (Harness, Harness, Arc<LimitPool>) {
    let pool = LimitPool::new();
    let mut a = instance(cfg.clone(), 0, 2);
    let mut b = instance(cfg, 1, 2);
    a.lb.share_limits(pool.clone());
    b.lb.share_limits(pool.clone());
    (a, b, pool)
}

/// Tells each loop of `loops` that another freed tokens it waited for,
/// until none is left to tell; returns how many were told.
fn wake(loops: &mut [&mut Harness]) -> usize {
    let mut told = 0;
    for _ in 0..16 {
        let mut freed = 0;
        for h in loops.iter_mut() {
            freed |= h.lb.poll_freed();
        }
        if freed == 0 {
            return told;
        }
        for (i, h) in loops.iter_mut().enumerate() {
            if freed & (1 << i) != 0 {
                h.lb.limits_freed(h.now);
                h.collect();
                told += 1;
            }
        }
    }
    told
}

fn server_key(name: &str) -> LimitKey {
    LimitKey::Server {
        backend: "app".into(),
        server: name.into(),
        epoch: 0,
    }
}

#[test]
fn server_maxconn_is_exact_across_loops_and_a_freed_token_wakes_the_waiting_loop() {
    // maxconn 1 over 2 loops: whichever loop comes first connects.
    let (mut a, mut b, pool) = pair(config(vec![limited(1, 1)]));
    let (first, server, _) = b.accept();
    assert_eq!(pool.held_by_key(&server_key("s1")), 1);
    a.try_accept().expect("queued on loop 0");
    assert!(a.connects().is_empty(), "s1 is full: loop 0 waits");
    b.connected(server);
    b.event(Event::Failed {
        conn: first,
        error: ConnError::Reset,
    });
    assert!(a.connects().is_empty(), "loop 0 learns it from loop 1");
    assert_eq!(wake(&mut [&mut a, &mut b]), 1, "loop 0 is told");
    assert_eq!(a.connects().len(), 1, "the queued session connects");
    assert_eq!(pool.held_by_key(&server_key("s1")), 1);
    // Loop 0 holds it now: loop 1's next session waits.
    b.take();
    b.try_accept().expect("queued on loop 1");
    assert!(b.connects().is_empty(), "s1 is loop 0's now");
    assert_eq!(pool.held_by_key(&server_key("s1")), 1);
}

#[test]
fn global_maxconn_is_exact_across_loops_and_paused_listeners_resume() {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.global.maxconn = Some(3);
    let (mut a, mut b, pool) = pair(cfg);
    let (c1, _, _) = a.accept();
    a.accept();
    assert!(b.lb.admit(b.now, L0), "one token left");
    let (c3, _, _) = b.accept();
    // Loop 0 yielded to loop 1 at 2 against 0; 2 against 1 lets it back.
    assert_eq!(wake(&mut [&mut a, &mut b]), 1);
    assert_eq!(pool.held_by_key(&LimitKey::Global), 3);
    assert!(
        !a.lb.admit(a.now, L0) && !b.lb.admit(b.now, L0),
        "the process is full"
    );
    a.collect();
    b.collect();
    for h in [&mut a, &mut b] {
        assert!(
            (h.take().iter()).any(|x| matches!(x, Action::PauseAccept { .. })),
            "each loop pauses"
        );
    }
    assert!(
        b.try_accept().is_none(),
        "an accept past the limit is refused"
    );
    a.event(Event::Failed {
        conn: c1,
        error: ConnError::Reset,
    });
    assert_eq!(wake(&mut [&mut a, &mut b]), 1, "loop 1 is told");
    assert!(
        (b.take().iter()).any(|x| matches!(x, Action::ResumeAccept { .. })),
        "loop 1 resumes"
    );
    // An admission whose accept found nothing gives its tokens back.
    assert!(b.lb.admit(b.now, L0));
    assert_eq!(pool.held_by_key(&LimitKey::Global), 3);
    b.lb.unadmit(L0);
    assert_eq!(pool.held_by_key(&LimitKey::Global), 2);
    b.event(Event::Failed {
        conn: c3,
        error: ConnError::Reset,
    });
    assert_eq!(pool.held_by_key(&LimitKey::Global), 1);
}

#[test]
fn frontend_maxconn_is_exact_across_loops() {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.frontends[0].maxconn = Some(2);
    let (mut a, mut b, pool) = pair(cfg);
    a.accept();
    b.accept();
    assert!(!a.lb.admit(a.now, L0) && !b.lb.admit(b.now, L0));
    let fe = LimitKey::Frontend {
        name: "fe".into(),
        epoch: 0,
    };
    assert_eq!(pool.held_by_key(&fe), 2);
    assert_eq!(pool.held_by_key(&LimitKey::Global), 2);
}

fn paused(h: &mut Harness) -> bool {
    h.collect();
    (h.take().iter()).any(|x| matches!(x, Action::PauseAccept { .. }))
}

fn resumed(h: &mut Harness) -> bool {
    h.collect();
    (h.take().iter()).any(|x| matches!(x, Action::ResumeAccept { .. }))
}

/// `rate-limit sessions 3` over two loops: the process accepts 3 per
/// second, whichever loop accepts them; a reservation handed back wakes
/// the loop that found the rate full, and every loop resumes when the
/// next event may come.
#[test]
fn rate_limit_sessions_is_exact_across_loops() {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.frontends[0].traffic.rate_limit_sessions = Some(3);
    let (mut a, mut b, _pool) = pair(cfg);
    a.accept();
    b.accept();
    assert!(b.lb.admit(b.now, L0), "one event left, reserved by loop 1");
    assert!(!a.lb.admit(a.now, L0), "loop 0 finds none");
    assert!(paused(&mut a));
    b.lb.unadmit(L0);
    assert_eq!(wake(&mut [&mut a, &mut b]), 1, "loop 0 is told");
    assert!(resumed(&mut a));
    a.accept();
    assert!(paused(&mut a), "the third: loop 0 pauses");
    assert!(b.try_accept().is_none(), "a fourth is refused");
    assert!(paused(&mut b), "loop 1 pauses too");
    assert!(!a.lb.admit(a.now, L0) && !b.lb.admit(b.now, L0));
    // HAProxy's window: 1 ms into the next second.
    for h in [&mut a, &mut b] {
        h.advance(Duration::from_millis(1000));
        assert!(!resumed(h));
        h.advance(Duration::from_millis(1));
        assert!(resumed(h));
    }
    assert!(b.lb.admit(b.now, L0), "the fading window allows one more");
    assert!(!a.lb.admit(a.now, L0), "one only");
}

/// `maxconnrate 4` over two loops taking turns at random accepts
/// exactly what one loop accepts from the same attempts (some of which
/// find no connection and hand their event back).
#[test]
fn maxconnrate_over_two_loops_accepts_as_one_loop() {
    for seed in 1..=8u64 {
        let mut cfg = config(vec![server("s1", 8001)]);
        cfg.global.rates.conn = Some(4);
        let mut one = Harness::new(cfg.clone());
        let (mut a, mut b, _pool) = pair(cfg);
        let mut rng = crate::rng::Rng::new(seed);
        let mut accepted = [Vec::new(), Vec::new()];
        let start = one.now.max(a.now).max(b.now);
        for step in 0..300u64 {
            let x = rng.next_u64();
            let two = if x % 2 == 0 { &mut a } else { &mut b };
            // 7 ms a step, on every loop's clock.
            let now = start + Duration::from_millis(7 * step);
            for (i, h) in [&mut one, two].into_iter().enumerate() {
                if now > h.now {
                    h.advance(now - h.now);
                }
                if !h.lb.admit(h.now, L0) {
                    continue;
                }
                if x % 5 == 0 {
                    h.lb.unadmit(L0);
                } else {
                    let client = h.try_accept().expect("admitted");
                    accepted[i].push(step);
                    // It leaves at once: the accept balance never pauses
                    // a loop.
                    h.event(Event::Failed {
                        conn: client,
                        error: ConnError::Reset,
                    });
                }
            }
            wake(&mut [&mut a, &mut b]);
        }
        assert_eq!(accepted[0], accepted[1], "seed {seed}");
        assert!((8..60).contains(&accepted[0].len()), "{:?}", accepted[0]);
    }
}

/// `static-rr` over two loops walks one table: the process's picks
/// follow HAProxy's order whichever loop accepts, and a loop never picks
/// a server it sees down while the other has not heard of it yet.
#[test]
fn static_rr_walks_one_table_across_loops() {
    let servers: Vec<_> = (1..=3)
        .map(|i| {
            let mut s = server(&format!("s{i}"), 8000 + i);
            s.weight = u32::from(i);
            s
        })
        .collect();
    let mut cfg = config(servers);
    cfg.backends[0].balance = Balance::StaticRr;
    let mut one = Harness::new(cfg.clone());
    let (mut a, mut b, _pool) = pair(cfg);
    // Each client leaves at once, so the accept balance never pauses a
    // loop.
    let port = |h: &mut Harness| {
        let (client, _, addr) = h.accept();
        h.event(Event::Failed {
            conn: client,
            error: ConnError::Reset,
        });
        addr.port()
    };
    for i in 0..18 {
        let h = if i % 3 == 0 { &mut a } else { &mut b };
        assert_eq!(port(h), port(&mut one), "pick {i}");
    }
    // s3 goes to maintenance on loop 0; loop 1 has not heard yet.
    let answer =
        a.lb.handle_command(a.now, "set server app/s3 state maint", Level::Admin);
    assert_eq!(answer, "\n");
    a.collect();
    for _ in 0..12 {
        assert_ne!(port(&mut a), 8003, "loop 0 sees s3 down");
    }
    assert!((0..12).any(|_| port(&mut b) == 8003), "loop 1 does not yet");
    forward(&mut a, &mut b);
    for i in 0..12 {
        let h = if i % 2 == 0 { &mut a } else { &mut b };
        assert_ne!(port(h), 8003, "every loop sees s3 down");
    }
}

/// Servers `s1`, `s2`, `s3` weighing 3, 2 and 1 under `balance`.
fn weighted(balance: Balance) -> Config {
    let servers: Vec<_> = (1..=3)
        .map(|i| {
            let mut s = server(&format!("s{i}"), 8000 + i);
            s.weight = u32::from(4 - i);
            s
        })
        .collect();
    let mut cfg = config(servers);
    cfg.backends[0].balance = balance;
    cfg
}

/// The port of the server a client accepted on `h` goes to; the client
/// leaves at once (the accept balance never pauses a loop).
fn pick_port(h: &mut Harness) -> u16 {
    let (client, _, addr) = h.accept();
    h.event(Event::Failed {
        conn: client,
        error: ConnError::Reset,
    });
    addr.port()
}

/// `n` picks spread over loops `a` and `b` (loop 0 takes every third)
/// equal `one`'s, a single loop's.
fn same_turns(a: &mut Harness, b: &mut Harness, one: &mut Harness, n: usize, what: &str) {
    for i in 0..n {
        let h = if i % 3 == 0 { &mut *a } else { &mut *b };
        assert_eq!(pick_port(h), pick_port(one), "{what}: pick {i}");
    }
}

/// `command` on loop 0 and on the single loop, loop 0's news forwarded.
fn command_everywhere(a: &mut Harness, b: &mut Harness, one: &mut Harness, command: &str) {
    for h in [&mut *a, &mut *one] {
        let answer = h.lb.handle_command(h.now, command, Level::Admin);
        assert_eq!(answer, "\n", "{command}");
        h.collect();
    }
    forward(a, b);
}

/// `roundrobin` over two loops takes the process's turns: whichever loop
/// accepts, the picks follow one loop's order (HAProxy's), through a
/// server going down and up and a weight change; a loop never picks a
/// server it sees down while the other has not heard of it yet.
#[test]
fn roundrobin_takes_one_loops_turns_across_loops() {
    let cfg = weighted(Balance::RoundRobin);
    let mut one = Harness::new(cfg.clone());
    let (mut a, mut b, _pool) = pair(cfg);
    same_turns(&mut a, &mut b, &mut one, 30, "3:2:1");
    command_everywhere(&mut a, &mut b, &mut one, "set server app/s1 state maint");
    same_turns(&mut a, &mut b, &mut one, 20, "s1 down");
    command_everywhere(&mut a, &mut b, &mut one, "set server app/s1 state ready");
    same_turns(&mut a, &mut b, &mut one, 30, "s1 up again");
    command_everywhere(&mut a, &mut b, &mut one, "set server app/s3 weight 4");
    same_turns(&mut a, &mut b, &mut one, 45, "3:2:4");
    // s2 goes to maintenance on loop 0; loop 1 has not heard yet: the
    // process's turns skip s2 anyway.
    let answer =
        a.lb.handle_command(a.now, "set server app/s2 state maint", Level::Admin);
    assert_eq!(answer, "\n");
    a.collect();
    for i in 0..14 {
        let h = if i % 2 == 0 { &mut a } else { &mut b };
        assert_ne!(pick_port(h), 8002, "the process's turns skip s2");
    }
    // s2 comes back on loop 0 first: loop 1, still seeing it down,
    // never picks it.
    forward(&mut a, &mut b);
    let answer =
        a.lb.handle_command(a.now, "set server app/s2 state ready", Level::Admin);
    assert_eq!(answer, "\n");
    a.collect();
    assert!(
        (0..12).any(|_| pick_port(&mut a) == 8002),
        "loop 0 sees s2 up"
    );
    for _ in 0..12 {
        assert_ne!(pick_port(&mut b), 8002, "loop 1 does not yet");
    }
}

/// A follower that reloads before loop 0 takes turns of its own until
/// loop 0 reloads too (never a server it sees down); the process's turns
/// then start again, as one loop's do after a reload. A follower behind
/// loop 0's reload takes its own turns too, until it reloads.
#[test]
fn roundrobin_across_loops_survives_reloads_in_either_order() {
    let cfg = weighted(Balance::RoundRobin);
    let mut one = Harness::new(cfg.clone());
    let (mut a, mut b, pool) = pair(cfg.clone());
    let mut fresh = Harness::new(cfg.clone());
    same_turns(&mut a, &mut b, &mut one, 7, "before");
    let for_loop = |index| {
        let mut cfg = cfg.clone();
        cfg.global.event_loop = EventLoop { index, count: 2 };
        cfg
    };
    // Loop 1 first: its own turns, from a start.
    b.lb.reload(b.now, for_loop(1));
    b.collect();
    for i in 0..6 {
        assert_eq!(pick_port(&mut b), pick_port(&mut fresh), "own turn {i}");
    }
    assert_eq!(pick_port(&mut a), pick_port(&mut one), "loop 0: old turns");
    a.lb.reload(a.now, for_loop(0));
    a.collect();
    one.lb.reload(one.now, cfg.clone());
    one.collect();
    same_turns(&mut a, &mut b, &mut one, 30, "after the reload");
    // Loop 0 first: loop 1 takes its own turns (its state of the
    // previous reload) until it reloads too.
    a.lb.reload(a.now, for_loop(0));
    a.collect();
    one.lb.reload(one.now, cfg.clone());
    one.collect();
    for _ in 0..6 {
        assert_eq!(pick_port(&mut a), pick_port(&mut one), "loop 0 alone");
    }
    let mut behind = Vec::new();
    for _ in 0..6 {
        behind.push(pick_port(&mut b));
    }
    for port in [8001, 8002, 8003] {
        let n = behind.iter().filter(|&&p| p == port).count();
        assert_eq!(n, usize::from(8004 - port), "{behind:?}");
    }
    b.lb.reload(b.now, for_loop(1));
    b.collect();
    same_turns(&mut a, &mut b, &mut one, 30, "loop 1 caught up");
    // The pool keeps only the turns some loop still takes.
    assert_eq!(
        pool.turns_held(),
        2,
        "active and backup groups of the last reload"
    );
}

/// Two loops share a pool through random traffic: accepts on either,
/// connects that succeed, fail or time out, clients that leave, queues,
/// retries and redispatches. A server never holds more than its
/// `maxconn`, the pool counts what the loops hold (and each backend's
/// load across them), no loop waits while
/// a server it could use has room, and once every session ended every
/// token is back, given once.
#[test]
fn tokens_are_conserved_and_limits_exact_through_random_traffic_on_two_loops() {
    for seed in 1..=24u64 {
        let mut s1 = limited(1, 1);
        let mut s2 = limited(2, 2);
        s2.name = "s2".into();
        s2.addr = SocketAddr::from(([127, 0, 0, 1], 8002));
        let source = seed % 3 == 0;
        if source {
            s1.maxqueue = 1;
            s2.maxqueue = 2;
        }
        let mut cfg = config(vec![s1, s2]);
        let (global, frontend) = if seed % 4 < 2 { (6, 5) } else { (5, 6) };
        cfg.global.maxconn = Some(global);
        cfg.frontends[0].maxconn = Some(frontend);
        cfg.backends[0].retries = 1;
        cfg.backends[0].redispatch = seed % 2 == 0;
        if source {
            cfg.backends[0].balance = Balance::Source;
        }
        let (mut a, mut b, pool) = pair(cfg);
        let mut rng = Rng::new(seed);
        let mut draw = |n: usize| rng.below(n);
        let mut clients: Vec<(usize, ConnId)> = Vec::new();
        for step in 0..400 {
            let i = draw(2);
            let h = if i == 0 { &mut a } else { &mut b };
            match draw(7) {
                0..=2 => {
                    if h.lb.admit(h.now, L0) {
                        h.next_port = h.next_port.wrapping_add(1).max(40000);
                        let peer = SocketAddr::new([10, 0, 0, draw(4) as u8 + 1].into(), 40000);
                        let local = SocketAddr::from(([127, 0, 0, 1], 9091));
                        if let Some(c) = h.lb.accept(h.now, L0, peer, local) {
                            clients.push((i, c));
                        }
                    }
                    h.collect();
                }
                3 | 4 => {
                    let connects = h.connects();
                    if let Some(&(conn, _)) = connects.get(draw(4)) {
                        let result = match draw(3) {
                            0 => Err(ConnError::Refused),
                            _ => Ok(()),
                        };
                        h.event(Event::Connected { conn, result });
                        h.actions.retain(
                            |x| !matches!(x, Action::Connect { conn: c, .. } if *c == conn),
                        );
                    }
                }
                5 if !clients.is_empty() => {
                    let k = draw(clients.len());
                    let (j, conn) = clients.swap_remove(k);
                    let h = if j == 0 { &mut a } else { &mut b };
                    h.event(Event::Failed {
                        conn,
                        error: ConnError::Reset,
                    });
                }
                _ => {
                    let d = Duration::from_millis(draw(700) as u64);
                    for h in [&mut a, &mut b] {
                        h.advance(d);
                    }
                }
            }
            wake(&mut [&mut a, &mut b]);
            for name in ["s1", "s2"] {
                let held = pool.held_by_key(&server_key(name));
                let max = if name == "s1" { 1 } else { 2 };
                assert!(held <= max, "seed {seed} step {step}: {name} holds {held}");
                let active: u32 = [&a, &b]
                    .iter()
                    .flat_map(|h| h.lb.backends.values())
                    .flat_map(|x| x.servers.values())
                    .filter(|s| s.config.name == name)
                    .map(|s| s.active)
                    .sum();
                assert_eq!(held, active, "seed {seed} step {step}: {name} tokens");
                // No loop waits for a server the process has room on.
                if held < max {
                    for h in [&a, &b] {
                        let waiting = h.lb.backends.values().any(|x| x.waiters.waiting > 0);
                        assert!(
                            !waiting || source,
                            "seed {seed} step {step}: a loop queues while {name} has room"
                        );
                    }
                }
            }
            assert!(pool.held_by_key(&LimitKey::Global) <= global.min(frontend));
            // `minconn` scales with the process's load of the backend.
            let backend = |h: &Harness| h.lb.backends.values().next().unwrap().active;
            let load = a.lb.backends.values().next().unwrap().load();
            assert_eq!(load, backend(&a) + backend(&b), "seed {seed} step {step}");
            for h in [&mut a, &mut b] {
                h.actions.retain(|x| matches!(x, Action::Connect { .. }));
            }
        }
        // Everything ends: every token is back, once.
        for _ in 0..10 {
            for h in [&mut a, &mut b] {
                h.advance(Duration::from_secs(30));
            }
            wake(&mut [&mut a, &mut b]);
        }
        for h in [&a, &b] {
            assert_eq!(h.lb.sessions.len(), 0, "seed {seed}: sessions left");
        }
        for key in [server_key("s1"), server_key("s2"), LimitKey::Global] {
            assert_eq!(pool.held_by_key(&key), 0, "seed {seed}: {key:?} left held");
        }
        assert_eq!(pool.underflows(), 0, "seed {seed}: a token given twice");
    }
}

/// Each server's `srv_op_state srv_admin_state srv_uweight` of `show
/// servers state`.
fn states(h: &mut Harness) -> Vec<String> {
    let dump =
        h.lb.handle_command(h.now, "show servers state", Level::Admin);
    (dump.lines().skip(2).filter(|l| !l.is_empty()))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {} {}", f[3], f[5], f[6], f[7])
        })
        .collect()
}

#[test]
fn a_follower_keeps_loop_0s_server_states_through_random_verdicts_and_commands() {
    let servers = vec![checked("s1", 8001), checked("s2", 8002), server("s3", 8003)];
    let cfg = config(servers);
    let commands = [
        "set server app/s1 state drain",
        "set server app/s1 state maint",
        "set server app/s1 state ready",
        "set server app/s2 state maint",
        "set server app/s2 state ready",
        "set server app/s3 weight 0",
        "set server app/s3 weight 5",
        "set server app/s1 weight 3",
        "set server app/s2 health down",
        "set server app/s2 health up",
        "set server app/s3 health stopping",
        "disable health app/s1",
        "enable health app/s1",
    ];
    for seed in 1..=20u64 {
        let mut leader = instance(cfg.clone(), 0, 2);
        let mut follower = instance(cfg.clone(), 1, 2);
        let mut rng = Rng::new(seed);
        let mut draw = |n: usize| rng.below(n);
        for step in 0..150 {
            match draw(3) {
                0 | 1 => {
                    // Checks answer, at random.
                    let probes: Vec<ConnId> = (leader.take().iter())
                        .filter_map(|a| match a {
                            Action::Connect { conn, .. } => Some(*conn),
                            _ => None,
                        })
                        .collect();
                    for conn in probes {
                        let result = match draw(2) {
                            0 => Ok(()),
                            _ => Err(ConnError::Refused),
                        };
                        leader.event(Event::Connected { conn, result });
                    }
                    leader.advance(Duration::from_millis(700));
                }
                _ => {
                    let command = commands[draw(commands.len())];
                    leader.lb.handle_command(leader.now, command, Level::Admin);
                    leader.collect();
                }
            }
            forward(&mut leader, &mut follower);
            assert_eq!(
                states(&mut follower),
                states(&mut leader),
                "seed {seed}, step {step}"
            );
            assert!(follower.connects().is_empty(), "a follower never checks");
        }
    }
}

#[test]
fn show_info_adds_up_every_loops_pipes() {
    let cfg = config(vec![server("s1", 8001)]);
    let mut leader = instance(cfg.clone(), 0, 2);
    let mut follower = instance(cfg, 1, 2);
    let now = leader.now;
    leader.lb.set_pipes(1, 2);
    follower.lb.set_pipes(3, 4);
    let share = follower.lb.stats_share(now);
    leader.lb.set_peer_stats(vec![share]);
    let info = leader.lb.handle_command(now, "show info", Level::Admin);
    assert!(info.contains("\nPipesUsed: 4\nPipesFree: 6\n"), "{info}");
}

#[test]
fn a_peer_share_replaces_that_loops_alone() {
    let cfg = config(vec![server("s1", 8001)]);
    let mut leader = instance(cfg.clone(), 0, 3);
    let mut one = instance(cfg.clone(), 1, 3);
    let mut two = instance(cfg, 2, 3);
    let now = leader.now;
    leader.lb.set_pipes(1, 0);
    one.lb.set_pipes(10, 0);
    two.lb.set_pipes(100, 0);
    let pipes = |leader: &mut Harness| {
        let info = leader.lb.handle_command(now, "show info", Level::Admin);
        let line = info.lines().find(|l| l.starts_with("PipesUsed: "));
        line.map(str::to_owned)
    };
    // Loop 2's share before loop 1 left any.
    leader.lb.set_peer_share(2, 1, two.lb.stats_share(now));
    assert_eq!(pipes(&mut leader).as_deref(), Some("PipesUsed: 101"));
    leader.lb.set_peer_share(2, 0, one.lb.stats_share(now));
    assert_eq!(pipes(&mut leader).as_deref(), Some("PipesUsed: 111"));
    // A newer share of loop 1 replaces its last; loop 2's stays.
    one.lb.set_pipes(20, 0);
    leader.lb.set_peer_share(2, 0, one.lb.stats_share(now));
    assert_eq!(pipes(&mut leader).as_deref(), Some("PipesUsed: 121"));
}

/// Two loops on one pool with `hard-stop-after` `after` and no timeout
/// that would end an idle session: loop 0 holds one session, loop 1 two.
fn stopping_pair(after: Option<Duration>) -> (Harness, Harness) {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.global.hard_stop_after = after;
    cfg.frontends[0].timeout_client = None;
    cfg.backends[0].timeout_server = None;
    let (mut a, mut b, _) = pair(cfg);
    a.session();
    b.session();
    b.session();
    (a, b)
}

fn warnings(h: &Harness) -> Vec<String> {
    h.logs(LogSink::Diagnostic(log::Level::Warn))
}

#[test]
fn loop_0_writes_the_stop_lines_once_with_every_loops_sessions() {
    let (mut a, mut b) = stopping_pair(Some(Duration::from_secs(5)));
    a.lb.soft_stop(a.now);
    a.collect();
    b.lb.soft_stop(b.now);
    b.collect();
    assert_eq!(
        warnings(&a),
        ["Stopping: listeners closed, waiting for 3 sessions to end (hard-stop-after 5000ms)."]
    );
    assert!(warnings(&b).is_empty(), "{:?}", warnings(&b));
    // The deadline is loop 0's alone: loop 1 kills nothing by itself.
    b.advance(Duration::from_secs(6));
    assert_eq!(b.lb.active_sessions(), 2);
    assert_eq!(b.lb.poll_timeout(), None);
    a.advance(Duration::from_secs(5));
    assert!(warnings(&a).contains(&"hard-stop-after expired: killing 3 sessions.".to_owned()));
    assert!(a.lb.is_stopped());
    assert_eq!(forward(&mut a, &mut b), 1, "loop 0 tells the others");
    assert!(warnings(&b).is_empty(), "{:?}", warnings(&b));
    assert!(b.lb.is_stopped());
    let ended = b.logs(LogSink::Stdout);
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(ended.iter().all(|l| l.contains(" KD ")), "{ended:?}");
}

#[test]
fn a_hard_stop_after_that_runs_out_stops_a_loop_its_soft_stop_has_not_reached() {
    let (mut a, mut b) = stopping_pair(Some(Duration::from_secs(5)));
    a.lb.soft_stop(a.now);
    a.advance(Duration::from_secs(5));
    forward(&mut a, &mut b);
    assert!(b.lb.is_stopped());
    assert!(
        b.take().contains(&Action::Unbind { listener: L0 }),
        "it no longer accepts"
    );
    b.lb.soft_stop(b.now);
    b.collect();
    assert!(warnings(&b).is_empty());
}

#[test]
fn a_zero_hard_stop_after_and_a_stop_are_one_line_of_loop_0() {
    let (mut a, mut b) = stopping_pair(Some(Duration::ZERO));
    a.lb.soft_stop(a.now);
    a.collect();
    b.lb.soft_stop(b.now);
    b.collect();
    assert_eq!(
        warnings(&a),
        [
            "Stopping: listeners closed, waiting for 3 sessions to end (hard-stop-after 0ms).",
            "hard-stop-after expired: killing 3 sessions."
        ]
    );
    assert!(warnings(&b).is_empty(), "{:?}", warnings(&b));
    assert!(a.lb.is_stopped() && b.lb.is_stopped());

    // A stop: loop 0 first, with no session of its own.
    let (mut a, mut b) = stopping_pair(None);
    a.lb.shutdown(a.now);
    a.collect();
    b.lb.shutdown(b.now);
    b.collect();
    assert_eq!(warnings(&a), ["Stopping now: killing 3 sessions."]);
    assert!(warnings(&b).is_empty(), "{:?}", warnings(&b));
    assert_eq!(b.logs(LogSink::Stdout).len(), 2);
}

// ---- passive checks: the followers report, loop 0 counts ------------------

/// s1 with `observe layer4 error-limit 3 on-error mark-down` and s2, no
/// retries.
fn observed_config() -> Config {
    let mut s1 = checked("s1", 8001);
    s1.observe = true;
    s1.error_limit = 3;
    s1.on_error = crate::config::OnError::MarkDown;
    no_retries(vec![s1, server("s2", 8002)])
}

/// [`observed_config`] on loops 0 and 1 of two, on one pool; loop 0 has
/// seen s1 fully UP.
fn observed_pair() -> (Harness, Harness) {
    let (mut leader, follower, _) = pair(observed_config());
    answer_and_time_next(&mut leader, true);
    let (probe, _) = *leader.connects().last().unwrap();
    leader.connected(probe);
    leader.take();
    (leader, follower)
}

/// Hands every report of the follower to loop 0; returns how many.
fn report(follower: &mut Harness, leader: &mut Harness) -> usize {
    let mut n = 0;
    while let Some(report) = follower.lb.poll_reports() {
        leader.now = leader.now.max(follower.now);
        leader.lb.apply_report(leader.now, &report);
        leader.collect();
        n += 1;
    }
    n
}

/// Opens traffic connections on `h` until one goes to s1 and is `ok` or
/// refused (the others go to s2 and succeed). Clients leave once
/// connected, so the accept balance never pauses a loop.
fn to_s1(h: &mut Harness, ok: bool) {
    to_port(h, 8001, ok, false);
}

/// [`to_s1`] for the server on `port`; with `hold`, a session that
/// connected to it stays.
fn to_port(h: &mut Harness, port: u16, ok: bool, hold: bool) {
    for _ in 0..4 {
        let (client, server, addr) = h.accept();
        let leave = |h: &mut Harness| {
            h.event(Event::Failed {
                conn: client,
                error: ConnError::Reset,
            })
        };
        if addr.port() != port {
            h.connected(server);
            leave(h);
            continue;
        }
        match ok {
            true => {
                h.connected(server);
                if !hold {
                    leave(h);
                }
            }
            false => h.event(Event::Connected {
                conn: server,
                result: Err(ConnError::Refused),
            }),
        }
        return;
    }
    panic!("s1 never picked");
}

fn down_lines(h: &Harness) -> Vec<String> {
    (h.logs(LogSink::Stdout).into_iter())
        .filter(|l| l.starts_with("Server app/s1 is DOWN"))
        .collect()
}

#[test]
fn a_followers_connect_failures_mark_the_server_down_at_the_limit() {
    let (mut leader, mut follower) = observed_pair();
    for _ in 0..2 {
        to_s1(&mut follower, false);
        assert_eq!(report(&mut follower, &mut leader), 1, "one report a turn");
    }
    assert!(down_lines(&leader).is_empty(), "2 errors of 3");
    to_s1(&mut follower, false);
    assert_eq!(report(&mut follower, &mut leader), 1);
    assert_eq!(
        down_lines(&leader),
        [
            "Server app/s1 is DOWN, reason: Health analyze, info: \"Detected 3 consecutive \
          errors, last one was: L4 unsuccessful connection\". 1 active and 0 backup \
          servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
        ],
        "the failing session counts, as in HAProxy's cur_sess"
    );
    assert!(
        follower
            .logs(LogSink::Stdout)
            .iter()
            .all(|l| !l.contains("is DOWN")),
        "the follower only reports"
    );
    // Loop 0's verdict reaches the follower as news.
    assert!(forward(&mut leader, &mut follower) >= 1);
    for _ in 0..4 {
        let (client, _, addr) = follower.accept();
        assert_eq!(addr.port(), 8002, "DOWN on the follower too");
        follower.event(Event::Failed {
            conn: client,
            error: ConnError::Reset,
        });
    }
    let stat = leader
        .lb
        .handle_command(leader.now, "show stat", Level::Admin);
    let row = stat.lines().find(|l| l.starts_with("app,s1,")).unwrap();
    let header = stat.lines().next().unwrap().trim_start_matches("# ");
    let column = header.split(',').position(|c| c == "hanafail").unwrap();
    assert_eq!(row.split(',').nth(column), Some("1"), "{row}");
}

#[test]
fn failures_of_one_turn_come_in_one_report() {
    let (mut leader, mut follower) = observed_pair();
    for _ in 0..3 {
        to_s1(&mut follower, false);
    }
    assert_eq!(
        report(&mut follower, &mut leader),
        1,
        "one server, one report"
    );
    assert_eq!(down_lines(&leader).len(), 1);
    assert_eq!(report(&mut follower, &mut leader), 0, "nothing new");
}

#[test]
fn the_loops_failures_add_up_and_a_success_on_any_loop_resets_them() {
    let (mut leader, mut follower) = observed_pair();
    to_s1(&mut leader, false);
    to_s1(&mut follower, false);
    report(&mut follower, &mut leader);
    assert!(down_lines(&leader).is_empty());
    // A success on the follower: the count starts again.
    to_s1(&mut follower, true);
    report(&mut follower, &mut leader);
    to_s1(&mut leader, false);
    to_s1(&mut leader, false);
    assert!(
        down_lines(&leader).is_empty(),
        "2 in a row since the success"
    );
    to_s1(&mut follower, false);
    report(&mut follower, &mut leader);
    assert_eq!(down_lines(&leader).len(), 1, "3 in a row over both loops");
}

#[test]
fn a_followers_own_run_to_the_limit_counts_even_between_successes() {
    let (mut leader, mut follower) = observed_pair();
    // One turn: success, 3 failures (the limit), success.
    to_s1(&mut follower, true);
    for _ in 0..3 {
        to_s1(&mut follower, false);
    }
    to_s1(&mut follower, true);
    assert_eq!(report(&mut follower, &mut leader), 1);
    assert_eq!(down_lines(&leader).len(), 1);
}

/// The slot of server `name` of backend `app` on `h` (what reports name).
fn slot_of(h: &Harness, name: &str) -> crate::limits::LimitSlot {
    let backend = h.lb.backends.values().find(|b| !b.retired).unwrap();
    let server = backend.servers.values();
    let server = server.filter(|s| !s.retired && s.config.name == name);
    server.last().and_then(|s| s.slots).unwrap().conn
}

#[test]
fn reports_name_observed_servers_by_their_slot_and_unknown_slots_are_ignored() {
    let (mut leader, mut follower) = observed_pair();
    // s2 has no `observe`: nothing to report.
    loop {
        let (client, server, addr) = follower.accept();
        follower.connected(server);
        follower.event(Event::Failed {
            conn: client,
            error: ConnError::Reset,
        });
        if addr.port() == 8002 {
            break;
        }
    }
    follower.take();
    let s1 = slot_of(&follower, "s1");
    assert_eq!(s1, slot_of(&leader, "s1"), "one slot in every loop");
    while let Some(r) = follower.lb.poll_reports() {
        assert_eq!(r.server, s1, "{r:?}");
    }
    to_s1(&mut follower, false);
    let mut r = follower.lb.poll_reports().expect("a report");
    assert_eq!(r.server, s1);
    r.observed.errors = 10;
    r.server = leader.lb.limit_pool().slot(&LimitKey::Server {
        backend: "app".into(),
        server: "gone".into(),
        epoch: 0,
    });
    leader.lb.apply_report(leader.now, &r);
    leader.collect();
    assert!(down_lines(&leader).is_empty(), "no such server");
    r.server = slot_of(&leader, "s2");
    leader.lb.apply_report(leader.now, &r);
    assert!(leader.lb.poll_news().is_none(), "s2 observes nothing");
    // A reload seals what was seen, with the slots it was seen with.
    to_s1(&mut follower, false);
    let mut renamed = of_loop(observed_config(), 1);
    renamed.backends[0].servers[0].name = "s9".into();
    follower.lb.reload(follower.now, renamed);
    let r = follower.lb.poll_reports().expect("a report");
    assert_eq!((r.server, r.observed.errors), (s1, 1));
    assert_eq!(follower.lb.poll_reports(), None);
    // A single loop reports nothing.
    let mut one = Harness::new(observed_config());
    to_s1(&mut one, false);
    assert_eq!(one.lb.poll_reports(), None);
}

/// `cfg` for loop `index` of two (what the driver gives each reload).
fn of_loop(mut cfg: Config, index: u32) -> Config {
    cfg.global.event_loop = EventLoop { index, count: 2 };
    cfg
}

/// [`observed_config`] for loop `index` of two, with s1 moved to port
/// 8011: a new server in s1's name.
fn s1_moved(index: u32) -> Config {
    let mut cfg = of_loop(observed_config(), index);
    cfg.backends[0].servers[0].addr.set_port(8011);
    cfg
}

#[test]
fn a_report_from_before_a_reload_never_reaches_the_server_put_in_its_servers_place() {
    let (mut leader, mut follower) = observed_pair();
    for _ in 0..3 {
        to_s1(&mut follower, false);
    }
    leader.lb.reload(leader.now, s1_moved(0));
    leader.collect();
    assert_ne!(slot_of(&leader, "s1"), slot_of(&follower, "s1"));
    assert_eq!(report(&mut follower, &mut leader), 1);
    assert!(
        down_lines(&leader).is_empty(),
        "the old s1's failures are not the new s1's"
    );
    // Once the follower has the new s1 too, its failures there count.
    follower.lb.reload(follower.now, s1_moved(1));
    follower.collect();
    assert_eq!(slot_of(&leader, "s1"), slot_of(&follower, "s1"));
    for _ in 0..3 {
        to_port(&mut follower, 8011, false, false);
    }
    assert_eq!(report(&mut follower, &mut leader), 1);
    assert_eq!(
        down_lines(&leader).len(),
        1,
        "{:?}",
        leader.logs(LogSink::Stdout)
    );
}

#[test]
fn a_report_from_after_a_reload_loop_0_has_not_applied_yet_is_ignored() {
    let (mut leader, mut follower) = observed_pair();
    follower.lb.reload(follower.now, s1_moved(1));
    follower.collect();
    for _ in 0..3 {
        to_port(&mut follower, 8011, false, false);
    }
    assert_eq!(report(&mut follower, &mut leader), 1);
    assert!(
        down_lines(&leader).is_empty(),
        "the new s1's failures are not the old s1's"
    );
}

#[test]
fn a_server_the_follower_retired_still_reports_to_a_loop_0_that_checks_it() {
    let (mut leader, mut follower) = observed_pair();
    for _ in 0..2 {
        to_s1(&mut follower, false);
    }
    // A connect to s1 still pending when the follower's reload retires it.
    let pending = loop {
        let (client, server, addr) = follower.accept();
        if addr.port() == 8001 {
            break server;
        }
        follower.connected(server);
        follower.event(Event::Failed {
            conn: client,
            error: ConnError::Reset,
        });
    };
    follower.lb.reload(follower.now, s1_moved(1));
    follower.event(Event::Connected {
        conn: pending,
        result: Err(ConnError::Refused),
    });
    assert_eq!(
        report(&mut follower, &mut leader),
        2,
        "sealed, then the last"
    );
    assert_eq!(down_lines(&leader).len(), 1, "3 failures of the old s1");
}

#[test]
fn a_report_on_a_server_a_reload_kept_counts_on_either_side_of_the_reload() {
    let (mut leader, mut follower) = observed_pair();
    for _ in 0..3 {
        to_s1(&mut follower, false);
    }
    // Sealed by the follower's reload, counted after loop 0's.
    follower
        .lb
        .reload(follower.now, of_loop(observed_config(), 1));
    leader.lb.reload(leader.now, of_loop(observed_config(), 0));
    leader.collect();
    assert_eq!(report(&mut follower, &mut leader), 1);
    assert_eq!(down_lines(&leader).len(), 1, "the same s1");
}

// ---- state lines count the process's sessions -------------------------------

#[test]
fn a_check_verdicts_state_line_counts_every_loops_sessions() {
    let (mut leader, mut follower, pool) = pair(config(vec![checked("s1", 8001)]));
    leader.session();
    follower.session();
    follower.session();
    let (probe, _) = leader.connects()[0];
    leader.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    assert_eq!(
        down_lines(&leader),
        [
            "Server app/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection \
             refused\", check duration: 0ms. 0 active and 0 backup servers left. 3 sessions \
             active, 0 requeued, 0 remaining in queue."
        ],
        "loop 0's one and the follower's two"
    );
    assert_eq!(pool.underflows(), 0);
}

#[test]
fn send_state_counts_every_loops_sessions_on_the_server() {
    let text = "frontend fe\n bind :9091\n default_backend app\nbackend app\n \
                option httpchk GET /s\n http-check send-state\n \
                server s1 127.0.0.1:8001 check inter 2s\n";
    let parsed = crate::config::parse(&[crate::config::Source::new("t.cfg", text)], &mut |_| None)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let (mut leader, mut follower, _pool) = pair(parsed.config);
    let (first, _) = leader.connects()[0];
    leader.connected(first);
    leader.drain(first);
    leader.peer_sends(first, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    leader.session();
    follower.session();
    follower.session();
    leader.advance(Duration::from_secs(2));
    let (probe, _) = *leader.connects().last().expect("the next check");
    leader.connected(probe);
    let request = String::from_utf8(leader.drain(probe)).unwrap();
    assert!(
        request.contains("; scur=3/"),
        "loop 0's one and the follower's two: {request}"
    );
}

#[test]
fn loop_0s_own_passive_failures_count_a_followers_sessions_in_the_line() {
    let (mut leader, mut follower) = observed_pair();
    to_port(&mut follower, 8001, true, true);
    for _ in 0..3 {
        to_s1(&mut leader, false);
    }
    let lines = down_lines(&leader);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].ends_with(" 2 sessions active, 0 requeued, 0 remaining in queue."),
        "the follower's and the failing one: {lines:?}"
    );
}

#[test]
fn a_reports_state_line_counts_the_sessions_of_every_loop() {
    let pool = LimitPool::new();
    let mut loops: Vec<Harness> = (0..3)
        .map(|i| {
            let mut h = instance(observed_config(), i, 3);
            h.lb.share_limits(pool.clone());
            h
        })
        .collect();
    answer_and_time_next(&mut loops[0], true);
    let (probe, _) = *loops[0].connects().last().unwrap();
    loops[0].connected(probe);
    to_port(&mut loops[2], 8001, true, true);
    for _ in 0..3 {
        to_s1(&mut loops[1], false);
    }
    let (leader, rest) = loops.split_first_mut().unwrap();
    assert_eq!(report(&mut rest[0], leader), 1);
    let lines = down_lines(leader);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].ends_with(" 2 sessions active, 0 requeued, 0 remaining in queue."),
        "loop 2's and loop 1's failing one: {lines:?}"
    );
}

/// Whether `h`'s last listener action paused it.
fn last_paused(h: &Harness) -> bool {
    let last = (h.actions.iter()).rev().find_map(|a| match a {
        Action::PauseAccept { .. } => Some(true),
        Action::ResumeAccept { .. } => Some(false),
        _ => None,
    });
    last == Some(true)
}

#[test]
fn a_loop_holding_clearly_more_connections_leaves_new_ones_to_the_others() {
    let (mut a, mut b, _) = pair(config(vec![server("s1", 8001)]));
    a.accept();
    assert!(!last_paused(&a));
    let (first, _, _) = a.accept();
    assert!(last_paused(&a), "2 against 0: loop 0 yields");
    assert!(!a.lb.admit(a.now, L0), "and admits nothing");
    b.accept();
    assert_eq!(
        wake(&mut [&mut a, &mut b]),
        1,
        "2 against 1: loop 0 is told"
    );
    assert!(!last_paused(&a), "loop 0 accepts again");
    a.accept();
    assert!(last_paused(&a), "3 against 1");
    // Its own session's end brings it back, without a wake-up.
    a.event(Event::Failed {
        conn: first,
        error: ConnError::Reset,
    });
    assert!(!last_paused(&a));
    assert_eq!(wake(&mut [&mut a, &mut b]), 0);
    // Many accepts end near even, whichever loop is asked first.
    for _ in 0..40 {
        for h in [&mut a, &mut b] {
            if h.lb.admit(h.now, L0) {
                h.accept();
            }
        }
        wake(&mut [&mut a, &mut b]);
    }
    let (na, nb) = (a.lb.active_sessions(), b.lb.active_sessions());
    assert!(na.abs_diff(nb) <= 2 && na + nb >= 40, "{na} and {nb}");
}
