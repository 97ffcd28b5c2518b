//! `source`: every connection to a server (traffic, checks, agents) is
//! asked to bind to the server's source, else its backend's; a port
//! range hands out its ports as HAProxy's ring; a connection that cannot
//! be bound fails as in HAProxy 2.6 (its alert, the check's text, a retry
//! at once).

use super::*;
use crate::SourceBind;

/// The configuration with `backend` as the lines of backend `app`
/// (servers included), traffic and health lines logged to stdout.
fn config(backend: &str) -> crate::config::Config {
    let text = format!(
        "global\n log stdout format raw local0\n\
         defaults\n log global\n option tcplog\n option log-health-checks\n \
         timeout connect 5s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind :9091\n default_backend app\n\
         backend app\n{backend}"
    );
    let parsed = crate::config::parse(&[crate::config::Source::new("t.cfg", &text)], &mut |_| None)
        .unwrap_or_else(|e| panic!("{e:?}"));
    parsed.config
}

/// A balancer running [`config`] of `backend`.
fn harness(backend: &str) -> Harness {
    Harness::new(config(backend))
}

/// The connects asked for so far: id, address, source.
fn connects(h: &Harness) -> Vec<(ConnId, SocketAddr, Option<SourceBind>)> {
    (h.actions.iter())
        .filter_map(|a| match a {
            Action::Connect {
                conn, addr, source, ..
            } => Some((*conn, *addr, source.clone())),
            _ => None,
        })
        .collect()
}

/// The source address of the connects to port `port`.
fn sources_to(h: &Harness, port: u16) -> Vec<Option<SocketAddr>> {
    (connects(h).into_iter())
        .filter(|(_, addr, _)| addr.port() == port)
        .map(|(_, _, source)| source.map(|s| s.addr))
        .collect()
}

fn sa(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn stdout(h: &Harness) -> Vec<String> {
    h.logs(LogSink::Stdout)
}

/// Advances until a check of the server asks to connect; returns it.
fn first_check(h: &mut Harness) -> ConnId {
    for _ in 0..100 {
        let found = (h.connects().into_iter())
            .find(|&(c, _)| matches!(h.lb.role(c), Some(crate::proxy::Role::Check(..))));
        if let Some((conn, _)) = found {
            return conn;
        }
        h.advance(Duration::from_millis(100));
    }
    panic!("no check");
}

#[test]
fn traffic_checks_and_agents_bind_to_the_servers_source_else_the_backends() {
    let mut h = harness(
        " source 127.0.0.9\n \
         server s1 127.0.0.1:8001 check inter 1s agent-check agent-port 9999 agent-inter 1s \
         source 127.0.0.2 interface lo\n \
         server s2 127.0.0.1:8002\n",
    );
    first_check(&mut h);
    for _ in 0..30 {
        if !sources_to(&h, 9999).is_empty() {
            break;
        }
        h.advance(Duration::from_millis(100));
    }
    for _ in 0..4 {
        let (_, server, _) = h.accept();
        h.connected(server);
    }
    let s1 = sources_to(&h, 8001);
    let s2 = sources_to(&h, 8002);
    let agent = sources_to(&h, 9999);
    assert!(
        s1.len() >= 2 && !s2.is_empty() && !agent.is_empty(),
        "{:?}",
        connects(&h)
    );
    assert!(s1.iter().all(|s| *s == Some(sa("127.0.0.2:0"))), "{s1:?}");
    assert!(s2.iter().all(|s| *s == Some(sa("127.0.0.9:0"))), "{s2:?}");
    assert!(
        agent.iter().all(|s| *s == Some(sa("127.0.0.2:0"))),
        "{agent:?}"
    );
    let interfaces: Vec<Option<String>> = (connects(&h).into_iter())
        .filter(|(_, addr, _)| addr.port() != 8002)
        .map(|(_, _, s)| s.and_then(|s| s.interface).map(|i| i.to_string()))
        .collect();
    assert!(interfaces.iter().all(|i| i.as_deref() == Some("lo")));
}

#[test]
fn without_source_the_kernel_chooses() {
    let mut h = harness(" server s1 127.0.0.1:8001 check inter 1s\n");
    first_check(&mut h);
    h.accept();
    let all = sources_to(&h, 8001);
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(Option::is_none));
}

#[test]
fn a_bind_failure_is_alerted_and_retried_at_once() {
    // Without redispatch a refused connect waits before its retry; a
    // failure to bind does not (HAProxy's `SF_ERR_RESOURCE`).
    let mut h = harness(
        " source 192.0.2.1\n retries 2\n no option redispatch\n server s1 127.0.0.1:8001\n",
    );
    let (_, mut conn, _) = h.accept();
    let alert = "Cannot bind to source address before connect() for backend app.";
    for attempt in 0..3 {
        h.take();
        h.event(Event::Connected {
            conn,
            result: Err(ConnError::CantBind(libc::EADDRNOTAVAIL)),
        });
        assert!(stdout(&h).iter().any(|l| l == alert), "{:?}", stdout(&h));
        let next = connects(&h);
        if attempt < 2 {
            assert_eq!(next.len(), 1, "attempt {attempt}: {next:?}");
            conn = next[0].0;
        } else {
            assert!(next.is_empty());
        }
    }
    let line = (stdout(&h).into_iter())
        .find(|l| l.contains(" fe app/s1 "))
        .expect("a tcplog line");
    assert!(line.contains(" SC ") && line.ends_with("/2 0/0"), "{line}");
}

#[test]
fn a_bind_failure_ends_the_session_logged_sc_with_its_retries() {
    let mut h = harness(" source 192.0.2.1\n retries 1\n server s1 127.0.0.1:8001\n");
    let (_, mut conn, _) = h.accept();
    for _ in 0..2 {
        h.take();
        h.event(Event::Connected {
            conn,
            result: Err(ConnError::CantBind(libc::EADDRNOTAVAIL)),
        });
        if let Some(next) = connects(&h).first() {
            conn = next.0;
        }
    }
    let line = (stdout(&h).into_iter())
        .find(|l| l.contains(" fe app/s1 "))
        .expect("a tcplog line");
    assert!(line.contains(" SC "), "{line}");
    assert!(line.ends_with("/1 0/0"), "{line}");
}

#[test]
fn a_check_that_cannot_bind_fails_with_haproxys_text() {
    let mut h =
        harness(" source 192.0.2.1\n server s1 127.0.0.1:8001 check inter 1s rise 1 fall 1\n");
    let probe = first_check(&mut h);
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::CantBind(libc::EADDRNOTAVAIL)),
    });
    let logs = stdout(&h);
    assert!(
        logs.iter()
            .any(|l| l == "Cannot bind to source address before connect() for backend app."),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l
            == "Health check for server app/s1 failed, reason: Layer4 connection problem, \
                info: \"Can't bind to source address (Cannot assign requested address)\", \
                check duration: 0ms, status: 0/1 DOWN."),
        "{logs:?}"
    );
}

/// Ends the session whose server side is `server` (the client resets).
fn end(h: &mut Harness, client: ConnId) {
    h.event(Event::Failed {
        conn: client,
        error: ConnError::Reset,
    });
}

#[test]
fn a_port_range_hands_out_its_ports_in_order_and_takes_them_back_at_the_end() {
    let mut h = harness(" server s1 127.0.0.1:8001 source 127.0.0.2:5000-5002\n");
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(h.accept().0);
    }
    let ports = |h: &Harness| -> Vec<u16> {
        (sources_to(h, 8001).into_iter())
            .map(|s| s.expect("a source").port())
            .collect()
    };
    assert_eq!(ports(&h), [5000, 5001, 5002]);
    h.take();
    // Freed 5001 then 5000: they come back in that order.
    end(&mut h, clients[1]);
    end(&mut h, clients[0]);
    h.accept();
    h.accept();
    assert_eq!(ports(&h), [5001, 5000]);
}

#[test]
fn with_no_free_port_the_connection_fails_and_nothing_of_it_reaches_the_driver() {
    let mut h = harness(" retries 1\n server s1 127.0.0.1:8001 source 127.0.0.2:5000-5001\n");
    h.accept();
    h.accept();
    let announced: Vec<ConnId> = connects(&h).iter().map(|c| c.0).collect();
    h.take();
    let client = h.try_accept().expect("accepted");
    assert!(connects(&h).is_empty(), "no port, no connect");
    for action in &h.actions {
        if let Action::Close { conn, .. } | Action::Interest { conn, .. } = action {
            assert!(*conn == client || announced.contains(conn), "{action:?}");
        }
    }
    let logs = stdout(&h);
    assert!(
        logs.iter()
            .any(|l| l == "Cannot bind to source address before connect() for backend app."),
        "{logs:?}"
    );
    let line = (logs.iter())
        .find(|l| l.contains(" fe app/s1 "))
        .expect("logged");
    assert!(line.contains(" SC ") && line.ends_with("/1 0/0"), "{line}");
    assert_eq!(h.closed(client), Some(false));
}

#[test]
fn a_check_with_no_free_port_says_the_range_is_exhausted() {
    let mut h = harness(
        " server s1 127.0.0.1:8001 check inter 1s rise 1 fall 1 source 127.0.0.2:5000-5001\n",
    );
    // The first check takes 5000 and gives it back; two sessions take
    // both ports, and the next check finds none.
    let probe = first_check(&mut h);
    h.connected(probe);
    h.accept();
    h.accept();
    h.advance(Duration::from_millis(1500));
    let logs = stdout(&h);
    assert!(
        logs.iter().any(|l| l.starts_with(
            "Health check for server app/s1 failed, reason: Layer4 connection problem, info: \
             \"Source port range exhausted\""
        )),
        "{logs:?}"
    );
}

fn reload_text(h: &mut Harness, backend: &str) {
    h.lb.reload(h.now, config(backend));
    h.collect();
}

#[test]
fn a_reload_changes_the_source_of_new_connections() {
    let mut h = harness(" server s1 127.0.0.1:8001 source 127.0.0.2\n");
    h.accept();
    reload_text(&mut h, " server s1 127.0.0.1:8001 source 127.0.0.3\n");
    h.take();
    h.accept();
    assert_eq!(sources_to(&h, 8001), [Some(sa("127.0.0.3:0"))]);
    h.take();
    reload_text(&mut h, " source 127.0.0.4\n server s1 127.0.0.1:8001\n");
    h.accept();
    assert_eq!(sources_to(&h, 8001), [Some(sa("127.0.0.4:0"))]);
}

#[test]
fn a_reload_with_a_new_range_starts_it_and_ports_of_the_old_one_stay_out() {
    let mut h = harness(" server s1 127.0.0.1:8001 source 127.0.0.2:5000-5001\n");
    let old = h.accept().0;
    reload_text(
        &mut h,
        " server s1 127.0.0.1:8001 source 127.0.0.2:6000-6001\n",
    );
    h.take();
    h.accept();
    end(&mut h, old);
    h.accept();
    let ports: Vec<u16> = (sources_to(&h, 8001).into_iter())
        .map(|s| s.expect("a source").port())
        .collect();
    assert_eq!(ports, [6000, 6001]);
    h.take();
    h.try_accept();
    assert!(connects(&h).is_empty(), "5000 is not in the new range");
}
