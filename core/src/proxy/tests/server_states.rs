//! Servers' state loaded at start-up: what `show servers state` wrote is
//! applied through the one transition path, with HAProxy's lines and
//! warnings, and an UP server stays UP without a word.

use super::*;
use crate::BackendStates;
use crate::runtime_api::Level;
use crate::server_state::{StateFile, parse};

fn run(h: &mut Harness, line: &str) -> String {
    let answer = h.lb.handle_command(h.now, line, Level::Admin);
    h.collect();
    answer
}

/// `show servers state` of `h`, parsed.
fn saved(h: &mut Harness) -> StateFile {
    parse(run(h, "show servers state").as_bytes()).expect("weir's own dump parses")
}

/// A new balancer of `config` that loads `file` for backend `app`, with
/// the warnings and the log lines that follow.
fn restart(config: Config, file: &StateFile, local: bool) -> (Harness, Vec<String>, Vec<String>) {
    let mut h = Harness::new(config);
    let before = h.logs(LogSink::Stdout).len();
    let sources = [BackendStates {
        backend: "app",
        file,
        local,
    }];
    let warnings = h.lb.load_server_states(h.now, &sources);
    h.collect();
    let logs = h.logs(LogSink::Stdout).split_off(before);
    (h, warnings, logs)
}

/// Each server's `op admin uweight` columns of `show servers state`.
fn states(h: &mut Harness) -> Vec<String> {
    let dump = run(h, "show servers state");
    (dump.lines().skip(2).filter(|l| !l.is_empty()))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {} {}", f[3], f[5], f[6], f[7])
        })
        .collect()
}

fn three() -> Vec<Server> {
    vec![
        checked("s1", 8001),
        checked("s2", 8002),
        checked("s3", 8003),
    ]
}

#[test]
fn run_time_states_survive_and_up_servers_say_nothing() {
    let mut old = Harness::new(config(three()));
    run(&mut old, "set server app/s1 state drain");
    run(&mut old, "set server app/s2 weight 7");
    run(&mut old, "set server app/s3 state maint");
    let file = saved(&mut old);
    let (mut h, warnings, logs) = restart(config(three()), &file, false);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        logs,
        [
            "Server app/s1 enters drain state. 2 active and 0 backup servers online. \
             0 sessions requeued, 0 total in queue.",
            "Server app/s3 is going DOWN for maintenance. 1 active and 0 backup servers left. \
             0 sessions active, 0 requeued, 0 remaining in queue."
        ]
    );
    assert_eq!(states(&mut h), ["s1 2 8 1", "s2 2 0 7", "s3 0 1 1"]);
    assert_eq!(states(&mut h), states(&mut old));
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002, "only s2 takes sessions");
    }
}

#[test]
fn a_down_server_is_down_at_once_with_haproxys_reason() {
    let text = "1\n3 app 1 s1 127.0.0.1 0 0 1 1 30 8 2 0 6 0 0 0 - 8001 -\n";
    let (mut h, warnings, logs) = restart(config(three()), &parse(text.as_bytes()).unwrap(), false);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        logs,
        [
            "Server app/s1 is DOWN, changed from server-state after a reload. 2 active and 0 \
          backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        ]
    );
    let (b, backend) = h.lb.backends.iter().next().unwrap();
    let s1 = (backend.servers.iter())
        .find(|(_, s)| s.config.name == "s1")
        .unwrap()
        .0;
    assert_eq!(
        h.lb.backends[b].servers[s1].history.last_change_secs(h.now),
        30
    );
    for _ in 0..4 {
        assert_ne!(h.accept().2.port(), 8001);
    }
}

#[test]
fn the_configuration_wins_where_it_changed() {
    // Saved: s1 `disabled` in the configuration (CMAINT|FMAINT), s2 with a
    // weight of 5 set at run time over a configured 1.
    let text = "1\n3 app 1 s1 - 0 5 1 1 0 0 0 0 6 0 0 0 - 8001 -\n\
                3 app 2 s2 - 2 0 5 1 0 0 0 0 6 0 0 0 - 8002 -\n";
    let mut servers = three();
    servers[1].weight = 3;
    let (mut h, warnings, logs) = restart(config(servers), &parse(text.as_bytes()).unwrap(), false);
    assert!(
        warnings.is_empty() && logs.is_empty(),
        "{warnings:?} {logs:?}"
    );
    assert_eq!(
        states(&mut h)[..2],
        ["s1 2 0 1", "s2 2 0 3"],
        "s1 UP as a new server"
    );
}

#[test]
fn a_server_still_disabled_and_still_in_maintenance_stays_quiet() {
    let text = "1\n3 app 1 s1 - 0 5 1 1 0 0 0 0 6 0 0 0 - 8001 -\n";
    let mut servers = three();
    servers[0].disabled = true;
    let (mut h, warnings, logs) = restart(config(servers), &parse(text.as_bytes()).unwrap(), false);
    assert!(
        warnings.is_empty() && logs.is_empty(),
        "{warnings:?} {logs:?}"
    );
    assert_eq!(
        states(&mut h)[0],
        "s1 0 5 1",
        "CMAINT|FMAINT, as haproxy shows it"
    );
}

#[test]
fn removing_disabled_from_the_configuration_brings_a_server_back() {
    let mut servers = three();
    servers[0].disabled = true;
    let mut old = Harness::new(config(servers));
    let file = saved(&mut old);
    let (mut h, warnings, logs) = restart(config(three()), &file, false);
    assert!(
        warnings.is_empty() && logs.is_empty(),
        "{warnings:?} {logs:?}"
    );
    assert_eq!(states(&mut h)[0], "s1 2 0 1");
}

#[test]
fn disabled_checks_stay_disabled() {
    let mut old = Harness::new(config(three()));
    run(&mut old, "disable health app/s2");
    let file = saved(&mut old);
    let (mut h, _, _) = restart(config(three()), &file, false);
    let dump = run(&mut h, "show servers state");
    let s2: Vec<&str> = dump.lines().nth(3).unwrap().split(' ').collect();
    assert_eq!((s2[3], s2[13]), ("s2", "2"), "configured, not enabled");
}

#[test]
fn local_files_check_ids_and_names_and_report_strays() {
    let text = "1\n9 app 1 s1 - 2 8 1 1 0 0 0 0 6 0 0 0 - 8001 -\n\
                3 other 2 s2 - 0 0 1 1 0 0 0 0 6 0 0 0 - 8002 -\n\
                3 app 3 s3 - 7 0 1 1 0 0 0 0 6 0 0 0 - 8003 -\n\
                3 app 4 s4 - 2 0 1 1 0 0 0 0 6 0 0 0 - 8004 -\n\
                3 app 1 s1 - 0 0 1 1 0 0 0 0 6 0 0 0 - 9999 -\n";
    let (mut h, warnings, logs) = restart(config(three()), &parse(text.as_bytes()).unwrap(), true);
    assert_eq!(
        warnings,
        [
            "Proxy 'app': backend ID mismatch: from server state file: '9', from running config '3'",
            "Proxy 'app': backend name mismatch: from server state file: 'other', from running \
             config 'app'",
            "server-state application failed for server 'app/s3', invalid srv_op_state value '7'",
            "Proxy 'app': can't find server 's4' in backend 'app'",
        ]
    );
    assert_eq!(logs.len(), 1, "s1 drained, the duplicate dropped: {logs:?}");
    assert_eq!(states(&mut h), ["s1 2 8 1", "s2 2 0 1", "s3 2 0 1"]);
}

#[test]
fn a_global_file_reads_only_its_backends_lines_and_warns_of_another_address() {
    let text = "1\n3 other 1 s1 - 0 0 1 1 0 0 0 0 6 0 0 0 - 8001 -\n\
                7 app 2 s2 10.0.0.1 2 0 1 1 0 0 0 0 6 0 0 0 - 8002 -\n";
    let (mut h, warnings, logs) = restart(config(three()), &parse(text.as_bytes()).unwrap(), false);
    assert_eq!(
        warnings,
        [
            "server-state partially applied for server 'app/s2', address 10.0.0.1:8002 from the \
          state file not applied: weir keeps the configuration's 127.0.0.1:8002"
        ]
    );
    assert!(logs.is_empty(), "{logs:?}");
    assert_eq!(states(&mut h), ["s1 2 0 1", "s2 2 0 1", "s3 2 0 1"]);
}

#[test]
fn a_stopping_server_is_nolb_and_with_fall_1_down() {
    let text = "1\n3 app 1 s1 - 3 0 1 1 0 0 0 3 6 0 0 0 - 8001 -\n\
                3 app 2 s2 - 3 0 1 1 0 0 0 3 6 0 0 0 - 8002 -\n";
    let mut servers = three();
    servers[1].fall = 1;
    let (mut h, _, logs) = restart(config(servers), &parse(text.as_bytes()).unwrap(), false);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].starts_with("Server app/s1 is stopping, changed from server-state"));
    assert!(logs[1].starts_with("Server app/s2 is DOWN, changed from server-state"));
    assert_eq!(states(&mut h)[..2], ["s1 3 0 1", "s2 0 0 1"]);
}

fn with_agent(name: &str, port: u16) -> Server {
    Server {
        agent: Some(crate::config::AgentCheck {
            addr: std::net::IpAddr::from([127, 0, 0, 1]),
            addr_given: false,
            port: 9999,
            inter: Duration::from_secs(2),
            send: String::new(),
        }),
        ..server(name, port)
    }
}

/// The last three columns of each server: agent state, address, port.
fn agents(h: &mut Harness) -> Vec<String> {
    let dump = run(h, "show servers state");
    (dump.lines().skip(2).filter(|l| !l.is_empty()))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {} {}", f[3], f[14], f[23], f[24])
        })
        .collect()
}

#[test]
fn disable_agent_and_the_agents_address_and_port_survive() {
    let servers = || vec![with_agent("s1", 8001), with_agent("s2", 8002)];
    let mut old = Harness::new(config(servers()));
    run(&mut old, "disable agent app/s1");
    run(&mut old, "set server app/s2 agent-addr 127.0.0.2");
    run(&mut old, "set server app/s2 agent-port 7777");
    let file = saved(&mut old);
    let (mut h, warnings, _) = restart(config(servers()), &file, false);
    assert_eq!(
        warnings,
        [
            "server-state partially applied for server 'app/s1', agent checks are not enabled \
          on this server"
        ]
    );
    assert_eq!(agents(&mut h), ["s1 18 - 9999", "s2 22 127.0.0.2 7777"]);
    assert_eq!(agents(&mut h), agents(&mut old));
}
