//! The load generators: mio event loops on this process's threads, each
//! bounded by a [`Window`]. Only what completes inside the window counts.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::backend::{REPLY, REQUEST};
use crate::hist::Histogram;

/// When the load runs: warm-up until `start`, measured until `end`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    /// A window that opens after `warmup` and lasts `duration`.
    pub fn new(warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + duration,
        }
    }

    fn counts(&self, now: Instant) -> bool {
        now >= self.start && now < self.end
    }

    /// How long the next poll may wait.
    fn wait(&self, now: Instant) -> Duration {
        self.end
            .saturating_duration_since(now)
            .min(Duration::from_millis(50))
    }

    /// The measured length, in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// What a generator counted inside its window.
pub struct Counts {
    /// Bytes (bulk) or requests completed.
    pub done: u64,
    /// Connections that failed or ended early (the whole run).
    pub errors: u64,
    /// Request latencies (keep-alive only).
    pub latency: Histogram,
}

impl Counts {
    fn new() -> Counts {
        Counts {
            done: 0,
            errors: 0,
            latency: Histogram::new(),
        }
    }

    /// Adds another thread's counts.
    pub fn merge(&mut self, other: &Counts) {
        self.done += other.done;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
    }
}

/// A generator: connections go to the addresses in turn.
pub type Job = fn(&[SocketAddr], usize, Window) -> Counts;

/// Runs `threads` generators, `total` connections spread over them, and
/// merges their counts.
pub fn spawn(
    threads: usize,
    total: usize,
    job: Job,
    addrs: Vec<SocketAddr>,
    window: Window,
) -> thread::JoinHandle<Counts> {
    let threads = threads.clamp(1, total.max(1));
    thread::spawn(move || {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let n = total / threads + usize::from(i < total % threads);
                let addrs = addrs.clone();
                thread::spawn(move || job(&addrs, n, window))
            })
            .collect();
        let mut all = Counts::new();
        for h in handles {
            match h.join() {
                Ok(c) => all.merge(&c),
                Err(_) => all.errors += 1,
            }
        }
        all
    })
}

/// Whether a non-blocking connect finished: `Some(true)` connected,
/// `Some(false)` failed, `None` still connecting.
fn connected(stream: &TcpStream) -> Option<bool> {
    if let Ok(Some(_)) | Err(_) = stream.take_error() {
        return Some(false);
    }
    match stream.peer_addr() {
        Ok(_) => Some(true),
        Err(e) if e.kind() == ErrorKind::NotConnected => None,
        Err(_) => Some(false),
    }
}

/// Bulk download: `streams` connections read as fast as they can; counts
/// bytes.
pub fn bulk(addrs: &[SocketAddr], streams: usize, window: Window) -> Counts {
    let mut counts = Counts::new();
    let Ok(mut poll) = Poll::new() else {
        counts.errors += 1;
        return counts;
    };
    let mut conns: Vec<Option<TcpStream>> = Vec::with_capacity(streams);
    for i in 0..streams {
        match TcpStream::connect(addrs[i % addrs.len()]) {
            Ok(mut s) => {
                let ok = poll
                    .registry()
                    .register(&mut s, Token(i), Interest::READABLE)
                    .is_ok();
                conns.push(ok.then_some(s));
            }
            Err(_) => {
                counts.errors += 1;
                conns.push(None);
            }
        }
    }
    let mut events = Events::with_capacity(64);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let now = Instant::now();
        if now >= window.end {
            break;
        }
        if poll.poll(&mut events, Some(window.wait(now))).is_err() {
            continue;
        }
        let now = Instant::now();
        let counting = window.counts(now);
        for event in &events {
            let i = event.token().0;
            let Some(stream) = conns[i].as_mut() else {
                continue;
            };
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        counts.errors += 1;
                        conns[i] = None;
                        break;
                    }
                    Ok(n) => {
                        if counting {
                            counts.done += n as u64;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        counts.errors += 1;
                        conns[i] = None;
                        break;
                    }
                }
            }
        }
    }
    counts
}

/// One request-reply connection.
struct Slot {
    stream: TcpStream,
    /// The request is sent and its reply awaited since then.
    sent: Option<Instant>,
    /// Reply bytes received.
    got: usize,
}

/// Opens a connection in slot `i` (to the address of its turn),
/// registered for both directions.
fn open(poll: &Poll, addrs: &[SocketAddr], i: usize) -> Option<Slot> {
    let mut stream = TcpStream::connect(*addrs.get(i % addrs.len().max(1))?).ok()?;
    let _ = stream.set_nodelay(true);
    poll.registry()
        .register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )
        .ok()?;
    Some(Slot {
        stream,
        sent: None,
        got: 0,
    })
}

/// What happened to a slot on an event.
enum Step {
    /// Nothing finished.
    Waiting,
    /// This many replies completed; the connection is still usable.
    Replies(u32),
    /// The connection failed or was closed by the peer.
    Failed,
}

/// Sends the request once connected, then reads; counts whole replies.
fn step(slot: &mut Slot, buf: &mut [u8]) -> Step {
    if slot.sent.is_none() {
        match connected(&slot.stream) {
            None => return Step::Waiting,
            Some(false) => return Step::Failed,
            Some(true) => {}
        }
        if !matches!(slot.stream.write(REQUEST), Ok(n) if n == REQUEST.len()) {
            return Step::Failed;
        }
        slot.sent = Some(Instant::now());
    }
    let mut replies = 0;
    loop {
        match slot.stream.read(buf) {
            Ok(0) => return Step::Failed,
            Ok(n) => {
                slot.got += n;
                while slot.got >= REPLY.len() {
                    slot.got -= REPLY.len();
                    replies += 1;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Step::Failed,
        }
    }
    if replies > 0 {
        Step::Replies(replies)
    } else {
        Step::Waiting
    }
}

/// New connection per request: `slots` connections in flight, each
/// connecting, sending [`REQUEST`], reading [`REPLY`] and closing.
pub fn per_connection(addrs: &[SocketAddr], slots: usize, window: Window) -> Counts {
    let mut counts = Counts::new();
    let Ok(mut poll) = Poll::new() else {
        counts.errors += 1;
        return counts;
    };
    let mut conns: Vec<Option<Slot>> = (0..slots).map(|i| open(&poll, addrs, i)).collect();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= window.end {
            break;
        }
        if poll.poll(&mut events, Some(window.wait(now))).is_err() {
            continue;
        }
        let now = Instant::now();
        for event in &events {
            let i = event.token().0;
            let Some(slot) = conns[i].as_mut() else {
                continue;
            };
            match step(slot, &mut buf) {
                Step::Waiting => continue,
                Step::Replies(_) => {
                    if window.counts(now) {
                        counts.done += 1;
                    }
                }
                Step::Failed => counts.errors += 1,
            }
            // Closed by dropping (FIN), then the slot starts again.
            conns[i] = open(&poll, addrs, i);
        }
        // Slots whose connect could not even start try again.
        for (i, c) in conns.iter_mut().enumerate() {
            if c.is_none() {
                counts.errors += 1;
                *c = open(&poll, addrs, i);
            }
        }
    }
    counts
}

/// Keep-alive: `conns` connections, each sending the next request as soon
/// as the reply to the last one is read; counts requests and latencies.
pub fn keep_alive(addrs: &[SocketAddr], conns: usize, window: Window) -> Counts {
    let mut counts = Counts::new();
    let Ok(mut poll) = Poll::new() else {
        counts.errors += 1;
        return counts;
    };
    let mut slots: Vec<Option<Slot>> = (0..conns).map(|i| open(&poll, addrs, i)).collect();
    counts.errors += slots.iter().filter(|s| s.is_none()).count() as u64;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= window.end {
            break;
        }
        if poll.poll(&mut events, Some(window.wait(now))).is_err() {
            continue;
        }
        for event in &events {
            let i = event.token().0;
            let Some(slot) = slots[i].as_mut() else {
                continue;
            };
            match step(slot, &mut buf) {
                Step::Waiting => {}
                Step::Replies(n) => {
                    let now = Instant::now();
                    if window.counts(now) {
                        counts.done += u64::from(n);
                        if let Some(sent) = slot.sent {
                            counts.latency.record((now - sent).as_nanos() as u64);
                        }
                    }
                    if !matches!(slot.stream.write(REQUEST), Ok(n) if n == REQUEST.len()) {
                        counts.errors += 1;
                        slots[i] = None;
                        continue;
                    }
                    slot.sent = Some(now);
                }
                Step::Failed => {
                    counts.errors += 1;
                    slots[i] = None;
                }
            }
        }
    }
    counts
}

/// Idle connections held open through a balancer.
pub struct Idle {
    /// Established connections (one request answered on each).
    pub streams: Vec<TcpStream>,
    /// Connections that failed.
    pub errors: u64,
}

/// Opens `n` connections (at most 256 connecting at a time), each proving
/// its server side by one request and reply, then left idle; gives up at
/// `deadline`.
pub fn open_idle(addr: SocketAddr, n: usize, deadline: Instant) -> Idle {
    let addrs = [addr];
    const IN_FLIGHT: usize = 256;
    let mut idle = Idle {
        streams: Vec::with_capacity(n),
        errors: 0,
    };
    let Ok(mut poll) = Poll::new() else {
        idle.errors += 1;
        return idle;
    };
    let mut slots: Vec<Option<Slot>> = (0..IN_FLIGHT).map(|_| None).collect();
    let mut started = 0;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 4096];
    while idle.streams.len() < n && Instant::now() < deadline && idle.errors < n as u64 {
        for (i, s) in slots.iter_mut().enumerate() {
            if s.is_none() && started < n + idle.errors as usize {
                started += 1;
                *s = open(&poll, &addrs, i);
                if s.is_none() {
                    idle.errors += 1;
                }
            }
        }
        if poll
            .poll(&mut events, Some(Duration::from_millis(50)))
            .is_err()
        {
            continue;
        }
        for event in &events {
            let i = event.token().0;
            let Some(slot) = slots[i].as_mut() else {
                continue;
            };
            match step(slot, &mut buf) {
                Step::Waiting => {}
                Step::Replies(_) => {
                    if let Some(mut s) = slots[i].take() {
                        let _ = poll.registry().deregister(&mut s.stream);
                        idle.streams.push(s.stream);
                    }
                }
                Step::Failed => {
                    idle.errors += 1;
                    slots[i] = None;
                }
            }
        }
    }
    idle
}
