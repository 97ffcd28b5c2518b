//! Reload in place: what a new configuration keeps, adds and removes, and
//! that no session is cut by it.

use super::*;
use crate::id::{BackendId, ServerId};
use crate::runtime_api::Level;

/// Backend `app`'s live server `name`.
fn id_of(h: &Harness, name: &str) -> Option<(BackendId, ServerId)> {
    let (b, backend) = h.lb.backends.iter().find(|(_, x)| !x.retired)?;
    let (s, _) = (backend.servers.iter()).find(|(_, x)| !x.retired && x.config.name == name)?;
    Some((b, s))
}

/// Servers named in line order (so that new ones list after old ones).
fn lined(servers: Vec<Server>) -> Vec<Server> {
    (servers.into_iter().zip(1..))
        .map(|(mut s, line)| {
            s.origin.line = line;
            s
        })
        .collect()
}

fn reload(h: &mut Harness, config: Config) -> crate::ReloadReport {
    let report = h.lb.reload(h.now, config);
    h.collect();
    report
}

fn command(h: &mut Harness, line: &str) -> String {
    let answer = h.lb.handle_command(h.now, line, Level::Admin);
    h.collect();
    answer
}

/// The `show stat` line of `app/name` (`pxname,svname,...`).
fn stat_line(h: &mut Harness, name: &str) -> Option<String> {
    let stat = command(h, "show stat");
    let prefix = format!("app,{name},");
    stat.lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_owned)
}

/// Field `i` (0-based) of a `show stat` line.
fn field(line: &str, i: usize) -> String {
    line.split(',').nth(i).unwrap_or_default().to_owned()
}

const STOT: usize = 7;
const STATUS: usize = 17;

#[test]
fn a_kept_server_keeps_its_id_health_counters_and_sessions() {
    let servers = lined(vec![checked("s1", 8001), checked("s2", 8002)]);
    let mut h = Harness::new(config(servers.clone()));
    // s2's checks fail until it is DOWN; s1's pass.
    for _ in 0..4 {
        for (probe, addr) in h.connects() {
            let result = match addr.port() {
                8002 => Err(ConnError::Refused),
                _ => Ok(()),
            };
            h.event(Event::Connected {
                conn: probe,
                result,
            });
        }
        h.take();
        h.advance(Duration::from_secs(2));
    }
    h.take();
    let (client, srv, addr) = h.accept();
    assert_eq!(addr.port(), 8001, "s2 is DOWN");
    h.connected(srv);
    let ids = (id_of(&h, "s1"), id_of(&h, "s2"));
    let before = stat_line(&mut h, "s1").unwrap();

    let mut next = config(servers);
    next.backends[0].timeout_server = Some(Duration::from_secs(30));
    let report = reload(&mut h, next);

    assert_eq!(report.servers.kept, 2);
    assert!(report.opened.is_empty() && report.closed.is_empty());
    assert_eq!((id_of(&h, "s1"), id_of(&h, "s2")), ids, "same ids");
    let logs = h.logs(LogSink::Stdout);
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("is UP") || l.contains("is DOWN")),
        "{logs:?}"
    );
    let after = stat_line(&mut h, "s1").unwrap();
    assert_eq!(field(&after, STOT), field(&before, STOT), "counters kept");
    assert_eq!(field(&after, STATUS), "UP");
    assert_eq!(field(&stat_line(&mut h, "s2").unwrap(), STATUS), "DOWN");
    h.peer_sends(client, b"after the reload");
    assert_eq!(h.drain(srv), b"after the reload", "the session goes on");
    assert_eq!(h.accept().2.port(), 8001, "s2 is still DOWN");
}

#[test]
fn drain_and_weight_set_at_run_time_survive_unless_the_file_changes_them() {
    let servers = lined(vec![server("s1", 8001), server("s2", 8002)]);
    let mut h = Harness::new(config(servers.clone()));
    command(&mut h, "set server app/s1 state drain");
    command(&mut h, "set weight app/s2 7");
    reload(&mut h, config(servers.clone()));
    for _ in 0..3 {
        assert_eq!(h.accept().2.port(), 8002, "s1 still drains");
    }
    assert_eq!(command(&mut h, "get weight app/s2"), "7 (initial 1)\n\n");

    let mut changed = servers;
    changed[1].weight = 3;
    reload(&mut h, config(changed));
    assert_eq!(
        command(&mut h, "get weight app/s2"),
        "3 (initial 3)\n\n",
        "the file changed the weight"
    );
}

#[test]
fn disabled_added_in_the_file_enters_maintenance_with_haproxy_s_line() {
    let servers = lined(vec![server("s1", 8001), server("s2", 8002)]);
    let mut h = Harness::new(config(servers.clone()));
    let mut changed = servers;
    changed[0].disabled = true;
    h.take();
    reload(&mut h, config(changed));
    let logs = h.logs(LogSink::Stdout);
    assert!(
        logs.iter().any(|l| l
            == "Server app/s1 is going DOWN for maintenance. 1 active and 0 \
                                   backup servers left. 0 sessions active, 0 requeued, 0 \
                                   remaining in queue."),
        "{logs:?}"
    );
    for _ in 0..3 {
        assert_eq!(h.accept().2.port(), 8002);
    }
}

#[test]
fn a_removed_server_takes_no_new_session_and_is_freed_after_its_last_one() {
    let mut h = Harness::new(config(lined(vec![checked("s1", 8001), server("s2", 8002)])));
    let (probe, _) = h.connects()[0];
    let (client, srv) = loop {
        let (client, srv, addr) = h.accept();
        if addr.port() == 8001 {
            break (client, srv);
        }
    };
    h.connected(srv);
    let (b, s1) = id_of(&h, "s1").unwrap();
    h.take();
    let report = reload(&mut h, config(lined(vec![server("s2", 8002)])));
    assert_eq!(report.servers.removed, 1);
    assert!(h.closed(probe).is_some(), "its check stops");
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002, "no new session to s1");
    }
    assert!(stat_line(&mut h, "s1").is_none(), "gone from the stats");
    assert!(command(&mut h, "get weight app/s1").contains("No such server"));
    h.peer_sends(client, b"still here");
    assert_eq!(h.drain(srv), b"still here", "its session goes on");
    assert!(
        h.lb.backends[b].servers.get(s1).is_some(),
        "kept for its session"
    );
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn: srv });
    h.advance(Duration::from_millis(1));
    assert!(h.lb.backends[b].servers.get(s1).is_none(), "freed");
    h.advance(Duration::from_secs(10));
    assert!(
        h.connects().iter().all(|(_, a)| a.port() != 8001),
        "no timer of the old server reaches anything"
    );
}

#[test]
fn a_new_address_makes_a_new_server_and_the_old_one_finishes_its_sessions() {
    let mut h = Harness::new(config(lined(vec![server("s1", 8001)])));
    let (client, srv, _) = h.accept();
    h.connected(srv);
    let old = id_of(&h, "s1").unwrap();
    let report = reload(&mut h, config(lined(vec![server("s1", 8011)])));
    assert_eq!((report.servers.added, report.servers.removed), (1, 1));
    let new = id_of(&h, "s1").unwrap();
    assert_ne!(new, old);
    assert_eq!(h.accept().2.port(), 8011);
    h.peer_sends(client, b"old address");
    assert_eq!(h.drain(srv), b"old address");
    let stat = stat_line(&mut h, "s1").unwrap();
    assert_eq!(
        field(&stat, STOT),
        "1",
        "the new server's counters start at 0"
    );
}

#[test]
fn a_new_server_starts_up_and_gets_its_first_check() {
    let mut h = Harness::new(config(lined(vec![server("s1", 8001)])));
    h.take();
    let report = reload(
        &mut h,
        config(lined(vec![server("s1", 8001), checked("s3", 8003)])),
    );
    assert_eq!(report.servers.added, 1);
    let status = field(&stat_line(&mut h, "s3").unwrap(), STATUS);
    assert_eq!(status, "UP 1/3", "as HAProxy starts a checked server");
    let ports: Vec<u16> = (0..2).map(|_| h.accept().2.port()).collect();
    assert!(ports.contains(&8003), "it takes traffic at once: {ports:?}");
    h.advance(Duration::from_secs(2));
    assert!(
        h.connects().iter().any(|(_, a)| a.port() == 8003),
        "checked within one interval"
    );
}

#[test]
fn a_removed_server_s_queue_moves_to_the_servers_left() {
    let mut s1 = server("s1", 8001);
    s1.maxconn = 1;
    let mut h = Harness::new(config(lined(vec![s1])));
    let (_, first, _) = h.accept();
    h.connected(first);
    let waiting = h.try_accept().expect("queued");
    h.take();
    reload(&mut h, config(lined(vec![server("s2", 8002)])));
    let connects = h.connects();
    assert_eq!(connects.len(), 1, "{connects:?}");
    assert_eq!(connects[0].1.port(), 8002, "the queued one goes to s2");
    h.connected(connects[0].0);
    h.peer_sends(waiting, b"served");
    assert_eq!(h.drain(connects[0].0), b"served");
}

#[test]
fn listeners_keep_their_id_new_ones_are_opened_removed_ones_closed() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, srv, _) = h.accept();
    h.connected(srv);
    let mut next = config(vec![server("s1", 8001)]);
    let extra = SocketAddr::from(([127, 0, 0, 1], 9092));
    next.frontends[0].binds.push(Bind {
        addr: extra,
        accept_proxy: false,
        options: Default::default(),
        origin: origin(),
    });
    assert_eq!(
        h.lb.listeners_to_bind(&next),
        [crate::ListenAddr::Tcp(extra)]
    );
    let report = reload(&mut h, next.clone());
    assert!(report.closed.is_empty());
    assert_eq!(report.opened.len(), 1);
    let opened = report.opened[0];
    assert_ne!(opened, L0, "the kept address keeps its id");
    assert_eq!(
        h.lb.listener_addr(opened),
        Some(crate::ListenAddr::Tcp(extra))
    );
    assert_eq!(
        h.lb.listener_addr(L0),
        Some(crate::ListenAddr::Tcp("127.0.0.1:9091".parse().unwrap()))
    );

    // The first address goes: closed, its session goes on, its id dead.
    next.frontends[0].binds.remove(0);
    let report = reload(&mut h, next);
    assert_eq!(report.closed, [L0]);
    assert!(report.opened.is_empty());
    assert!(
        h.try_accept().is_none(),
        "nothing accepted on a closed listener"
    );
    h.peer_sends(client, b"goes on");
    assert_eq!(h.drain(srv), b"goes on");
    let peer = SocketAddr::from(([10, 0, 0, 9], 1234));
    assert!(h.lb.accept(h.now, opened, peer, extra).is_some());
}

#[test]
fn a_removed_frontend_and_backend_finish_their_sessions_then_go() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, srv, _) = h.accept();
    h.connected(srv);
    let mut next = config(vec![server("t1", 8101)]);
    next.frontends[0].name = "fe2".into();
    next.frontends[0].binds[0].addr = SocketAddr::from(([127, 0, 0, 1], 9093));
    next.backends[0].name = "app2".into();
    let report = reload(&mut h, next);
    assert_eq!((report.frontends.added, report.frontends.removed), (1, 1));
    assert_eq!((report.backends.added, report.backends.removed), (1, 1));
    assert_eq!(report.closed, [L0]);
    let stat = command(&mut h, "show stat");
    assert!(
        !stat.contains("\nfe,") && !stat.contains("\napp,"),
        "{stat}"
    );
    h.peer_sends(client, b"old proxies");
    assert_eq!(h.drain(srv), b"old proxies");
    h.event(Event::Failed {
        conn: client,
        error: ConnError::Reset,
    });
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.lb.frontends.values().count(),
        1,
        "the old frontend is freed"
    );
    assert_eq!(
        h.lb.backends.values().count(),
        1,
        "the old backend is freed"
    );
    let logs = h.logs(LogSink::Stdout);
    assert!(
        logs.iter().any(|l| l.contains(" fe app/s1 ")),
        "logged as before: {logs:?}"
    );
}

#[test]
fn the_timeouts_of_the_new_file_apply_to_new_sessions() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let mut next = config(vec![server("s1", 8001)]);
    next.backends[0].timeout_connect = Some(Duration::from_millis(100));
    next.backends[0].retries = 0;
    reload(&mut h, next);
    h.accept();
    h.advance(Duration::from_millis(100));
    let logs = h.logs(LogSink::Stdout);
    assert!(
        logs.iter().any(|l| l.contains(" sC ")),
        "the 100 ms connect timeout applies: {logs:?}"
    );
}

#[test]
fn a_changed_rise_and_fall_keep_the_server_up() {
    let servers = lined(vec![checked("s1", 8001)]);
    let mut h = Harness::new(config(servers.clone()));
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    let mut changed = servers;
    changed[0].rise = 5;
    changed[0].fall = 1;
    reload(&mut h, config(changed));
    assert_eq!(field(&stat_line(&mut h, "s1").unwrap(), STATUS), "UP");
    // fall 1: one failed check is enough now.
    h.take();
    h.advance(Duration::from_secs(2));
    let (probe, _) = *h.connects().last().expect("a check");
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    assert_eq!(field(&stat_line(&mut h, "s1").unwrap(), STATUS), "DOWN");
}

#[test]
fn removing_check_brings_a_down_server_up() {
    let servers = lined(vec![checked("s1", 8001)]);
    let mut h = Harness::new(config(servers));
    let (probe, _) = h.connects()[0];
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    assert_eq!(field(&stat_line(&mut h, "s1").unwrap(), STATUS), "DOWN");
    reload(&mut h, config(lined(vec![server("s1", 8001)])));
    assert_eq!(field(&stat_line(&mut h, "s1").unwrap(), STATUS), "no check");
}

/// A configuration with a TCP stats socket at level admin.
fn with_stats(servers: Vec<Server>) -> Config {
    let mut cfg = config(servers);
    let socket = crate::config::StatsSocket {
        addr: crate::config::StatsAddr::Tcp("127.0.0.1:9999".parse().unwrap()),
        mode: None,
        uid: None,
        gid: None,
        level: Level::Admin,
        expose_fd: false,
        origin: origin(),
    };
    cfg.global.runtime_api.sockets.push(socket);
    cfg
}

/// A connection to the stats socket that sent `reload`.
fn reload_command(h: &mut Harness) -> ConnId {
    let (id, addr) = (h.lb.listeners())
        .find_map(|(id, a)| match a {
            crate::ListenAddr::Tcp(addr) if addr.port() == 9999 => Some((id, addr)),
            _ => None,
        })
        .unwrap();
    let peer = "127.0.0.1:50000".parse().unwrap();
    let cli = h.lb.accept(h.now, id, peer, addr).expect("accepted");
    h.collect();
    h.take();
    h.peer_sends(cli, b"reload\n");
    cli
}

#[test]
fn a_reload_command_asks_the_driver_and_answers_with_the_result() {
    let mut h = Harness::new(with_stats(vec![server("s1", 8001)]));
    let cli = reload_command(&mut h);
    let asked = h.take().iter().filter(|a| **a == Action::Reload).count();
    assert_eq!(asked, 1, "the driver is asked once");
    assert!(h.drain(cli).is_empty(), "no answer before the reload");
    reload(
        &mut h,
        with_stats(vec![server("s1", 8001), server("s2", 8002)]),
    );
    let answer = String::from_utf8(h.drain(cli)).unwrap();
    assert!(
        answer.starts_with("Success=1\n--\nConfiguration reloaded: frontends 1 kept"),
        "{answer:?}"
    );
    assert!(
        answer.contains("servers 1 kept, 1 added, 0 removed"),
        "{answer:?}"
    );
    assert!(
        h.closed(cli).is_some(),
        "answered and closed, as any command"
    );
}

#[test]
fn a_failed_reload_answers_the_errors_and_changes_nothing() {
    let mut h = Harness::new(with_stats(vec![server("s1", 8001)]));
    let cli = reload_command(&mut h);
    let errors = [
        "w.cfg:3: unknown keyword 'bnd' in frontend section".to_owned(),
        "Fatal errors found in configuration.".to_owned(),
    ];
    h.lb.reload_failed(h.now, &errors);
    h.collect();
    assert_eq!(
        String::from_utf8(h.drain(cli)).unwrap(),
        "Success=0\n--\nw.cfg:3: unknown keyword 'bnd' in frontend section\n\
         Fatal errors found in configuration.\n\n"
    );
    assert_eq!(h.accept().2.port(), 8001);
}

#[test]
fn reload_needs_the_admin_level() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let answer = h.lb.handle_command(h.now, "reload", Level::Operator);
    assert_eq!(answer, "Permission denied\n\n");
    assert!(!h.take().contains(&Action::Reload));
}
