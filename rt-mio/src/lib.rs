//! weir on mio: one `mio::Poll` loop that owns the sockets and feeds
//! [`weir_core::Balancer`]. Every decision is core's; this crate moves
//! bytes between sockets and core's buffers and carries out its actions.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! # let config: weir_core::config::Config = unimplemented!();
//! let weir = weir_mio::Weir::bind(config, weir_mio::Options::default())?;
//! let stop = weir.shutdown_handle();
//! std::thread::spawn(move || weir.run());
//! // ...
//! stop.shutdown();
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use weir_core::config::Config;
use weir_core::{Action, Balancer, ConnError, ConnId, Event, ListenerId, LogLine, LogSink};

/// Receives log lines in place of weir's own output.
pub type LogHook = Box<dyn FnMut(&LogLine) + Send>;

/// How to run weir.
#[derive(Default)]
pub struct Options {
    /// Seed of core's PRNG; `None` derives one from the clock and the pid.
    pub seed: Option<u64>,
    /// Stop on SIGTERM and SIGINT, soft-stop on SIGUSR1 (the binary sets
    /// it; embedders may not).
    pub handle_signals: bool,
    /// Receives every log line instead of stdout, stderr and the
    /// diagnostic logger (embedders route them; tests wait on them).
    pub log_hook: Option<LogHook>,
}

const WAKER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 2;
/// Reads or writes per connection per wake-up, for fairness.
const IO_BUDGET: usize = 16;
/// Accepts per listener per wake-up, for fairness.
const ACCEPT_BUDGET: usize = 64;

/// A bound, ready-to-run weir.
pub struct Weir {
    poll: Poll,
    lb: Balancer,
    listeners: Vec<Listener>,
    conns: HashMap<ConnId, Conn>,
    /// Connections that may have IO to do now.
    dirty: Vec<ConnId>,
    /// Listeners that may have connections to accept.
    dirty_listeners: Vec<usize>,
    stop: Arc<AtomicBool>,
    soft_stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    out: BufWriter<io::Stdout>,
    /// Writing to stdout failed once already (reported once).
    out_failed: bool,
    log_hook: Option<LogHook>,
}

struct Listener {
    /// `None` once unbound (soft stop).
    socket: Option<TcpListener>,
    paused: bool,
}

struct Conn {
    stream: TcpStream,
    connecting: bool,
    readable: bool,
    writable: bool,
    want_read: bool,
    want_write: bool,
}

/// Stops a running [`Weir`] from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    soft_stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Asks the loop to close every connection and return.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Asks the loop to stop accepting and return once every session has
    /// ended (or `hard-stop-after` killed them).
    pub fn soft_stop(&self) {
        self.soft_stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the event loop: {e}");
        }
    }
}

/// Binds `config`'s listeners and runs until shut down.
pub fn run(config: Config, options: Options) -> io::Result<()> {
    Weir::bind(config, options)?.run()
}

impl Weir {
    /// Creates the balancer and binds every listening address.
    pub fn bind(config: Config, options: Options) -> io::Result<Weir> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let seed = options.seed.unwrap_or_else(|| {
            let nanos = wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        });
        let lb = Balancer::new(config, seed, now, wall, std::process::id());
        let poll = Poll::new()?;
        // Signal handlers first: once a listener accepts, SIGTERM must stop
        // weir cleanly, not kill it.
        let signals = if options.handle_signals {
            let mut signals =
                signal_hook_mio::v1_0::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGUSR1])?;
            poll.registry()
                .register(&mut signals, SIGNALS, Interest::READABLE)?;
            Some(signals)
        } else {
            None
        };
        let mut listeners = Vec::new();
        for (i, (_, addr)) in lb.listeners().enumerate() {
            let mut socket = listen(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
            poll.registry()
                .register(&mut socket, Token(LISTENER_BASE - i), Interest::READABLE)?;
            listeners.push(Listener {
                socket: Some(socket),
                paused: false,
            });
        }
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let dirty_listeners = (0..listeners.len()).collect();
        Ok(Weir {
            poll,
            lb,
            listeners,
            conns: HashMap::new(),
            dirty: Vec::new(),
            dirty_listeners,
            stop: Arc::new(AtomicBool::new(false)),
            soft_stop: Arc::new(AtomicBool::new(false)),
            waker,
            signals,
            out: BufWriter::new(io::stdout()),
            out_failed: false,
            log_hook: options.log_hook,
        })
    }

    /// The addresses actually bound, in `lb.listeners()` order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.socket.as_ref()?.local_addr().ok())
            .collect()
    }

    /// A handle that stops [`Weir::run`] from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
            soft_stop: self.soft_stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Runs the event loop until shut down (handle, SIGTERM or SIGINT), or
    /// until a soft stop (handle, SIGUSR1) has finished.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let now = Instant::now();
        self.drain(now);
        loop {
            self.flush_logs();
            let timeout = if self.dirty.is_empty() && self.dirty_listeners.is_empty() {
                self.lb.poll_timeout().map(|at| until(at, Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    SIGNALS => {
                        if let Some(signals) = &mut self.signals {
                            for signal in signals.pending() {
                                let flag = if signal == libc::SIGUSR1 {
                                    &self.soft_stop
                                } else {
                                    &self.stop
                                };
                                flag.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    Token(t) if t > LISTENER_BASE - self.listeners.len() => {
                        self.dirty_listeners.push(LISTENER_BASE - t);
                    }
                    Token(t) => self.on_ready(now, ConnId::from_u64(t as u64), event),
                }
            }
            if self.soft_stop.swap(false, Ordering::SeqCst) {
                self.lb.soft_stop(now);
                self.drain(now);
            }
            if self.stop.load(Ordering::SeqCst) {
                return self.stop(now);
            }
            self.accept_all(now);
            self.pump_dirty(now);
            self.lb.handle_timeout(now);
            self.drain(now);
            if self.lb.is_stopped() {
                return self.stop(now);
            }
        }
    }

    /// Closes everything and returns.
    fn stop(mut self, now: Instant) -> io::Result<()> {
        log::info!("stopping: closing {} connections", self.conns.len());
        self.lb.shutdown(now);
        self.drain(now);
        self.conns.clear();
        self.flush_logs();
        Ok(())
    }

    fn on_ready(&mut self, now: Instant, id: ConnId, event: &mio::event::Event) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        // A FIN or an error shows up on the next read or write, so both
        // make the socket "ready" for the call that will report them.
        conn.readable |= event.is_readable() || event.is_read_closed() || event.is_error();
        conn.writable |= event.is_writable() || event.is_write_closed() || event.is_error();
        if conn.connecting {
            if !conn.writable {
                return;
            }
            let result = connect_result(&conn.stream);
            if result == Err(None) {
                return; // spurious wake-up: still connecting
            }
            conn.connecting = false;
            if result.is_ok() {
                let _ = conn.stream.set_nodelay(true);
            }
            let result = result.map_err(|e| e.unwrap_or(ConnError::Other(0)));
            self.lb
                .handle_event(now, Event::Connected { conn: id, result });
            self.drain(now);
        }
        self.dirty.push(id);
    }

    /// Accepts on the listeners that may have connections waiting. A
    /// listener that used up its budget stays dirty: readiness is
    /// edge-triggered, so no new event would come for connections already
    /// queued.
    fn accept_all(&mut self, now: Instant) {
        let mut pending = std::mem::take(&mut self.dirty_listeners);
        pending.sort_unstable();
        pending.dedup();
        for i in pending.drain(..) {
            if self.accept_some(now, i) {
                self.dirty_listeners.push(i);
            }
        }
        if self.dirty_listeners.is_empty() {
            self.dirty_listeners = pending;
        }
    }

    /// Accepts up to [`ACCEPT_BUDGET`] connections on listener `i`; returns
    /// whether more may be waiting. A failed accept is core's to judge: it
    /// pauses the listener when out of descriptors; other errors belong to
    /// one aborted connection, so the next one is tried.
    fn accept_some(&mut self, now: Instant, i: usize) -> bool {
        let mut accepted = false;
        for _ in 0..ACCEPT_BUDGET {
            let Some(listener) = self.listeners.get(i) else {
                return false;
            };
            if listener.paused {
                return false;
            }
            let Some(socket) = &listener.socket else {
                return false;
            };
            match socket.accept() {
                Ok((stream, peer)) => {
                    accepted = true;
                    self.on_accepted(now, i, stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let error = ConnError::from_io(&e);
                    let listener = ListenerId(i as u32);
                    self.lb
                        .handle_event(now, Event::AcceptFailed { listener, error });
                    self.drain(now);
                }
            }
        }
        // A budget spent on errors alone does not come back at once, so a
        // persistent error cannot spin the loop.
        accepted
    }

    fn on_accepted(&mut self, now: Instant, i: usize, mut stream: TcpStream, peer: SocketAddr) {
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let Some(id) = self.lb.accept(now, ListenerId(i as u32), peer, local) else {
            self.drain(now);
            return;
        };
        let _ = stream.set_nodelay(true);
        let token = Token(id.to_u64() as usize);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            log::warn!("cannot register a client connection: {e}");
            let error = ConnError::from_io(&e);
            self.lb.handle_event(now, Event::Failed { conn: id, error });
        } else {
            self.conns.insert(id, Conn::new(stream, false));
        }
        self.drain(now);
    }

    /// Does the IO core wants on connections that are ready for it.
    fn pump_dirty(&mut self, now: Instant) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            self.pump(now, id);
        }
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn pump(&mut self, now: Instant, id: ConnId) {
        for _ in 0..IO_BUDGET {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.connecting {
                return;
            }
            let mut progress = false;
            if conn.want_read && conn.readable {
                if let Some(buf) = self.lb.recv_buf(id).filter(|b| !b.is_empty()) {
                    match conn.stream.read(buf) {
                        Ok(0) => {
                            conn.readable = false;
                            self.lb.handle_event(now, Event::ReadClosed { conn: id });
                        }
                        Ok(n) => {
                            progress = true;
                            self.lb.received(now, id, n);
                        }
                        Err(e) => progress |= self.on_io_error(now, id, &e, true),
                    }
                }
                self.drain(now);
            }
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.want_write && conn.writable {
                if let Some(buf) = self.lb.send_buf(id).filter(|b| !b.is_empty()) {
                    match conn.stream.write(buf) {
                        Ok(n) => {
                            progress |= n > 0;
                            self.lb.sent(now, id, n);
                        }
                        Err(e) => progress |= self.on_io_error(now, id, &e, false),
                    }
                }
                self.drain(now);
            }
            if !progress {
                return;
            }
        }
        // Budget spent with work left: come back after the other sockets.
        self.dirty.push(id);
    }

    /// Handles a failed read or write; returns whether to try again.
    fn on_io_error(&mut self, now: Instant, id: ConnId, e: &io::Error, read: bool) -> bool {
        match e.kind() {
            io::ErrorKind::Interrupted => true,
            io::ErrorKind::WouldBlock => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    if read {
                        conn.readable = false;
                    } else {
                        conn.writable = false;
                    }
                }
                false
            }
            _ => {
                let error = ConnError::from_io(e);
                self.lb.handle_event(now, Event::Failed { conn: id, error });
                false
            }
        }
    }

    /// Carries out every action core has queued.
    fn drain(&mut self, now: Instant) {
        while let Some(action) = self.lb.poll_action() {
            match action {
                Action::Connect { conn, addr } => self.connect(now, conn, addr),
                Action::Interest { conn, read, write } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.want_read = read;
                        c.want_write = write;
                        if (read && c.readable) || (write && c.writable) {
                            self.dirty.push(conn);
                        }
                    }
                }
                Action::KeepAlive { conn } => {
                    if let Some(c) = self.conns.get(&conn) {
                        let _ = SockRef::from(&c.stream).set_keepalive(true);
                    }
                }
                Action::ShutdownWrite { conn } => {
                    if let Some(c) = self.conns.get(&conn) {
                        let _ = c.stream.shutdown(Shutdown::Write);
                    }
                }
                Action::Close { conn, reset } => {
                    if let Some(mut c) = self.conns.remove(&conn) {
                        if reset {
                            let _ = SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                        }
                        let _ = self.poll.registry().deregister(&mut c.stream);
                    }
                }
                Action::PauseAccept { listener } => self.set_paused(listener, true),
                Action::ResumeAccept { listener } => self.set_paused(listener, false),
                Action::Unbind { listener } => self.unbind(listener),
                Action::Log(line) => self.write_log(&line),
            }
        }
    }

    fn connect(&mut self, now: Instant, id: ConnId, addr: SocketAddr) {
        let registered = TcpStream::connect(addr).and_then(|mut stream| {
            let token = Token(id.to_u64() as usize);
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, token, interest)?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => {
                self.conns.insert(id, Conn::new(stream, true));
            }
            Err(e) => {
                let result = Err(ConnError::from_io(&e));
                self.lb
                    .handle_event(now, Event::Connected { conn: id, result });
            }
        }
    }

    /// Closes a listening socket for good.
    fn unbind(&mut self, listener: ListenerId) {
        let listener = self.listeners.get_mut(listener.0 as usize);
        if let Some(mut socket) = listener.and_then(|l| l.socket.take()) {
            let _ = self.poll.registry().deregister(&mut socket);
        }
    }

    fn set_paused(&mut self, listener: ListenerId, paused: bool) {
        let i = listener.0 as usize;
        if let Some(l) = self.listeners.get_mut(i) {
            l.paused = paused;
            if !paused {
                self.dirty_listeners.push(i);
            }
        }
    }

    /// Writes the buffered `log stdout` lines. Nobody reading them is no
    /// reason to stop balancing: a failure is reported once, then lines
    /// that cannot be written are dropped.
    fn flush_logs(&mut self) {
        if let Err(e) = self.out.flush() {
            if !self.out_failed {
                self.out_failed = true;
                log::error!("cannot write logs to stdout, dropping them: {e}");
            }
        }
    }

    fn write_log(&mut self, line: &LogLine) {
        if let Some(hook) = &mut self.log_hook {
            return hook(line);
        }
        match line.sink {
            LogSink::Stdout => {
                let _ = writeln!(self.out, "{}", line.text);
            }
            LogSink::Stderr => {
                let _ = writeln!(io::stderr().lock(), "{}", line.text);
            }
            LogSink::Diagnostic(level) => log::log!(level, "{}", line.text),
        }
    }
}

impl Conn {
    fn new(stream: TcpStream, connecting: bool) -> Self {
        Conn {
            stream,
            connecting,
            // Edge-triggered: assume ready until a call would block.
            readable: !connecting,
            writable: !connecting,
            want_read: false,
            want_write: false,
        }
    }
}

/// The outcome of a non-blocking connect after a wake-up: `Err(None)` while
/// it is still in progress.
fn connect_result(stream: &TcpStream) -> Result<(), Option<ConnError>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Err(Some(ConnError::from_io(&e))),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(None),
        Err(e) => Err(Some(ConnError::from_io(&e))),
    }
}

/// A non-blocking listening socket with `SO_REUSEADDR`.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Time from `now` until `at`, rounded up to the millisecond so the loop
/// never wakes just before a deadline and spins.
fn until(at: Instant, now: Instant) -> Duration {
    let d = at.saturating_duration_since(now);
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(ms.min(u128::from(u64::MAX)) as u64)
}
