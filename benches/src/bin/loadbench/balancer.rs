//! The balancers under test: the same TCP configuration written in each
//! one's syntax, started as processes, measured through /proc, and stopped
//! by process id.

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::procs;

/// Which balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    HAProxy,
    Nginx,
    /// weir or weir-smol: HAProxy's syntax, `-db -f`.
    Weir,
}

/// A balancer binary found on this machine.
#[derive(Clone, Debug)]
pub struct Product {
    pub kind: Kind,
    /// The column name: `HAProxy`, `nginx`, `weir`, `weir-smol`.
    pub name: String,
    pub path: PathBuf,
    /// nginx's stream module, when it is a loadable file.
    pub module: Option<PathBuf>,
    /// What `-v` says.
    pub version: String,
}

/// The configuration every balancer gets.
pub struct Setup<'a> {
    pub servers: &'a [SocketAddr],
    /// `check inter 1s` on every server, and of which kind.
    pub check: Check,
    /// `nbthread N` in the global section (weir's scaling runs only).
    pub nbthread: Option<usize>,
    /// `maxconn` (global and defaults; nginx: worker_connections).
    pub maxconn: usize,
    /// The descriptor limit the balancer inherits.
    pub nofile: u64,
}

/// Health checks in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    None,
    /// `check inter 1s`: a TCP connect.
    Tcp,
    /// `option httpchk GET /healthcheck` and `check inter 1s`.
    Http,
    /// [`Check::Http`] in TLS: `check check-ssl verify none inter 1s`.
    Tls,
}

/// A started balancer; stopped when dropped.
pub struct Running {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

/// A free loopback port (bound and released at once).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Product {
    /// The configuration file for `setup`, listening on `port`.
    pub fn config(&self, setup: &Setup<'_>, port: u16, dir: &Path) -> String {
        match self.kind {
            Kind::Nginx => nginx_config(self.module.as_deref(), setup, port, dir),
            Kind::HAProxy | Kind::Weir => haproxy_config(setup, port),
        }
    }

    /// Asks the binary whether it accepts a configuration (`-c`); the
    /// first line of its complaint when it does not.
    pub fn check_config(&self, setup: &Setup<'_>) -> Result<(), String> {
        let dir = scratch_dir(&self.name);
        let cfg = dir.join("check.cfg");
        let port = free_port().map_err(|e| e.to_string())?;
        fs::write(&cfg, self.config(setup, port, &dir)).map_err(|e| e.to_string())?;
        let out = Command::new(&self.path)
            .args(["-c", "-f"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .output();
        let _ = fs::remove_dir_all(&dir);
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stderr).into_owned()
                    + &String::from_utf8_lossy(&o.stdout);
                Err(text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("refused")
                    .trim()
                    .to_owned())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Starts the balancer and waits until its frontend accepts.
    pub fn start(&self, setup: &Setup<'_>) -> Result<Running, String> {
        let dir = scratch_dir(&self.name);
        let port = free_port().map_err(|e| e.to_string())?;
        let cfg = dir.join("balancer.cfg");
        fs::write(&cfg, self.config(setup, port, &dir)).map_err(|e| e.to_string())?;
        let stderr = fs::File::create(dir.join("stderr")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.path);
        match self.kind {
            Kind::Nginx => {
                cmd.arg("-p").arg(&dir).arg("-e").arg(dir.join("error.log"));
                cmd.arg("-c").arg(&cfg);
            }
            Kind::HAProxy | Kind::Weir => {
                cmd.args(["-db", "-f"]).arg(&cfg);
            }
        }
        // If this process dies, the kernel stops the balancer too (SIGTERM:
        // nginx's master then stops its workers).
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let mut running = Running {
            child: Some(child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            let exited = running
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let why = running.complaint();
                return Err(format!("{} did not start: {why}", self.name));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(running)
    }
}

impl Running {
    /// The frontend's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The main process and its children (nginx's workers).
    fn pids(&self) -> Vec<u32> {
        let Some(child) = &self.child else {
            return Vec::new();
        };
        let main = child.id();
        let mut all = vec![main];
        all.extend(procs::children(main));
        all
    }

    /// CPU seconds used so far by the balancer's processes.
    pub fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().filter_map(procs::cpu_seconds).sum()
    }

    /// Resident memory of the balancer's processes, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.pids().into_iter().filter_map(procs::rss_kib).sum()
    }

    /// The first lines of what the balancer wrote on stderr or its log.
    fn complaint(&self) -> String {
        let mut text = fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        text += &fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        if lines.is_empty() {
            "no message".to_owned()
        } else {
            lines.join(" / ")
        }
    }
}

impl Drop for Running {
    /// SIGTERM to the main process (nginx: its fast shutdown), then SIGKILL
    /// to whatever of the processes it had is left, each by its id.
    fn drop(&mut self) {
        let pids = self.pids();
        if let Some(mut child) = self.child.take() {
            procs::signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in pids.into_iter().skip(1) {
            if procs::alive(pid) {
                procs::signal(pid, libc::SIGKILL);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory for one balancer's files.
fn scratch_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("weir-loadbench-{}-{name}-{n}", std::process::id()));
    let _ = fs::create_dir_all(&dir);
    dir
}

/// HAProxy's syntax, which weir reads unchanged.
fn haproxy_config(setup: &Setup<'_>, port: u16) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "global\n    maxconn {}", setup.maxconn);
    if let Some(n) = setup.nbthread {
        let _ = writeln!(c, "    nbthread {n}");
    }
    let _ = writeln!(
        c,
        "defaults\n    mode tcp\n    maxconn {}\n    timeout connect 5s\n    \
         timeout client 60s\n    timeout server 60s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
         backend be\n    balance roundrobin",
        setup.maxconn
    );
    if matches!(setup.check, Check::Http | Check::Tls) {
        c.push_str("    option httpchk GET /healthcheck\n");
    }
    let check = match setup.check {
        Check::None => "",
        Check::Tcp | Check::Http => " check inter 1s",
        Check::Tls => " check check-ssl verify none inter 1s",
    };
    for (i, s) in setup.servers.iter().enumerate() {
        let _ = writeln!(c, "    server s{i} {s}{check}");
    }
    c
}

/// nginx's stream module: the same proxy (round robin over the same
/// servers, same timeouts). Open-source nginx has no active checks.
fn nginx_config(module: Option<&Path>, setup: &Setup<'_>, port: u16, dir: &Path) -> String {
    let mut c = String::new();
    if let Some(m) = module {
        let _ = writeln!(c, "load_module {};", m.display());
    }
    let workers = setup
        .nbthread
        .map_or_else(|| "auto".to_owned(), |n| n.to_string());
    // Each proxied connection is two of nginx's connections, and all of
    // them may land on one worker; without CAP_SYS_RESOURCE the workers
    // cannot go above the inherited limit.
    let files = (2 * setup.maxconn as u64 + 200).min(setup.nofile);
    let conns = files.saturating_sub(100).max(100);
    let _ = writeln!(
        c,
        "daemon off;\nmaster_process on;\nworker_processes {workers};\n\
         worker_rlimit_nofile {};\npid {}/nginx.pid;\nerror_log {}/error.log warn;\n\
         events {{\n    worker_connections {conns};\n}}\nstream {{\n    upstream be {{",
        files,
        dir.display(),
        dir.display()
    );
    for s in setup.servers {
        let _ = writeln!(c, "        server {s};");
    }
    let _ = writeln!(
        c,
        "    }}\n    server {{\n        listen 127.0.0.1:{port};\n        proxy_pass be;\n        \
         proxy_connect_timeout 5s;\n        proxy_timeout 60s;\n    }}\n}}"
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_name_every_server() {
        let servers: Vec<SocketAddr> = vec![
            "127.0.0.1:8001".parse().expect("addr"),
            "127.0.0.2:8002".parse().expect("addr"),
        ];
        let setup = Setup {
            servers: &servers,
            check: Check::Http,
            nbthread: Some(2),
            maxconn: 30_000,
            nofile: 20_000,
        };
        let h = haproxy_config(&setup, 9000);
        assert!(h.contains("    nbthread 2\n"), "{h}");
        assert!(
            h.contains("server s1 127.0.0.2:8002 check inter 1s\n"),
            "{h}"
        );
        assert!(h.contains("    option httpchk GET /healthcheck\n"), "{h}");
        assert!(h.contains("bind 127.0.0.1:9000\n"), "{h}");
        let tls = Setup {
            check: Check::Tls,
            ..setup
        };
        let t = haproxy_config(&tls, 9000);
        assert!(
            t.contains("server s0 127.0.0.1:8001 check check-ssl verify none inter 1s\n"),
            "{t}"
        );
        assert!(t.contains("    option httpchk GET /healthcheck\n"), "{t}");
        let n = nginx_config(None, &setup, 9000, Path::new("/tmp/x"));
        assert!(n.contains("server 127.0.0.2:8002;"), "{n}");
        assert!(n.contains("worker_processes 2;"), "{n}");
        assert!(n.contains("listen 127.0.0.1:9000;"), "{n}");
        assert!(n.contains("worker_rlimit_nofile 20000;"), "{n}");
        assert!(n.contains("worker_connections 19900;"), "{n}");
    }
}
