//! Fixed-size ring buffers and the pool they come from.
//!
//! A direction of a session holds a [`Buffer`] only while bytes are in
//! flight: it is taken from the [`Pool`] when the driver reads and given
//! back as soon as the writer drains it, so an idle connection holds none.

/// Capacity of one buffer, HAProxy's default `tune.bufsize`.
pub(crate) const BUF_SIZE: usize = 16 * 1024;

/// A byte ring of [`BUF_SIZE`] bytes. Reads and writes use contiguous
/// slices of it, so bytes are never copied inside core.
pub(crate) struct Buffer {
    data: Box<[u8]>,
    head: usize,
    len: usize,
}

impl Buffer {
    /// Bytes waiting to be written, up to the end of the ring.
    pub(crate) fn filled(&self) -> &[u8] {
        let end = (self.head + self.len).min(self.data.len());
        &self.data[self.head..end]
    }

    /// Like [`Buffer::filled`], after skipping the first `skip` bytes.
    pub(crate) fn filled_from(&self, skip: usize) -> &[u8] {
        if skip >= self.len {
            return &[];
        }
        let cap = self.data.len();
        let start = (self.head + skip) % cap;
        let end = if start >= self.head {
            (self.head + self.len).min(cap)
        } else {
            self.head + self.len - cap
        };
        &self.data[start..end]
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Free space to read into, up to the end of the ring or the head.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        let cap = self.data.len();
        if self.len == cap {
            return &mut [];
        }
        let tail = (self.head + self.len) % cap;
        let end = if tail >= self.head { cap } else { self.head };
        &mut self.data[tail..end]
    }

    /// Marks `n` bytes of [`Buffer::spare`] as filled.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.data.len());
    }

    /// Drops `n` bytes from the front of [`Buffer::filled`].
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.data.len()
        };
    }

    /// Forgets every byte.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.data.len()
    }
}

/// Puts per window of [`Pool`]'s high-water mark: the mark follows the
/// load over one to two windows.
pub(crate) const WINDOW: u32 = 1024;

/// Free buffers kept for reuse, so steady traffic allocates nothing.
pub(crate) struct Pool {
    free: Vec<Box<[u8]>>,
    keep: usize,
    /// Free buffers kept whatever the load.
    low: usize,
    in_use: usize,
    /// The most buffers in use at once in this window and in the last.
    peak: usize,
    last_peak: usize,
    /// Puts in this window.
    puts: u32,
}

impl Pool {
    /// A pool that keeps at most `keep` free buffers around.
    pub(crate) fn new(keep: usize) -> Self {
        Pool::elastic(keep, keep)
    }

    /// A pool that keeps enough free buffers for the most in use at once
    /// lately (a load's swings within a turn: every read takes one, every
    /// drained write gives it back), at least `low` and at most `keep`:
    /// when the load falls, the buffers it no longer needs go back to the
    /// allocator within two windows of [`WINDOW`] puts. (HAProxy 2.6
    /// keeps up to 1.25 times a moving average of the objects in use
    /// over 1024 samples, `pool_releasable`, plus a 512 KiB cache per
    /// thread.)
    pub(crate) fn elastic(low: usize, keep: usize) -> Self {
        Pool {
            free: Vec::new(),
            keep,
            low,
            in_use: 0,
            peak: 0,
            last_peak: 0,
            puts: 0,
        }
    }

    pub(crate) fn take(&mut self) -> Buffer {
        self.in_use += 1;
        self.peak = self.peak.max(self.in_use);
        let data = self
            .free
            .pop()
            .unwrap_or_else(|| vec![0; BUF_SIZE].into_boxed_slice());
        Buffer {
            data,
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn put(&mut self, buf: Buffer) {
        self.in_use = self.in_use.saturating_sub(1);
        self.puts += 1;
        if self.puts >= WINDOW {
            self.puts = 0;
            self.last_peak = std::mem::replace(&mut self.peak, self.in_use);
        }
        let wanted = self.peak.max(self.last_peak).saturating_sub(self.in_use);
        let keep = wanted.max(self.low).min(self.keep);
        if self.free.len() < keep {
            self.free.push(buf.data);
        } else if self.free.len() > keep {
            // The load fell: one more goes back with this one.
            self.free.pop();
        }
    }

    /// The load fell for good (a burst ended): free buffers above `low`
    /// go back now, and the high-water mark starts again from the load.
    pub(crate) fn ease(&mut self) {
        self.free.truncate(self.low);
        (self.peak, self.last_peak, self.puts) = (self.in_use, 0, 0);
    }

    /// Buffers currently held by connections.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// Free buffers waiting for reuse.
    #[cfg(test)]
    pub(crate) fn free(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(buf: &mut Buffer, byte: u8, n: usize) -> usize {
        let spare = buf.spare();
        let n = n.min(spare.len());
        spare[..n].fill(byte);
        buf.commit(n);
        n
    }

    #[test]
    fn new_buffer_offers_its_whole_capacity() {
        let mut pool = Pool::new(4);
        let mut buf = pool.take();
        assert_eq!(buf.spare().len(), BUF_SIZE);
        assert!(buf.is_empty());
        assert_eq!(pool.in_use(), 1);
    }

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let mut buf = Pool::new(1).take();
        assert_eq!(fill(&mut buf, 1, BUF_SIZE - 10), BUF_SIZE - 10);
        buf.consume(BUF_SIZE - 20);
        assert_eq!(buf.filled(), &[1; 10]);
        // 10 bytes left at the end of the ring, then it wraps to the front.
        assert_eq!(fill(&mut buf, 2, 100), 10);
        assert_eq!(fill(&mut buf, 3, 100), 100);
        assert_eq!(buf.filled().len(), 20);
        buf.consume(20);
        assert_eq!(buf.filled(), &[3; 100]);
    }

    #[test]
    fn bytes_after_a_skip_come_out_in_order_across_the_wrap() {
        let mut pool = Pool::new(1);
        let mut buf = pool.take();
        fill(&mut buf, 1, BUF_SIZE - 10);
        buf.consume(BUF_SIZE - 20);
        assert_eq!(fill(&mut buf, 2, 10), 10);
        assert_eq!(fill(&mut buf, 2, 20), 20);
        // Ten 1s and ten 2s end the ring, twenty 2s start it.
        assert_eq!(buf.len(), 40);
        let mut tail = vec![1; 6];
        tail.extend([2; 10]);
        assert_eq!(buf.filled_from(4), tail);
        assert_eq!(buf.filled_from(20), &[2; 20][..]);
        assert_eq!(buf.filled_from(25), &[2; 15][..]);
        assert!(buf.filled_from(40).is_empty());
    }

    #[test]
    fn full_buffer_offers_no_space() {
        let mut buf = Pool::new(1).take();
        fill(&mut buf, 7, BUF_SIZE);
        assert!(buf.is_full());
        assert!(buf.spare().is_empty());
        buf.consume(1);
        assert_eq!(buf.spare().len(), 1);
    }

    #[test]
    fn draining_rewinds_to_the_front() {
        let mut buf = Pool::new(1).take();
        fill(&mut buf, 1, 100);
        buf.consume(100);
        assert_eq!(buf.spare().len(), BUF_SIZE);
    }

    /// Takes `n` buffers, then gives them all back: one turn of a load
    /// of `n` reads.
    fn swing(pool: &mut Pool, n: usize) {
        let bufs: Vec<Buffer> = (0..n).map(|_| pool.take()).collect();
        bufs.into_iter().for_each(|b| pool.put(b));
    }

    #[test]
    fn an_elastic_pool_keeps_what_a_swing_of_the_load_needs() {
        let mut pool = Pool::elastic(2, 100);
        let mut bufs: Vec<Buffer> = (0..10).map(|_| pool.take()).collect();
        // Half go back: kept, as the load took 10 at once.
        bufs.drain(..5).for_each(|b| pool.put(b));
        assert_eq!((pool.free(), pool.in_use()), (5, 5));
        bufs.drain(..).for_each(|b| pool.put(b));
        assert_eq!((pool.free(), pool.in_use()), (10, 0));
        // Every later swing as high finds its buffers free: none is
        // allocated (it used to keep only as many as were still in use,
        // and allocate the rest again on every swing).
        for _ in 0..3 * WINDOW {
            swing(&mut pool, 10);
            assert_eq!(pool.free(), 10);
        }
    }

    #[test]
    fn an_elastic_pool_gives_back_what_a_lower_load_does_not_need() {
        let mut pool = Pool::elastic(2, 100);
        swing(&mut pool, 50);
        assert_eq!(pool.free(), 50);
        // The load falls to 8 at once: within two windows the free
        // buffers fall to what it needs.
        for _ in 0..2 * WINDOW / 8 {
            swing(&mut pool, 8);
        }
        assert_eq!(pool.free(), 8);
        // Down to none: the low watermark is kept.
        for _ in 0..2 * WINDOW {
            swing(&mut pool, 1);
        }
        assert_eq!(pool.free(), 2);
    }

    #[test]
    fn an_eased_pool_keeps_its_low_watermark() {
        let mut pool = Pool::elastic(2, 100);
        swing(&mut pool, 50);
        let held = pool.take();
        pool.ease();
        assert_eq!((pool.free(), pool.in_use()), (2, 1));
        // The mark starts again from the load: 3 at once keep 3.
        pool.put(held);
        swing(&mut pool, 3);
        assert_eq!(pool.free(), 3);
    }

    #[test]
    fn an_elastic_pool_keeps_at_most_its_cap() {
        let mut pool = Pool::elastic(2, 20);
        swing(&mut pool, 50);
        assert_eq!(pool.free(), 20);
    }

    #[test]
    fn pool_reuses_and_caps_free_buffers() {
        let mut pool = Pool::new(1);
        let (a, b) = (pool.take(), pool.take());
        pool.put(a);
        pool.put(b);
        assert_eq!(pool.free.len(), 1);
        assert_eq!(pool.in_use(), 0);
    }
}
