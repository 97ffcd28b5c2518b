//! `chroot`, `user`/`uid` and `group`/`gid`: carried out once the
//! listeners and stats sockets are bound and the pidfile written, before
//! weir serves, in HAProxy's order (`chroot`, then supplementary groups,
//! gid, uid). A setting that cannot be applied stops weir: it never goes
//! on serving as root when asked to run as someone else.

use std::ffi::CString;
use std::io;

use weir_core::config::{Account, Origin, Process, printable};

use crate::unix_socket::{group_id, user_id};

/// The ids `user`/`group` (or `uid`/`gid`) name, looked up now: `-c`
/// reports an unknown name as HAProxy does when it parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Identity {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Identity {
    /// Looks up the names in `process`; errors name the line.
    pub(crate) fn resolve(process: &Process) -> Result<Identity, String> {
        let at = |(account, origin): &(Account, Origin),
                  lookup: fn(&Account) -> io::Result<u32>,
                  kind: &str| {
            lookup(account).map_err(|e| {
                let name = match account {
                    Account::Name(name) => name.as_str(),
                    Account::Id(_) => "",
                };
                printable(&format!(
                    "{origin}: cannot find {kind} id for '{name}': {e}"
                ))
                .into_owned()
            })
        };
        Ok(Identity {
            uid: process
                .user
                .as_ref()
                .map(|u| at(u, user_id, "user"))
                .transpose()?,
            gid: process
                .group
                .as_ref()
                .map(|g| at(g, group_id, "group"))
                .transpose()?,
        })
    }

    /// Whether there is anything to switch.
    pub(crate) fn is_set(&self) -> bool {
        self.uid.is_some() || self.gid.is_some()
    }
}

/// Locks the process in `dir` (`chroot`), as HAProxy: `chroot` then
/// `chdir("/")`.
pub(crate) fn chroot(dir: &str, origin: &Origin) -> io::Result<()> {
    let fail = |e: io::Error| {
        let hint = if e.raw_os_error() == Some(libc::EPERM) {
            " ('chroot' needs weir to start as root or with CAP_SYS_CHROOT)"
        } else {
            ""
        };
        let message = format!("{origin}: Cannot chroot({dir}): {e}{hint}");
        io::Error::new(e.kind(), printable(&message).into_owned())
    };
    let path = CString::new(dir).map_err(|_| fail(io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: `path` is NUL-terminated; chroot(2) and chdir(2) only read it.
    if unsafe { libc::chroot(path.as_ptr()) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: a static NUL-terminated path.
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    Ok(())
}

/// Switches to `identity` as HAProxy's `set_identity`: with a group, the
/// supplementary groups are dropped (a warning if that is refused) and
/// the gid set; then the uid. Setting an id that is already the process's
/// own works for anyone; any other takes root, so a refusal stops weir
/// with what it runs as.
pub(crate) fn switch(identity: Identity, program: &str) -> io::Result<()> {
    let refused = |what: &str, id: u32, e: io::Error| {
        // SAFETY: getuid(2) and getgid(2) cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        io::Error::new(
            e.kind(),
            format!(
                "[{program}.main()] Cannot set {what} {id}: {e} (weir runs as uid {uid} gid {gid}; \
                 'user' and 'group' need weir to start as root)"
            ),
        )
    };
    if let Some(gid) = identity.gid {
        // SAFETY: getgroups(0, NULL) only counts; setgroups(0, NULL) clears.
        let has_groups = unsafe { libc::getgroups(0, std::ptr::null_mut()) } > 0;
        if has_groups && unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
            log::warn!(
                "[{program}.main()] Failed to drop supplementary groups. Using 'gid'/'group' \
                 without 'uid'/'user' is generally useless."
            );
        }
        // SAFETY: setgid(2) takes a plain id.
        if unsafe { libc::setgid(gid) } != 0 {
            return Err(refused("gid", gid, io::Error::last_os_error()));
        }
    }
    if let Some(uid) = identity.uid {
        // SAFETY: setuid(2) takes a plain id.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(refused("uid", uid, io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(line: u32) -> Origin {
        Origin {
            file: "w.cfg".into(),
            line,
        }
    }

    #[test]
    fn names_are_looked_up_and_unknown_ones_name_their_line() {
        let process = Process {
            user: Some((Account::Name("root".into()), origin(2))),
            group: Some((Account::Id(7), origin(3))),
            ..Process::default()
        };
        let got = Identity::resolve(&process).unwrap();
        assert_eq!(
            got,
            Identity {
                uid: Some(0),
                gid: Some(7)
            }
        );
        let process = Process {
            group: Some((Account::Name("no-such-weir-group".into()), origin(4))),
            ..Process::default()
        };
        assert_eq!(
            Identity::resolve(&process).unwrap_err(),
            "w.cfg:4: cannot find group id for 'no-such-weir-group': unknown group name \
             'no-such-weir-group'"
        );
    }

    #[test]
    fn switching_to_ones_own_ids_works_for_anyone() {
        // SAFETY: getuid(2) and getgid(2) cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let own = Identity {
            uid: Some(uid),
            gid: Some(gid),
        };
        // Run in a child process: the switch is for the whole process.
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = if switch(own, "t").is_ok() { 0 } else { 1 };
            // SAFETY: ends the child without running the parent's tests.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn chroot_errors_say_why() {
        let e = chroot("/no/such/weir/dir", &origin(5)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("w.cfg:5: Cannot chroot(/no/such/weir/dir): "),
            "{e}"
        );
    }
}
