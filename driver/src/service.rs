//! weir as a service, when it owns the process: what happens between
//! binding and serving (pidfile, `chroot`, `user`/`group`), and what it
//! tells its supervisor (systemd's notifications, the waiting parent of a
//! daemon).

use std::io;

use weir_core::config::Process;

use crate::daemon::Detached;
use crate::identity::{self, Identity};
use crate::notify;
use crate::pidfile::PidFile;

/// A weir that bound its sockets and settled its identity.
#[derive(Debug, Default)]
pub(crate) struct Service {
    /// Removed when the service drops (weir exits).
    _pidfile: Option<PidFile>,
    detached: Option<Detached>,
}

impl Service {
    /// Once every socket is bound: writes the pidfile (`pidfile`
    /// overrides the configuration's), then locks weir in its `chroot`
    /// and switches to its `user` and `group`, as HAProxy. The names were
    /// looked up when the configuration was loaded (and are again here,
    /// before any `chroot` hides the system's databases).
    pub(crate) fn settle(
        process: &Process,
        pidfile: Option<&str>,
        detached: Option<Detached>,
        program: &str,
    ) -> io::Result<Service> {
        let identity =
            Identity::resolve(process).map_err(|e| io::Error::new(io::ErrorKind::NotFound, e))?;
        let pidfile = pidfile
            .map(|path| PidFile::write(path, std::process::id()))
            .transpose()?;
        if let Some((dir, origin)) = &process.chroot {
            identity::chroot(dir, origin)?;
        }
        if identity.is_set() {
            identity::switch(identity, program)?;
        }
        Ok(Service {
            _pidfile: pidfile,
            detached,
        })
    }

    /// weir serves: systemd hears `READY=1` with `status`, and a waiting
    /// daemon parent exits.
    pub(crate) fn ready(&mut self, status: &str) {
        notify::ready(status);
        if let Some(detached) = self.detached.take() {
            detached.ready();
        }
    }

    /// weir begins to stop (`why`).
    pub(crate) fn stopping(&self, why: &str) {
        notify::stopping(why);
    }
}
