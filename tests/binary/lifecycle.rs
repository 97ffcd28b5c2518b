//! The lifecycle promise end to end: agents keep connecting while weir is
//! reloaded 20 times (a server added and removed by turns) and upgraded
//! 5 times (`-x`/`-sf`): no connection refused, reset or cut, and the
//! servers that never changed never leave UP, in any of the processes.

use std::path::Path;
use std::process::{Command, Stdio};

use super::WEIR;
use super::kit::{Agents, Running, Scratch, echo_backend, free_port, wait_until};

/// A frontend on `port` to s1, s2 (and s3 when `with_s3`), checked, and
/// an admin stats socket at `socket` that hands its listeners over.
fn config(port: u16, socket: &Path, servers: [u16; 3], with_s3: bool) -> String {
    let mut text = format!(
        "global\n stats socket {} level admin expose-fd listeners\n\
         defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
         backend app\n option log-health-checks\n",
        socket.display()
    );
    let count = if with_s3 { 3 } else { 2 };
    for (i, server) in servers.iter().take(count).enumerate() {
        text.push_str(&format!(
            " server s{} 127.0.0.1:{server} check inter 100ms\n",
            i + 1
        ));
    }
    text
}

/// weir on `file` with its diagnostics in `log`, taking over from `old`.
fn spawn(file: &Path, log: &Path, take_over: Option<(&Path, u32)>) -> Running {
    let mut command = Command::new(WEIR);
    command
        .args(["-db", "-f", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    if let Some((socket, old)) = take_over {
        command
            .arg("-x")
            .arg(socket)
            .args(["-sf", &old.to_string()]);
    }
    Running(command.spawn().expect("weir starts"))
}

#[test]
fn twenty_reloads_and_five_upgrades_under_load_lose_nothing() {
    let servers = [echo_backend(), echo_backend(), echo_backend()];
    let scratch = Scratch::new();
    let (port, socket) = (free_port(), scratch.path("admin.sock"));
    let file = scratch.file("w.cfg", &config(port, &socket, servers, false));
    let mut logs = vec![scratch.path("weir-0.log")];
    let mut current = spawn(&file, &logs[0], None);
    assert!(wait_until(|| socket.exists()), "the stats socket is made");
    // The stats socket (in `global`) is made before the frontend listens.
    let listens = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(wait_until(listens), "weir never listened");
    let logged = |log: &Path| std::fs::read_to_string(log).unwrap_or_default();
    let agents = Agents::start(port);
    agents.wait_for_more(20);
    let (mut reloads, mut upgrades, mut with_s3) = (0, 0, false);
    for step in 0..25 {
        if step % 5 == 4 {
            upgrades += 1;
            let log = scratch.path(&format!("weir-{upgrades}.log"));
            let next = spawn(&file, &log, Some((&socket, current.0.id())));
            assert!(
                current.wait_exit().success(),
                "upgrade {upgrades}: the old one ends"
            );
            current = next;
            assert!(current.running(), "upgrade {upgrades}: the new one serves");
            logs.push(log);
            // Reload counts are per process.
            reloads = 0;
        } else {
            with_s3 = !with_s3;
            std::fs::write(&file, config(port, &socket, servers, with_s3)).unwrap();
            current.signal(libc::SIGHUP);
            reloads += 1;
            let log = logs.last().unwrap();
            assert!(
                wait_until(|| logged(log).matches("Configuration reloaded: ").count() == reloads),
                "step {step}: {}",
                logged(log)
            );
        }
        agents.wait_for_more(20);
    }
    let done = agents.finish();
    assert!(done >= 25 * 20, "{done} connections");
    for log in &logs {
        let text = logged(log);
        for server in ["app/s1", "app/s2"] {
            assert!(
                !text.contains(&format!("{server} is DOWN")),
                "{log:?}: {text}"
            );
        }
    }
}
