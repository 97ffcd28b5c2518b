//! Connection life: `timeout tunnel`, `client-fin`, `server-fin`, soft
//! stop with `hard-stop-after`, keep-alive and nolinger, and accounting
//! over many sessions ended in every way.

use std::time::Duration;

use super::{Harness, L0, config, server};
use crate::action::{Action, Event, LogSink};
use crate::config::Config;
use crate::id::ConnId;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One server; client 10s, server 20s, connect 30s (out of the way).
fn base() -> Config {
    let mut cfg = config(vec![server("s1", 8001)]);
    cfg.backends[0].timeout_connect = Some(secs(30));
    cfg
}

fn tunnel(t: u64) -> Config {
    let mut cfg = base();
    cfg.backends[0].timeout_tunnel = Some(secs(t));
    cfg
}

/// The termination state of the only tcplog line.
fn termination(h: &Harness) -> String {
    let logs = h.logs(LogSink::Stdout);
    assert_eq!(logs.len(), 1, "{logs:?}");
    let fields: Vec<&str> = logs[0].split(' ').collect();
    fields[fields.len() - 3].to_owned()
}

// ---- timeout tunnel ------------------------------------------------------

#[test]
fn tunnel_does_not_apply_before_the_server_is_connected() {
    let mut h = Harness::new(tunnel(60));
    let (client, _server, _) = h.accept();
    h.advance(secs(10) - MS);
    assert_eq!(h.lb.active_sessions(), 1);
    h.advance(MS);
    assert_eq!(h.closed(client), Some(false));
    assert_eq!(termination(&h), "cC");
}

#[test]
fn tunnel_replaces_client_and_server_timeouts_once_established() {
    let mut h = Harness::new(tunnel(60));
    let (client, _server) = h.session();
    h.advance(secs(59));
    assert_eq!(
        h.lb.active_sessions(),
        1,
        "client 10s and server 20s do not apply"
    );
    h.advance(secs(1));
    assert_eq!(h.closed(client), Some(false));
    assert_eq!(termination(&h), "cD");
}

#[test]
fn tunnel_inactivity_is_counted_per_side() {
    let mut h = Harness::new(tunnel(60));
    let (client, server) = h.session();
    h.advance(secs(30));
    h.peer_sends(client, b"ping");
    h.advance(secs(30));
    assert_eq!(h.closed(server), Some(false));
    assert_eq!(termination(&h), "sD", "the server side was idle for 60s");
}

// ---- timeout client-fin / server-fin -------------------------------------

#[test]
fn client_fin_applies_once_weir_forwarded_a_fin_to_the_client() {
    let mut cfg = base();
    cfg.frontends[0].timeout_client_fin = Some(secs(2));
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.advance(secs(1));
    h.event(Event::ReadClosed { conn: server });
    assert!(h.shut(client));
    h.advance(secs(2) - MS);
    assert_eq!(h.lb.active_sessions(), 1);
    h.advance(MS);
    assert_eq!(h.closed(client), Some(false));
    assert_eq!(termination(&h), "cD");
}

#[test]
fn without_tunnel_a_client_fin_keeps_timeout_client_on_the_client_side() {
    let mut cfg = base();
    cfg.frontends[0].timeout_client_fin = Some(secs(2));
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.event(Event::ReadClosed { conn: client });
    // A reply the client does not read keeps weir waiting on it.
    h.peer_sends(server, b"reply");
    h.advance(secs(5));
    assert_eq!(
        h.lb.active_sessions(),
        1,
        "client-fin is for FINs sent to the client"
    );
    h.advance(secs(5));
    assert_eq!(termination(&h), "cD");
}

#[test]
fn under_tunnel_the_client_fin_switches_the_client_side_to_client_fin() {
    let mut cfg = tunnel(60);
    cfg.frontends[0].timeout_client_fin = Some(secs(2));
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.event(Event::ReadClosed { conn: client });
    // A reply the client does not read keeps weir waiting on it.
    h.peer_sends(server, b"reply");
    h.advance(secs(2) - MS);
    assert_eq!(h.lb.active_sessions(), 1);
    h.advance(MS);
    assert_eq!(termination(&h), "cD");
}

#[test]
fn a_side_weir_does_not_wait_on_cannot_time_out() {
    // The client sent its FIN and weir has nothing to write to it: only
    // the server side, which weir reads, can time out (HAProxy's rule).
    let mut h = Harness::new(base());
    let (client, _server) = h.session();
    h.event(Event::ReadClosed { conn: client });
    h.advance(secs(20) - MS);
    assert_eq!(h.lb.active_sessions(), 1, "timeout client does not apply");
    h.advance(MS);
    assert_eq!(termination(&h), "sD");
}

#[test]
fn server_fin_applies_once_weir_forwarded_the_clients_fin() {
    let mut cfg = base();
    cfg.backends[0].timeout_server_fin = Some(secs(3));
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.event(Event::ReadClosed { conn: client });
    assert!(h.shut(server));
    // The client side (timeout client 10s) is refreshed meanwhile.
    h.peer_sends(server, b"reply");
    h.advance(secs(2));
    assert_eq!(h.drain(client), b"reply");
    h.advance(MS * 999);
    assert_eq!(
        h.lb.active_sessions(),
        1,
        "server data refreshed the server side"
    );
    h.advance(secs(2));
    assert_eq!(h.closed(server), Some(false));
    assert_eq!(termination(&h), "sD");
}

#[test]
fn fin_timeouts_left_unset_keep_the_side_timeout() {
    let mut h = Harness::new(base());
    let (client, server) = h.session();
    h.event(Event::ReadClosed { conn: server });
    h.advance(secs(9));
    h.peer_sends(client, b"x");
    h.drain(server);
    h.advance(secs(10) - MS);
    assert_eq!(h.lb.active_sessions(), 1);
    h.advance(MS);
    assert_eq!(termination(&h), "cD");
}

// ---- soft stop and hard-stop-after ---------------------------------------

#[test]
fn soft_stop_unbinds_and_lets_sessions_finish() {
    let mut h = Harness::new(base());
    let (client, server) = h.session();
    h.lb.soft_stop(h.now);
    h.collect();
    let actions = h.take();
    assert!(actions.contains(&Action::PauseAccept { listener: L0 }));
    assert!(actions.contains(&Action::Unbind { listener: L0 }));
    assert!(!h.lb.is_stopped());
    assert!(h.try_accept().is_none(), "no new connection");
    h.peer_sends(client, b"last words");
    assert_eq!(h.drain(server), b"last words");
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn: server });
    assert!(h.lb.is_stopped());
    assert_eq!(termination(&h), "--");
}

#[test]
fn soft_stop_without_sessions_is_stopped_at_once() {
    let mut h = Harness::new(base());
    assert!(!h.lb.is_stopped());
    h.lb.soft_stop(h.now);
    assert!(h.lb.is_stopped());
}

#[test]
fn hard_stop_after_kills_the_sessions_left_at_the_deadline_not_before() {
    let mut cfg = base();
    cfg.global.hard_stop_after = Some(secs(5));
    cfg.frontends[0].timeout_client = None;
    cfg.backends[0].timeout_server = None;
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.advance(secs(100));
    assert!(h.closed(client).is_none(), "no stop, no kill");
    h.lb.soft_stop(h.now);
    h.collect();
    h.advance(secs(5) - MS);
    assert!(h.closed(client).is_none() && !h.lb.is_stopped());
    h.advance(MS);
    assert_eq!(h.closed(client), Some(false));
    assert_eq!(h.closed(server), Some(false));
    assert_eq!(termination(&h), "KD");
    assert!(h.lb.is_stopped());
    assert_eq!(h.lb.poll_timeout(), None);
}

#[test]
fn shutdown_logs_every_session_it_ends_killed_in_its_phase() {
    // One established session, one connecting, one queued behind them.
    let mut cfg = base();
    cfg.backends[0].servers[0].maxconn = 2;
    let mut h = Harness::new(cfg);
    let (established, _) = h.session();
    let (connecting, _, _) = h.accept();
    let queued = h.try_accept().expect("queued");
    h.take();
    h.advance(secs(1));
    h.lb.shutdown(h.now);
    h.collect();
    for client in [established, connecting, queued] {
        assert!(h.closed(client).is_some(), "{client:?} closed");
    }
    let mut states: Vec<String> = h
        .logs(LogSink::Stdout)
        .iter()
        .map(|line| line.split(' ').rev().nth(2).unwrap_or_default().to_owned())
        .collect();
    states.sort();
    assert_eq!(states, ["KC", "KD", "KQ"]);
    assert!(
        h.connects().is_empty(),
        "no waiter was sent to a freed slot"
    );
    let warned = h.logs(LogSink::Diagnostic(log::Level::Warn));
    assert_eq!(warned, ["Stopping now: killing 3 sessions."]);
    assert_eq!(h.lb.active_sessions(), 0);
    assert_eq!(h.lb.buffers_in_use(), 0);
}

#[test]
fn a_second_soft_stop_does_not_move_the_deadline() {
    let mut cfg = base();
    cfg.global.hard_stop_after = Some(secs(5));
    let mut h = Harness::new(cfg);
    h.session();
    h.lb.soft_stop(h.now);
    h.advance(secs(3));
    h.lb.soft_stop(h.now);
    h.advance(secs(2));
    assert!(h.lb.is_stopped());
}

// ---- keep-alive and nolinger ---------------------------------------------

#[test]
fn keepalive_follows_the_accept_and_the_connect_of_each_side() {
    let mut cfg = base();
    cfg.frontends[0].tcpka = true;
    cfg.backends[0].tcpka = true;
    let mut h = Harness::new(cfg);
    let (client, server, addr) = h.accept();
    let actions = h.take();
    let at = actions
        .iter()
        .position(|a| {
            *a == Action::Connect {
                conn: server,
                addr,
                source: None,
                delay_ack: false,
            }
        })
        .expect("connect");
    assert_eq!(actions[at + 1], Action::KeepAlive { conn: server });
    assert!(actions.contains(&Action::KeepAlive { conn: client }));
}

#[test]
fn keepalive_is_per_side_and_off_by_default() {
    let mut h = Harness::new(base());
    h.accept();
    assert!(
        !h.take()
            .iter()
            .any(|a| matches!(a, Action::KeepAlive { .. }))
    );
    let mut cfg = base();
    cfg.backends[0].tcpka = true;
    let mut h = Harness::new(cfg);
    let (client, server, _) = h.accept();
    let actions = h.take();
    assert!(actions.contains(&Action::KeepAlive { conn: server }));
    assert!(!actions.contains(&Action::KeepAlive { conn: client }));
}

#[test]
fn nolinger_resets_its_side_on_a_normal_end() {
    let mut cfg = base();
    cfg.frontends[0].nolinger = true;
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.event(Event::ReadClosed { conn: client });
    h.event(Event::ReadClosed { conn: server });
    assert_eq!(h.closed(client), Some(true));
    assert_eq!(h.closed(server), Some(false));
    assert_eq!(termination(&h), "--");
    // The server's FIN still reaches the client before the reset: a
    // reset cannot carry it.
    let shutdown = (h.actions.iter())
        .position(|a| *a == Action::ShutdownWrite { conn: client })
        .expect("the client is shut down");
    let close =
        (h.actions.iter()).position(|a| matches!(a, Action::Close { conn, .. } if *conn == client));
    assert!(close.is_some_and(|close| shutdown < close));

    let mut cfg = base();
    cfg.backends[0].nolinger = true;
    let mut h = Harness::new(cfg);
    let (client, server) = h.session();
    h.advance(secs(10));
    assert_eq!(h.closed(client), Some(false));
    assert_eq!(h.closed(server), Some(true));
}

// ---- accounting ------------------------------------------------------------

/// xorshift64*: a fixed sequence, independent of core's PRNG.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the test driver knows of the connections core opened.
#[derive(Default)]
struct Ledger {
    open: std::collections::HashSet<ConnId>,
    opened: u64,
    closed: u64,
    tcplogs: u64,
    /// Termination states seen in tcplog lines, with their counts.
    endings: std::collections::BTreeMap<String, u64>,
    /// Recently closed ids, for stale events.
    stale: Vec<ConnId>,
}

impl Ledger {
    /// Checks the actions since the last call: ids are opened once,
    /// closed once, and never used in between.
    fn check(&mut self, h: &mut Harness) {
        for action in h.take() {
            match action {
                Action::Connect { conn, .. } => self.open_conn(conn),
                Action::Close { conn, .. } => {
                    assert!(self.open.remove(&conn), "close of a conn not open");
                    self.closed += 1;
                    if self.stale.len() < 16 {
                        self.stale.push(conn);
                    } else {
                        let i = (conn.to_u64() % 16) as usize;
                        self.stale[i] = conn;
                    }
                }
                Action::Interest { conn, .. }
                | Action::ShutdownWrite { conn }
                | Action::KeepAlive { conn } => {
                    assert!(self.open.contains(&conn), "{action:?} for a closed conn");
                }
                Action::Log(line) if line.sink == LogSink::Stdout => {
                    self.tcplogs += 1;
                    let fields: Vec<&str> = line.text.split(' ').collect();
                    let state = fields[fields.len() - 3].to_owned();
                    *self.endings.entry(state).or_default() += 1;
                }
                _ => {}
            }
        }
        h.interest.clear();
    }

    fn open_conn(&mut self, conn: ConnId) {
        assert!(self.open.insert(conn), "an id opened twice");
        self.opened += 1;
    }
}

/// The driver writes up to `max` bytes core has for `conn`.
fn write_some(h: &mut Harness, conn: ConnId, max: usize) {
    if let Some(buf) = h.lb.send_buf(conn) {
        let n = buf.len().min(max);
        h.lb.sent(h.now, conn, n);
        h.collect();
    }
}

#[test]
fn a_hundred_thousand_sessions_ended_every_way_leave_nothing_behind() {
    let mut cfg = config(vec![server("s1", 8001), server("s2", 8002)]);
    cfg.frontends[0].timeout_client_fin = Some(secs(2));
    cfg.backends[0].timeout_server_fin = Some(secs(3));
    cfg.backends[0].timeout_tunnel = Some(secs(15));
    cfg.frontends[0].nolinger = true;
    cfg.backends[0].tcpka = true;
    let mut h = Harness::new(cfg);
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut ledger = Ledger::default();
    let (mut accepted, mut steps) = (0u64, 0u64);
    let data = [7u8; 700];
    const SESSIONS: u64 = 100_000;
    while accepted < SESSIONS || h.lb.active_sessions() > 0 {
        steps += 1;
        assert!(steps < 100 * SESSIONS, "sessions do not end");
        let live = h.lb.active_sessions() as u64;
        if accepted < SESSIONS && (live == 0 || (live < 8 && rng.below(4) == 0)) {
            h.next_port = 1024 + (accepted % 60_000) as u16;
            let client = h.try_accept().expect("accepted");
            ledger.open_conn(client);
            accepted += 1;
            ledger.check(&mut h);
            continue;
        }
        if accepted >= SESSIONS && rng.below(8) == 0 {
            h.advance(MS * rng.below(30_000) as u32);
            ledger.check(&mut h);
            continue;
        }
        let pick = rng.below(live.max(1)) as usize;
        let Some((client, server, connecting)) = h.lb.sessions.iter().nth(pick).map(|(_, s)| {
            (
                s.client,
                s.server,
                s.phase != crate::session::Phase::Established,
            )
        }) else {
            h.advance(secs(1));
            ledger.check(&mut h);
            continue;
        };
        let any_server = server.unwrap_or(client);
        if connecting && server.is_some() && rng.below(3) == 0 {
            h.connected(any_server);
            ledger.check(&mut h);
            continue;
        }
        match rng.below(20) {
            0..=3 => {
                let n = 1 + rng.below(700) as usize;
                h.peer_sends(client, &data[..n]);
            }
            4..=6 => {
                let n = 1 + rng.below(700) as usize;
                h.peer_sends(any_server, &data[..n]);
            }
            7 | 8 => write_some(&mut h, any_server, rng.below(1000) as usize),
            9 | 10 => write_some(&mut h, client, rng.below(1000) as usize),
            11 if connecting => h.connected(any_server),
            11 => h.event(Event::ReadClosed { conn: client }),
            12 if connecting => h.event(Event::Connected {
                conn: any_server,
                result: Err(crate::action::ConnError::Refused),
            }),
            12 => h.event(Event::ReadClosed { conn: any_server }),
            13 => {
                let conn = if rng.below(2) == 0 {
                    client
                } else {
                    any_server
                };
                h.event(Event::Failed {
                    conn,
                    error: crate::action::ConnError::Reset,
                });
            }
            14 => {
                // A read that would block: the lent buffer comes back.
                let _ = h.lb.recv_buf(client);
                h.collect();
            }
            15 if !ledger.stale.is_empty() => {
                let conn = ledger.stale[rng.below(ledger.stale.len() as u64) as usize];
                h.event(Event::ReadClosed { conn });
                h.event(Event::Connected {
                    conn,
                    result: Ok(()),
                });
                assert!(h.lb.recv_buf(conn).is_none() && h.lb.send_buf(conn).is_none());
            }
            16 | 17 => h.advance(MS * rng.below(500) as u32),
            18 if rng.below(3) == 0 => h.advance(MS * rng.below(25_000) as u32),
            18 => h.advance(MS * rng.below(3_000) as u32),
            _ => {
                h.connected(any_server);
                h.event(Event::ReadClosed { conn: client });
                h.event(Event::ReadClosed { conn: any_server });
            }
        }
        ledger.check(&mut h);
    }
    // Stale timer entries pop and are dropped.
    h.advance(Duration::from_secs(3600));
    ledger.check(&mut h);
    assert_eq!(accepted, SESSIONS);
    assert_eq!(h.lb.active_sessions(), 0);
    assert_eq!(h.lb.buffers_in_use(), 0);
    assert_eq!(h.lb.poll_timeout(), None);
    assert!(
        ledger.open.is_empty(),
        "{} conns never closed",
        ledger.open.len()
    );
    assert_eq!(ledger.opened, ledger.closed);
    assert_eq!(ledger.tcplogs, SESSIONS, "one tcplog line per session");
    for state in ["--", "CC", "CD", "SC", "SD", "cC", "cD", "sC", "sD"] {
        let seen = ledger.endings.get(state).copied().unwrap_or(0);
        assert!(seen >= 100, "{state} ended only {seen} sessions");
    }
    assert!(h.lb.conns.is_empty() && h.lb.lent.is_none());
    assert_eq!(h.lb.active, 0);
    assert!(h.lb.frontends.values().all(|f| f.active == 0));
    let backend = h.lb.backends.values().next().unwrap();
    assert_eq!(backend.active, 0);
    assert!(backend.servers.values().all(|s| s.active == 0));
    assert!(backend.waiters.queue.is_empty() && backend.waiters.waiting == 0);
}

// ---- memory after bursts -------------------------------------------------

/// Opens `n` sessions, each holding a buffer of client bytes the server
/// has not taken yet; returns their client and server sides.
fn burst(h: &mut Harness, n: usize) -> Vec<(ConnId, ConnId)> {
    let sessions = (0..n)
        .map(|_| {
            let (client, server) = h.session();
            h.peer_sends(client, b"payload");
            (client, server)
        })
        .collect();
    h.take();
    sessions
}

/// What the balancer holds for sessions that are gone: free buffers and
/// room in its tables.
fn kept(h: &Harness) -> [usize; 5] {
    let lb = &h.lb;
    [
        lb.pool.free(),
        lb.sessions.capacity(),
        lb.conns.capacity(),
        lb.timers.capacity(),
        lb.actions.capacity(),
    ]
}

#[test]
fn a_burst_leaves_no_peak_of_buffers_or_table_room_behind() {
    let mut h = Harness::new(base());
    for round in 0..3 {
        let sessions = burst(&mut h, 1000);
        assert_eq!(h.lb.buffers_in_use(), 1000);
        for (client, _) in sessions {
            h.event(Event::Failed {
                conn: client,
                error: crate::action::ConnError::Reset,
            });
            h.take();
        }
        assert_eq!(h.lb.active_sessions(), 0);
        let kept = kept(&h);
        assert!(
            kept.iter().all(|&k| k <= super::super::LOW_WATER),
            "round {round}: {kept:?}"
        );
    }
}

#[test]
fn memory_goes_back_as_the_load_falls_not_only_when_it_ends() {
    let mut h = Harness::new(base());
    let sessions = burst(&mut h, 1000);
    // The newest sessions end first: the oldest keep the lowest slots.
    for &(client, _) in sessions[100..].iter().rev() {
        h.event(Event::Failed {
            conn: client,
            error: crate::action::ConnError::Reset,
        });
        h.take();
    }
    assert_eq!(h.lb.active_sessions(), 100);
    assert_eq!(h.lb.buffers_in_use(), 100);
    // A quarter of the peak (250) came back: the room left is at most
    // four times what 100 sessions (200 connections) use, and the free
    // buffers what the load held at once since then (250) less those in
    // use.
    let [free, sessions_room, conns, timers, _] = kept(&h);
    assert!(free <= 150, "{free} free buffers for 100 in use");
    assert!(
        sessions_room <= 400 && conns <= 800 && timers <= 400,
        "{:?}",
        kept(&h)
    );
    // The 100 go on moving bytes, one buffer each at most: within two
    // windows of the pool's mark, the free buffers fall to its low
    // watermark.
    for _ in 0..=2 * crate::buffer::WINDOW as usize / 100 {
        for &(client, server) in &sessions[..100] {
            assert_eq!(h.drain(server), b"payload");
            h.peer_sends(client, b"payload");
        }
    }
    assert_eq!(h.lb.buffers_in_use(), 100);
    assert!(
        h.lb.pool.free() <= super::super::LOW_WATER,
        "{:?}",
        kept(&h)
    );
    for &(client, _) in &sessions[..100] {
        h.event(Event::Failed {
            conn: client,
            error: crate::action::ConnError::Reset,
        });
    }
    let kept = kept(&h);
    assert!(
        kept.iter().all(|&k| k <= super::super::LOW_WATER),
        "{kept:?}"
    );
}
