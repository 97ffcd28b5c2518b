//! Agent checks over real sockets: a loopback agent changes its answer and
//! the server follows it in `show stat` and in where traffic goes
//! (weights, `drain`, `maint`, `ready`, `down`, `up`); an agent that
//! breaks (garbage, an unknown word, a reset, silence) changes nothing but
//! the agent's own status.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::kit::{Running, Scratch, cli, echo_backend, free_port, wait_until};

/// What the agent does with its next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Writes these bytes, then waits for weir to close.
    Says(&'static str),
    /// Writes a line without its end, then closes.
    Garbage,
    /// Resets the connection.
    Reset,
    /// Says nothing until weir gives up.
    Silent,
}

/// A loopback agent whose answer the test changes.
struct Agent {
    port: u16,
    answer: Arc<Mutex<Answer>>,
}

impl Agent {
    fn start(first: Answer) -> Agent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("agent binds");
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(Mutex::new(first));
        let shared = answer.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answer = *shared.lock().unwrap();
                thread::spawn(move || serve(stream, answer));
            }
        });
        Agent { port, answer }
    }

    fn say(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

/// One agent connection; every wait is bounded.
fn serve(mut stream: TcpStream, answer: Answer) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    match answer {
        Answer::Says(line) => {
            let _ = stream.write_all(line.as_bytes());
            let _ = stream.read(&mut [0u8; 64]);
        }
        Answer::Garbage => {
            let _ = stream.write_all(b"\x01\x02 75");
            let _ = stream.shutdown(Shutdown::Write);
            let _ = stream.read(&mut [0u8; 64]);
        }
        Answer::Reset => {
            // Once weir saw the connection, an RST (SO_LINGER 0).
            thread::sleep(Duration::from_millis(20));
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt on a socket this thread owns, with a
            // `linger` value of the size given.
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
        Answer::Silent => {
            let _ = stream.read(&mut [0u8; 64]);
        }
    }
}

/// The `column` of `app/sv` in `show stat`, a check's `* ` left out.
fn stat(port: u16, sv: &str, column: &str) -> String {
    let text = cli(port, "show stat");
    let header: Vec<&str> = text.lines().next().unwrap()[2..].split(',').collect();
    let index = header.iter().position(|c| *c == column).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("app,{sv},")))
        .unwrap_or_else(|| panic!("no app/{sv} in {text}"));
    let value = row.split(',').nth(index).unwrap();
    value.trim_start_matches("* ").to_owned()
}

/// One echoed exchange through weir.
fn exchange(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("weir accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"ping").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping");
}

/// How many of `n` new sessions went to s1.
fn s1_share(port: u16, admin: u16, n: u64) -> u64 {
    let before = |sv| stat(admin, sv, "stot").parse::<u64>().unwrap();
    let (s1, s2) = (before("s1"), before("s2"));
    for _ in 0..n {
        exchange(port);
    }
    let got = before("s1") - s1;
    assert_eq!(got + before("s2") - s2, n, "every session counted once");
    got
}

/// Waits until s1's `column` is `value`.
fn wait_for(admin: u16, column: &str, value: &str) {
    let mut last = String::new();
    let reached = wait_until(|| {
        last = stat(admin, "s1", column);
        last == value
    });
    assert!(reached, "s1's {column} stayed {last:?}, not {value:?}");
}

#[test]
fn the_server_follows_its_agent_and_a_broken_agent_changes_only_its_status() {
    let (s1, s2) = (echo_backend(), echo_backend());
    let agent = Agent::start(Answer::Says("up 50%\n"));
    let (port, admin) = (free_port(), free_port());
    let scratch = Scratch::new();
    let config = scratch.file(
        "w.cfg",
        &format!(
            "global\n stats socket ipv4@127.0.0.1:{admin} level admin\n\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
             frontend fe\n bind 127.0.0.1:{port}\n default_backend app\n\
             backend app\n balance roundrobin\n\
             \x20server s1 127.0.0.1:{s1} weight 100 agent-check agent-port {} agent-inter 100ms\n\
             \x20server s2 127.0.0.1:{s2} weight 100\n",
            agent.port
        ),
    );
    let _weir = Running::quiet(&config, port);
    assert!(wait_until(
        || TcpStream::connect(("127.0.0.1", admin)).is_ok()
    ));

    // 50 against 100: a third of the sessions.
    wait_for(admin, "weight", "50");
    assert_eq!(stat(admin, "s1", "agent_status"), "L7OK");
    assert!((8..=12).contains(&s1_share(port, admin, 30)));

    agent.say(Answer::Says("drain\n"));
    wait_for(admin, "status", "DRAIN (agent)");
    assert_eq!(s1_share(port, admin, 10), 0, "a drained server takes none");

    agent.say(Answer::Says("maint\n"));
    wait_for(admin, "status", "MAINT");
    assert_eq!(s1_share(port, admin, 10), 0);

    agent.say(Answer::Says("ready 100%\n"));
    wait_for(admin, "status", "no check");
    wait_for(admin, "weight", "100");
    assert!((8..=12).contains(&s1_share(port, admin, 20)));

    agent.say(Answer::Says("down # disk full\n"));
    wait_for(admin, "status", "DOWN (agent)");
    assert_eq!(stat(admin, "s1", "agent_health"), "0");
    assert_eq!(s1_share(port, admin, 10), 0, "a DOWN server takes none");

    agent.say(Answer::Says("up\n"));
    wait_for(admin, "status", "no check");

    // Broken agents: the status says so, the server keeps its state,
    // weight and share.
    let broken = [
        (
            Answer::Garbage,
            "last_agt",
            "Ignoring incomplete line from agent",
        ),
        (
            Answer::Says("hello\n"),
            "last_agt",
            "agent reports an error : hello",
        ),
        (Answer::Reset, "agent_status", "SOCKERR"),
        (Answer::Silent, "agent_status", "L7TOUT"),
    ];
    for (answer, column, value) in broken {
        agent.say(answer);
        wait_for(admin, column, value);
        assert_eq!(stat(admin, "s1", "status"), "no check", "{answer:?}");
        assert_eq!(stat(admin, "s1", "weight"), "100", "{answer:?}");
        let share = s1_share(port, admin, 20);
        assert!((8..=12).contains(&share), "{answer:?}: {share} of 20");
    }
}
