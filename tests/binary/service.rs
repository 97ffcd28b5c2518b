//! weir as a service: pidfile, configuration directories, systemd's
//! notifications and socket activation, the switch to another user,
//! `chroot`, and daemon mode.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::WEIR;
use super::kit::{PATIENCE, Running, Scratch, client, echo, echo_backend, free_port, wait_until};

/// A configuration: one frontend on `port` to an echo server, `global`
/// lines first.
fn config(global: &str, port: u16) -> String {
    format!(
        "global\n{global}defaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n \
         timeout server 30s\nfrontend fe\n bind 127.0.0.1:{port}\n default_backend be\n\
         backend be\n server s1 127.0.0.1:{}\n",
        echo_backend()
    )
}

fn weir(args: &[&str], config: &Path) -> Command {
    let mut command = Command::new(WEIR);
    command.args(args).arg("-f").arg(config);
    command
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the command as `nobody` (65534), dropped in the child before exec.
fn as_nobody(command: &mut Command) {
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_pidfile_is_written_once_listening_and_removed_at_exit() {
    let scratch = Scratch::new();
    let port = free_port();
    let cfg = scratch.file("weir.cfg", &config("", port));
    let pidfile = scratch.path("weir.pid");
    let mut command = weir(&["-db", "-p", pidfile.to_str().unwrap()], &cfg);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut weir = Running::spawn(command, port);
    let pid = weir.0.id();
    assert!(wait_until(
        || std::fs::read_to_string(&pidfile).is_ok_and(|t| t == format!("{pid}\n"))
    ));
    weir.signal(libc::SIGTERM);
    assert!(weir.wait_exit().success());
    assert!(!pidfile.exists(), "the pidfile stays after exit");
}

#[test]
fn a_directory_of_configurations_is_read_in_name_order() {
    let scratch = Scratch::new();
    let port = free_port();
    let dir = scratch.path("conf.d");
    std::fs::create_dir(&dir).unwrap();
    let stats = free_port();
    let first = format!(" node first\n stats socket ipv4@127.0.0.1:{stats} level admin\n");
    std::fs::write(dir.join("10-main.cfg"), config(&first, port)).unwrap();
    std::fs::write(dir.join("20-node.cfg"), "global\n node second\n").unwrap();
    std::fs::write(dir.join("05-ignored.cfg.bak"), "no such keyword\n").unwrap();
    let log = scratch.file("weir.log", "");
    let mut command = weir(&["-db"], &dir);
    command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let _weir = Running::spawn(command, port);
    let files = format!(
        "config {0}/10-main.cfg, {0}/20-node.cfg;",
        dir.to_str().unwrap()
    );
    let said = || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(&files));
    assert!(
        wait_until(said),
        "the start-up line lists the files in order"
    );
    let info = stats_command(stats, "show info");
    assert!(info.contains("\nnode: second\n"), "{info}");
}

/// One runtime-API command on the TCP stats socket at `port`.
fn stats_command(port: u16, command: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = client(port);
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn show_info_tells_the_limits_node_and_description() {
    let scratch = Scratch::new();
    let (port, stats) = (free_port(), free_port());
    let global = format!(
        " maxconn 100\n ulimit-n 4000\n description the edge\n \
         stats socket ipv4@127.0.0.1:{stats}\n"
    );
    let cfg = scratch.file("weir.cfg", &config(&global, port));
    let mut command = weir(&["-db"], &cfg);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let weir = Running::spawn(command, port);
    let info = stats_command(stats, "show info");
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .to_owned()
    };
    assert_eq!(field("Ulimit-n"), "4000");
    assert_eq!(field("Maxconn"), "100");
    assert_eq!(field("Hard_maxconn"), "100");
    assert!(field("Maxsock").parse::<u32>().unwrap() > 200);
    assert_eq!(field("description"), "the edge");
    assert_eq!(field("Pid"), weir.0.id().to_string());
    assert!(!field("node").is_empty());
    assert!(field("Start_time_sec").parse::<u64>().unwrap() > 1_600_000_000);
    assert!(!field("Release_date").is_empty());
}

/// The next datagram on `socket`, as text.
fn next_notification(socket: &UnixDatagram) -> String {
    let mut buf = [0; 1024];
    let n = socket.recv(&mut buf).expect("a notification in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn systemd_hears_ready_once_listening_and_stopping_on_sigterm() {
    let scratch = Scratch::new();
    let port = free_port();
    let cfg = scratch.file("weir.cfg", &config("", port));
    let notify_path = scratch.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut command = weir(&["-Ws"], &cfg);
    command
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut weir = Running(command.spawn().unwrap());
    let ready = next_notification(&notify);
    let pid = weir.0.id();
    assert!(
        ready.starts_with(&format!("READY=1\nMAINPID={pid}\nSTATUS=")),
        "{ready}"
    );
    assert!(
        ready.contains(&format!("listening on 127.0.0.1:{port} (fe)")),
        "{ready}"
    );
    echo(&mut client(port), b"served once ready");
    weir.signal(libc::SIGTERM);
    let stopping = next_notification(&notify);
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    assert!(weir.wait_exit().success());
}

#[test]
fn a_listening_socket_systemd_passes_is_used_in_place_of_binding() {
    let scratch = Scratch::new();
    // Held by the test too: weir could not bind the address itself.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = scratch.file("weir.cfg", &config("", port));
    let log = scratch.file("weir.log", "");
    let fd = listener.as_raw_fd();
    let mut command = Command::new("sh");
    command
        .args(["-c", "LISTEN_PID=$$ exec \"$0\" -db -f \"$1\""])
        .arg(WEIR)
        .arg(&cfg)
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "traffic")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: dup2(2) and fcntl(2) only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 3) != 3 || libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut weir = Running(command.spawn().unwrap());
    let started = || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(" started: "));
    assert!(wait_until(|| started() || !weir.running()));
    assert!(weir.running(), "{}", std::fs::read_to_string(&log).unwrap());
    drop(listener);
    echo(&mut client(port), b"through the passed socket");
}

#[test]
fn weir_runs_as_its_user_once_bound() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let scratch = Scratch::new();
    let port = free_port();
    let cfg = scratch.file("weir.cfg", &config(" user nobody\n gid 65534\n", port));
    let mut command = weir(&["-db"], &cfg);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let weir = Running::spawn(command, port);
    // The port accepts from the bind on, a moment before the switch.
    let status = || std::fs::read_to_string(format!("/proc/{}/status", weir.0.id())).unwrap();
    let switched = || status().contains("\nUid:\t65534\t65534\t65534\t65534\n");
    assert!(wait_until(switched), "{}", status());
    let status = status();
    let line = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_owned()
    };
    assert_eq!(line("Uid:"), "Uid:\t65534\t65534\t65534\t65534");
    assert_eq!(line("Gid:"), "Gid:\t65534\t65534\t65534\t65534");
    assert_eq!(line("Groups:").trim_end(), "Groups:");
    echo(&mut client(port), b"served as nobody");
}

/// Runs weir until it ends (it must fail, in time) and returns what it
/// said; `scratch` holds its error output.
fn failure(scratch: &Scratch, mut command: Command) -> String {
    let said = scratch.path("stderr.txt");
    command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&said).unwrap());
    let mut weir = Running(command.spawn().unwrap());
    assert_eq!(weir.wait_exit().code(), Some(1));
    std::fs::read_to_string(said).unwrap()
}

#[test]
fn a_user_that_cannot_be_applied_stops_weir() {
    let scratch = Scratch::new();
    let port = free_port();
    let cfg = scratch.file("weir.cfg", &config(" user root\n", port));
    let mut command = weir(&["-db"], &cfg);
    if is_root() {
        as_nobody(&mut command);
    }
    let said = failure(&scratch, command);
    assert!(
        said.contains("] Cannot set uid 0: Operation not permitted"),
        "{said}"
    );
    assert!(
        said.contains("'user' and 'group' need weir to start as root"),
        "{said}"
    );
}

#[test]
fn a_chroot_that_is_not_permitted_says_so() {
    let scratch = Scratch::new();
    let port = free_port();
    let dir = scratch.path("jail");
    std::fs::create_dir(&dir).unwrap();
    let global = format!(" chroot {}\n", dir.to_str().unwrap());
    let cfg = scratch.file("weir.cfg", &config(&global, port));
    let mut command = weir(&["-db"], &cfg);
    if is_root() {
        as_nobody(&mut command);
    }
    let said = failure(&scratch, command);
    let want = format!(
        "weir.cfg:2: Cannot chroot({}): Operation not permitted",
        dir.to_str().unwrap()
    );
    assert!(said.contains(&want), "{said}");
    assert!(said.contains("CAP_SYS_CHROOT"), "{said}");
}

/// A daemon weir, stopped by the pid in its pidfile if a test ends early.
struct Daemon(u32);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid the daemon wrote; it is still ours
        // until it exits (checked by the test before it forgets it).
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[test]
fn daemon_mode_detaches_once_listening_and_stops_by_its_pidfile() {
    let scratch = Scratch::new();
    let port = free_port();
    let pidfile = scratch.path("weir.pid");
    let global = format!(" daemon\n pidfile {}\n", pidfile.to_str().unwrap());
    let cfg = scratch.file("weir.cfg", &config(&global, port));
    let mut command = weir(&[], &cfg);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut parent = Running(command.spawn().unwrap());
    let launcher = parent.0.id();
    assert!(parent.wait_exit().success(), "the parent reports success");
    // The parent exits only once the daemon listens.
    echo(&mut client(port), b"served by the daemon");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let daemon = Daemon(pid);
    assert_ne!(pid, launcher);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(
        fields[3],
        pid.to_string(),
        "the daemon leads its own session"
    );
    let stdout = std::fs::read_link(format!("/proc/{pid}/fd/1")).unwrap();
    assert_eq!(stdout, Path::new("/dev/null"));
    // SAFETY: kill(2) on the daemon's pid, read from its pidfile.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(wait_until(|| !pidfile.exists()), "the pidfile is removed");
    assert!(wait_until(|| ended(pid)), "the daemon stops");
    std::mem::forget(daemon);
}

#[test]
fn dash_d_detaches_too() {
    let scratch = Scratch::new();
    let port = free_port();
    let cfg = scratch.file("weir.cfg", &config("", port));
    let pidfile = scratch.path("d.pid");
    let mut command = weir(&["-D", "-q", "-p", pidfile.to_str().unwrap()], &cfg);
    let said = scratch.path("said.txt");
    command
        .stdout(std::fs::File::create(&said).unwrap())
        .stderr(std::fs::File::create(&said).unwrap());
    let mut parent = Running(command.spawn().unwrap());
    assert!(parent.wait_exit().success());
    assert_eq!(
        std::fs::read_to_string(&said).unwrap(),
        "",
        "-q: nothing said"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let daemon = Daemon(pid);
    echo(&mut client(port), b"served by the daemon");
    // SAFETY: kill(2) on the daemon's pid, read from its pidfile.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(wait_until(|| ended(pid)), "the daemon stops");
    std::mem::forget(daemon);
}
