//! The lines checks write, word for word as HAProxy 2.6's
//! `set_server_check_status` and `srv_append_status` (src/check.c,
//! src/server.c) write them.

use super::*;
use crate::config::TcpStep;

fn logged(servers: Vec<Server>) -> Harness {
    let mut cfg = config(servers);
    cfg.backends[0].log_health_checks = true;
    Harness::new(cfg)
}

fn quick(name: &str, port: u16, rise: u32, fall: u32) -> Server {
    Server {
        rise,
        fall,
        ..checked(name, port)
    }
}

/// Answers the current check (refused or connected), returns the lines.
fn check(h: &mut Harness, result: Result<(), ConnError>) -> Vec<String> {
    let (probe, _) = *h.connects().last().unwrap();
    h.take();
    h.event(Event::Connected {
        conn: probe,
        result,
    });
    let logs = h.logs(LogSink::Stdout);
    h.advance(Duration::from_secs(2));
    logs
}

#[test]
fn the_first_result_is_logged_even_when_the_health_does_not_move() {
    let mut h = logged(vec![quick("s1", 8001, 1, 1)]);
    assert_eq!(
        check(&mut h, Ok(())),
        [
            "Health check for server app/s1 succeeded, reason: Layer4 check passed, \
          check duration: 0ms, status: 1/1 UP."
        ]
    );
    assert!(check(&mut h, Ok(())).is_empty(), "same status, same health");
}

#[test]
fn a_new_status_is_logged_while_the_server_stays_down() {
    let mut h = logged(vec![quick("s1", 8001, 2, 2)]);
    let down = check(&mut h, Err(ConnError::Refused));
    assert_eq!(down.len(), 3, "{down:?}");
    assert!(
        check(&mut h, Err(ConnError::Refused)).is_empty(),
        "L4CON again at 0/2: nothing moved"
    );
    assert_eq!(
        check(&mut h, Err(ConnError::Reset)),
        Vec::<String>::new(),
        "another text, the same L4CON status"
    );
    let (probe, _) = *h.connects().last().unwrap();
    h.take();
    h.advance(Duration::from_secs(2));
    assert_eq!(h.closed(probe), Some(true));
    assert_eq!(
        h.logs(LogSink::Stdout),
        [
            "Health check for server app/s1 failed, reason: Layer4 timeout, \
          check duration: 2000ms, status: 0/2 DOWN."
        ],
        "L4TOUT after L4CON is a new status"
    );
}

#[test]
fn with_log_health_checks_the_state_lines_carry_no_reason() {
    let mut h = logged(vec![quick("s1", 8001, 2, 2), server("s2", 8002)]);
    assert_eq!(
        check(&mut h, Err(ConnError::Refused)),
        [
            "Health check for server app/s1 failed, reason: Layer4 connection problem, \
             info: \"Connection refused\", check duration: 0ms, status: 0/2 DOWN.",
            "Server app/s1 is DOWN. 1 active and 0 backup servers left. 0 sessions active, \
             0 requeued, 0 remaining in queue.",
        ]
    );
    check(&mut h, Ok(()));
    assert_eq!(
        check(&mut h, Ok(()))[1],
        "Server app/s1 is UP. 2 active and 0 backup servers online. 0 sessions requeued, \
         0 total in queue."
    );
}

#[test]
fn a_backup_server_is_named_as_such() {
    let mut b = quick("b1", 8001, 1, 1);
    b.backup = true;
    let mut h = logged(vec![b]);
    assert_eq!(
        check(&mut h, Ok(())),
        [
            "Health check for backup server app/b1 succeeded, reason: Layer4 check passed, \
          check duration: 0ms, status: 1/1 UP."
        ]
    );
}

#[test]
fn a_server_of_weight_zero_is_drain_in_the_check_line() {
    let mut s = quick("s1", 8001, 1, 1);
    s.weight = 0;
    let mut h = logged(vec![s]);
    assert!(check(&mut h, Ok(()))[0].ends_with("status: 1/1 DRAIN."));
}

#[test]
fn a_health_analyze_down_line_has_no_check_duration() {
    let mut h = observed(OnError::MarkDown);
    for _ in 0..3 {
        refused_on_s1(&mut h);
    }
    let down = h.logs(LogSink::Stdout);
    assert!(
        down.contains(
            &"Server app/s1 is DOWN, reason: Health analyze, info: \"Detected 3 consecutive \
              errors, last one was: L4 unsuccessful connection\". 0 active and 0 backup \
              servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
                .to_owned()
        ),
        "{down:?}"
    );
}

#[test]
fn failed_checks_are_counted_only_while_there_is_health_to_lose() {
    let mut h = Harness::new(config(vec![quick("s1", 8001, 2, 2)]));
    for _ in 0..3 {
        check(&mut h, Err(ConnError::Refused));
    }
    let (_, backend) = h.lb.backends.iter().next().unwrap();
    let (_, s1) = backend.servers.iter().next().unwrap();
    assert_eq!(s1.counters.failed_checks, 1, "HAProxy's chkfail");
}

#[test]
fn a_timeout_inside_tcp_check_rules_names_the_rule() {
    let mut cfg = config(vec![quick("s1", 8001, 2, 2)]);
    cfg.backends[0].log_health_checks = true;
    cfg.backends[0].health_check = HealthCheck::TcpRules(crate::config::TcpRule::numbered(vec![
        TcpStep::Send(b"hello\r\n".to_vec()),
        TcpStep::ExpectRegex {
            regex: crate::config::Pattern::new("^ok").unwrap(),
            hex: false,
            negate: false,
        },
    ]));
    let mut h = Harness::new(cfg);
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    assert_eq!(h.drain(probe), b"hello\r\n");
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.logs(LogSink::Stdout)[0],
        "Health check for server app/s1 failed, reason: Layer7 timeout, \
         info: \" at step 2 of tcp-check (expect regex)\", check duration: 2000ms, \
         status: 0/2 DOWN."
    );
}

#[test]
fn an_unreachable_network_is_a_general_socket_error() {
    let mut h = logged(vec![quick("s1", 8001, 2, 2)]);
    let lines = check(&mut h, Err(ConnError::NetUnreachable));
    assert_eq!(
        lines[0],
        "Health check for server app/s1 failed, reason: Layer4 connection problem, \
         info: \"General socket error (Network is unreachable)\", check duration: 0ms, \
         status: 0/2 DOWN."
    );
}

fn protocol(check: crate::config::ProtocolCheck, rise: u32) -> Harness {
    let mut cfg = config(vec![quick("s1", 8001, rise, 1)]);
    cfg.backends[0].log_health_checks = true;
    cfg.backends[0].health_check = HealthCheck::TcpRules(check.rules());
    Harness::new(cfg)
}

#[test]
fn a_mysql_success_is_reported_twice_and_counts_twice_as_haproxys() {
    use crate::config::ProtocolCheck;
    let mut h = protocol(ProtocolCheck::Mysql(None), 2);
    // Down first: the server closes without a word.
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    h.event(Event::ReadClosed { conn: probe });
    let down = h.logs(LogSink::Stdout);
    assert_eq!(
        down[0],
        "Health check for server app/s1 failed, reason: Layer7 invalid response, \
         info: \"TCPCHK got an empty response at step 2\", check duration: 0ms, \
         status: 0/2 DOWN."
    );
    h.advance(Duration::from_secs(2));
    let (probe, _) = *h.connects().last().unwrap();
    h.take();
    h.connected(probe);
    h.peer_sends(probe, b"\x0b\x00\x00\x00\x0a5.7.1\x00abcd");
    assert_eq!(
        h.logs(LogSink::Stdout),
        [
            "Health check for server app/s1 succeeded, reason: Layer7 check passed, \
             code: 0, info: \"5.7.1\", check duration: 0ms, status: 1/2 DOWN.",
            "Health check for server app/s1 succeeded, reason: Layer7 check passed, \
             code: 0, check duration: 0ms, status: 1/1 UP.",
            "Server app/s1 is UP. 1 active and 0 backup servers online. 0 sessions \
             requeued, 0 total in queue.",
        ]
    );
    assert_eq!(h.closed(probe), Some(false), "`connect linger`: a FIN");
}

#[test]
fn ssl_hello_times_out_at_layer6_and_closes_with_a_reset() {
    use crate::config::ProtocolCheck;
    let mut h = protocol(ProtocolCheck::SslHello, 1);
    let (probe, _) = h.connects()[0];
    h.connected(probe);
    let hello = h.drain(probe);
    assert_eq!((hello.len(), &hello[..3]), (126, &[0x16, 3, 0][..]));
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.logs(LogSink::Stdout)[0],
        "Health check for server app/s1 failed, reason: Layer6 timeout, \
         check duration: 2000ms, status: 0/1 DOWN."
    );
    assert_eq!(h.closed(probe), Some(true));
}
