//! A session: one client connection spliced to one server connection.
//!
//! # Lifecycle
//!
//! ```text
//! accept ──> Connecting ──Connected Ok──> Established ──both FINs forwarded──> end "--"
//!               │  client bytes are read and held meanwhile       │
//!               ├─Connected Err / timeout connect──> end "SC"/"sC"  ├─client RST──> end "CD"
//!               └─client RST──> end "CC"                           ├─server RST──> deliver, FIN, end "SD"
//!                                                                  └─inactivity──> end "cD"/"sD"
//! ```
//!
//! A server that resets once connected is HAProxy's `SD`: the bytes it
//! sent before are delivered, then the client gets a FIN (its further
//! bytes are dropped); the client is reset only when it resets first.
//! When a failed write tells of the reset, the server is first read to
//! its end of stream: what it sent before its RST may still wait in the
//! socket, readable (Linux), where HAProxy would leave it.
//!
//! Each side has one inactivity timeout in force, picked as HAProxy does
//! in TCP mode (see [`Session::client_timeout`]); when it changes (the
//! server connects, a side half-closes) that side's clock restarts. A
//! side's clock runs only while weir waits on that side, to read from it
//! or to write to it (see [`Session::wait_on`]).
//!
//! Each direction is a [`Pipe`]: bytes read from one side wait in its
//! buffer until written to the other; the reader stops (no read interest)
//! while the buffer is full, which is the backpressure. A FIN read from one
//! side is forwarded as a write shutdown to the other once the pipe is
//! empty; the other direction keeps flowing until its own FIN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::buffer::{BUF_SIZE, Buffer, Pool};
use crate::config::{Backend, Frontend};
use crate::id::{BackendId, ConnId, FrontendId, ServerId};
use crate::proxy_protocol::{self, Encoded, Version};
use crate::time::Instant;
use crate::tls_client::{Plain, TlsClient};

/// One direction of a session.
#[derive(Default)]
pub(crate) struct Pipe {
    /// Bytes in flight; `None` while there are none.
    pub buf: Option<Buffer>,
    /// The source sent FIN.
    pub eof: bool,
    /// The FIN was forwarded to the sink.
    pub shut: bool,
    /// Bytes that went through.
    pub bytes: u64,
    /// Bytes at the front of the buffer already written to the sink but
    /// kept for a replay; `is_empty` and `filled` see only the rest.
    pub kept: usize,
    /// The direction was handed to the kernel ([`crate::Action::Splice`]).
    pub kernel: bool,
    /// Reads in a row of at least half a buffer: a bulk stream.
    pub streak: u8,
    /// Bytes the kernel read from the source into the driver's pipe and
    /// has not written to the sink yet.
    pub in_kernel: u32,
}

/// Bytes in a spliced direction's pipe past which the source is not read
/// (the backpressure of a pipe, as [`Buffer::is_full`] is a buffer's):
/// the default size of a Linux pipe.
pub(crate) const PIPE_FULL: u32 = 64 * 1024;

impl Pipe {
    /// Nothing is waiting to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_kernel == 0 && self.buf.as_ref().is_none_or(|b| b.len() <= self.kept)
    }

    /// The reader may read: no FIN yet and room in the buffer (or pipe).
    pub(crate) fn wants_read(&self) -> bool {
        !self.eof && !self.buf.as_ref().is_some_and(Buffer::is_full) && self.in_kernel < PIPE_FULL
    }

    /// A read of `n` bytes into the buffer: a bulk stream is one whose
    /// reads fill half a buffer or more, twice in a row.
    pub(crate) fn note_read(&mut self, n: usize) {
        self.streak = if n >= BUF_SIZE / 2 {
            self.streak.saturating_add(1)
        } else {
            0
        };
    }

    /// Whether reads say this direction is a bulk stream (`splice-auto`).
    pub(crate) fn streaming(&self) -> bool {
        self.streak >= 2
    }

    /// The kernel read `n` bytes of this direction into its pipe.
    pub(crate) fn kernel_read(&mut self, n: usize) {
        self.in_kernel = self.in_kernel.saturating_add(n as u32);
    }

    /// The kernel wrote `n` bytes of this direction from its pipe.
    pub(crate) fn kernel_written(&mut self, n: usize) {
        let n = (n as u32).min(self.in_kernel);
        self.in_kernel -= n;
        self.bytes += u64::from(n);
    }

    /// Space to read into, taking a buffer from the pool if needed.
    pub(crate) fn spare(&mut self, pool: &mut Pool) -> Option<&mut [u8]> {
        if !self.wants_read() {
            return None;
        }
        Some(self.buf.get_or_insert_with(|| pool.take()).spare())
    }

    /// Bytes waiting to be written (up to the end of the ring).
    pub(crate) fn filled(&self) -> Option<&[u8]> {
        self.buf
            .as_ref()
            .map(|b| b.filled_from(self.kept))
            .filter(|b| !b.is_empty())
    }

    /// `n` bytes of [`Pipe::filled`] were written: dropped, or kept for a
    /// replay when `keep`.
    pub(crate) fn written(&mut self, n: usize, keep: bool) {
        if keep {
            self.kept += n;
        } else {
            self.consume(n);
        }
    }

    /// Everything from the start of the stream, written or not, while
    /// bytes are kept for a replay (the buffer never wrapped then).
    pub(crate) fn stream_start(&self) -> &[u8] {
        self.buf.as_ref().map_or(&[], |b| b.filled_from(0))
    }

    /// No replay will come: the kept bytes are dropped.
    pub(crate) fn drop_kept(&mut self) {
        let kept = std::mem::take(&mut self.kept);
        self.consume(kept);
    }

    /// The kept bytes are to be written again, to a new sink.
    pub(crate) fn rewind(&mut self) {
        self.kept = 0;
        self.shut = false;
    }

    pub(crate) fn commit(&mut self, n: usize) {
        if let Some(buf) = &mut self.buf {
            buf.commit(n);
        }
    }

    pub(crate) fn consume(&mut self, n: usize) {
        if let Some(buf) = &mut self.buf {
            buf.consume(n);
            self.bytes += n as u64;
        }
    }

    /// Gives an empty buffer back to the pool: idle pipes hold none.
    pub(crate) fn release_if_empty(&mut self, pool: &mut Pool) {
        if self.buf.as_ref().is_some_and(Buffer::is_empty) {
            if let Some(buf) = self.buf.take() {
                pool.put(buf);
            }
        }
    }

    pub(crate) fn release(&mut self, pool: &mut Pool) {
        if let Some(buf) = self.buf.take() {
            pool.put(buf);
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a usable server (termination phase `Q`).
    Queued,
    /// Waiting for the server connection (termination phase `C`).
    Connecting,
    /// Splicing bytes (termination phase `D`).
    Established,
}

/// The inactivity timeouts of a session's frontend and backend, read from
/// their configuration when needed rather than copied into every session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
}

impl Timeouts {
    pub(crate) fn of(frontend: &Frontend, backend: &Backend) -> Timeouts {
        Timeouts {
            client: frontend.timeout_client,
            server: backend.timeout_server,
            tunnel: backend.timeout_tunnel,
            client_fin: frontend.timeout_client_fin,
            server_fin: backend.timeout_server_fin,
        }
    }
}

/// A client spliced to a server.
pub(crate) struct Session {
    /// Generation of the session slot, for timer entries.
    pub generation: u32,
    pub client: ConnId,
    pub server: Option<ConnId>,
    pub frontend: FrontendId,
    pub backend: BackendId,
    /// The server it connects to, or whose own queue it waits in; `None`
    /// while it waits for any server of its backend.
    pub target: Option<ServerId>,
    pub phase: Phase,
    /// Client to server.
    pub up: Pipe,
    /// Server to client.
    pub down: Pipe,
    pub peer: SocketAddr,
    /// The address the client connected to (`%fi:%fp`).
    pub local: SocketAddr,
    /// Inactivity timeouts in force on the client and the server side.
    pub idle: (Option<Duration>, Option<Duration>),
    pub accepted: Instant,
    pub connected: Option<Instant>,
    pub connect_deadline: Option<Instant>,
    pub client_deadline: Option<Instant>,
    pub server_deadline: Option<Instant>,
    /// Earliest entry this session has in the timer queue.
    pub queued: Option<Instant>,
    /// TLS to the server (`ssl`), once connected.
    pub tls: Option<Box<ServerTls>>,
    /// Connect attempts retried so far (`%rc`).
    pub retries: u32,
    /// A retry went to another server (`+` before `%rc`).
    pub redispatched: bool,
    /// Servers whose connect failed, avoided by redispatch.
    pub tried: Vec<ServerId>,
    /// When to retry the same server (after HAProxy's turn-around pause).
    pub retry_at: Option<Instant>,
    /// When the session left the backend queue (accept time if it never
    /// waited), for `%Tw`.
    pub dequeued: Option<Instant>,
    /// While queued: waiting for server `target` itself (its own queue),
    /// not for any server.
    pub server_queued: bool,
    /// HAProxy's positions in the server and backend queues (`%sq/%bq`):
    /// for each stay in one, 1 plus the sessions served from it before
    /// this one left it; 0 if it never waited there.
    pub queue_pos: [u32; 2],
    /// While queued: the mark its queue gave it on arrival, for its
    /// position when it leaves.
    pub queue_mark: u32,
    /// A second connect racing the first (`connect-hedge`): its id and
    /// server.
    pub hedge: Option<(ConnId, ServerId)>,
    /// When to start that second connect.
    pub hedge_at: Option<Instant>,
    /// The client's bytes are kept until the server's first byte
    /// (`replay-until-response`).
    pub replay: bool,
    /// When a silent server is given up for another.
    pub replay_at: Option<Instant>,
    /// The PROXY protocol header of the server connection (`send-proxy`),
    /// written before anything else; kept for the next connection.
    pub header: Option<Box<HeaderOut>>,
    /// The authority a client's PROXY header gave (`accept-proxy`), sent on
    /// with `proxy-v2-options authority`.
    pub authority: Option<Box<[u8]>>,
    /// The termination state already decided while the session lives on
    /// (a server that reset is `SD` while its last bytes reach the
    /// client); nothing later changes it, as HAProxy's error flags.
    pub ending: Option<[char; 2]>,
    /// The client's FIN was read at its accept's instant (in the same pass
    /// of the driver), as HAProxy reads it while setting the session up.
    pub early_fin: bool,
    /// Its log line went out already (`option logasap`).
    pub logged: bool,
}

/// A PROXY protocol header on its way to a server.
pub(crate) struct HeaderOut {
    header: Encoded,
    sent: usize,
}

impl HeaderOut {
    /// A header none of which is written yet.
    pub(crate) fn new(header: Encoded) -> Self {
        HeaderOut { header, sent: 0 }
    }

    /// The bytes not written yet, if any.
    pub(crate) fn pending(&self) -> Option<&[u8]> {
        Some(&self.header.as_bytes()[self.sent..]).filter(|rest| !rest.is_empty())
    }

    pub(crate) fn sent(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.header.as_bytes().len());
    }
}

impl Session {
    /// A new server connection gets its PROXY protocol header (`version`,
    /// `None` for none): the client's addresses as weir knows them. The
    /// box of the last connection's header is reused.
    pub(crate) fn start_header(&mut self, version: Option<Version>) {
        let Some(version) = version else {
            self.header = None;
            return;
        };
        let addrs = Some((self.peer, self.local));
        let header = proxy_protocol::encode(version, addrs, self.authority.as_deref());
        match &mut self.header {
            Some(out) => **out = HeaderOut { header, sent: 0 },
            None => self.header = Some(Box::new(HeaderOut { header, sent: 0 })),
        }
    }

    /// The header bytes still to write before anything else goes to the
    /// server.
    pub(crate) fn pending_header(&self) -> Option<&[u8]> {
        self.header.as_ref().and_then(|h| h.pending())
    }

    /// The earliest of the session's deadlines.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [
            self.connect_deadline,
            self.client_deadline,
            self.server_deadline,
            self.retry_at,
            self.hedge_at,
            self.replay_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The server answered, or the client sent more than a buffer: the
    /// bytes kept for a replay are dropped.
    pub(crate) fn stop_replay(&mut self) {
        if self.replay {
            self.replay = false;
            self.replay_at = None;
            self.up.drop_kept();
        }
    }

    /// `timeout tunnel`, once it is in force: the server is connected.
    fn tunnel(&self, t: &Timeouts) -> Option<Duration> {
        t.tunnel.filter(|_| self.phase == Phase::Established)
    }

    /// The client side's inactivity timeout now: `timeout tunnel` once
    /// the server is connected, if set, else `timeout client`; and
    /// `timeout client-fin`, if set, once the client connection is
    /// half-closed. Half-closed is HAProxy's rule: weir forwarded a FIN to
    /// the client, or, under `timeout tunnel`, the client sent its FIN.
    pub(crate) fn client_timeout(&self, t: &Timeouts) -> Option<Duration> {
        let tunnel = self.tunnel(t);
        let half_closed = self.down.shut || (tunnel.is_some() && self.up.eof);
        match t.client_fin {
            Some(fin) if half_closed => Some(fin),
            _ => tunnel.or(t.client),
        }
    }

    /// The server side's inactivity timeout now, once connected: as
    /// [`Session::client_timeout`], with `timeout server` and `timeout
    /// server-fin`.
    pub(crate) fn server_timeout(&self, t: &Timeouts) -> Option<Duration> {
        if self.phase != Phase::Established {
            return None;
        }
        let tunnel = self.tunnel(t);
        let half_closed = self.up.shut || (tunnel.is_some() && self.down.eof);
        match t.server_fin {
            Some(fin) if half_closed => Some(fin),
            _ => tunnel.or(t.server),
        }
    }

    /// Restarts a side's inactivity clock when its timeout changed.
    pub(crate) fn update_idle(&mut self, now: Instant, t: &Timeouts) {
        let (client, server) = (self.client_timeout(t), self.server_timeout(t));
        if client != self.idle.0 {
            self.idle.0 = client;
            self.client_deadline = client.map(|t| now + t);
        }
        if server != self.idle.1 {
            self.idle.1 = server;
            self.server_deadline = server.map(|t| now + t);
        }
    }

    /// Runs each side's inactivity clock only while weir waits on that
    /// side, given what weir wants to do on it (read, write): to read from
    /// it (no end of stream, room in the buffer) or to write bytes to it.
    /// A side that only waits for the other one (its reply held by a full
    /// buffer, or its part done) cannot time out; its clock restarts when
    /// weir waits on it again. This is HAProxy's rule (no read timeout while
    /// reading is blocked or shut, no write timeout with nothing to write).
    pub(crate) fn wait_on(&mut self, now: Instant, client: (bool, bool), server: (bool, bool)) {
        fn clock(
            deadline: &mut Option<Instant>,
            timeout: Option<Duration>,
            waits: bool,
            now: Instant,
        ) {
            match (waits, *deadline) {
                (false, Some(_)) => *deadline = None,
                (true, None) => *deadline = timeout.map(|t| now + t),
                _ => {}
            }
        }
        clock(
            &mut self.client_deadline,
            self.idle.0,
            client.0 || client.1,
            now,
        );
        clock(
            &mut self.server_deadline,
            self.idle.1,
            server.0 || server.1,
            now,
        );
    }

    /// Termination phase letter for the log.
    pub(crate) fn phase_letter(&self) -> char {
        match self.phase {
            Phase::Queued => 'Q',
            Phase::Connecting => 'C',
            Phase::Established => 'D',
        }
    }
}

/// TLS to the server for a session's traffic (`ssl` on the server line):
/// the client's bytes are encrypted into TLS records on the way up and
/// the server's records decrypted on the way down. Memory stays bounded:
/// rustls holds at most one buffer's worth of plaintext each way.
pub(crate) struct ServerTls {
    link: TlsClient,
    /// `close_notify` was queued after the client's FIN.
    closed: bool,
    /// A write to the server failed: nothing more goes to it.
    write_failed: bool,
    /// The server's TLS stream ended.
    pub eof: bool,
    /// Why TLS failed, if it did: the session must end.
    pub failed: Option<String>,
}

impl ServerTls {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, String> {
        Ok(ServerTls {
            link: TlsClient::new(config, name, Some(BUF_SIZE))?,
            closed: false,
            write_failed: false,
            eof: false,
            failed: None,
        })
    }

    /// Space for records from the server, `None` when rustls is full.
    pub(crate) fn recv_buf(&mut self, pool: &mut Pool) -> Option<&mut [u8]> {
        if self.eof || self.failed.is_some() {
            return None;
        }
        self.link.recv_buf(pool)
    }

    pub(crate) fn received(&mut self, n: usize) {
        self.link.received(n);
    }

    /// The server closed its side of the connection; rustls learns it
    /// after the records that came before (see [`ServerTls::decrypt`]).
    pub(crate) fn read_closed(&mut self) {
        self.link.read_closed();
    }

    pub(crate) fn send_buf(&self) -> Option<&[u8]> {
        self.link.send_buf().filter(|_| !self.write_failed)
    }

    /// A write to the server failed (it reset): records are still read
    /// from it, none are written (see [`ServerTls::encrypt`]).
    pub(crate) fn write_failed(&mut self) {
        self.write_failed = true;
    }

    pub(crate) fn sent(&mut self, n: usize) {
        self.link.sent(n);
    }

    /// Everything queued for the server has been written, `close_notify`
    /// included once the client sent FIN.
    pub(crate) fn flushed(&self) -> bool {
        self.closed && !self.link.has_outgoing()
    }

    /// Whether reading from the server would make progress.
    pub(crate) fn wants_read(&self) -> bool {
        !self.eof && self.failed.is_none() && !self.link.incoming_full()
    }

    /// Moves the client's bytes from `up` into TLS records, and queues
    /// `close_notify` after the client's FIN. During the handshake rustls
    /// holds the bytes until it is over, while an alert would go out at
    /// once: `close_notify` waits for the handshake to end. Nothing once
    /// a write failed.
    pub(crate) fn encrypt(&mut self, up: &mut Pipe, pool: &mut Pool) {
        if self.write_failed {
            return;
        }
        loop {
            let moved = up.filled().map_or(0, |data| self.link.write_plain(data));
            up.consume(moved);
            if up.eof && up.is_empty() && !self.closed && !self.link.is_handshaking() {
                self.link.close_notify();
                self.closed = true;
            }
            // rustls takes no more while it holds a buffer's worth (of
            // plaintext during the handshake, or of records after it).
            if !self.link.flush(pool) || up.is_empty() || moved == 0 {
                break;
            }
        }
        self.link.tidy(pool);
    }

    /// Feeds the server's records to rustls and moves the plaintext into
    /// `down` while it has room. rustls takes records a slice at a time,
    /// so this goes on while it takes bytes or gives plaintext.
    pub(crate) fn decrypt(&mut self, down: &mut Pipe, pool: &mut Pool) {
        loop {
            let fed = match self.link.feed() {
                Ok(fed) => fed,
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            };
            let mut moved = false;
            while let Some(spare) = down.spare(pool) {
                match self.link.read_plain(spare) {
                    Plain::Bytes(n) => {
                        down.commit(n);
                        moved = true;
                    }
                    Plain::Blocked => break,
                    Plain::End => {
                        self.eof = true;
                        break;
                    }
                }
            }
            if self.eof || !(fed || moved) {
                break;
            }
        }
        if self.eof && self.link.is_handshaking() {
            // The client's bytes can never go: the session must end.
            self.failed = Some("the server closed during the TLS handshake".into());
        }
        // Handshake answers and alerts go out too.
        self.link.flush(pool);
        self.link.tidy(pool);
    }

    pub(crate) fn release(self, pool: &mut Pool) {
        self.link.release(pool);
    }
}
