//! Health decided outside the instance: one balancer checks, another
//! takes its verdicts (`health_verdict` → `apply_health`) and moves its
//! own servers through the one transition path, with the checker's line.

use super::*;
use crate::proxy::{HealthVerdict, NoSuchServer};
use crate::stats::{AdminState, ForcedHealth};

fn verdict(health: ForcedHealth, reason: &str, ms: u64) -> HealthVerdict {
    HealthVerdict {
        health,
        reason: reason.into(),
        check_duration_ms: ms,
    }
}

/// Applies `v` to server `name` of `app`; returns the lines it logged.
fn apply(h: &mut Harness, name: &str, v: &HealthVerdict) -> Vec<String> {
    let before = h.logs(LogSink::Stdout).len();
    h.lb.apply_health(h.now, "app", name, v)
        .expect("a known server");
    h.collect();
    h.logs(LogSink::Stdout).split_off(before)
}

/// A balancer with two unchecked servers: it only takes verdicts.
fn follower() -> Harness {
    Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]))
}

#[test]
fn a_down_verdict_from_outside_takes_the_server_out_with_the_checkers_line() {
    let mut h = follower();
    let down = verdict(
        ForcedHealth::Down,
        "Layer4 connection problem, info: \"Connection refused\"",
        3,
    );
    assert_eq!(
        apply(&mut h, "s1", &down),
        [
            "Server app/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection \
             refused\", check duration: 3ms. 1 active and 0 backup servers left. 0 sessions \
             active, 0 requeued, 0 remaining in queue."
        ]
    );
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002, "no new session to a DOWN server");
    }
    assert!(
        apply(&mut h, "s1", &down).is_empty(),
        "the same verdict again: nothing"
    );
    let up = verdict(ForcedHealth::Up, "Layer4 check passed", 0);
    assert_eq!(
        apply(&mut h, "s1", &up),
        [
            "Server app/s1 is UP, reason: Layer4 check passed, check duration: 0ms. 2 active \
             and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        ]
    );
    let ports: Vec<u16> = (0..4).map(|_| h.accept().2.port()).collect();
    assert!(ports.contains(&8001), "back in rotation: {ports:?}");
}

#[test]
fn the_checkers_verdict_gives_the_follower_the_checkers_own_line() {
    let mut checker = Harness::new(config(vec![checked("s1", 8001), server("s2", 8002)]));
    let mut follower = follower();
    let (probe, _) = checker.connects()[0];
    checker.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    let checker_lines = checker.logs(LogSink::Stdout);
    let v = checker
        .lb
        .health_verdict("app", "s1")
        .expect("s1 is checked");
    assert_eq!(v.health, ForcedHealth::Down);
    assert_eq!(apply(&mut follower, "s1", &v), checker_lines);
    let s2 = follower.lb.health_verdict("app", "s2").expect("s2 exists");
    assert_eq!(s2, verdict(ForcedHealth::Up, "", 0), "never checked");
}

#[test]
fn a_stopping_verdict_keeps_sessions_in_progress_and_takes_no_new_one() {
    let mut h = follower();
    let mut on_s1 = None;
    for _ in 0..2 {
        let (client, conn, addr) = h.accept();
        h.connected(conn);
        if addr.port() == 8001 {
            on_s1 = Some((client, conn));
        }
    }
    let (client, conn) = on_s1.expect("round robin gave s1 one");
    let nolb = verdict(
        ForcedHealth::Stopping,
        "Layer7 check conditionally passed",
        1,
    );
    let lines = apply(&mut h, "s1", &nolb);
    assert!(
        lines[0].starts_with(
            "Server app/s1 is stopping, reason: Layer7 check conditionally passed, check \
             duration: 1ms."
        ),
        "{lines:?}"
    );
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002);
    }
    h.peer_sends(client, b"still");
    assert_eq!(h.drain(conn), b"still", "the session in progress goes on");
}

#[test]
fn verdicts_wait_while_the_server_is_in_maintenance() {
    let mut h = follower();
    let (b, s) = {
        let (b, backend) = h.lb.backends.iter().next().unwrap();
        (b, backend.servers.iter().next().unwrap().0)
    };
    h.lb.set_admin_state(h.now, b, s, AdminState::Maint);
    h.collect();
    assert_eq!(h.lb.health_verdict("app", "s1"), None, "checks are paused");
    let up = verdict(ForcedHealth::Up, "Layer4 check passed", 0);
    assert!(apply(&mut h, "s1", &up).is_empty());
    assert_eq!(
        h.lb.backends[b].servers[s].op,
        crate::stats::OpState::Stopped
    );
}

#[test]
fn a_verdict_for_an_unknown_server_is_refused() {
    let mut h = follower();
    let up = verdict(ForcedHealth::Up, "", 0);
    let err = h.lb.apply_health(h.now, "app", "nope", &up).unwrap_err();
    assert_eq!(
        err,
        NoSuchServer {
            backend: "app".into(),
            server: "nope".into()
        }
    );
    assert_eq!(err.to_string(), "no server app/nope in this instance");
    assert!(h.lb.apply_health(h.now, "web", "s1", &up).is_err());
}
