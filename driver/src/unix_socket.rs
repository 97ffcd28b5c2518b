//! A `stats socket` on a UNIX path, set up as HAProxy's
//! `sock_unix_bind_receiver`: bound as `<path>.<pid>.tmp`, given its owner
//! and mode there, then renamed over the path, so that a client never
//! finds it with the wrong permissions and a socket left at the path (by
//! a weir that died, or one still running) is replaced at once. Unlike
//! HAProxy, weir replaces only a socket: a regular file or a directory at
//! the path is refused, not overwritten. The file stays when weir exits,
//! as HAProxy's: a process that took the path over keeps it.

use std::ffi::{CStr, CString};
use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;

use weir_core::config::{Account, StatsAddr, StatsSocket};

/// Longest path a UNIX socket's address holds (`sun_path` less its NUL).
const SUN_PATH_MAX: usize = 107;
/// Most tries at a passwd or group entry, its buffer doubling each time.
const LOOKUP_TRIES: usize = 8;

/// Binds `socket`'s path for process `pid`, non-blocking, with its mode
/// and owner. Errors say what failed, with the path when it is not the
/// socket's own.
pub(crate) fn bind(socket: &StatsSocket, pid: u32) -> io::Result<UnixListener> {
    let StatsAddr::Unix(path) = &socket.addr else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a UNIX path",
        ));
    };
    refuse_other_files(path)?;
    let uid = socket.uid.as_ref().map(user_id).transpose()?;
    let gid = socket.gid.as_ref().map(group_id).transpose()?;
    let temporary = format!("{path}.{pid}.tmp");
    if temporary.len() > SUN_PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "name too long for UNIX socket: its temporary name '{temporary}' has more than \
                 {SUN_PATH_MAX} bytes (shorten the path)"
            ),
        ));
    }
    // Left by a weir of the same pid that died while binding.
    match fs::remove_file(&temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(context("cannot remove a previous temporary socket", e));
        }
        _ => {}
    }
    let listener =
        UnixListener::bind(&temporary).map_err(|e| context("cannot bind UNIX socket", e))?;
    let finish = || -> io::Result<()> {
        listener.set_nonblocking(true)?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&temporary, uid, gid)
                .map_err(|e| context("cannot change UNIX socket ownership", e))?;
        }
        if let Some(mode) = socket.mode {
            fs::set_permissions(&temporary, Permissions::from_mode(mode))
                .map_err(|e| context("cannot change UNIX socket permissions", e))?;
        }
        fs::rename(&temporary, path)
            .map_err(|e| context("cannot switch final and temporary UNIX sockets", e))
    };
    if let Err(e) = finish() {
        let _ = fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(listener)
}

/// Refuses a path that holds something other than a socket.
fn refuse_other_files(path: &str) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket: weir replaces only a socket left there \
             (remove it, or choose another path)",
        )),
        _ => Ok(()),
    }
}

/// `what: error`, keeping the error's kind.
fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The uid of `uid N` or `user NAME`.
pub(crate) fn user_id(account: &Account) -> io::Result<u32> {
    match account {
        Account::Id(id) => Ok(*id),
        Account::Name(name) => lookup(name, "user", |name, entry, buf, found| {
            // SAFETY: `name` is NUL-terminated; `entry`, `buf` (with its
            // true length) and `found` are valid for writes for the call.
            unsafe {
                let mut pw: libc::passwd = std::mem::zeroed();
                let mut result = std::ptr::null_mut();
                let rc = libc::getpwnam_r(
                    name.as_ptr(),
                    &mut pw,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                );
                *found = !result.is_null();
                *entry = pw.pw_uid;
                rc
            }
        }),
    }
}

/// The gid of `gid N` or `group NAME`.
pub(crate) fn group_id(account: &Account) -> io::Result<u32> {
    match account {
        Account::Id(id) => Ok(*id),
        Account::Name(name) => lookup(name, "group", |name, entry, buf, found| {
            // SAFETY: as in `user_id`, with `getgrnam_r`.
            unsafe {
                let mut gr: libc::group = std::mem::zeroed();
                let mut result = std::ptr::null_mut();
                let rc = libc::getgrnam_r(
                    name.as_ptr(),
                    &mut gr,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                );
                *found = !result.is_null();
                *entry = gr.gr_gid;
                rc
            }
        }),
    }
}

/// Looks `name` up in the passwd or group database with `get`, a
/// reentrant `get*nam_r` that fills the id and whether it found the name,
/// growing the buffer while it is too small.
fn lookup(
    name: &str,
    kind: &str,
    get: impl Fn(&CStr, &mut u32, &mut [u8], &mut bool) -> libc::c_int,
) -> io::Result<u32> {
    let unknown = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("unknown {kind} name '{name}'"),
        )
    };
    let c_name = CString::new(name).map_err(|_| unknown())?;
    let mut buf = vec![0u8; 1024];
    for _ in 0..LOOKUP_TRIES {
        let (mut id, mut found) = (0, false);
        match get(&c_name, &mut id, &mut buf, &mut found) {
            0 if found => return Ok(id),
            // Some systems say "not found" with one of these.
            0 | libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Err(unknown()),
            libc::ERANGE => buf.resize(buf.len() * 2, 0),
            rc => {
                let e = io::Error::from_raw_os_error(rc);
                return Err(context(&format!("cannot look up {kind} '{name}'"), e));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!("cannot look up {kind} '{name}': its entry is too large"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_by_name_and_unknown_names_are_reported() {
        let root = Account::Name("root".into());
        assert_eq!(user_id(&root).unwrap(), 0);
        assert_eq!(group_id(&root).unwrap(), 0);
        assert_eq!(user_id(&Account::Id(42)).unwrap(), 42);
        let nobody = Account::Name("no-such-weir-user".into());
        let e = user_id(&nobody).unwrap_err();
        assert_eq!(e.to_string(), "unknown user name 'no-such-weir-user'");
        let e = group_id(&Account::Name("a\0b".into())).unwrap_err();
        assert_eq!(e.to_string(), "unknown group name 'a\0b'");
    }
}
