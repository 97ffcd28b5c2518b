//! Running a [`Command`] against the balancer through [`Control`], with
//! HAProxy 2.6's answers, checks and check order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Level;
use super::command::{
    AdminState, Command, ForcedHealth, InfoOptions, ServerAction, ServerPath, SessTarget,
    StatDomain, StatOptions, Weight,
};
use super::words::{atoi, strtol};

/// A proxy or server named in a command: by name, or by numeric id
/// (`#<id>`), as HAProxy resolves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// The name as typed.
    Name(&'a str),
    /// The id after `#` (`atoi`, so `#x` is 0).
    Id(i32),
}

impl<'a> Key<'a> {
    /// A frontend or backend: `#<id>` is always an id (`proxy_find_by_name`).
    pub fn proxy(text: &'a str) -> Key<'a> {
        match text.strip_prefix('#') {
            Some(id) => Key::Id(atoi(id.as_bytes())),
            None => Key::Name(text),
        }
    }

    /// A server: `#<id>` is an id when it is not negative, else a name
    /// (`get_backend_server`).
    pub fn server(text: &'a str) -> Key<'a> {
        match text.strip_prefix('#').map(|id| atoi(id.as_bytes())) {
            Some(id) if id >= 0 => Key::Id(id),
            _ => Key::Name(text),
        }
    }
}

/// A server's weights, for `get weight` and weight changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// The weight set by configuration or by command (HAProxy's `uweight`).
    pub current: u32,
    /// The weight from the configuration (`iweight`).
    pub initial: u32,
    /// Whether the backend's algorithm takes any weight at run time
    /// (HAProxy's `BE_LB_PROP_DYN`: not `static-rr` nor map-based hashing,
    /// which only take 0% and 100%).
    pub dynamic: bool,
}

/// What `show stat` shows: HAProxy's filter on proxies, object types and
/// servers, and its output options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFilter {
    /// `<px>`: only the proxy with this id (HAProxy's `iid`); -1 = all.
    pub proxy: i32,
    /// `<type>`: bit 1 frontends, 2 backends, 4 servers; -1 = all.
    pub types: i32,
    /// `<sid>`: only the server with this id; -1 = all.
    pub server: i32,
    /// Output options.
    pub options: StatOptions,
    /// Show server addresses and algorithms (`addr`, `algo`): the
    /// connection's level is `operator` or `admin`.
    pub legends: bool,
}

/// What the runtime API needs of the balancer. The balancer implements
/// it; [`execute`] runs commands through it. Ids are the balancer's own.
pub trait Control {
    /// A backend's id.
    type Backend: Copy;
    /// A server's id.
    type Server: Copy;
    /// A frontend's id.
    type Frontend: Copy;

    /// The backend (or `listen`) by name or id.
    fn find_backend(&self, key: Key<'_>) -> Option<Self::Backend>;
    /// A server of `backend` by name or id (its position, from 1, when
    /// it has no `id`).
    fn find_server(&self, backend: Self::Backend, key: Key<'_>) -> Option<Self::Server>;
    /// The frontend (or `listen`) by name or id.
    fn find_frontend(&self, key: Key<'_>) -> Option<Self::Frontend>;
    /// The id of any proxy (frontend, backend or listen) by name or id,
    /// as `show stat`'s `pxid`/`iid` column shows it.
    fn proxy_id(&self, key: Key<'_>) -> Option<i32>;

    /// Sets a server's administrative state (`ready`, `drain`, `maint`).
    fn set_admin_state(&mut self, server: Self::Server, state: AdminState);
    /// Forces a server's health as if its checks had said so.
    fn set_health(&mut self, server: Self::Server, health: ForcedHealth);
    /// A server's weights.
    fn weights(&self, server: Self::Server) -> Weights;
    /// Sets a server's weight (0..=256), already checked against
    /// [`Weights::dynamic`].
    fn set_weight(&mut self, server: Self::Server, weight: u32);
    /// A server's traffic address.
    fn addr(&self, server: Self::Server) -> SocketAddr;
    /// Changes a server's traffic address (new connections only).
    fn set_addr(&mut self, server: Self::Server, addr: SocketAddr);
    /// Whether the server has health checks configured (`check`).
    fn has_check(&self, server: Self::Server) -> bool;
    /// Starts (`true`) or stops a configured server's health checks.
    fn set_check_enabled(&mut self, server: Self::Server, enabled: bool);
    /// Ends every session on a server.
    fn shutdown_sessions(&mut self, server: Self::Server);
    /// Whether the server's agent check runs: None without `agent-check`
    /// (the default: a balancer without agents).
    fn agent_enabled(&self, server: Self::Server) -> Option<bool> {
        let _ = server;
        None
    }
    /// Changes a server's agent (only called when it has one).
    fn change_agent(&mut self, server: Self::Server, change: &super::AgentChange) {
        let _ = (server, change);
    }
    /// Ends the session `show sess` lists with this id; false when there
    /// is none.
    fn shutdown_session(&mut self, id: u64) -> bool;
    /// Sets a server's `maxconn` (0 = no limit); queued sessions that now
    /// fit are let through.
    fn set_server_maxconn(&mut self, server: Self::Server, maxconn: u32);
    /// Sets a frontend's `maxconn` (0 = no limit) and resumes its paused
    /// listeners when there is room.
    fn set_frontend_maxconn(&mut self, frontend: Self::Frontend, maxconn: u32);
    /// The most `set maxconn global` may set: the configured global
    /// `maxconn` (HAProxy's `hardmaxconn`).
    fn hard_maxconn(&self) -> u32;
    /// Sets the process-wide `maxconn`, at most [`Control::hard_maxconn`].
    fn set_global_maxconn(&mut self, maxconn: u32);
    /// `clear counters`: the maximums (`all` false) or every counter.
    fn clear_counters(&mut self, all: bool);

    /// The `show info` text.
    fn show_info(&self, options: InfoOptions) -> String;
    /// The `show stat` text (CSV header and rows, or typed/json).
    fn show_stat(&self, filter: &StatFilter) -> String;
    /// The `show servers state` text, for one backend or all.
    fn show_servers_state(&self, backend: Option<Self::Backend>) -> String;
    /// The names of the backends (and `listen` sections), in
    /// configuration order, for `show backend`.
    fn backend_names(&self) -> Vec<&str>;
    /// The `show sess` text.
    fn show_sess(&self, target: SessTarget) -> String;
    /// `reload`: starts reading the configuration files again. `None`
    /// when the answer comes later, through [`super::CliConn::reply`];
    /// else the answer now.
    fn reload(&mut self) -> Option<Vec<u8>> {
        Some(b"Reload is not available here.\n".to_vec())
    }
}

/// HAProxy's answer to a command run at `level` on a socket of that
/// level. The connection adds the empty line or prompt after it.
pub fn execute<C: Control>(command: &Command, level: Level, control: &mut C) -> Vec<u8> {
    execute_on(command, level, level, control)
}

/// HAProxy's answer to a command run at `level` (lowered by `operator` or
/// `user`, maybe) on a socket configured with `socket_level`, which
/// decides, as in HAProxy, whether `show stat` shows addresses.
pub fn execute_on<C: Control>(
    command: &Command,
    level: Level,
    socket_level: Level,
    control: &mut C,
) -> Vec<u8> {
    if level < command.level() {
        return b"Permission denied\n".to_vec();
    }
    match command {
        Command::ShowInfo(options) => control.show_info(*options).into_bytes(),
        Command::ShowStat(request) => match request.domain {
            StatDomain::Invalid => b"Invalid statistics domain.\n".to_vec(),
            // weir has no `resolvers` section: the header alone.
            StatDomain::Resolvers => RESOLVERS_HEADER.as_bytes().to_vec(),
            StatDomain::Proxy => {
                let (proxy, types, server) = match &request.scope {
                    None => (-1, -1, -1),
                    Some((name, types, server)) => {
                        let id = control
                            .proxy_id(Key::proxy(name))
                            .unwrap_or_else(|| atoi(name.as_bytes()));
                        if id == 0 {
                            return b"No such proxy.\n".to_vec();
                        }
                        (id, *types, *server)
                    }
                };
                let filter = StatFilter {
                    proxy,
                    types,
                    server,
                    options: request.options,
                    legends: socket_level >= Level::Operator,
                };
                control.show_stat(&filter).into_bytes()
            }
        },
        Command::ShowSchemaJson => crate::stats::json::SCHEMA.as_bytes().to_vec(),
        Command::ShowServersState { backend } => {
            let backend = match backend {
                None => None,
                Some(name) => match control.find_backend(Key::proxy(name)) {
                    Some(b) => Some(b),
                    None => return b"Can't find backend.\n".to_vec(),
                },
            };
            control.show_servers_state(backend).into_bytes()
        }
        Command::ShowBackend => {
            let mut out = b"# name\n".to_vec();
            for name in control.backend_names() {
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
            out
        }
        Command::ShowSess(target) => control.show_sess(*target).into_bytes(),
        Command::Reload => control.reload().unwrap_or_default(),
        Command::ClearCounters { all } => {
            control.clear_counters(*all);
            Vec::new()
        }
        Command::GetWeight(path) => {
            if path.server.is_empty() {
                return REQUIRE_SERVER.to_vec();
            }
            match lookup(control, path) {
                Ok(server) => {
                    let w = control.weights(server);
                    format!("{} (initial {})\n", w.current, w.initial).into_bytes()
                }
                Err(answer) => answer.to_vec(),
            }
        }
        Command::Server { path, action } => {
            if path.backend.is_empty() || path.server.is_empty() {
                return REQUIRE_SERVER.to_vec();
            }
            match lookup(control, path) {
                Ok(server) => server_action(control, server, action),
                Err(answer) => answer.to_vec(),
            }
        }
        Command::ShutdownSession(0) => b"Session pointer expected (use 'show sess').\n".to_vec(),
        Command::ShutdownSession(id) => {
            if control.shutdown_session(*id) {
                Vec::new()
            } else {
                b"No such session (use 'show sess').\n".to_vec()
            }
        }
        Command::SetFrontendMaxconn { frontend, value } => {
            if frontend.is_empty() {
                return b"A frontend name is expected.\n".to_vec();
            }
            let Some(id) = control.find_frontend(Key::proxy(frontend)) else {
                return b"No such frontend.\n".to_vec();
            };
            match value {
                None => b"Integer value expected.\n".to_vec(),
                Some(v) if *v < 0 => OUT_OF_RANGE.to_vec(),
                Some(v) => {
                    control.set_frontend_maxconn(id, v.unsigned_abs());
                    Vec::new()
                }
            }
        }
        Command::SetGlobalMaxconn(value) => {
            let Some(v) = value else {
                return b"Expects an integer value.\n".to_vec();
            };
            let hard = control.hard_maxconn();
            if i64::from(*v) > i64::from(hard) {
                return OUT_OF_RANGE.to_vec();
            }
            control.set_global_maxconn(if *v <= 0 { hard } else { v.unsigned_abs() });
            Vec::new()
        }
    }
}

const REQUIRE_SERVER: &[u8] = b"Require 'backend/server'.\n";
const OUT_OF_RANGE: &[u8] = b"Value out of range.\n";

/// HAProxy 2.6's `show stat domain resolvers` header.
const RESOLVERS_HEADER: &str = "# id,pid,sent,send_error,valid,update,cname,cname_error,any_err,\
                                nx,timeout,refused,other,invalid,too_big,truncated,outdated,\n";

/// The server a `<backend>/<server>` names, or HAProxy's answer.
fn lookup<C: Control>(control: &C, path: &ServerPath) -> Result<C::Server, &'static [u8]> {
    let backend = control
        .find_backend(Key::proxy(&path.backend))
        .ok_or(&b"No such backend.\n"[..])?;
    control
        .find_server(backend, Key::server(&path.server))
        .ok_or(&b"No such server.\n"[..])
}

fn server_action<C: Control>(control: &mut C, server: C::Server, action: &ServerAction) -> Vec<u8> {
    match action {
        ServerAction::SetState(state) => control.set_admin_state(server, *state),
        ServerAction::SetHealth(health) => control.set_health(server, *health),
        ServerAction::SetWeight(Err(answer)) | ServerAction::SetMaxconn(Err(answer)) => {
            return answer.as_bytes().to_vec();
        }
        ServerAction::Answer(answer) => return answer.as_bytes().to_vec(),
        ServerAction::SetWeight(Ok(weight)) => {
            let w = control.weights(server);
            let new = match *weight {
                Weight::Absolute(n) => n,
                Weight::Relative(percent) => (w.initial * percent / 100).min(256),
            };
            if new != 0 && new != w.initial && !w.dynamic {
                return b"Backend is using a static LB algorithm and only accepts weights '0%' \
                         and '100%'.\n"
                    .to_vec();
            }
            control.set_weight(server, new);
        }
        ServerAction::SetMaxconn(Ok(value)) => match u32::try_from(*value) {
            Ok(v) => control.set_server_maxconn(server, v),
            // HAProxy would store a negative or huge limit as is.
            Err(_) => return OUT_OF_RANGE.to_vec(),
        },
        ServerAction::SetAddr { addr, port } => {
            return set_addr(control, server, addr, port.as_deref());
        }
        ServerAction::EnableHealth => {
            if !control.has_check(server) {
                return b"Health check was not configured on this server, cannot enable.\n"
                    .to_vec();
            }
            control.set_check_enabled(server, true);
        }
        ServerAction::DisableHealth => {
            if control.has_check(server) {
                control.set_check_enabled(server, false);
            }
        }
        ServerAction::ShutdownSessions => control.shutdown_sessions(server),
        ServerAction::Agent(action) => return super::agent::execute(control, server, action),
    }
    Vec::new()
}

/// `set server .. addr`, as HAProxy's `srv_update_addr_port`: the address
/// changes even when the port then fails, and the answer says what
/// happened to each.
fn set_addr<C: Control>(
    control: &mut C,
    server: C::Server,
    addr: &[u8],
    port: Option<&[u8]>,
) -> Vec<u8> {
    let current = control.addr(server);
    let mut msg = Vec::new();
    let next = addr_change(current, addr, port, &mut msg);
    if next != current {
        control.set_addr(server, next);
    }
    msg.extend_from_slice(b" by 'stats socket command'\n");
    msg
}

/// The address `current` becomes, with what happened written to `msg`.
fn addr_change(
    current: SocketAddr,
    addr: &[u8],
    port: Option<&[u8]>,
    msg: &mut Vec<u8>,
) -> SocketAddr {
    let mut next = current;
    let Some(ip) = parse_ip(addr) else {
        msg.extend_from_slice(b"Invalid addr '");
        msg.extend_from_slice(addr);
        msg.push(b'\'');
        return next;
    };
    if ip == current.ip() {
        msg.extend_from_slice(b"no need to change the addr");
    } else {
        next.set_ip(ip);
        msg.extend_from_slice(format!("IP changed from '{}' to '", current.ip()).as_bytes());
        msg.extend_from_slice(addr);
        msg.push(b'\'');
    }
    let Some(port) = port else { return next };
    msg.extend_from_slice(b", ");
    let long = strtol(port, 10);
    if long.overflow || long.used == 0 {
        msg.extend_from_slice(b"problem converting port '");
        msg.extend_from_slice(port);
        msg.extend_from_slice(b"' to an int");
        return next;
    }
    // HAProxy keeps the port in 16 bits.
    let new_port = long.value as u16;
    if matches!(port.first(), Some(b'+' | b'-')) {
        msg.extend_from_slice(b"port maps ('+N', '-N') are not supported by weir");
    } else if new_port == 0 {
        msg.extend_from_slice(b"port 0 is not supported by weir");
    } else if new_port == current.port() {
        msg.extend_from_slice(b"no need to change the port");
    } else {
        next.set_port(new_port);
        msg.extend_from_slice(
            format!("port changed from '{}' to '{new_port}'", current.port()).as_bytes(),
        );
    }
    next
}

/// An address as HAProxy's `str2ip2` without resolution: `*` and the
/// empty string are IPv4's any, `::` IPv6's, brackets allowed around IPv6.
fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(text).ok()?;
    let text = match text.strip_prefix('[') {
        Some(rest) if (4..48).contains(&text.len()) => rest.strip_suffix(']')?,
        Some(_) => return None,
        None => text,
    };
    match text {
        "::" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        "" | "*" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        _ => text
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .or_else(|_| text.parse::<Ipv4Addr>().map(IpAddr::V4))
            .ok(),
    }
}
