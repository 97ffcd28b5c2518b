//! What the runtime API does to servers, through the one transition path
//! ([`Balancer::change_server`]), with HAProxy's semantics.

use super::Balancer;
use super::state::{AdminFlags, Cause};
use crate::id::{BackendId, ServerId};
use crate::stats::{AdminState, ForcedHealth, OpState};
use crate::time::Instant;

/// HAProxy's reason for a health forced from its CLI.
const FROM_CLI: &str = "changed from CLI";

impl Balancer {
    /// Sets a server's admin state as HAProxy's `srv_adm_set_ready`,
    /// `_drain` and `_maint`: one flag set, the other cleared, each step
    /// applied (and logged) on its own.
    pub(crate) fn set_admin_state(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        state: AdminState,
    ) {
        let (maint, drain) = match state {
            AdminState::Ready => (false, false),
            AdminState::Drain => (false, true),
            AdminState::Maint => (true, false),
        };
        // Set first, then clear, as HAProxy does.
        for step in [true, false] {
            let Some(server) = self.backends[b].servers.get(s) else {
                return;
            };
            let mut admin = server.admin;
            if maint == step {
                admin.forced_maint = maint;
            }
            if drain == step {
                admin.forced_drain = drain;
            }
            if admin != server.admin {
                self.apply_admin(now, b, s, admin);
            }
        }
    }

    /// Forces a server's health over its checks' (HAProxy's CLI `set
    /// server ... health`); nothing happens in maintenance.
    pub(crate) fn force_health(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        health: ForcedHealth,
    ) {
        let Some(server) = self.backends[b].servers.get_mut(s) else {
            return;
        };
        if server.admin.maint() {
            return;
        }
        let op = match health {
            ForcedHealth::Up => {
                server.health.force_up();
                if matches!(server.op, OpState::Starting | OpState::Running) {
                    return;
                }
                self.warm_start(now, b, s)
            }
            ForcedHealth::Stopping => {
                server.health.force_up();
                OpState::Stopping
            }
            ForcedHealth::Down => {
                server.health.fail_all();
                OpState::Stopped
            }
        };
        let admin = self.backends[b].servers[s].admin;
        self.change_server(now, b, s, op, admin, Cause::Reason(FROM_CLI));
    }

    /// One admin change, with the server's operational state as it is.
    fn apply_admin(&mut self, now: Instant, b: BackendId, s: ServerId, admin: AdminFlags) {
        let op = self.backends[b].servers[s].op;
        self.change_server(now, b, s, op, admin, Cause::Admin);
    }
}
