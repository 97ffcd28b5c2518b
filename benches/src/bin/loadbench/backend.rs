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
    /// Connections accepted ([`Role::AcceptClose`]) or requests answered
    /// ([`Role::Health`]) so far.
    pub hits: Arc<AtomicU64>,
}

impl Backend {
    /// Listens on each of `binds` (port 0: any free port) and serves them
    /// on up to `threads` threads.
    pub fn start(role: Role, binds: &[SocketAddr], threads: usize) -> io::Result<Backend> {
        let threads = threads.clamp(1, binds.len().max(1));
        let mut groups: Vec<Vec<TcpListener>> = (0..threads).map(|_| Vec::new()).collect();
        let mut addrs = Vec::with_capacity(binds.len());
        for (i, bind) in binds.iter().enumerate() {
            let listener = TcpListener::bind(*bind)?;
            addrs.push(listener.local_addr()?);
            groups[i % threads].push(listener);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::with_capacity(threads);
        for listeners in groups {
            let stop = Arc::clone(&stop);
            let hits = Arc::clone(&hits);
            let poll = Poll::new()?;
            handles.push(
                thread::Builder::new()
                    .name("backend".into())
                    .spawn(move || serve(role, poll, listeners, &stop, &hits))?,
            );
        }
        Ok(Backend {
            stop,
            threads: handles,
            addrs,
            hits,
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
}

/// Bulk data a source sends, again and again.
static CHUNK: [u8; 256 * 1024] = [b'x'; 256 * 1024];

fn serve(
    role: Role,
    mut poll: Poll,
    mut listeners: Vec<TcpListener>,
    stop: &AtomicBool,
    hits: &AtomicU64,
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
                        hits.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
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
                    let (open, answered) = respond(conn, &mut buf);
                    if role == Role::Health && answered > 0 {
                        hits.fetch_add(answered, Ordering::Relaxed);
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

/// Reads requests, counts the complete ones and writes their replies;
/// whether the connection is still open, and the requests answered.
fn respond(conn: &mut Conn, buf: &mut [u8]) -> (bool, u64) {
    const END: &[u8] = b"\r\n\r\n";
    let mut requests = 0;
    let mut closed = false;
    loop {
        match conn.stream.read(buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                for &b in &buf[..n] {
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
            }
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
