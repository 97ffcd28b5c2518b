//! The runtime API on the balancer: commands change what traffic sees,
//! answers are HAProxy's.

use super::*;
use crate::ListenAddr;
use crate::id::ConnId;
use crate::runtime_api::Level;

fn run(h: &mut Harness, line: &str) -> String {
    let answer = h.lb.handle_command(h.now, line, Level::Admin);
    h.collect();
    answer
}

#[test]
fn drain_and_ready_from_the_runtime_api_steer_new_sessions() {
    let mut h = Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]));
    assert_eq!(run(&mut h, "set server app/s1 state drain"), "\n");
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002);
    }
    let logs = h.logs(LogSink::Stdout);
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Server app/s1 enters drain state.")),
        "{logs:?}"
    );
    assert_eq!(run(&mut h, "set server app/s1 state ready"), "\n");
    let ports: Vec<u16> = (0..4).map(|_| h.accept().2.port()).collect();
    assert!(ports.contains(&8001), "{ports:?}");
}

#[test]
fn weights_are_read_and_set_as_haproxy_answers() {
    let mut h = Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]));
    assert_eq!(run(&mut h, "get weight app/s1"), "1 (initial 1)\n\n");
    assert_eq!(run(&mut h, "set weight app/s1 0"), "\n");
    assert_eq!(run(&mut h, "get weight app/s1"), "0 (initial 1)\n\n");
    for _ in 0..4 {
        assert_eq!(h.accept().2.port(), 8002, "weight 0 takes no session");
    }
    assert_eq!(run(&mut h, "get weight app/nope"), "No such server.\n\n");
}

#[test]
fn show_stat_and_show_servers_state_describe_the_balancer() {
    let mut h = Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]));
    run(&mut h, "set server app/s2 state maint");
    let stat = run(&mut h, "show stat");
    assert!(stat.starts_with("# pxname,svname,qcur,qmax,"), "{stat}");
    assert!(stat.contains("\napp,s2,"), "{stat}");
    assert!(stat.contains(",MAINT,"), "{stat}");
    let state = run(&mut h, "show servers state app");
    assert!(
        state.starts_with("1\n# be_id be_name srv_id srv_name"),
        "{state}"
    );
    assert_eq!(run(&mut h, "show backend"), "# name\napp\n\n");
}

#[test]
fn a_user_level_may_look_but_not_touch() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let answer =
        h.lb.handle_command(h.now, "set server app/s1 state maint", Level::User);
    assert_eq!(answer, "Permission denied\n\n");
    assert!(
        h.lb.handle_command(h.now, "show stat", Level::User)
            .starts_with("# pxname")
    );
}

#[test]
fn shutdown_sessions_kills_a_servers_sessions_logged_k() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (client, _) = h.session();
    assert_eq!(run(&mut h, "shutdown sessions server app/s1"), "\n");
    assert!(h.closed(client).is_some());
    let logs = h.logs(LogSink::Stdout);
    assert!(logs.iter().any(|l| l.contains(" KD ")), "{logs:?}");
}

/// A balancer with `stats socket ipv4@127.0.0.1:9999 level admin`, and a
/// connection to it.
fn with_stats_socket(servers: Vec<Server>) -> (Harness, ConnId) {
    let mut cfg = config(servers);
    cfg.global
        .runtime_api
        .sockets
        .push(crate::config::StatsSocket {
            addr: crate::config::StatsAddr::Tcp("127.0.0.1:9999".parse().unwrap()),
            mode: None,
            uid: None,
            gid: None,
            level: Level::Admin,
            expose_fd: false,
            origin: origin(),
        });
    let mut h = Harness::new(cfg);
    let listeners: Vec<_> = h.lb.listeners().collect();
    assert_eq!(listeners.len(), 2, "the frontend's and the stats socket");
    let (id, ListenAddr::Tcp(addr)) = listeners[1] else {
        panic!("a TCP stats socket: {listeners:?}");
    };
    let peer = "127.0.0.1:50000".parse().unwrap();
    let conn = h.lb.accept(h.now, id, peer, addr).expect("accepted");
    h.collect();
    (h, conn)
}

#[test]
fn a_stats_socket_connection_runs_a_command_answers_and_closes() {
    let (mut h, cli) = with_stats_socket(vec![server("s1", 8001), server("s2", 8002)]);
    assert_eq!(h.interest(cli), (true, false));
    h.peer_sends(cli, b"set server app/s1 state maint; get weight app/s1\n");
    assert_eq!(h.drain(cli), b"\n1 (initial 1)\n\n");
    assert!(h.closed(cli).is_some(), "one request per connection");
    for _ in 0..3 {
        assert_eq!(h.accept().2.port(), 8002, "s1 is in maintenance");
    }
}

#[test]
fn a_silent_stats_socket_connection_is_closed_after_stats_timeout() {
    let (mut h, cli) = with_stats_socket(vec![server("s1", 8001)]);
    h.advance(Duration::from_millis(9_999));
    assert!(h.closed(cli).is_none());
    h.advance(Duration::from_millis(1));
    assert!(h.closed(cli).is_some(), "stats timeout is 10s");
}

#[test]
fn a_stats_socket_out_of_descriptors_pauses_and_resumes_with_the_frontends() {
    let (mut h, _) = with_stats_socket(vec![server("s1", 8001)]);
    h.take();
    let stats = ListenerId(1);
    h.event(Event::AcceptFailed {
        listener: stats,
        error: ConnError::NoResources,
    });
    let paused = h.take();
    assert!(paused.contains(&Action::PauseAccept { listener: stats }));
    assert!(paused.contains(&Action::PauseAccept { listener: L0 }));
    let logged = paused.iter().any(|a| {
        matches!(a, Action::Log(l) if l.text.starts_with("Proxy GLOBAL reached the process FD limit"))
    });
    assert!(logged, "{paused:?}");
    // Resumed, so the driver accepts what queued meanwhile: no new
    // readiness would come for it.
    h.advance(Duration::from_millis(100));
    let resumed = h.take();
    assert!(resumed.contains(&Action::ResumeAccept { listener: stats }));
    assert!(resumed.contains(&Action::ResumeAccept { listener: L0 }));
}

#[test]
fn in_prompt_mode_the_connection_stays_for_more_commands() {
    let (mut h, cli) = with_stats_socket(vec![server("s1", 8001)]);
    h.peer_sends(cli, b"prompt\n");
    assert_eq!(h.drain(cli), b"\n> ");
    h.peer_sends(cli, b"show backend\n");
    assert_eq!(h.drain(cli), b"# name\napp\n\n> ");
    h.peer_sends(cli, b"quit\n");
    h.drain(cli);
    assert!(h.closed(cli).is_some());
}

#[test]
fn a_unix_stats_socket_is_listed_with_its_file_and_runs_commands() {
    let mut cfg = config(vec![server("s1", 8001)]);
    let socket = crate::config::StatsSocket {
        addr: crate::config::StatsAddr::Unix("/run/weir/admin.sock".into()),
        mode: Some(0o600),
        uid: None,
        gid: Some(crate::config::Account::Id(50)),
        level: Level::User,
        expose_fd: false,
        origin: origin(),
    };
    cfg.global.runtime_api.sockets.push(socket.clone());
    let mut h = Harness::new(cfg);
    let listeners: Vec<_> = h.lb.listeners().collect();
    let (traffic, id) = (listeners[0].0, listeners[1].0);
    assert_eq!(listeners[1].1, ListenAddr::Unix(&socket));
    assert_eq!(h.lb.stats_socket(id), Some(&socket));
    assert_eq!(h.lb.stats_socket(traffic), None, "a frontend's bind");
    assert_eq!(h.lb.accept_unix(h.now, traffic), None);

    let cli = h.lb.accept_unix(h.now, id).expect("accepted");
    h.collect();
    h.peer_sends(cli, b"set server app/s1 state maint\n");
    assert_eq!(h.drain(cli), b"Permission denied\n\n", "level user");
    assert!(h.closed(cli).is_some());
}

#[test]
fn getsocks_asks_the_driver_for_the_listeners_only_where_exposed() {
    for expose_fd in [true, false] {
        let mut cfg = config(vec![server("s1", 8001)]);
        cfg.global
            .runtime_api
            .sockets
            .push(crate::config::StatsSocket {
                addr: crate::config::StatsAddr::Unix("/run/weir/admin.sock".into()),
                mode: None,
                uid: None,
                gid: None,
                level: Level::Admin,
                expose_fd,
                origin: origin(),
            });
        let mut h = Harness::new(cfg);
        let id = h.lb.listeners().nth(1).unwrap().0;
        let cli = h.lb.accept_unix(h.now, id).expect("accepted");
        h.collect();
        h.take();
        h.peer_sends(cli, b"_getsocks\n");
        assert_eq!(h.drain(cli), b"", "no answer, as HAProxy's");
        let handed = (h.actions.iter())
            .filter(|a| matches!(a, Action::SendListeners { conn } if *conn == cli))
            .count();
        assert_eq!(handed, usize::from(expose_fd));
        let send = h
            .actions
            .iter()
            .position(|a| matches!(a, Action::SendListeners { .. }));
        let close = h
            .actions
            .iter()
            .position(|a| matches!(a, Action::Close { conn, .. } if *conn == cli));
        assert!(close.is_some(), "the connection ends");
        assert!(
            send.is_none_or(|s| Some(s) < close),
            "descriptors before the close"
        );
    }
}

/// A balancer from configuration text, and a connection to its listener
/// `listener`.
fn from_text(text: &str, listener: usize) -> (Harness, ConnId) {
    let source = crate::config::Source::new("t.cfg", text);
    let parsed = crate::config::parse(&[source], &mut |_| None).expect("valid");
    let mut h = Harness::new(parsed.config);
    let (id, ListenAddr::Tcp(addr)) = h.lb.listeners().nth(listener).unwrap() else {
        panic!("listener {listener} is on TCP");
    };
    let peer = "127.0.0.1:50000".parse().unwrap();
    let conn = h.lb.accept(h.now, id, peer, addr).expect("accepted");
    h.collect();
    (h, conn)
}

const PAGES: &str = "frontend pages\n mode http\n bind 127.0.0.1:8404\n \
    http-request use-service prometheus-exporter if { path /metrics }\n \
    stats enable\n stats uri /stats\n stats admin if TRUE\n timeout client 5s\n\
    frontend fe\n bind 127.0.0.1:9091\n default_backend app\n timeout client 5s\n\
    backend app\n timeout connect 1s\n timeout server 5s\n \
    server s1 127.0.0.1:8001\n server s2 127.0.0.1:8002\n";

#[test]
fn the_metrics_frontend_answers_prometheus_text() {
    let (mut h, conn) = from_text(PAGES, 0);
    h.peer_sends(conn, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = String::from_utf8(h.drain(conn)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("haproxy_server_status{proxy=\"app\",server=\"s1\""),
        "{answer}"
    );
    assert!(h.closed(conn).is_none(), "keep-alive");
}

#[test]
fn the_stats_page_admin_form_drains_a_server() {
    let (mut h, conn) = from_text(PAGES, 0);
    let body = "s=s1&action=drain&b=%234"; // app is proxy #4
    let request = format!(
        "POST /stats HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    h.peer_sends(conn, request.as_bytes());
    let answer = String::from_utf8(h.drain(conn)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let stat = h.lb.handle_command(h.now, "show stat", Level::Admin);
    assert!(stat.contains(",DRAIN,"), "{stat}");
    assert!(h.closed(conn).is_some());
}

#[test]
fn a_bad_request_gets_400_and_a_close() {
    let (mut h, conn) = from_text(PAGES, 0);
    h.peer_sends(conn, b"NOT HTTP AT ALL\r\n\r\n");
    let answer = String::from_utf8(h.drain(conn)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(h.closed(conn).is_some());
}

#[test]
fn a_request_not_finished_in_time_gets_408() {
    let (mut h, conn) = from_text(PAGES, 0);
    h.peer_sends(conn, b"GET /metr");
    h.advance(Duration::from_secs(5));
    let answer = String::from_utf8(h.drain(conn)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(h.closed(conn).is_some());
}

#[test]
fn show_stat_and_show_info_answer_typed_and_json() {
    let mut h = Harness::new(config(vec![server("s1", 8001), server("s2", 8002)]));
    let typed = run(&mut h, "show stat typed");
    assert!(typed.starts_with("F.2.0.0.pxname.1:KNS:str:"), "{typed}");
    assert!(typed.contains("\nS.3.2.1.svname.1:KNS:str:s2\n"), "{typed}");
    assert!(
        typed.contains("\nB.3.0.17.status.1:SGP:str:UP\n"),
        "{typed}"
    );
    assert!(
        typed.ends_with("\n\n") && !typed.ends_with("\n\n\n"),
        "one empty line"
    );
    let csv = run(&mut h, "show stat");
    assert!(csv.ends_with(",\n\n") && !csv.ends_with("\n\n\n"), "{csv}");
    let json = run(&mut h, "show stat 3 4 -1 json");
    let rows: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "the two servers of app");
    assert_eq!(rows[1][1]["value"]["value"], "s2");
    let info: serde_json::Value =
        serde_json::from_str(&run(&mut h, "show info json")).expect("valid JSON");
    assert_eq!(info[0]["field"]["name"], "Name");
    assert!(run(&mut h, "show info typed desc").starts_with("0.Name.1:POS:str:"));
    let schema = run(&mut h, "show schema json");
    serde_json::from_str::<serde_json::Value>(&schema).expect("valid JSON");
    // Addresses are for sockets of level operator or admin, even after
    // `user` lowered the connection (as haproxy 2.6.12 does).
    let user = h.lb.handle_command(h.now, "show stat typed", Level::User);
    assert!(!user.contains("addr") && typed.contains(".addr.1:CGS:str:127.0.0.1:8001\n"));
    let lowered = run(&mut h, "user; show stat typed");
    assert!(
        lowered.contains(".addr.1:CGS:str:127.0.0.1:8001\n"),
        "{lowered}"
    );
}

#[test]
fn show_sess_lists_and_dumps_sessions_as_haproxy() {
    let mut h = Harness::new(config(vec![server("s1", 8001)]));
    let (_client, _) = h.session();
    h.advance(Duration::from_secs(2));
    let list = run(&mut h, "show sess");
    let line = regex::Regex::new(
        r"^(0x[0-9a-f]+): proto=tcpv4 src=\S+:\d+ fe=fe be=app srv=s1 ts=00 age=2s rq\[rx=\S*\] rp\[rx=\S*\] exp=\S* rc=0 c_exp=\n\n$",
    )
    .unwrap();
    let id = line.captures(&list).unwrap_or_else(|| panic!("{list}"))[1].to_owned();
    let one = run(&mut h, &format!("show sess {id}"));
    let head = regex::Regex::new(&format!(
        r"^{id}: \[\d\d/[A-Z][a-z]{{2}}/\d{{4}}:\d\d:\d\d:\d\d\.\d{{6}}\] proto=tcpv4 source=\S+:\d+\n  conn_retries=0, conn_exp=<NEVER>\n  frontend=fe \(id=2 mode=tcp\) addr=\S+\n  backend=app \(id=3 mode=tcp\)\n  server=s1 \(id=1\) addr=127.0.0.1:8001\n  task=\(exp=\S+ age=2s\)\n  req=\(total=0\)\n      rex=\S+\n  res=\(total=0\)\n      rex=\S+\n\n$"
    ))
    .unwrap();
    assert!(head.is_match(&one), "{one}");
    assert_eq!(run(&mut h, "show sess all"), one);
    assert_eq!(run(&mut h, "show sess 0x1234"), "Session not found.\n\n");
    // `shutdown session` takes the id `show sess` gives.
    assert_eq!(run(&mut h, &format!("shutdown session {id}")), "\n");
    assert_eq!(run(&mut h, "show sess"), "\n");
}

#[test]
fn the_stats_page_serves_typed_json_and_the_schema() {
    for (uri, content_type) in [
        ("/stats;typed", "text/plain"),
        ("/stats;json", "application/json"),
        ("/stats;json-schema", "application/json"),
    ] {
        let (mut h, conn) = from_text(PAGES, 0);
        h.peer_sends(conn, format!("GET {uri} HTTP/1.0\r\n\r\n").as_bytes());
        let answer = String::from_utf8(h.drain(conn)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-type: {content_type}\r\n")),
            "{head}"
        );
        if content_type == "text/plain" {
            assert!(body.contains("\nS.4.1.1.svname.1:KNS:str:s1\n"), "{body}");
        } else {
            serde_json::from_str::<serde_json::Value>(body).expect("valid JSON");
        }
    }
}
