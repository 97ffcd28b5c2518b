//! `http-check` and `tcp-check` rulesets run by a probe: several expect
//! rules, `connect` rules that open a new connection, `ok-status` and
//! the other statuses, `disable-on-404` and `send-state`, with HAProxy
//! 2.6's bytes and texts (the diff scenarios `http-check_multi_expect`,
//! `tcp-check_connect` and `http-check_options` compare them with
//! haproxy 2.6.12).

use super::*;

/// A balancer running `lines` as the check of `app/s1` (127.0.0.1:8001,
/// `inter 2s rise 1 fall 1`), health-check lines logged to stdout.
fn rules(lines: &str) -> Harness {
    let text = format!(
        "frontend fe\n bind :9091\n default_backend app\nbackend app\n \
         log stdout format raw local0\n option log-health-checks\n{lines}\n \
         server s1 127.0.0.1:8001 check inter 2s rise 1 fall 1 verify none\n"
    );
    let parsed = crate::config::parse(&[crate::config::Source::new("t.cfg", &text)], &mut |_| None)
        .unwrap_or_else(|e| panic!("{e:?}"));
    Harness::new(parsed.config)
}

/// The probe of the last connect, connected.
fn probe(h: &mut Harness) -> (ConnId, SocketAddr) {
    let (probe, addr) = *h.connects().last().expect("a check connect");
    h.connected(probe);
    (probe, addr)
}

fn health_lines(h: &Harness) -> Vec<String> {
    h.logs(LogSink::Stdout)
        .into_iter()
        .filter(|l| l.starts_with("Health check"))
        .collect()
}

#[test]
fn several_http_expects_are_judged_in_order_on_one_response() {
    let mut h = rules(
        " option httpchk GET /a\n http-check expect status 200\n \
         http-check expect string OK comment \"body says OK\"",
    );
    let (p, _) = probe(&mut h);
    assert_eq!(h.drain(p), b"GET /a HTTP/1.0\r\n\r\n");
    h.peer_sends(p, b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nBAD");
    assert_eq!(
        health_lines(&h),
        [
            "Health check for server app/s1 failed, reason: Layer7 invalid response, info: \
             \"HTTP content check did not match comment: body says OK\", check duration: 0ms, \
             status: 0/1 DOWN."
        ]
    );
    h.advance(Duration::from_secs(2));
    let (p, _) = probe(&mut h);
    h.drain(p);
    h.peer_sends(p, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nOK ok");
    assert_eq!(
        health_lines(&h)[1],
        "Health check for server app/s1 succeeded, reason: Layer7 check passed, code: 200, \
         check duration: 0ms, status: 1/1 UP."
    );
}

#[test]
fn a_later_expect_that_fails_on_status_reports_the_code() {
    let mut h =
        rules(" option httpchk\n http-check expect status 200\n http-check expect status 201");
    let (p, _) = probe(&mut h);
    h.drain(p);
    h.peer_sends(p, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert!(
        health_lines(&h)[0].contains("reason: Layer7 wrong status, code: 200, info: \"OK\""),
        "{:?}",
        health_lines(&h)
    );
}

#[test]
fn an_http_connect_chain_opens_a_connection_per_connect_rule() {
    let mut h = rules(
        " option httpchk\n http-check connect\n http-check send meth GET uri /first\n \
         http-check expect status 200\n http-check connect port 9000 linger\n \
         http-check send meth GET uri /second ver HTTP/1.1\n http-check expect status 200\n \
         http-check expect string fine",
    );
    let (first, addr) = probe(&mut h);
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 8001)));
    assert_eq!(h.drain(first), b"GET /first HTTP/1.0\r\n\r\n");
    h.peer_sends(first, b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(h.closed(first), Some(true), "an RST, as HAProxy's checks");
    let (second, addr) = probe(&mut h);
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 9000)));
    assert_eq!(
        h.drain(second),
        b"GET /second HTTP/1.1\r\nconnection: close\r\n\r\n"
    );
    h.peer_sends(second, b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfine");
    assert_eq!(h.closed(second), Some(false), "linger: a FIN");
    assert!(
        health_lines(&h)[0].contains("succeeded"),
        "{:?}",
        health_lines(&h)
    );
    assert_eq!(h.lb.buffers_in_use(), 0);
}

#[test]
fn a_tcp_check_connects_again_and_names_the_connect_step_on_failure() {
    let mut h = rules(
        " option tcp-check\n tcp-check connect\n tcp-check send a\n tcp-check expect string A\n \
         tcp-check connect port 9000 comment second\n tcp-check send b\n \
         tcp-check expect string B",
    );
    let (first, _) = probe(&mut h);
    assert_eq!(h.drain(first), b"a");
    h.peer_sends(first, b"A");
    let (second, addr) = *h.connects().last().unwrap();
    assert_eq!(addr.port(), 9000);
    assert_ne!(second, first);
    h.event(Event::Connected {
        conn: second,
        result: Err(ConnError::Refused),
    });
    assert_eq!(
        health_lines(&h),
        [
            "Health check for server app/s1 failed, reason: Layer4 connection problem, info: \
             \"Connection refused at step 4 of tcp-check (connect port 9000) comment: 'second'\", \
             check duration: 0ms, status: 0/1 DOWN."
        ]
    );
    h.advance(Duration::from_secs(2));
    let (first, _) = probe(&mut h);
    h.drain(first);
    h.peer_sends(first, b"A");
    let (second, _) = probe(&mut h);
    assert_eq!(h.drain(second), b"b");
    h.peer_sends(second, b"B");
    assert_eq!(
        health_lines(&h)[1],
        "Health check for server app/s1 succeeded, reason: Layer7 check passed, code: 0, \
         info: \"(tcp-check)\", check duration: 0ms, status: 1/1 UP."
    );
}

#[test]
fn a_timeout_after_a_second_connect_names_its_step() {
    let mut h = rules(
        " option tcp-check\n tcp-check connect\n tcp-check connect port 9000\n \
         tcp-check expect string B",
    );
    let (first, _) = probe(&mut h);
    let (second, _) = *h.connects().last().unwrap();
    assert_ne!(first, second, "the first connect is done at once");
    h.advance(Duration::from_secs(2));
    assert!(
        health_lines(&h)[0].contains(
            "reason: Layer4 timeout, info: \" at step 2 of tcp-check (connect port 9000)\""
        ),
        "{:?}",
        health_lines(&h)
    );
}

#[test]
fn statuses_chosen_by_expect_rules() {
    let mut h = rules(
        " option tcp-check\n tcp-check send x\n tcp-check expect string ok ok-status L7OKC \
         error-status L7STS tout-status L4TOUT status-code int(42)",
    );
    let (p, _) = probe(&mut h);
    h.drain(p);
    h.peer_sends(p, b"no");
    h.event(Event::ReadClosed { conn: p });
    assert_eq!(
        health_lines(&h)[0],
        "Health check for server app/s1 failed, reason: Layer7 wrong status, code: 42, info: \
         \"TCPCHK did not match content 'ok' at step 2\", check duration: 0ms, status: 0/1 DOWN."
    );
    h.advance(Duration::from_secs(2));
    let (p, _) = probe(&mut h);
    h.drain(p);
    h.advance(Duration::from_secs(2));
    assert!(
        health_lines(&h)[1].contains("reason: Layer4 timeout, info: \" at step 2 of tcp-check"),
        "{:?}",
        health_lines(&h)
    );
}

#[test]
fn disable_on_404_makes_an_up_server_nolb_and_a_200_brings_it_back() {
    let mut h = rules(" option httpchk\n http-check disable-on-404");
    let (p, _) = probe(&mut h);
    h.drain(p);
    h.peer_sends(p, b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    let logs = h.logs(LogSink::Stdout);
    assert_eq!(
        logs[0],
        "Health check for server app/s1 conditionally succeeded, reason: Layer7 check \
         conditionally passed, code: 404, check duration: 0ms, status: 1/1 UP."
    );
    assert!(logs[1].starts_with("Server app/s1 is stopping"), "{logs:?}");
    h.advance(Duration::from_secs(2));
    let (p, _) = probe(&mut h);
    h.drain(p);
    h.peer_sends(p, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let logs = h.logs(LogSink::Stdout);
    assert!(
        logs[3..]
            .iter()
            .any(|l| l.starts_with("Server app/s1 is UP")),
        "{logs:?}"
    );
}

#[test]
fn send_state_writes_the_server_state_header() {
    let mut h = rules(" option httpchk GET /s HTTP/1.1\n http-check send-state");
    let (p, _) = probe(&mut h);
    assert_eq!(
        String::from_utf8(h.drain(p)).unwrap(),
        "GET /s HTTP/1.1\r\nx-haproxy-server-state: UP; address=127.0.0.1; port=8001; \
         name=app/s1; node=; weight=1/1; scur=0/0; qcur=0\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn a_tls_connect_rule_passes_only_once_its_handshake_is_done() {
    let mut h = rules(" option tcp-check\n tcp-check connect ssl sni rule.example");
    let (p, _) = probe(&mut h);
    assert!(health_lines(&h).is_empty(), "not before the handshake");
    assert!(!h.drain(p).is_empty(), "the ClientHello");
    h.event(Event::Failed {
        conn: p,
        error: ConnError::Reset,
    });
    assert_eq!(
        health_lines(&h),
        [
            "Health check for server app/s1 failed, reason: Layer6 invalid response, info: \
             \"SSL handshake failure at step 1 of tcp-check (connect)\", check duration: 0ms, \
             status: 0/1 DOWN."
        ]
    );
}

/// Whether each check connect of `h` so far delays its ACK.
fn delayed_acks(h: &Harness) -> Vec<bool> {
    h.actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect { delay_ack, .. } => Some(*delay_ack),
            _ => None,
        })
        .collect()
}

#[test]
fn a_check_delays_its_handshake_ack_unless_an_expect_comes_next_as_haproxy() {
    // A connect-only check: the server's application never sees it.
    assert_eq!(delayed_acks(&rules("")), [true]);
    // The ACK leaves with the request.
    assert_eq!(delayed_acks(&rules(" option httpchk GET /")), [true]);
    assert_eq!(
        delayed_acks(&rules(" option tcp-check\n tcp-check send hi\\n")),
        [true]
    );
    // A banner is read first: the ACK goes at once.
    assert_eq!(
        delayed_acks(&rules(" option tcp-check\n tcp-check expect string +OK")),
        [false]
    );
    // A second connect rule followed by an expect.
    let mut h = rules(
        " option tcp-check\n tcp-check connect\n tcp-check send a\\n\n \
         tcp-check connect port 8002\n tcp-check expect string OK",
    );
    let (p, _) = probe(&mut h);
    assert_eq!(h.drain(p), b"a\n");
    assert_eq!(delayed_acks(&h), [true, false]);
    // A connect followed by another: 2.6.12's server sees the first.
    let mut h = rules(" option tcp-check\n tcp-check connect\n tcp-check connect port 8002");
    probe(&mut h);
    assert_eq!(delayed_acks(&h), [false, true]);
}
