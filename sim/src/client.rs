//! Simulated clients: each opens one connection to weir, sends its request
//! (header and body, in chunks, with pauses), half-closes, reads the
//! reply (fast, or slowly), and closes at the end of the reply. Some
//! vanish (reset) on the way. Every reply byte is checked as it arrives.

use std::time::Duration;

use crate::net::{LinkId, Peer, Side};
use crate::payload::{self, Mode, REPLY_HEADER, REQUEST_HEADER, Reply, Request};
use crate::trace::trace;
use crate::world::{Ev, World};

/// How a client's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The whole reply came, then the end of stream.
    Success,
    /// Anything else, and why.
    Failed(String),
}

/// A client's state.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub link: Option<LinkId>,
    /// The connection is established (the client may write).
    pub connected: bool,
    /// weir's `accept` was called for it.
    pub accepted: bool,
    /// The loop that accepted it.
    pub lp: usize,
    /// The moment of the run at which it was (see `World::moment`).
    pub accepted_at: u64,
    /// Request bytes written (header included).
    pub written: u64,
    /// No write before then (pauses between writes).
    pub next_write: Duration,
    /// No read before then (slow readers).
    pub next_read: Duration,
    /// The reply header, while incomplete.
    pub header: Vec<u8>,
    pub reply: Option<Reply>,
    /// Reply body bytes received.
    pub body: u64,
    /// All bytes received (header included).
    pub received: u64,
    /// The end of stream arrived.
    pub eof: bool,
    pub outcome: Option<Outcome>,
    /// When the outcome was decided.
    pub ended: Duration,
    /// The client reset its own connection (its fault, not weir's).
    pub vanished: bool,
    /// Its connection was refused or reset because weir closed its
    /// listener (a soft stop).
    pub shut_out: bool,
}

impl World {
    pub(crate) fn client_starts(&mut self, c: usize) {
        let spec = &self.scenario.clients[c];
        let link = self.net.open(Peer::Client(c), spec.latency, spec.window);
        trace!(self, format!("client {c}"), "connects (link #{link})");
        self.clients[c].link = Some(link);
        let at = self.arrival(link, Side::Peer);
        self.queue.push(at, Ev::ClientSyn(link));
    }

    pub(crate) fn client_connected(&mut self, link: LinkId) {
        let Peer::Client(c) = self.net.links[link].peer else {
            return;
        };
        trace!(self, format!("client {c}"), "connected");
        self.clients[c].connected = true;
        if let Some(after) = self.scenario.clients[c].vanish_after {
            self.queue.push(self.now + after, Ev::ClientTick(c));
        }
        self.net.touch(link, Side::Peer);
    }

    pub(crate) fn client_tick(&mut self, c: usize) {
        let Some(link) = self.clients[c].link else {
            return;
        };
        let spec = &self.scenario.clients[c];
        let vanish = spec
            .vanish_after
            .is_some_and(|after| self.now >= spec.start + after);
        if vanish && self.clients[c].outcome.is_none() && self.clients[c].connected {
            trace!(self, format!("client {c}"), "vanishes (RST)");
            self.clients[c].vanished = true;
            self.client_ends(c, Outcome::Failed("vanished".into()), true);
            return;
        }
        self.net.touch(link, Side::Peer);
    }

    /// Reads what the client may, writes what it can, and ends it when its
    /// reply is over.
    pub(crate) fn pump_client(&mut self, c: usize) {
        let Some(link) = self.clients[c].link else {
            return;
        };
        if self.clients[c].outcome.is_some() {
            return;
        }
        if !self.clients[c].connected {
            // An RST answers its SYN: weir's listener is closed.
            if self.net.links[link].end(Side::Peer).rst_in {
                self.client_ends(c, Outcome::Failed("connection refused".into()), false);
            }
            return;
        }
        self.client_reads(c, link);
        if self.clients[c].outcome.is_some() {
            return;
        }
        let end = self.net.links[link].end(Side::Peer);
        // A FIN before an RST reads as the end of stream (Linux).
        if end.rx.is_empty() && end.fin_in && !self.clients[c].eof {
            self.clients[c].eof = true;
            self.client_eof(c, link);
        }
        let end = self.net.links[link].end(Side::Peer);
        if end.rx.is_empty() && end.rst_in && !(self.clients[c].eof && end.shut) {
            let why = format!("reset after {} reply bytes", self.clients[c].received);
            return self.client_ends(c, Outcome::Failed(why), false);
        }
        self.client_writes(c, link);
        let client = &self.clients[c];
        if client.eof && self.net.links[link].end(Side::Peer).shut {
            let outcome = match client.reply {
                Some(r) if client.body == u64::from(r.len) => Outcome::Success,
                _ => Outcome::Failed(format!("short reply: {} bytes", client.received)),
            };
            self.client_ends(c, outcome, false);
        }
    }

    fn client_reads(&mut self, c: usize, link: LinkId) {
        let slow = self.scenario.clients[c].slow_read;
        let budget = match slow {
            Some(_) if self.now < self.clients[c].next_read => return,
            Some((n, _)) => n,
            None => usize::MAX,
        };
        let data = self.net.read(link, Side::Peer, budget);
        if data.is_empty() {
            return;
        }
        if let Some((_, pause)) = slow {
            self.clients[c].next_read = self.now + pause;
            self.queue.push(self.now + pause, Ev::ClientTick(c));
        }
        trace!(self, format!("client {c}"), "reads {} bytes", data.len());
        self.client_received(c, &data);
    }

    /// Checks reply bytes: a header naming a server connection that served
    /// this client, then exactly the body that connection sends.
    fn client_received(&mut self, c: usize, data: &[u8]) {
        let client = &mut self.clients[c];
        client.received += data.len() as u64;
        let mut rest = data;
        if client.reply.is_none() {
            let Some(after) = payload::take_header(&mut client.header, REPLY_HEADER, rest) else {
                return;
            };
            rest = after;
            let reply = match Reply::parse(&client.header) {
                Ok(reply) => reply,
                Err(e) => return self.fail(format!("client {c} got {e}")),
            };
            client.reply = Some(reply);
            self.on_reply(c, reply);
        }
        let Some(reply) = self.clients[c].reply else {
            return;
        };
        if rest.is_empty() {
            return;
        }
        let body = self.clients[c].body;
        if body + rest.len() as u64 > u64::from(reply.len) {
            return self.fail(format!(
                "client {c} got more than the {} reply bytes of link #{}",
                reply.len, reply.uid
            ));
        }
        let key = match self.scenario.clients[c].mode {
            Mode::Echo => payload::request_key(self.scenario.seed, c as u32),
            Mode::Gateway => payload::reply_key(self.scenario.seed, reply.uid),
        };
        if let Err(k) = payload::verify(key, body, rest) {
            return self.fail(format!(
                "reply byte {k} from link #{} arrived wrong at client {c}",
                reply.uid
            ));
        }
        self.clients[c].body += rest.len() as u64;
    }

    /// The end of the reply stream: a FIN weir forwarded must come after
    /// every byte the server sent before its own FIN.
    fn client_eof(&mut self, c: usize, link: LinkId) {
        trace!(self, format!("client {c}"), "end of stream");
        let (Some(reply), true) = (self.clients[c].reply, self.net.links[link].forwarded_fin)
        else {
            return;
        };
        let server_link = &self.net.links[reply.uid as usize];
        let server = server_link.end(Side::Peer);
        let sent = server_link.server_plain_sent.unwrap_or(server.sent);
        let received = self.clients[c].received;
        if !server.shut || sent != received {
            self.fail(format!(
                "client {c} got a FIN after {received} bytes; link #{} sent {}{}",
                reply.uid,
                sent,
                if server.shut {
                    " then its FIN"
                } else {
                    " and no FIN"
                }
            ));
        }
    }

    /// Writes the next chunks of the request, then the FIN.
    fn client_writes(&mut self, c: usize, link: LinkId) {
        let spec = &self.scenario.clients[c];
        let total = REQUEST_HEADER as u64 + u64::from(spec.len);
        let (chunk, pause) = (spec.chunk as u64, spec.pause);
        let header = Request {
            mode: spec.mode,
            client: c as u32,
            len: spec.len,
        }
        .header();
        let key = payload::request_key(self.scenario.seed, c as u32);
        if self.net.links[link].end(Side::Peer).shut || self.now < self.clients[c].next_write {
            return;
        }
        let mut written = self.clients[c].written;
        while written < total {
            let room = self.net.links[link].room(Side::Peer) as u64;
            let n = chunk.min(total - written).min(room) as usize;
            if n == 0 {
                break;
            }
            let mut data = Vec::with_capacity(n);
            let head = REQUEST_HEADER as u64;
            let (start, end) = (written.min(head), (written + n as u64).min(head));
            data.extend_from_slice(&header[start as usize..end as usize]);
            let body_from = written.max(head) - head;
            payload::fill(key, body_from, n - data.len(), &mut data);
            let sent = self.write(link, Side::Peer, &data);
            written += sent as u64;
            if sent < n {
                break;
            }
            if !pause.is_zero() && written < total {
                self.clients[c].next_write = self.now + pause;
                self.queue.push(self.now + pause, Ev::ClientTick(c));
                break;
            }
        }
        self.clients[c].written = written;
        if written == total {
            trace!(
                self,
                format!("client {c}"),
                "sent its {total} bytes, shuts down writing"
            );
            if let Some(fin) = self.net.shutdown(link, Side::Peer) {
                self.send(link, Side::Peer, fin);
            }
        }
    }

    /// The client is done: records the outcome and closes its socket.
    pub(crate) fn client_ends(&mut self, c: usize, outcome: Outcome, reset: bool) {
        trace!(self, format!("client {c}"), "ends: {outcome:?}");
        let client = &mut self.clients[c];
        client.ended = self.now;
        match outcome {
            Outcome::Success => self.stats.clients_ok += 1,
            Outcome::Failed(_) => self.stats.clients_failed += 1,
        }
        client.outcome = Some(outcome);
        if let Some(link) = client.link {
            if let Some(segment) = self.net.close(link, Side::Peer, reset) {
                self.send(link, Side::Peer, segment);
            }
        }
    }
}
