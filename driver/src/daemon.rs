//! `daemon` and `-D`: detach into the background, as HAProxy does (fork,
//! the parent exits, the child starts a session of its own and closes its
//! standard streams). weir forks before it binds, while it has one thread,
//! and the parent waits for the child's word: it exits 0 once the child
//! serves, or 1 if the child failed to start (its error is on the
//! terminal, where its standard streams still point until it is ready).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};

/// The child's end of the pipe to the waiting parent.
#[derive(Debug)]
pub struct Detached {
    parent: File,
}

/// What the child writes once it serves.
const READY: u8 = b'R';

/// Forks; returns in the child only (the parent exits with the child's
/// outcome). Call it while the process has a single thread.
pub(crate) fn detach() -> io::Result<Detached> {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here alone.
    let (reader, writer) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // SAFETY: the process has one thread (weir has started none yet), so
    // the child may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(reader);
            // SAFETY: setsid(2) takes no argument; a new child is never a
            // process group leader, so it succeeds.
            unsafe { libc::setsid() };
            Ok(Detached { parent: writer })
        }
        _ => {
            drop(writer);
            let mut word = [0u8; 1];
            let ready = matches!((&reader).read(&mut word), Ok(1) if word[0] == READY);
            std::process::exit(if ready { 0 } else { 1 });
        }
    }
}

impl Detached {
    /// The child serves: the parent may exit, and the standard streams
    /// are sent to `/dev/null`, detaching weir from the terminal.
    pub(crate) fn ready(mut self) {
        if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
            for fd in 0..3 {
                // SAFETY: dup2(2) replaces a standard stream with /dev/null.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        let _ = self.parent.write_all(&[READY]);
    }
}
