//! The balancer as the runtime API drives it: HAProxy's names and ids
//! resolved to core's, each command through the one transition path, the
//! `show` texts from the stats snapshots.

use std::net::SocketAddr;

use super::Balancer;
use crate::config::{Balance, HashType};
use crate::id::{BackendId, FrontendId, ServerId};
use crate::runtime_api::{
    AdminState, AgentChange, CliConn, Control, ForcedHealth, InfoOptions, Key, Level, OutputFormat,
    SessTarget, StatFilter, Weights,
};
use crate::stats::{self, ProcessInfo};
use crate::time::Instant;

/// How long a command given to [`Balancer::handle_command`] may take to
/// arrive: it arrives whole, so this never runs out.
const ONE_SHOT: std::time::Duration = std::time::Duration::from_secs(3600);

impl Balancer {
    /// Runs one line of HAProxy's runtime API (`show stat`, `set server
    /// app/gw1 state drain`, several separated by `;`) at `level`, and
    /// returns the answer as the stats socket would write it.
    pub fn handle_command(&mut self, now: Instant, line: &str, level: Level) -> String {
        self.advance(now);
        let mut conn = CliConn::new(level, ONE_SHOT, now);
        let mut input = line.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
        input.push(b'\n');
        let taken = conn.received(now, &input);
        conn.handle(&mut Ctl {
            lb: self,
            now,
            cli: None,
        });
        let mut answer = String::from_utf8_lossy(conn.pending()).into_owned();
        if taken < input.len() {
            answer.clear();
        }
        answer
    }

    /// What the driver knows of the process for `show info` and the
    /// metrics: its name, build, descriptor limits, host name.
    pub fn set_process_info(&mut self, info: ProcessInfo) {
        self.process = info;
    }

    /// The driver's kernel pipes for splicing: `used` hold a spliced
    /// direction's bytes, `free` are kept for reuse (`show info`'s
    /// `PipesUsed` and `PipesFree`, added up over the event loops).
    pub fn set_pipes(&mut self, used: u32, free: u32) {
        self.process.pipes_used = used;
        self.process.pipes_free = free;
    }
}

/// The balancer at `now`, for [`crate::runtime_api::execute`].
pub(super) struct Ctl<'a> {
    pub lb: &'a mut Balancer,
    pub now: Instant,
    /// The stats-socket connection running the commands (its slot and
    /// generation); `None` for [`Balancer::handle_command`].
    pub cli: Option<(usize, u32)>,
}

impl Ctl<'_> {
    fn backend_of(&self, key: Key<'_>) -> Option<BackendId> {
        self.lb
            .proxy_refs()
            .into_iter()
            .filter(|p| p.backend.is_some())
            .find(|p| matches_key(key, p.name, p.iid))
            .and_then(|p| p.backend)
    }
}

/// Whether a proxy (or server) named `name` with id `id` is `key`.
fn matches_key(key: Key<'_>, name: &str, id: u32) -> bool {
    match key {
        Key::Name(n) => n == name,
        Key::Id(i) => i64::from(i) == i64::from(id),
    }
}

impl Control for Ctl<'_> {
    /// A stats-socket connection waits for the driver's reload; a one-shot
    /// command only asks for it.
    fn reload(&mut self) -> Option<Vec<u8>> {
        self.lb.request_reload(self.cli);
        match self.cli {
            Some(_) => None,
            None => Some(b"Reload requested.\n".to_vec()),
        }
    }

    type Backend = BackendId;
    type Server = (BackendId, ServerId);
    type Frontend = FrontendId;

    fn find_backend(&self, key: Key<'_>) -> Option<BackendId> {
        self.backend_of(key)
    }

    fn find_server(&self, b: BackendId, key: Key<'_>) -> Option<(BackendId, ServerId)> {
        let servers = self.lb.backends.get(b)?.listed();
        (servers.into_iter().zip(1..))
            .find(|((_, server), sid)| matches_key(key, &server.config.name, *sid))
            .map(|((s, _), _)| (b, s))
    }

    fn find_frontend(&self, key: Key<'_>) -> Option<FrontendId> {
        self.lb
            .proxy_refs()
            .into_iter()
            .filter(|p| p.frontend.is_some())
            .find(|p| matches_key(key, p.name, p.iid))
            .and_then(|p| p.frontend)
    }

    fn proxy_id(&self, key: Key<'_>) -> Option<i32> {
        self.lb
            .proxy_refs()
            .into_iter()
            .find(|p| matches_key(key, p.name, p.iid))
            .map(|p| p.iid as i32)
    }

    fn set_admin_state(&mut self, (b, s): (BackendId, ServerId), state: AdminState) {
        self.lb.set_admin_state(self.now, b, s, state);
    }

    fn set_health(&mut self, (b, s): (BackendId, ServerId), health: ForcedHealth) {
        self.lb.force_health(self.now, b, s, health);
    }

    fn weights(&self, (b, s): (BackendId, ServerId)) -> Weights {
        let backend = &self.lb.backends[b];
        let server = &backend.servers[s];
        let config = &backend.config;
        let map_based =
            config.hash_type == HashType::MapBased && matches!(config.balance, Balance::Source);
        Weights {
            current: server.weight,
            initial: server.config.weight,
            dynamic: config.balance != Balance::StaticRr && !map_based,
        }
    }

    fn set_weight(&mut self, (b, s): (BackendId, ServerId), weight: u32) {
        self.lb.set_server_weight(self.now, b, s, weight);
    }

    fn addr(&self, (b, s): (BackendId, ServerId)) -> SocketAddr {
        self.lb.backends[b].servers[s].config.addr
    }

    fn set_addr(&mut self, (b, s): (BackendId, ServerId), addr: SocketAddr) {
        self.lb.set_server_addr(b, s, addr);
    }

    fn has_check(&self, (b, s): (BackendId, ServerId)) -> bool {
        self.lb.backends[b].servers[s].config.check
    }

    fn set_check_enabled(&mut self, (b, s): (BackendId, ServerId), enabled: bool) {
        self.lb.set_check_enabled(self.now, b, s, enabled);
    }

    fn shutdown_sessions(&mut self, (b, s): (BackendId, ServerId)) {
        self.lb.kill_sessions_of(self.now, b, s);
    }

    fn agent_enabled(&self, (b, s): (BackendId, ServerId)) -> Option<bool> {
        self.lb.agent_enabled(b, s)
    }

    fn change_agent(&mut self, (b, s): (BackendId, ServerId), change: &AgentChange) {
        self.lb.change_agent(self.now, b, s, change);
    }

    fn shutdown_session(&mut self, id: u64) -> bool {
        self.lb.kill_session(self.now, id)
    }

    fn set_server_maxconn(&mut self, (b, s): (BackendId, ServerId), maxconn: u32) {
        self.lb.set_server_maxconn(self.now, b, s, maxconn);
    }

    fn set_frontend_maxconn(&mut self, frontend: FrontendId, maxconn: u32) {
        self.lb.set_frontend_maxconn(frontend, maxconn);
    }

    fn hard_maxconn(&self) -> u32 {
        self.lb.hard_maxconn.unwrap_or(u32::MAX)
    }

    fn set_global_maxconn(&mut self, maxconn: u32) {
        self.lb.set_global_maxconn(maxconn);
    }

    fn clear_counters(&mut self, all: bool) {
        self.lb.clear_counters(all);
    }

    fn show_info(&self, options: InfoOptions) -> String {
        let info = self.lb.process_info(self.now);
        match options.format {
            OutputFormat::Default => stats::show_info(&info, options.desc),
            OutputFormat::Typed => stats::typed::show_info(&info, options.desc),
            OutputFormat::Json => stats::json::show_info(&info),
        }
    }

    fn show_stat(&self, filter: &StatFilter) -> String {
        let proxies = self.lb.proxy_stats(self.now);
        let options = filter.options;
        let filter = stats::StatFilter {
            iid: i64::from(filter.proxy),
            types: i64::from(filter.types),
            sid: i64::from(filter.server),
            hide_maint: options.no_maint,
            hide_down: options.up,
            legends: filter.legends,
        };
        match options.format {
            OutputFormat::Default => stats::show_stat(&proxies, &filter),
            OutputFormat::Typed => stats::typed::show_stat(&proxies, &filter, options.desc),
            OutputFormat::Json => stats::json::show_stat(&proxies, &filter),
        }
    }

    fn show_servers_state(&self, backend: Option<BackendId>) -> String {
        let proxies = self.lb.proxy_stats(self.now);
        let name = backend
            .and_then(|b| self.lb.backends.get(b))
            .map(|b| b.config.name.as_str());
        match stats::show_servers_state(&proxies, name) {
            Ok(text) | Err(text) => text,
        }
    }

    fn backend_names(&self) -> Vec<&str> {
        self.lb
            .proxy_refs()
            .into_iter()
            .filter(|p| p.backend.is_some())
            .map(|p| p.name)
            .collect()
    }

    fn show_sess(&self, target: SessTarget) -> String {
        self.lb.show_sess(self.now, target)
    }
}
