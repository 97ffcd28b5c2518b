//! The servers behind the balancers, played by this process on its own
//! threads (one mio event loop per thread, listeners spread over them).

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rustls::{HandshakeKind, ServerConfig, ServerConnection};

/// The request clients send (HTTP-like, so that `wrk` can send it too).
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
/// The reply to each request (a complete HTTP/1.1 response).
pub const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// What a backend does with its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends bytes without end (bulk throughput, download direction).
    Source,
    /// Answers every request (ended by an empty line) with [`REPLY`].
    Responder,
    /// Accepts and closes at once: what a TCP connect check needs
    /// (counts accepts; a check that resets before the accept is not
    /// seen).
    AcceptClose,
    /// A [`Responder`](Role::Responder) that counts the requests it
    /// answers: HTTP health checks.
    Health,
}

/// Running backend threads; stopped and joined when dropped.
pub struct Backend {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The addresses listened on, one per server.
    pub addrs: Vec<SocketAddr>,
    /// What the servers saw so far.
    pub tally: Arc<Tally>,
}

/// What the servers count.
#[derive(Default)]
pub struct Tally {
    /// Connections accepted ([`Role::AcceptClose`]) or requests answered
    /// ([`Role::Health`]).
    pub hits: AtomicU64,
    /// TLS handshakes completed in full.
    pub full: AtomicU64,
    /// TLS handshakes that resumed a session.
    pub resumed: AtomicU64,
}

impl Backend {
    /// Listens on each of `binds` (port 0: any free port) and serves them
    /// on up to `threads` threads.
    pub fn start(role: Role, binds: &[SocketAddr], threads: usize) -> io::Result<Backend> {
        Self::start_with(role, binds, threads, None)
    }

    /// [`Backend::start`] with every connection in TLS (`config`).
    pub fn start_tls(
        role: Role,
        binds: &[SocketAddr],
        threads: usize,
        config: Arc<ServerConfig>,
    ) -> io::Result<Backend> {
        Self::start_with(role, binds, threads, Some(config))
    }

    fn start_with(
        role: Role,
        binds: &[SocketAddr],
        threads: usize,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Backend> {
        let threads = threads.clamp(1, binds.len().max(1));
        let mut groups: Vec<Vec<TcpListener>> = (0..threads).map(|_| Vec::new()).collect();
        let mut addrs = Vec::with_capacity(binds.len());
        for (i, bind) in binds.iter().enumerate() {
            let listener = TcpListener::bind(*bind)?;
            addrs.push(listener.local_addr()?);
            groups[i % threads].push(listener);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let mut handles = Vec::with_capacity(threads);
        for listeners in groups {
            let stop = Arc::clone(&stop);
            let tally = Arc::clone(&tally);
            let tls = tls.clone();
            let poll = Poll::new()?;
            handles.push(
                thread::Builder::new()
                    .name("backend".into())
                    .spawn(move || serve(role, tls, poll, listeners, &stop, &tally))?,
            );
        }
        Ok(Backend {
            stop,
            threads: handles,
            addrs,
            tally,
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    /// How much of the `\r\n\r\n` that ends a request was last seen.
    matched: u8,
    /// Reply bytes owed, and where in [`REPLY`] the next one is.
    owed: usize,
    offset: usize,
    /// The TLS server side, when the backend speaks TLS.
    tls: Option<Box<ServerConnection>>,
    /// The handshake was counted.
    counted: bool,
}

/// Bulk data a source sends, again and again.
static CHUNK: [u8; 256 * 1024] = [b'x'; 256 * 1024];

fn serve(
    role: Role,
    tls: Option<Arc<ServerConfig>>,
    mut poll: Poll,
    mut listeners: Vec<TcpListener>,
    stop: &AtomicBool,
    tally: &Tally,
) {
    let base = listeners.len();
    for (i, l) in listeners.iter_mut().enumerate() {
        if poll
            .registry()
            .register(l, Token(i), Interest::READABLE)
            .is_err()
        {
            return;
        }
    }
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if poll
            .poll(&mut events, Some(Duration::from_millis(100)))
            .is_err()
        {
            continue;
        }
        for event in &events {
            let t = event.token().0;
            if t < base {
                while let Ok((stream, _)) = listeners[t].accept() {
                    if role == Role::AcceptClose {
                        tally.hits.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let session = match &tls {
                        Some(config) => match ServerConnection::new(Arc::clone(config)) {
                            Ok(c) => Some(Box::new(c)),
                            Err(_) => continue,
                        },
                        None => None,
                    };
                    let _ = stream.set_nodelay(true);
                    let slot = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    let mut conn = Conn {
                        stream,
                        matched: 0,
                        owed: 0,
                        offset: 0,
                        tls: session,
                        counted: false,
                    };
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if poll
                        .registry()
                        .register(&mut conn.stream, Token(base + slot), interest)
                        .is_ok()
                    {
                        conns[slot] = Some(conn);
                    } else {
                        free.push(slot);
                    }
                }
                continue;
            }
            let slot = t - base;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let open = match role {
                Role::Source => pour(&mut conn.stream, &mut buf),
                _ => {
                    let (open, answered) = match conn.tls.is_some() {
                        true => respond_tls(conn, &mut buf, tally),
                        false => respond(conn, &mut buf),
                    };
                    if role == Role::Health && answered > 0 {
                        tally.hits.fetch_add(answered, Ordering::Relaxed);
                    }
                    open
                }
            };
            if !open {
                if let Some(mut c) = conns[slot].take() {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
                free.push(slot);
            }
        }
    }
}

/// Drains what the peer sent and writes bulk data until the socket is
/// full; false once the connection is gone.
fn pour(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.read(buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    loop {
        match stream.write(&CHUNK) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Counts the requests `bytes` complete (each ended by an empty line) and
/// owes a reply to each.
fn scan(conn: &mut Conn, bytes: &[u8]) -> u64 {
    const END: &[u8] = b"\r\n\r\n";
    let mut requests = 0;
    for &b in bytes {
        let m = usize::from(conn.matched);
        conn.matched = if b == END[m] {
            m as u8 + 1
        } else {
            u8::from(b == END[0])
        };
        if usize::from(conn.matched) == END.len() {
            conn.matched = 0;
            conn.owed += REPLY.len();
            requests += 1;
        }
    }
    requests
}

/// Reads requests, counts the complete ones and writes their replies;
/// whether the connection is still open, and the requests answered.
fn respond(conn: &mut Conn, buf: &mut [u8]) -> (bool, u64) {
    let mut requests = 0;
    let mut closed = false;
    loop {
        match conn.stream.read(buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => requests += scan(conn, &buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (false, 0),
        }
    }
    // A peer that half-closed after its request still gets the reply.
    while conn.owed > 0 {
        let end = REPLY.len().min(conn.offset + conn.owed);
        match conn.stream.write(&REPLY[conn.offset..end]) {
            Ok(0) => return (false, requests),
            Ok(n) => {
                conn.owed -= n;
                conn.offset = (conn.offset + n) % REPLY.len();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return (!closed, requests),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (false, requests),
        }
    }
    (!closed, requests)
}

/// [`respond`] inside TLS: records in, requests out of them, replies and
/// handshake records back; counts the handshake once it completes.
fn respond_tls(conn: &mut Conn, buf: &mut [u8], tally: &Tally) -> (bool, u64) {
    let Some(mut tls) = conn.tls.take() else {
        return (false, 0);
    };
    let (open, requests) = exchange(conn, &mut tls, buf, tally);
    conn.tls = Some(tls);
    (open, requests)
}

fn exchange(
    conn: &mut Conn,
    tls: &mut ServerConnection,
    buf: &mut [u8],
    tally: &Tally,
) -> (bool, u64) {
    let mut requests = 0;
    let mut closed = false;
    // Until the socket is drained; bounded, as the socket is
    // edge-triggered a batch that stops early is read at the next event.
    for _ in 0..1024 {
        let drained = match tls.read_tls(&mut conn.stream) {
            Ok(0) => {
                closed = true;
                true
            }
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return (false, requests),
        };
        if tls.process_new_packets().is_err() {
            let _ = tls.write_tls(&mut conn.stream);
            return (false, requests);
        }
        loop {
            match tls.reader().read(buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => requests += scan(conn, &buf[..n]),
                Err(_) => break,
            }
        }
        if drained {
            break;
        }
    }
    if !tls.is_handshaking() && !conn.counted {
        conn.counted = true;
        let which = match tls.handshake_kind() {
            Some(HandshakeKind::Resumed) => &tally.resumed,
            _ => &tally.full,
        };
        which.fetch_add(1, Ordering::Relaxed);
    }
    for _ in 0..conn.owed / REPLY.len() {
        if tls.writer().write_all(REPLY).is_err() {
            return (false, requests);
        }
    }
    conn.owed = 0;
    while tls.wants_write() {
        match tls.write_tls(&mut conn.stream) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return (!closed, requests),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (false, requests),
        }
    }
    (!closed, requests)
}
