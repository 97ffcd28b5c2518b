//! Simulated servers. A connection whose first bytes are a ClientHello
//! speaks TLS (a real rustls server with a certificate made by rcgen):
//! weir's TLS health checks, and its traffic to `ssl` servers. A server
//! tells its connections apart by their first application bytes: a
//! client's request (`WS`), an HTTP health check (`GET`), or nothing at
//! all (a TCP or TLS-handshake check).
//!
//! Traffic is checked byte by byte against what the client sent, then
//! echoed or answered like a gateway. Faults change what a server does:
//! see `faults.rs`.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::{ServerConfig, ServerConnection};

use crate::net::{LinkId, Side};
use crate::payload::{self, Mode, REQUEST_HEADER, Reply, Request};
use crate::trace::trace;
use crate::world::{Ev, World};

/// An echo server stops reading while this much is waiting to be written.
const ECHO_BACKLOG: usize = 64 * 1024;
/// Longest health-check request a server reads.
const MAX_CHECK_REQUEST: usize = 4096;
/// Most application bytes in one TLS record.
const MAX_RECORD: usize = 16 * 1024;
/// Most read rounds on one connection in a row.
const READ_LIMIT: usize = 256;

/// A server process's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Process {
    /// Serving.
    Running,
    /// Stopped: the kernel accepts and buffers, nothing else happens.
    Hung,
    /// Dead: connects are refused.
    Crashed,
}

/// A server and the faults in force on it.
pub(crate) struct Server {
    pub process: Process,
    /// Its open connections.
    pub conns: Vec<LinkId>,
    /// A black hole holds its network until then.
    pub black_hole: Option<Duration>,
    /// Its health endpoint answers 503.
    pub health_503: bool,
    /// New traffic connections are reset after a few bytes.
    pub reset_streams: bool,
    /// New traffic connections are half-closed early.
    pub half_close: bool,
    /// It reads traffic at most this many bytes per this pause.
    pub slow_read: Option<(usize, Duration)>,
    /// Its TLS settings (for weir's TLS checks and `ssl` traffic).
    tls: Option<Arc<ServerConfig>>,
}

impl Server {
    pub(crate) fn new(tls: Option<Arc<ServerConfig>>) -> Self {
        Server {
            process: Process::Running,
            conns: Vec::new(),
            black_hole: None,
            health_503: false,
            reset_streams: false,
            half_close: false,
            slow_read: None,
            tls,
        }
    }
}

/// One connection a server accepted.
pub(crate) struct ServerConn {
    server: usize,
    role: Role,
    /// The connection speaks TLS (it began with a ClientHello).
    tls: Option<Box<ServerConnection>>,
    /// Application bytes to write.
    out: VecDeque<u8>,
    /// TLS records to write.
    records: Records,
    /// Send FIN (after TLS's close_notify) once `out` is written.
    fin_after_out: bool,
    /// The FIN from weir was seen.
    eof: bool,
    /// Bytes read.
    received: u64,
    /// Reset after reading this many bytes (fault).
    reset_at: Option<u64>,
    /// Half-close after reading this many bytes (fault).
    half_close_at: Option<u64>,
    /// No read before then (slow reads).
    next_read: Duration,
}

enum Role {
    /// Nothing read yet.
    Unknown,
    /// A client's request.
    Traffic(Traffic),
    /// A health check (with TLS when it started with a ClientHello).
    Health(Health),
}

struct Traffic {
    header: Vec<u8>,
    request: Option<Request>,
    /// Body bytes received.
    body: u64,
    /// Gateway: length of the reply, and when to send it.
    reply_len: u32,
    answer_at: Option<Duration>,
    /// The reply header was queued.
    replied: bool,
}

struct Health {
    request: Vec<u8>,
    answered: bool,
}

/// The run's certificate authority and gateway certificate (Ed25519, so
/// every handshake has the same size and runs replay exactly).
pub(crate) struct Pki {
    pub ca_pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

/// The certificates, made once per process.
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let alg = &rcgen::PKCS_ED25519;
        let ca_key = KeyPair::generate_for(alg).expect("an Ed25519 key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "weir sim CA");
        ca.serial_number = Some(SerialNumber::from(1u64));
        ca.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
        let key = KeyPair::generate_for(alg).expect("an Ed25519 key");
        let mut leaf = CertificateParams::new(vec!["gw.sim".to_owned()]).expect("parameters");
        leaf.serial_number = Some(SerialNumber::from(2u64));
        leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let cert = leaf
            .signed_by(&key, &Issuer::new(ca, &ca_key))
            .expect("a gateway certificate");
        Pki {
            ca_pem: ca_cert.pem(),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    })
}

/// The servers' TLS settings, with time fixed at `wall`.
pub(crate) fn tls_config(pki: &Pki, wall: SystemTime) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let since_epoch = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let time = Arc::new(FixedTime(UnixTime::since_unix_epoch(since_epoch)));
    ServerConfig::builder_with_details(provider, time)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .expect("a server configuration")
}

/// A clock that never moves: servers' TLS must not read the real one.
#[derive(Debug)]
struct FixedTime(UnixTime);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

impl World {
    /// weir's SYN reaches server `s`: refused if it crashed, else accepted
    /// (a hung process's kernel still accepts).
    pub(crate) fn server_syn(&mut self, link: LinkId) {
        let crate::net::Peer::Server(s) = self.net.links[link].peer else {
            return;
        };
        let server = &self.servers[s];
        let result = if server.process == Process::Crashed {
            trace!(self, self.server_name(s), "refuses link #{link}");
            Err(weir_core::ConnError::Refused)
        } else {
            let reset_at = server.reset_streams.then(|| self.rng.range(0, 4096));
            let half_close_at = self.servers[s].half_close.then(|| self.rng.range(0, 4096));
            trace!(self, self.server_name(s), "accepts link #{link}");
            self.servers[s].conns.push(link);
            self.sconns.insert(
                link,
                ServerConn {
                    server: s,
                    role: Role::Unknown,
                    tls: None,
                    out: VecDeque::new(),
                    records: Records::default(),
                    fin_after_out: false,
                    eof: false,
                    received: 0,
                    reset_at,
                    half_close_at,
                    next_read: Duration::ZERO,
                },
            );
            Ok(())
        };
        let at = self.arrival(link, Side::Peer);
        self.queue.push(at, Ev::ConnectDone(link, result));
    }

    /// Whether `link` is a traffic connection of a server.
    pub(crate) fn is_traffic(&self, link: LinkId) -> bool {
        self.sconns
            .get(&link)
            .is_some_and(|sc| matches!(sc.role, Role::Traffic(_)))
    }

    /// The server closes `link` (reset, or as the kernel would).
    pub(crate) fn server_close(&mut self, link: LinkId, reset: bool) {
        let Some(sc) = self.sconns.remove(&link) else {
            return;
        };
        trace!(
            self,
            self.server_name(sc.server),
            "closes link #{link}{}",
            if reset { " with RST" } else { "" }
        );
        self.servers[sc.server].conns.retain(|&l| l != link);
        if let Some(segment) = self.net.close(link, Side::Peer, reset) {
            self.send(link, Side::Peer, segment);
        }
    }

    /// Reads, answers and writes on a server connection.
    pub(crate) fn pump_server(&mut self, link: LinkId) {
        let Some(mut sc) = self.sconns.remove(&link) else {
            return;
        };
        if self.server_running(sc.server) {
            self.serve(link, &mut sc);
        }
        if self.sconns.contains_key(&link) || !self.servers[sc.server].conns.contains(&link) {
            // Closed while serving.
            return;
        }
        let end = self.net.links[link].end(Side::Peer);
        let done = end.shut && sc.eof;
        let dead = end.rst_in && end.rx.is_empty();
        self.sconns.insert(link, sc);
        if done || dead {
            self.server_close(link, false);
        }
    }

    fn serve(&mut self, link: LinkId, sc: &mut ServerConn) {
        for _ in 0..READ_LIMIT {
            let budget =
                match self.servers[sc.server].slow_read {
                    _ if matches!(&sc.role, Role::Traffic(_)) && sc.out.len() >= ECHO_BACKLOG => 0,
                    Some((n, _)) if matches!(sc.role, Role::Traffic(_)) => {
                        if self.now < sc.next_read { 0 } else { n }
                    }
                    _ => usize::MAX,
                };
            if budget == 0 {
                break;
            }
            let data = self.net.read(link, Side::Peer, budget);
            if data.is_empty() {
                break;
            }
            sc.received += data.len() as u64;
            self.server_received(link, sc, &data);
            if sc.reset_at.is_some_and(|k| sc.received >= k) && matches!(sc.role, Role::Traffic(_))
            {
                self.servers[sc.server].conns.retain(|&l| l != link);
                trace!(
                    self,
                    self.server_name(sc.server),
                    "resets link #{link} mid-stream"
                );
                if let Some(segment) = self.net.close(link, Side::Peer, true) {
                    self.send(link, Side::Peer, segment);
                }
                return;
            }
            if let Some((_, pause)) = self.servers[sc.server].slow_read {
                if matches!(sc.role, Role::Traffic(_)) {
                    sc.next_read = self.now + pause;
                    self.queue.push(self.now + pause, Ev::ServerTick(link));
                    break;
                }
            }
        }
        let end = self.net.links[link].end(Side::Peer);
        if end.fin_in && end.rx.is_empty() && !sc.eof {
            sc.eof = true;
            self.server_eof(link, sc);
        }
        if let Role::Traffic(t) = &mut sc.role {
            if t.answer_at.is_some_and(|at| at <= self.now) {
                t.answer_at = None;
                self.gateway_answers(link, sc);
            }
        }
        self.server_writes(link, sc);
    }

    fn server_received(&mut self, link: LinkId, sc: &mut ServerConn, data: &[u8]) {
        let first = sc.received == data.len() as u64;
        if first && data[0] == 0x16 {
            let Some(config) = self.servers[sc.server].tls.clone() else {
                return self.fail(format!("link #{link} sent TLS to a server without TLS"));
            };
            sc.tls = Some(Box::new(ServerConnection::new(config).expect("TLS server")));
        }
        let plain;
        let data = match &mut sc.tls {
            None => data,
            Some(tls) => match decrypt(tls, data) {
                Ok(bytes) => {
                    plain = bytes;
                    &plain[..]
                }
                Err(e) => return self.fail(format!("TLS with weir failed on link #{link}: {e}")),
            },
        };
        if data.is_empty() {
            return;
        }
        if matches!(sc.role, Role::Unknown) {
            sc.role = match data[0] {
                b'W' => Role::Traffic(Traffic {
                    header: Vec::new(),
                    request: None,
                    body: 0,
                    reply_len: 0,
                    answer_at: None,
                    replied: false,
                }),
                b'G' => {
                    // Only loop 0 checks.
                    if let Some((lp @ 1.., _)) = self.net.links[link].weir {
                        return self.fail(format!("loop {lp} sent a health check on #{link}"));
                    }
                    Role::Health(Health {
                        request: Vec::new(),
                        answered: false,
                    })
                }
                other => {
                    return self.fail(format!(
                        "link #{link} sent {} unexpected bytes starting with {other:#04x}",
                        data.len()
                    ));
                }
            };
        }
        match sc.role {
            Role::Traffic(_) => self.traffic_received(link, sc, data),
            Role::Health(_) => self.health_received(link, sc, data),
            Role::Unknown => {}
        }
    }

    /// Checks request bytes: a header, then exactly the body of the client
    /// it names, once; echoes it or plans the gateway's answer.
    fn traffic_received(&mut self, link: LinkId, sc: &mut ServerConn, data: &[u8]) {
        let Role::Traffic(t) = &mut sc.role else {
            return;
        };
        let mut rest = data;
        if t.request.is_none() {
            let Some(after) = payload::take_header(&mut t.header, REQUEST_HEADER, rest) else {
                return;
            };
            rest = after;
            let request = match Request::parse(&t.header) {
                Ok(r) => r,
                Err(e) => return self.fail(format!("link #{link} got {e}")),
            };
            let spec = self.scenario.clients.get(request.client as usize);
            if spec.is_none_or(|spec| spec.len != request.len || spec.mode != request.mode) {
                return self.fail(format!("link #{link} got a forged request {request:?}"));
            }
            t.request = Some(request);
            t.reply_len = reply_len(&mut self.rng);
            if request.mode == Mode::Echo {
                t.replied = true;
                let reply = Reply {
                    uid: link as u64,
                    len: request.len,
                };
                sc.out.extend(reply.header());
            }
            trace!(
                self,
                self.server_name(sc.server),
                "link #{link} carries client {}",
                request.client
            );
            self.on_served(link, request.client);
        }
        let Role::Traffic(t) = &mut sc.role else {
            return;
        };
        let Some(request) = t.request else {
            return;
        };
        if !rest.is_empty() {
            let c = request.client;
            if t.body + rest.len() as u64 > u64::from(request.len) {
                return self.fail(format!("link #{link} got more than client {c}'s body"));
            }
            let key = payload::request_key(self.scenario.seed, c);
            if let Err(k) = payload::verify(key, t.body, rest) {
                return self.fail(format!(
                    "byte {k} of client {c}'s body arrived wrong at link #{link}"
                ));
            }
            t.body += rest.len() as u64;
            if request.mode == Mode::Echo && !sc.fin_after_out {
                sc.out.extend(rest);
            }
        }
        let whole = t.body == u64::from(request.len);
        if request.mode == Mode::Gateway && whole && !t.replied && t.answer_at.is_none() {
            let think = self.scenario.servers[sc.server].think;
            t.answer_at = Some(self.now + think);
            self.queue.push(self.now + think, Ev::ServerTick(link));
        }
        if sc.half_close_at.is_some_and(|k| sc.received >= k) && !sc.fin_after_out {
            trace!(
                self,
                self.server_name(sc.server),
                "half-closes link #{link} early"
            );
            if !t.replied {
                t.replied = true;
                let reply = Reply {
                    uid: link as u64,
                    len: t.reply_len,
                };
                sc.out.extend(reply.header());
            }
            sc.fin_after_out = true;
        }
    }

    /// The gateway's answer: header and body, then FIN.
    fn gateway_answers(&mut self, link: LinkId, sc: &mut ServerConn) {
        let Role::Traffic(t) = &mut sc.role else {
            return;
        };
        if sc.fin_after_out {
            return;
        }
        t.replied = true;
        let reply = Reply {
            uid: link as u64,
            len: t.reply_len,
        };
        sc.out.extend(reply.header());
        let mut body = Vec::new();
        payload::fill(
            payload::reply_key(self.scenario.seed, link as u64),
            0,
            t.reply_len as usize,
            &mut body,
        );
        sc.out.extend(body);
        sc.fin_after_out = true;
    }

    /// A health check's request (in clear or inside TLS); answers 200, or
    /// 503 during that fault, then closes.
    fn health_received(&mut self, link: LinkId, sc: &mut ServerConn, data: &[u8]) {
        let Role::Health(h) = &mut sc.role else {
            return;
        };
        h.request.extend_from_slice(data);
        if h.request.len() > MAX_CHECK_REQUEST {
            return self.fail(format!("link #{link}: health check request too long"));
        }
        let complete = h.request.windows(4).any(|w| w == b"\r\n\r\n");
        if complete && !h.answered {
            h.answered = true;
            if !h.request.starts_with(b"GET /healthcheck HTTP/1.") {
                let text = String::from_utf8_lossy(&h.request).into_owned();
                return self.fail(format!("link #{link}: unexpected health check {text:?}"));
            }
            let status = if self.servers[sc.server].health_503 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let tls = if sc.tls.is_some() { " (TLS)" } else { "" };
            trace!(
                self,
                self.server_name(sc.server),
                "answers the health check on link #{link}{tls}: {status}"
            );
            let response = format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n");
            sc.out.extend(response.as_bytes());
            sc.fin_after_out = true;
        }
    }

    /// weir's FIN reached the server. A FIN weir forwarded from the client
    /// must come after the client's whole request.
    fn server_eof(&mut self, link: LinkId, sc: &mut ServerConn) {
        let forwarded = self.net.links[link].forwarded_fin;
        match &sc.role {
            Role::Traffic(t) => {
                let whole = t.request.is_some_and(|r| t.body == u64::from(r.len));
                if forwarded && !whole {
                    let (c, len) = t.request.map_or((None, 0), |r| (Some(r.client), r.len));
                    return self.fail(format!(
                        "link #{link} got a forwarded FIN after {} of {len} body bytes (client {c:?})",
                        t.body
                    ));
                }
                let gateway = t.request.is_some_and(|r| r.mode == Mode::Gateway);
                if !(forwarded && gateway) {
                    // Echo is over; a gateway answers first; a FIN from
                    // weir closing the session ends it.
                    sc.fin_after_out = true;
                    if !forwarded {
                        sc.out.clear();
                    }
                }
            }
            Role::Health(_) | Role::Unknown => sc.fin_after_out = true,
        }
    }

    /// Writes what the network takes: the application bytes, through TLS
    /// when the connection speaks it; then the FIN if it is due.
    fn server_writes(&mut self, link: LinkId, sc: &mut ServerConn) {
        if let Some(tls) = &mut sc.tls {
            sc.records.encrypt(tls, &mut sc.out, sc.fin_after_out);
        }
        let wire = if sc.tls.is_some() {
            &mut sc.records.bytes
        } else {
            &mut sc.out
        };
        let mut written = 0;
        while !wire.is_empty() {
            let (front, _) = wire.as_slices();
            let n = self.write(link, Side::Peer, front);
            if n == 0 {
                break;
            }
            wire.drain(..n);
            written += n;
        }
        if let Some(plain) = sc.records.wrote(written).filter(|_| sc.tls.is_some()) {
            self.net.links[link].server_plain_sent = Some(plain);
        }
        let flushed = sc.out.is_empty() && sc.records.bytes.is_empty();
        let tls_done = sc.tls.as_ref().is_none_or(|tls| !tls.wants_write());
        if flushed && tls_done && sc.fin_after_out {
            if let Some(fin) = self.net.shutdown(link, Side::Peer) {
                self.send(link, Side::Peer, fin);
            }
        }
    }
}

/// Feeds TLS records from weir to `tls`, all of them, as the socket's
/// bytes are gone once read; returns the application bytes.
fn decrypt(tls: &mut ServerConnection, mut records: &[u8]) -> Result<Vec<u8>, rustls::Error> {
    let mut plain = Vec::new();
    for _ in 0..READ_LIMIT {
        // rustls takes a slice at a time, and refuses more while its
        // plaintext is unread.
        let taken = tls.read_tls(&mut records);
        tls.process_new_packets()?;
        // `WouldBlock` once what arrived is read; an end after close_notify.
        let _ = tls.reader().read_to_end(&mut plain);
        if records.is_empty() || taken.is_err() {
            break;
        }
    }
    Ok(plain)
}

/// TLS records waiting for the network, and which application bytes
/// they complete (so that the checks count a byte as sent only once the
/// records carrying it are on the wire: a crash loses the rest).
#[derive(Default)]
struct Records {
    bytes: VecDeque<u8>,
    /// Record bytes queued and written so far.
    queued: u64,
    written: u64,
    /// Application bytes given to rustls so far.
    plain: u64,
    /// (record bytes queued, application bytes they complete).
    marks: VecDeque<(u64, u64)>,
}

impl Records {
    /// Moves application bytes from `out` into `tls` and its records here,
    /// while fewer than `ECHO_BACKLOG` wait (backpressure); sends
    /// close_notify once `out` is empty and `close` is set.
    fn encrypt(&mut self, tls: &mut ServerConnection, out: &mut VecDeque<u8>, close: bool) {
        for _ in 0..READ_LIMIT {
            if self.bytes.len() >= ECHO_BACKLOG {
                break;
            }
            if !out.is_empty() && !tls.is_handshaking() {
                // One record's worth at a time, so that each mark ends a
                // record.
                let (front, _) = out.as_slices();
                let front = &front[..front.len().min(MAX_RECORD)];
                let n = tls.writer().write(front).unwrap_or(0);
                out.drain(..n);
                self.plain += n as u64;
            }
            if out.is_empty() && close {
                // Once: rustls ignores a second close_notify.
                tls.send_close_notify();
            }
            if !tls.wants_write() {
                break;
            }
            let mut buf = Vec::new();
            if tls.write_tls(&mut buf).is_err() {
                break;
            }
            self.queued += buf.len() as u64;
            self.bytes.extend(buf);
            self.marks.push_back((self.queued, self.plain));
        }
    }

    /// `n` more record bytes are on the wire; returns the application
    /// bytes whose records are now all written, if that moved.
    fn wrote(&mut self, n: usize) -> Option<u64> {
        self.written += n as u64;
        let mut done = None;
        while let Some(&(_, plain)) = self.marks.front().filter(|&&(end, _)| end <= self.written) {
            done = Some(plain);
            self.marks.pop_front();
        }
        done
    }
}

/// How long a gateway's reply is.
fn reply_len(rng: &mut crate::rng::Rng) -> u32 {
    match rng.range(0, 9) {
        0..=6 => rng.range(0, 2048) as u32,
        7 | 8 => rng.range(2048, 32 * 1024) as u32,
        _ => rng.range(32 * 1024, 128 * 1024) as u32,
    }
}
