//! Sessions: accept, connect, splice, half-close, timeouts, end.

use std::net::SocketAddr;
use std::time::Duration;

use super::servers::Route;
use super::{BackendState, Balancer, LogTargets, Role, millis};
use crate::action::{Action, ConnError};
use crate::buffer::Buffer;
use crate::config::Severity;
use crate::hello;
use crate::id::{BackendId, ConnId, FrontendId, ListenerId, ServerId};
use crate::logging::Record;
use crate::session::{Phase, Pipe, ServerTls, Session, Timeouts};
use crate::stats::SessionTimes;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// A client connection that becomes a session after its PROXY header.
pub(super) struct Adopted {
    pub conn: ConnId,
    /// What followed the header.
    pub input: Pipe,
    pub accepted: Instant,
    /// The header's `PP2_TYPE_AUTHORITY`.
    pub authority: Option<Box<[u8]>>,
}

/// HAProxy's longest pause before retrying the same server.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The termination state of a session whose server reset once connected.
const SD: [char; 2] = ['S', 'D'];

impl Balancer {
    pub(super) fn accept_session(
        &mut self,
        now: Instant,
        listener: ListenerId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Option<ConnId> {
        if !self.claim_admission(now, listener) {
            return None;
        }
        let l = self.traffic_listener(listener)?;
        let (fe, bind) = (l.frontend, l.bind);
        self.count_accept_rate(now, fe);
        self.counters.connection_accepted(now);
        self.frontends[fe].counters.connection_received(now);
        let frontend = &self.frontends[fe].config;
        if frontend.binds.get(bind).is_some_and(|b| b.accept_proxy) {
            return Some(self.accept_pending(now, fe, bind, peer, local));
        }
        let client = self.start_session(now, fe, peer, local, None);
        if client.is_none() {
            self.give_client(fe);
            self.counters.connection_closed();
            self.refresh_listeners();
        }
        client
    }

    /// Makes a session of a connection accepted by frontend `fe`, or
    /// refuses it (`None`, logged). A connection `adopted` after its PROXY
    /// header keeps its id, accept time and the bytes that followed.
    pub(super) fn start_session(
        &mut self,
        now: Instant,
        fe: FrontendId,
        peer: SocketAddr,
        local: SocketAddr,
        adopted: Option<Adopted>,
    ) -> Option<ConnId> {
        let frontend = &self.frontends[fe].config;
        if !frontend.tcplog && !frontend.logs.is_empty() {
            let message = format!(
                "Connect from {}:{} to {}:{} ({}/TCP)",
                peer.ip(),
                peer.port(),
                local.ip(),
                local.port(),
                frontend.name
            );
            self.log(
                now,
                LogTargets::Frontend(fe),
                Severity::Info,
                &message,
                None,
            );
        }
        if self.frontends[fe].config.service.is_some() {
            // The configuration refuses `accept-proxy` there.
            return adopted.is_none().then(|| self.accept_page(now, fe, peer));
        }
        let Some(b) = self.frontends[fe].backend else {
            self.log_refused(now, fe, None, (peer, local), ['S', 'C']);
            return None;
        };
        if self.backends[b].servers.is_empty() {
            self.log_refused(now, fe, Some(b), (peer, local), ['S', 'C']);
            return None;
        }
        let route = self.backends[b].route(now, peer.ip(), &mut self.rng);
        let target = match route {
            Route::Server(t) => Some(t),
            Route::ServerQueue(_) | Route::BackendQueue => None,
            Route::Refuse => {
                self.log_refused(now, fe, Some(b), (peer, local), ['s', 'Q']);
                return None;
            }
        };

        let s = self.sessions.vacant_key();
        let (client, up, accepted, authority) = match adopted {
            Some(a) => {
                if let Some(slot) = self.conns.get_mut(a.conn.index()) {
                    slot.role = Role::Client(s);
                }
                (a.conn, a.input, a.accepted, a.authority)
            }
            None => (self.open_conn(Role::Client(s)), Pipe::default(), now, None),
        };
        let early = up.filled().map_or(0, <[u8]>::len) as u64;
        let server_conn = target.map(|_| self.open_conn(Role::Server(s)));
        let generation = self.next_generation();
        let timeout_client = self.frontends[fe].config.timeout_client;
        let backend = &mut self.backends[b];
        // No usable server yet: wait in the backend queue for one to come
        // (back) UP.
        let wait = backend.queue_wait(now, timeout_client);
        let (phase, deadline, addr, queue_mark) = match route {
            Route::Server(t) => {
                backend.add_load(t, now);
                let deadline = backend.config.timeout_connect.map(|d| now + d);
                let addr = Some(backend.servers[t].config.addr);
                (Phase::Connecting, deadline, addr, 0)
            }
            Route::ServerQueue(t) => {
                backend.server_waiting += 1;
                let mark = backend.servers[t].waiters.push(s, generation);
                (Phase::Queued, wait.map(|d| now + d), None, mark)
            }
            Route::BackendQueue | Route::Refuse => {
                let mark = backend.waiters.push(s, generation);
                (Phase::Queued, wait.map(|d| now + d), None, mark)
            }
        };
        let server_queued = matches!(route, Route::ServerQueue(_));
        backend.active += 1;
        if let Some(slot) = backend.load_slot {
            backend.limits.try_take(slot, u32::MAX);
        }
        backend.counters.session_assigned(now);
        backend.counters.session_started();
        if addr.is_some() {
            backend.counters.connect += 1;
        }
        let queued = match route {
            Route::ServerQueue(t) => Some(&mut backend.servers[t]),
            _ => None,
        };
        if let Some(server) = queued {
            server.counters.set_queue(server.waiters.waiting);
        } else if phase == Phase::Queued {
            backend.counters.set_queue(backend.waiters.waiting);
        }
        let frontend = &mut self.frontends[fe];
        frontend.active += 1;
        frontend.counters.session_started(now);
        self.counters.session_started(now);
        self.active += 1;
        let inserted = self.sessions.insert(Session {
            generation,
            client,
            server: server_conn,
            frontend: fe,
            backend: b,
            target: match route {
                Route::Server(t) | Route::ServerQueue(t) => Some(t),
                Route::BackendQueue | Route::Refuse => None,
            },
            server_queued,
            phase,
            up,
            down: Pipe::default(),
            peer,
            local,
            idle: (timeout_client, None),
            accepted,
            connected: None,
            connect_deadline: deadline,
            client_deadline: timeout_client.map(|t| now + t),
            server_deadline: None,
            queued: None,
            tls: None,
            retries: 0,
            redispatched: false,
            tried: Vec::new(),
            retry_at: None,
            dequeued: target.map(|_| now),
            queue_pos: [0, 0],
            queue_mark,
            hedge: None,
            hedge_at: target.and(backend.config.connect_hedge).map(|d| now + d),
            replay: false,
            replay_at: None,
            header: None,
            authority,
            ending: None,
            early_fin: false,
            logged: false,
        });
        debug_assert_eq!(inserted, s);
        // Bytes that came after a PROXY header are the client's first.
        self.count_client_bytes(fe, b, target, early, 0);
        self.load_mark = self.load_mark.max(self.sessions.len());
        if let (Some(conn), Some(addr), Some(t)) = (server_conn, addr, target) {
            self.push_connect(conn, b, t, addr, false);
        }
        self.reconcile(now, s);
        if target.is_none() {
            self.dispatch_queue(now, b);
        }
        self.refresh_listeners();
        Some(client)
    }

    /// Logs a connection closed at once for want of a backend or server.
    fn log_refused(
        &mut self,
        now: Instant,
        fe: FrontendId,
        backend: Option<BackendId>,
        (peer, local): (SocketAddr, SocketAddr),
        termination: [char; 2],
    ) {
        let frontend = &self.frontends[fe].config;
        // Nothing was transferred: `dontlognull` says no line.
        if !frontend.tcplog || frontend.logs.is_empty() || frontend.dontlognull {
            return;
        }
        let (name, bc) = match backend {
            Some(b) => (
                self.backends[b].config.name.as_str(),
                self.backends[b].active,
            ),
            None => (frontend.name.as_str(), 0),
        };
        let record = Record {
            client: peer,
            frontend_addr: Some(local),
            accepted: self.clock.at(now),
            frontend: &frontend.name,
            backend: name,
            server: None,
            server_addr: None,
            queue_ms: Some(0),
            connect_ms: None,
            total_ms: 0,
            bytes_out: 0,
            bytes_in: 0,
            termination,
            counts: [self.active + 1, self.frontends[fe].active + 1, bc, 0, 0],
            redispatched: false,
            queue_pos: [0, 0],
            asap: frontend.traffic.logasap,
        };
        let line = self.render_line(fe, &record);
        self.log(now, LogTargets::Frontend(fe), Severity::Info, &line, None);
    }

    pub(super) fn on_connected(&mut self, now: Instant, s: usize, result: Result<(), ConnError>) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let (b, Some(target)) = (session.backend, session.target) else {
            return;
        };
        if session.phase != Phase::Connecting {
            return;
        }
        let blame = server_to_blame(result);
        if blame {
            self.observe(now, b, target, result.is_ok());
        }
        let Some(session) = self.sessions.get(s) else {
            return;
        };
        match result {
            // The racing connect to another server carries on alone.
            Err(_) if session.hedge.is_some() => self.promote_hedge(now, s),
            Err(e) => self.connect_failed(now, s, 'S', blame, !e.is_source()),
            Ok(()) => {
                self.cancel_hedge(now, s);
                self.establish(now, s);
            }
        }
    }

    /// The second connect of session `s` (`connect-hedge`) completed: if it
    /// won, the first attempt is dropped and its server avoided for a while.
    pub(super) fn on_hedge_connected(
        &mut self,
        now: Instant,
        s: usize,
        result: Result<(), ConnError>,
    ) {
        let Some(&(_, target)) = self.sessions.get(s).and_then(|x| x.hedge.as_ref()) else {
            return;
        };
        let b = self.sessions[s].backend;
        if server_to_blame(result) {
            self.observe(now, b, target, result.is_ok());
            if result.is_err() {
                self.suspect(now, b, target);
            }
        }
        if result.is_err() {
            return self.cancel_hedge(now, s);
        }
        self.promote_hedge(now, s);
        self.establish(now, s);
    }

    /// Starts a second connect for session `s` to another usable server,
    /// when its first one is slow (`connect-hedge`).
    fn start_hedge(&mut self, now: Instant, s: usize) {
        let Some(session) = self.sessions.get_mut(s).filter(|x| x.hedge.is_none()) else {
            return;
        };
        let backend = &mut self.backends[session.backend];
        let mut exclude = session.tried.clone();
        exclude.extend(session.target);
        let Some(target) = backend.pick(&exclude, now, session.peer.ip(), &mut self.rng) else {
            return;
        };
        backend.add_load(target, now);
        let addr = backend.servers[target].config.addr;
        // The second attempt gets its own `timeout connect`.
        session.connect_deadline = backend.config.timeout_connect.map(|t| now + t);
        let conn = self.open_conn(Role::Hedge(s));
        self.sessions[s].hedge = Some((conn, target));
        let b = self.sessions[s].backend;
        self.push_connect(conn, b, target, addr, false);
    }

    /// Closes session `s`'s second connect, if it has one, and frees its
    /// server slot.
    fn cancel_hedge(&mut self, now: Instant, s: usize) {
        let Some((conn, target)) = self.sessions.get_mut(s).and_then(|x| x.hedge.take()) else {
            return;
        };
        self.close(conn, false);
        let b = self.sessions[s].backend;
        self.backends[b].drop_load(target);
        self.dispatch_queue(now, b);
    }

    /// Session `s`'s second connect becomes its server side; the first is
    /// closed and its server avoided by new connections for a while.
    fn promote_hedge(&mut self, now: Instant, s: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let Some((conn, target)) = session.hedge.take() else {
            return;
        };
        let (b, old) = (session.backend, session.target);
        if let Some(first) = session.server.replace(conn) {
            self.close(first, false);
        }
        if let Some(slot) = self.conns.get_mut(conn.index()) {
            slot.role = Role::Server(s);
        }
        let session = &mut self.sessions[s];
        session.target = Some(target);
        session.redispatched = true;
        if let Some(old) = old {
            if !session.tried.contains(&old) {
                session.tried.push(old);
            }
            self.backends[b].drop_load(old);
            self.suspect(now, b, old);
        }
        self.dispatch_queue(now, b);
    }

    /// The server of session `s` stayed silent, closed or reset before its
    /// first byte (`replay-until-response`): the client's bytes go to
    /// another server if that is safe and one is usable, within `retries`.
    /// Returns whether they do; if not, the bytes kept are dropped and the
    /// session goes on with its server.
    fn replay(&mut self, now: Instant, s: usize) -> bool {
        let Some(session) = self.sessions.get_mut(s) else {
            return false;
        };
        let (true, Some(old)) = (session.replay, session.target) else {
            return false;
        };
        let b = session.backend;
        let backend = &mut self.backends[b];
        let mut exclude = session.tried.clone();
        exclude.push(old);
        let target = (session.retries < backend.config.retries
            && hello::replay_is_safe(session.up.stream_start()))
        .then(|| backend.pick(&exclude, now, session.peer.ip(), &mut self.rng))
        .flatten();
        let Some(target) = target else {
            session.stop_replay();
            return false;
        };
        session.tried.push(old);
        session.retries += 1;
        session.redispatched = true;
        session.up.rewind();
        session.phase = Phase::Connecting;
        session.connected = None;
        session.server_deadline = None;
        session.replay_at = None;
        if let Some(conn) = session.server.take() {
            self.close(conn, true);
        }
        self.suspect(now, b, old);
        self.connect_to(now, s, target);
        true
    }

    /// Server `t` of backend `b` failed a traffic connect: new connections
    /// avoid it until its next check passes (or one interval).
    fn suspect(&mut self, now: Instant, b: BackendId, t: ServerId) {
        let server = &mut self.backends[b].servers[t];
        let wait = if server.check.is_some() {
            server.check_interval()
        } else {
            RETRY_PAUSE
        };
        server.suspect_until = Some(now + wait);
    }

    /// Session `s`'s server side is connected: bytes start to flow.
    fn establish(&mut self, now: Instant, s: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let (b, Some(target)) = (session.backend, session.target) else {
            return;
        };
        if let Some(target) = &self.backends[b].servers[target].traffic_tls {
            let started = target
                .clone()
                .and_then(|(config, name)| ServerTls::new(config, name));
            match started {
                Ok(tls) => session.tls = Some(Box::new(tls)),
                Err(e) => {
                    log::warn!("TLS to server failed: {e}");
                    return self.end(now, s, ['S', 'C'], true);
                }
            }
        }
        // The PROXY header goes first, before weir's own TLS.
        session.start_header(self.backends[b].servers[target].config.send_proxy);
        session.phase = Phase::Established;
        session.connected = Some(now);
        session.connect_deadline = None;
        session.hedge_at = None;
        // Nothing reached a server yet: keep it until one answers.
        session.replay = self.backends[b].config.replay_until_response.is_some()
            && session.tls.is_none()
            && session.up.bytes == 0;
        // The server's inactivity clock starts now (in `reconcile`).
        session.idle.1 = None;
        if self.frontends[session.frontend].config.traffic.logasap {
            self.log_asap(now, s);
        }
        self.reconcile(now, s);
    }

    pub(super) fn on_read_closed(&mut self, now: Instant, s: usize, client: bool) {
        if !client && self.replay(now, s) {
            return;
        }
        if let Some(session) = self.sessions.get_mut(s) {
            match &mut session.tls {
                _ if client => {
                    session.up.eof = true;
                    session.early_fin = now == session.accepted;
                }
                // The plaintext stream ends when rustls says so.
                Some(tls) => tls.read_closed(),
                None => session.down.eof = true,
            }
            self.reconcile(now, s);
        }
    }

    /// A side was reset or broke. A client's reset ends the session and
    /// resets the server. A connected server's reset is HAProxy's `SD`:
    /// the bytes it sent before still reach the client, which then gets a
    /// FIN (see [`Balancer::server_broke`]).
    pub(super) fn on_failed(&mut self, now: Instant, s: usize, client: bool) {
        if !client && self.replay(now, s) {
            return;
        }
        if !client && self.server_broke(now, s, false) {
            return;
        }
        if let Some(session) = self.sessions.get(s) {
            let who = if client { 'C' } else { 'S' };
            let phase = session.phase_letter();
            self.end(now, s, [who, phase], true);
        }
    }

    /// A write to the server of session `s` failed: it reset (a crash, or
    /// a close with the client's bytes unread). The server may have sent
    /// more before its RST than weir has read (it was writing, not
    /// reading: the client's buffer was full), and Linux keeps those bytes
    /// readable; so the server side stays open for reading until its end
    /// of stream, and the client gets every byte, then a FIN. HAProxy 2.6
    /// stops reading at once (its client gets a clean FIN after fewer
    /// bytes than the server sent); otherwise this is its `SD`.
    pub(super) fn on_server_write_failed(&mut self, now: Instant, s: usize) {
        if !self.replay(now, s) && !self.server_broke(now, s, true) {
            self.on_failed(now, s, false);
        }
    }

    /// The server of established session `s` reset or broke: the bytes it
    /// sent before (plaintext rustls already decrypted included) go on to
    /// the client, then a FIN; the client's own bytes are dropped and it
    /// is read no more. With `readable` (a failed write) the server is
    /// still read until its end of stream, else its connection is closed.
    /// The session is logged `SD` whatever ends it later. Returns `false`
    /// when the session is not established (a failed connect is handled
    /// as one) or already ends another way.
    fn server_broke(&mut self, now: Instant, s: usize, readable: bool) -> bool {
        let Some(session) = self.sessions.get_mut(s) else {
            return false;
        };
        if session.phase != Phase::Established || session.ending.is_some_and(|e| e != SD) {
            return false;
        }
        session.ending = Some(SD);
        // HAProxy shuts the client's read side once the server's write
        // side is gone.
        session.up.eof = true;
        session.up.shut = true;
        session.up.release(&mut self.pool);
        // Nothing more goes to the server: the bytes in the pipe to it,
        // if any, are dropped with its connection.
        session.up.in_kernel = 0;
        session.header = None;
        if readable && !session.down.eof {
            if let Some(tls) = &mut session.tls {
                tls.write_failed();
            }
        } else {
            if let Some(mut tls) = session.tls.take() {
                tls.decrypt(&mut session.down, &mut self.pool);
                tls.release(&mut self.pool);
            }
            session.down.eof = true;
            if let Some(conn) = session.server.take() {
                self.close(conn, false);
            }
        }
        self.reconcile(now, s);
        true
    }

    pub(super) fn on_received(&mut self, now: Instant, s: usize, client: bool, n: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        if client {
            let (f, b, t) = (session.frontend, session.backend, session.target);
            self.count_client_bytes(f, b, t, n as u64, 0);
            let Some(session) = self.sessions.get_mut(s) else {
                return;
            };
            let first = session.up.bytes == 0 && session.up.is_empty();
            session.up.commit(n);
            session.up.note_read(n);
            session.client_deadline = session.idle.0.map(|t| now + t);
            let hello = first
                && session
                    .up
                    .filled()
                    .is_some_and(|b| b.starts_with(&[0x16, 0x03]));
            if hello {
                let b = session.backend;
                self.warn_tls_in_tls(now, b);
            }
        } else {
            match &mut session.tls {
                Some(tls) => tls.received(n),
                None => {
                    session.down.commit(n);
                    session.down.note_read(n);
                }
            }
            session.stop_replay();
            session.server_deadline = session.idle.1.map(|t| now + t);
        }
        self.reconcile(now, s);
    }

    pub(super) fn on_sent(&mut self, now: Instant, s: usize, client: bool, n: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        self.counters.bytes_sent(now, n as u64);
        // `option independent-streams`: a write does not refresh the
        // timeout of a side weir also reads from (its read timeout).
        let independent = |indep: bool, reading: bool| indep && reading;
        if client {
            let (f, b, t) = (session.frontend, session.backend, session.target);
            session.down.consume(n);
            let indep = self.frontends[f].config.traffic.independent_streams;
            if !independent(indep, session.up.wants_read()) {
                session.client_deadline = session.idle.0.map(|t| now + t);
            }
            self.count_client_bytes(f, b, t, 0, n as u64);
        } else if let Some(header) = session.header.as_mut().filter(|h| h.pending().is_some()) {
            // Not client bytes: neither counted nor kept for a replay.
            header.sent(n);
            session.server_deadline = session.idle.1.map(|t| now + t);
        } else {
            match &mut session.tls {
                Some(tls) => tls.sent(n),
                None => session.up.written(n, session.replay),
            }
            if session.replay && session.replay_at.is_none() {
                let wait = self.backends[session.backend].config.replay_until_response;
                session.replay_at = wait.map(|t| now + t);
            }
            let indep = self.backends[session.backend]
                .config
                .traffic
                .independent_streams;
            let reading =
                session.tls.as_ref().is_none_or(|t| t.wants_read()) && session.down.wants_read();
            if !independent(indep, reading) {
                session.server_deadline = session.idle.1.map(|t| now + t);
            }
        }
        self.reconcile(now, s);
    }

    /// Bytes from (`bin`) and to (`bout`) a client, in its frontend's,
    /// backend's and server's counters.
    pub(super) fn count_client_bytes(
        &mut self,
        f: FrontendId,
        b: BackendId,
        t: Option<ServerId>,
        bin: u64,
        bout: u64,
    ) {
        let fe = &mut self.frontends[f].counters;
        fe.bytes_in += bin;
        fe.bytes_out += bout;
        let backend = &mut self.backends[b];
        backend.counters.bytes_in += bin;
        backend.counters.bytes_out += bout;
        if let Some(server) = t.and_then(|t| backend.servers.get_mut(t)) {
            server.counters.bytes_in += bin;
            server.counters.bytes_out += bout;
        }
    }

    /// A client's first bytes are a TLS ClientHello and the backend's
    /// servers use `ssl`: its TLS is being wrapped in weir's. Said once
    /// per backend.
    fn warn_tls_in_tls(&mut self, now: Instant, b: BackendId) {
        let backend = &mut self.backends[b];
        let ssl = backend.servers.values().any(|x| x.traffic_tls.is_some());
        if backend.warned_tls_in_tls || !ssl {
            return;
        }
        backend.warned_tls_in_tls = true;
        let message = format!(
            "backend {}: clients are sending TLS but servers use 'ssl', so TLS is being \
             wrapped in TLS; for pass-through use 'check-ssl' instead of 'ssl'",
            backend.config.name
        );
        self.log(
            now,
            LogTargets::Backend(b),
            Severity::Warning,
            &message,
            Some(log::Level::Warn),
        );
    }

    /// Brings a session's outputs in line with its state: frees drained
    /// buffers, forwards FINs, sets interests, ends it when both directions
    /// are closed, and arms its timer.
    pub(super) fn reconcile(&mut self, now: Instant, s: usize) {
        if self.abort_on_close(now, s) {
            return;
        }
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        // More than a buffer before the server's first byte: no replay.
        if session.replay && session.up.buf.as_ref().is_some_and(Buffer::is_full) {
            session.stop_replay();
        }
        if let Some(tls) = &mut session.tls {
            // Decrypting first lets the client's FIN follow a handshake
            // that the server's records just completed.
            tls.decrypt(&mut session.down, &mut self.pool);
            tls.encrypt(&mut session.up, &mut self.pool);
            if tls.failed.is_some() {
                return self.end(now, s, ['S', 'D'], true);
            }
            if tls.eof {
                session.down.eof = true;
            }
        }
        session.up.release_if_empty(&mut self.pool);
        session.down.release_if_empty(&mut self.pool);
        let established = session.phase == Phase::Established;
        let (client, server) = (session.client, session.server);
        // Everything the client sent is out, close_notify included with TLS.
        let up_flushed =
            session.tls.as_ref().is_none_or(|t| t.flushed()) && session.pending_header().is_none();
        if established {
            let up_fin = session.up.eof && session.up.is_empty() && up_flushed && !session.up.shut;
            let down_fin = session.down.eof && session.down.is_empty() && !session.down.shut;
            session.up.shut |= up_fin;
            session.down.shut |= down_fin;
            // Both directions over: the closes carry the FINs still owed
            // when each side's own end of stream was read from it (nothing
            // is left to read, so a close sends a FIN, not an RST). Not
            // when an ending made one up (`SD`, `cD`, `sD`), nor to a
            // server in TLS: its end may be the close_notify, before its FIN.
            let over = session.up.shut && session.down.shut;
            let fold = over && session.ending.is_none();
            let mut owed = (false, false);
            if let (true, Some(conn)) = (up_fin, server) {
                match fold && session.tls.is_none() {
                    true => owed.1 = true,
                    false => self.actions.push_back(Action::ShutdownWrite { conn }),
                }
            }
            if down_fin {
                match fold {
                    true => owed.0 = true,
                    false => self
                        .actions
                        .push_back(Action::ShutdownWrite { conn: client }),
                }
            }
            if over {
                self.end_forwarding(now, s, ['-', '-'], false, owed);
                return;
            }
            if self.splice && !self.nosplice && !(session.up.kernel && session.down.kernel) {
                super::splice::offer(
                    session,
                    &self.frontends[session.frontend].config.traffic.splice,
                    &self.backends[session.backend].config.traffic.splice,
                    &mut self.actions,
                );
            }
        }
        let client_interest = (
            session.up.wants_read(),
            established && !session.down.is_empty(),
        );
        let header = session.pending_header().is_some();
        let server_interest = match &session.tls {
            Some(tls) => (
                established && tls.wants_read() && session.down.wants_read(),
                established && (header || tls.send_buf().is_some()),
            ),
            None => (
                established && session.down.wants_read(),
                established && (header || !session.up.is_empty()),
            ),
        };
        let timeouts = Timeouts::of(
            &self.frontends[session.frontend].config,
            &self.backends[session.backend].config,
        );
        session.update_idle(now, &timeouts);
        session.wait_on(now, client_interest, server_interest);
        let deadline = session.deadline();
        let key = TimerKey::Session(s, session.generation);
        if let Some(at) = deadline {
            self.timers.schedule(&mut session.queued, at, key);
        }
        self.set_interest(client, client_interest.0, client_interest.1);
        if let Some(conn) = server {
            self.set_interest(conn, server_interest.0, server_interest.1);
        }
    }

    pub(super) fn on_session_timer(
        &mut self,
        now: Instant,
        at: Instant,
        s: usize,
        generation: u32,
    ) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        if session.generation != generation {
            return;
        }
        popped(&mut session.queued, at);
        let due = |deadline: Option<Instant>| deadline.is_some_and(|d| d <= now);
        let phase = session.phase_letter();
        if session.phase == Phase::Queued && due(session.connect_deadline) {
            // Waited as long as the client would (an outage): its timeout.
            let who = if due(session.client_deadline) {
                'c'
            } else {
                's'
            };
            return self.end(now, s, [who, 'Q'], false);
        }
        if due(session.retry_at) {
            session.retry_at = None;
            let backend = &self.backends[session.backend];
            // A server marked DOWN during the pause is not retried: with
            // redispatch, the session waits for a usable server as a new
            // connection would. Without, HAProxy retries the same server.
            let usable = |t| backend.servers.get(t).is_some_and(|x| x.is_usable());
            return match session.target {
                Some(t) if !backend.config.redispatch || usable(t) => self.connect_to(now, s, t),
                _ => self.requeue(now, s),
            };
        }
        if due(session.replay_at) {
            session.replay_at = None;
            if !self.replay(now, s) {
                self.reconcile(now, s);
            }
            return;
        }
        if due(session.hedge_at) && !due(session.connect_deadline) {
            session.hedge_at = None;
            self.start_hedge(now, s);
            return self.reconcile(now, s);
        }
        if self.read_timed_out(now, s) {
            return;
        }
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let termination = if due(session.connect_deadline) {
            Some(['s', 'C'])
        } else if due(session.client_deadline) {
            Some(['c', phase])
        } else if due(session.server_deadline) {
            Some(['s', phase])
        } else {
            None
        };
        match termination {
            Some(['s', 'C']) => {
                if let Some(target) = session.target {
                    let b = session.backend;
                    self.observe(now, b, target, false);
                }
                self.connect_failed(now, s, 's', true, false);
            }
            Some(termination) => self.end(now, s, termination, false),
            None => {
                if let Some(at) = session.deadline() {
                    let key = TimerKey::Session(s, generation);
                    self.timers.schedule(&mut session.queued, at, key);
                }
            }
        }
    }

    /// A connect attempt failed (`who` is `S`, or `s` for `timeout
    /// connect`): retry while `retries` allows, with redispatch on another
    /// server at once (an untried one first), else (or when it is the only
    /// usable one) on the same one: at once after a timeout, after
    /// HAProxy's pause of `min(timeout connect, 1s)` after a refusal. The client's bytes wait in the
    /// session meanwhile, so a retry loses nothing. A failure to `blame` on
    /// its server makes that server suspect.
    fn connect_failed(&mut self, now: Instant, s: usize, who: char, blame: bool, pause: bool) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let backend = &mut self.backends[session.backend];
        backend.counters.failed_conns += 1;
        let server = session.target.and_then(|t| backend.servers.get_mut(t));
        if let Some(server) = server {
            server.counters.failed_conns += 1;
        }
        if session.retries >= backend.config.retries {
            return self.end(now, s, [who, 'C'], false);
        }
        session.retries += 1;
        backend.counters.retries += 1;
        let failed = session.target;
        let closed = session.server.take();
        if let Some(conn) = closed {
            self.conns.remove(conn.index());
            self.actions.push_back(Action::Close {
                conn,
                reset: false,
                forwards_fin: false,
            });
        }
        session.connect_deadline = None;
        let b = session.backend;
        // A racing second connect ran out of time too.
        let hedged = session.hedge.map(|(_, t)| t);
        let failed: Vec<ServerId> = failed.into_iter().chain(hedged).collect();
        for &t in &failed {
            if !session.tried.contains(&t) {
                session.tried.push(t);
            }
        }
        if let Some(conn) = closed {
            self.release_source_port(conn);
        }
        self.cancel_hedge(now, s);
        // Suspect until a check says otherwise: new connections avoid it.
        for t in failed.into_iter().filter(|_| blame) {
            self.suspect(now, b, t);
        }
        let session = &mut self.sessions[s];
        let backend = &mut self.backends[b];
        // An untried server; once every server was tried, as HAProxy's
        // redispatch does, any other than the one that just failed.
        let last: Vec<ServerId> = session.target.into_iter().collect();
        let other = if backend.config.redispatch {
            let peer = session.peer.ip();
            backend
                .pick(&session.tried, now, peer, &mut self.rng)
                .or_else(|| backend.pick(&last, now, peer, &mut self.rng))
        } else {
            None
        };
        match other {
            Some(target) => {
                session.redispatched = true;
                // HAProxy assigns the server again: `%Tw` runs until now,
                // `%Tc` counts this connect only.
                session.dequeued = Some(now);
                backend.counters.redispatches += 1;
                self.connect_to(now, s, target);
            }
            // A failure of the local end (`source`) is retried at once,
            // as HAProxy does for `SF_ERR_RESOURCE`.
            None if !pause && who == 'S' => {
                let usable = |t| backend.servers.get(t).is_some_and(|x| x.is_usable());
                match session.target {
                    Some(t) if !backend.config.redispatch || usable(t) => {
                        self.connect_to(now, s, t)
                    }
                    _ => self.requeue(now, s),
                }
            }
            None => {
                // HAProxy's turn-around: a pause before retrying the same
                // server only after a refusal; after `timeout connect`, at once.
                let pause = match pause {
                    true => {
                        (backend.config.timeout_connect).map_or(RETRY_PAUSE, |t| t.min(RETRY_PAUSE))
                    }
                    false => Duration::ZERO,
                };
                session.retry_at = Some(now + pause);
                // No connect is in flight during the pause: nothing to
                // hedge (the retry arms a hedge of its own).
                session.hedge_at = None;
                self.reconcile(now, s);
            }
        }
    }

    /// Opens a new server side for session `s` to server `target`.
    fn connect_to(&mut self, now: Instant, s: usize, target: ServerId) {
        let conn = self.open_conn(Role::Server(s));
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let b = session.backend;
        let backend = &mut self.backends[b];
        // A new server's token was claimed by the caller.
        let left = session.target.filter(|&old| old != target);
        if session.target != Some(target) {
            if let Some(old) = left {
                backend.drop_load(old);
            }
            backend.add_load(target, now);
        }
        session.target = Some(target);
        session.server = Some(conn);
        backend.counters.connect += 1;
        backend.servers[target].counters.connect += 1;
        session.connect_deadline = backend.config.timeout_connect.map(|t| now + t);
        session.hedge_at = backend.config.connect_hedge.map(|t| now + t);
        let addr = backend.servers[target].config.addr;
        self.push_connect(conn, b, target, addr, false);
        self.reconcile(now, s);
        if left.is_some() {
            self.dispatch_queue(now, b);
        }
    }

    /// A server came back or a slot freed: queued sessions of backend `b`
    /// get a server while there is one to get. Sessions waiting for a
    /// server of their own go first, to it (or, if it is no longer usable,
    /// to the backend queue); then the backend queue, in arrival order.
    /// Returns how many sessions left the backend queue.
    pub(super) fn dispatch_queue(&mut self, now: Instant, b: BackendId) -> u32 {
        let mut served = 0;
        if self.backends[b].server_waiting > 0 {
            let servers: Vec<ServerId> = self.backends[b].servers.ids().collect();
            for t in servers {
                self.dispatch_server_queue(now, b, t);
            }
        }
        self.follow_outage(now, b);
        while let Some(&(s, generation)) = self.backends[b].waiters.queue.front() {
            let Some(session) = self.waiting(s, generation) else {
                self.backends[b].waiters.queue.pop_front();
                continue;
            };
            let (ip, mark) = (session.peer.ip(), session.queue_mark);
            let Some(target) = self.backends[b].pick(&[], now, ip, &mut self.rng) else {
                break;
            };
            let backend = &mut self.backends[b];
            backend.waiters.queue.pop_front();
            let pos = backend.waiters.position(mark);
            backend.waiters.serve();
            self.sessions[s].queue_pos[1] = self.sessions[s].queue_pos[1].saturating_add(pos);
            self.dequeue(now, s, target);
            served += 1;
        }
        served
    }

    /// Serves the sessions waiting for server `t` of backend `b` while it
    /// has room; if it is no longer usable they join the backend queue.
    fn dispatch_server_queue(&mut self, now: Instant, b: BackendId, t: ServerId) {
        while let Some(&(s, generation)) = self.backends[b].servers[t].waiters.queue.front() {
            let usable = self.backends[b].servers[t].is_usable();
            let Some(session) = queued_mut(&mut self.sessions, s, generation) else {
                self.backends[b].servers[t].waiters.queue.pop_front();
                continue;
            };
            // Its token, when it goes to the server.
            if usable && !self.backends[b].claim_queued(t, now) {
                return;
            }
            let backend = &mut self.backends[b];
            backend.servers[t].waiters.queue.pop_front();
            let server = &mut backend.servers[t];
            session.queue_pos[0] =
                session.queue_pos[0].saturating_add(server.waiters.position(session.queue_mark));
            backend.server_waiting = backend.server_waiting.saturating_sub(1);
            session.server_queued = false;
            server.unqueue(usable, &backend.limits);
            if usable {
                self.dequeue(now, s, t);
            } else {
                session.queue_mark = backend.waiters.push(s, generation);
            }
        }
    }

    /// Session `s`, if it is the one still waiting in a queue.
    fn waiting(&self, s: usize, generation: u32) -> Option<&Session> {
        self.sessions.get(s).filter(|x| is_queued(x, generation))
    }

    /// Without `timeout queue`, an outage of backend `b` (no usable server
    /// at all) that starts or ends moves the deadlines of the sessions in
    /// its queue: out to as long as each client may wait, or back in to
    /// `timeout connect` from now. Costs a look at the servers per call
    /// while sessions wait, and a pass over the queue per change.
    fn follow_outage(&mut self, now: Instant, b: BackendId) {
        let backend = &mut self.backends[b];
        if backend.config.timeout_queue.is_some() || backend.waiters.waiting == 0 {
            return;
        }
        let outage = backend.usable_count(now) == 0;
        if outage == backend.outage {
            return;
        }
        backend.outage = outage;
        for &(s, generation) in &backend.waiters.queue {
            let Some(session) = queued_mut(&mut self.sessions, s, generation) else {
                continue;
            };
            let client = self.frontends[session.frontend].config.timeout_client;
            let Some(until) = backend.queue_wait(now, client).map(|d| now + d) else {
                continue;
            };
            let deadline = match session.connect_deadline {
                Some(d) if outage => d.max(until),
                Some(d) => d.min(until),
                None => until,
            };
            session.connect_deadline = Some(deadline);
            let key = TimerKey::Session(s, generation);
            self.timers.schedule(&mut session.queued, deadline, key);
        }
    }

    /// Session `s`, between two connect attempts, waits in its backend's
    /// queue for a usable server (see [`BackendState::queue_wait`]).
    fn requeue(&mut self, now: Instant, s: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let b = session.backend;
        let client = self.frontends[session.frontend].config.timeout_client;
        let backend = &mut self.backends[b];
        if let Some(t) = session.target.take() {
            backend.drop_load(t);
        }
        let wait = backend.queue_wait(now, client);
        session.phase = Phase::Queued;
        session.server_queued = false;
        // `%Tw` counts until it leaves the queue again, or gives up.
        session.dequeued = None;
        session.connect_deadline = wait.map(|d| now + d);
        session.hedge_at = None;
        session.queue_mark = backend.waiters.push(s, session.generation);
        backend.counters.set_queue(backend.waiters.waiting);
        self.reconcile(now, s);
        self.dispatch_queue(now, b);
    }

    /// Queued session `s` leaves its queue for server `target`.
    fn dequeue(&mut self, now: Instant, s: usize, target: ServerId) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        self.backends[session.backend].add_load(target, now);
        session.phase = Phase::Connecting;
        session.dequeued = Some(now);
        session.target = Some(target);
        self.connect_to(now, s, target);
    }

    /// Ends every session of server `target` of backend `b`, logged with
    /// `termination` (`on-marked-down shutdown-sessions`).
    pub(super) fn end_sessions_of(
        &mut self,
        now: Instant,
        b: BackendId,
        target: ServerId,
        who: char,
    ) {
        let victims: Vec<(usize, char)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.backend == b && s.target == Some(target) && s.phase != Phase::Queued)
            .map(|(i, s)| (i, s.phase_letter()))
            .collect();
        for (s, phase) in victims {
            self.end(now, s, [who, phase], false);
        }
    }

    /// Ends a session: logs it, closes both sides, frees its buffers.
    pub(super) fn end(&mut self, now: Instant, s: usize, termination: [char; 2], reset: bool) {
        self.end_forwarding(now, s, termination, reset, (false, false));
    }

    /// [`Balancer::end`]; `owed` (client, server): the FIN still to
    /// forward to that side, which its close carries.
    fn end_forwarding(
        &mut self,
        now: Instant,
        s: usize,
        termination: [char; 2],
        reset: bool,
        owed: (bool, bool),
    ) {
        let Some(session) = self.sessions.get(s) else {
            return;
        };
        let termination = session.ending.unwrap_or(termination);
        // Closed while the session is known: `option nolinger` is per side.
        let (client, server) = (session.client, session.server);
        self.close_forwarding(client, reset, owed.0);
        if let Some(conn) = server {
            self.close_forwarding(conn, reset, owed.1);
        }
        self.cancel_hedge(now, s);
        let mut session = self.sessions.remove(s);
        if self.lent == Some(s) {
            self.lent = None;
        }
        session.up.release(&mut self.pool);
        session.down.release(&mut self.pool);
        if let Some(tls) = session.tls.take() {
            tls.release(&mut self.pool);
        }
        if session.phase == Phase::Queued {
            self.leave_queue(&mut session);
        }
        self.log_session(now, &session, termination);
        self.count_end(now, &session, termination);
        let backend = &mut self.backends[session.backend];
        backend.active = backend.active.saturating_sub(1);
        if let Some(slot) = backend.load_slot {
            backend.limits.give(slot);
        }
        match (session.phase, session.target) {
            (Phase::Queued, Some(t)) if session.server_queued => {
                if let Some(server) = backend.servers.get_mut(t) {
                    server.unqueue(false, &backend.limits);
                }
                backend.server_waiting = backend.server_waiting.saturating_sub(1);
            }
            (Phase::Queued, _) => backend.waiters.left(),
            (_, Some(t)) => backend.drop_load(t),
            (_, None) => {}
        }
        let frontend = &mut self.frontends[session.frontend];
        frontend.active = frontend.active.saturating_sub(1);
        frontend.counters.session_ended();
        self.counters.connection_closed();
        self.active = self.active.saturating_sub(1);
        self.give_client(session.frontend);
        if session.phase != Phase::Queued {
            self.dispatch_queue(now, session.backend);
        }
        self.refresh_listeners();
        self.ease_after_burst();
    }

    /// A session that gave up waiting counts its stay in `%sq` or `%bq`
    /// (HAProxy's `pendconn_unlink`); the queue's count is `end`'s.
    fn leave_queue(&self, session: &mut Session) {
        let backend = &self.backends[session.backend];
        let server = session.target.filter(|_| session.server_queued);
        let (waiters, k) = match server.and_then(|t| backend.servers.get(t)) {
            Some(server) => (&server.waiters, 0),
            None if server.is_some() => return,
            None => (&backend.waiters, 1),
        };
        session.queue_pos[k] =
            session.queue_pos[k].saturating_add(waiters.position(session.queue_mark));
    }

    /// A finished session in its backend's and server's counters: aborts
    /// of a session that reached its server, and its times (HAProxy's
    /// `stream_update_time_stats`).
    fn count_end(&mut self, now: Instant, session: &Session, termination: [char; 2]) {
        let backend = &mut self.backends[session.backend];
        backend.counters.session_ended();
        let Some(connected) = session.connected else {
            return;
        };
        let dequeued = session.dequeued.unwrap_or(session.accepted);
        let times = SessionTimes {
            queue_ms: millis(session.accepted, dequeued) as u32,
            connect_ms: millis(dequeued, connected) as u32,
            data_ms: 0,
            total_ms: millis(session.accepted, now) as u32,
        };
        let server = session.target.and_then(|t| backend.servers.get_mut(t));
        for counters in
            std::iter::once(&mut backend.counters).chain(server.map(|x| &mut x.counters))
        {
            counters.record_times(times);
            match termination[0] {
                'C' | 'c' => counters.cli_aborts += 1,
                'S' | 's' => counters.srv_aborts += 1,
                _ => {}
            }
        }
    }

    /// The `option tcplog` line of a finished session. Process and frontend
    /// counts include the session; backend and server counts no longer do.
    fn log_session(&mut self, now: Instant, session: &Session, termination: [char; 2]) {
        if !session.logged {
            self.log_line(now, session, termination, true);
        }
    }

    /// `option logasap`: session `s` is logged as its server connection
    /// is established (HAProxy's `back_establish`): `--`, `%Tt` the time
    /// so far, `%B` what the client got so far, the backend's and server's
    /// counts with it.
    fn log_asap(&mut self, now: Instant, s: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        session.logged = true;
        let session = &self.sessions[s];
        // The line borrows the session while `log` needs the balancer.
        let line = self.session_line(now, session, ['-', '-'], false);
        if let Some((line, severity)) = line {
            let fe = self.sessions[s].frontend;
            self.log(now, LogTargets::Frontend(fe), severity, &line, None);
        }
    }

    /// Logs `session`'s line, if its frontend logs sessions.
    fn log_line(&mut self, now: Instant, session: &Session, termination: [char; 2], ended: bool) {
        if let Some((line, severity)) = self.session_line(now, session, termination, ended) {
            let fe = session.frontend;
            self.log(now, LogTargets::Frontend(fe), severity, &line, None);
        }
    }

    /// `session`'s log line and its severity, if its frontend logs it;
    /// once it `ended`, the backend and server counts no longer include it.
    fn session_line(
        &self,
        now: Instant,
        session: &Session,
        termination: [char; 2],
        ended: bool,
    ) -> Option<(String, Severity)> {
        let frontend = &self.frontends[session.frontend];
        if !frontend.config.tcplog || frontend.config.logs.is_empty() {
            return None;
        }
        if frontend.config.dontlognull && session.up.bytes == 0 && ended {
            return None;
        }
        // HAProxy's strm_log: an error is a termination cause other than
        // none or local, a redispatch, or retries.
        let error = !matches!(termination[0], '-' | 'L')
            || session.redispatched
            || (termination[0] == '-' && session.retries > 0);
        if !error && frontend.config.dontlog_normal {
            return None;
        }
        let severity = if error && frontend.config.log_separate_errors {
            Severity::Err
        } else {
            Severity::Info
        };
        let backend = &self.backends[session.backend];
        let server = session
            .target
            .filter(|_| session.phase != Phase::Queued || session.server_queued)
            .and_then(|t| backend.servers.get(t));
        let record = Record {
            client: session.peer,
            frontend_addr: Some(session.local),
            accepted: self.clock.at(session.accepted),
            frontend: &frontend.config.name,
            backend: &backend.config.name,
            server: server.map(|x| x.config.name.as_str()),
            server_addr: server.map(|x| x.config.addr),
            queue_ms: Some(millis(session.accepted, session.dequeued.unwrap_or(now))),
            connect_ms: session
                .connected
                .map(|c| millis(session.dequeued.unwrap_or(session.accepted), c)),
            total_ms: millis(session.accepted, now),
            bytes_out: session.down.bytes,
            bytes_in: session.up.bytes,
            termination,
            counts: [
                self.active,
                frontend.active,
                backend.active.saturating_sub(u32::from(ended)),
                server.map_or(0, |x| x.active.saturating_sub(u32::from(ended))),
                session.retries,
            ],
            redispatched: session.redispatched,
            queue_pos: session.queue_pos,
            asap: frontend.config.traffic.logasap,
        };
        Some((self.render_line(session.frontend, &record), severity))
    }

    /// A session's log line in its frontend's `log-format` (`option
    /// tcplog`'s by default), as long as its longest log target takes.
    fn render_line(&self, fe: FrontendId, record: &Record<'_>) -> String {
        let frontend = &self.frontends[fe].config;
        let limit = frontend.logs.iter().map(|t| t.len).max().unwrap_or(0);
        let mut line = String::with_capacity(128);
        frontend
            .log_format
            .render(record, self.clock.host(), &mut line, limit);
        line
    }
}

impl BackendState {
    /// How long a session may wait in the queue from now: `timeout queue`
    /// when set, exactly as HAProxy; else `timeout connect` (HAProxy's
    /// default for it), except while no server is usable at all: then the
    /// session only waits for the outage to end, as long as its client
    /// may (`client`, its `timeout client`).
    pub(super) fn queue_wait(&self, now: Instant, client: Option<Duration>) -> Option<Duration> {
        let connect = self.config.timeout_connect;
        match self.config.timeout_queue {
            Some(queue) => Some(queue),
            None if self.usable_count(now) > 0 => connect,
            None => client.or(connect),
        }
    }
}

/// Whether a connect's result says something about its server: weir's
/// own shortage of descriptors or memory does not (the same rule as
/// health checks'), so it neither counts for `observe` nor makes the
/// server suspect.
fn server_to_blame(result: Result<(), ConnError>) -> bool {
    result != Err(ConnError::NoResources)
}

/// Whether `session` is the one of this `generation`, still queued.
fn is_queued(session: &Session, generation: u32) -> bool {
    session.generation == generation && session.phase == Phase::Queued
}

/// Session `s` of this `generation`, if it still waits in a queue.
fn queued_mut(
    sessions: &mut slab::Slab<Session>,
    s: usize,
    generation: u32,
) -> Option<&mut Session> {
    sessions.get_mut(s).filter(|x| is_queued(x, generation))
}
