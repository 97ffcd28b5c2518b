//! The agent-check keywords of `server` and `default-server` lines.

use std::net::IpAddr;
use std::time::Duration;

use super::{AgentCheck, Config, Source, parse};

fn parsed(text: &str) -> Result<Config, Vec<String>> {
    parse(&[Source::new("t.cfg", text)], &mut |_| {
        Some(IpAddr::from([127, 0, 0, 1]))
    })
    .map(|p| p.config)
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn backend(lines: &str) -> String {
    format!("frontend fe\n bind :80\n default_backend be\nbackend be\n{lines}")
}

fn agents(lines: &str) -> Vec<Option<AgentCheck>> {
    let config = parsed(&backend(lines)).unwrap_or_else(|e| panic!("{e:?}"));
    config.backends[0]
        .servers
        .iter()
        .map(|s| s.agent.clone())
        .collect()
}

fn error(lines: &str) -> String {
    let errors = parsed(&backend(lines)).expect_err("expected an error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

fn agent(addr: [u8; 4], port: u16, inter_ms: u64, send: &str) -> Option<AgentCheck> {
    Some(AgentCheck {
        addr: IpAddr::from(addr),
        addr_given: addr != [10, 0, 0, 1],
        port,
        inter: Duration::from_millis(inter_ms),
        send: send.into(),
    })
}

#[test]
fn agent_takes_its_port_address_interval_and_string() {
    let got = agents(
        " server a 10.0.0.1:80 agent-check agent-port 9\n\
         \x20server b 10.0.0.1:80 agent-check agent-port 9 agent-addr 10.0.0.2 agent-inter 5s agent-send hello\n\
         \x20server c 10.0.0.1:80 inter 3s agent-check port 7\n\
         \x20server d 10.0.0.1:80 agent-port 9\n",
    );
    assert_eq!(
        got,
        vec![
            agent([10, 0, 0, 1], 9, 2000, ""),
            agent([10, 0, 0, 2], 9, 5000, "hello"),
            agent([10, 0, 0, 1], 7, 2000, ""),
            None,
        ]
    );
}

#[test]
fn default_server_agent_is_inherited_and_no_agent_check_drops_it() {
    let got = agents(
        " default-server agent-check agent-port 9 agent-send x\n\
         \x20server a 10.0.0.1:80\n\
         \x20server b 10.0.0.1:80 no-agent-check\n\
         \x20server c 10.0.0.1:80 no-agent-check agent-check\n",
    );
    assert_eq!(
        got,
        vec![
            agent([10, 0, 0, 1], 9, 2000, "x"),
            None,
            agent([10, 0, 0, 1], 9, 2000, ""),
        ]
    );
}

#[test]
fn agent_check_without_a_port_is_refused_as_haproxy_does() {
    assert!(
        error(" server s1 10.0.0.1:80 agent-check\n")
            .contains("server s1 does not have agent port. Agent check has been disabled.")
    );
    assert!(error(" server s1 10.0.0.1:80 agent-check agent-port 0\n").contains("agent port"));
}

#[test]
fn agent_arguments_are_checked_with_haproxy_messages() {
    let cases = [
        (
            "agent-port",
            "'agent-port' expects a port number as argument.",
        ),
        (
            "agent-addr foo",
            "parsing agent-addr failed. Check if 'foo' is correct address.",
        ),
        (
            "agent-inter 0",
            "invalid value 0 for argument 'agent-inter' of server s1.",
        ),
        (
            "agent-inter 1x",
            "unexpected character 'x' in 'agent-inter' argument of server s1.",
        ),
        ("agent-send", "'agent-send' expects a string as argument."),
        ("agent-port 99999", "'agent-port 99999'"),
    ];
    for (params, message) in cases {
        let got = error(&format!(
            " server s1 10.0.0.1:80 agent-check agent-port 9 {params}\n"
        ));
        assert!(got.contains(message), "{params}: {got}");
    }
}

#[test]
fn addr_moves_checks_and_the_agent_and_no_check_turns_a_default_check_off() {
    // HAProxy 2.6's srv_parse_addr sets check.addr and agent.addr (its
    // port is ignored: `port` gives the check port); srv_parse_no_check
    // clears do_check.
    let config = parsed(&backend(
        " default-server check inter 300ms\n\
         \x20server a 10.0.0.1:80 addr 10.0.0.3:81 port 8080 agent-check agent-port 9\n\
         \x20server b 10.0.0.1:80 no-check\n\
         \x20server c 10.0.0.1:80 no-check check addr 10.0.0.4 agent-check agent-port 9 agent-addr 10.0.0.5\n",
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    let s = &config.backends[0].servers;
    assert_eq!(s[0].check_addr().to_string(), "10.0.0.3:8080");
    assert_eq!(s[0].addr.to_string(), "10.0.0.1:80");
    assert_eq!(s[0].agent, agent([10, 0, 0, 3], 9, 2000, ""));
    assert!(s[0].check && !s[1].check && s[2].check);
    assert_eq!(s[2].check_addr().to_string(), "10.0.0.4:80");
    assert_eq!(s[2].agent, agent([10, 0, 0, 5], 9, 2000, ""));
    assert!(
        error(" server a 10.0.0.1:80 check addr nowhere\n").contains("'addr'"),
        "a bad address is refused"
    );
}
