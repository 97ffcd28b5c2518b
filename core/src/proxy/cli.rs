//! Stats-socket connections (`stats socket /run/weir/admin.sock`, `stats
//! socket ipv4@ADDR:PORT`): accepted on their own listeners, each a [`CliConn`] fed the bytes the driver reads,
//! its commands run on the balancer through [`Balancer::handle_cli`].
//!
//! ```text
//! accept --> CliConn --received--> commands run --> answer --sent--> ...
//!               \--FIN, quit, error or `stats timeout`--> Close
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use super::runtime::Ctl;
use super::{Balancer, ListenerSlot, Role};
use crate::action::Action;
use crate::config::{StatsAddr, StatsSocket};
use crate::id::{ConnId, ListenerId};
use crate::runtime_api::CliConn;
use crate::time::Instant;
use crate::timer::{TimerKey, popped};

/// Bytes read from a stats-socket connection at a time.
const CLI_READ: usize = 4096;

/// Where a listener listens, as [`Balancer::listeners`] tells the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr<'a> {
    /// A TCP address: a frontend's `bind` or a TCP `stats socket`.
    Tcp(SocketAddr),
    /// A `stats socket` on a UNIX path, with the mode and owner its file
    /// gets and the line it comes from.
    Unix(&'a StatsSocket),
}

/// A `stats socket` listener.
pub(super) struct CliListener {
    pub id: ListenerId,
    pub socket: StatsSocket,
    pub accepting: bool,
}

impl CliListener {
    pub fn new(socket: &StatsSocket, id: ListenerId) -> CliListener {
        CliListener {
            id,
            socket: socket.clone(),
            accepting: true,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> ListenAddr<'_> {
        match self.socket.addr {
            StatsAddr::Tcp(addr) => ListenAddr::Tcp(addr),
            StatsAddr::Unix(_) => ListenAddr::Unix(&self.socket),
        }
    }
}

/// A stats-socket connection.
pub(super) struct CliSlot {
    conn: Option<CliConn>,
    id: ConnId,
    generation: u32,
    /// Earliest entry it has in the timer queue.
    queued: Option<Instant>,
}

/// The stats sockets' settings and connections.
#[derive(Default)]
pub(super) struct Cli {
    pub listeners: Vec<CliListener>,
    pub slots: slab::Slab<CliSlot>,
    pub timeout: Duration,
    pub maxconn: u32,
    /// Connections waiting for the answer of a `reload` (slot and
    /// generation).
    pub reload_waiters: Vec<(usize, u32)>,
    /// A reload was asked of the driver and not answered yet.
    pub reload_requested: bool,
    /// Where a read lands before its bytes go to their connection: one
    /// for all, allocated with the first stats-socket connection.
    pub scratch: Option<Box<[u8]>>,
}

impl Balancer {
    /// The `stats socket` line of `listener`, for messages about its
    /// socket; `None` for a frontend's listener.
    pub fn stats_socket(&self, listener: ListenerId) -> Option<&StatsSocket> {
        match self.listener_slot(listener)? {
            ListenerSlot::Cli(i) => Some(&self.cli.listeners.get(i)?.socket),
            ListenerSlot::Traffic(_) => None,
        }
    }

    /// A client connection was accepted on `listener`, a `stats socket`
    /// on a UNIX path: its client has no IP address. Returns its id, or
    /// `None` if the driver must close it at once (as
    /// [`Balancer::accept`]).
    pub fn accept_unix(&mut self, now: Instant, listener: ListenerId) -> Option<ConnId> {
        self.advance(now);
        match self.listener_slot(listener)? {
            ListenerSlot::Cli(i) => self.accept_cli(now, i),
            ListenerSlot::Traffic(_) => None,
        }
    }

    /// A connection on a stats socket: a CLI session, unless `stats
    /// maxconn` are open.
    pub(super) fn accept_cli(&mut self, now: Instant, i: usize) -> Option<ConnId> {
        let listener = self.cli.listeners.get(i).filter(|l| l.accepting)?;
        let mut conn = CliConn::new(listener.socket.level, self.cli.timeout, now);
        if listener.socket.expose_fd {
            conn = conn.exposing_listeners();
        }
        let c = self.cli.slots.vacant_key();
        let generation = self.next_generation();
        let id = self.open_conn(Role::Cli(c));
        self.cli.slots.insert(CliSlot {
            conn: Some(conn),
            id,
            generation,
            queued: None,
        });
        self.run_cli(now, c);
        self.refresh_cli_listeners();
        Some(id)
    }

    /// Pauses the stats sockets at `stats maxconn` connections, while
    /// stopping or while accepts pause for lack of descriptors; resumes
    /// them after. A stats socket left out of an accept pause would stay
    /// unaccepted once descriptors come back: its failed accepts arm no
    /// readiness, and a full backlog brings no new one.
    pub(super) fn refresh_cli_listeners(&mut self) {
        let full = self.cli.slots.len() >= self.cli.maxconn as usize;
        let short = self.shortages.accept_pause.is_some();
        let accepting = !full && !self.stopping && !short;
        for i in 0..self.cli.listeners.len() {
            if self.cli.listeners[i].accepting != accepting {
                self.cli.listeners[i].accepting = accepting;
                let listener = self.cli.listeners[i].id;
                self.actions.push_back(if accepting {
                    Action::ResumeAccept { listener }
                } else {
                    Action::PauseAccept { listener }
                });
            }
        }
    }

    /// Space for what the peer of CLI connection `c` sends.
    pub(super) fn cli_recv_buf(&mut self, c: usize) -> Option<&mut [u8]> {
        let conn = self.cli.slots.get(c)?.conn.as_ref()?;
        if !conn.wants_read() {
            return None;
        }
        let scratch = self
            .cli
            .scratch
            .get_or_insert_with(|| vec![0; CLI_READ].into_boxed_slice());
        Some(&mut scratch[..])
    }

    pub(super) fn on_cli_received(&mut self, now: Instant, c: usize, n: usize) {
        let (Some(slot), Some(scratch)) = (self.cli.slots.get_mut(c), &self.cli.scratch) else {
            return;
        };
        if let Some(conn) = &mut slot.conn {
            conn.received(now, &scratch[..n.min(scratch.len())]);
        }
        self.run_cli(now, c);
    }

    /// The peer closed its side.
    pub(super) fn on_cli_read_closed(&mut self, now: Instant, c: usize) {
        if let Some(conn) = self.cli.slots.get_mut(c).and_then(|s| s.conn.as_mut()) {
            conn.read_closed();
        }
        self.run_cli(now, c);
    }

    /// The answer waiting for the peer of CLI connection `c`.
    pub(super) fn cli_send_buf(&self, c: usize) -> Option<&[u8]> {
        let conn = self.cli.slots.get(c)?.conn.as_ref()?;
        Some(conn.pending()).filter(|b| !b.is_empty())
    }

    pub(super) fn on_cli_sent(&mut self, now: Instant, c: usize, n: usize) {
        if let Some(conn) = self.cli.slots.get_mut(c).and_then(|s| s.conn.as_mut()) {
            conn.sent(now, n);
        }
        self.run_cli(now, c);
    }

    /// `stats timeout` may have run out.
    pub(super) fn on_cli_timer(&mut self, now: Instant, at: Instant, c: usize, generation: u32) {
        let Some(slot) = self
            .cli
            .slots
            .get_mut(c)
            .filter(|s| s.generation == generation)
        else {
            return;
        };
        popped(&mut slot.queued, at);
        if let Some(conn) = &mut slot.conn {
            conn.handle_timeout(now);
        }
        self.run_cli(now, c);
    }

    /// Ends CLI connection `c` (its socket failed, or weir stops).
    pub(super) fn close_cli(&mut self, c: usize, reset: bool) {
        if let Some(slot) = self.cli.slots.try_remove(c) {
            self.close(slot.id, reset);
        }
        self.refresh_cli_listeners();
    }

    /// Asks the driver to reload (once until it answers); `waiter`, a
    /// connection, gets the result.
    pub(super) fn request_reload(&mut self, waiter: Option<(usize, u32)>) {
        self.cli.reload_waiters.extend(waiter);
        if !self.cli.reload_requested {
            self.cli.reload_requested = true;
            self.actions.push_back(Action::Reload);
        }
    }

    /// Gives the connections waiting for a reload its result: HAProxy's
    /// master CLI answer (`Success=1`, `--`, then what it logged).
    pub(super) fn answer_reload(&mut self, now: Instant, success: bool, lines: &[String]) {
        self.cli.reload_requested = false;
        let mut answer = format!("Success={}\n--\n", u8::from(success));
        for line in lines {
            answer.push_str(line);
            answer.push('\n');
        }
        for (c, generation) in std::mem::take(&mut self.cli.reload_waiters) {
            let Some(slot) = (self.cli.slots.get_mut(c)).filter(|s| s.generation == generation)
            else {
                continue;
            };
            if let Some(conn) = &mut slot.conn {
                conn.reply(answer.as_bytes());
            }
            self.run_cli(now, c);
        }
    }

    /// The driver could not reload: the configuration has `errors` (the
    /// text `weir -c` prints) and the running one is kept. The
    /// connections that asked get the errors.
    pub fn reload_failed(&mut self, now: Instant, errors: &[String]) {
        self.advance(now);
        self.answer_reload(now, false, errors);
    }

    /// Runs what CLI connection `c` received, then brings its interest,
    /// timer and life in line with its state.
    fn run_cli(&mut self, now: Instant, c: usize) {
        let Some(mut conn) = self.cli.slots.get_mut(c).and_then(|s| s.conn.take()) else {
            return;
        };
        if now >= conn.deadline() {
            conn.handle_timeout(now);
        }
        let generation = self.cli.slots.get(c).map_or(0, |s| s.generation);
        conn.handle(&mut Ctl {
            lb: self,
            now,
            cli: Some((c, generation)),
        });
        let Some(slot) = self.cli.slots.get_mut(c) else {
            return;
        };
        let (id, generation) = (slot.id, slot.generation);
        if conn.take_listener_request() {
            self.actions.push_back(Action::SendListeners { conn: id });
        }
        if conn.wants_close() {
            return self.close_cli(c, false);
        }
        let (read, write) = (conn.wants_read(), !conn.pending().is_empty());
        let deadline = conn.deadline();
        slot.conn = Some(conn);
        self.timers
            .schedule(&mut slot.queued, deadline, TimerKey::Cli(c, generation));
        self.set_interest(id, read, write);
    }
}
