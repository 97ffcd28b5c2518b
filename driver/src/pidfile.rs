//! The `pidfile` (`-p FILE`): written once the listeners are bound, and
//! removed when weir exits if it still holds weir's pid (a newer weir may
//! have taken it over). It is removed through a descriptor of its
//! directory opened when it was written, so that a `chroot` in between
//! does not lose it. HAProxy writes it the same way, but only in daemon or
//! master-worker mode, and never removes it.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A written pidfile, removed on drop.
#[derive(Debug)]
pub(crate) struct PidFile {
    path: String,
    dir: OwnedFd,
    name: CString,
    pid: u32,
}

impl PidFile {
    /// Replaces `path` by a file holding `pid` and a newline.
    pub(crate) fn write(path: &str, pid: u32) -> io::Result<PidFile> {
        let cannot =
            |e: io::Error| io::Error::new(e.kind(), format!("Cannot create pidfile {path}: {e}"));
        let file = Path::new(path);
        let name = file.file_name().ok_or_else(|| {
            cannot(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
        let name = CString::new(name.as_bytes()).map_err(|_| {
            cannot(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NUL in the name",
            ))
        })?;
        let parent = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = OwnedFd::from(File::open(parent).map_err(cannot)?);
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(cannot(e)),
            _ => {}
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(cannot)?;
        out.write_all(format!("{pid}\n").as_bytes())
            .map_err(cannot)?;
        Ok(PidFile {
            path: path.to_owned(),
            dir,
            name,
            pid,
        })
    }

    /// Removes the file if it still holds this pid.
    fn remove(&self) -> io::Result<()> {
        // SAFETY: `dir` is an open directory and `name` NUL-terminated;
        // the flags ask for a plain read-only open.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned here alone.
        let file = File::from(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        let mut text = String::new();
        io::Read::read_to_string(&mut io::Read::take(&file, 32), &mut text)?;
        if text.trim() != self.pid.to_string() {
            return Ok(());
        }
        // SAFETY: as for `openat`.
        if unsafe { libc::unlinkat(self.dir.as_raw_fd(), self.name.as_ptr(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            log::info!("cannot remove pidfile {}: {e}", self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pidfile_holds_the_pid_and_goes_away_unless_taken_over() {
        let dir = std::env::temp_dir().join(format!("weir-pidfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.pid").to_str().unwrap().to_owned();
        fs::write(&path, "stale\n").unwrap();
        let pidfile = PidFile::write(&path, 4242).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "4242\n");
        drop(pidfile);
        assert!(!Path::new(&path).exists());
        let pidfile = PidFile::write(&path, 4242).unwrap();
        fs::write(&path, "777\n").unwrap();
        drop(pidfile);
        assert_eq!(fs::read_to_string(&path).unwrap(), "777\n");
        let e = PidFile::write(&dir.join("no/such/dir.pid").to_string_lossy(), 1).unwrap_err();
        assert!(e.to_string().starts_with("Cannot create pidfile "), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
