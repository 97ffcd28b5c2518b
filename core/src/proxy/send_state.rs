//! `http-check send-state`: the `X-Haproxy-Server-State` value, as
//! HAProxy 2.6's `httpchk_build_status_header` writes it, and what else a
//! check's probe knows of its server.

use super::Balancer;
use crate::health::ruleset::ServerView;
use crate::id::{BackendId, ServerId};
use crate::stats::OpState;
use crate::time::Instant;

impl Balancer {
    /// What the probe of server `s` of backend `b` is told when it starts.
    pub(super) fn server_view(&self, now: Instant, b: BackendId, s: ServerId) -> ServerView {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let up = server.op != OpState::Stopped;
        let send_state = match &backend.config.health_check {
            crate::config::HealthCheck::Http(http) => http.send_state,
            _ => false,
        };
        if !send_state {
            return ServerView {
                state: String::new(),
                up,
            };
        }
        let (value, rise, fall) = server.health.level();
        let mut state = match server.op {
            OpState::Stopped if value == 0 => "DOWN".to_owned(),
            OpState::Stopped => format!("DOWN {value}/{rise}"),
            op => {
                let nolb = if op == OpState::Stopping {
                    "NOLB"
                } else {
                    "UP"
                };
                match value == rise + fall - 1 {
                    true => nolb.to_owned(),
                    false => format!("{nolb} {}/{fall}", value + 1 - rise),
                }
            }
        };
        // The backend's weight: its usable active servers', else its
        // backups' (HAProxy's `tot_weight`).
        let usable = |backup: bool| -> u32 {
            let servers = backend
                .servers
                .values()
                .filter(|x| x.config.backup == backup);
            servers.map(|x| x.lb_weight(now)).sum()
        };
        let total = match usable(false) {
            0 => usable(true),
            active => active,
        };
        let weight = match server.lb_weight(now) {
            0 => server.weight,
            w => w,
        };
        let queued: u32 = backend.servers.values().map(|x| x.waiters.waiting).sum();
        state.push_str(&format!(
            "; address={}; port={}; name={}/{}; node={}; weight={weight}/{total}; \
             scur={}/{}; qcur={}",
            server.config.addr.ip(),
            server.config.addr.port(),
            backend.config.name,
            server.config.name,
            self.process.node,
            self.server_sessions(b, s),
            backend
                .active
                .saturating_sub(backend.waiters.waiting + queued),
            server.waiters.waiting,
        ));
        if let (OpState::Starting, Some(since), Some(length)) =
            (server.op, server.warm_since, server.config.slowstart)
        {
            let elapsed = now.saturating_duration_since(since).as_secs();
            if elapsed < length.as_secs() {
                let ratio = (100 * elapsed / length.as_secs().max(1)).max(1);
                state.push_str(&format!("; throttle={ratio}%"));
            }
        }
        ServerView { state, up }
    }
}
