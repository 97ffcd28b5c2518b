//! Connections to a `mode http` frontend: the Prometheus metrics and the
//! stats page, answered by core from its own stats (see [`crate::http`]).
//!
//! ```text
//! accept --> read a request --> route --> answer --> next request (keep-alive)
//!              \--bad request: 400, timeout: 408 or silence--> Close
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use super::{Balancer, Role};
use crate::http::{
    AdminAction, BAD_REQUEST, CONTINUE, Outcome, REQUEST_TIMEOUT, Read, Reply, RequestReader,
    Route, StatsFormat, StatsView,
};
use crate::id::{BackendId, ConnId, FrontendId, ServerId};
use crate::stats::{self, AdminState, ForcedHealth, html};
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// Bytes read at a time; a request (head and body) is at most
/// [`crate::http::MAX_REQUEST`] bytes.
const READ: usize = 4096;

/// A connection to a `mode http` frontend.
pub(super) struct PageConn {
    id: ConnId,
    generation: u32,
    frontend: FrontendId,
    peer: SocketAddr,
    reader: RequestReader,
    /// Bytes received and not yet taken by a request.
    input: Vec<u8>,
    /// The answers not yet sent.
    output: Vec<u8>,
    /// Close once `output` is sent.
    closing: bool,
    /// When the request being read (or the next one) must be whole.
    deadline: Instant,
    queued: Option<Instant>,
}

impl Balancer {
    /// Whether a page connection of frontend `f` is open.
    pub(super) fn has_pages(&self, f: FrontendId) -> bool {
        self.pages.iter().any(|(_, p)| p.frontend == f)
    }

    /// A connection to `mode http` frontend `fe`.
    pub(super) fn accept_page(&mut self, now: Instant, fe: FrontendId, peer: SocketAddr) -> ConnId {
        let p = self.pages.vacant_key();
        let generation = self.next_generation();
        let id = self.open_conn(Role::Page(p));
        let deadline = now + self.request_timeout(fe);
        self.frontends[fe].counters.session_started(now);
        self.pages.insert(PageConn {
            id,
            generation,
            frontend: fe,
            peer,
            reader: RequestReader::new(),
            input: Vec::new(),
            output: Vec::new(),
            closing: false,
            deadline,
            queued: None,
        });
        self.run_page(now, p);
        id
    }

    /// `timeout http-request`, else `timeout client`, else 10 s (core
    /// never waits for ever on a client of its own pages).
    fn request_timeout(&self, fe: FrontendId) -> Duration {
        let config = &self.frontends[fe].config;
        let service = config.service.as_ref();
        (service.and_then(|s| s.timeout_request))
            .or(config.timeout_client)
            .unwrap_or(Duration::from_secs(10))
    }

    /// `timeout http-keep-alive`, else the request timeout.
    fn keep_alive_timeout(&self, fe: FrontendId) -> Duration {
        let service = self.frontends[fe].config.service.as_ref();
        (service.and_then(|s| s.timeout_keep_alive)).unwrap_or_else(|| self.request_timeout(fe))
    }

    /// Room for the client's bytes, while a request may still grow.
    pub(super) fn page_recv_buf(&mut self, p: usize) -> Option<&mut [u8]> {
        let page = self.pages.get_mut(p)?;
        if page.closing || page.input.len() >= crate::http::MAX_REQUEST {
            return None;
        }
        let start = page.input.len();
        page.input.resize(start + READ, 0);
        // Given back to its length by `settle` if nothing is read.
        self.lent_page = Some((p, start));
        Some(&mut page.input[start..])
    }

    /// A read into [`Balancer::page_recv_buf`]'s room brought nothing:
    /// the room goes.
    pub(super) fn settle_page(&mut self) {
        if let Some((p, len)) = self.lent_page.take() {
            if let Some(page) = self.pages.get_mut(p) {
                page.input.truncate(len);
            }
        }
    }

    /// `n` bytes landed in the room `lent` (page, length before it).
    pub(super) fn on_page_received(
        &mut self,
        now: Instant,
        p: usize,
        n: usize,
        lent: Option<(usize, usize)>,
    ) {
        if let Some((lent, start)) = lent {
            if let Some(page) = self.pages.get_mut(lent) {
                page.input
                    .truncate(if lent == p { start + n } else { start });
            }
        }
        self.run_page(now, p);
    }

    /// The answers waiting for the client.
    pub(super) fn page_send_buf(&self, p: usize) -> Option<&[u8]> {
        let page = self.pages.get(p)?;
        Some(&page.output[..]).filter(|b| !b.is_empty())
    }

    pub(super) fn on_page_sent(&mut self, now: Instant, p: usize, n: usize) {
        if let Some(page) = self.pages.get_mut(p) {
            page.output.drain(..n.min(page.output.len()));
        }
        self.run_page(now, p);
    }

    /// The client closed or failed: the connection ends.
    pub(super) fn close_page(&mut self, p: usize, reset: bool) {
        if let Some(page) = self.pages.try_remove(p) {
            self.close(page.id, reset);
            self.counters.connection_closed();
            self.frontends[page.frontend].counters.session_ended();
        }
    }

    pub(super) fn on_page_timer(&mut self, now: Instant, at: Instant, p: usize, generation: u32) {
        let Some(page) = self.pages.get_mut(p).filter(|x| x.generation == generation) else {
            return;
        };
        popped(&mut page.queued, at);
        if now < page.deadline {
            return self.run_page(now, p);
        }
        if page.closing {
            // Its last answer did not go out in time either.
            return self.close_page(p, true);
        }
        // A request begun and not finished gets HAProxy's 408; an idle
        // connection is closed in silence. The 408 has as long to go out.
        if !page.input.is_empty() {
            page.output.extend_from_slice(REQUEST_TIMEOUT);
        }
        page.closing = true;
        let fe = page.frontend;
        let grace = self.request_timeout(fe);
        self.pages[p].deadline = now + grace;
        self.run_page(now, p);
    }

    /// Answers every whole request received, then brings the connection's
    /// interest, timer and life in line.
    fn run_page(&mut self, now: Instant, p: usize) {
        while self.answer_one(now, p) {}
        let Some(page) = self.pages.get_mut(p) else {
            return;
        };
        if page.closing && page.output.is_empty() {
            return self.close_page(p, false);
        }
        let (id, generation, deadline) = (page.id, page.generation, page.deadline);
        let read = !page.closing && page.input.len() < crate::http::MAX_REQUEST;
        let write = !page.output.is_empty();
        self.timers
            .schedule(&mut page.queued, deadline, TimerKey::Page(p, generation));
        self.set_interest(id, read, write);
    }

    /// Reads and answers one request; false when there is none (yet).
    fn answer_one(&mut self, now: Instant, p: usize) -> bool {
        let Some(page) = self.pages.get_mut(p).filter(|x| !x.closing) else {
            return false;
        };
        let mut reader = std::mem::take(&mut page.reader);
        let input = std::mem::take(&mut page.input);
        let (fe, peer) = (page.frontend, page.peer);
        let (reply, used, more) = match reader.read(&input) {
            Err(_) => (
                Reply {
                    bytes: BAD_REQUEST.to_vec(),
                    close: true,
                },
                input.len(),
                false,
            ),
            Ok(Read::NeedMore) => {
                self.pages[p].reader = reader;
                self.pages[p].input = input;
                return false;
            }
            Ok(Read::Continue) => (
                Reply {
                    bytes: CONTINUE.to_vec(),
                    close: false,
                },
                0,
                true,
            ),
            Ok(Read::Request(request)) => {
                let reply = self.route_page(now, fe, &request, peer);
                (reply, request.len, !reply_closes(&request))
            }
        };
        let keep_alive = self.keep_alive_timeout(fe);
        let page = &mut self.pages[p];
        page.reader = reader;
        page.input = input;
        page.input.drain(..used.min(page.input.len()));
        page.output.extend_from_slice(&reply.bytes);
        page.closing = reply.close || !more;
        if page.input.is_empty() {
            page.deadline = now + keep_alive;
        }
        if let Some(http) = &mut self.frontends[fe].counters.http {
            http.request(now, status_of(&reply));
        }
        self.counters.request_served();
        !page.closing
    }

    /// The answer to one request.
    fn route_page(
        &mut self,
        now: Instant,
        fe: FrontendId,
        request: &crate::http::Request<'_>,
        peer: SocketAddr,
    ) -> Reply {
        let Some(service) = self.frontends[fe].config.service.clone() else {
            return Reply {
                bytes: BAD_REQUEST.to_vec(),
                close: true,
            };
        };
        match service.route(request, peer.ip()) {
            Route::Metrics(query) => {
                let (process, proxies) = (self.process_info(now), self.proxy_stats(now));
                let body = stats::prometheus::render(&process, &proxies, &query);
                Reply::metrics(request, body.as_bytes())
            }
            Route::Stats(view) => {
                let body = self.stats_page(now, &view);
                view.reply(request, body.as_bytes())
            }
            Route::Admin(view, post) => {
                let exists =
                    (post.backend.as_deref()).is_some_and(|n| self.backend_named(n).is_some());
                let code = post.run(
                    |_| exists,
                    |b, s, action| self.page_action(now, b, s, action),
                );
                view.redirect(request, code)
            }
            Route::Reply(reply) => reply,
        }
    }

    /// The stats page, or its CSV, typed or JSON text, for `view`.
    fn stats_page(&self, now: Instant, view: &StatsView<'_>) -> String {
        let proxies = self.proxy_stats(now);
        let filter = stats::StatFilter {
            hide_down: view.hide_down,
            hide_maint: view.no_maint,
            ..stats::StatFilter::default()
        };
        match view.format {
            StatsFormat::Html => html::render(
                &self.process_info(now),
                &proxies,
                &html::PageOptions {
                    refresh_secs: view.refresh(),
                    admin: view.admin,
                },
            ),
            StatsFormat::Csv => stats::show_stat(&proxies, &filter),
            StatsFormat::Typed => stats::typed::show_stat(&proxies, &filter, false),
            StatsFormat::Json => stats::json::show_stat(&proxies, &filter),
            StatsFormat::JsonSchema => stats::json::SCHEMA.into(),
        }
    }

    /// A backend by name, or by `#id` as the stats page's form names it.
    fn backend_named(&self, name: &str) -> Option<BackendId> {
        let id = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
        self.proxy_refs()
            .into_iter()
            .find(|p| p.backend.is_some() && (Some(p.iid) == id || p.name == name))
            .and_then(|p| p.backend)
    }

    /// One action of the stats page's admin form.
    fn page_action(
        &mut self,
        now: Instant,
        backend: &str,
        server: &str,
        action: AdminAction,
    ) -> Outcome {
        let Some(b) = self.backend_named(backend) else {
            return Outcome::Unknown;
        };
        let found = self.backends[b]
            .servers
            .iter()
            .find(|(_, x)| x.config.name == server);
        let Some((s, _)) = found else {
            return Outcome::Unknown;
        };
        self.apply_page_action(now, b, s, action)
    }

    fn apply_page_action(
        &mut self,
        now: Instant,
        b: BackendId,
        s: ServerId,
        action: AdminAction,
    ) -> Outcome {
        let server = &self.backends[b].servers[s];
        let (maint, drain) = (server.admin.maint(), server.admin.drain());
        let checked = server.check.is_some();
        match action {
            AdminAction::Ready => self.set_admin_state(now, b, s, AdminState::Ready),
            AdminAction::Drain => self.set_admin_state(now, b, s, AdminState::Drain),
            AdminAction::Maint => self.set_admin_state(now, b, s, AdminState::Maint),
            AdminAction::Shutdown => self.kill_sessions_of(now, b, s),
            AdminAction::DisableHealth | AdminAction::EnableHealth if !checked => {
                return Outcome::Skipped;
            }
            AdminAction::DisableHealth => self.set_check_enabled(now, b, s, false),
            AdminAction::EnableHealth => self.set_check_enabled(now, b, s, true),
            AdminAction::HealthUp => self.force_health(now, b, s, ForcedHealth::Up),
            AdminAction::HealthStopping => self.force_health(now, b, s, ForcedHealth::Stopping),
            AdminAction::HealthDown => self.force_health(now, b, s, ForcedHealth::Down),
            AdminAction::Disable if !maint => self.set_admin_state(now, b, s, AdminState::Maint),
            AdminAction::Enable if maint => self.set_admin_state(now, b, s, AdminState::Ready),
            AdminAction::Stop if !drain => self.set_admin_state(now, b, s, AdminState::Drain),
            AdminAction::Start if drain => self.set_admin_state(now, b, s, AdminState::Ready),
            // No agent checks in weir; old forms that change nothing.
            _ => return Outcome::Skipped,
        }
        Outcome::Altered
    }
}

/// Whether the connection ends after this request's answer.
fn reply_closes(request: &crate::http::Request<'_>) -> bool {
    !request.keep_alive
}

/// The status code of an answer, for the HTTP counters.
fn status_of(reply: &Reply) -> u16 {
    let code = reply.bytes.get(9..12).unwrap_or(b"000");
    std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
