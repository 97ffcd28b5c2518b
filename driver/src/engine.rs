//! The IO engine every driver runs: it owns the balancer and the
//! non-blocking sockets, moves bytes between them and core's buffers, and
//! carries out core's actions. A driver only tells it which sockets became
//! ready (through [`Engine::ready`]) and, through [`Reactor`], watches the
//! sockets the engine hands it.

use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use weir_core::config::{BindOptions, Config, StatsAddr, printable};
use weir_core::{
    Action, Balancer, ConnError, ConnId, Event, ListenAddr, ListenerId, LogLine, LogSink,
    SourceBind,
};

use crate::Options;
use crate::activation::{self, Bound, Inherited};
use crate::datagrams::Datagrams;
use crate::service::Service;
use crate::sockets::{Accepted, ListenSocket, Socket, connect, listen};
use crate::splice::{KernelPipe, Pipes};
use crate::syslog::{self, Syslog};
use crate::table::Table;
pub use loops::Follower;

#[path = "loops.rs"]
pub(crate) mod loops;

/// What a reactor knows a socket by: a connection's id as a number, or a
/// listener's [`listener_token`].
pub type Token = usize;

/// Listener `i` has token `LISTENER_BASE - i`; connections have their id.
const LISTENER_BASE: usize = usize::MAX - 2;
/// Reads or writes per connection per turn, for fairness.
const IO_BUDGET: usize = 16;
/// Rounds of [`Engine::pump_dirty`] per turn: connections made ready by
/// others are done in the same turn, this many times over at most.
const PUMP_ROUNDS: usize = 4;
/// Accepts per listener per turn, for fairness.
const ACCEPT_BUDGET: usize = 64;
/// How often the local time offset is read again (DST changes).
const UTC_OFFSET_REFRESH: Duration = Duration::from_secs(60);

/// The token of listener `i`.
pub fn listener_token(i: usize) -> Token {
    LISTENER_BASE - i
}

/// How a driver watches sockets for readiness. Readiness is edge-like: a
/// socket is taken as ready until an operation would block, or a read
/// returns less than it asked for (the socket is then empty, as HAProxy
/// takes it); then the engine calls [`Reactor::arm`] and the driver
/// reports the next readiness with [`Engine::ready`]. A FIN or an error
/// that came before that short read must not be lost: an edge-triggered
/// driver reports it with [`Ready::read_closed`], and a level-triggered
/// one reports the socket again once armed.
pub trait Reactor {
    /// A connected socket as the driver keeps it.
    type Stream;
    /// A listening socket as the driver keeps it.
    type Listener;

    /// Starts watching a non-blocking connection under `token`.
    fn stream(&mut self, socket: Socket, token: Token) -> io::Result<Self::Stream>;
    /// Starts watching a non-blocking listener under `token`.
    fn listener(&mut self, socket: ListenSocket, token: Token) -> io::Result<Self::Listener>;
    /// The socket itself, for reads, writes and options.
    fn socket(stream: &Self::Stream) -> &Socket;
    /// The listening socket itself, for accepts.
    fn listen_socket(listener: &Self::Listener) -> &ListenSocket;
    /// Stops watching a connection; the socket closes when it drops.
    fn release(&mut self, stream: Self::Stream);
    /// Stops watching a listener; the socket closes when it drops.
    fn release_listener(&mut self, listener: Self::Listener);
    /// A read (`read`) or write would block: report the next readiness.
    fn arm(&mut self, stream: &Self::Stream, token: Token, read: bool, write: bool);
    /// An accept would block: report the next incoming connection.
    fn arm_listener(&mut self, listener: &Self::Listener, token: Token);
}

/// What a driver learnt about a socket from its reactor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    /// A read would not block.
    pub readable: bool,
    /// A write would not block.
    pub writable: bool,
    /// The peer's FIN or an error came: reads go on until they report
    /// it, past a short read (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`).
    pub read_closed: bool,
    /// The reactor reports errors and this edge has none (epoll: no
    /// `EPOLLERR`, no `EPOLLHUP`): a connect that completes with it is
    /// done, without asking the socket (`getpeername`).
    pub no_error: bool,
}

/// Stop requests, shared between the engine and its [`ShutdownHandle`]s.
#[derive(Default)]
struct Control {
    stop: AtomicBool,
    soft_stop: AtomicBool,
    reload: AtomicBool,
}

/// Stops a running weir from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    control: Arc<Control>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl ShutdownHandle {
    /// Asks weir to close every connection and return.
    pub fn shutdown(&self) {
        self.control.stop.store(true, Ordering::SeqCst);
        (self.wake)();
    }

    /// Asks weir to read its configuration files again and apply them in
    /// place (as SIGHUP does).
    pub fn reload(&self) {
        self.control.reload.store(true, Ordering::SeqCst);
        (self.wake)();
    }

    /// Asks weir to stop accepting and return once every session has
    /// ended (or `hard-stop-after` killed them).
    pub fn soft_stop(&self) {
        self.control.soft_stop.store(true, Ordering::SeqCst);
        (self.wake)();
    }
}

/// The balancer, its sockets and the driver's reactor.
pub struct Engine<R: Reactor> {
    lb: Balancer,
    reactor: R,
    listeners: Vec<Listener<R::Listener>>,
    conns: Table<Conn<R::Stream>>,
    /// Kernel pipes of spliced directions.
    pipes: Pipes,
    /// Connections that may have IO to do now.
    dirty: Vec<ConnId>,
    /// The list [`Engine::pump_dirty`] goes through (empty between turns).
    pumping: Vec<ConnId>,
    /// Listeners that may have connections to accept.
    dirty_listeners: Vec<usize>,
    control: Arc<Control>,
    out: BufWriter<io::Stdout>,
    /// Writing to stdout failed once already (reported once).
    out_failed: bool,
    /// Lines went to `out` since the last flush.
    out_pending: bool,
    log_hook: Option<crate::LogHook>,
    /// Processes to signal once started (`-sf`, `-st`): the signal, pids.
    old_pids: Option<(i32, Vec<i32>)>,
    /// The start-up line, until [`Engine::start`] logs it.
    banner: Option<String>,
    /// weir as a service, when it owns the process (pidfile, systemd).
    service: Option<Service>,
    /// Syslog targets' sockets.
    syslog: Syslog,
    /// The UDP sockets of core's datagrams (DNS).
    datagrams: Datagrams<R::Listener>,
    /// When to read the local time offset again.
    next_utc_offset: Instant,
    /// The configuration files a reload reads (the binaries'), in order.
    files: Option<Vec<String>>,
    /// Its place among several event loops (`nbthread`).
    link: Option<loops::Link>,
    /// Loop 0: the other loops, until the driver takes them.
    followers: Vec<Follower>,
}

struct Listener<L> {
    /// `None` once unbound (soft stop).
    socket: Option<L>,
    paused: bool,
    /// The local address of every connection it accepts, when known.
    local: Option<SocketAddr>,
}

struct Conn<S> {
    stream: S,
    connecting: bool,
    readable: bool,
    writable: bool,
    want_read: bool,
    want_write: bool,
    /// The driver reported the peer's FIN or an error: a short read does
    /// not end reading.
    read_closed: bool,
    /// Where bytes read from it may be spliced to ([`Action::Splice`]).
    splice_to: Option<ConnId>,
    /// The pipe of the spliced direction into it, while it holds bytes.
    pipe: Option<Box<KernelPipe>>,
}

/// `file:line: frontend 'fe': cannot bind ADDR: error`, or `file:line:
/// stats socket PATH: error`, for a listener that could not be set up.
pub(crate) fn bind_error(lb: &Balancer, listener: ListenerId, e: io::Error) -> io::Error {
    let message = match (lb.listener_bind(listener), lb.stats_socket(listener)) {
        (Some((frontend, bind)), _) => format!(
            "{}: frontend '{}': cannot bind {}: {e}",
            bind.origin, frontend.name, bind.addr
        ),
        (None, Some(socket)) => match &socket.addr {
            StatsAddr::Tcp(addr) => {
                format!("{}: stats socket {addr}: cannot bind: {e}", socket.origin)
            }
            StatsAddr::Unix(path) => format!("{}: stats socket {path}: {e}", socket.origin),
        },
        (None, None) => format!("cannot bind: {e}"),
    };
    io::Error::new(e.kind(), printable(&message).into_owned())
}

/// A listening socket for `addr`: a TCP one, or a stats socket's file.
pub(crate) fn open_listener(
    addr: ListenAddr<'_>,
    options: Option<&BindOptions>,
) -> io::Result<ListenSocket> {
    match addr {
        ListenAddr::Tcp(addr) => {
            listen(addr, options.unwrap_or(&BindOptions::default())).map(ListenSocket::Tcp)
        }
        ListenAddr::Unix(socket) => {
            crate::unix_socket::bind(socket, std::process::id()).map(ListenSocket::Unix)
        }
    }
}

/// The socket in `inherited` bound to `addr` (from systemd, or from the
/// old process with `-x`), else a new one from [`open_listener`].
fn take_or_open(
    addr: ListenAddr<'_>,
    options: Option<&BindOptions>,
    inherited: &mut Vec<Inherited>,
) -> io::Result<ListenSocket> {
    let bound = match addr {
        ListenAddr::Tcp(addr) => Bound::Tcp(addr),
        ListenAddr::Unix(socket) => match &socket.addr {
            StatsAddr::Unix(path) => Bound::Unix(path.into()),
            StatsAddr::Tcp(addr) => Bound::Tcp(*addr),
        },
    };
    let Some(fd) = activation::claim(inherited, &bound) else {
        return open_listener(addr, options);
    };
    let socket = match bound {
        Bound::Tcp(_) => ListenSocket::Tcp(fd.into()),
        Bound::Unix(_) => ListenSocket::Unix(fd.into()),
    };
    socket.set_nonblocking()?;
    Ok(socket)
}

impl<R: Reactor> Engine<R> {
    /// Creates the balancer and binds every listening address.
    pub fn bind(mut config: Config, mut options: Options, mut reactor: R) -> io::Result<Engine<R>> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let seed = options.seed.unwrap_or_else(|| {
            let nanos = wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        });
        let mut binary = options.binary;
        let (banner, fds) = match &binary {
            Some(binary) => {
                let (banner, fds) = crate::startup::prepare(binary, &mut config);
                (Some(banner), fds)
            }
            None => (None, None),
        };
        config.global.hostname = syslog::hostname();
        config.global.utc_offset = syslog::utc_offset(unix_seconds(wall));
        let pid = std::process::id();
        let info = crate::startup::process_info(&config, fds.as_ref(), wall, pid);
        let process = config.global.process.clone();
        let plan = loops::plan(&mut config, &mut options.log_hook);
        let old_states = binary.as_mut().and_then(|b| b.old_server_states.take());
        let states = crate::server_states::load(&config, old_states.as_deref());
        let pipes = crate::splice::pool(&config.global);
        let mut lb = Balancer::new(config, seed, now, wall, pid);
        lb.set_process_info(info);
        if crate::splice::SUPPORTED {
            lb.enable_splice();
        }
        let state_warnings = states.apply(&mut lb, now);
        let mut inherited = binary
            .as_mut()
            .map(|b| std::mem::take(&mut b.inherited))
            .unwrap_or_default();
        let files = binary.as_ref().map(|b| b.files.clone());
        // UNIX stats sockets first: once a frontend's port answers, the
        // runtime API is there too (scripts wait on the port).
        let mut order: Vec<_> = lb.listeners().enumerate().collect();
        order.sort_by_key(|(_, (_, addr))| matches!(addr, ListenAddr::Tcp(_)));
        let mut opened = Vec::with_capacity(order.len());
        for (i, (id, addr)) in order {
            let options = lb.listener_bind(id).map(|(_, bind)| &bind.options);
            let socket = (take_or_open(addr, options, &mut inherited))
                .map_err(|e| bind_error(&lb, id, e))?;
            opened.push((i, id, socket));
        }
        opened.sort_by_key(|(i, _, _)| *i);
        let mut listeners = Vec::new();
        for (i, id, socket) in opened {
            let local = fixed_local(&lb, id, &socket);
            let socket = (reactor.listener(socket, listener_token(i)))
                .map_err(|e| bind_error(&lb, id, e))?;
            listeners.push(Listener {
                socket: Some(socket),
                paused: false,
                local,
            });
        }
        activation::close_unclaimed(inherited);
        let old_pids = (binary.as_ref())
            .map(|b| (b.old_pids_signal, b.old_pids.clone()))
            .filter(|(_, pids)| !pids.is_empty());
        let service = match binary {
            Some(b) => Some(Service::settle(
                &process,
                b.pidfile.as_deref(),
                b.detached,
                &b.program,
            )?),
            None => None,
        };
        let dirty_listeners = (0..listeners.len()).collect();
        let mut engine = Engine {
            old_pids,
            lb,
            reactor,
            listeners,
            conns: Table::default(),
            pipes,
            dirty: Vec::new(),
            pumping: Vec::new(),
            dirty_listeners,
            control: Arc::default(),
            out: BufWriter::new(io::stdout()),
            out_failed: false,
            out_pending: false,
            log_hook: options.log_hook,
            banner,
            service,
            syslog: Syslog::default(),
            datagrams: Datagrams::default(),
            next_utc_offset: now + UTC_OFFSET_REFRESH,
            files,
            link: None,
            followers: Vec::new(),
        };
        engine.join_fleet(plan, seed)?;
        for warning in state_warnings {
            engine.diagnostic(log::Level::Warn, warning);
        }
        Ok(engine)
    }

    /// The TCP addresses actually bound, in `lb.listeners()` order (UNIX
    /// stats sockets left out).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| R::listen_socket(l.socket.as_ref()?).local_addr())
            .collect()
    }

    /// A handle that stops the engine; `wake` wakes the driver's loop.
    pub fn shutdown_handle(&self, wake: Arc<dyn Fn() + Send + Sync>) -> ShutdownHandle {
        ShutdownHandle {
            control: self.control.clone(),
            wake,
        }
    }

    /// A signal arrived: SIGUSR1 asks for a soft stop, SIGTERM and SIGINT
    /// to stop, SIGHUP and SIGUSR2 to reload; the other [`crate::SIGNALS`]
    /// are logged and ignored.
    pub fn on_signal(&self, signal: i32) {
        let flag = match signal {
            libc::SIGUSR1 => &self.control.soft_stop,
            libc::SIGHUP | libc::SIGUSR2 => &self.control.reload,
            libc::SIGTERM | libc::SIGINT => &self.control.stop,
            _ => return log::warn!("{}", ignored_signal(signal)),
        };
        flag.store(true, Ordering::SeqCst);
    }

    /// How long the driver may wait for readiness: zero while IO is left
    /// to do, else until core's next deadline (`None`: no deadline).
    pub fn timeout(&mut self) -> Option<Duration> {
        self.flush_logs();
        if self.dirty.is_empty() && self.dirty_listeners.is_empty() && !self.datagrams.pending() {
            let wait = self.lb.poll_timeout().map(|at| until(at, Instant::now()));
            self.loops_deadline(wait)
        } else {
            Some(Duration::ZERO)
        }
    }

    /// Socket `token` is ready to read and/or write.
    pub fn ready(&mut self, now: Instant, token: Token, ready: Ready) {
        let Ready {
            readable,
            writable,
            read_closed,
            no_error,
        } = ready;
        if self.datagrams.ready(token) {
            return;
        }
        if token > LISTENER_BASE - self.listeners.len() && token <= LISTENER_BASE {
            self.dirty_listeners.push(LISTENER_BASE - token);
            return;
        }
        let id = ConnId::from_u64(token as u64);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.readable |= readable;
        conn.writable |= writable;
        conn.read_closed |= read_closed;
        if conn.connecting {
            if !conn.writable {
                return;
            }
            let socket = R::socket(&conn.stream);
            let result = match no_error {
                true => Ok(()),
                false => socket.connect_result(),
            };
            if result == Err(None) {
                // Spurious wake-up: still connecting.
                conn.writable = false;
                self.reactor.arm(&conn.stream, token, false, true);
                return;
            }
            conn.connecting = false;
            if result.is_ok() {
                socket.set_nodelay();
                // Not taken as readable: a server rarely speaks first, so
                // a read now would mostly block; the driver reports its
                // first bytes instead.
                if !conn.readable {
                    self.reactor.arm(&conn.stream, token, true, false);
                }
            }
            let result = result.map_err(|e| e.unwrap_or(ConnError::Other(0)));
            self.lb
                .handle_event(now, Event::Connected { conn: id, result });
            self.drain(now);
        }
        self.dirty.push(id);
    }

    /// One turn after the driver's wait: stop requests, accepts, IO,
    /// timers. Returns whether weir has stopped (the driver returns).
    pub fn turn(&mut self, now: Instant) -> bool {
        let pipes = |n: usize| n.min(u32::MAX as usize) as u32;
        (self.lb).set_pipes(pipes(self.pipes.used()), pipes(self.pipes.free()));
        self.loops_in(now);
        if self.control.soft_stop.swap(false, Ordering::SeqCst) {
            if let Some(service) = &self.service {
                service.stopping("soft-stopping: waiting for the sessions to end");
            }
            self.lb.soft_stop(now);
            self.drain(now);
            self.pass_soft_stop();
        }
        if self.control.stop.load(Ordering::SeqCst) {
            self.stop(now);
            return true;
        }
        self.accept_all(now);
        self.pump_dirty(now);
        self.receive_datagrams(now);
        if now >= self.next_utc_offset {
            self.next_utc_offset = now + UTC_OFFSET_REFRESH;
            let offset = syslog::utc_offset(unix_seconds(SystemTime::now()));
            self.lb.set_utc_offset(offset);
        }
        self.lb.handle_timeout(now);
        self.drain(now);
        if self.control.reload.swap(false, Ordering::SeqCst) {
            self.reload(now);
        }
        self.loops_out();
        if self.lb.is_stopped() && self.loops_stopped() {
            self.stop(now);
            return true;
        }
        false
    }

    /// The first turn, before any wait: core's start-up actions; the
    /// processes this one replaces are told to go (`-sf`, `-st`).
    pub fn start(&mut self) {
        if let Some(text) = self.banner.take() {
            if let Some(service) = &mut self.service {
                service.ready(&text);
            }
            let sink = LogSink::Diagnostic(log::Level::Info);
            self.write_log(&LogLine { sink, text });
        }
        if let Some((signal, pids)) = self.old_pids.take() {
            for pid in pids {
                // SAFETY: kill(2) changes no memory of this process.
                if unsafe { libc::kill(pid, signal) } != 0 {
                    let e = io::Error::last_os_error();
                    log::warn!("cannot signal old process {pid}: {e}");
                }
            }
        }
        self.drain(Instant::now());
        // What loop 0 learnt while starting (a state file) goes to the
        // other loops now, not after its first wait.
        self.loops_out();
    }

    /// Closes everything; loop 0 then stops the other loops still
    /// running. The last loop to stop writes how many connections they
    /// all closed.
    fn stop(&mut self, now: Instant) {
        if let Some(service) = &self.service {
            service.stopping("stopping");
        }
        let others = !self.loops_stopped();
        if let Some(closed) = self.loops_closing(self.conns.len()) {
            log::info!("stopping: closing {closed} connections");
        }
        self.lb.shutdown(now);
        self.drain(now);
        if others {
            self.stop_loops();
        }
        for conn in self.conns.drain() {
            self.reactor.release(conn.stream);
        }
        self.flush_logs();
    }

    /// Accepts on the listeners that may have connections waiting. A
    /// listener that used up its budget stays dirty: no new readiness
    /// would come for connections already queued.
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
            // The connection's tokens of the limits first, as HAProxy
            // reserves them before accepting (a full limit pauses it).
            let id = ListenerId(i as u32);
            if !self.lb.admit(now, id) {
                self.drain(now);
                // Paused until a limit frees (then dirty again), or room
                // came back meanwhile: then the next turn tries again.
                return self.listeners.get(i).is_some_and(|l| !l.paused);
            }
            let result = R::listen_socket(socket).accept(listener.local);
            if result.is_err() {
                self.lb.unadmit(id);
            }
            match result {
                Ok(connection) => {
                    accepted = true;
                    self.on_accepted(now, i, connection);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor.arm_listener(socket, listener_token(i));
                    return false;
                }
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

    fn on_accepted(&mut self, now: Instant, i: usize, connection: Accepted) {
        self.loops_accepted(i);
        let Accepted { socket, addrs } = connection;
        let listener = ListenerId(i as u32);
        let id = match addrs {
            Some((peer, local)) => self.lb.accept(now, listener, peer, local),
            None => self.lb.accept_unix(now, listener),
        };
        let Some(id) = id else {
            self.drain(now);
            return;
        };
        socket.set_nodelay();
        let watched = self.reactor.stream(socket, id.to_u64() as Token);
        match watched {
            Ok(stream) => {
                self.conns.insert(id, Conn::new(stream, false));
            }
            Err(e) => {
                log::warn!("cannot watch a client connection: {e}");
                let error = ConnError::from_io(&e);
                self.lb.handle_event(now, Event::Failed { conn: id, error });
            }
        }
        self.drain(now);
    }

    /// Does the IO core wants on connections that are ready for it. The
    /// connections this makes ready (a reader's bytes make its peer
    /// writable, a writer's room makes its peer readable) are done in the
    /// same turn, for a few rounds: without a wait for readiness between
    /// a read and the write it allows.
    /// The two lists swap, so neither is allocated again per turn.
    fn pump_dirty(&mut self, now: Instant) {
        for _ in 0..PUMP_ROUNDS {
            if self.dirty.is_empty() {
                return;
            }
            let mut dirty = std::mem::take(&mut self.pumping);
            std::mem::swap(&mut dirty, &mut self.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            for id in dirty.drain(..) {
                self.pump(now, id);
            }
            self.pumping = dirty;
        }
    }

    fn pump(&mut self, now: Instant, id: ConnId) {
        for _ in 0..IO_BUDGET {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            if conn.connecting {
                return;
            }
            let mut progress = false;
            if conn.want_read && conn.readable {
                let spliced = match conn.splice_to {
                    Some(to) => self.splice_in(now, id, to),
                    None => None,
                };
                progress |= match spliced {
                    Some(progress) => progress,
                    None => self.read(now, id),
                };
                self.drain(now);
            }
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            if conn.want_write && conn.writable {
                if conn.pipe.is_some() {
                    progress |= self.splice_out(now, id);
                } else if let Some(buf) = self.lb.send_buf(id).filter(|b| !b.is_empty()) {
                    match R::socket(&conn.stream).write(buf) {
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

    /// Reads from `id` into core's buffer; returns whether to go on.
    fn read(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        let Some(buf) = self.lb.recv_buf(id).filter(|b| !b.is_empty()) else {
            return false;
        };
        let asked = buf.len();
        match R::socket(&conn.stream).read(buf) {
            Ok(0) => {
                conn.readable = false;
                self.lb.handle_event(now, Event::ReadClosed { conn: id });
                false
            }
            Ok(n) => {
                // A short read emptied the socket: the next read would
                // only block, so wait for the next readiness now.
                let emptied = n < asked && !conn.read_closed;
                if emptied {
                    conn.readable = false;
                    (self.reactor).arm(&conn.stream, id.to_u64() as Token, true, false);
                }
                self.lb.received(now, id, n);
                !emptied
            }
            Err(e) => self.on_io_error(now, id, &e, true),
        }
    }

    /// Splices what `id` has into the pipe of its direction to `to`, and
    /// on to `to` when it can take it. `None` when the bytes must go
    /// through core's buffer instead: core still holds some of the
    /// direction's, no pipe is free, or the socket cannot splice.
    fn splice_in(&mut self, now: Instant, id: ConnId, to: ConnId) -> Option<bool> {
        let held = self.conns.get_mut(to)?.pipe.take();
        let mut pipe = match held {
            Some(pipe) => pipe,
            None if self.lb.send_buf(to).is_some() => return None,
            None => self.pipes.take(id)?,
        };
        let Some(conn) = self.conns.get_mut(id) else {
            self.pipes.put(pipe);
            return None;
        };
        let result = pipe.fill(R::socket(&conn.stream).as_raw_fd());
        match &result {
            Ok(0) => conn.readable = false,
            // Nothing to read, or (with bytes in it) no room in the pipe:
            // then it is tried again once the pipe drains.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if pipe.bytes == 0 {
                    conn.readable = false;
                    self.reactor
                        .arm(&conn.stream, id.to_u64() as Token, true, false);
                } else {
                    pipe.full = true;
                }
            }
            _ => {}
        }
        if pipe.bytes > 0 {
            match self.conns.get_mut(to) {
                Some(sink) => sink.pipe = Some(pipe),
                None => self.pipes.put(pipe),
            }
        } else {
            self.pipes.put(pipe);
        }
        match result {
            Ok(0) => self.lb.handle_event(now, Event::ReadClosed { conn: id }),
            Ok(bytes) => {
                self.lb
                    .handle_event(now, Event::SplicedIn { conn: id, bytes });
                self.drain(now);
                let ready = |c: &Conn<R::Stream>| c.writable && c.want_write && c.pipe.is_some();
                if self.conns.get(to).is_some_and(ready) {
                    self.splice_out(now, to);
                }
                // Bytes left in the pipe of a sink that took only some:
                // its own turn writes until it would block (and arms).
                if self.conns.get(to).is_some_and(ready) {
                    self.dirty.push(to);
                }
                return Some(true);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Some(true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Not a socket the kernel splices: copy from now on.
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.splice_to = None;
                }
                return None;
            }
            Err(e) => {
                let error = ConnError::from_io(&e);
                self.lb.handle_event(now, Event::Failed { conn: id, error });
            }
        }
        Some(false)
    }

    /// Splices bytes of the pipe into `id` to it; returns whether to go on.
    fn splice_out(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        let Some(mut pipe) = conn.pipe.take() else {
            return false;
        };
        let result = pipe.drain(R::socket(&conn.stream).as_raw_fd());
        if let Err(e) = &result {
            if e.kind() == io::ErrorKind::WouldBlock {
                conn.writable = false;
                self.reactor
                    .arm(&conn.stream, id.to_u64() as Token, false, true);
            }
        }
        // A source stopped by a full pipe is told once the pipe drains.
        let drained = matches!(result, Ok(n) if n > 0);
        let (from, full) = (pipe.from, drained && std::mem::take(&mut pipe.full));
        if pipe.bytes > 0 {
            conn.pipe = Some(pipe);
        } else {
            self.pipes.put(pipe);
        }
        match result {
            Ok(0) => false,
            Ok(bytes) => {
                // A source that stopped at a full pipe reads again.
                if full {
                    self.dirty.push(from);
                }
                self.lb
                    .handle_event(now, Event::SplicedOut { conn: id, bytes });
                true
            }
            Err(e) => self.on_io_error(now, id, &e, false),
        }
    }

    /// Handles a failed read or write; returns whether to try again.
    fn on_io_error(&mut self, now: Instant, id: ConnId, e: &io::Error, read: bool) -> bool {
        match e.kind() {
            io::ErrorKind::Interrupted => true,
            io::ErrorKind::WouldBlock => {
                if let Some(conn) = self.conns.get_mut(id) {
                    if read {
                        conn.readable = false;
                    } else {
                        conn.writable = false;
                    }
                    let token = id.to_u64() as Token;
                    self.reactor.arm(&conn.stream, token, read, !read);
                }
                false
            }
            _ => {
                let error = ConnError::from_io(e);
                let event = if read {
                    Event::Failed { conn: id, error }
                } else {
                    Event::WriteFailed { conn: id, error }
                };
                self.lb.handle_event(now, event);
                false
            }
        }
    }

    /// Carries out every action core has queued.
    fn drain(&mut self, now: Instant) {
        while let Some(action) = self.lb.poll_action() {
            match action {
                Action::Connect {
                    conn,
                    addr,
                    source,
                    delay_ack,
                } => self.connect(now, conn, addr, source.as_ref(), delay_ack),
                Action::Interest { conn, read, write } => {
                    if let Some(c) = self.conns.get_mut(conn) {
                        c.want_read = read;
                        c.want_write = write;
                        if (read && c.readable) || (write && c.writable) {
                            self.dirty.push(conn);
                        }
                    }
                }
                Action::KeepAlive { conn } => {
                    if let Some(c) = self.conns.get(conn) {
                        R::socket(&c.stream).set_keepalive();
                    }
                }
                Action::Splice { from, to } => {
                    if let Some(c) = self.conns.get_mut(from) {
                        c.splice_to = Some(to);
                    }
                }
                Action::ShutdownWrite { conn } => {
                    if let Some(c) = self.conns.get(conn) {
                        let _ = R::socket(&c.stream).shutdown(Shutdown::Write);
                    }
                }
                Action::Close { conn, reset, .. } => {
                    if let Some(mut c) = self.conns.remove(conn) {
                        if reset {
                            R::socket(&c.stream).set_reset_on_close();
                        }
                        if let Some(pipe) = c.pipe.take() {
                            self.pipes.put(pipe);
                        }
                        self.reactor.release(c.stream);
                        self.shrink_tables(now);
                    }
                }
                Action::PauseAccept { listener } => self.set_paused(listener, true),
                Action::ResumeAccept { listener } => self.set_paused(listener, false),
                Action::Unbind { listener } => self.unbind(listener),
                Action::SendListeners { conn } => self.send_listeners(conn),
                Action::SendDatagram { to, data } => {
                    self.datagrams.send(&mut self.reactor, to, &data)
                }
                Action::Log(line) => self.write_log(&line),
                Action::Reload => self.control.reload.store(true, Ordering::SeqCst),
            }
        }
    }

    /// Hands core the datagrams that came to its UDP sockets.
    fn receive_datagrams(&mut self, now: Instant) {
        let lb = &mut self.lb;
        (self.datagrams).receive(&mut self.reactor, |from, data| {
            lb.handle_datagram(now, from, data)
        });
        self.drain(now);
    }

    /// After a burst, once the connections of the last second or two
    /// peaked below an eighth of the table's room, the table shrinks to
    /// twice that peak and the allocator is asked to give its free pages
    /// back: the peak's memory goes back, and each shrink is paid by many
    /// closes (a few per burst, under a millisecond each after 5,000
    /// connections).
    ///
    /// A load that comes back every second (health checks, whose probes
    /// run in bursts) keeps its room: shrinking, trimming and growing
    /// again for each burst cost more than the checks' own work.
    /// The table cannot shrink below its highest slot in use: while one
    /// connection holds a high slot, the closes below it give nothing back,
    /// so they do not ask the allocator either.
    fn shrink_tables(&mut self, now: Instant) {
        let room = self.conns.capacity();
        if let Some(keep) = self.conns.ease(now) {
            self.dirty.shrink_to(keep);
            self.pumping.shrink_to(keep);
            if self.conns.capacity() <= room / 2 {
                release_free_memory();
            }
        }
    }

    fn connect(
        &mut self,
        now: Instant,
        id: ConnId,
        addr: SocketAddr,
        source: Option<&SourceBind>,
        delay_ack: bool,
    ) {
        let token = id.to_u64() as Token;
        let stream = connect(addr, source, delay_ack).and_then(|tcp| {
            (self.reactor.stream(Socket::Tcp(tcp), token)).map_err(|e| ConnError::from_io(&e))
        });
        match stream {
            Ok(stream) => {
                self.reactor.arm(&stream, token, false, true);
                self.conns.insert(id, Conn::new(stream, true));
            }
            Err(error) => {
                let result = Err(error);
                self.lb
                    .handle_event(now, Event::Connected { conn: id, result });
            }
        }
    }

    /// Reads the configuration files again and applies them in place:
    /// nothing changes when they have an error (logged as `weir -c`
    /// prints it) or a new address cannot be bound.
    fn reload(&mut self, now: Instant) {
        if self.follows() {
            return;
        }
        crate::notify::reloading();
        let (warnings, outcome) = match &self.files {
            None => {
                let why = "no configuration files to read again (embedded weir)";
                (Vec::new(), Err(vec![why.to_owned()]))
            }
            Some(files) => crate::reload::prepare(files, &self.lb),
        };
        for warning in warnings {
            self.diagnostic(log::Level::Warn, warning);
        }
        let prepared = match outcome {
            Ok(prepared) => prepared,
            Err(errors) => {
                for error in &errors {
                    self.diagnostic(log::Level::Error, error.clone());
                }
                let kept = "Reload failed: the running configuration is kept.".to_owned();
                crate::notify::ready(&kept);
                self.diagnostic(log::Level::Error, kept);
                self.lb.reload_failed(now, &errors);
                return self.drain(now);
            }
        };
        let (config, mut bound) = (prepared.config, prepared.sockets);
        let copies = self.loops_configs(&config);
        let report = self.lb.reload(now, config);
        for &id in &report.closed {
            self.unbind(id);
        }
        for &id in &report.opened {
            let Some(addr) = self.lb.listener_addr(id) else {
                continue;
            };
            let socket = match bound.iter().position(|(key, _)| key.names(&addr)) {
                Some(i) => Ok(bound.swap_remove(i).1),
                None => {
                    let options = self.lb.listener_bind(id).map(|(_, bind)| &bind.options);
                    open_listener(addr, options)
                }
            };
            let i = id.0 as usize;
            let local = (socket.as_ref().ok()).and_then(|s| fixed_local(&self.lb, id, s));
            let watched = socket.and_then(|s| self.reactor.listener(s, listener_token(i)));
            if self.listeners.len() <= i {
                self.listeners.resize_with(i + 1, || Listener {
                    socket: None,
                    paused: false,
                    local: None,
                });
            }
            match watched {
                Ok(socket) => {
                    self.listeners[i] = Listener {
                        socket: Some(socket),
                        paused: false,
                        local,
                    };
                    self.dirty_listeners.push(i);
                }
                Err(e) => {
                    let message = bind_error(&self.lb, id, e).to_string();
                    self.diagnostic(log::Level::Error, message);
                }
            }
        }
        self.loops_reload(copies, &report);
        crate::notify::ready("Configuration reloaded.");
        self.drain(now);
    }

    /// Logs `text` at `level` on the diagnostic log (or the log hook).
    fn diagnostic(&mut self, level: log::Level, text: String) {
        let sink = LogSink::Diagnostic(level);
        self.write_log(&LogLine { sink, text });
    }

    /// Closes a listening socket for good.
    fn unbind(&mut self, listener: ListenerId) {
        let listener = self.listeners.get_mut(listener.0 as usize);
        if let Some(socket) = listener.and_then(|l| l.socket.take()) {
            self.reactor.release_listener(socket);
        }
    }

    /// Hands the TCP listening sockets to the process on the other end of
    /// stats-socket connection `conn` (`_getsocks`). UNIX stats sockets
    /// stay: the next process binds its own over the path.
    fn send_listeners(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let fds: Vec<RawFd> = (self.listeners.iter())
            .filter_map(|l| match R::listen_socket(l.socket.as_ref()?) {
                ListenSocket::Tcp(tcp) => Some(tcp.as_raw_fd()),
                ListenSocket::Unix(_) | ListenSocket::Udp(_) => None,
            })
            .collect();
        match crate::handover::send(R::socket(&c.stream).as_raw_fd(), &fds) {
            Ok(()) => log::info!("handed {} listening sockets over (_getsocks)", fds.len()),
            Err(e) => log::warn!("could not hand the listening sockets over: {e}"),
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
        if !std::mem::take(&mut self.out_pending) {
            return;
        }
        if let Err(e) = self.out.flush() {
            if !self.out_failed {
                self.out_failed = true;
                log::error!("cannot write logs to stdout, dropping them: {e}");
            }
        }
    }

    /// Log lines syslog sockets could not take so far (`show info`'s
    /// `DroppedLogs`).
    pub fn dropped_logs(&self) -> u64 {
        self.syslog.dropped()
    }

    fn write_log(&mut self, line: &LogLine) {
        match &line.sink {
            LogSink::Udp(addr) => return self.syslog.send_udp(*addr, &line.text),
            LogSink::Unix(path) => return self.syslog.send_unix(path, &line.text),
            _ => {}
        }
        if let Some(hook) = &mut self.log_hook {
            return hook(line);
        }
        match line.sink {
            LogSink::Stdout => {
                self.out_pending = true;
                let _ = writeln!(self.out, "{}", line.text);
            }
            LogSink::Stderr => {
                let _ = writeln!(io::stderr().lock(), "{}", line.text);
            }
            LogSink::Diagnostic(level) => log::log!(level, "{}", line.text),
            LogSink::Udp(_) | LogSink::Unix(_) => {}
        }
    }
}

/// The local address of every connection `socket` (listener `id`)
/// accepts, when the bind says it (see [`ListenSocket::fixed_local`]).
fn fixed_local(lb: &Balancer, id: ListenerId, socket: &ListenSocket) -> Option<SocketAddr> {
    let transparent = lb
        .listener_bind(id)
        .is_some_and(|(_, b)| b.options.transparent);
    socket.fixed_local(transparent)
}

/// Seconds since 1970 of `t`.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl<S> Conn<S> {
    fn new(stream: S, connecting: bool) -> Self {
        Conn {
            stream,
            connecting,
            // Edge-like: assume ready until a call would block.
            readable: !connecting,
            writable: !connecting,
            want_read: false,
            want_write: false,
            read_closed: false,
            splice_to: None,
            pipe: None,
        }
    }
}

/// Hands the allocator's free pages back to the kernel. glibc keeps the
/// memory a burst freed in its heap (many small blocks, fragmented), so
/// the process would stay at its peak; `malloc_trim` gives back every
/// free page. Other allocators return memory on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim has no precondition: it walks glibc's own free
    // lists under its locks, and only frees pages no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// What weir says when it ignores `signal`. HAProxy pauses and resumes
/// its listeners on SIGTTOU and SIGTTIN (for a new process taking over its
/// ports), and frees memory pools on SIGQUIT.
fn ignored_signal(signal: i32) -> String {
    let (name, why) = match signal {
        libc::SIGTTOU => ("SIGTTOU", "pausing the listeners is not supported"),
        libc::SIGTTIN => ("SIGTTIN", "resuming the listeners is not supported"),
        libc::SIGQUIT => ("SIGQUIT", "weir has no memory pools to release"),
        libc::SIGALRM => ("SIGALRM", "weir sets no alarm"),
        _ => return format!("signal {signal} received: ignored."),
    };
    format!("{name} received: {why}, ignored.")
}

/// Time from `now` until `at`, rounded up to the millisecond so the loop
/// never wakes just before a deadline and spins.
fn until(at: Instant, now: Instant) -> Duration {
    let d = at.saturating_duration_since(now);
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(ms.min(u128::from(u64::MAX)) as u64)
}
