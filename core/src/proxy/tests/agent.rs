//! Agent checks (`agent-check`): what an agent's line does to its server,
//! and the lines HAProxy 2.6 writes for it.

use std::net::IpAddr;

use super::*;
use crate::config::AgentCheck;
use crate::proxy::agent_check::AgentStatus;
use crate::proxy::{Role, ServerState};
use crate::runtime_api::Level;
use crate::stats::OpState;

const AGENT_PORT: u16 = 9999;

fn with_agent(name: &str, port: u16, send: &str) -> Server {
    Server {
        weight: 100,
        agent: Some(AgentCheck {
            addr: IpAddr::from([127, 0, 0, 1]),
            addr_given: true,
            port: AGENT_PORT,
            inter: Duration::from_secs(2),
            send: send.into(),
        }),
        ..server(name, port)
    }
}

fn harness(servers: Vec<Server>, log_checks: bool) -> Harness {
    let mut cfg = config(servers);
    cfg.backends[0].log_health_checks = log_checks;
    Harness::new(cfg)
}

/// The agent connection opened last.
fn agent_conn(h: &Harness) -> ConnId {
    h.connects()
        .into_iter()
        .rev()
        .find(|&(c, addr)| {
            addr.port() == AGENT_PORT && matches!(h.lb.role(c), Some(Role::Agent(..)))
        })
        .map(|(c, _)| c)
        .expect("an agent connection")
}

/// Runs one agent check answering `reply`; returns what was sent to the
/// agent and the lines logged.
fn agent_says(h: &mut Harness, reply: &[u8]) -> (Vec<u8>, Vec<String>) {
    let conn = agent_conn(h);
    h.take();
    h.connected(conn);
    let sent = h.drain(conn);
    assert!(h.interest(conn).0, "reads the reply");
    h.peer_sends(conn, reply);
    assert_eq!(
        h.closed(conn),
        Some(true),
        "reset once the line is read, as HAProxy"
    );
    let logs = h.logs(LogSink::Stdout);
    h.advance(Duration::from_secs(2));
    (sent, logs)
}

fn server0(h: &Harness) -> &ServerState {
    let backend = h.lb.backends.values().next().unwrap();
    backend.servers.values().next().unwrap()
}

fn weight(h: &Harness) -> u32 {
    server0(h).weight
}

fn op(h: &Harness) -> OpState {
    server0(h).op
}

#[test]
fn the_agent_is_sent_its_string_and_its_weight_is_a_percent_of_the_configured_one() {
    let mut h = harness(vec![with_agent("s1", 8001, "hello\n")], false);
    let (sent, logs) = agent_says(&mut h, b"50%\n");
    assert_eq!(sent, b"hello\n");
    assert!(logs.is_empty(), "{logs:?}");
    assert_eq!(weight(&h), 50);
    agent_says(&mut h, b"100%\n");
    assert_eq!(weight(&h), 100);
}

#[test]
fn drain_and_ready_move_the_admin_state_as_the_runtime_api_does() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], false);
    let (_, logs) = agent_says(&mut h, b"drain\n");
    assert_eq!(
        logs,
        [
            "Server app/s1 enters drain state. 0 active and 0 backup servers online. 0 sessions \
             requeued, 0 total in queue.",
            "backend app has no server available!"
        ]
    );
    let (_, logs) = agent_says(&mut h, b"ready\n");
    assert_eq!(
        logs,
        ["Server app/s1 is UP (leaving forced drain).".to_owned()]
    );
    agent_says(&mut h, b"maint\n");
    assert!(server0(&h).admin.maint());
    let (_, logs) = agent_says(&mut h, b"ready\n");
    assert!(
        logs[0].starts_with("Server app/s1 is UP/READY (leaving forced maintenance)"),
        "{logs:?}"
    );
}

#[test]
fn down_marks_the_server_down_and_up_brings_it_back() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], false);
    let (_, logs) = agent_says(&mut h, b"down # busy\n");
    assert_eq!(
        logs[0],
        "Server app/s1 is DOWN, reason: Layer7 wrong status, code: 0, info: \"via agent : \
         down (busy)\", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions \
         active, 0 requeued, 0 remaining in queue."
    );
    assert_eq!(op(&h), OpState::Stopped);
    let (_, logs) = agent_says(&mut h, b"up 100%\n");
    assert_eq!(
        logs[0],
        "Server app/s1 is UP, reason: Layer7 check passed, code: 0, info: \"via agent : up\", \
         check duration: 0ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 \
         total in queue."
    );
    assert_eq!(op(&h), OpState::Running);
}

#[test]
fn with_log_health_checks_the_agent_writes_its_own_line() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], true);
    let (_, logs) = agent_says(&mut h, b"down\n");
    assert_eq!(
        logs[0],
        "Agent check for server app/s1 failed, reason: Layer7 wrong status, code: 0, info: \
         \"via agent : down\", check duration: 0ms, status: 0/1 DOWN."
    );
    assert_eq!(
        logs[1],
        "Server app/s1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 \
         requeued, 0 remaining in queue."
    );
    let (_, logs) = agent_says(&mut h, b"down\n");
    assert!(logs.is_empty(), "the same status again: {logs:?}");
}

#[test]
fn a_refused_agent_leaves_the_server_up() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], true);
    let conn = agent_conn(&h);
    h.take();
    h.event(Event::Connected {
        conn,
        result: Err(ConnError::Refused),
    });
    assert_eq!(
        h.logs(LogSink::Stdout),
        [
            "Agent check for server app/s1 failed, reason: Layer4 connection problem, info: \
          \"Connection refused\", check duration: 0ms, status: 1/1 UP."
                .to_owned()
        ]
    );
    assert_eq!(op(&h), OpState::Running);
}

#[test]
fn an_incomplete_line_is_ignored_when_the_agent_closes() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], true);
    // On the first check, HAProxy ends it as a Layer7 timeout.
    let conn = agent_conn(&h);
    h.connected(conn);
    h.peer_sends(conn, b"50%");
    h.event(Event::ReadClosed { conn });
    assert_eq!(
        h.logs(LogSink::Stdout),
        [
            "Agent check for server app/s1 failed, reason: Layer7 timeout, check duration: 0ms, \
          status: 1/1 UP."
        ]
    );
    h.advance(Duration::from_secs(2));
    let conn = agent_conn(&h);
    h.take();
    h.connected(conn);
    h.peer_sends(conn, b"50%");
    assert_eq!(h.closed(conn), None, "waits for the line end");
    h.event(Event::ReadClosed { conn });
    assert_eq!(h.closed(conn), Some(false));
    assert_eq!(weight(&h), 100);
    let last = &server0(&h).agent.as_ref().unwrap().last;
    assert_eq!(last.desc, "Ignoring incomplete line from agent");
    assert_eq!(last.status, AgentStatus::L7Timeout, "the status stays");
    assert!(
        h.logs(LogSink::Stdout).is_empty(),
        "{:?}",
        h.logs(LogSink::Stdout)
    );
}

#[test]
fn a_passing_health_check_does_not_bring_back_a_server_its_agent_holds_down() {
    let s1 = Server {
        check: true,
        rise: 1,
        fall: 1,
        ..with_agent("s1", 8001, "")
    };
    let mut h = harness(vec![s1], false);
    // The health check fails, then the agent says down (its first check
    // waits half of 2 s: the check and the agent share the spread).
    let (probe, _) = h.connects()[0];
    h.event(Event::Connected {
        conn: probe,
        result: Err(ConnError::Refused),
    });
    h.advance(Duration::from_secs(1));
    agent_says(&mut h, b"down\n");
    assert_eq!(op(&h), OpState::Stopped);
    // The health check passes again: the agent still says DOWN.
    let probe = h
        .connects()
        .into_iter()
        .rev()
        .find(|&(c, _)| matches!(h.lb.role(c), Some(Role::Check(..))))
        .map(|(c, _)| c)
        .unwrap();
    h.connected(probe);
    assert_eq!(op(&h), OpState::Stopped);
}

fn command(h: &mut Harness, line: &str) -> String {
    let answer = h.lb.handle_command(h.now, line, Level::Admin);
    h.collect();
    answer
}

/// `show stat`'s `column` of server `s1`.
fn stat(h: &mut Harness, column: &str) -> String {
    let csv = command(h, "show stat");
    let mut lines = csv.lines();
    let names: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
    let at = names.iter().position(|&n| n == column).unwrap();
    let row = lines.find(|l| l.starts_with("app,s1,")).unwrap();
    row.split(',').nth(at).unwrap().to_owned()
}

#[test]
fn leaving_maintenance_while_the_agent_says_down_leaves_the_server_down() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], false);
    agent_says(&mut h, b"down\n");
    assert_eq!(stat(&mut h, "status"), "DOWN (agent)");
    command(&mut h, "set server app/s1 state maint");
    let before = h.logs(LogSink::Stdout).len();
    command(&mut h, "set server app/s1 state ready");
    assert_eq!(
        h.logs(LogSink::Stdout)[before..],
        ["Server app/s1 is DOWN/READY (leaving forced maintenance)."]
    );
    assert_eq!(op(&h), OpState::Stopped);
    let (_, logs) = agent_says(&mut h, b"up\n");
    assert!(logs[0].starts_with("Server app/s1 is UP, reason: Layer7 check passed"));
    assert_eq!(op(&h), OpState::Running);
}

#[test]
fn a_weight_set_in_maintenance_shows_once_it_is_left() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], false);
    // HAProxy's reg-test: the maintenance comes first, then the weight.
    agent_says(&mut h, b"75%,maxconn:30,maint,down\n");
    assert_eq!(stat(&mut h, "status"), "MAINT");
    assert_eq!(stat(&mut h, "weight"), "100");
    assert_eq!(stat(&mut h, "uweight"), "75");
    assert_eq!(stat(&mut h, "slim"), "30");
    agent_says(&mut h, b"ready up\n");
    assert_eq!(stat(&mut h, "weight"), "75");
    assert_eq!(stat(&mut h, "status"), "no check");
}

#[test]
fn the_agent_columns_follow_its_checks() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], false);
    assert_eq!(stat(&mut h, "agent_status"), "* INI");
    agent_says(&mut h, b"up 50%\n");
    assert_eq!(stat(&mut h, "agent_status"), "* L7OK", "the next one runs");
    assert_eq!(stat(&mut h, "last_agt"), "", "cleared while it runs");
    let conn = agent_conn(&h);
    h.connected(conn);
    h.peer_sends(conn, b"drain\n");
    assert_eq!(stat(&mut h, "agent_status"), "CHECKED");
    assert_eq!(stat(&mut h, "agent_desc"), "No status change");
    assert_eq!(stat(&mut h, "agent_health"), "1");
    assert_eq!(stat(&mut h, "status"), "DRAIN (agent)");
    command(&mut h, "disable agent app/s1");
    assert_eq!(stat(&mut h, "agent_status"), "");
    assert_eq!(stat(&mut h, "status"), "DRAIN");
    let state = command(&mut h, "show servers state");
    assert!(
        state.contains(" 18 0 0 - 8001 - 0 0 - 127.0.0.1 9999\n"),
        "{state}"
    );
}

#[test]
fn an_agent_that_does_not_answer_in_time_is_reset() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], true);
    let conn = agent_conn(&h);
    h.connected(conn);
    h.take();
    h.advance(Duration::from_secs(2));
    assert_eq!(h.closed(conn), Some(true), "reset, as HAProxy");
    assert_eq!(
        h.logs(LogSink::Stdout),
        [
            "Agent check for server app/s1 failed, reason: Layer7 timeout, check duration: \
          2000ms, status: 1/1 UP."
        ]
    );
    assert_eq!(stat(&mut h, "agent_status"), "L7TOUT");
    assert_eq!(op(&h), OpState::Running);
}

/// Answers the running agent check with `up` and returns how long until
/// the next one starts (stepping 10 ms).
fn answer_and_time_next(h: &mut Harness) -> Duration {
    let conn = agent_conn(h);
    h.take();
    h.connected(conn);
    h.peer_sends(conn, b"up\n");
    let mut waited = Duration::ZERO;
    while h.connects().is_empty() && waited < Duration::from_secs(10) {
        h.advance(Duration::from_millis(10));
        waited += Duration::from_millis(10);
    }
    waited
}

#[test]
fn after_an_agents_answer_the_driver_next_wakes_for_the_next_agent_check() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], false);
    let inter = Duration::from_secs(2);
    for _ in 0..3 {
        let conn = agent_conn(&h);
        h.take();
        // The answer comes 10 ms after the check started (its deadline is
        // the start + inter).
        h.advance(Duration::from_millis(10));
        h.connected(conn);
        h.peer_sends(conn, b"up\n");
        assert!(h.closed(conn).is_some(), "the check is over");
        assert_eq!(
            h.lb.poll_timeout(),
            Some(h.now + inter),
            "no wake-up at the check's old deadline"
        );
        h.advance(inter);
    }
}

#[test]
fn spread_checks_moves_the_agent_interval_too() {
    let run = |spread| {
        let mut cfg = config(vec![with_agent("s1", 8001, "")]);
        cfg.global.spread_checks = spread;
        let mut h = Harness::new(cfg);
        (0..20)
            .map(|_| answer_and_time_next(&mut h))
            .collect::<Vec<_>>()
    };
    let delays = run(50);
    let (low, high) = (Duration::from_secs(1), Duration::from_secs(3));
    assert!(delays.iter().all(|d| *d >= low && *d <= high), "{delays:?}");
    assert!(delays.windows(2).any(|w| w[0] != w[1]), "{delays:?}");
    assert_eq!(delays, run(50), "same seed, same schedule");
    assert!(run(0).iter().all(|d| *d == Duration::from_secs(2)));
}

#[test]
fn an_agent_that_resets_is_a_socket_error_and_changes_nothing_else() {
    let mut h = harness(vec![with_agent("s1", 8001, "")], true);
    let conn = agent_conn(&h);
    h.connected(conn);
    h.take();
    h.event(Event::Failed {
        conn,
        error: ConnError::Reset,
    });
    assert_eq!(
        h.logs(LogSink::Stdout),
        [
            "Agent check for server app/s1 failed, reason: Socket error, info: \"Connection \
          reset by peer\", check duration: 0ms, status: 1/1 UP."
        ]
    );
    assert_eq!(stat(&mut h, "agent_status"), "SOCKERR");
    assert_eq!(stat(&mut h, "status"), "no check");
    assert_eq!(weight(&h), 100);
}
