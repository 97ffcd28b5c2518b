//! Several event loops: loop 0 checks and publishes, a follower applies
//! its news through its own transition path; limits are tokens of one
//! pool.

use super::*;
use std::sync::Arc;

use crate::limits::{LimitKey, LimitPool};
use crate::loops::{EventLoop, LoopNews, share};
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
    assert!(b.lb.admit(L0), "one token left");
    let (c3, _, _) = b.accept();
    // Loop 0 yielded to loop 1 at 2 against 0; 2 against 1 lets it back.
    assert_eq!(wake(&mut [&mut a, &mut b]), 1);
    assert_eq!(pool.held_by_key(&LimitKey::Global), 3);
    assert!(!a.lb.admit(L0) && !b.lb.admit(L0), "the process is full");
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
    assert!(b.lb.admit(L0));
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
    assert!(!a.lb.admit(L0) && !b.lb.admit(L0));
    let fe = LimitKey::Frontend {
        name: "fe".into(),
        epoch: 0,
    };
    assert_eq!(pool.held_by_key(&fe), 2);
    assert_eq!(pool.held_by_key(&LimitKey::Global), 2);
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
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut draw = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut clients: Vec<(usize, ConnId)> = Vec::new();
        for step in 0..400 {
            let i = draw(2) as usize;
            let h = if i == 0 { &mut a } else { &mut b };
            match draw(7) {
                0..=2 => {
                    if h.lb.admit(L0) {
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
                    if let Some(&(conn, _)) = connects.get(draw(4) as usize) {
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
                    let k = draw(clients.len() as u64) as usize;
                    let (j, conn) = clients.swap_remove(k);
                    let h = if j == 0 { &mut a } else { &mut b };
                    h.event(Event::Failed {
                        conn,
                        error: ConnError::Reset,
                    });
                }
                _ => {
                    let d = Duration::from_millis(draw(700));
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
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut draw = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
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
                    let command = commands[draw(commands.len() as u64) as usize];
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

/// Whether `h`'s last listener action paused it.
fn paused(h: &Harness) -> bool {
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
    assert!(!paused(&a));
    let (first, _, _) = a.accept();
    assert!(paused(&a), "2 against 0: loop 0 yields");
    assert!(!a.lb.admit(L0), "and admits nothing");
    b.accept();
    assert_eq!(
        wake(&mut [&mut a, &mut b]),
        1,
        "2 against 1: loop 0 is told"
    );
    assert!(!paused(&a), "loop 0 accepts again");
    a.accept();
    assert!(paused(&a), "3 against 1");
    // Its own session's end brings it back, without a wake-up.
    a.event(Event::Failed {
        conn: first,
        error: ConnError::Reset,
    });
    assert!(!paused(&a));
    assert_eq!(wake(&mut [&mut a, &mut b]), 0);
    // Many accepts end near even, whichever loop is asked first.
    for _ in 0..40 {
        for h in [&mut a, &mut b] {
            if h.lb.admit(L0) {
                h.accept();
            }
        }
        wake(&mut [&mut a, &mut b]);
    }
    let (na, nb) = (a.lb.active_sessions(), b.lb.active_sessions());
    assert!(na.abs_diff(nb) <= 2 && na + nb >= 40, "{na} and {nb}");
}
