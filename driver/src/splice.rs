//! Kernel pipes for spliced directions (Linux `splice(2)`): bytes go from
//! the source socket into a pipe and from the pipe to the sink socket
//! without being copied to weir's memory. A direction holds a pipe only
//! while bytes are in it; pipes come from a pool capped by `maxpipes`
//! (HAProxy's default: a quarter of `maxconn`), sized by `tune.pipesize`.
//! When none is left the engine copies through core's buffer, as HAProxy
//! does.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use weir_core::ConnId;

/// Free pipes kept for reuse whatever the load.
const LOW_WATER: usize = 8;
/// Pipes without `maxpipes` nor `maxconn` (an embedded weir): a quarter
/// of 1024 connections.
const DEFAULT_MAX: u32 = 256;

/// The most pipes the process has (`show info`'s `Maxpipes`):
/// `maxpipes`, else a quarter of `maxconn` (HAProxy's default).
pub(crate) fn max_pipes(global: &weir_core::config::Global) -> u32 {
    match (global.splice.maxpipes, global.maxconn) {
        (Some(n), _) => n,
        (None, Some(maxconn)) => (maxconn / 4).max(1),
        (None, None) => DEFAULT_MAX,
    }
}

/// The pool `global` asks for: this loop's share of [`max_pipes`],
/// pipes of `tune.pipesize`.
pub(crate) fn pool(global: &weir_core::config::Global) -> Pipes {
    // With several loops, each has its share (as every other limit).
    let max = global.event_loop.share(max_pipes(global)) as usize;
    Pipes::new(max, global.splice.pipesize)
}

/// A pipe of a spliced direction and the bytes it holds.
pub(crate) struct KernelPipe {
    read: OwnedFd,
    write: OwnedFd,
    /// The source connection it is filled from.
    pub from: ConnId,
    /// Bytes in it.
    pub bytes: usize,
    /// A fill stopped with bytes in it: the pipe may be full, and its
    /// source is to be read again once it drains.
    pub full: bool,
    /// What it holds at most.
    capacity: usize,
}

/// The pipes: free ones kept for reuse, and how many exist.
pub(crate) struct Pipes {
    /// Boxed as the connections hold them, so that a pipe moves between
    /// the pool and a connection without an allocation.
    #[allow(clippy::vec_box)]
    free: Vec<Box<KernelPipe>>,
    /// Pipes in existence, free or not.
    open: usize,
    max: usize,
    size: Option<u32>,
    /// Creating a pipe failed once already (reported once).
    failed: bool,
}

impl Pipes {
    /// A pool of at most `max` pipes of `size` bytes (`None`: the
    /// system's default).
    pub(crate) fn new(max: usize, size: Option<u32>) -> Self {
        Pipes {
            free: Vec::new(),
            open: 0,
            max,
            size,
            failed: false,
        }
    }

    /// Pipes holding a direction's bytes (`PipesUsed`).
    pub(crate) fn used(&self) -> usize {
        self.open.saturating_sub(self.free.len())
    }

    /// Pipes kept for reuse (`PipesFree`).
    pub(crate) fn free(&self) -> usize {
        self.free.len()
    }

    /// An empty pipe for a direction read from `from`, if one is free or
    /// may be made.
    pub(crate) fn take(&mut self, from: ConnId) -> Option<Box<KernelPipe>> {
        let mut pipe = match self.free.pop() {
            Some(pipe) => pipe,
            None if self.open >= self.max => return None,
            None => match KernelPipe::open(self.size) {
                Ok(pipe) => {
                    self.open += 1;
                    Box::new(pipe)
                }
                Err(e) => {
                    if !self.failed {
                        self.failed = true;
                        log::warn!("cannot create a pipe to splice, copying instead: {e}");
                    }
                    return None;
                }
            },
        };
        pipe.from = from;
        Some(pipe)
    }

    /// A pipe comes back: kept if it is empty and few are free (as many
    /// as are in use, at least a few), else closed.
    pub(crate) fn put(&mut self, pipe: Box<KernelPipe>) {
        let in_use = self.open.saturating_sub(self.free.len() + 1);
        if pipe.bytes == 0 && self.free.len() < in_use.max(LOW_WATER) {
            self.free.push(pipe);
        } else {
            self.open = self.open.saturating_sub(1);
        }
    }
}

impl KernelPipe {
    #[cfg(target_os = "linux")]
    fn open(size: Option<u32>) -> io::Result<KernelPipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded: both descriptors are open and ours.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if let Some(size) = size {
            // As HAProxy, a size the kernel refuses leaves the default.
            // SAFETY: fcntl on a descriptor we own, with an int argument.
            unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
        }
        // SAFETY: as above.
        let capacity = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_GETPIPE_SZ) };
        Ok(KernelPipe {
            read,
            write,
            from: ConnId::from_u64(0),
            bytes: 0,
            full: false,
            capacity: usize::try_from(capacity).unwrap_or(0).max(4096),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(_: Option<u32>) -> io::Result<KernelPipe> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Moves what `source` has, as far as the pipe has room, into the
    /// pipe. `Ok(0)` is the end of the stream; would-block with bytes in
    /// the pipe may also mean the pipe is full.
    pub(crate) fn fill(&mut self, source: RawFd) -> io::Result<usize> {
        let room = self.capacity.saturating_sub(self.bytes);
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = splice(source, self.write.as_raw_fd(), room)?;
        self.bytes += n;
        Ok(n)
    }

    /// Moves bytes of the pipe to `sink`.
    pub(crate) fn drain(&mut self, sink: RawFd) -> io::Result<usize> {
        let n = splice(self.read.as_raw_fd(), sink, self.bytes)?;
        self.bytes -= n.min(self.bytes);
        Ok(n)
    }
}

#[cfg(target_os = "linux")]
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: splice only reads and writes the descriptors given; null
    // offsets mean their own positions (sockets and pipes have none).
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(not(target_os = "linux"))]
fn splice(_: RawFd, _: RawFd, _: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether this system can splice.
pub(crate) const SUPPORTED: bool = cfg!(target_os = "linux");

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (b, _) = listener.accept().expect("accept");
        (a, b)
    }

    #[test]
    fn bytes_go_from_one_socket_to_another_through_a_pooled_pipe() {
        let (mut client, source) = pair();
        let (sink, mut server) = pair();
        source.set_nonblocking(true).expect("nonblocking");
        let mut pipes = Pipes::new(1, None);
        let mut pipe = pipes.take(ConnId::from_u64(7)).expect("a pipe");
        assert!(pipes.take(ConnId::from_u64(8)).is_none(), "maxpipes 1");
        client.write_all(b"hello, kernel").expect("write");
        let mut filled = 0;
        while filled < 13 {
            match pipe.fill(source.as_raw_fd()) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(pipe.bytes, 13);
        assert_eq!(pipe.drain(sink.as_raw_fd()).expect("drain"), 13);
        assert_eq!(pipe.bytes, 0);
        let mut got = [0; 13];
        server.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"hello, kernel");
        drop(client);
        let mut fin = None;
        for _ in 0..1000 {
            match pipe.fill(source.as_raw_fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                other => {
                    fin = other.ok();
                    break;
                }
            }
        }
        assert_eq!(fin, Some(0), "FIN");
        pipes.put(pipe);
        assert!(pipes.take(ConnId::from_u64(9)).is_some(), "reused");
    }
}
