//! The runtime API's agent-check commands (`enable agent`, `disable
//! agent`, `set server <b>/<s> agent|agent-send|agent-addr|agent-port`),
//! with HAProxy 2.6's answers (`cli_parse_set_server`,
//! `srv_update_agent_addr_port`, `cli_parse_enable_agent` in src/server.c).

use std::net::IpAddr;

use super::command::ServerAction;
use super::execute::Control;

/// What a command does to a server's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAction {
    /// `enable agent`.
    Enable,
    /// `disable agent`.
    Disable,
    /// `set server .. agent up` (`true`) or `down`.
    Force(bool),
    /// `set server .. agent-send <string>`.
    Send(Vec<u8>),
    /// `set server .. agent-addr <addr> [port <port>]`, or `agent-port
    /// <port>` (no address), as typed: checked once the agent is known
    /// to be enabled, applied only when all is valid.
    Addr {
        /// The address argument.
        addr: Option<Vec<u8>>,
        /// The port argument.
        port: Option<Vec<u8>>,
    },
}

/// A checked change of a server's agent, for [`Control::change_agent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChange {
    /// `enable agent` (`true`), `disable agent`.
    Enabled(bool),
    /// The agent's health forced UP (`true`) or DOWN.
    Force(bool),
    /// The string sent to the agent.
    Send(Vec<u8>),
    /// A new address and/or port.
    Addr(Option<IpAddr>, Option<u16>),
}

/// HAProxy's answer when the server's agent is not enabled.
pub const NOT_ENABLED: &str = "agent checks are not enabled on this server.\n";
/// `agent-addr`/`agent-port`'s answer then (a warning, without newline).
pub const NOT_ENABLED_ADDR: &str = "agent checks are not enabled on this server";
/// `enable agent` on a server without `agent-check`.
pub const NOT_CONFIGURED: &str = "Agent was not configured on this server, cannot enable.\n";

/// `set server <b>/<s> agent...`: `what` is the word after the server,
/// `a(i)` the words from there. None: not an agent command.
pub(super) fn set_server<'w>(what: &[u8], a: impl Fn(usize) -> &'w [u8]) -> Option<ServerAction> {
    let answer = ServerAction::Answer;
    let action = match what {
        b"agent" => match a(4) {
            b"up" => AgentAction::Force(true),
            b"down" => AgentAction::Force(false),
            _ => return Some(answer("'set server <srv> agent' expects 'up' or 'down'.\n")),
        },
        b"agent-send" => AgentAction::Send(a(4).to_vec()),
        b"agent-addr" if a(4).is_empty() => {
            return Some(answer(
                "set server <b>/<s> agent-addr requires an address and optionally a port.\n",
            ));
        }
        b"agent-port" if a(4).is_empty() => {
            return Some(answer("set server <b>/<s> agent-port requires a port.\n"));
        }
        b"agent-addr" => AgentAction::Addr {
            addr: Some(a(4).to_vec()),
            port: (a(5) == b"port").then(|| a(6).to_vec()),
        },
        b"agent-port" => AgentAction::Addr {
            addr: None,
            port: Some(a(4).to_vec()),
        },
        _ => return None,
    };
    Some(ServerAction::Agent(action))
}

/// Runs an agent command on `server`, with HAProxy's answer.
pub(super) fn execute<C: Control>(
    control: &mut C,
    server: C::Server,
    action: &AgentAction,
) -> Vec<u8> {
    // None: no `agent-check`; Some(false): `disable agent`.
    let enabled = control.agent_enabled(server);
    let change = match action {
        AgentAction::Enable if enabled.is_none() => return NOT_CONFIGURED.as_bytes().to_vec(),
        AgentAction::Enable => AgentChange::Enabled(true),
        AgentAction::Disable if enabled.is_none() => return Vec::new(),
        AgentAction::Disable => AgentChange::Enabled(false),
        AgentAction::Addr { .. } if enabled != Some(true) => {
            return NOT_ENABLED_ADDR.as_bytes().to_vec();
        }
        _ if enabled != Some(true) => return NOT_ENABLED.as_bytes().to_vec(),
        AgentAction::Force(up) => AgentChange::Force(*up),
        AgentAction::Send(text) => AgentChange::Send(text.clone()),
        AgentAction::Addr { addr, port } => match addr_port(addr.as_deref(), port.as_deref()) {
            Ok((addr, port)) => AgentChange::Addr(addr, port),
            Err(warning) => return warning.into_bytes(),
        },
    };
    control.change_agent(server, &change);
    Vec::new()
}

/// Checks an address and a port as `srv_update_agent_addr_port` does.
fn addr_port(
    addr: Option<&[u8]>,
    port: Option<&[u8]>,
) -> Result<(Option<IpAddr>, Option<u16>), String> {
    let addr = match addr {
        None => None,
        Some(text) => Some(
            parse_ip(text)
                .ok_or_else(|| format!("invalid addr '{}'", String::from_utf8_lossy(text)))?,
        ),
    };
    let port = match port {
        None => None,
        Some(text) => {
            let n = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or("provided port is not an integer")?;
            Some(u16::try_from(n).map_err(|_| "provided port is invalid")?)
        }
    };
    Ok((addr, port))
}

fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> Option<ServerAction> {
        let all: Vec<&[u8]> = ["set", "server", "be/s1"]
            .iter()
            .chain(words)
            .map(|w| w.as_bytes())
            .collect();
        set_server(all[3], |i| all.get(i).copied().unwrap_or(b""))
    }

    #[test]
    fn agent_commands_are_read_with_haproxy_answers() {
        let agent = |a| Some(ServerAction::Agent(a));
        assert_eq!(set(&["agent", "up"]), agent(AgentAction::Force(true)));
        assert_eq!(set(&["agent", "down"]), agent(AgentAction::Force(false)));
        assert_eq!(
            set(&["agent", "x"]),
            Some(ServerAction::Answer(
                "'set server <srv> agent' expects 'up' or 'down'.\n"
            ))
        );
        assert_eq!(
            set(&["agent-send", "hi"]),
            agent(AgentAction::Send(b"hi".to_vec()))
        );
        assert_eq!(
            set(&["agent-addr", "10.0.0.1", "port", "99"]),
            agent(AgentAction::Addr {
                addr: Some(b"10.0.0.1".to_vec()),
                port: Some(b"99".to_vec())
            })
        );
        assert_eq!(
            set(&["agent-port"]),
            Some(ServerAction::Answer(
                "set server <b>/<s> agent-port requires a port.\n"
            ))
        );
        assert_eq!(set(&["weight", "1"]), None);
    }

    #[test]
    fn addresses_and_ports_are_checked_as_haproxy_does() {
        assert_eq!(
            addr_port(Some(b"::1"), Some(b"80")),
            Ok((Some(IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])), Some(80)))
        );
        assert_eq!(
            addr_port(Some(b"nope"), None),
            Err("invalid addr 'nope'".into())
        );
        assert_eq!(
            addr_port(None, Some(b"x")),
            Err("provided port is not an integer".into())
        );
        assert_eq!(
            addr_port(None, Some(b"65536")),
            Err("provided port is invalid".into())
        );
    }
}
