//! weir on smol: one task per event loop (`nbthread`; loop 0 on the
//! caller's executor, the others each on a thread of their own) reports
//! socket readiness, from smol's reactor,
//! to the shared [`Engine`], which owns the balancer and the sockets.
//! Readiness reaches the task through one waker per socket, made when the
//! socket is opened: nothing is allocated per read or write.
//!
//! Inside a program that already runs smol:
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! # let config: weir_core::config::Config = unimplemented!();
//! let weir = weir_smol::Weir::bind(config, weir_smol::Options::default())?;
//! let stop = weir.shutdown_handle();
//! let task = smol::spawn(weir.run());
//! // ...
//! stop.shutdown();
//! smol::block_on(task)?;
//! # Ok(()) }
//! ```

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use smol::stream::Stream;
use smol::{Async, Timer};
use weir_core::config::Config;
use weir_driver::{Engine, Follower, ListenSocket, Reactor, Ready, Socket, Token};

pub use weir_driver::{LogHook, Options, ShutdownHandle};

/// The longest weir runs busy turns back to back before it yields to the
/// executor and looks at signals: a yield costs a reactor poll and a
/// signal-pipe read, too much for every turn of a busy loop.
pub const BUSY_SLICE: Duration = Duration::from_millis(1);

/// [`weir_driver::SIGNALS`], as smol names them.
const SIGNALS: [Signal; 9] = [
    Signal::Term,
    Signal::Int,
    Signal::Usr1,
    Signal::Hup,
    Signal::Usr2,
    Signal::Quit,
    Signal::Ttou,
    Signal::Ttin,
    Signal::Alarm,
];

/// A bound, ready-to-run weir.
pub struct Weir {
    engine: Engine<SmolReactor>,
    shared: Arc<Shared>,
    signals: Option<Signals>,
    /// Wakes the loop for [`Weir::signals`].
    signal_waker: Waker,
    /// The other event loops (`nbthread`), run on their own threads.
    followers: Vec<Weir>,
}

/// What the sockets' wakers and the shutdown handles tell the loop.
struct Shared {
    /// Sockets that became ready: (token, readable, writable).
    ready: Mutex<Vec<(Token, bool, bool)>>,
    /// A shutdown handle was used.
    woken: AtomicBool,
    /// A signal may have come (set at first, to register for them).
    signalled: AtomicBool,
    /// The loop's task, while it waits.
    task: Mutex<Option<Waker>>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            ready: Mutex::default(),
            woken: AtomicBool::new(false),
            signalled: AtomicBool::new(true),
            task: Mutex::default(),
        }
    }
}

/// Wakes the loop when a signal came.
struct SignalReadiness(Arc<Shared>);

impl Wake for SignalReadiness {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.signalled.store(true, Ordering::SeqCst);
        self.0.wake_task();
    }
}

impl Shared {
    fn push(&self, token: Token, read: bool, write: bool) {
        lock(&self.ready).push((token, read, write));
    }

    fn wake_task(&self) {
        if let Some(task) = lock(&self.task).as_ref() {
            task.wake_by_ref();
        }
    }
}

/// Wakes the task of the loop that `shared` belongs to.
fn wake_with(shared: Arc<Shared>) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        shared.woken.store(true, Ordering::SeqCst);
        shared.wake_task();
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wakes the loop for one socket. The reactor does not say which
/// direction fired, so both are reported: the engine only tries what core
/// wants, and an operation that would block re-arms its direction, which
/// is still registered with this same waker, so costs no reactor call.
/// (A waker per direction was tried: it saves those reads, but took
/// more CPU per short connection.)
struct Readiness {
    shared: Arc<Shared>,
    token: Token,
}

impl Wake for Readiness {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.push(self.token, true, true);
        self.shared.wake_task();
    }
}

/// A socket in smol's reactor, with its waker.
struct Watched<T: std::os::fd::AsFd> {
    io: Async<T>,
    waker: Waker,
}

/// Watches std sockets with smol's reactor (`Async`).
struct SmolReactor {
    shared: Arc<Shared>,
}

/// Binds `config`'s listeners and runs until shut down, on a new smol
/// executor (the `weir-smol` binary).
pub fn run(config: Config, options: Options) -> io::Result<()> {
    let weir = Weir::bind(config, options)?;
    smol::block_on(weir.run())
}

impl Weir {
    /// Creates the balancer and binds every listening address.
    pub fn bind(config: Config, options: Options) -> io::Result<Weir> {
        // Signal handlers first: once a listener accepts, SIGTERM must stop
        // weir cleanly, not kill it.
        let signals = if options.handle_signals {
            Some(Signals::new(SIGNALS)?)
        } else {
            None
        };
        let shared = Arc::new(Shared::default());
        let reactor = SmolReactor {
            shared: shared.clone(),
        };
        let mut engine = Engine::bind(config, options, reactor)?;
        let followers = (engine.take_followers().into_iter())
            .map(Weir::follow)
            .collect::<io::Result<_>>()?;
        Ok(Weir {
            engine,
            signal_waker: Waker::from(Arc::new(SignalReadiness(shared.clone()))),
            shared,
            signals,
            followers,
        })
    }

    /// Another event loop, with its own task state.
    fn follow(follower: Follower) -> io::Result<Weir> {
        let shared = Arc::new(Shared::default());
        let reactor = SmolReactor {
            shared: shared.clone(),
        };
        let engine = Engine::follower(follower, reactor, wake_with(shared.clone()))?;
        Ok(Weir {
            engine,
            signal_waker: Waker::from(Arc::new(SignalReadiness(shared.clone()))),
            shared,
            signals: None,
            followers: Vec::new(),
        })
    }

    /// The TCP addresses actually bound, in `lb.listeners()` order (UNIX
    /// stats sockets left out).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.engine.local_addrs()
    }

    /// A handle that stops [`Weir::run`] from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.engine.shutdown_handle(wake_with(self.shared.clone()))
    }

    /// Runs until shut down (handle, SIGTERM or SIGINT), or until a soft
    /// stop (handle, SIGUSR1) has finished. The future is `Send`: spawn it
    /// on any smol executor, local or not. It is one task and the only
    /// owner of the balancer. While it has IO left at the end of a turn it
    /// goes on without waiting, for at most [`BUSY_SLICE`]; then it yields
    /// to the executor's other tasks and takes signals before going on.
    ///
    /// With several event loops (`nbthread`), the others run each on a
    /// thread of its own, on an executor of its own; this future returns
    /// once they have all stopped.
    pub async fn run(mut self) -> io::Result<()> {
        let mut threads = Vec::new();
        for (i, mut follower) in self.followers.drain(..).enumerate() {
            let spawned = std::thread::Builder::new()
                .name(format!("weir-loop-{}", i + 1))
                .spawn(move || smol::block_on(follower.run_loop()));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    self.engine.stop_loops();
                    return Err(e);
                }
            }
        }
        let result = self.run_loop().await;
        if result.is_err() {
            self.engine.stop_loops();
        }
        for thread in threads {
            match smol::unblock(move || thread.join()).await {
                Ok(Err(e)) => log::error!("an event loop failed: {e}"),
                Ok(Ok(())) => {}
                Err(_) => log::error!("an event loop panicked"),
            }
        }
        result
    }

    /// Runs this event loop.
    async fn run_loop(&mut self) -> io::Result<()> {
        let mut timer = Timer::never();
        let mut ready = Vec::new();
        let mut waited = Instant::now();
        self.engine.start();
        loop {
            match self.engine.timeout() {
                Some(Duration::ZERO) if waited.elapsed() < BUSY_SLICE => {}
                Some(Duration::ZERO) => {
                    smol::future::yield_now().await;
                    self.wait(Wait::Poll).await;
                    waited = Instant::now();
                }
                Some(wait) => {
                    timer.set_after(wait);
                    self.wait(Wait::Until(&mut timer)).await;
                    waited = Instant::now();
                }
                None => {
                    self.wait(Wait::Forever).await;
                    waited = Instant::now();
                }
            }
            let now = Instant::now();
            std::mem::swap(&mut ready, &mut *lock(&self.shared.ready));
            for (token, readable, writable) in ready.drain(..) {
                // async-io's reactor does not tell a FIN from bytes, but
                // it is level-triggered: a socket armed after a short
                // read is reported again if its FIN came meanwhile.
                let ready = Ready {
                    readable,
                    writable,
                    read_closed: false,
                };
                self.engine.ready(now, token, ready);
            }
            if self.engine.turn(now) {
                return Ok(());
            }
        }
    }

    /// Waits until a socket is ready, a signal or a shutdown request came,
    /// or as `wait` says. Signals are taken in every case.
    async fn wait(&mut self, mut wait: Wait<'_>) {
        // The closure owns its borrows, so the future stays `Send`.
        let (shared, signals, engine) = (&self.shared, &mut self.signals, &mut self.engine);
        let signal_waker = &self.signal_waker;
        poll_fn(move |cx| {
            *lock(&shared.task) = Some(cx.waker().clone());
            let mut done = shared.woken.swap(false, Ordering::SeqCst);
            done |= !lock(&shared.ready).is_empty();
            // Each poll of the signals reads their pipe: only once they
            // woke the loop (and the first time, to register).
            let signalled = shared.signalled.swap(false, Ordering::SeqCst);
            if let Some(signals) = signals.as_mut().filter(|_| signalled) {
                let mut cx = Context::from_waker(signal_waker);
                while let Poll::Ready(Some(signal)) = Pin::new(&mut *signals).poll_next(&mut cx) {
                    if let Ok(signal) = signal {
                        engine.on_signal(signal as i32);
                        done = true;
                    }
                }
            }
            done |= match &mut wait {
                Wait::Poll => true,
                Wait::Until(timer) => Pin::new(&mut **timer).poll(cx).is_ready(),
                Wait::Forever => false,
            };
            if done { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        *lock(&self.shared.task) = None;
    }
}

/// How long [`Weir::wait`] may wait.
enum Wait<'a> {
    /// Not at all: only take what is already there.
    Poll,
    /// Until the timer fires.
    Until(&'a mut Timer),
    /// With no deadline.
    Forever,
}

impl SmolReactor {
    fn watch<T: std::os::fd::AsFd>(&self, io: T, token: Token) -> io::Result<Watched<T>> {
        let readiness = Readiness {
            shared: self.shared.clone(),
            token,
        };
        Ok(Watched {
            io: Async::new_nonblocking(io)?,
            waker: Waker::from(Arc::new(readiness)),
        })
    }
}

impl<T: std::os::fd::AsFd> Watched<T> {
    /// Asks smol's reactor for the next readiness, after an operation
    /// would block. A first `Ready` only says that an event came since the
    /// last registration: the engine has acted on it already (that is how
    /// it came to block), so the second poll registers the waker, and the
    /// reactor re-arms its level-triggered interest, which reports the
    /// socket again if it became ready meanwhile.
    fn arm(&self, shared: &Shared, token: Token, read: bool, write: bool) {
        let mut cx = Context::from_waker(&self.waker);
        if read {
            let mut again = || self.io.poll_readable(&mut cx).is_ready();
            if again() && again() {
                shared.push(token, true, false);
            }
        }
        if write {
            let mut again = || self.io.poll_writable(&mut cx).is_ready();
            if again() && again() {
                shared.push(token, false, true);
            }
        }
    }
}

impl Reactor for SmolReactor {
    type Stream = Watched<Socket>;
    type Listener = Watched<ListenSocket>;

    fn stream(&mut self, socket: Socket, token: Token) -> io::Result<Self::Stream> {
        self.watch(socket, token)
    }

    fn listener(&mut self, socket: ListenSocket, token: Token) -> io::Result<Self::Listener> {
        self.watch(socket, token)
    }

    fn socket(stream: &Self::Stream) -> &Socket {
        stream.io.get_ref()
    }

    fn listen_socket(listener: &Self::Listener) -> &ListenSocket {
        listener.io.get_ref()
    }

    // Dropping an `Async` takes the socket out of the reactor.
    fn release(&mut self, _: Self::Stream) {}

    fn release_listener(&mut self, _: Self::Listener) {}

    fn arm(&mut self, stream: &Self::Stream, token: Token, read: bool, write: bool) {
        stream.arm(&self.shared, token, read, write);
    }

    fn arm_listener(&mut self, listener: &Self::Listener, token: Token) {
        listener.arm(&self.shared, token, true, false);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn smol_handles_the_signals_every_driver_handles() {
        assert_eq!(super::SIGNALS.map(|s| s as i32), weir_driver::SIGNALS);
    }
}
