//! `stats socket` on a UNIX path: the file is made with its mode, the
//! runtime API answers over it at its level, a socket left at the path is
//! replaced, the file stays after weir stops (as HAProxy's), and a path
//! weir cannot take stops it with the configuration line.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::WEIR;
use super::kit::{Running, Scratch, echo_backend, free_port};

/// One runtime-API request over the UNIX socket at `path`, its whole answer.
fn cli(path: &Path, line: &str) -> String {
    let mut stream = UnixStream::connect(path).expect("stats socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("an answer, then a close");
    answer
}

/// A configuration with a frontend on `port` to backend `app` (server
/// `s1` on `server`), and `sockets` as `stats socket` lines.
fn config(scratch: &Scratch, port: u16, server: u16, sockets: &[String]) -> std::path::PathBuf {
    let sockets: String = sockets
        .iter()
        .map(|s| format!(" stats socket {s}\n"))
        .collect();
    scratch.file(
        "w.cfg",
        &format!(
            "global\n{sockets}\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n server s1 127.0.0.1:{server}\n"
        ),
    )
}

/// Whether a socket file is at `path`.
fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

/// The permission bits of the socket file at `path` (which must be one).
fn socket_mode(path: &Path) -> u32 {
    assert!(is_socket(path), "{path:?} is a socket");
    let meta = std::fs::symlink_metadata(path).unwrap();
    meta.permissions().mode() & 0o7777
}

/// Runs weir on `config`, which must fail to start; its exit code and
/// standard error.
fn failing(config: &Path) -> (Option<i32>, String) {
    let mut command = Command::new(WEIR);
    command
        .args(["-f", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut running = Running(command.spawn().expect("weir starts"));
    let status = running.wait_exit();
    let mut stderr = String::new();
    if let Some(mut pipe) = running.0.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status.code(), stderr)
}

#[test]
fn the_runtime_api_answers_on_unix_sockets_made_with_their_mode_and_level() {
    let scratch = Scratch::new();
    let (admin, user) = (scratch.path("admin.sock"), scratch.path("user.sock"));
    let port = free_port();
    let server = echo_backend();
    // SAFETY: getuid and getgid only read the process's ids.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let config = config(
        &scratch,
        port,
        server,
        &[
            format!(
                "{} mode 600 level admin uid {uid} gid {gid}",
                admin.display()
            ),
            format!("unix@{} mode 0664 level user", user.display()),
        ],
    );
    let _weir = Running::quiet(&config, port);
    assert_eq!(socket_mode(&admin), 0o600);
    assert_eq!(socket_mode(&user), 0o664);
    let owner = std::fs::metadata(&admin).unwrap();
    assert_eq!((owner.uid(), owner.gid()), (uid, gid));

    let info = cli(&admin, "show info");
    assert!(info.starts_with("Name: weir\n"), "{info}");
    let stat = cli(&user, "show stat");
    assert!(stat.starts_with("# pxname,svname,"), "{stat}");
    assert!(stat.contains("\napp,s1,"), "{stat}");

    assert_eq!(cli(&admin, "set server app/s1 state drain"), "\n");
    assert_eq!(cli(&admin, "get weight app/s1"), "1 (initial 1)\n\n");
    let stat = cli(&admin, "show stat");
    let row = stat.lines().find(|l| l.starts_with("app,s1,")).unwrap();
    assert!(row.contains(",DRAIN,"), "{row}");

    assert_eq!(
        cli(&user, "set server app/s1 state ready"),
        "Permission denied\n\n"
    );
    let stat = cli(&user, "show stat");
    let row = stat.lines().find(|l| l.starts_with("app,s1,")).unwrap();
    assert!(row.contains(",DRAIN,"), "a user cannot change it: {row}");
}

#[test]
fn a_socket_left_at_the_path_is_replaced_and_the_file_stays_after_a_stop() {
    let scratch = Scratch::new();
    let admin = scratch.path("admin.sock");
    // A socket file nobody listens on, as a weir that was killed leaves.
    drop(UnixListener::bind(&admin).unwrap());
    assert!(UnixStream::connect(&admin).is_err(), "stale");
    let port = free_port();
    let config = config(
        &scratch,
        port,
        echo_backend(),
        &[format!("{} level admin", admin.display())],
    );
    for run in 0..2 {
        let mut weir = Running::quiet(&config, port);
        let info = cli(&admin, "show info");
        let pid = format!("\nPid: {}\n", weir.0.id());
        assert!(info.contains(&pid), "run {run}: {info}");
        weir.signal(libc::SIGTERM);
        assert!(weir.wait_exit().success());
        // HAProxy 2.6 leaves the file: a process that took the path over
        // keeps its socket. Nothing answers on it any more.
        assert!(is_socket(&admin), "run {run}: the file stays");
        assert!(UnixStream::connect(&admin).is_err(), "run {run}: closed");
    }
}

#[test]
fn a_path_weir_cannot_take_stops_it_with_the_line() {
    let scratch = Scratch::new();
    let port = free_port();
    let missing = scratch.path("no-such-dir").join("admin.sock");
    let config = config(&scratch, port, 1, &[format!("{}", missing.display())]);
    let file = config.display().to_string();
    let (code, stderr) = failing(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "[ALERT] {file}:2: stats socket {}: cannot bind UNIX socket: No such file or \
             directory (os error 2)\n",
            missing.display()
        )),
        "{stderr}"
    );

    // A regular file is not replaced (HAProxy 2.6 would rename over it).
    let regular = scratch.file("notes.txt", "keep me\n");
    let config = self::config(&scratch, port, 1, &[format!("{}", regular.display())]);
    let (code, stderr) = failing(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "[ALERT] {file}:2: stats socket {}: the path exists and is not a socket: weir \
             replaces only a socket left there (remove it, or choose another path)\n",
            regular.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&regular).unwrap(), "keep me\n");

    let config = self::config(
        &scratch,
        port,
        1,
        &[format!(
            "{} user no-such-weir-user",
            scratch.path("a.sock").display()
        )],
    );
    let (code, stderr) = failing(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "[ALERT] {file}:2: stats socket {}: unknown user name 'no-such-weir-user'\n",
            scratch.path("a.sock").display()
        )),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(scratch.path("."))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().contains(".sock"))
        .collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}
