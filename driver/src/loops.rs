//! Several event loops (`nbthread N`), the engine's side of core's design
//! ([`weir_core::loops`]): loop 0 is the engine [`Engine::bind`] builds;
//! it hands the driver one [`Follower`] per other loop
//! ([`Engine::take_followers`]), which the driver runs on its own thread
//! with its own reactor ([`Engine::follower`]).
//!
//! * **Listeners: one socket, every loop accepts.** A follower watches a
//!   duplicate (`dup(2)`) of each of loop 0's TCP frontend sockets, in its
//!   own reactor; whichever loop the kernel wakes first accepts, the others
//!   find nothing (`EAGAIN`) and wait again. A loop holding clearly more
//!   connections than another pauses its listeners until the others catch
//!   up (core's accept balance, [`weir_core::loops`]): it makes no
//!   `accept(2)` meanwhile. There is one socket per
//!   address, as with one loop, so the hand-over to a new process
//!   (`_getsocks`, `-x`) and reloads work unchanged and refuse nothing
//!   (a `SO_REUSEPORT` group per loop would drop the connections queued on
//!   a loop's socket when it closes). Stats sockets and `mode http`
//!   (metrics, stats page) frontends are loop 0's alone: they show the sums.
//! * **News out, news in.** After every turn loop 0 sends what core
//!   published ([`weir_core::Balancer::poll_news`]) to every follower's
//!   inbox and wakes it; a follower applies its inbox at the start of its
//!   turn ([`weir_core::Balancer::apply_news`]).
//! * **Reports in.** After every turn a follower puts what core noted for
//!   loop 0's passive checks ([`weir_core::Balancer::poll_reports`]) in
//!   loop 0's inbox, and wakes it when they hold a failure (or many
//!   wait); loop 0 counts them at the start of its turn
//!   ([`weir_core::Balancer::apply_report`]). Reports of successes only
//!   may wait for loop 0's next turn: they end a run of failures, and
//!   only a later failure, which wakes loop 0, could complete one.
//! * **Limits.** Every loop's balancer counts its connections in one
//!   [`LimitPool`] ([`weir_core::limits`]): the driver asks
//!   [`weir_core::Balancer::admit`] before each `accept(2)` (and gives the
//!   tokens back when it found nothing). After every turn a loop hands
//!   the loops its gives freed ([`weir_core::Balancer::poll_freed`]) a
//!   flag and a wake-up; they call [`weir_core::Balancer::limits_freed`]
//!   at the start of their next turn.
//! * **Counters.** Every [`STATS_PERIOD_MS`] a follower leaves a snapshot
//!   of its stats in its slot; loop 0 takes the new ones at the start of
//!   its turn ([`weir_core::Balancer::set_peer_stats`]).
//! * **Stop, soft stop, reload.** Loop 0 takes signals and shutdown
//!   handles and passes stops and soft stops on once core took them (so
//!   its stop lines count every loop's sessions before any other loop
//!   acts). A soft stop ends on loop 0 last: its checks, stats sockets and
//!   `hard-stop-after` go on until every follower has stopped. The last
//!   loop to stop writes how many connections they closed. A reload
//!   reads and binds once, on loop 0, which sends the validated
//!   configuration (and duplicates of the sockets it opened) to every
//!   follower.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use weir_core::config::Config;
use weir_core::limits::LimitPool;
use weir_core::loops::{EventLoop, LoopNews, LoopReport, LoopStats, STATS_PERIOD_MS};
use weir_core::{Balancer, ListenerId, ReloadReport};

use super::{Control, Engine, Listener, Reactor, UTC_OFFSET_REFRESH, fixed_local, listener_token};
use crate::LogHook;
use crate::datagrams::Datagrams;
use crate::sockets::ListenSocket;
use crate::syslog::Syslog;

/// How long loop 0 waits for the followers' stats when a stats
/// connection comes (they answer at their next turn).
const ASK_PATIENCE: Duration = Duration::from_millis(100);

/// Reports of successes that wait for loop 0's next turn, at most: the
/// follower that puts more wakes it.
const QUIET_REPORTS: usize = 64;

/// A wake-up of a loop's driver.
type Wake = Arc<dyn Fn() + Send + Sync>;

/// What loop 0 sends another loop.
enum Message {
    News(Arc<LoopNews>),
    /// A reload loop 0 applied: the configuration for this loop, and
    /// duplicates of the listening sockets it opened (by listener index).
    Reload {
        config: Box<Config>,
        sockets: Vec<(usize, ListenSocket)>,
    },
}

/// One follower as the other loops reach it.
struct Peer {
    control: Arc<Control>,
    inbox: Mutex<Vec<Message>>,
    wake: Mutex<Option<Wake>>,
    /// Its latest stats, until loop 0 takes them.
    stats: Mutex<Option<LoopStats>>,
    /// Loop 0 waits for its stats of now.
    asked: AtomicBool,
}

/// Every follower (loop `i` is `peers[i - 1]`).
pub(crate) struct Fleet {
    peers: Vec<Peer>,
    /// The limits every loop counts in.
    limits: Arc<LimitPool>,
    /// Loop `i` is to call `limits_freed`: another loop gave back tokens
    /// it waited for.
    freed: Vec<AtomicBool>,
    /// Loop 0's wake-up (followers have theirs in `peers`).
    leader_wake: Mutex<Option<Wake>>,
    /// What the followers reported for loop 0's passive checks, in the
    /// order they put it.
    reports: Mutex<Vec<LoopReport>>,
    /// A follower left new stats.
    fresh_stats: AtomicBool,
    /// Signalled when a follower answered loop 0's ask for stats.
    answered: (Mutex<()>, Condvar),
    /// Loops not stopped yet.
    running: AtomicUsize,
    /// Connections the stopped loops closed.
    closed: AtomicUsize,
}

/// An engine's place among the loops.
pub(crate) struct Link {
    index: usize,
    fleet: Arc<Fleet>,
    /// A follower: when to leave its stats next.
    next_stats: Instant,
    /// Loop 0: the reports it counts, swapped with the fleet's (both keep
    /// their room between turns).
    reports: Vec<LoopReport>,
}

/// A loop other than loop 0, built by [`Engine::bind`], not yet running.
pub struct Follower {
    config: Config,
    link: Link,
    listeners: Vec<(usize, ListenSocket)>,
    log_hook: Option<LogHook>,
    seed: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fleet {
    /// Wakes loop 0 (from any thread).
    fn wake_leader(&self) {
        if let Some(wake) = lock(&self.leader_wake).as_ref() {
            wake();
        }
    }

    /// Loops `freed` (bit `i`: loop `i`) are to look at their limits
    /// again.
    fn tell_freed(&self, freed: u64) {
        for (i, flag) in self
            .freed
            .iter()
            .enumerate()
            .filter(|(i, _)| freed >> i & 1 == 1)
        {
            flag.store(true, Ordering::SeqCst);
            match i {
                0 => self.wake_leader(),
                _ => self.peers[i - 1].wake(),
            }
        }
    }
}

impl Peer {
    fn send(&self, message: Message) {
        lock(&self.inbox).push(message);
        self.wake();
    }

    fn wake(&self) {
        if let Some(wake) = lock(&self.wake).as_ref() {
            wake();
        }
    }
}

/// The most event loops (HAProxy's `MAX_THREADS` on 64-bit machines).
pub(crate) const MAX_LOOPS: u32 = 64;

/// How many loops `config` asks for: `nbthread`, else [`default_count`].
pub(crate) fn count(config: &Config) -> u32 {
    (config.global.nbthread)
        .unwrap_or_else(default_count)
        .clamp(1, MAX_LOOPS)
}

/// How many loops run without `nbthread`: as many as the CPUs weir may
/// run on, at most [`MAX_LOOPS`] (HAProxy's default).
pub(crate) fn default_count() -> u32 {
    cpus_enabled().clamp(1, MAX_LOOPS)
}

/// The CPUs this process may run on (its affinity mask, as `taskset` or
/// systemd's `CPUAffinity=` set it): HAProxy's `thread_cpus_enabled`.
/// 1 when the mask cannot be read.
#[cfg(target_os = "linux")]
fn cpus_enabled() -> u32 {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a writable `cpu_set_t` of `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return 1;
    }
    // SAFETY: `set` is an initialised `cpu_set_t`.
    unsafe { libc::CPU_COUNT(&set) }.max(1) as u32
}

/// The CPUs this process may run on.
#[cfg(not(target_os = "linux"))]
fn cpus_enabled() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The listeners followers accept on too: TCP frontends that are not
/// `mode http` pages (stats sockets and pages are loop 0's).
fn shared_listener(lb: &Balancer, id: ListenerId) -> bool {
    lb.listener_bind(id)
        .is_some_and(|(frontend, _)| frontend.service.is_none())
}

/// A duplicate of a TCP listening socket, for another loop's reactor.
fn duplicate(socket: &ListenSocket) -> Option<io::Result<ListenSocket>> {
    match socket {
        ListenSocket::Tcp(tcp) => Some(tcp.try_clone().map(ListenSocket::Tcp)),
        ListenSocket::Unix(_) | ListenSocket::Udp(_) => None,
    }
}

/// A log hook every loop calls in turn.
fn shared_hook(hook: LogHook) -> impl Fn() -> LogHook {
    let hook = Arc::new(Mutex::new(hook));
    move || {
        let hook = hook.clone();
        Box::new(move |line: &weir_core::LogLine| (lock(&hook))(line)) as LogHook
    }
}

/// Loop 0's part of the start: `config` becomes loop 0's, and the
/// followers' configurations (index set) are returned, with their log
/// hooks and loop 0's. Nothing for one loop.
pub(crate) fn plan(config: &mut Config, log_hook: &mut Option<LogHook>) -> Option<Plan> {
    let count = count(config);
    if count == 1 {
        return None;
    }
    config.global.event_loop = EventLoop { index: 0, count };
    let make_hook = log_hook.take().map(shared_hook);
    *log_hook = make_hook.as_ref().map(|make| make());
    let followers: Vec<_> = (1..count)
        .map(|index| {
            let mut copy = config.clone();
            copy.global.event_loop = EventLoop { index, count };
            (copy, make_hook.as_ref().map(|make| make()))
        })
        .collect();
    let fleet = Fleet {
        peers: (1..count)
            .map(|_| Peer {
                control: Arc::default(),
                inbox: Mutex::default(),
                wake: Mutex::default(),
                stats: Mutex::default(),
                asked: AtomicBool::new(false),
            })
            .collect(),
        limits: LimitPool::new(),
        freed: (0..count).map(|_| AtomicBool::new(false)).collect(),
        leader_wake: Mutex::default(),
        reports: Mutex::default(),
        fresh_stats: AtomicBool::new(false),
        answered: (Mutex::new(()), Condvar::new()),
        running: AtomicUsize::new(count as usize),
        closed: AtomicUsize::new(0),
    };
    Some(Plan {
        followers,
        fleet: Arc::new(fleet),
    })
}

/// The other loops' configurations (with their log hooks) and the fleet,
/// between [`plan`] and [`Engine::join_fleet`].
pub(crate) struct Plan {
    followers: Vec<(Config, Option<LogHook>)>,
    fleet: Arc<Fleet>,
}

impl<R: Reactor> Engine<R> {
    /// Loop 0's link and its followers, once its listeners are bound.
    pub(crate) fn join_fleet(&mut self, plan: Option<Plan>, seed: u64) -> io::Result<()> {
        let Some(Plan { followers, fleet }) = plan else {
            return Ok(());
        };
        let now = Instant::now();
        self.lb.share_limits(fleet.limits.clone());
        for (i, (config, log_hook)) in followers.into_iter().enumerate() {
            let listeners = self.shared_sockets(|_| true)?;
            self.followers.push(Follower {
                config,
                link: Link {
                    index: i + 1,
                    fleet: fleet.clone(),
                    next_stats: now,
                    reports: Vec::new(),
                },
                listeners,
                log_hook,
                seed: seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            });
        }
        self.link = Some(Link {
            index: 0,
            fleet,
            next_stats: now,
            reports: Vec::new(),
        });
        Ok(())
    }

    /// Duplicates of the listening sockets followers share, of listeners
    /// `wanted` keeps, by listener index.
    fn shared_sockets(
        &self,
        wanted: impl Fn(usize) -> bool,
    ) -> io::Result<Vec<(usize, ListenSocket)>> {
        let mut sockets = Vec::new();
        for (i, listener) in self.listeners.iter().enumerate() {
            let Some(socket) = &listener.socket else {
                continue;
            };
            if !wanted(i) || !shared_listener(&self.lb, ListenerId(i as u32)) {
                continue;
            }
            if let Some(copy) = duplicate(R::listen_socket(socket)) {
                sockets.push((i, copy?));
            }
        }
        Ok(sockets)
    }

    /// The loops other than this one (loop 0's), for the driver to run
    /// each on its own thread with [`Engine::follower`]; `wake` wakes
    /// loop 0 (from any thread). Empty with one loop, and after the first
    /// call.
    pub fn take_followers(&mut self, wake: Wake) -> Vec<Follower> {
        if let Some(link) = &self.link {
            *lock(&link.fleet.leader_wake) = Some(wake);
        }
        std::mem::take(&mut self.followers)
    }

    /// Builds follower `f`'s engine on `reactor`; `wake` wakes its loop
    /// (from any thread).
    pub fn follower(f: Follower, mut reactor: R, wake: Wake) -> io::Result<Engine<R>> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let Follower {
            config,
            link,
            listeners: sockets,
            log_hook,
            seed,
        } = f;
        let peer = &link.fleet.peers[link.index - 1];
        *lock(&peer.wake) = Some(wake);
        let control = peer.control.clone();
        let pipes = crate::splice::pool(&config.global);
        let mut lb = Balancer::new(config, seed, now, wall, std::process::id());
        lb.share_limits(link.fleet.limits.clone());
        if crate::splice::SUPPORTED {
            lb.enable_splice();
        }
        let mut listeners = Vec::new();
        let mut dirty_listeners = Vec::new();
        for (i, socket) in sockets {
            let local = fixed_local(&lb, ListenerId(i as u32), &socket);
            let watched = reactor.listener(socket, listener_token(i))?;
            if listeners.len() <= i {
                listeners.resize_with(i + 1, Listener::closed);
            }
            listeners[i] = Listener::open(watched, local);
            dirty_listeners.push(i);
        }
        Ok(Engine {
            old_pids: None,
            lb,
            reactor,
            listeners,
            conns: Default::default(),
            pipes,
            dirty: Vec::new(),
            pumping: Vec::new(),
            dirty_listeners,
            control,
            out: io::BufWriter::new(io::stdout()),
            out_failed: false,
            out_pending: false,
            log_hook,
            banner: None,
            service: None,
            syslog: Syslog::default(),
            datagrams: Datagrams::default(),
            next_utc_offset: now + UTC_OFFSET_REFRESH,
            files: None,
            link: Some(link),
            followers: Vec::new(),
        })
    }

    /// Start of a turn: loop 0 takes the followers' stats; a follower
    /// applies its inbox and leaves its stats when due.
    pub(crate) fn loops_in(&mut self, now: Instant) {
        let Some(link) = &mut self.link else {
            return;
        };
        let fleet = link.fleet.clone();
        let index = link.index;
        if fleet.freed[index].swap(false, Ordering::SeqCst) {
            self.lb.limits_freed(now);
            self.drain(now);
        }
        let Some(link) = &mut self.link else {
            return;
        };
        if index == 0 {
            self.take_peer_stats();
            self.take_reports(now);
            return;
        }
        let peer = &fleet.peers[link.index - 1];
        let asked = peer.asked.load(Ordering::SeqCst);
        if now >= link.next_stats || asked {
            link.next_stats = now + Duration::from_millis(STATS_PERIOD_MS);
            let stats = self.lb.stats_share(now);
            *lock(&peer.stats) = Some(stats);
            fleet.fresh_stats.store(true, Ordering::SeqCst);
            if asked {
                let _guard = lock(&fleet.answered.0);
                peer.asked.store(false, Ordering::SeqCst);
                fleet.answered.1.notify_all();
            }
        }
        let inbox = std::mem::take(&mut *lock(&peer.inbox));
        for message in inbox {
            match message {
                Message::News(news) => self.lb.apply_news(now, &news),
                Message::Reload { config, sockets } => {
                    let report = self.lb.reload(now, *config);
                    self.follow_reload(&report, sockets);
                }
            }
            self.drain(now);
        }
    }

    /// Loop 0: counts what the followers reported since last time.
    fn take_reports(&mut self, now: Instant) {
        let Some(link) = &mut self.link else {
            return;
        };
        std::mem::swap(&mut *lock(&link.fleet.reports), &mut link.reports);
        if link.reports.is_empty() {
            return;
        }
        for report in link.reports.drain(..) {
            self.lb.apply_report(now, &report);
        }
        self.drain(now);
    }

    /// Loop 0: gives core the followers' stats they left since last time
    /// (moved, not copied: a share holds a row per server).
    fn take_peer_stats(&mut self) {
        let Some(link) = &mut self.link else {
            return;
        };
        let fleet = &link.fleet;
        if fleet.fresh_stats.swap(false, Ordering::SeqCst) {
            let peers = fleet.peers.len();
            for (i, peer) in fleet.peers.iter().enumerate() {
                if let Some(share) = lock(&peer.stats).take() {
                    self.lb.set_peer_share(peers, i, share);
                }
            }
        }
    }

    /// Loop 0 accepted on listener `i`: for a stats socket or a stats
    /// page (listeners only loop 0 serves), the followers are asked for
    /// their stats of now and waited for (at most [`ASK_PATIENCE`]), so
    /// that what the connection reads counts every session ended before
    /// it came.
    pub(crate) fn loops_accepted(&mut self, i: usize) {
        let Some(link) = self.link.as_ref().filter(|l| l.index == 0) else {
            return;
        };
        if shared_listener(&self.lb, ListenerId(i as u32)) {
            return;
        }
        let fleet = link.fleet.clone();
        for peer in &fleet.peers {
            peer.asked.store(true, Ordering::SeqCst);
            peer.wake();
        }
        let deadline = Instant::now() + ASK_PATIENCE;
        let mut guard = lock(&fleet.answered.0);
        while fleet.peers.iter().any(|p| p.asked.load(Ordering::SeqCst)) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::debug!("an event loop did not answer for its stats in time");
                break;
            }
            guard = match fleet.answered.1.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        drop(guard);
        self.take_peer_stats();
    }

    /// End of a turn: the loops this one's gives freed are told; loop 0
    /// sends what core published to every follower, a follower what it
    /// noted to loop 0.
    pub(crate) fn loops_out(&mut self) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let freed = self.lb.poll_freed();
        if freed != 0 {
            link.fleet.tell_freed(freed);
        }
        if link.index != 0 {
            let mut wake = false;
            let mut reports = None;
            while let Some(report) = self.lb.poll_reports() {
                let o = &report.observed;
                wake |= o.errors > 0 || o.limits > 0 || o.trailing > 0;
                let reports = reports.get_or_insert_with(|| lock(&link.fleet.reports));
                reports.push(report);
                wake |= reports.len() >= QUIET_REPORTS;
            }
            drop(reports);
            if wake {
                link.fleet.wake_leader();
            }
            return;
        }
        while let Some(news) = self.lb.poll_news() {
            let news = Arc::new(news);
            for peer in &link.fleet.peers {
                peer.send(Message::News(news.clone()));
            }
        }
    }

    /// The next time a follower leaves its stats, if sooner than `wait`.
    pub(crate) fn loops_deadline(&self, wait: Option<Duration>) -> Option<Duration> {
        let Some(link) = self.link.as_ref().filter(|l| l.index > 0) else {
            return wait;
        };
        let stats = link.next_stats.saturating_duration_since(Instant::now());
        Some(wait.map_or(stats, |w| w.min(stats)))
    }

    /// Loop 0: stops every other loop at once (loop 0 stops, or failed).
    pub fn stop_loops(&self) {
        let Some(link) = self.link.as_ref().filter(|l| l.index == 0) else {
            return;
        };
        for peer in &link.fleet.peers {
            peer.control.stop.store(true, Ordering::SeqCst);
            peer.wake();
        }
    }

    /// Loop 0 took a soft stop: the followers take it now (after loop 0
    /// counted the process's sessions for its line).
    pub(crate) fn pass_soft_stop(&self) {
        let Some(link) = self.link.as_ref().filter(|l| l.index == 0) else {
            return;
        };
        for peer in &link.fleet.peers {
            peer.control.soft_stop.store(true, Ordering::SeqCst);
            peer.wake();
        }
    }

    /// Whether every other loop has stopped: loop 0 runs until then
    /// (its checks, stats sockets and `hard-stop-after` serve them all).
    /// Always true for a follower and for one loop.
    pub(crate) fn loops_stopped(&self) -> bool {
        self.link
            .as_ref()
            .filter(|l| l.index == 0)
            .is_none_or(|l| l.fleet.running.load(Ordering::SeqCst) == 1)
    }

    /// This loop stops, closing `conns` connections: a follower wakes
    /// loop 0 (which may be waiting for it). Returns how many connections
    /// every loop closed when this is the last loop to stop (`None`
    /// before).
    pub(crate) fn loops_closing(&self, conns: usize) -> Option<usize> {
        let Some(link) = self.link.as_ref() else {
            return Some(conns);
        };
        let fleet = &link.fleet;
        let closed = fleet.closed.fetch_add(conns, Ordering::SeqCst) + conns;
        let running = fleet.running.fetch_sub(1, Ordering::SeqCst) - 1;
        if link.index > 0 {
            if let Some(wake) = lock(&fleet.leader_wake).as_ref() {
                wake();
            }
        }
        (running == 0).then_some(closed)
    }

    /// A follower: reloads come from loop 0, not from files.
    pub(crate) fn follows(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.index > 0)
    }

    /// The followers' copies of a configuration loop 0 is about to apply.
    pub(crate) fn loops_configs(&self, config: &Config) -> Vec<Config> {
        let Some(link) = self.link.as_ref().filter(|l| l.index == 0) else {
            return Vec::new();
        };
        let count = link.fleet.peers.len() as u32 + 1;
        if count != self::count(config) {
            log::warn!("nbthread changes on a restart only: {count} event loops go on running");
        }
        (1..count)
            .map(|index| {
                let mut copy = config.clone();
                copy.global.nbthread = Some(count);
                copy.global.event_loop = EventLoop { index, count };
                copy
            })
            .collect()
    }

    /// Sends the reload loop 0 applied (`report`) to the followers.
    pub(crate) fn loops_reload(&mut self, configs: Vec<Config>, report: &ReloadReport) {
        let Some(link) = &self.link else {
            return;
        };
        let fleet = link.fleet.clone();
        let opened: Vec<usize> = report.opened.iter().map(|id| id.0 as usize).collect();
        for (peer, config) in fleet.peers.iter().zip(configs) {
            let sockets = match self.shared_sockets(|i| opened.contains(&i)) {
                Ok(sockets) => sockets,
                Err(e) => {
                    log::error!("cannot share the new listening sockets with a loop: {e}");
                    Vec::new()
                }
            };
            let config = Box::new(config);
            peer.send(Message::Reload { config, sockets });
        }
    }

    /// A follower applies loop 0's reload: its closed listeners close,
    /// its new ones watch loop 0's sockets.
    fn follow_reload(&mut self, report: &ReloadReport, sockets: Vec<(usize, ListenSocket)>) {
        for &id in &report.closed {
            self.unbind(id);
        }
        for (i, socket) in sockets {
            let local = fixed_local(&self.lb, ListenerId(i as u32), &socket);
            match self.reactor.listener(socket, listener_token(i)) {
                Ok(watched) => {
                    if self.listeners.len() <= i {
                        self.listeners.resize_with(i + 1, Listener::closed);
                    }
                    self.listeners[i] = Listener::open(watched, local);
                    self.dirty_listeners.push(i);
                }
                Err(e) => log::error!("cannot watch a listening socket: {e}"),
            }
        }
    }
}

impl<L> Listener<L> {
    fn closed() -> Self {
        Listener {
            socket: None,
            paused: false,
            local: None,
        }
    }

    /// A listener whose connections all have the local address `local`
    /// (see [`fixed_local`]), when known.
    fn open(socket: L, local: Option<std::net::SocketAddr>) -> Self {
        Listener {
            socket: Some(socket),
            paused: false,
            local,
        }
    }
}
