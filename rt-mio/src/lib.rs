//! weir on mio: one `mio::Poll` loop per event loop (`nbthread`, each
//! on its own thread) that reports socket readiness (TCP,
//! and UNIX for stats sockets) to the
//! shared [`Engine`], which owns the balancer and the sockets. This crate
//! only waits; every decision is core's, every byte moved the engine's.
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

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use weir_core::config::Config;
use weir_driver::{Engine, Follower, ListenSocket, Reactor, Ready, Socket};

pub use weir_driver::{LogHook, Options, ShutdownHandle};

const WAKER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);

/// A bound, ready-to-run weir.
pub struct Weir {
    poll: Poll,
    engine: Engine<MioReactor>,
    waker: Arc<Waker>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    /// The other event loops (`nbthread`), run on their own threads.
    followers: Vec<Weir>,
}

/// Watches std sockets with mio, edge-triggered, by their descriptor.
struct MioReactor {
    registry: Registry,
}

/// Binds `config`'s listeners and runs until shut down.
pub fn run(config: Config, options: Options) -> io::Result<()> {
    Weir::bind(config, options)?.run()
}

impl Weir {
    /// Creates the balancer and binds every listening address.
    pub fn bind(config: Config, options: Options) -> io::Result<Weir> {
        let poll = Poll::new()?;
        // Signal handlers first: once a listener accepts, SIGTERM must stop
        // weir cleanly, not kill it.
        let signals = if options.handle_signals {
            let mut signals = signal_hook_mio::v1_0::Signals::new(weir_driver::SIGNALS)?;
            poll.registry()
                .register(&mut signals, SIGNALS, Interest::READABLE)?;
            Some(signals)
        } else {
            None
        };
        let reactor = MioReactor {
            registry: poll.registry().try_clone()?,
        };
        let mut engine = Engine::bind(config, options, reactor)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let followers = (engine.take_followers().into_iter())
            .map(Weir::follow)
            .collect::<io::Result<_>>()?;
        Ok(Weir {
            poll,
            engine,
            waker,
            signals,
            followers,
        })
    }

    /// Another event loop, on its own `Poll`.
    fn follow(follower: Follower) -> io::Result<Weir> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let reactor = MioReactor {
            registry: poll.registry().try_clone()?,
        };
        let engine = Engine::follower(follower, reactor, wake_with(waker.clone()))?;
        Ok(Weir {
            poll,
            engine,
            waker,
            signals: None,
            followers: Vec::new(),
        })
    }

    /// The TCP addresses actually bound, in `lb.listeners()` order (UNIX
    /// stats sockets left out).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.engine.local_addrs()
    }

    /// A handle that stops [`Weir::run`] from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.engine.shutdown_handle(wake_with(self.waker.clone()))
    }

    /// Runs the event loops until shut down (handle, SIGTERM or SIGINT),
    /// or until a soft stop (handle, SIGUSR1) has finished on each: loop 0
    /// on this thread, the others on threads of their own.
    pub fn run(mut self) -> io::Result<()> {
        let mut threads = Vec::new();
        for (i, mut follower) in self.followers.drain(..).enumerate() {
            let name = format!("weir-loop-{}", i + 1);
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || follower.run_loop());
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    self.engine.stop_loops();
                    return Err(e);
                }
            }
        }
        let result = self.run_loop();
        if result.is_err() {
            self.engine.stop_loops();
        }
        for thread in threads {
            match thread.join() {
                Ok(Err(e)) => log::error!("an event loop failed: {e}"),
                Ok(Ok(())) => {}
                Err(_) => log::error!("an event loop panicked"),
            }
        }
        result
    }

    /// Runs this event loop.
    fn run_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.engine.start();
        loop {
            let timeout = self.engine.timeout();
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
                                self.engine.on_signal(signal);
                            }
                        }
                    }
                    // A FIN or an error shows up on the next read or write,
                    // so both make the socket "ready" for the call that
                    // will report them. Edge-triggered: a FIN that came
                    // with bytes is not reported again, so the engine is
                    // told to read past a short read.
                    Token(t) => {
                        let closed = event.is_read_closed() || event.is_error();
                        let ready = Ready {
                            readable: event.is_readable() || closed,
                            writable: event.is_writable()
                                || event.is_write_closed()
                                || event.is_error(),
                            read_closed: closed,
                        };
                        self.engine.ready(now, t, ready);
                    }
                }
            }
            if self.engine.turn(now) {
                return Ok(());
            }
        }
    }
}

/// Wakes the loop that polls with `waker`.
fn wake_with(waker: Arc<Waker>) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        if let Err(e) = waker.wake() {
            log::error!("cannot wake the event loop: {e}");
        }
    })
}

impl MioReactor {
    fn watch(&self, fd: &impl AsRawFd, token: usize, interest: Interest) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        self.registry
            .register(&mut SourceFd(&fd), Token(token), interest)
    }

    fn unwatch(&self, fd: &impl AsRawFd) {
        let _ = self.registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
    }
}

impl Reactor for MioReactor {
    type Stream = Socket;
    type Listener = ListenSocket;

    fn stream(&mut self, socket: Socket, token: usize) -> io::Result<Socket> {
        self.watch(&socket, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(socket)
    }

    fn listener(&mut self, socket: ListenSocket, token: usize) -> io::Result<ListenSocket> {
        self.watch(&socket, token, Interest::READABLE)?;
        Ok(socket)
    }

    fn socket(stream: &Socket) -> &Socket {
        stream
    }

    fn listen_socket(listener: &ListenSocket) -> &ListenSocket {
        listener
    }

    // Closing the socket takes it out of the epoll set (no other
    // descriptor refers to it): one system call less per connection.
    fn release(&mut self, _: Socket) {}

    fn release_listener(&mut self, listener: ListenSocket) {
        self.unwatch(&listener);
    }

    // Edge-triggered registrations report the next readiness by themselves.
    fn arm(&mut self, _: &Socket, _: usize, _: bool, _: bool) {}

    fn arm_listener(&mut self, _: &ListenSocket, _: usize) {}
}
