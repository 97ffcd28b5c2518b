//! The simulated network: TCP connections as pairs of ends joined by a
//! link with latency and a window, and the clock's event queue.
//!
//! A connection ([`Link`]) has weir's end and a peer's end (a client or a
//! server). Writing puts bytes on the wire: they arrive at the other end
//! after the link's latency, in order, and wait there until read. A writer
//! may have at most `window` bytes on the wire and unread at the other end,
//! which is how backpressure reaches it. FIN and RST travel in order after
//! the bytes before them. Closing an end with unread bytes sends an RST
//! (as Linux does); bytes that reach a closed end are answered with an RST.
//! An end that got an RST still reads the bytes that came before it, then
//! the error (Linux keeps them; a failed write takes the error, and the
//! reads end with the end of stream instead).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use weir_core::ConnId;

use crate::rng::Rng;

/// A connection's index in [`Net::links`]; also the `uid` servers write in
/// their replies.
pub type LinkId = usize;

/// One of weir's connections: the event loop (index) that owns it, and
/// that loop's id for it (each loop numbers its own).
pub type Handle = (usize, ConnId);

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// weir's socket.
    Weir = 0,
    /// The client's or the server's socket.
    Peer = 1,
}

impl Side {
    /// The end across the link.
    pub fn other(self) -> Side {
        match self {
            Side::Weir => Side::Peer,
            Side::Peer => Side::Weir,
        }
    }
}

/// Who is at the peer end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A simulated client (index), connected to weir's listener.
    Client(usize),
    /// A simulated server (index), connected to by weir.
    Server(usize),
}

/// What travels on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes.
    Data(Vec<u8>),
    /// End of stream.
    Fin,
    /// Abort.
    Rst,
}

/// One socket.
#[derive(Debug, Default)]
pub struct End {
    /// Bytes arrived and not read yet.
    pub rx: VecDeque<u8>,
    /// A FIN arrived (after the bytes in `rx`).
    pub fin_in: bool,
    /// An RST arrived.
    pub rst_in: bool,
    /// A failed write reported the RST: reads return the bytes left, then
    /// the end of stream (Linux: the write took the socket's error).
    pub rst_reported: bool,
    /// This end sent its FIN.
    pub shut: bool,
    /// This end is closed: it reads and writes no more.
    pub closed: bool,
    /// An RST already answered bytes that reached this closed end.
    answered: bool,
    /// Bytes this end wrote that have not arrived yet.
    pub in_flight: usize,
    /// Bytes written, in all.
    pub sent: u64,
    /// Bytes read, in all.
    pub read: u64,
}

/// A TCP connection between weir and a peer.
#[derive(Debug)]
pub struct Link {
    /// Who the peer is.
    pub peer: Peer,
    /// weir's loop and id for its end, while weir has it open.
    pub weir: Option<Handle>,
    /// weir may read and write its end: accepted, or connected.
    pub established: bool,
    /// What weir last asked to do on its end (read, write).
    pub interest: (bool, bool),
    /// weir's end reported its end of stream to weir.
    pub eof_reported: bool,
    /// weir's FIN on this link came from `ShutdownWrite` (a forwarded
    /// FIN), not from closing the connection.
    pub forwarded_fin: bool,
    /// Application bytes the server wrote inside TLS on this link (its
    /// end's `sent` counts the records).
    pub server_plain_sent: Option<u64>,
    /// One-way delay.
    pub latency: Duration,
    /// Most bytes a writer may have in flight plus unread.
    pub window: usize,
    /// The two sockets, indexed by [`Side`].
    pub ends: [End; 2],
    /// When the last segment towards each end arrives (keeps them in order).
    last: [Duration; 2],
}

impl Link {
    /// One end.
    pub fn end(&self, side: Side) -> &End {
        &self.ends[side as usize]
    }

    /// One end, to change.
    pub fn end_mut(&mut self, side: Side) -> &mut End {
        &mut self.ends[side as usize]
    }

    /// Bytes `from` may still write.
    pub fn room(&self, from: Side) -> usize {
        let used = self.end(from).in_flight + self.end(from.other()).rx.len();
        self.window.saturating_sub(used)
    }
}

/// Every connection of the run, and which ends have something to do.
#[derive(Debug, Default)]
pub struct Net {
    /// All links ever opened; never removed, so ids stay unique.
    pub links: Vec<Link>,
    dirty: VecDeque<(LinkId, Side)>,
    queued: Vec<[bool; 2]>,
}

impl Net {
    /// Opens a link; both ends start unconnected.
    pub fn open(&mut self, peer: Peer, latency: Duration, window: usize) -> LinkId {
        self.links.push(Link {
            peer,
            weir: None,
            established: false,
            interest: (false, false),
            eof_reported: false,
            forwarded_fin: false,
            server_plain_sent: None,
            latency,
            window,
            ends: [End::default(), End::default()],
            last: [Duration::ZERO; 2],
        });
        self.queued.push([false; 2]);
        self.links.len() - 1
    }

    /// Asks for `side` of `link` to be looked at (data, room, FIN, RST).
    pub fn touch(&mut self, link: LinkId, side: Side) {
        let flag = &mut self.queued[link][side as usize];
        if !*flag {
            *flag = true;
            self.dirty.push_back((link, side));
        }
    }

    /// The next end to look at.
    pub fn next_dirty(&mut self) -> Option<(LinkId, Side)> {
        let (link, side) = self.dirty.pop_front()?;
        self.queued[link][side as usize] = false;
        Some((link, side))
    }

    /// When a segment sent now from `from` arrives: after the latency and a
    /// little jitter, never before the previous one, and not before
    /// `hold` (a black hole holding the link).
    pub fn arrival(
        &mut self,
        rng: &mut Rng,
        now: Duration,
        link: LinkId,
        from: Side,
        hold: Option<Duration>,
    ) -> Duration {
        let l = &mut self.links[link];
        let jitter = Duration::from_nanos(rng.range(0, l.latency.as_nanos() as u64 / 4));
        let start = hold.map_or(now, |h| h.max(now));
        let to = from.other() as usize;
        let at = (start + l.latency + jitter).max(l.last[to]);
        l.last[to] = at;
        at
    }

    /// `from` writes `data` (at most its room); returns the bytes taken.
    pub fn write(&mut self, link: LinkId, from: Side, data: &[u8]) -> usize {
        let l = &mut self.links[link];
        let n = data.len().min(l.room(from));
        let end = l.end_mut(from);
        if end.closed || end.shut {
            return 0;
        }
        end.in_flight += n;
        end.sent += n as u64;
        n
    }

    /// `side` reads up to `max` bytes; the writer across gets room.
    pub fn read(&mut self, link: LinkId, side: Side, max: usize) -> Vec<u8> {
        let end = self.links[link].end_mut(side);
        let n = max.min(end.rx.len());
        let data: Vec<u8> = end.rx.drain(..n).collect();
        end.read += n as u64;
        if n > 0 {
            self.touch(link, side.other());
        }
        data
    }

    /// `side` sends its FIN; returns the segment to put on the wire.
    pub fn shutdown(&mut self, link: LinkId, side: Side) -> Option<Segment> {
        let end = self.links[link].end_mut(side);
        if end.closed || end.shut {
            return None;
        }
        end.shut = true;
        Some(Segment::Fin)
    }

    /// `side` closes its socket: an RST if asked or if bytes are left
    /// unread, else a FIN if not sent yet. Returns the segment to send.
    pub fn close(&mut self, link: LinkId, side: Side, reset: bool) -> Option<Segment> {
        let end = self.links[link].end_mut(side);
        if end.closed {
            return None;
        }
        end.closed = true;
        let unread = !end.rx.is_empty();
        end.rx.clear();
        let segment = if end.rst_in {
            None
        } else if reset || unread {
            Some(Segment::Rst)
        } else if !end.shut {
            Some(Segment::Fin)
        } else {
            None
        };
        end.shut = true;
        end.answered = segment == Some(Segment::Rst);
        self.touch(link, side.other());
        segment
    }

    /// A segment from `to.other()` arrives at `to`. Returns an RST to send
    /// back when bytes reached a closed end.
    pub fn arrive(&mut self, link: LinkId, to: Side, segment: Segment) -> Option<Segment> {
        let l = &mut self.links[link];
        if let Segment::Data(data) = &segment {
            let from = l.end_mut(to.other());
            from.in_flight = from.in_flight.saturating_sub(data.len());
        }
        let end = l.end_mut(to);
        let mut answer = None;
        if end.closed {
            if matches!(segment, Segment::Data(_)) && !end.answered && !end.rst_in {
                end.answered = true;
                answer = Some(Segment::Rst);
            }
            // The writer got room back (or will learn of the RST).
            self.touch(link, to.other());
            return answer;
        }
        match segment {
            Segment::Data(data) => end.rx.extend(data),
            Segment::Fin => end.fin_in = true,
            Segment::Rst => end.rst_in = true,
        }
        self.touch(link, to);
        answer
    }
}

/// An event of the simulation at a point in simulated time.
struct Entry<E> {
    at: Duration,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Earliest first; events at the same time in the order they were queued.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The simulation's agenda: events ordered by time, then by insertion.
pub struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> Queue<E> {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Duration, event: E) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            event,
        });
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(|e| e.at)
    }

    /// Takes the next event.
    pub fn pop(&mut self) -> Option<(Duration, E)> {
        self.heap.pop().map(|e| (e.at, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(net: &mut Net) -> LinkId {
        net.open(Peer::Client(0), Duration::from_millis(1), 10)
    }

    #[test]
    fn a_full_window_blocks_the_writer_until_the_reader_reads() {
        let mut net = Net::default();
        let l = link(&mut net);
        assert_eq!(net.write(l, Side::Peer, &[1; 25]), 10);
        assert_eq!(net.write(l, Side::Peer, &[1; 5]), 0);
        net.arrive(l, Side::Weir, Segment::Data(vec![1; 10]));
        assert_eq!(net.links[l].room(Side::Peer), 0);
        assert_eq!(net.read(l, Side::Weir, 4).len(), 4);
        assert_eq!(net.links[l].room(Side::Peer), 4);
    }

    #[test]
    fn closing_with_unread_bytes_resets_and_late_bytes_are_answered_once() {
        let mut net = Net::default();
        let l = link(&mut net);
        net.arrive(l, Side::Weir, Segment::Data(vec![1]));
        assert_eq!(net.close(l, Side::Weir, false), Some(Segment::Rst));
        let l2 = link(&mut net);
        assert_eq!(net.close(l2, Side::Weir, false), Some(Segment::Fin));
        let late = Segment::Data(vec![2]);
        assert_eq!(net.arrive(l2, Side::Weir, late.clone()), Some(Segment::Rst));
        assert_eq!(net.arrive(l2, Side::Weir, late), None);
    }

    #[test]
    fn segments_keep_their_order_and_the_queue_is_fifo_at_equal_times() {
        let mut net = Net::default();
        let l = link(&mut net);
        let mut rng = Rng::new(1);
        let held = Duration::from_secs(5);
        let a = net.arrival(&mut rng, Duration::ZERO, l, Side::Weir, Some(held));
        let b = net.arrival(&mut rng, Duration::from_millis(1), l, Side::Weir, None);
        assert!(a >= held && b >= a);
        let mut q = Queue::default();
        q.push(Duration::from_secs(1), 'b');
        q.push(Duration::ZERO, 'a');
        q.push(Duration::from_secs(1), 'c');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ['a', 'b', 'c']);
    }
}
