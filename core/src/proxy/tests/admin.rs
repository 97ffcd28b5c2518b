//! Admin states and forced health: the runtime API's changes go through
//! the one transition path, with HAProxy's log lines.

use super::*;
use crate::id::{BackendId, ServerId};
use crate::stats::{AdminState, ForcedHealth};

/// Backend `app`'s server `name`.
fn ids(h: &Harness, name: &str) -> (BackendId, ServerId) {
    let (b, backend) = h.lb.backends.iter().next().unwrap();
    let (s, _) = (backend.servers.iter())
        .find(|(_, x)| x.config.name == name)
        .unwrap();
    (b, s)
}

fn set(h: &mut Harness, name: &str, state: AdminState) -> Vec<String> {
    let (b, s) = ids(h, name);
    let before = h.logs(LogSink::Stdout).len();
    h.lb.set_admin_state(h.now, b, s, state);
    h.collect();
    h.logs(LogSink::Stdout).split_off(before)
}

fn force(h: &mut Harness, name: &str, health: ForcedHealth) -> Vec<String> {
    let (b, s) = ids(h, name);
    let before = h.logs(LogSink::Stdout).len();
    h.lb.force_health(h.now, b, s, health);
    h.collect();
    h.logs(LogSink::Stdout).split_off(before)
}

fn two_servers() -> Harness {
    Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]))
}

#[test]
fn maintenance_takes_no_new_session_and_keeps_those_in_progress() {
    let mut h = two_servers();
    let mut on_s1 = None;
    for _ in 0..2 {
        let (client, conn, addr) = h.accept();
        if addr.port() == 8001 {
            h.connected(conn);
            on_s1 = Some((client, conn));
        }
    }
    let (client, conn) = on_s1.expect("round robin gave s1 one");
    let logs = set(&mut h, "s1", AdminState::Maint);
    assert_eq!(
        logs,
        [
            "Server app/s1 is going DOWN for maintenance. 1 active and 0 backup servers \
          left. 1 sessions active, 0 requeued, 0 remaining in queue."
        ]
    );
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002);
    }
    h.peer_sends(client, b"still");
    assert_eq!(h.drain(conn), b"still", "the session goes on");
    let logs = set(&mut h, "s1", AdminState::Ready);
    assert_eq!(
        logs,
        ["Server app/s1 is UP/READY (leaving forced maintenance)."]
    );
    let ports: Vec<u16> = (0..4).map(|_| h.accept().2.port()).collect();
    assert!(ports.contains(&8001), "{ports:?}");
}

#[test]
fn maintenance_stops_checks_and_leaving_it_checks_at_once() {
    let mut h = Harness::new(config(vec![checked("s1", 8001)]));
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    h.take();
    set(&mut h, "s1", AdminState::Maint);
    h.advance(Duration::from_secs(10));
    assert!(h.connects().is_empty(), "no check in maintenance");
    set(&mut h, "s1", AdminState::Ready);
    assert_eq!(h.connects().len(), 1, "checked at once");
}

#[test]
fn a_probe_in_flight_is_closed_by_maintenance() {
    let mut h = Harness::new(config(vec![checked("s1", 8001)]));
    let (probe, _) = h.connects()[0];
    set(&mut h, "s1", AdminState::Maint);
    assert!(h.closed(probe).is_some());
    h.connected(probe);
    let logs = h.logs(LogSink::Stdout);
    assert!(logs.iter().all(|l| !l.contains("is UP")), "{logs:?}");
}

#[test]
fn drain_takes_no_new_session_and_says_so() {
    let mut h = two_servers();
    let logs = set(&mut h, "s1", AdminState::Drain);
    assert_eq!(
        logs,
        [
            "Server app/s1 enters drain state. 1 active and 0 backup servers online. \
          0 sessions requeued, 0 total in queue."
        ]
    );
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002);
    }
    let logs = set(&mut h, "s1", AdminState::Ready);
    assert_eq!(logs, ["Server app/s1 is UP (leaving forced drain)."]);
}

#[test]
fn from_maintenance_to_drain_leaves_maintenance_draining() {
    let mut h = two_servers();
    set(&mut h, "s1", AdminState::Maint);
    let logs = set(&mut h, "s1", AdminState::Drain);
    assert_eq!(
        logs,
        [
            "Server app/s1 is UP/DRAIN (leaving forced maintenance).",
            "Server app/s1 remains in forced drain mode."
        ],
        "as HAProxy 2.6.12 logs it"
    );
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002);
    }
}

#[test]
fn the_last_server_in_maintenance_leaves_the_backend_without_servers() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let logs = set(&mut h, "s1", AdminState::Maint);
    assert_eq!(logs[1], "backend app has no server available!");
}

#[test]
fn forced_health_is_logged_as_changed_from_cli() {
    let mut h = two_servers();
    let logs = force(&mut h, "s1", ForcedHealth::Down);
    assert_eq!(
        logs,
        [
            "Server app/s1 is DOWN, changed from CLI. 1 active and 0 backup servers left. \
          0 sessions active, 0 requeued, 0 remaining in queue."
        ]
    );
    let logs = force(&mut h, "s1", ForcedHealth::Stopping);
    assert_eq!(
        logs,
        [
            "Server app/s1 is stopping, changed from CLI. 1 active and 0 backup servers \
          online. 0 sessions requeued, 0 total in queue."
        ]
    );
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002, "stopping takes no new session");
    }
    let logs = force(&mut h, "s1", ForcedHealth::Up);
    assert_eq!(
        logs,
        [
            "Server app/s1 is UP, changed from CLI. 2 active and 0 backup servers online. \
          0 sessions requeued, 0 total in queue."
        ]
    );
}

#[test]
fn a_server_coming_up_counts_the_sessions_it_takes_from_the_queue() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    force(&mut h, "s1", ForcedHealth::Down);
    let client = h.try_accept().expect("queued");
    let logs = force(&mut h, "s1", ForcedHealth::Up);
    assert!(
        logs[0].ends_with(
            "1 active and 0 backup servers online. 1 sessions requeued, 0 total in queue."
        ),
        "{logs:?}"
    );
    assert!(h.closed(client).is_none());
}

#[test]
fn a_disabled_server_is_not_checked_until_it_leaves_maintenance() {
    let mut off = checked("s1", 8001);
    off.disabled = true;
    let mut h = Harness::new(config(vec![off, server("s2", 8002)]));
    h.advance(Duration::from_secs(10));
    assert!(h.connects().is_empty(), "no check in maintenance");
    let logs = set(&mut h, "s1", AdminState::Ready);
    assert_eq!(
        logs,
        ["Server app/s1 is UP/READY (leaving forced maintenance)."],
        "'disabled' is forced maintenance in HAProxy too"
    );
    assert_eq!(h.connects().len(), 1, "checked at once");
}

#[test]
fn the_back_of_a_listen_without_servers_is_named_a_proxy() {
    // HAProxy 2.6.12: "proxy fe has no server available!" for a `listen`
    // (proxy_type_str), "backend app ..." for a `backend`.
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.backends[0].listen = true;
    let mut h = Harness::new(cfg);
    let logs = set(&mut h, "s1", AdminState::Maint);
    assert_eq!(logs[1], "proxy app has no server available!");
}
