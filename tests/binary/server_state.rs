//! Servers' state across a binary upgrade and a start: a server drained
//! at run time is still drained in the process that takes over (`-x`,
//! which asks the old one `show servers state`), and in one started with
//! `load-server-state-from-file global` on a file `show servers state`
//! wrote; the others stay UP, and no server is logged DOWN or UP.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::WEIR;
use super::kit::{Running, Scratch, echo_backend, free_port, wait_until};

/// One runtime-API request over the UNIX socket at `path`, its whole
/// answer; empty when the socket does not answer.
fn cli(path: &Path, line: &str) -> String {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return String::new();
    };
    let timeout = Some(Duration::from_secs(10));
    stream.set_read_timeout(timeout).unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Ports for a test: the frontend's, and two echo servers'.
struct Ports {
    front: u16,
    servers: [u16; 2],
}

fn ports() -> Ports {
    Ports {
        front: free_port(),
        servers: [echo_backend(), echo_backend()],
    }
}

/// Backend `app` of two checked echo servers behind a frontend, an admin
/// stats socket handing its listeners over, and `extra` lines in
/// `global` and `defaults`.
fn config(
    scratch: &Scratch,
    name: &str,
    ports: &Ports,
    socket: &Path,
    extra: [&str; 2],
) -> PathBuf {
    let [global, defaults] = extra;
    let (port, [s1, s2]) = (ports.front, ports.servers);
    scratch.file(
        name,
        &format!(
            "global\n stats socket {} level admin expose-fd listeners\n{global}\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n \
             timeout server 10s\n{defaults}\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s1 127.0.0.1:{s1} check inter 200ms\n \
             server s2 127.0.0.1:{s2} check inter 200ms\n",
            socket.display(),
        ),
    )
}

/// weir on `config`, its stderr (diagnostics, server state changes) in
/// `stderr`, with `args` after the configuration.
fn start(config: &Path, port: u16, stderr: &Path, args: &[String]) -> Running {
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", config.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(File::create(stderr).unwrap());
    Running::spawn(command, port)
}

/// The `status` column of `show stat` for each server of `app`.
fn statuses(socket: &Path) -> Vec<String> {
    let stat = cli(socket, "show stat");
    (stat.lines())
        .filter(|l| l.starts_with("app,s"))
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            format!("{} {}", fields[1], fields[17])
        })
        .collect()
}

/// Lines of `stderr` that say a server went DOWN or UP.
fn ups_and_downs(stderr: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(stderr).unwrap();
    (text.lines())
        .filter(|l| l.contains("Server app/") && (l.contains(" is DOWN") || l.contains(" is UP")))
        .map(str::to_owned)
        .collect()
}

/// A process with `app/s1` drained at run time, both servers checked UP.
fn drained(config: &Path, port: u16, socket: &Path, stderr: &Path) -> Running {
    let old = start(config, port, stderr, &[]);
    assert!(wait_until(|| statuses(socket) == ["s1 UP", "s2 UP"]));
    assert_eq!(cli(socket, "set server app/s1 state drain"), "\n");
    assert_eq!(statuses(socket), ["s1 DRAIN", "s2 UP"]);
    old
}

#[test]
fn an_upgrade_keeps_a_drained_server_drained_and_the_others_up() {
    let scratch = Scratch::new();
    let (ports, socket) = (ports(), scratch.path("admin.sock"));
    let port = ports.front;
    let config = config(&scratch, "w.cfg", &ports, &socket, ["", ""]);
    let mut old = drained(&config, port, &socket, &scratch.path("old.err"));
    let err = scratch.path("new.err");
    let args = [
        "-x".to_owned(),
        socket.display().to_string(),
        "-sf".to_owned(),
        old.0.id().to_string(),
    ];
    let _new = start(&config, port, &err, &args);
    assert!(old.wait_exit().success(), "the old process finishes");
    assert!(wait_until(|| !statuses(&socket).is_empty()));
    assert_eq!(statuses(&socket), ["s1 DRAIN", "s2 UP"]);
    let state = cli(&socket, "show servers state app");
    let s1 = state.lines().find(|l| l.contains(" s1 ")).unwrap();
    assert_eq!(&s1.split(' ').collect::<Vec<_>>()[5..8], ["2", "8", "1"]);
    // Checks keep passing in the new process: nothing goes DOWN or UP.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(statuses(&socket), ["s1 DRAIN", "s2 UP"]);
    assert_eq!(ups_and_downs(&err), Vec::<String>::new());
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(!text.contains("server states of the old process"), "{text}");
}

#[test]
fn a_state_file_written_by_show_servers_state_is_loaded_at_start() {
    let scratch = Scratch::new();
    let (ports, socket) = (ports(), scratch.path("admin.sock"));
    let port = ports.front;
    let plain = config(&scratch, "w.cfg", &ports, &socket, ["", ""]);
    let mut old = drained(&plain, port, &socket, &scratch.path("old.err"));
    let state = scratch.path("state");
    std::fs::write(&state, cli(&socket, "show servers state")).unwrap();
    old.signal(libc::SIGTERM);
    assert!(old.wait_exit().success() || !old.running());
    let global = format!(
        " server-state-base {}\n server-state-file state\n",
        scratch.path("").display()
    );
    let loading = config(
        &scratch,
        "load.cfg",
        &ports,
        &socket,
        [&global, " load-server-state-from-file global\n"],
    );
    let err = scratch.path("new.err");
    let _new = start(&loading, port, &err, &[]);
    assert!(wait_until(|| !statuses(&socket).is_empty()));
    assert_eq!(statuses(&socket), ["s1 DRAIN", "s2 UP"]);
    assert_eq!(ups_and_downs(&err), Vec::<String>::new());
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(text.contains("Server app/s1 enters drain state"), "{text}");
    assert!(!text.contains("server-state"), "no warning: {text}");
}

#[test]
fn a_corrupted_state_file_warns_as_haproxy_and_servers_start_up() {
    let scratch = Scratch::new();
    let (ports, socket) = (ports(), scratch.path("admin.sock"));
    let port = ports.front;
    let state = scratch.file("state", "1\n3 app 1 s1 - 2 8 1 1 0\n");
    let global = format!(" server-state-file {}\n", state.display());
    let loading = config(
        &scratch,
        "load.cfg",
        &ports,
        &socket,
        [&global, " load-server-state-from-file global\n"],
    );
    let err = scratch.path("new.err");
    let _new = start(&loading, port, &err, &[]);
    assert!(wait_until(|| statuses(&socket) == ["s1 UP", "s2 UP"]));
    let text = std::fs::read_to_string(&err).unwrap();
    let expected = format!(
        "config: corrupted global server state file '{}' at line 2.",
        state.display()
    );
    assert!(text.contains(&expected), "{text}");
}
