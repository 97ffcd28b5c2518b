//! Servers that follow DNS: the `resolvers` sections' resolutions
//! ([`crate::dns::resolver`]) applied to their servers as HAProxy 2.6's
//! `snr_resolution_cb`, `resolv_get_ip_from_response` and
//! `snr_update_srv_status` (src/server.c, src/resolvers.c) do.
//!
//! A valid answer gives each requesting server an address: the one it has
//! if still answered, else the best by score (preferred family 8,
//! preferred network 4, not used by another server of the backend 2 —
//! used ones are skipped without `allow-dup-ip` —, current address 1),
//! the first in HAProxy's record order (by a hash of each address, see
//! `resolver::Resolution::items`) on a tie.
//! A changed address is logged (`be/srv changed its IP from A to B by
//! resolvers/ns.`, `by DNS cache` for the other servers of the same name)
//! and taken by new sessions, checks, an agent at the server's address and
//! a TLS name that is the address; sessions in progress keep theirs. A server with no address left, or whose name
//! failed for longer than the `hold` of the failure, goes to maintenance
//! (`MAINT (resolution)`) through the one transition path, and comes back
//! with the next valid answer.

use std::net::{IpAddr, SocketAddr};

use rustls::pki_types::ServerName;

use super::state::Cause;
use super::{Balancer, LogTargets};
use crate::config::Severity;
use crate::config::dns::Resolvers;
use crate::dns::resolver::{Outcome, Requester, Resolver, Status};
use crate::id::{BackendId, ServerId};
use crate::time::Instant;
use crate::timer::TimerKey;

/// The `resolvers` sections and their resolutions.
#[derive(Debug, Clone, Default)]
pub(super) struct Dns {
    sections: Vec<Resolver>,
}

/// How a server's address was looked for in an answer
/// (`RSLV_UPD_*`).
enum Pick {
    /// It keeps its address.
    Same,
    /// It takes this one.
    New(IpAddr),
    /// The answer has none for it.
    NoIp,
}

impl Balancer {
    /// Builds the sections of `resolvers` and attaches every server given
    /// by host name with `resolvers` to its name's resolution; the first
    /// queries go out at once.
    pub(super) fn start_dns(&mut self, now: Instant, resolvers: &[Resolvers]) {
        let mut sections: Vec<Resolver> = resolvers.iter().cloned().map(Resolver::new).collect();
        for (b, backend) in self.backends.iter() {
            if backend.retired {
                continue;
            }
            for (s, server) in backend.servers.iter() {
                let Some(dns) = server.config.host.as_ref().and_then(|h| h.dns.as_ref()) else {
                    continue;
                };
                if server.retired {
                    continue;
                }
                if let Some(section) = sections.iter_mut().find(|r| r.config.name == dns.resolvers)
                {
                    section.attach(now, &dns.hostname, dns.prefer, (b, s));
                }
            }
        }
        self.dns = Dns { sections };
        self.run_dns(now);
    }

    /// At start, a backend whose servers are all in maintenance, some for
    /// want of an address (`init-addr none`), went DOWN as HAProxy's did
    /// when it put them there one by one (its `chkdown` counts it).
    pub(super) fn count_unresolved_outages(&mut self, now: Instant) {
        for backend in self.backends.values_mut() {
            let servers = || backend.servers.values();
            if servers().any(|s| s.admin.resolv_maint) && servers().all(|s| s.admin.maint()) {
                backend.history.changed(now, true);
            }
        }
    }

    /// A datagram came back to the socket DNS queries leave from.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.advance(now);
        for i in 0..self.dns.sections.len() {
            let outcome = self.dns.sections[i].on_datagram(now, from, data, &mut self.actions);
            if let Some(outcome) = outcome {
                self.apply_outcome(now, i, outcome);
                break;
            }
        }
        self.schedule_dns();
    }

    /// The timer of section `i`.
    pub(super) fn on_dns_timer(&mut self, now: Instant, at: Instant, i: usize) {
        let Some(section) = self.dns.sections.get_mut(i) else {
            return;
        };
        if section.queued == Some(at) {
            section.queued = None;
        }
        self.run_section(now, i);
        self.schedule_dns();
    }

    fn run_dns(&mut self, now: Instant) {
        for i in 0..self.dns.sections.len() {
            self.run_section(now, i);
        }
        self.schedule_dns();
    }

    fn run_section(&mut self, now: Instant, i: usize) {
        let outcomes = self.dns.sections[i].poll(now, &mut self.rng, &mut self.actions);
        for outcome in outcomes {
            self.apply_outcome(now, i, outcome);
        }
    }

    /// Queues each section's next deadline.
    fn schedule_dns(&mut self) {
        for (i, section) in self.dns.sections.iter_mut().enumerate() {
            if let Some(at) = section.next_deadline() {
                let at = at.max(self.last_now + std::time::Duration::from_millis(1));
                self.timers
                    .schedule(&mut section.queued, at, TimerKey::Dns(i));
            }
        }
    }

    fn apply_outcome(&mut self, now: Instant, i: usize, outcome: Outcome) {
        match outcome {
            Outcome::Valid {
                resolution,
                nameserver,
            } => {
                let section = &self.dns.sections[i];
                let updater = format!(
                    "{}/{}",
                    section.config.name, section.config.nameservers[nameserver].name
                );
                let requesters = section.resolutions[resolution].requesters.clone();
                for (n, who) in requesters.into_iter().enumerate() {
                    let by = if n == 0 {
                        updater.as_str()
                    } else {
                        "DNS cache"
                    };
                    self.on_answer(now, i, resolution, who, by);
                }
            }
            Outcome::Failed { resolution } => {
                let requesters = self.dns.sections[i].resolutions[resolution]
                    .requesters
                    .clone();
                let mut keep = false;
                for who in requesters {
                    keep |= self.on_failure(now, i, resolution, who);
                }
                if !keep {
                    self.dns.sections[i].resolutions[resolution].items.clear();
                }
            }
        }
    }

    /// A valid answer for server `who` (`snr_resolution_cb`).
    fn on_answer(&mut self, now: Instant, i: usize, resolution: usize, who: Requester, by: &str) {
        let (b, s) = who;
        let Some(server) = self.backends.get(b).and_then(|x| x.servers.get(s)) else {
            return;
        };
        if server.retired {
            return;
        }
        let Some(dns) = server.config.host.as_ref().and_then(|h| h.dns.as_ref()) else {
            return;
        };
        let current = server.config.addr.ip();
        let current = (!current.is_unspecified() || !server.admin.resolv_maint).then_some(current);
        let (prefer, nets, allow_dup) = (dns.prefer, dns.nets.clone(), dns.allow_dup_ip);
        let r = &mut self.dns.sections[i].resolutions[resolution];
        let pick = if r.items.iter().any(|item| item.attached.contains(&who)) {
            Pick::Same
        } else {
            let mut best: Option<(usize, u32, bool)> = None;
            for (n, item) in r.items.iter().enumerate() {
                let mut score = 0;
                if prefer.holds(item.addr) {
                    score += 8;
                }
                if nets.iter().any(|net| net.contains(item.addr)) {
                    score += 4;
                }
                let used = item.attached.iter().any(|w| *w != who && w.0 == b);
                if used {
                    if !allow_dup {
                        continue;
                    }
                } else {
                    score += 2;
                }
                let is_current = Some(item.addr) == current;
                if is_current {
                    score += 1;
                }
                if best.is_none_or(|(_, max, _)| score > max) {
                    best = Some((n, score, is_current));
                }
            }
            match best {
                None => Pick::NoIp,
                Some((n, _, is_current)) => {
                    r.detach(who);
                    r.items[n].attached.push(who);
                    if is_current {
                        Pick::Same
                    } else {
                        Pick::New(r.items[n].addr)
                    }
                }
            }
        };
        match pick {
            Pick::Same => {
                self.update_status(now, i, resolution, who, false);
            }
            Pick::New(ip) => {
                self.change_addr(now, b, s, ip, by);
                self.update_status(now, i, resolution, who, false);
            }
            Pick::NoIp => {
                self.update_status(now, i, resolution, who, true);
            }
        }
    }

    /// A failed resolution for server `who` (`snr_resolution_error_cb`):
    /// whether the answer's addresses are to be kept.
    fn on_failure(&mut self, now: Instant, i: usize, resolution: usize, who: Requester) -> bool {
        if self.update_status(now, i, resolution, who, true) {
            let r = &mut self.dns.sections[i].resolutions[resolution];
            r.detach(who);
            false
        } else {
            true
        }
    }

    /// HAProxy's `snr_update_srv_status`: maintenance entered or left
    /// after a resolution. Returns whether the server was just put in
    /// maintenance (its address is then forgotten).
    fn update_status(
        &mut self,
        now: Instant,
        i: usize,
        resolution: usize,
        who: Requester,
        no_ip: bool,
    ) -> bool {
        let (b, s) = who;
        let section = &self.dns.sections[i];
        let r = &section.resolutions[resolution];
        let hold = &section.config.hold;
        let (status, last_valid) = (r.status, r.last_valid);
        let Some(server) = self.backends.get(b).and_then(|x| x.servers.get(s)) else {
            return false;
        };
        let in_rmaint = server.admin.resolv_maint;
        let reason = match status {
            Status::None => return false,
            Status::Valid if no_ip => "No IP for server ",
            Status::Valid => {
                if in_rmaint {
                    let mut admin = server.admin;
                    admin.resolv_maint = false;
                    let op = server.op;
                    self.change_server(now, b, s, op, admin, Cause::Admin);
                    let line = format!(
                        "Server {}/{} administratively READY thanks to valid DNS answer",
                        self.backends[b].config.name, self.backends[b].servers[s].config.name
                    );
                    self.log_server(now, b, Severity::Notice, &line);
                }
                return false;
            }
            Status::Nx => {
                if last_valid + hold.nx > now {
                    return false;
                }
                "DNS NX status"
            }
            Status::Timeout => {
                if last_valid + hold.timeout > now {
                    return false;
                }
                "DNS timeout status"
            }
            Status::Refused => {
                if last_valid + hold.refused > now {
                    return false;
                }
                "DNS refused status"
            }
            Status::Other | Status::Invalid => {
                if last_valid + hold.other > now {
                    return false;
                }
                "unspecified DNS error"
            }
        };
        if in_rmaint {
            return false;
        }
        let mut admin = server.admin;
        admin.resolv_maint = true;
        let op = server.op;
        self.change_server(now, b, s, op, admin, Cause::Resolution(reason));
        let server = &mut self.backends[b].servers[s];
        // HAProxy's `check->health = 0` on entering maintenance, checked
        // or not.
        server.health.fail_all();
        let port = server.config.addr.port();
        let unset = match server.config.addr.ip() {
            IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], port)),
            IpAddr::V6(_) => SocketAddr::from(([0u16; 8], port)),
        };
        server.config.addr = unset;
        true
    }

    /// Server `s` of backend `b` takes address `ip` (port kept), logged as
    /// HAProxy's `srv_update_addr`: new sessions and checks go there.
    fn change_addr(&mut self, now: Instant, b: BackendId, s: ServerId, ip: IpAddr, by: &str) {
        let backend = &self.backends[b];
        let server = &backend.servers[s];
        let old = server.config.addr.ip();
        let old = if old.is_unspecified() && server.admin.resolv_maint {
            "(none)".to_owned()
        } else {
            old.to_string()
        };
        let message = format!(
            "{}/{} changed its IP from {old} to {ip} by {by}.",
            backend.config.name, server.config.name
        );
        let (port, was) = (server.config.addr.port(), server.config.addr.ip());
        self.set_server_addr(b, s, SocketAddr::new(ip, port));
        // TLS without SNI names the server by its address: the new one.
        let server = &mut self.backends[b].servers[s];
        for target in [&mut server.check_tls, &mut server.traffic_tls] {
            if let Some(Ok((_, name @ ServerName::IpAddress(_)))) = target {
                *name = ServerName::IpAddress(ip.into());
            }
        }
        // An agent without `agent-addr` (its address is the server's)
        // follows the server.
        if let Some(agent) = server.config.agent.as_mut().filter(|a| a.addr == was) {
            agent.addr = ip;
            if let Some(state) = server.agent.as_mut() {
                state.follow_addr(was, ip);
            }
        }
        self.log(
            now,
            LogTargets::Backend(b),
            Severity::Notice,
            &message,
            Some(log::Level::Warn),
        );
    }
}
