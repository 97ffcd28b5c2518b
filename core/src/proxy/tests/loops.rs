//! Several event loops: loop 0 checks and publishes, a follower applies
//! its news through its own transition path; limits are split.

use super::*;
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

#[test]
fn server_maxconn_is_split_among_the_loops() {
    // maxconn 3 over 2 loops: 2 on loop 0, 1 on loop 1; the rest queue.
    let one = |index| {
        let mut h = instance(config(vec![limited(3, 3)]), index, 2);
        let mut connected = 0;
        for _ in 0..5 {
            h.try_accept().expect("accepted");
            connected = h.connects().len();
        }
        connected
    };
    assert_eq!((one(0), one(1)), (2, 1));
    // maxconn 1 over 2 loops: loop 1 never connects to it.
    let mut h = instance(config(vec![limited(1, 1)]), 1, 2);
    for _ in 0..3 {
        h.try_accept().expect("accepted");
    }
    assert!(h.connects().is_empty());
}

#[test]
fn global_maxconn_is_split_among_the_loops() {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.global.maxconn = Some(3);
    let mut h = instance(cfg, 1, 2);
    h.accept();
    assert!(
        (h.take().iter()).any(|a| matches!(a, Action::PauseAccept { .. })),
        "loop 1's share is 1"
    );
}

#[test]
fn a_loop_whose_share_of_maxconn_is_0_starts_paused() {
    for global in [true, false] {
        let mut cfg = config(vec![server("s1", 8001)]);
        match global {
            true => cfg.global.maxconn = Some(2),
            false => cfg.frontends[0].maxconn = Some(2),
        }
        let paused =
            |h: &mut Harness| (h.take().iter()).any(|a| matches!(a, Action::PauseAccept { .. }));
        // Shares of 2 over 3 loops: 1, 1, 0.
        assert!(!paused(&mut instance(cfg.clone(), 1, 3)));
        let mut last = instance(cfg, 2, 3);
        assert!(paused(&mut last), "global {global}: loop 2 may not accept");
        assert_eq!(last.try_accept(), None);
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
