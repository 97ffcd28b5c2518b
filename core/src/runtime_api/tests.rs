//! The runtime API against HAProxy 2.6's recorded behaviour, and its
//! bounds on hostile input.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::time::Instant;

/// A balancer with the configuration the transcripts were recorded on:
/// frontend `fe`; backend `app` (roundrobin): `gw1` 127.0.0.1:29081
/// weight 10, `gw2` 127.0.0.1:29082; backend `st` (static-rr): `s1`
/// 127.0.0.1:29083 with checks. Proxy ids are HAProxy 2.6's for it
/// (`fe` 2, `app` 3, `st` 4: id 1 is an internal proxy of HAProxy's).
struct Mock {
    backends: Vec<MockBackend>,
    frontend_maxconn: u32,
    global_maxconn: u32,
    sessions: Vec<u64>,
    calls: Vec<String>,
}

struct MockBackend {
    name: &'static str,
    id: i32,
    dynamic: bool,
    servers: Vec<MockServer>,
}

struct MockServer {
    name: &'static str,
    weight: u32,
    initial: u32,
    addr: SocketAddr,
    check: bool,
}

impl Mock {
    fn new() -> Self {
        let server = |name, weight, port, check| MockServer {
            name,
            weight,
            initial: weight,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            check,
        };
        Mock {
            backends: vec![
                MockBackend {
                    name: "app",
                    id: 3,
                    dynamic: true,
                    servers: vec![
                        server("gw1", 10, 29081, false),
                        server("gw2", 1, 29082, false),
                    ],
                },
                MockBackend {
                    name: "st",
                    id: 4,
                    dynamic: false,
                    servers: vec![server("s1", 1, 29083, true)],
                },
            ],
            frontend_maxconn: 0,
            global_maxconn: 4096,
            sessions: vec![0x55aa],
            calls: Vec::new(),
        }
    }

    fn server(&mut self, (b, s): (usize, usize)) -> &mut MockServer {
        &mut self.backends[b].servers[s]
    }
}

impl Control for Mock {
    type Backend = usize;
    type Server = (usize, usize);
    type Frontend = ();

    fn find_backend(&self, key: Key<'_>) -> Option<usize> {
        self.backends.iter().position(|b| match key {
            Key::Name(name) => b.name == name,
            Key::Id(id) => b.id == id,
        })
    }

    fn find_server(&self, backend: usize, key: Key<'_>) -> Option<(usize, usize)> {
        let servers = &self.backends[backend].servers;
        let s = match key {
            Key::Name(name) => servers.iter().position(|s| s.name == name),
            Key::Id(id) => usize::try_from(id - 1).ok().filter(|&i| i < servers.len()),
        };
        s.map(|s| (backend, s))
    }

    fn find_frontend(&self, key: Key<'_>) -> Option<()> {
        matches!(key, Key::Name("fe") | Key::Id(2)).then_some(())
    }

    fn proxy_id(&self, key: Key<'_>) -> Option<i32> {
        match key {
            Key::Name("fe") => Some(2),
            Key::Name(name) => self.backends.iter().find(|b| b.name == name).map(|b| b.id),
            Key::Id(id @ 2..=4) => Some(id),
            Key::Id(_) => None,
        }
    }

    fn set_admin_state(&mut self, server: (usize, usize), state: AdminState) {
        self.calls.push(format!("admin {server:?} {state:?}"));
    }

    fn set_health(&mut self, server: (usize, usize), health: ForcedHealth) {
        self.calls.push(format!("health {server:?} {health:?}"));
    }

    fn weights(&self, (b, s): (usize, usize)) -> Weights {
        let server = &self.backends[b].servers[s];
        Weights {
            current: server.weight,
            initial: server.initial,
            dynamic: self.backends[b].dynamic,
        }
    }

    fn set_weight(&mut self, server: (usize, usize), weight: u32) {
        self.server(server).weight = weight;
    }

    fn addr(&self, (b, s): (usize, usize)) -> SocketAddr {
        self.backends[b].servers[s].addr
    }

    fn set_addr(&mut self, server: (usize, usize), addr: SocketAddr) {
        self.server(server).addr = addr;
    }

    fn has_check(&self, (b, s): (usize, usize)) -> bool {
        self.backends[b].servers[s].check
    }

    fn set_check_enabled(&mut self, server: (usize, usize), enabled: bool) {
        self.calls.push(format!("check {server:?} {enabled}"));
    }

    fn shutdown_sessions(&mut self, server: (usize, usize)) {
        self.calls.push(format!("shutdown {server:?}"));
    }

    fn shutdown_session(&mut self, id: u64) -> bool {
        self.calls.push(format!("shutdown session {id:#x}"));
        self.sessions.contains(&id)
    }

    fn set_server_maxconn(&mut self, server: (usize, usize), maxconn: u32) {
        self.calls.push(format!("maxconn {server:?} {maxconn}"));
    }

    fn set_frontend_maxconn(&mut self, (): (), maxconn: u32) {
        self.frontend_maxconn = maxconn;
    }

    fn hard_maxconn(&self) -> u32 {
        4096
    }

    fn set_global_maxconn(&mut self, maxconn: u32) {
        self.global_maxconn = maxconn;
    }

    fn clear_counters(&mut self, all: bool) {
        self.calls.push(format!("clear {all}"));
    }

    fn show_info(&self, options: InfoOptions) -> String {
        format!("info {options:?}\n")
    }

    fn show_stat(&self, filter: &StatFilter) -> String {
        format!("stat {filter:?}\n")
    }

    fn show_servers_state(&self, backend: Option<usize>) -> String {
        format!("servers {backend:?}\n")
    }

    fn backend_names(&self) -> Vec<&str> {
        self.backends.iter().map(|b| b.name).collect()
    }

    fn show_sess(&self, target: SessTarget) -> String {
        format!("sess {target:?}\n")
    }
}

/// A fixed point in time for a test (tests may read the clock once).
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

/// Feeds `data` to `conn` as a driver would, runs its commands and
/// returns what it sends back.
fn exchange(conn: &mut CliConn, mock: &mut Mock, now: Instant, data: &[u8]) -> Vec<u8> {
    let mut rest = data;
    let mut out = Vec::new();
    loop {
        let taken = conn.received(now, rest);
        rest = &rest[taken..];
        conn.handle(mock);
        out.extend_from_slice(conn.pending());
        let n = conn.pending().len();
        conn.sent(now, n);
        conn.handle(mock);
        out.extend_from_slice(conn.pending());
        let n = conn.pending().len();
        conn.sent(now, n);
        if rest.is_empty() || taken == 0 {
            return out;
        }
    }
}

/// Undoes the transcripts' escapes (`\\ \n \r \t \xNN`).
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            other => panic!("unknown escape \\{}", other as char),
        }
        i += 2;
    }
    out
}

#[test]
fn haproxy_transcripts_replay_byte_for_byte() {
    let golden = include_str!("golden/haproxy-2.6-transcripts.txt");
    let mut mock = Mock::new();
    let now = start();
    let mut cases = 0;
    for case in golden.split("=== ").skip(1) {
        let mut lines = case.lines();
        let name = lines.next().unwrap();
        let mut conn = None;
        let mut got = Vec::new();
        for line in lines {
            let (word, arg) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "level" => {
                    let level = match arg {
                        "admin" => Level::Admin,
                        "operator" => Level::Operator,
                        _ => Level::User,
                    };
                    conn = Some(CliConn::new(level, Duration::from_secs(5), now));
                }
                "send" => {
                    let conn = conn.as_mut().unwrap();
                    got.extend(exchange(conn, &mut mock, now, &unescape(arg)));
                }
                "shut" => {
                    let conn = conn.as_mut().unwrap();
                    conn.read_closed();
                    got.extend(exchange(conn, &mut mock, now, b""));
                }
                "recv" => assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&unescape(arg)),
                    "case {name:?}"
                ),
                "closed" | "open" => {
                    let closed = conn.as_ref().unwrap().wants_close();
                    assert_eq!(closed, word == "closed", "case {name:?}: {word}");
                }
                other => panic!("case {name:?}: unknown line {other:?}"),
            }
        }
        cases += 1;
    }
    assert_eq!(cases, 47);
}

fn admin(now: Instant) -> CliConn {
    CliConn::new(Level::Admin, Duration::from_secs(10), now)
}

#[test]
fn a_line_longer_than_the_request_buffer_closes_without_answer() {
    // HAProxy stops reading past 15360 bytes and closes at `stats
    // timeout`; weir closes at once.
    let now = start();
    let mut mock = Mock::new();
    let mut conn = admin(now);
    let mut line = b"get weight app/gw1".to_vec();
    line.resize(15360, b' ');
    line.push(b'\n');
    let out = exchange(&mut conn, &mut mock, now, &line);
    assert!(out.is_empty());
    assert!(conn.wants_close());
}

#[test]
fn endless_bytes_without_a_newline_stay_bounded_and_close() {
    let now = start();
    let mut mock = Mock::new();
    let mut conn = admin(now);
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8 | 1).collect();
    let junk: Vec<u8> = junk
        .iter()
        .map(|&b| if b == b'\n' || b == b';' { b'x' } else { b })
        .collect();
    let mut fed = 0;
    for _ in 0..1000 {
        if !conn.wants_read() {
            break;
        }
        fed += conn.received(now, &junk);
        conn.handle(&mut mock);
    }
    assert!(fed <= MAX_REQUEST);
    assert!(conn.wants_close() && conn.pending().is_empty());
    assert_eq!(
        conn.received(now, &junk),
        junk.len(),
        "a closed connection drops input"
    );
}

#[test]
fn binary_requests_get_the_usage_answer() {
    let now = start();
    let mut mock = Mock::new();
    let mut conn = admin(now);
    let out = exchange(&mut conn, &mut mock, now, b"\x00\xff\xfe\n");
    assert!(
        out.starts_with(b"Unknown command. Please enter one of the following commands only:\n")
    );
    assert!(out.ends_with(b"  quit                                    : disconnect\n\n"));
    assert!(conn.wants_close());
}

#[test]
fn an_idle_connection_times_out_after_stats_timeout() {
    let t0 = start();
    let mut conn = admin(t0);
    assert_eq!(conn.deadline(), t0 + Duration::from_secs(10));
    conn.handle_timeout(t0 + Duration::from_secs(9));
    assert!(!conn.wants_close());
    conn.handle_timeout(t0 + Duration::from_secs(10));
    assert!(conn.wants_close());
}

#[test]
fn activity_pushes_the_deadline_but_a_trickled_line_does_not() {
    let t0 = start();
    let s = Duration::from_secs;
    let mut mock = Mock::new();
    let mut conn = admin(t0);
    exchange(&mut conn, &mut mock, t0 + s(5), b"prompt\n");
    assert_eq!(conn.deadline(), t0 + s(15));
    // One byte every 4 s: the request started at 20 s must end by 30 s.
    for i in 0..5 {
        exchange(&mut conn, &mut mock, t0 + s(20 + 4 * i), b"x");
    }
    assert_eq!(conn.deadline(), t0 + s(30));
    conn.handle_timeout(t0 + s(30));
    assert!(conn.wants_close() && conn.pending().is_empty());
}

#[test]
fn answers_wait_for_the_peer_to_read() {
    let now = start();
    let mut mock = Mock::new();
    let mut conn = admin(now);
    let requests = b"show backend\n".repeat(2000);
    let mut taken = conn.received(now, &requests);
    conn.handle(&mut mock);
    let held = conn.pending().len();
    assert!((16384..16384 + 64).contains(&held), "{held}");
    assert!(!conn.wants_close());
    let mut total = 0;
    for _ in 0..10_000 {
        let n = conn.pending().len();
        total += n;
        conn.sent(now, n);
        taken += conn.received(now, &requests[taken..]);
        conn.handle(&mut mock);
        if conn.wants_close() {
            break;
        }
    }
    assert!(conn.wants_close());
    assert_eq!(taken, requests.len());
    assert_eq!(total, 2000 * b"# name\napp\nst\n\n".len());
}

#[test]
fn commands_reach_the_balancer_with_haproxys_rules() {
    let run = |mock: &mut Mock, level, line: &str| {
        let Request::Command(command) = parse(line.as_bytes()) else {
            panic!("{line}")
        };
        String::from_utf8(execute(&command, level, mock)).unwrap()
    };
    let mut mock = Mock::new();
    assert_eq!(
        run(&mut mock, Level::Admin, "set server app/gw2 state drain"),
        ""
    );
    assert_eq!(run(&mut mock, Level::Admin, "disable server app/#1"), "");
    assert_eq!(
        run(&mut mock, Level::Admin, "set server st/s1 health stopping"),
        ""
    );
    assert_eq!(run(&mut mock, Level::Admin, "disable health st/s1"), "");
    assert_eq!(
        run(&mut mock, Level::Admin, "shutdown sessions server app/gw1"),
        ""
    );
    assert_eq!(run(&mut mock, Level::Admin, "shutdown session 0x55aa"), "");
    assert_eq!(
        run(&mut mock, Level::Admin, "set maxconn server app/gw1 25"),
        ""
    );
    assert_eq!(
        run(&mut mock, Level::Admin, "set maxconn server app/gw1 -2"),
        "Value out of range.\n"
    );
    assert_eq!(run(&mut mock, Level::Operator, "clear counters"), "");
    assert_eq!(run(&mut mock, Level::Admin, "clear counters all"), "");
    assert_eq!(
        mock.calls,
        [
            "admin (0, 1) Drain",
            "admin (0, 0) Maint",
            "health (1, 0) Stopping",
            "check (1, 0) false",
            "shutdown (0, 0)",
            "shutdown session 0x55aa",
            "maxconn (0, 0) 25",
            "clear false",
            "clear true",
        ]
    );
    assert_eq!(
        run(&mut mock, Level::Admin, "set maxconn frontend #2 300"),
        ""
    );
    assert_eq!(mock.frontend_maxconn, 300);
    assert_eq!(run(&mut mock, Level::Admin, "set maxconn global 100"), "");
    assert_eq!(mock.global_maxconn, 100);
    assert_eq!(run(&mut mock, Level::Admin, "set maxconn global -5"), "");
    assert_eq!(
        mock.global_maxconn, 4096,
        "0 or less restores the hard limit"
    );
}

#[test]
fn show_commands_pass_haproxys_filters() {
    let mut mock = Mock::new();
    let run = |mock: &mut Mock, line: &str| {
        let Request::Command(command) = parse(line.as_bytes()) else {
            panic!("{line}")
        };
        String::from_utf8(execute(&command, Level::User, mock)).unwrap()
    };
    assert_eq!(
        run(&mut mock, "show stat"),
        format!(
            "stat {:?}\n",
            StatFilter {
                proxy: -1,
                types: -1,
                server: -1,
                options: StatOptions::default(),
                legends: false,
            }
        )
    );
    let scoped = run(&mut mock, "show stat st 4 -1 typed");
    assert!(
        scoped.contains("proxy: 4, types: 4, server: -1"),
        "{scoped}"
    );
    assert!(scoped.contains("format: Typed"), "{scoped}");
    // A number that names no proxy still filters, as HAProxy's atoi.
    assert!(run(&mut mock, "show stat 7 -1 -1").contains("proxy: 7"));
    assert!(run(&mut mock, "show stat domain resolvers").starts_with("# id,pid,sent,"));
    assert_eq!(run(&mut mock, "show servers state"), "servers None\n");
    assert_eq!(run(&mut mock, "show servers state #4"), "servers Some(1)\n");
    assert_eq!(
        run(&mut mock, "show info json desc"),
        format!(
            "info {:?}\n",
            InfoOptions {
                format: OutputFormat::Json,
                desc: true,
                float: false
            }
        )
    );
    assert_eq!(run(&mut mock, "show backend"), "# name\napp\nst\n");
    let schema = run(&mut mock, "show schema json");
    assert!(schema.starts_with("{\"$schema\":") && schema.ends_with("}\n"));
    // Addresses and algorithms are for operators and admins only.
    let Request::Command(stat) = parse(b"show stat") else {
        panic!()
    };
    let operator = String::from_utf8(execute(&stat, Level::Operator, &mut mock)).unwrap();
    assert!(operator.contains("legends: true"), "{operator}");
}

#[test]
fn show_sess_needs_operator() {
    let mut mock = Mock::new();
    let Request::Command(command) = parse(b"show sess 0x10") else {
        panic!()
    };
    assert_eq!(
        execute(&command, Level::User, &mut mock),
        b"Permission denied\n"
    );
    assert_eq!(
        execute(&command, Level::Operator, &mut mock),
        b"sess One(16)\n"
    );
    let Request::Command(command) = parse(b"show sess all") else {
        panic!()
    };
    assert_eq!(execute(&command, Level::Operator, &mut mock), b"sess All\n");
}
