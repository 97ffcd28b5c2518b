//! The [`Balancer`]: frontends, backends, servers, sessions and checks.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::action::{Action, Event};
use crate::config::Config;
use crate::id::{ConnId, ListenerId};
use crate::time::Instant;

/// The whole load balancer as a state machine. See the crate docs for the
/// driving contract.
pub struct Balancer {}

impl Balancer {
    /// Builds a balancer for `config`. `seed` feeds the PRNG; `wall` is the
    /// wall-clock time at `now` (for log timestamps); `pid` is shown in logs.
    pub fn new(config: Config, seed: u64, now: Instant, wall: SystemTime, pid: u32) -> Self {
        todo!()
    }

    /// Every listening address, with the id to pass to [`Balancer::accept`].
    pub fn listeners(&self) -> impl Iterator<Item = (ListenerId, SocketAddr)> + '_ {
        std::iter::empty()
    }

    /// A client connection was accepted on `listener`. Returns its id, or
    /// `None` if the driver must close it at once.
    pub fn accept(
        &mut self,
        now: Instant,
        listener: ListenerId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Option<ConnId> {
        todo!()
    }

    /// Something happened to a connection or listener.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        todo!()
    }

    /// Fires every timer due at `now`. Call it once per loop turn.
    pub fn handle_timeout(&mut self, now: Instant) {
        todo!()
    }

    /// Space to read `conn`'s incoming bytes into, or `None` when core does
    /// not want to read it now (buffer full, end of stream, unknown id).
    pub fn recv_buf(&mut self, conn: ConnId) -> Option<&mut [u8]> {
        todo!()
    }

    /// `n` bytes were read into the slice [`Balancer::recv_buf`] returned.
    pub fn received(&mut self, now: Instant, conn: ConnId, n: usize) {
        todo!()
    }

    /// Bytes waiting to be written to `conn`, or `None` when there are none.
    pub fn send_buf(&self, conn: ConnId) -> Option<&[u8]> {
        todo!()
    }

    /// `n` bytes from the front of [`Balancer::send_buf`] were written.
    pub fn sent(&mut self, now: Instant, conn: ConnId, n: usize) {
        todo!()
    }

    /// Closes every connection and stops accepting (hard stop: SIGTERM).
    pub fn shutdown(&mut self, now: Instant) {
        todo!()
    }

    /// The next thing the driver must do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        todo!()
    }

    /// When [`Balancer::handle_timeout`] must next be called; `None` = never.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }
}
