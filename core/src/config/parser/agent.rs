//! The agent-check keywords of `server`/`default-server` lines
//! (`agent-check`, `no-agent-check`, `agent-port`, `agent-addr`,
//! `agent-inter`, `agent-send`), with HAProxy 2.6's messages
//! (`srv_parse_agent_*` in src/check.c, `_srv_parse_finalize` in
//! src/server.c).

use std::net::IpAddr;
use std::time::Duration;

use super::super::units::time;
use crate::config::{AgentCheck, Server};

/// The server keywords handled here.
pub(super) const SERVER: &[&str] = &[
    "agent-check",
    "no-agent-check",
    "agent-port",
    "agent-addr",
    "agent-inter",
    "agent-send",
];

/// HAProxy's `DEF_CHKINTR`, the default server's `agent-inter`.
const DEFAULT_INTER: Duration = Duration::from_secs(2);

/// What a server line said, before [`Agent::apply`] settles it.
#[derive(Debug, Default)]
pub(super) struct Agent {
    on: bool,
    port: Option<u16>,
    addr: Option<IpAddr>,
    inter: Option<Duration>,
    send: Option<String>,
}

impl Agent {
    /// Takes `param` if it is one of [`SERVER`]; `value` gives its
    /// argument. `None`: not an agent keyword.
    pub(super) fn param<'w>(
        &mut self,
        server: &str,
        param: &str,
        value: impl FnOnce() -> &'w str,
    ) -> Option<Result<(), String>> {
        let result = match param {
            "agent-check" => {
                self.on = true;
                Ok(())
            }
            // HAProxy forgets the whole agent, `agent-send` included.
            "no-agent-check" => {
                self.on = false;
                self.send = None;
                Ok(())
            }
            "agent-port" => self.port(value()),
            "agent-addr" => self.addr(value()),
            "agent-inter" => self.inter(server, value()),
            "agent-send" => match value() {
                "" => Err("'agent-send' expects a string as argument.".into()),
                text => {
                    self.send = Some(text.to_owned());
                    Ok(())
                }
            },
            _ => return None,
        };
        Some(result)
    }

    fn port(&mut self, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Err("'agent-port' expects a port number as argument.".into());
        }
        // HAProxy takes any number (atol) and keeps its low 16 bits.
        let port = text.parse::<u16>().map_err(|_| {
            format!("'agent-port {text}': the port must be a number between 0 and 65535")
        })?;
        self.port = Some(port);
        Ok(())
    }

    fn addr(&mut self, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Err("'agent-addr' expects an address as argument.".into());
        }
        let addr = text
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .map_err(|_| {
                format!(
                    "parsing agent-addr failed. Check if '{text}' is correct address. (weir takes \
                 an IPv4 or IPv6 address here, not a host name)"
                )
            })?;
        self.addr = Some(addr);
        Ok(())
    }

    fn inter(&mut self, server: &str, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Err("'agent-inter' expects a delay as argument.".into());
        }
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let unit = &text[digits..];
        if digits > 0 && !super::super::units::known_unit(unit) {
            let bad = unit.chars().next().unwrap_or(' ');
            return Err(format!(
                "unexpected character '{bad}' in 'agent-inter' argument of server {server}."
            ));
        }
        let t = time(text, "agent-inter")?;
        if t.as_millis() == 0 {
            return Err(format!(
                "invalid value 0 for argument 'agent-inter' of server {server}."
            ));
        }
        self.inter = Some(t);
        Ok(())
    }

    /// Sets the server's agent: its port is `agent-port`, or `port`; its
    /// address `agent-addr` or the server's; its interval `agent-inter`,
    /// or 2 s: HAProxy's default server has `agent.inter` DEF_CHKINTR, so
    /// `init_srv_agent_check`'s fallback to `inter` never applies.
    pub(super) fn apply(self, server: &mut Server) -> Result<(), String> {
        if !self.on {
            server.agent = None;
            return Ok(());
        }
        let port = self.port.or(server.check_port).unwrap_or(0);
        if port == 0 {
            return Err(format!(
                "server {} does not have agent port. Agent check has been disabled.",
                server.name
            ));
        }
        server.agent = Some(AgentCheck {
            // HAProxy's `addr` sets the agent's address too.
            addr: self.addr.or(server.check_ip).unwrap_or(server.addr.ip()),
            addr_given: self.addr.is_some() || server.check_ip.is_some(),
            port,
            inter: self.inter.unwrap_or(DEFAULT_INTER),
            send: self.send.unwrap_or_default(),
        });
        Ok(())
    }
}
